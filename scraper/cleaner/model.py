"""The block model: gradient-boosted trees (LightGBM) that say what kind of page this is, then,
per block, whether it is the page's main content, and a context pass that weighs each block's
verdict again beside its neighbours'. Trained by bench/train.py; shipped as one small file."""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scraper.cleaner.features import BASE_NAMES, base_features, context_features
from scraper.cleaner.page import PAGE_TYPES, PageInfo, page_features

__all__ = ["BlockModel", "block_features", "load"]

EARLY_STOP: dict[str, Any] = {"pred_early_stop": True, "pred_early_stop_freq": 10, "pred_early_stop_margin": 6.0}
"""LightGBM's early stop: a block's trees are summed ten at a time, and no further once its raw
score is past ±3 (a probability under 5% or over 95%). The trees take about 40% less time; the
text of 7 of the 2,487 shared pages changes, and the sets' scores, out of fold, by at most 0.0001.
On the context pass's trees too (0.2.2): a third less of their time, and no page's text changes."""


def block_features(page: PageInfo, vocabulary: list[str], page_type: np.ndarray | None = None) -> np.ndarray:
    """What the block model reads of each block of the page (base_features), with the page's type
    probabilities once they are known: the same in training (bench/train.py) and in use."""
    return base_features(page.segmentation, vocabulary, title=page.title, description=page.description,
                         body_text=page.body_text, page_kind=page.page_kind, language=page.language,
                         page_type=page_type)


@dataclass
class BlockModel:
    vocabulary: list[str]
    page_types: Any  # lightgbm.Booster: page features -> PAGE_TYPES probabilities
    blocks: Any  # lightgbm.Booster: block features and page type -> content probability
    thresholds: dict[str, float]  # by page type: the probability from which a block is kept
    context: Any = None  # lightgbm.Booster: the blocks' first verdicts in their context -> a second one
    name: str = "blocks-unsaved"  # in the cleaner's name: its file's (scraper.cleaner.model_id)

    def page_type(self, page: PageInfo) -> np.ndarray:
        """The probability of each of PAGE_TYPES."""
        # One thread: cleaning runs in processes already, and a thread pool per process
        # would reserve memory against the cleaning process's limit.
        row = page_features(page.segmentation, page.url, page.page_kind)[None, :]
        return np.asarray(self.page_types.predict(row, num_threads=1)[0])

    def features(self, page: PageInfo, page_type: np.ndarray) -> np.ndarray:
        return block_features(page, self.vocabulary, page_type)

    def kept(self, page: PageInfo, page_type: np.ndarray | None = None) -> list[int]:
        """The blocks that are main content, in page order. page_type: self.page_type(page),
        when the caller has it already."""
        if not page.segmentation.blocks:
            return []
        if page_type is None:
            page_type = self.page_type(page)
        return np.flatnonzero(self.verdicts(page, page_type) >= self.threshold(page_type)).tolist()

    def threshold(self, page_type: np.ndarray) -> float:
        """The verdict from which a block is kept, on a page of these type probabilities."""
        return self.thresholds[PAGE_TYPES[int(page_type.argmax())]]

    def verdicts(self, page: PageInfo, page_type: np.ndarray) -> np.ndarray:
        """Each block's probability of being main content: the first pass's, from the block's
        own features, averaged with the context pass's, from the first verdicts around it and
        the block's own numbers."""
        features = self.features(page, page_type)
        p = np.asarray(self.blocks.predict(features, num_threads=1, **EARLY_STOP))
        if self.context is None:
            return p
        first = features[:, :len(BASE_NAMES)]  # without the class tokens
        second = self.context.predict(context_features(page.segmentation, p, page_type, first), num_threads=1,
                                      **EARLY_STOP)
        return np.asarray((p + second) / 2)

    def text_of(self, page: PageInfo) -> str:
        return "\n\n".join(page.segmentation.blocks[i].text for i in self.kept(page))

    def save(self, path: Path) -> None:
        payload = {"vocabulary": self.vocabulary, "thresholds": self.thresholds,
                   "page_types": self.page_types.model_to_string(),
                   "blocks": self.blocks.model_to_string(),
                   "context": self.context.model_to_string() if self.context is not None else None}
        path.write_bytes(gzip.compress(json.dumps(payload).encode(), mtime=0))

    @classmethod
    def from_file(cls, path: Path) -> BlockModel:
        import lightgbm as lgb

        from scraper.cleaner import model_id

        data = path.read_bytes()
        payload = json.loads(gzip.decompress(data))
        context = payload.get("context")
        return cls(payload["vocabulary"], lgb.Booster(model_str=payload["page_types"]),
                   lgb.Booster(model_str=payload["blocks"]), payload["thresholds"],
                   lgb.Booster(model_str=context) if context else None, model_id(data))


@functools.cache
def load(path: Path) -> BlockModel:
    """The model, read once per process."""
    return BlockModel.from_file(path)
