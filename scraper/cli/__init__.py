"""The `scraper` command: a thin layer over the library. The only package that prints
and chooses exit codes: 0 all went well, 1 something failed, 2 usage error, 130 interrupted.
Data goes to stdout; progress, summaries and errors to stderr.

This module holds the command group and how the process starts and ends (signals, a closed
stdout); each command lives in the module of what it does, in the order of the work:
cleaning (clean), archiving (archive, run, reclean), web_archives (extract), reading (show,
history, diff, search, similar, export, ls, stats, failures), deleting (rm, prune),
settings (config), serving (serve). Shared by several: options (what they take), output
(how they print), local_pages (pages given as files or on stdin), run_report (what a run
tells on stderr).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, NoReturn

import click

from scraper import __version__, config
from scraper.cli import archiving, cleaning, deleting, reading, serving, settings, web_archives
from scraper.cli.output import message, safe
from scraper.errors import ScraperError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so a killed run closes its books like Ctrl-C. Not an
    Exception, as KeyboardInterrupt is not: the handlers that keep one page's failure from
    ending a job catch Exception, and took it for a page's error (extract and reclean went on)."""


def _on_signal(signum: int, frame: object) -> NoReturn:
    """The first Ctrl-C or SIGTERM stops the command; later ones are ignored while it closes
    its books (which waits for no page), so none interrupts that with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted()


def _interrupted_message(command: str | None) -> str:
    """What Ctrl-C or SIGTERM leaves behind: the commands that save say what is kept."""
    if command in ("run", "archive"):
        return "Interrupted: everything archived so far is saved."
    if command == "reclean":
        return "Interrupted: every version re-cleaned so far is saved; run it again to go on."
    if command == "extract":
        return "Interrupted: finished inputs are kept; run it again to do the rest."
    return "Interrupted."


def _reader_gone() -> NoReturn:
    """The reader of stdout went away (`scraper export | head`): it had all it wanted, so
    stop quietly, successfully. Later writes (the final flush) go nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


class ScraperGroup(click.Group):
    """Turns library errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScraperError as error:
            raise click.ClickException(message(error)) from error
        except BrokenPipeError:  # before click takes it for a failure
            _reader_gone()
        except (KeyboardInterrupt, Interrupted):
            click.echo(_interrupted_message(ctx.invoked_subcommand), err=True)
            ctx.exit(130)


class _UsageLine(click.ClickException):
    """A usage error said in one line (no usage text): exit 2."""

    exit_code = 2


@click.group(cls=ScraperGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="scraper")
@click.option("--config", "config_path", envvar="SCRAPER_CONFIG", metavar="PATH",
              help="Defaults from this TOML file (also SCRAPER_CONFIG; else scraper.toml beside the archive).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Fetch web articles, strip the site chrome, keep clean versioned copies in SQLite."""
    path, required = config.find(config_path)
    try:
        loaded = config.load(path, required=required)
    except ScraperError as error:
        raise _UsageLine(safe(str(error))) from None
    ctx.default_map = config.default_map(loaded, dict(cli.commands))
    ctx.meta["config"] = (path, loaded)


for _command in (
    cleaning.clean_command,
    archiving.archive_command, archiving.run_command, archiving.reclean_command,
    web_archives.extract_command,
    reading.show_command, reading.history_command, reading.diff_command, reading.search_command,
    reading.similar_command, reading.export_command, reading.ls_command, reading.stats_command,
    reading.failures_command,
    deleting.rm_command, deleting.prune_command,
    settings.config_command,
    serving.serve_command,
):
    cli.add_command(_command)


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as a shell leaves it for a background job
            signal.signal(signum, _on_signal)
    try:
        cli.main(prog_name="scraper")
    except BrokenPipeError:
        _reader_gone()


__all__ = ["cli", "main"]
