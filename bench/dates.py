"""How right the publication dates are: scraper.clean beside trafilatura, on WCXB's pages, whose
reference gives each page's date, or none.

    python bench/dates.py                    # every page, with the fold models in bench/models
    python bench/dates.py --models runs/     # other fold models

Each page is cleaned by the model of the other folds (bench/extract.py says why), which also
tells its type, and so whether htmldate looks for a date in the page. trafilatura reads the
date with its metadata (`bare_extraction(with_metadata=True)`, htmldate inside). A date is
compared as far as the reference gives it (a day, or for two pages a month). Per page type and
overall: pages whose reference has a date, dates right, dates wrong, dates given where the
reference has none, and dates missed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import trafilatura

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wcxb
from bench.extract import BASELINE, DEFAULT_FOLD_MODELS, model_path, require_fold_models
from scraper.cleaner import clean
from scraper.errors import ScraperError

OUTCOMES = ("right", "wrong", "not in reference", "missed")


def outcome(found: str | None, truth: str | None) -> str | None:
    day = (found or "")[:10] or None
    if day is None:
        return "missed" if truth else None
    if truth is None:
        return "not in reference"
    return "right" if day[:len(truth)] == truth else "wrong"


def ours(page: wcxb.Page, html: bytes, models: str) -> str | None:
    try:
        return clean(html, page.url, model=model_path(models, page.fold)).published
    except ScraperError:
        return None


def theirs(page: wcxb.Page, html: bytes) -> str | None:
    document = trafilatura.bare_extraction(html, url=page.url, include_comments=False, with_metadata=True)
    return None if document is None or isinstance(document, dict) else document.date


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB, help="the WCXB development set")
    parser.add_argument("--models", metavar="DIR", default=str(DEFAULT_FOLD_MODELS),
                        help="the fold models (a path holding {fold} names each file)")
    args = parser.parse_args()
    wcxb.require(args.wcxb)
    require_fold_models(args.models)
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    dated: Counter[str] = Counter()
    for page in wcxb.load(args.wcxb):
        truth = page.published[:10] or None
        dated[page.type] += truth is not None
        dated["all"] += truth is not None
        html = page.html()  # read and inflated once for both
        for name, found in (("scraper.clean", ours(page, html, args.models)), (BASELINE, theirs(page, html))):
            if (result := outcome(found, truth)) is not None:
                counts[(name, page.type)][result] += 1
                counts[(name, "all")][result] += 1
    types = [*sorted({kind for _, kind in counts} - {"all"}), "all"]
    print(f"{'WCXB dev, publication dates':<34} {'dated':>6}  " + "  ".join(f"{o:>16}" for o in OUTCOMES))
    for kind in types:
        for name in ("scraper.clean", BASELINE):
            label = f"{kind} {name}"
            print(f"{label:<34} {dated[kind]:>6}  " + "  ".join(f"{counts[(name, kind)][o]:>16}" for o in OUTCOMES))


if __name__ == "__main__":
    main()
