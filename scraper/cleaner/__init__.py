"""HTML -> Article, in four stages: parse and read metadata (selectolax), prune chrome
(selectolax), extract the body (trafilatura) and put back the lead it left out, drop
boilerplate blocks and render.

A pure function of its input: no network, no globals that change.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import trafilatura
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from scraper import __version__
from scraper.cleaner.boilerplate import drop_boilerplate
from scraper.cleaner.lead import read_lead_region, restore_lead
from scraper.cleaner.metadata import read_metadata
from scraper.cleaner.prune import prune
from scraper.cleaner.render import render
from scraper.encoding import decode_html
from scraper.errors import ExtractionError, NoContent
from scraper.models import Article, safe_text

CLEANER_ID = f"scraper {__version__}"
"""Which cleaner made a text: recorded with each archived version, so a text can be told
from one a later cleaner would make."""
MIN_WORDS = 10
"""An extraction shorter than this is not an article body."""
STAGES = ("parse", "metadata", "prune", "extract", "post-process")


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


def clean(html: str | bytes, url: str | None = None) -> Article:
    """Turn a web page into its article: text, Markdown and metadata.

    Raises NoContent when the page holds no article body.
    """
    return _clean(html, url, _Stopwatch(enabled=False))


def clean_timed(html: str | bytes, url: str | None = None) -> tuple[Article, dict[str, float]]:
    """clean(), also returning the seconds spent in each of STAGES."""
    stopwatch = _Stopwatch(enabled=True)
    article = _clean(html, url, stopwatch)
    return article, stopwatch.seconds


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


def _clean(html: str | bytes, url: str | None, stopwatch: _Stopwatch) -> Article:
    # The page's address may be as odd as the page: links are resolved against it into lxml's tree.
    url = safe_text(url) if url else url
    with stopwatch.stage("parse"):
        if isinstance(html, bytes):
            html, _ = decode_html(html)
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
        article = Article(text=text, markdown=markdown, **asdict(metadata))
        if article.word_count < MIN_WORDS:
            raise NoContent(f"only {article.word_count} words of article text")
        # Both cached here, in the cleaning process, and carried with the article to the run's
        # process, whose one core also fetches and saves: the archive needs them.
        article.content_hash  # noqa: B018
    return article
