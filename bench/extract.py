"""Extraction quality and speed: scraper.clean beside trafilatura.extract, same pages, same run.

    python bench/extract.py                                  # both sets, every page
    python bench/extract.py --set wcxb --fold 2 --worst 20   # one set, one fold
    python bench/extract.py --set trafilatura --limit 200
    python bench/extract.py --rules                          # the rules (clean(..., model=None))
    python bench/extract.py --with-metadata                  # trafilatura reading metadata too
    python bench/extract.py --extractor candidate:extract    # score another function instead
    python bench/extract.py --models runs/                   # other fold models
    python bench/extract.py --plain                          # the pages without class, id and role names

Two development sets, looked for in ../shared/eval/ beside the checkout unless --corpus or
--wcxb names them:
- trafilatura: trafilatura's multilingual corpus, pages with snippets that must and must not be
  in the text; precision, recall and F1 over all the snippets (bench/evaluation.py, Tally).
- wcxb: the WCXB development set, 1,497 pages in 7 page types with their whole main content;
  the benchmark's word-level precision, recall and F1 per page (evaluation.word_prf), averaged
  over pages, overall, by page type and by fold, and the mean of the folds again without the
  pages whose reference holds no words (on which any text scores 0). "No collapse" lists the
  pages where ours scores under 0.5 while trafilatura scores 0.8 or more, pages ours loses that
  are not hard ones; the target is at most 1% of the set.
Both extractors run interleaved, page by page, so machine load affects both alike; the time
ratio is ours over trafilatura's (2.3.1 measured so far; extract(html, url=url,
include_comments=False), which reads no metadata; --with-metadata adds with_metadata=True, the
title, authors, date and site that scraper.clean reads too). Before the clock starts, each
cleans the set's first page once per fold: what an extractor does once per process (imports on
first use, reading its model) is not a page's time; then what the process holds is frozen out
of the garbage collector's sight (gc.freeze), as scraper's cleaning processes do, so that its
full collections do not fall on whichever extractor set them off. --limit takes the first N
pages of each set (by URL, by id).

Folds: a page's fold is sha1(its domain) mod 5, on both sets (bench/wcxb.py, the same rule as
the WCXB scorer's folds()), so no site is in two folds; --fold I scores fold I's pages only.
The block model is scored with models trained on the other folds, never the shipped one, which
saw every page here: a page of fold I is cleaned by scraper.cleaner.clean(html, url,
model=DIR/f"fold{I}.model"), DIR being bench/models (written by `python -m bench.train
--folds-only`, about 25 minutes on 2 cores) or what --models names (a path holding "{fold}"
names each file, e.g. --models runs/m{fold}.bin). --rules scores the rules instead (model=None); --shipped
the shipped model, for its speed only.

--plain gives both extractors each page in plain markup (bench/plain.py: its class, id and
role attributes taken away, its sectioning tags made div, as UTF-8), as older pages and pages
of generated class names come: how far each leans on the names a page's markup gives.

--extractor MODULE:FUNCTION scores FUNCTION(html_bytes, url) -> text or None in place of
scraper.clean (the interface of the sets' own scorers); with --models it gets model=PATH too.
A ScraperError counts as no text; any other exception as no text and an error.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import inspect
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

import trafilatura

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import pages, wcxb
from bench.evaluation import Tally, word_prf
from bench.plain import plain_markup
from scraper.cleaner import DEFAULT_MODEL, STAGES, clean_timed
from scraper.errors import ScraperError

Extract = Callable[[bytes, str, int], str | None]
"""(html, url, fold of the page) -> text, or None for no text."""
BASELINE = f"trafilatura {trafilatura.__version__}"
COLLAPSE_OURS, COLLAPSE_THEIRS = 0.5, 0.8


class Contender:
    """One extractor under test: its time and errors on one set."""

    def __init__(self, name: str, extract: Extract, stages: dict[str, float] | None = None) -> None:
        self.name, self.extract, self.stages = name, extract, stages
        self.seconds, self.errors = 0.0, 0

    def run(self, html: bytes, url: str, fold: int) -> str | None:
        start = time.perf_counter()
        try:
            text = self.extract(html, url, fold)
        except ScraperError:
            text = None  # no content: counted as a page with empty output
        except Exception as exc:  # a crash is a full miss, as in the sets' own scorers
            self.errors += 1
            if self.errors <= 3:
                print(f"{self.name}: {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
            text = None
        self.seconds += time.perf_counter() - start
        return text if isinstance(text, str) else None

    def warm_up(self, html: bytes, url: str) -> None:
        """Clean one page with each fold's model, untimed: what an extractor does once per
        process (imports on first use, reading its model) is not a page's time. Ours would
        otherwise count LightGBM's import and five fold models' loading (about 0.5 s)."""
        for fold in range(wcxb.FOLDS):
            with contextlib.suppress(Exception):
                self.extract(html, url, fold)
        if self.stages is not None:
            self.stages.update(dict.fromkeys(self.stages, 0.0))


def warm_up_both(us: Contender, them: Contender, html: bytes, url: str) -> None:
    """Both contenders made ready, then what the process holds put out of the garbage
    collector's sight, as scraper's cleaning processes do once their model is read
    (scraper/cleaning_worker.py): its full collections, which walk all that SciPy (under
    LightGBM), trafilatura and the models leave, would otherwise fall on the pages of
    whichever contender's allocations set them off."""
    for contender in (us, them):
        contender.warm_up(html, url)
    gc.freeze()


