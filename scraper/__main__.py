"""`python -m scraper` and the `scraper` command.

The command's script imports this module, not scraper.cli, which it loads only once it has
kept numpy out of sqlite-utils. (Cleaning processes are plain subprocesses of their own module:
none of them re-imports this script.)
"""

import sys


def main() -> None:
    _import_sqlite_utils_without_numpy()
    from scraper.cli import main as cli_main

    cli_main()


def _import_sqlite_utils_without_numpy() -> None:
    """sqlite-utils imports numpy whenever it is installed (datasketch brings it), only to
    give numpy values a column type; the archive never stores numpy values. Loading it cost
    every command 15 MB and a tenth of a second. Only this command's process is spared:
    importing the library changes nothing, and datasketch still imports numpy when needed."""
    if "numpy" in sys.modules or "sqlite_utils" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` raise ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]


if __name__ == "__main__":
    main()
