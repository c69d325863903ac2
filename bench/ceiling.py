"""Where the block model's score is lost on WCXB: what its blocks allow, and what it keeps.

    python bench/ceiling.py                  # with the fold models in bench/models
    python bench/ceiling.py --models runs/   # other fold models

Each page is cut into blocks as the cleaner cuts it, then scored three ways (word F1 against
its main content):
- blocks: the blocks training calls content (bench.train.align: their words found in the
  reference) kept, and no other: what a block model that never erred would score, this
  segmentation being what it is;
- model: the blocks the model of the other folds keeps (BlockModel.kept), their text joined,
  before the cleaner's rendering and its chrome rules (bench/extract.py scores the whole cleaner);
- best cut: the same model's verdicts cut, page by page, at whichever threshold of a grid
  scores best: the most a threshold set for each page could add.
Averaged over all pages and over those whose reference holds words (the mean of the 5 folds'
means, as the targets are read), then over each page type's; last, the pages whose reference
holds no words, where any text scores 0 and none scores 1, and those on which the model keeps
text.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wcxb
from bench.evaluation import word_prf
from bench.extract import DEFAULT_FOLD_MODELS, model_path, require_fold_models
from bench.train import align
from scraper.cleaner import model as block_model
from scraper.cleaner import page_info

CUTS = np.round(np.arange(0.05, 0.951, 0.05), 2)
WAYS = ("blocks", "model", "best cut")


def score(page: wcxb.Page, models: str) -> tuple[tuple[float, float, float], bool]:
    """The page's F1 each way, and whether the model keeps any text."""
    info = page_info(page.html(), page.url)
    texts = [block.text for block in info.segmentation.blocks]
    model = block_model.load(model_path(models, page.fold))

    def f1(keep: np.ndarray) -> float:
        return word_prf("\n".join(text for text, kept in zip(texts, keep, strict=True) if kept),
                        page.main_content)[2]

    if not texts:
        none = word_prf(None, page.main_content)[2]
        return (none, none, none), False
    page_type = model.page_type(info)
    verdicts = model.verdicts(info, page_type)  # not BlockModel.kept: the best cut needs every verdict
    kept = verdicts >= model.threshold(page_type)
    blocks = align(texts, page.main_content) >= 0.5
    return (f1(blocks), f1(kept), max(f1(verdicts >= cut) for cut in CUTS)), bool(kept.any())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB, help="the WCXB development set")
    parser.add_argument("--models", metavar="DIR", default=str(DEFAULT_FOLD_MODELS),
                        help="the fold models (a path holding {fold} names each file)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    wcxb.require(args.wcxb)
    require_fold_models(args.models)
    pages = wcxb.load(args.wcxb)
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(partial(score, models=args.models), pages, chunksize=8))
    by_type: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    by_fold: dict[int, list[tuple[float, ...]]] = defaultdict(list)
    referenced: dict[int, list[tuple[float, ...]]] = defaultdict(list)  # pages whose reference has words
    for page, (f1s, _) in zip(pages, results, strict=True):
        by_type[page.type].append(f1s)
        by_fold[page.fold].append(f1s)
        if page.has_reference:
            referenced[page.fold].append(f1s)

    def line(label: str, count: int, f1s: np.ndarray) -> None:
        print(f"{label:<32} {count:>5}  " + "  ".join(f"{f1:>8.4f}" for f1 in f1s))

    print(f"{'WCXB dev, word F1':<32} {'pages':>5}  " + "  ".join(f"{way:>8}" for way in WAYS))
    for label, folds in (("all (mean of the folds)", by_fold), ("with a reference (the same)", referenced)):
        line(label, sum(map(len, folds.values())), np.mean([np.mean(rows, axis=0) for rows in folds.values()], axis=0))
    for kind, rows in sorted(by_type.items(), key=lambda item: -len(item[1])):
        line(kind, len(rows), np.mean(rows, axis=0))
    empty = [(page, texted) for page, (_, texted) in zip(pages, results, strict=True) if not page.has_reference]
    print(f"{len(empty)} pages whose reference holds no words; the model keeps text on "
          f"{sum(texted for _, texted in empty)}: " + ", ".join(page.id for page, texted in empty if texted))


if __name__ == "__main__":
    main()
