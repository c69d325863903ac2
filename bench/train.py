"""Train the block model on WCXB dev, site-disjoint, and print what each fold scores.

    python -m bench.train                       # 5 fold models (each trained on the other 4),
                                                # scored on their fold; then the shipped model
    python -m bench.train --folds-only          # fold models and scores only
    python -m bench.train --shipped-only        # the shipped model only
    python -m bench.train --out DIR             # where fold models go (default bench/models)

Labels come from aligning each block's words with the page's hand-written main content, in
order (a short block counts only where it falls in sequence, so "Share" is not content because
the article says "share" somewhere). Deterministic: fixed seeds, one thread.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scraper.cleaner import model as block_model
from scraper.cleaner.blocks import Segmentation
from scraper.cleaner.features import base_features
from scraper.cleaner.page import PAGE_TYPES, page_features, read_page

_TOKEN = re.compile(r"\w+")
SEED = 20261204
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LONG = 5
"""Words from which a block is found in the reference wherever it is."""
DEFAULT_WCXB = Path(__file__).resolve().parents[2] / "shared" / "eval" / "wcxb-dev"


def load_scorer(wcxb: Path) -> Any:
    """The benchmark's own scorer module (pages, folds), which lives beside the data."""
    spec = importlib.util.spec_from_file_location("wcxb_score", wcxb.parent / "wcxb_score.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no wcxb_score.py beside {wcxb}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["wcxb_score"] = module
    spec.loader.exec_module(module)
    return module


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def align(blocks: list[str], reference: str) -> np.ndarray:
    """The share of each block's words found in the reference text. Long blocks are found
    anywhere; a short one only between where its long neighbours were found, so a menu's
    "About" is not content because the article says "about" somewhere."""
    truth = " " + " ".join(tokens(reference)) + " "
    labels = np.zeros(len(blocks), dtype=np.float32)
    spans: list[tuple[int, int] | None] = [None] * len(blocks)
    needles = [" " + " ".join(tokens(text)) + " " for text in blocks]
    lengths = [needle.count(" ") - 1 for needle in needles]
    for i, needle in enumerate(needles):
        if lengths[i] < LONG:
            continue
        found = truth.find(needle)
        if found >= 0:
            labels[i] = 1.0
            spans[i] = (found, found + len(needle))
        else:  # partly: the reference may trim or reword a long block
            words = needle.split()
            grams = [" ".join(words[j:j + 3]) for j in range(len(words) - 2)]
            labels[i] = sum(f" {g} " in truth for g in grams) / len(grams)
    before = 0
    after = [len(truth)] * (len(blocks) + 1)
    for i in range(len(blocks) - 1, -1, -1):
        span = spans[i]
        after[i] = span[0] if span else after[i + 1]
    for i, needle in enumerate(needles):
        span = spans[i]
        if span:
            before = span[1] - 1
        elif 0 < lengths[i] < LONG and truth.find(needle, max(0, before - 1), after[i + 1] + 1) >= 0:
            labels[i] = 1.0
    return labels


@dataclass
class Example:
    id: str
    fold: int
    type: str
    url: str
    segmentation: Segmentation
    title: str
    description: str
    body_text: str
    page_kind: str
    labels: np.ndarray
    reference: str


def _prepare(item: tuple[dict[str, object], int]) -> Example:
    page, fold = item
    html = gzip.decompress(Path(str(page["html"])).read_bytes())
    info = read_page(html, str(page["url"]))
    texts = [b.text for b in info.segmentation.blocks]
    return Example(str(page["id"]), fold, str(page["type"]), str(page["url"]), info.segmentation,
                   info.title, info.description, info.body_text, info.page_kind,
                   align(texts, str(page["main_content"])), str(page["main_content"]))


def load_examples(wcxb: Path, workers: int) -> list[Example]:
    scorer = load_scorer(wcxb)
    fold_of = scorer.folds(5)
    items = [(p, fold_of[p["id"]]) for p in scorer.pages()]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_prepare, items, chunksize=8))


def vocabulary(examples: list[Example], size: int = 400, min_pages: int = 8) -> list[str]:
    """Class and id tokens on at least min_pages training pages, most common first."""
    df: Counter[str] = Counter()
    for ex in examples:
        seen: set[str] = set()
        for element in ex.segmentation.elements:
            seen |= element.tokens
        df.update(seen)
    return sorted([t for t, c in df.most_common(size) if c >= min_pages])


def matrices(examples: list[Example], vocab: list[str]) -> list[np.ndarray]:
    return [base_features(ex.segmentation, vocab, title=ex.title, description=ex.description,
                          body_text=ex.body_text, page_kind=ex.page_kind) for ex in examples]


def _weights(ex: Example) -> np.ndarray:
    # Words are what the score counts: weigh each block by its length, softened.
    return np.array([np.sqrt(1 + len(b.text)) for b in ex.segmentation.blocks], dtype=np.float32)


