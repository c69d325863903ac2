"""The block model: gradient-boosted trees (LightGBM) that say what kind of page this is, then,
per block, whether it is the page's main content. Trained by bench/train.py; shipped as one
small file."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scraper.cleaner.blocks import Segmentation
from scraper.cleaner.features import base_features
from scraper.cleaner.page import page_features

DEFAULT_MODEL = Path(__file__).resolve().parent / "blocks.model"
__all__ = ["DEFAULT_MODEL", "BlockModel", "load", "model_id"]


@dataclass
class BlockModel:
    vocabulary: list[str]
    page_types: Any  # lightgbm.Booster: page features -> PAGE_TYPES probabilities
    blocks: Any  # lightgbm.Booster: block features and page type -> content probability
    threshold: float = 0.5

    def page_type(self, seg: Segmentation, url: str | None, page_kind: str) -> np.ndarray:
        # One thread: cleaning runs in processes already, and a thread pool per process
        # would reserve memory against the cleaning process's limit.
        return np.asarray(self.page_types.predict(page_features(seg, url, page_kind)[None, :], num_threads=1)[0])

    def probabilities(self, seg: Segmentation, url: str | None, title: str, description: str, body_text: str,
                      page_kind: str) -> np.ndarray:
        if not seg.blocks:
            return np.zeros(0)
        x = base_features(seg, self.vocabulary, title=title, description=description, body_text=body_text,
                          page_kind=page_kind)
        kinds = np.tile(self.page_type(seg, url, page_kind).astype(np.float32), (len(seg.blocks), 1))
        return np.asarray(self.blocks.predict(np.hstack([x, kinds]), num_threads=1))

    def kept(self, seg: Segmentation, url: str | None, title: str, description: str, body_text: str,
             page_kind: str) -> list[int]:
        p = self.probabilities(seg, url, title, description, body_text, page_kind)
        return [i for i in range(len(p)) if p[i] >= self.threshold]

    def text_of(self, seg: Segmentation, url: str | None, title: str, description: str, body_text: str,
                page_kind: str) -> str:
        kept = self.kept(seg, url, title, description, body_text, page_kind)
        return "\n\n".join(seg.blocks[i].text for i in kept)

    def save(self, path: Path) -> None:
        payload = {"vocabulary": self.vocabulary, "threshold": self.threshold,
                   "page_types": self.page_types.model_to_string(),
                   "blocks": self.blocks.model_to_string()}
        path.write_bytes(gzip.compress(json.dumps(payload).encode(), mtime=0))

    @classmethod
    def from_file(cls, path: Path) -> BlockModel:
        import lightgbm as lgb

        payload = json.loads(gzip.decompress(path.read_bytes()))
        return cls(payload["vocabulary"], lgb.Booster(model_str=payload["page_types"]),
                   lgb.Booster(model_str=payload["blocks"]), payload["threshold"])


def model_id(path: Path) -> str:
    """A model's name in the archive: "blocks-" and the start of its file's SHA-256."""
    return "blocks-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@functools.cache
def load(path: Path = DEFAULT_MODEL) -> BlockModel:
    """The model, read once per process."""
    return BlockModel.from_file(path)
