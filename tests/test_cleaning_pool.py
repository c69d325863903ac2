"""The processes pages are cleaned in: what they load, and that sharing jusText's stop words
changes no result."""

from __future__ import annotations

import subprocess
import sys

from scraper.cleaner import clean
from scraper.cleaning_pool import CleaningPool
from tests.conftest import SEEDS

FETCHING_AND_ARCHIVING = ("httpx", "sqlite_utils", "archive.store", "scraper.fetcher", "rich", "warcio")


def test_a_cleaning_process_cleans_as_the_caller_would_and_loads_no_fetching_or_archiving() -> None:
    html = (SEEDS / "002_60c7648376388afa.html").read_text(encoding="utf-8")
    with CleaningPool(1) as pool:
        cleaned = pool.clean(html, "https://example.org/a")
    assert cleaned == clean(html, url="https://example.org/a")
    # What a cleaning process imports before it is ready, then it ends as its stdin closes.
    started = subprocess.run([sys.executable, "-X", "importtime", "-m", "scraper.cleaning_worker", "10", "1024"],
                             input=b"", capture_output=True, timeout=60)
    assert started.returncode == 0, started.stderr
    loaded = {line.split("|")[-1].strip() for line in started.stderr.decode().splitlines() if "|" in line}
    assert "trafilatura" in loaded and "lightgbm" in loaded  # the block model, read before "ready"
    assert not [name for name in FETCHING_AND_ARCHIVING if name in loaded]


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_command_script_imports_only_its_entry_module() -> None:
    loaded = _python("import sys, scraper.__main__; print(' '.join(sys.modules))").split()
    assert not [name for name in (*FETCHING_AND_ARCHIVING, "numpy", "scraper.cli", "trafilatura") if name in loaded]


def test_the_command_runs_without_numpy_and_similar_pages_still_get_it() -> None:
    out = _python(
        "import sys\n"
        "from scraper.__main__ import _import_sqlite_utils_without_numpy\n"
        "_import_sqlite_utils_without_numpy()\n"
        "import archive.store\n"
        "before = 'numpy' in sys.modules\n"
        "from datasketch import MinHash\n"
        "MinHash(num_perm=8).update(b'word')\n"
        "print(before, 'numpy' in sys.modules)"
    )
    assert out == "False True"


def test_shared_stop_words_are_the_same_words_and_give_the_same_articles() -> None:
    # jusText runs on pages trafilatura finds short or unclean: every seed page is cleaned
    # with jusText's own copies first, then with the shared set.
    seeds = sorted(str(path) for path in SEEDS.glob("*.html"))
    out = _python(
        "import sys\n"
        "from trafilatura import external\n"
        "from scraper.cleaner import clean\n"
        "from scraper.cleaning_worker import share_justext_stoplist\n"
        f"seeds = {seeds!r}\n"
        "def texts(): return [clean(open(s, 'rb').read()).text for s in seeds]\n"
        "own, words = texts(), set(external.jt_stoplist_init())\n"
        "share_justext_stoplist()\n"
        "import justext.core\n"
        "shared = external.JT_STOPLIST\n"
        "print(shared == words, justext.core.define_stoplist(shared) is shared, texts() == own)"
    )
    assert out == "True True True"
