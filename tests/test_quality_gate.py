"""The quality gate: cleaning must not get worse on a fixed subset of the evaluation corpus.

fixtures/gate/pages.jsonl.zst holds every fifth page of trafilatura's multilingual evaluation
corpus (198 pages; see bench/make_gate.py) with snippets that must and must not be in the
text. The floors sit a little under the scores measured when they were pinned; raise them
when the cleaner improves, never lower them to let a change through.
"""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

from bench.evaluation import Tally
from scraper import ScraperError, clean

GATE = Path(__file__).resolve().parent.parent / "fixtures" / "gate" / "pages.jsonl.zst"
FLOORS = {"f1": 0.942, "precision": 0.923, "recall": 0.960}


def test_cleaning_quality_stays_above_the_pinned_floors() -> None:
    raw = zstandard.ZstdDecompressor().decompress(GATE.read_bytes(), max_output_size=1 << 30)
    tally = Tally()
    for line in filter(None, raw.decode("utf-8", errors="surrogateescape").split("\n")):
        page = json.loads(line)
        html = page["html"].encode("utf-8", errors="surrogateescape")
        try:
            text: str | None = clean(html, url=page["url"]).text
        except ScraperError:
            text = None
        tally.add(text, page["with"], page["without"])
    scores = {"f1": tally.f1, "precision": tally.precision, "recall": tally.recall}
    assert tally.pages == 198
    below = {name: round(score, 4) for name, score in scores.items() if score < FLOORS[name]}
    assert not below, f"below the floor: {below} (floors {FLOORS})"
