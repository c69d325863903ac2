"""The quality gate: cleaning must not get worse on fixed subsets of the two development sets.

fixtures/gate/pages.jsonl.zst holds every fifth page of trafilatura's multilingual evaluation
corpus (198 pages) with snippets that must and must not be in the text; fixtures/gate/
wcxb.jsonl.zst every tenth page of the WCXB development set (150 pages, 7 page types) with its
whole main content, scored by word F1 averaged over pages (see bench/make_gate.py). The floors
sit 0.01 under the lower of the scores of the shipped model and of the same training with
another seed (`python -m bench.train --shipped-only --seed 1`): training again moves them by up
to 0.008 by chance, and a floor inside that would fail a retrain of unchanged code. Raise them
when the cleaner improves, never lower them to let a change of cleaning through.

The shipped block model was trained on both sets, these pages among them: the gate catches a
change that breaks cleaning, it does not tell how well sites never seen are cleaned
(`python bench/extract.py --models bench/models` does, with models of the other folds).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np
import pytest
import zstandard
from selectolax.lexbor import LexborHTMLParser

from bench.evaluation import Tally, word_prf
from bench.plain import plain_markup
from scraper import ScraperError, clean
from scraper.cleaner import DEFAULT_MODEL, page_info
from scraper.cleaner.model import block_features, load
from scraper.cleaner.page import page_features

GATE = Path(__file__).resolve().parent.parent / "fixtures" / "gate"
# scraper.clean with the shipped model measured P 0.9748, R 0.9765, F1 0.9757, minus 0.01 (0.2.2, with
# the context pass: P 0.9748, R 0.9748, F1 0.9748; 0.2.3 to 0.2.6: P 0.9732, R 0.9748, F1 0.9740;
# 0.2.7, which learns from pages in plain markup too, 0.2.8 to 0.2.10: P 0.9698, R 0.9731, F1 0.9715).
# 0.2.11 retrained the model from the code as it is (TRAINED_ON, below): P 0.9634, R 0.9731, F1
# 0.9682, under the floor of precision (0.964) with no change to cleaning (22 must-not snippets
# among the 601 found in its texts, 4 more than before),
# and with seed 1 P 0.9589, R 0.9815, F1 0.9701: the floors, pinned 0.01 under 0.2.2's scores,
# were inside what a retrain moves. Now 0.01 under the lower of the two seeds' scores. 0.2.12, which
# learns from one page in two in plain markup: P 0.9557, R 0.9782, F1 0.9668.
FLOORS = {"f1": 0.958, "precision": 0.948, "recall": 0.963}
# WCXB word F1 floors: scraper.clean measured 0.8981 on all 150 pages and 0.9620 on the 82
# articles (trafilatura 2.3.1: 0.8191, 0.9238), minus 0.01 (0.2.2: 0.8979 and 0.9631; 0.2.3: 0.9075
# and 0.9706; 0.2.4: 0.9097 and 0.9706; 0.2.5 and 0.2.6: 0.9098 and 0.9706; 0.2.7: 0.9161 and
# 0.9701; 0.2.8: 0.9163 and 0.9716; 0.2.9: 0.9164 and 0.9718; 0.2.10: 0.9140 and 0.9718, a water
# bottle's page, whose reference keeps the reviews 0.2.10 drops after a product, 0.94 to 0.57;
# 0.2.11, retrained: 0.9101 and 0.9714, with seed 1 0.9148 and 0.9702: the floors are now 0.01
# under the lower of each; 0.2.12: 0.9115 and 0.9703).
# The other page types have 9 to 15 pages each, where one page moves the mean by 0.07 or more:
# too few for a floor of their own.
WCXB_FLOOR = 0.900
WCXB_ARTICLE_FLOOR = 0.960
# The same 150 pages in plain markup (bench/plain.py): 0.8706 with 0.2.7 (0.2.6's model: 0.8388;
# 0.2.8 to 0.2.10: 0.8710), minus 0.01; 0.2.11, retrained: 0.8646, with seed 1 0.8600, minus 0.01;
# 0.2.12: 0.8787.
WCXB_PLAIN_FLOOR = 0.850
# What the shipped model was trained on, as seen on the gate's pages (their blocks, the blocks'
# and the pages' features; the WCXB pages in plain markup too, as training sees one page in
# two): a change to any of it makes `python -m bench.train` give another model. 0.2.9 read the
# title with its words apart, which changed the title's features on 17 training pages, and the
# model shipped then was no longer the one its training script made (0.2.11 retrained it).
TRAINED_ON = ("blocks-bc9480324d2a", "48a0c780e5da151b")


@functools.cache  # read once for the tests that share it
def gate_pages(name: str) -> tuple[dict[str, Any], ...]:
    raw = zstandard.ZstdDecompressor().decompress((GATE / name).read_bytes(), max_output_size=1 << 30)
    return tuple(json.loads(line) for line in filter(None, raw.decode("utf-8", errors="surrogateescape").split("\n")))


def page_bytes(page: dict[str, Any]) -> bytes:
    """The page's HTML as the cleaner is given it: its bytes, undecodable ones kept."""
    return str(page["html"]).encode("utf-8", errors="surrogateescape")


