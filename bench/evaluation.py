"""Scoring an extractor's text, for bench/extract.py and the quality gate in the tests.

Trafilatura's corpus (Tally): a snippet counts when its whitespace-normalised text is a
substring of the whitespace-normalised output, as in trafilatura's evaluation.
WCXB (word_prf): word-level precision, recall and F1 of a page against its main content.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass
class Tally:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    seconds: float = 0.0
    pages: int = 0

    def add(self, output: str | None, with_: list[str], without: list[str], seconds: float = 0.0) -> int:
        """Count one page; returns its misses (body lost plus boilerplate kept)."""
        text = normalise(output) if output else ""
        kept = sum(normalise(snippet) in text for snippet in with_) if text else 0
        leaked = sum(normalise(snippet) in text for snippet in without) if text else 0
        self.true_positives += kept
        self.false_negatives += len(with_) - kept
        self.false_positives += leaked
        self.true_negatives += len(without) - leaked
        self.seconds += seconds
        self.pages += 1
        return len(with_) - kept + leaked

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        relevant = self.true_positives + self.false_negatives
        return self.true_positives / relevant if relevant else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


# Word-level scoring of the WCXB set, as its scorer (../shared/eval/wcxb_score.py, `tokens` and
# `word_prf`) does it: lower-cased \w+ tokens counted with multiplicity; a page's precision,
# recall and F1 are averaged over pages by the caller.
_WORD = re.compile(r"\w+")


def words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def word_prf(predicted: str | None, reference: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of predicted's words against reference's, for one page."""
    pred, ref = words(predicted), words(reference)
    if not ref:
        return (1.0, 1.0, 1.0) if not pred else (0.0, 0.0, 0.0)
    if not pred:
        return (0.0, 0.0, 0.0)
    overlap = sum((Counter(pred) & Counter(ref)).values())
    p, r = overlap / len(pred), overlap / len(ref)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
