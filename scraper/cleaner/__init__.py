"""HTML -> Article, by one of two paths; both parse the page and read its metadata first
(selectolax, metadata.py).

The block model (the default): cut the body into blocks (blocks.py), tell the page's type and
keep the blocks a learned model (model.py, trained by `python -m bench.train` on labelled
pages) calls main content, drop what is chrome on any site (chrome.py), put the headline to
the metadata and the summary first (headline.py), and compose text and Markdown (compose.py).
Where the model finds next to nothing, the rules run instead.

The rules (`clean(..., model=None)`): prune chrome by kind (prune.py), extract with
trafilatura, put back the lead it left out (lead.py), drop boilerplate blocks
(boilerplate.py) and render (render.py).

A pure function of its input: no network, no globals that change; the model is read once
per process.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import trafilatura
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from scraper import __version__
from scraper.cleaner.boilerplate import drop_boilerplate
from scraper.cleaner.lead import read_lead_region, restore_lead
from scraper.cleaner.metadata import Metadata, date_from_page, json_ld, read_metadata
from scraper.cleaner.prune import prune
from scraper.cleaner.render import render
from scraper.encoding import decode_html
from scraper.errors import ExtractionError, NoContent
from scraper.models import Article, has_words, safe_text, word_count

if TYPE_CHECKING:
    from scraper.cleaner.model import BlockModel
    from scraper.cleaner.page import PageInfo

__all__ = ["CLEANER_ID", "DEFAULT_MODEL", "MIN_WORDS", "STAGES", "clean", "clean_timed", "model_id", "page_info"]


def model_id(data: bytes) -> str:
    """A model's name in the archive: "blocks-" and the start of its file's SHA-256 (data: the
    file's bytes)."""
    return "blocks-" + hashlib.sha256(data).hexdigest()[:12]


DEFAULT_MODEL = Path(__file__).resolve().parent / "blocks.model"
"""The shipped block model (python -m bench.train)."""

CLEANER_ID = f"scraper {__version__} {model_id(DEFAULT_MODEL.read_bytes())}"
"""Which cleaner made a text (the default one): recorded with each archived version, so a text
can be told from one a later cleaner (or model) would make. Each Article names its own."""
MIN_WORDS = 10
"""An extraction shorter than this is not an article body."""
STAGES = ("parse", "metadata", "prune", "extract", "post-process", "segment", "model", "compose")
"""Where cleaning spends its time: the rule-based path's stages, then the block model's."""
DATED_TYPES = frozenset({"article", "forum"})
"""The kinds of page whose date htmldate looks for in the page when the markup and the URL give
none. On WCXB's pages of the other kinds it found a date on 210 and the right one on 6: most of
those pages have none (a product, a listing, a service), and it took another date on the page."""


class _Stopwatch:
    """Seconds spent per stage, for the benchmark; a no-op unless asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def clean(html: str | bytes, url: str | None = None, *, model: BlockModel | str | Path | None = DEFAULT_MODEL,
          ) -> Article:
    """Turn a web page into its main content: text, Markdown and metadata.

    model: the block model that tells content from chrome (or its file); None cleans by the
    rules instead. See the module's docstring. The article's `cleaner` names the version and the
    model (CLEANER_ID with the shipped one). Raises NoContent when the page holds no main text.
    """
    return _clean(html, url, _Stopwatch(enabled=False), model)


def clean_timed(html: str | bytes, url: str | None = None, *, model: BlockModel | str | Path | None = DEFAULT_MODEL,
                ) -> tuple[Article, dict[str, float]]:
    """clean(), also returning the seconds spent in each of STAGES."""
    stopwatch = _Stopwatch(enabled=True)
    article = _clean(html, url, stopwatch, model)
    return article, stopwatch.seconds


def page_info(html: str | bytes, url: str | None = None) -> PageInfo:
    """The page as the block model reads it in clean(): its blocks, title, description and
    language. Training (bench/train.py) reads its pages with this, so that it learns from what
    cleaning sees."""
    url = safe_text(url) if url else url
    if isinstance(html, bytes):
        html, _ = decode_html(html)
    return _read(LexborHTMLParser(html), url, _Stopwatch(enabled=False))[1]


def _read(tree: LexborHTMLParser, url: str | None, stopwatch: _Stopwatch) -> tuple[Metadata, PageInfo]:
    """The page's metadata, and the page as the block model reads it."""
    from scraper.cleaner.page import read_page

    with stopwatch.stage("metadata"):
        scripts = json_ld(tree)
        metadata = read_metadata(tree, url, scripts=scripts)
    with stopwatch.stage("segment"):
        page = read_page(tree, url, title=metadata.title, description=metadata.description,
                         language=metadata.language, scripts=scripts)
    return metadata, page


def _clean(html: str | bytes, url: str | None, stopwatch: _Stopwatch, model: BlockModel | str | Path | None) -> Article:
    # The page's address may be as odd as the page: links are resolved against it.
    url = safe_text(url) if url else url
    with stopwatch.stage("parse"):
        if isinstance(html, bytes):
            html, _ = decode_html(html)
    if model is None:
        return _clean_by_rules(html, url, stopwatch, f"scraper {__version__} rules")
    # Loaded only when asked for: the rules need neither numpy nor LightGBM, and a cleaning
    # process that does not load them is smaller.
    from scraper.cleaner.model import load

    return _clean_blocks(html, url, stopwatch, load(Path(model)) if isinstance(model, str | Path) else model)


def _clean_blocks(html: str, url: str | None, stopwatch: _Stopwatch, model: BlockModel) -> Article:
    """The block model's path, with the rules' where it finds next to nothing."""
    from scraper.cleaner.chrome import drop_chrome
    from scraper.cleaner.compose import compose
    from scraper.cleaner.headline import tidy_top
    from scraper.cleaner.page import PAGE_TYPES

    cleaner = f"scraper {__version__} {model.name}"

    with stopwatch.stage("parse"):
        tree = LexborHTMLParser(html)
    metadata, page = _read(tree, url, stopwatch)
    seg = page.segmentation
    if not seg.blocks:  # no text in the body for the model (a page its scripts write, a frameset)
        return _clean_by_rules(html, url, stopwatch, cleaner)
    with stopwatch.stage("model"):
        page_type = model.page_type(page)
        kind = PAGE_TYPES[int(page_type.argmax())]
        kept = drop_chrome(seg, model.kept(page, page_type), metadata.authors, url=url,
                           site_name=metadata.site_name, page_type=kind)
        kept = tidy_top(seg, kept, metadata.title, metadata.description)
    with stopwatch.stage("compose"):
        text, markdown = compose(seg, kept, url)
    if not has_words(text, MIN_WORDS):
        # The model found next to nothing, where trafilatura's rules may still find a body.
        return _clean_by_rules(html, url, stopwatch, cleaner)
    return _article(text, markdown, cleaner, metadata, html, stopwatch, dated=kind in DATED_TYPES)


def _extract(html: str) -> etree._Element:
    # No URL: trafilatura would resolve every link of the page, kept or not; render
    # resolves the few that survive. "xml" skips its text rendering, since we render our own.
    try:
        document = trafilatura.bare_extraction(
            html, include_comments=False, include_tables=True, include_formatting=False,
            include_links=True, with_metadata=False, output_format="xml",
        )
    except Exception as exc:  # trafilatura has no error type of its own
        raise ExtractionError(f"extraction failed: {type(exc).__name__}: {exc}") from exc
    if document is None or isinstance(document, dict) or document.body is None:
        raise NoContent("no article text found")
    return document.body


def _clean_by_rules(html: str, url: str | None, stopwatch: _Stopwatch, cleaner: str) -> Article:
    """The rule-based path: trafilatura on a pruned page, with the lead put back. cleaner: the
    name its Article carries."""
    with stopwatch.stage("parse"):
        tree = LexborHTMLParser(html)
    with stopwatch.stage("metadata"):
        metadata = read_metadata(tree, url)
    with stopwatch.stage("prune"):
        prune(tree)
        # Metadata is read: extraction needs only the body, and less to parse is faster.
        pruned = f"<html><body>{tree.body.inner_html}</body></html>" if tree.body is not None else ""
        lead_region = read_lead_region(tree.body, metadata.description, metadata.title) \
            if tree.body is not None else None
        del tree  # not needed any more, and extraction's own trees need the room on a large page
    with stopwatch.stage("extract"):
        body = _extract(pruned)
    with stopwatch.stage("post-process"):
        if lead_region is not None:
            restore_lead(lead_region, body)
        drop_boilerplate(body)
        text, markdown = render(body, base_url=url)
        if not has_words(text, MIN_WORDS):
            raise NoContent(f"only {word_count(text)} words of article text")
    return _article(text, markdown, cleaner, metadata, html, stopwatch, dated=True)


def _article(text: str, markdown: str, cleaner: str, metadata: Metadata, html: str, stopwatch: _Stopwatch, *,
             dated: bool) -> Article:
    """The Article, with a date looked for in the whole page when the metadata has none and
    the page is of a dated kind: only now that it has an article, for htmldate takes the most
    time of reading metadata."""
    if metadata.published is None and dated:
        with stopwatch.stage("metadata"):
            metadata = replace(metadata, published=date_from_page(html))
    return Article(text=text, markdown=markdown, cleaner=cleaner, **asdict(metadata))