def cleaned(page: dict[str, Any]) -> str | None:
    try:
        return clean(page_bytes(page), url=page["url"]).text
    except ScraperError:
        return None


def test_cleaning_quality_stays_above_the_pinned_floors() -> None:
    tally = Tally()
    for page in gate_pages("pages.jsonl.zst"):
        tally.add(cleaned(page), page["with"], page["without"])
    scores = {"f1": tally.f1, "precision": tally.precision, "recall": tally.recall}
    assert tally.pages == 198
    below = {name: round(score, 4) for name, score in scores.items() if score < FLOORS[name]}
    assert not below, f"below the floor: {below} (floors {FLOORS})"


def test_wcxb_word_f1_stays_above_the_pinned_floors() -> None:
    by_type: dict[str, list[float]] = defaultdict(list)
    for page in gate_pages("wcxb.jsonl.zst"):
        by_type[page["type"]].append(word_prf(cleaned(page), page["main_content"])[2])
    overall = fmean(f1 for scores in by_type.values() for f1 in scores)
    article = fmean(by_type["article"])
    print(f"WCXB gate word F1 {overall:.4f}; " + ", ".join(
        f"{kind} ({len(scores)}) {fmean(scores):.4f}" for kind, scores in sorted(by_type.items())))
    assert sum(map(len, by_type.values())) == 150
    assert len(by_type) == 7
    assert overall >= WCXB_FLOOR, f"WCXB word F1 {overall:.4f} is below the floor {WCXB_FLOOR}"
    assert article >= WCXB_ARTICLE_FLOOR, f"WCXB article word F1 {article:.4f} is below {WCXB_ARTICLE_FLOOR}"


def test_wcxb_word_f1_in_plain_markup_stays_above_the_pinned_floor() -> None:
    # The same pages without class, id and role names or sectioning tags, as older pages and
    # pages of generated class names come: the cleaner must not need the names.
    scores = [word_prf(cleaned({**page, "html": plain_markup(page["html"])}), page["main_content"])[2]
              for page in gate_pages("wcxb.jsonl.zst")]
    overall = fmean(scores)
    print(f"WCXB gate word F1 in plain markup {overall:.4f}")
    assert overall >= WCXB_PLAIN_FLOOR, f"WCXB word F1 in plain markup {overall:.4f} is below {WCXB_PLAIN_FLOOR}"


def what_the_model_sees(html: bytes | str, url: str, vocabulary: list[str]) -> list[bytes]:
    """A page's block texts and its block and page features, as bytes: rounded, so that the last
    bit of a float (which a CPU's vector instructions may set otherwise) does not count."""
    info = page_info(html, url)
    seg = info.segmentation
    numbers = (block_features(info, vocabulary), page_features(seg, url, info.page_kind))
    return ["\x00".join(block.text for block in seg.blocks).encode("utf-8", "surrogatepass"),
            *((np.round(part.astype(np.float64), 5) + 0.0).tobytes() for part in numbers)]


def test_the_shipped_model_was_trained_on_what_the_cleaner_sees_now() -> None:
    model = load(DEFAULT_MODEL)
    digest = hashlib.sha256()
    for name in ("pages.jsonl.zst", "wcxb.jsonl.zst"):
        for page in gate_pages(name):
            html = page_bytes(page)
            for markup in (html, plain_markup(html)) if name == "wcxb.jsonl.zst" else (html,):
                for part in what_the_model_sees(markup, page["url"], model.vocabulary):
                    digest.update(hashlib.sha256(part).digest())
    assert (model.name, digest.hexdigest()[:16]) == TRAINED_ON, (
        "what the block model sees of a page changed, or the model did: retrain the shipped model "
        "(python -m bench.train) and pin its id and this digest")


def test_plain_markup_keeps_the_text_and_takes_the_names_away() -> None:
    plain = plain_markup("<body><nav class='menu' id='top' role='navigation'><a href='/'>Home</a></nav>"
                         "<article class='post'><h1 class='title'>The depot</h1><section><p class='lead'>"
                         "It opens in May.</p></section></article><footer>Contact</footer></body>")
    tree = LexborHTMLParser(plain)
    assert not tree.css("[class], [id], [role], nav, article, section, footer")
    assert len(tree.css("div")) == 4  # nav, article, section and footer
    assert tree.body.text(separator="|") == "Home|The depot|It opens in May.|Contact"
    assert tree.css_first("a").attributes == {"href": "/"}


@pytest.mark.parametrize(("predicted", "reference", "expected"), [
    # Lower-cased \w+ words counted with multiplicity: 2 of 3 predicted words are in the reference
    # (one "the" of two), and they are 2 of its 4.
    ("The the cat", "the cat sat down", (2 / 3, 2 / 4, 4 / 7)),
    ("Über-größe, 42!", "über größe 42", (1.0, 1.0, 1.0)),
    (None, "some text", (0.0, 0.0, 0.0)),
    ("", "", (1.0, 1.0, 1.0)),  # nothing to find and nothing found: a perfect page
    ("stray words", "", (0.0, 0.0, 0.0)),
])
def test_word_scores_count_words_as_the_wcxb_scorer_does(
    predicted: str | None, reference: str, expected: tuple[float, float, float]
) -> None:
    assert word_prf(predicted, reference) == pytest.approx(expected)