DEFAULT_FOLD_MODELS = Path(__file__).resolve().parent / "models"


def model_path(models: str, fold: int) -> Path:
    return Path(models.format(fold=fold)) if "{fold}" in models else Path(models) / f"fold{fold}.model"


def require_fold_models(models: str, otherwise: str = "") -> None:
    """Exit with one line unless every fold's model is there."""
    missing = [path for fold in range(wcxb.FOLDS) if not (path := model_path(models, fold)).is_file()]
    if missing:
        sys.exit(f"no fold model {missing[0]}: train them with `python -m bench.train --folds-only` (about 25 min)"
                 + (f", {otherwise}" if otherwise else ""))


def takes_model(function: Callable[..., Any], name: str) -> None:
    """Exit with one line unless function accepts a model= keyword."""
    parameters = inspect.signature(function).parameters.values()
    if not any(p.name == "model" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        sys.exit(f"{name} takes no model= keyword, which --models needs")


def resolve(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        sys.exit(f"--extractor: expected MODULE:FUNCTION, got {spec!r}")
    sys.path.insert(0, os.getcwd())  # a module beside the caller imports as it would in a shell
    try:
        function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        sys.exit(f"--extractor {spec}: {exc}")
    return function


def ours(args: argparse.Namespace) -> Contender:
    """The extractor under test: scraper.clean (timed by stage) unless --extractor names another."""
    models: str | None = args.models
    if args.extractor is not None:
        function = resolve(args.extractor)
        if models is None:
            return Contender(args.extractor, lambda html, url, fold: function(html, url))
        takes_model(function, args.extractor)
        folds = models  # a str here, for the lambda too
        return Contender(args.extractor, lambda html, url, fold: function(html, url, model=model_path(folds, fold)))
    if args.rules:
        return _timed("scraper.clean (rules)", lambda fold: None)
    if args.shipped:
        return _timed("scraper.clean (shipped model, which saw these pages)", lambda fold: DEFAULT_MODEL)
    models = models or str(DEFAULT_FOLD_MODELS)
    require_fold_models(models, "or score --rules or --shipped")
    return _timed("scraper.clean", lambda fold: model_path(models, fold))


def _timed(name: str, model: Callable[[int], Path | None]) -> Contender:
    """scraper.clean with the model model(fold) of each page's fold, timed by stage."""
    stages = dict.fromkeys(STAGES, 0.0)

    def timed(html: bytes, url: str, fold: int) -> str:
        article, seconds = clean_timed(html, url, model=model(fold))
        for stage, spent in seconds.items():
            stages[stage] += spent
        return article.text

    return Contender(name, timed, stages)


def baseline(with_metadata: bool = False) -> Contender:
    """trafilatura.extract, or with_metadata its bare_extraction reading the title, authors,
    date and site as we do (its text scored: extract() would put them in a header)."""
    if not with_metadata:
        return Contender(BASELINE, lambda html, url, fold: trafilatura.extract(html, url=url, include_comments=False))

    def with_metadata_text(html: bytes, url: str, fold: int) -> str | None:
        document = trafilatura.bare_extraction(html, url=url, include_comments=False, with_metadata=True)
        return None if document is None or isinstance(document, dict) else document.text

    return Contender(BASELINE + " with metadata", with_metadata_text)


def timing(us: Contender, them: Contender, pages: int) -> None:
    print(f"time ratio ({us.name} / trafilatura) {us.seconds / max(them.seconds, 1e-9):.2f}")
    if us.stages is not None and us.seconds:
        print(f"{us.name} time by stage: " + ", ".join(
            f"{stage} {1000 * spent / pages:.1f} ms ({100 * spent / us.seconds:.0f}%)"
            for stage, spent in us.stages.items() if spent))


def _as_given(html: bytes, plain: bool) -> bytes:
    """The page as both extractors get it: in plain markup with --plain (bench.plain)."""
    return plain_markup(html).encode() if plain else html


def run_trafilatura_corpus(args: argparse.Namespace, us: Contender, them: Contender) -> None:
    pages.require(args.corpus)
    items = pages.load(args.corpus)
    if args.fold is not None:
        items = [item for item in items if wcxb.fold_of(item[0]) == args.fold]
    items = items[: args.limit]
    tallies = {us.name: Tally(), them.name: Tally()}
    misses: list[tuple[int, str]] = []
    if items:
        warm_up_both(us, them, items[0][2], items[0][0])
    for url, item, given in items:
        html = _as_given(given, args.plain)
        with_, without = list(item["with"]), list(item["without"])  # type: ignore[call-overload]
        fold = wcxb.fold_of(url)
        misses.append((tallies[us.name].add(us.run(html, url, fold), with_, without), url))
        tallies[them.name].add(them.run(html, url, fold), with_, without)

    print(f"== trafilatura corpus: {len(items)} pages, snippets that must and must not be in the text"
          + (f" (fold {args.fold})" if args.fold is not None else "") + (" (plain markup)" if args.plain else ""))
    width = max(len(us.name), len(them.name))
    for contender in (us, them):
        tally = tallies[contender.name]
        print(f"{contender.name:<{width}}  precision {tally.precision:.4f}  recall {tally.recall:.4f}"
              f"  F1 {tally.f1:.4f}  {contender.seconds:6.1f} s  {1000 * contender.seconds / max(1, len(items)):5.1f}"
              f" ms/page  errors {contender.errors}")
    timing(us, them, len(items))
    for count, url in sorted(misses, reverse=True)[: args.worst]:
        print(f"  {count} misses  {url}")


@dataclass(frozen=True)
class Row:
    """A page with the (precision, recall, F1) of ours and of trafilatura."""

    page: wcxb.Page
    ours: tuple[float, float, float]
    theirs: tuple[float, float, float]


def means(rows: list[Row]) -> tuple[float, float]:
    """Mean F1 of ours and of trafilatura over rows."""
    return fmean(row.ours[2] for row in rows), fmean(row.theirs[2] for row in rows)


def run_wcxb(args: argparse.Namespace, us: Contender, them: Contender) -> None:
    wcxb.require(args.wcxb)
    pages = wcxb.load(args.wcxb)
    if args.fold is not None:
        pages = [page for page in pages if page.fold == args.fold]
    pages = pages[: args.limit]
    rows: list[Row] = []
    if pages:
        warm_up_both(us, them, pages[0].html(), pages[0].url)
    for page in pages:
        html = _as_given(page.html(), args.plain)
        ours_text = us.run(html, page.url, page.fold)
        theirs_text = them.run(html, page.url, page.fold)
        rows.append(Row(page, word_prf(ours_text, page.main_content), word_prf(theirs_text, page.main_content)))

    print(f"== WCXB dev: {len(rows)} pages, word precision, recall and F1 averaged over pages"
          + (f" (fold {args.fold})" if args.fold is not None else "") + (" (plain markup)" if args.plain else ""))
    if not rows:
        return
    width = max(len(us.name), len(them.name))
    for contender, scores in ((us, [row.ours for row in rows]), (them, [row.theirs for row in rows])):
        p, r, f = (fmean(score[i] for score in scores) for i in range(3))
        print(f"{contender.name:<{width}}  precision {p:.4f}  recall {r:.4f}  F1 {f:.4f}  {contender.seconds:6.1f} s"
              f"  {1000 * contender.seconds / len(rows):5.1f} ms/page  errors {contender.errors}")
    timing(us, them, len(rows))

    print(f"F1 by page type        {us.name:>{width}}  {them.name:>{width}}")
    by_type: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_type[row.page.type].append(row)
    for kind, group in sorted(by_type.items(), key=lambda item: (-len(item[1]), item[0])):
        mine, theirs = means(group)
        print(f"  {kind:<14} {len(group):>4}    {mine:>{width}.4f}  {theirs:>{width}.4f}")

    print(f"F1 by fold             {us.name:>{width}}  {them.name:>{width}}")
    by_fold: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_fold[row.page.fold].append(row)
    for fold, group in sorted(by_fold.items()):
        mine, theirs = means(group)
        print(f"  fold {fold}         {len(group):>4}    {mine:>{width}.4f}  {theirs:>{width}.4f}")
    fold_means = [means(group) for group in by_fold.values()]
    print(f"  mean over folds        {fmean(m[0] for m in fold_means):>{width}.4f}"
          f"  {fmean(m[1] for m in fold_means):>{width}.4f}")
    # The same without the pages whose reference holds no words, where any text scores 0.
    referenced = [[row for row in group if row.page.has_reference] for group in by_fold.values()]
    referenced_means = [means(group) for group in referenced if group]
    if referenced_means:
        label = f"with a reference ({sum(map(len, referenced))})"
        print(f"  {label:<23}{fmean(m[0] for m in referenced_means):>{width}.4f}"
              f"  {fmean(m[1] for m in referenced_means):>{width}.4f}")

    collapsed = [row for row in rows if row.ours[2] < COLLAPSE_OURS and row.theirs[2] >= COLLAPSE_THEIRS]
    print(f"no collapse: {len(collapsed)} pages ({100 * len(collapsed) / len(rows):.1f}% of {len(rows)};"
          f" target at most 1%) where {us.name} F1 < {COLLAPSE_OURS} and trafilatura F1 >= {COLLAPSE_THEIRS}")
    for row in sorted(collapsed, key=lambda row: row.page.id):
        print(f"  {row.page.id}  {row.page.type:<13}  {row.ours[2]:.3f}  {row.theirs[2]:.3f}  {row.page.url}")
    if args.worst:
        print(f"worst {args.worst} pages for {us.name} (its F1, trafilatura's):")
    for row in sorted(rows, key=lambda row: row.ours[2])[: args.worst]:
        print(f"  {row.page.id}  {row.page.type:<13}  {row.ours[2]:.3f}  {row.theirs[2]:.3f}  {row.page.url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("both", "trafilatura", "wcxb"), default="both", help="which set to score")
    parser.add_argument("--corpus", type=Path, default=pages.DEFAULT_CORPUS, help="trafilatura's corpus")
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB, help="the WCXB development set")
    parser.add_argument("--limit", type=int, help="only the first N pages of each set")
    parser.add_argument("--fold", type=int, choices=range(wcxb.FOLDS), help="only the pages of this fold")
    parser.add_argument("--worst", type=int, default=0, help="list the N pages where ours does worst")
    parser.add_argument("--extractor", metavar="MODULE:FUNCTION", help="score this instead of scraper.clean")
    parser.add_argument("--models", metavar="DIR",
                        help='clean fold I with model=DIR/fold{I}.model (or a path with "{fold}"); '
                             'default bench/models')
    parser.add_argument("--rules", action="store_true", help="score the rules (clean(..., model=None))")
    parser.add_argument("--plain", action="store_true",
                        help="give both extractors the pages without class, id and role names (bench/plain.py)")
    parser.add_argument("--with-metadata", action="store_true",
                        help="give trafilatura with_metadata=True: the title, authors and date we read too")
    parser.add_argument("--shipped", action="store_true",
                        help="score the shipped model, which saw these pages: for its speed only")
    args = parser.parse_args()

    seconds = {"ours": 0.0, "theirs": 0.0}
    sets = [run for name, run in (("trafilatura", run_trafilatura_corpus), ("wcxb", run_wcxb))
            if args.set in ("both", name)]
    for number, run in enumerate(sets):
        us, them = ours(args), baseline(args.with_metadata)  # fresh counts for each set
        if number:
            print()
        run(args, us, them)
        seconds["ours"] += us.seconds
        seconds["theirs"] += them.seconds
    if len(sets) > 1:
        print(f"\ntime ratio over both sets ({us.name} / trafilatura)"
              f" {seconds['ours'] / max(seconds['theirs'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
