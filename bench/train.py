"""Train the block model on WCXB dev, site-disjoint, and print what each fold scores.

    python -m bench.train                       # 5 fold models (each trained on the other 4),
                                                # scored on their fold; then the shipped model
    python -m bench.train --folds-only          # fold models and scores only
    python -m bench.train --shipped-only        # the shipped model only
    python -m bench.train --out DIR             # where fold models go (default bench/models)
    python -m bench.train --folds-only --seed 1 --out DIR   # another seed: how far scores move by chance

Labels come from aligning each block's words with the page's hand-written main content, in
order (a short block counts only where it falls in sequence, so "Share" is not content because
the article says "share" somewhere). One page in two is learned from in plain markup too
(bench.plain: no class, id or role names, no sectioning tags), as older pages and pages of
generated class names come, and is not scored. Deterministic: fixed seeds and LightGBM's
deterministic mode, so the same data gives the same model file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wcxb
from bench.evaluation import Tally, normalise, word_prf, words
from bench.pages import DEFAULT_CORPUS
from bench.pages import load as load_corpus
from bench.pages import require as require_corpus
from bench.plain import plain_markup
from scraper.cleaner import DEFAULT_MODEL, model_id, page_info
from scraper.cleaner import model as block_model
from scraper.cleaner.blocks import Segmentation
from scraper.cleaner.features import BASE_NAMES, context_features
from scraper.cleaner.page import PAGE_TYPES, PageInfo, page_features

SEED = 20261204
SNIPPET_WEIGHT = 3.0
MIN_TYPE_PAGES = 30
"""Training pages of a type below which its threshold is the overall one."""
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
CONTEXT_ROUNDS = 150
"""Trees of the context pass, which reads 115 numbers a block."""
LONG = 5
"""Words from which a block is found in the reference wherever it is."""
PLAIN_SHARE = 2
"""One training page in PLAIN_SHARE (by a hash of its URL) is learned from twice: as it is and
in plain markup (bench.plain), without class, id or role names and sectioning tags, so that the
model does not lean on names where a page has none."""
tokens = words  # the scorer's: lower-cased \w+


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
    type: str  # of a WCXB page; "" for a page of the trafilatura corpus
    page: PageInfo
    labels: np.ndarray  # per block, the share that is content; NaN where nothing says
    reference: str  # a WCXB page's main content
    snippets: tuple[list[str], list[str]] = ([], [])  # a corpus page's with and without
    plain: bool = False  # a twin in plain markup (plain_markup): learned from, not scored

    @property
    def segmentation(self) -> Segmentation:
        return self.page.segmentation


def _twinned(url: str) -> bool:
    return int(hashlib.sha256(url.encode()).hexdigest(), 16) % PLAIN_SHARE == 0


def _prepare(page: wcxb.Page, plain: bool = False) -> Example:
    info = page_info(plain_markup(page.html()) if plain else page.html(), page.url)
    texts = [b.text for b in info.segmentation.blocks]
    return Example(page.id, page.fold, page.type, info, align(texts, page.main_content), page.main_content,
                   plain=plain)


def snippet_labels(blocks: list[str], with_: list[str], without: list[str]) -> np.ndarray:
    """1 for a block that holds (or is a long part of) a snippet of the text, 0 for one of
    boilerplate, NaN for the rest, which the corpus says nothing about."""
    texts = [normalise(text).lower() for text in blocks]
    labels = np.full(len(blocks), np.nan, dtype=np.float32)
    for snippets, label in ((without, 0.0), (with_, 1.0)):
        for snippet in snippets:
            needle = normalise(snippet).lower()
            for i, text in enumerate(texts):
                if needle in text or (len(text) >= 20 and text in needle):
                    labels[i] = label
    return labels


def _prepare_corpus_page(item: tuple[str, dict[str, object], bytes], plain: bool = False) -> Example:
    url, record, html = item
    info = page_info(plain_markup(html) if plain else html, url)
    with_, without = list(record["with"]), list(record["without"])  # type: ignore[call-overload]
    labels = snippet_labels([b.text for b in info.segmentation.blocks], with_, without)
    return Example(url, wcxb.fold_of(url), "", info, labels, "", (with_, without), plain=plain)


def load_examples(path: Path, corpus: Path | None, workers: int) -> list[Example]:
    """WCXB's pages, and the trafilatura corpus's when given."""
    wcxb.require(path)
    with ProcessPoolExecutor(workers) as pool:
        pages = wcxb.load(path)
        examples = list(pool.map(_prepare, pages, chunksize=8))
        examples += pool.map(partial(_prepare, plain=True), [page for page in pages if _twinned(page.url)],
                             chunksize=8)
        if corpus is not None:
            require_corpus(corpus)
            items = load_corpus(corpus)
            examples += pool.map(_prepare_corpus_page, items, chunksize=8)
            examples += pool.map(partial(_prepare_corpus_page, plain=True),
                                 [item for item in items if _twinned(item[0])], chunksize=8)
    return examples


def vocabulary(examples: list[Example], size: int = 400, min_pages: int = 8) -> list[str]:
    """The size class and id tokens on most training pages (at least min_pages), sorted."""
    df: Counter[str] = Counter()
    for ex in examples:
        seen: set[str] = set()
        for element in ex.segmentation.elements:
            seen |= element.tokens
        df.update(seen)
    # Ties broken by the token, not by set order (which changes with Python's hash seed).
    common = sorted(df.items(), key=lambda item: (-item[1], item[0]))[:size]
    return sorted(t for t, c in common if c >= min_pages)


def matrices(examples: list[Example], vocab: list[str]) -> list[np.ndarray]:
    """Each page's block features before its type is known (train appends the type's columns)."""
    return [block_model.block_features(ex.page, vocab) for ex in examples]


def _weights(ex: Example) -> np.ndarray:
    # Words are what the score counts: weigh each block by its length, softened. A corpus
    # page's few labelled blocks are the hard cases (comments, teasers): they weigh more.
    weights = np.array([np.sqrt(1 + len(b.text)) for b in ex.segmentation.blocks], dtype=np.float32)
    if ex.type:
        return weights
    return np.where(np.isnan(ex.labels), 0.0, SNIPPET_WEIGHT * weights).astype(np.float32)


def train(examples: list[Example], vocab: list[str], *, rounds: int = 200, seed: int = SEED) -> block_model.BlockModel:
    """A page-type model, then the block model, which is told the page's type as the page-type
    model says it of a page it did not see (inner site-disjoint folds), as in use; then the
    context pass, which learns from the block model's verdicts on pages it did not see."""
    import lightgbm as lgb

    every = dict(num_threads=2, seed=seed, deterministic=True, verbose=-1)  # each model's, for the same file
    params = dict(objective="binary", learning_rate=0.08, num_leaves=63, min_data_in_leaf=40,
                  feature_fraction=0.7, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
                  force_row_wise=True, **every)
    context_params = dict(objective="binary", learning_rate=0.05, num_leaves=31, min_data_in_leaf=50,
                          feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
                          force_row_wise=True, **every)
    type_params = dict(objective="multiclass", num_class=len(PAGE_TYPES), learning_rate=0.05, num_leaves=15,
                       min_data_in_leaf=10, feature_fraction=0.7, **every)
    inner = [hash_fold(str(ex.page.url)) for ex in examples]
    everyone = range(len(examples))
    typed = [i for i in everyone if examples[i].type]  # WCXB's pages, whose type is known

    pages = np.vstack([page_features(ex.segmentation, ex.page.url, ex.page.page_kind) for ex in examples])
    kinds = np.array([PAGE_TYPES.index(ex.type) if ex.type else -1 for ex in examples])

    def fit_types(rows: list[int]) -> lgb.Booster:
        return lgb.train(type_params, lgb.Dataset(pages[rows], kinds[rows], categorical_feature=[0]),
                         num_boost_round=150)

    page_types = np.zeros((len(examples), len(PAGE_TYPES)))
    for k in range(4):
        model = fit_types([i for i in typed if inner[i] != k])
        held = [i for i in typed if inner[i] == k]
        page_types[held] = model.predict(pages[held], num_threads=1)
    type_model = fit_types(typed)
    untyped = [i for i in everyone if not examples[i].type]
    if untyped:  # pages the type model never saw
        page_types[untyped] = type_model.predict(pages[untyped], num_threads=1)

    xs = [np.hstack([x, np.tile(page_types[i], (len(x), 1)).astype(np.float32)])
          for i, x in enumerate(matrices(examples, vocab))]
    ys = [(np.nan_to_num(ex.labels) >= 0.5).astype(np.float32) for ex in examples]
    ws = [_weights(ex) for ex in examples]

    # The first pass: the block's tag (column 0) is a category; the context pass has none.
    first_pass: dict[str, Any] = {"params": params, "rounds": rounds, "categorical": [0]}
    context_pass: dict[str, Any] = {"params": context_params, "rounds": CONTEXT_ROUNDS, "categorical": []}

    def fit(rows: list[int], features: list[np.ndarray], params: dict[str, Any], rounds: int,
            categorical: list[int]) -> lgb.Booster:
        rows = [i for i in rows if len(ys[i])]
        data = lgb.Dataset(np.vstack([features[i] for i in rows]), np.concatenate([ys[i] for i in rows]),
                           weight=np.concatenate([ws[i] for i in rows]), free_raw_data=True,
                           categorical_feature=categorical)
        return lgb.train(params, data, num_boost_round=rounds)

    def out_of_fold(features: list[np.ndarray], **how: Any) -> list[np.ndarray]:
        """Each training page's verdicts by a model that did not see its site, as in use."""
        verdicts: list[np.ndarray] = [np.zeros(len(ys[i])) for i in everyone]
        for k in range(4):
            model = fit([i for i in everyone if inner[i] != k], features, **how)
            for i in everyone:
                if inner[i] == k and len(ys[i]):
                    verdicts[i] = np.asarray(model.predict(features[i], num_threads=1, **block_model.EARLY_STOP))
        return verdicts

    _log(f"features: {len(xs)} pages")
    blocks = fit(list(everyone), xs, **first_pass)
    _log("blocks")
    # The context pass learns from the first pass's verdicts on pages it did not see, as in use.
    first = out_of_fold(xs, **first_pass)
    firsts = [x[:, :len(BASE_NAMES)].copy() for x in xs]  # as BlockModel.verdicts; class tokens left out
    del xs
    _log("out-of-fold verdicts")
    contexts = [context_features(ex.segmentation, first[i], page_types[i], firsts[i])
                for i, ex in enumerate(examples)]
    del firsts
    context = fit(list(everyone), contexts, **context_pass)
    second = out_of_fold(contexts, **context_pass)
    _log("context pass")
    # The threshold: the one that scores best on training pages, as judged by models that
    # did not see them.
    oof = [(a + b) / 2 for a, b in zip(first, second, strict=True)]
    texts = [[b.text for b in ex.segmentation.blocks] for ex in examples]

    predicted = page_types.argmax(axis=1)

    def score(threshold: float, rows: list[int]) -> float:
        """WCXB's word F1 and the corpus's snippet F1 of these pages, averaged."""
        outputs = {i: "\n".join(t for t, p in zip(texts[i], oof[i], strict=True) if p >= threshold) for i in rows}
        f1s = [word_f1(outputs[i], examples[i].reference) for i in rows if examples[i].type]
        tally = Tally()
        for i in rows:
            if not examples[i].type:
                tally.add(outputs[i], *examples[i].snippets)
        parts = ([sum(f1s) / len(f1s)] if f1s else []) + ([tally.f1] if tally.pages else [])
        return sum(parts) / len(parts) if parts else 0.0

    # The threshold for each type of page: the one that scores best on training pages of
    # that type (as the page-type model tells it), as judged by models that did not see them.
    real = [i for i in everyone if not examples[i].plain]  # thresholds are for pages as they come
    default = max(THRESHOLDS, key=lambda t: score(t, real))
    thresholds = {}
    for k, kind in enumerate(PAGE_TYPES):
        rows = [i for i in real if predicted[i] == k]
        thresholds[kind] = max(THRESHOLDS, key=lambda t: score(t, rows)) if len(rows) >= MIN_TYPE_PAGES else default
    _log(f"thresholds {thresholds}")
    return block_model.BlockModel(vocab, type_model, blocks, thresholds=thresholds, context=context)


