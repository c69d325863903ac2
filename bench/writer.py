"""The single writer's ceiling: pages a second the archive saves in one process, with the pages
fetched and cleaned beforehand, in memory.

    python bench/writer.py                   # the corpus's pages twice over under their own URLs
    python bench/writer.py --limit 100       # a small run

`scraper run` (and `run --ray`, whose driver is the archive's only writer) does this for every
URL, in one thread: claim the URL (a transaction), read what the archive knows of it (validators
and content hash, one query), then save the page (compress the HTML against the dictionary or
the page's last HTML, count the words changed, then one short transaction in WAL mode). This
bench does the same with archive.store.Archive, and nothing else: the pages of the evaluation
corpus (../shared/eval/trafilatura-corpus, or --corpus; --limit takes its first N) that the
cleaner finds an article in are decoded and cleaned first, untimed, then --copies times over
under URLs of their own (each copy's HTML with a comment of its own, so no two share a blob).
Six runs on a new archive, each a run as `scraper run` makes one (start_run ... finish_run):
  1. new: every URL for the first time;
  2. unchanged: every URL again, the same article (a rerun of a page that did not change);
  3. edited: every URL again, a sentence added to its text and its HTML (a correction);
  4. new, with the dictionary: as many new URLs, the archive's zstd dictionary trained by the
     end of run 1 (what an archive has after its first run);
  5. new, packed: as many new URLs again, each page packed beforehand, untimed, with the
     dictionary (archive.packing, as a Ray run's clean tasks do): the writer only checks the pack;
  6. edited, packed: run 5's URLs edited as in run 3, packed beforehand.
Prints saves a second (wall and CPU), the milliseconds of each step, and the end of each run
(finish_run: counts, the dictionary, merging the search index) apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import packing
from archive.packing import Packed
from archive.store import Archive
from bench.pages import DEFAULT_CORPUS, load, require
from scraper.errors import ScraperError
from scraper.models import Article, Page

LEASE = 300.0
"""Seconds a claim lasts: any value; each save ends its claim."""


def cleaned_pages(corpus: Path, limit: int | None) -> list[tuple[bytes, Article]]:
    """The corpus pages the cleaner finds an article in, with their articles."""
    from scraper.cleaner import clean
    from scraper.encoding import decode_html

    pages = []
    for url, _, content in load(corpus, limit):
        html, _ = decode_html(content, "text/html")
        try:
            pages.append((content, ready(clean(html, url))))
        except ScraperError:
            continue
    return pages


def ready(article: Article) -> Article:
    """The article as it reaches the writer: its hash and word count worked out in the cleaning
    process already."""
    article.content_hash  # noqa: B018 - cached_property
    article.word_count  # noqa: B018
    return article


def page(url: str, content: bytes, marker: str) -> Page:
    body = content + f"<!-- {marker} -->".encode()
    return Page(url=url, final_url=url, content=body, html=body.decode("utf-8", "replace"), status=200,
                headers={"content-type": "text/html"}, encoding="utf-8", fetched_at=datetime.now(UTC))


def edited(article: Article) -> Article:
    sentence = "\n\nThis article was corrected after it was first published."
    return ready(dataclasses.replace(article, text=article.text + sentence, markdown=article.markdown + sentence))


Work = list[tuple[str, Page, Article, Packed | None]]


def one_run(archive: Archive, work: Work, name: str) -> None:
    """Claim, what the archive knows of the URL (validators, content hash) and save for each
    (url, page, article, packed), as a run's writer does them."""
    run_id = archive.start_run(f"bench/writer.py {name}")
    steps: dict[str, float] = {"claim": 0.0, "known": 0.0, "save": 0.0}
    calls: list[tuple[str, Callable[[str, Page, Article, Packed | None], Any]]] = [
        ("claim", lambda url, _page, _article, _packed: archive.claim(url, run_id, seconds=LEASE)),
        ("known", lambda url, _page, _article, _packed: archive.known(url)),
        ("save", lambda _url, page, article, packed: archive.save(page, article, packed=packed, run_id=run_id)),
    ]
    changed = 0
    started, cpu = time.perf_counter(), time.process_time()
    for url, page_, article, packed in work:
        for step, call in calls:
            before = time.perf_counter()
            result = call(url, page_, article, packed)
            steps[step] += time.perf_counter() - before
        changed += result.changed
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    before = time.perf_counter()
    archive.finish_run(run_id, status="finished", urls=len(work))
    ending = time.perf_counter() - before
    count = len(work)
    print(f"  {name:<22} {count / seconds:6.1f} saves/s ({count} in {seconds:.1f} s, {changed} new versions; "
          f"CPU {1000 * cpu / count:.1f} ms a save, so at most {count / cpu:.0f}/s on a free core)  "
          + ", ".join(f"{step} {1000 * spent / count:.2f} ms" for step, spent in steps.items())
          + f"; the run's end {ending:.2f} s", flush=True)


def packed(archive: Archive, work: list[tuple[str, Page, Article]]) -> Work:
    """Each page packed with the archive's dictionary, as a Ray run's clean tasks pack them."""
    dictionary = archive.dictionary()
    return [(url, page_, article, packing.pack(page_.content, article, dictionary)) for url, page_, article in work]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="Only the corpus's first N pages.")
    parser.add_argument("--copies", type=int, default=2, help="URLs of each page in a run.")
    args = parser.parse_args()
    require(args.corpus)
    started = time.perf_counter()
    pages = cleaned_pages(args.corpus, args.limit)
    print(f"{len(pages)} pages cleaned in {time.perf_counter() - started:.0f} s (untimed), x {args.copies} URLs; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)

    def urls(first: int) -> list[tuple[str, bytes, Article]]:
        return [(f"http://127.0.0.{(n % 20) + 1}/p/{n}", content, article)
                for n, (content, article) in enumerate(pages * args.copies, start=first)]

    with tempfile.TemporaryDirectory() as folder, Archive(Path(folder) / "writer.db") as archive:
        first = urls(0)
        one_run(archive, [(url, page(url, content, url), article, None) for url, content, article in first], "new")
        one_run(archive, [(url, page(url, content, url), article, None) for url, content, article in first],
                "unchanged")
        one_run(archive, [(url, page(url, content, url + " edited"), edited(article), None)
                          for url, content, article in first], "edited")
        one_run(archive, [(url, page(url, content, url), article, None)
                          for url, content, article in urls(len(first))], "new, with dictionary")
        third = urls(2 * len(first))
        one_run(archive, packed(archive, [(url, page(url, content, url), article) for url, content, article in third]),
                "new, packed")
        one_run(archive, packed(archive, [(url, page(url, content, url + " edited"), edited(article))
                                          for url, content, article in third]), "edited, packed")
        size = sum(path.stat().st_size for path in Path(folder).glob("writer.db*"))
        print(f"archive: {size / 2**20:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
