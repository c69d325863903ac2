"""Scoring an extractor against pages with snippets that must and must not be in its text.

The same method as trafilatura's evaluation: a snippet counts when its whitespace-normalised
text is a substring of the whitespace-normalised output. Used by bench/extract.py and by the
quality gate in the tests.
"""

from __future__ import annotations

import re
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