_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"  {message} ({time.perf_counter() - _START:.0f} s)", file=sys.stderr)


def hash_fold(url: str) -> int:
    """Inner folds within the training pages: by site, but not the outer folds' rule."""
    return int(hashlib.sha256(wcxb.domain(url).encode()).hexdigest(), 16) % 4


def word_f1(predicted: str, reference: str) -> float:
    return word_prf(predicted, reference)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="the trafilatura corpus, whose snippets label blocks too")
    parser.add_argument("--wcxb-only", action="store_true", help="train on WCXB alone")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "models")
    parser.add_argument("--folds-only", action="store_true")
    parser.add_argument("--shipped-only", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED,
                        help="LightGBM's seed (bagging, feature sampling): another one shows how far the "
                             "scores move by chance, the yardstick for a change's gain")
    args = parser.parse_args()
    start = time.perf_counter()
    examples = load_examples(args.wcxb, None if args.wcxb_only else args.corpus, args.workers)
    print(f"{len(examples)} pages, {sum(len(e.labels) for e in examples)} blocks "
          f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    scores = []
    for fold in range(0 if args.shipped_only else 5):
        training = [ex for ex in examples if ex.fold != fold]
        model = train(training, vocabulary(training), seed=args.seed)
        model.save(args.out / f"fold{fold}.model")
        held = [ex for ex in examples if ex.fold == fold and ex.type and not ex.plain]
        f1s = [word_f1(model.text_of(ex.page), ex.reference) for ex in held]
        scores.append(sum(f1s) / len(f1s))
        tally = Tally()
        for ex in examples:
            if ex.fold == fold and not ex.type and not ex.plain:
                tally.add(model.text_of(ex.page), *ex.snippets)
        corpus = f"; corpus snippets ({tally.pages} pages) P {tally.precision:.4f} R {tally.recall:.4f} " \
                 f"F1 {tally.f1:.4f}" if tally.pages else ""
        print(f"fold {fold}: WCXB {len(held)} pages, block-text word F1 {scores[-1]:.4f}{corpus} "
              f"({time.perf_counter() - start:.0f} s)")
    if scores:
        print(f"mean over folds {sum(scores) / 5:.4f}")
    if not args.folds_only:
        model = train(examples, vocabulary(examples), seed=args.seed)
        model.save(DEFAULT_MODEL)
        size = DEFAULT_MODEL.stat().st_size
        print(f"shipped model: {DEFAULT_MODEL} ({size} bytes, {model_id(DEFAULT_MODEL.read_bytes())})")


if __name__ == "__main__":
    main()