def train(examples: list[Example], vocab: list[str], *, rounds: int = 200) -> block_model.BlockModel:
    """A page-type model, then the block model, which is told the page's type as the page-type
    model says it of a page it did not see (inner site-disjoint folds), as in use."""
    import lightgbm as lgb

    params = dict(objective="binary", learning_rate=0.08, num_leaves=63, min_data_in_leaf=40,
                  feature_fraction=0.7, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
                  num_threads=2, seed=SEED, deterministic=True, force_row_wise=True, verbose=-1)
    type_params = dict(objective="multiclass", num_class=len(PAGE_TYPES), learning_rate=0.05, num_leaves=15,
                       min_data_in_leaf=10, feature_fraction=0.7, num_threads=2, seed=SEED,
                       deterministic=True, verbose=-1)
    inner = [hash_fold(ex.url) for ex in examples]
    everyone = range(len(examples))

    pages = np.vstack([page_features(ex.segmentation, ex.url, ex.page_kind) for ex in examples])
    kinds = np.array([PAGE_TYPES.index(ex.type) for ex in examples])

    def fit_types(rows: list[int]) -> lgb.Booster:
        return lgb.train(type_params, lgb.Dataset(pages[rows], kinds[rows], categorical_feature=[0]),
                         num_boost_round=150)

    page_types = np.zeros((len(examples), len(PAGE_TYPES)))
    for k in range(4):
        model = fit_types([i for i in everyone if inner[i] != k])
        held = [i for i in everyone if inner[i] == k]
        page_types[held] = model.predict(pages[held], num_threads=1)
    type_model = fit_types(list(everyone))

    xs = [np.hstack([base_features(ex.segmentation, vocab, title=ex.title, description=ex.description,
                                   body_text=ex.body_text, page_kind=ex.page_kind),
                     np.tile(page_types[i], (len(ex.labels), 1)).astype(np.float32)])
          for i, ex in enumerate(examples)]
    ys = [(ex.labels >= 0.5).astype(np.float32) for ex in examples]
    ws = [_weights(ex) for ex in examples]

    def fit(rows: list[int], features: list[np.ndarray]) -> lgb.Booster:
        rows = [i for i in rows if len(ys[i])]
        data = lgb.Dataset(np.vstack([features[i] for i in rows]), np.concatenate([ys[i] for i in rows]),
                           weight=np.concatenate([ws[i] for i in rows]), categorical_feature=[0], free_raw_data=True)
        return lgb.train(params, data, num_boost_round=rounds)

    _log(f"features: {len(xs)} pages")
    blocks = fit(list(everyone), xs)
    _log("blocks")
    # The threshold: the one that scores best on training pages, as judged by models that
    # did not see them.
    oof: list[np.ndarray] = [np.zeros(len(ys[i])) for i in everyone]
    for k in range(4):
        model = fit([i for i in everyone if inner[i] != k], xs)
        for i in everyone:
            if inner[i] == k and len(ys[i]):
                oof[i] = model.predict(xs[i], num_threads=1)
    _log("out-of-fold verdicts")
    texts = [[b.text for b in ex.segmentation.blocks] for ex in examples]

    def score(threshold: float) -> float:
        return sum(word_f1("\n".join(t for t, p in zip(texts[i], oof[i], strict=True) if p >= threshold),
                           examples[i].reference) for i in everyone) / len(examples)

    threshold = max(THRESHOLDS, key=score)
    _log(f"threshold {threshold}")
    return block_model.BlockModel(vocab, type_model, blocks, threshold=threshold)


_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"  {message} ({time.perf_counter() - _START:.0f} s)", file=sys.stderr)


def hash_fold(url: str) -> int:
    import hashlib
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return int(hashlib.sha256(host.encode()).hexdigest(), 16) % 4


def word_f1(predicted: str, reference: str) -> float:
    pred, ref = Counter(tokens(predicted)), Counter(tokens(reference))
    if not ref:
        return 1.0 if not pred else 0.0
    overlap = sum((pred & ref).values())
    if not overlap:
        return 0.0
    p, r = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * p * r / (p + r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, default=DEFAULT_WCXB)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "models")
    parser.add_argument("--folds-only", action="store_true")
    parser.add_argument("--shipped-only", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    examples = load_examples(args.wcxb, args.workers)
    print(f"{len(examples)} pages, {sum(len(e.labels) for e in examples)} blocks "
          f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    scores = []
    for fold in range(0 if args.shipped_only else 5):
        training = [ex for ex in examples if ex.fold != fold]
        model = train(training, vocabulary(training))
        model.save(args.out / f"fold{fold}.model")
        held = [ex for ex in examples if ex.fold == fold]
        f1s = [word_f1(model.text_of(ex.segmentation, ex.url, ex.title, ex.description, ex.body_text,
                                     ex.page_kind), ex.reference) for ex in held]
        scores.append(sum(f1s) / len(f1s))
        print(f"fold {fold}: {len(held)} pages, block-text word F1 {scores[-1]:.4f} "
              f"({time.perf_counter() - start:.0f} s)")
    if scores:
        print(f"mean over folds {sum(scores) / 5:.4f}")
    if not args.folds_only:
        model = train(examples, vocabulary(examples))
        model.save(block_model.DEFAULT_MODEL)
        print(f"shipped model: {block_model.DEFAULT_MODEL} ({block_model.DEFAULT_MODEL.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
