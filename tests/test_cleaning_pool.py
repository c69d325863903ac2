"""The processes pages are cleaned in: what they load, that sharing jusText's stop words
changes no result, and how a stream of pages goes through them in order."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.cleaner import clean
from scraper.cleaning_pool import CleaningPool, Job, clean_in_order
from scraper.cleaning_worker import SLACK, receive, send
from scraper.errors import InternalError, NoContent
from scraper.warc_input import BrokenInput
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


def _memory(pid: int, field: str) -> int:
    """A /proc status field of the process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith(f"{field}:"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's memory from /proc")
def test_a_cleaning_process_gives_back_what_a_large_page_took() -> None:
    # Its own protocol, as CleaningPool speaks it; it ends once its stdin closes (on leaving the with).
    with subprocess.Popen([sys.executable, "-m", "scraper.cleaning_worker", "60", "4096"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as worker:
        assert worker.stdin is not None and worker.stdout is not None
        requests, replies = worker.stdin.fileno(), worker.stdout.fileno()
        assert receive(replies)[0] == "ready"
        ready = _memory(worker.pid, "VmRSS")
        small = "<html><body><p>" + "A small page of words. " * 30 + "</p></body></html>"
        for _ in range(20):  # pages of a usual size first
            send(requests, (small, "https://example.org/small"))
            assert receive(replies)[0] == "ok"
        large = "<html><body><main>" + "".join(
            f"<div class='c{i % 50}'><p>Paragraph {i} of the story, with words enough to be one.</p></div>"
            for i in range(40_000)) + "</main></body></html>"
        send(requests, (large, "https://example.org/large"))
        assert receive(replies)[0] == "ok"
        assert _memory(worker.pid, "VmHWM") > ready + SLACK  # the page took more than the slack
        send(requests, (small, "https://example.org/small"))
        assert receive(replies)[0] == "ok"
        assert _memory(worker.pid, "VmRSS") < ready + SLACK


class _Pool:
    """A stand-in for a CleaningPool of two processes: the "article" is the page's HTML upper-cased,
    after a wait the page names; "empty" fails as the cleaner does, "bug" as a bug would."""

    processes = 2

    def clean(self, html: str, url: str | None) -> str:
        if html == "bug":
            raise KeyError("a bug")
        if html == "empty":
            raise NoContent("no content: nothing left")
        time.sleep(float(url or 0))
        return html.upper()


def test_pages_come_out_in_order_with_what_became_of_each_and_a_bug_stops_only_its_page() -> None:
    failed = NoContent("no content: unreadable")
    jobs: list[tuple[int, Job]] = [(0, ("slow", "0.3")), (1, ("a", None)), (2, None), (3, ("bug", None)),
                                    (4, failed), (5, ("empty", None)), (6, ("b", "0.05"))]
    outcomes = list(clean_in_order(_Pool(), iter(jobs)))  # type: ignore[arg-type]
    assert [item for item, _ in outcomes] == list(range(7))
    assert [outcome for _, outcome in outcomes][:3] == ["SLOW", "A", None]
    assert isinstance(outcomes[3][1], InternalError) and "KeyError" in str(outcomes[3][1])
    assert outcomes[4][1] is failed
    assert isinstance(outcomes[5][1], NoContent)
    assert outcomes[6][1] == "B"


def test_items_that_break_off_give_the_pages_read_before_then_the_error() -> None:
    def broken() -> Iterator[tuple[int, Job]]:
        yield 0, ("a", "0.2")
        yield 1, ("b", None)
        raise BrokenInput("in.warc.gz: truncated")

    outcomes = clean_in_order(_Pool(), broken())  # type: ignore[arg-type]
    assert next(outcomes) == (0, "A") and next(outcomes) == (1, "B")
    with pytest.raises(BrokenInput, match="truncated"):
        next(outcomes)
