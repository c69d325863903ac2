"""Extraction quality and speed: scraper.clean beside trafilatura.extract, same pages, same run.

    python bench/extract.py                 # the whole evaluation corpus
    python bench/extract.py --limit 200 --worst 10

The corpus is trafilatura's multilingual evaluation set (pages plus snippets that must and
must not be in the text), looked for in ../shared/eval/trafilatura-corpus beside the checkout
unless --corpus names it. Both extractors run interleaved, page by page, so machine load
affects both alike. Prints precision, recall, F1 and time for each, the time ratio, and where
scraper.clean spends its time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trafilatura

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import DEFAULT_CORPUS, load, require
from bench.evaluation import Tally
from scraper.cleaner import STAGES, clean_timed
from scraper.errors import ScraperError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N pages (sorted by URL)")
    parser.add_argument("--worst", type=int, default=0, help="list the N pages where scraper misses most")
    args = parser.parse_args()
    require(args.corpus)

    ours, theirs = Tally(), Tally()
    stages = dict.fromkeys(STAGES, 0.0)
    misses: list[tuple[int, str]] = []
    for url, item, html in load(args.corpus, args.limit):
        with_, without = list(item["with"]), list(item["without"])  # type: ignore[call-overload]
        start = time.perf_counter()
        try:
            article, seconds = clean_timed(html, url)
            text: str | None = article.text
            for stage, spent in seconds.items():
                stages[stage] += spent
        except ScraperError:
            text = None  # no content: counted as a page with empty output
        misses.append((ours.add(text, with_, without, time.perf_counter() - start), url))
        start = time.perf_counter()
        baseline = trafilatura.extract(html, url=url, include_comments=False)
        theirs.add(baseline, with_, without, time.perf_counter() - start)

    print(f"{ours.pages} pages")
    for name, tally in (("scraper.clean", ours), (f"trafilatura {trafilatura.__version__}", theirs)):
        print(f"{name:<20} precision {tally.precision:.4f}  recall {tally.recall:.4f}  F1 {tally.f1:.4f}"
              f"  {tally.seconds:6.1f} s  {1000 * tally.seconds / tally.pages:5.1f} ms/page")
    print(f"time ratio (scraper / trafilatura) {ours.seconds / theirs.seconds:.2f}")
    print("scraper.clean time by stage: " + ", ".join(
        f"{stage} {1000 * spent / ours.pages:.1f} ms ({100 * spent / ours.seconds:.0f}%)"
        for stage, spent in stages.items()))
    for count, url in sorted(misses, reverse=True)[: args.worst]:
        print(f"  {count} misses  {url}")


if __name__ == "__main__":
    main()
