"""A page packed where it was cleaned (archive.packing), checked and kept by the archive."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from archive import Archive, compression, packing
from archive.packing import Blob, Packed
from scraper import ArchiveError, Article
from tests.test_archive import article, page, save_site_pages, site_page, story

URL = "https://example.com/story"


def edits() -> list[tuple[str, str, str]]:
    """(url, html, text) of saves: a new page, its edit (a delta is smaller), the same HTML under
    another URL cleaned otherwise (stored already), a page without text."""
    text, html = story()
    word = text.split()[100]
    return [(URL, html, text), (URL, html.replace(word, "corrected"), text.replace(word, "corrected")),
            ("https://example.com/copy", html, "Cleaned otherwise."), ("https://example.com/empty", "<p></p>", "")]


def stored(archive: Archive) -> dict[str, Any]:
    """Everything a save writes that reading back depends on."""
    return {
        "blobs": archive.db.execute("SELECT sha256, size, compression, content, base, text_id, dictionary_id"
                                    " FROM blobs ORDER BY sha256").fetchall(),
        "versions": archive.db.execute("SELECT id, html_sha256, text, markdown_zstd, words_added, words_removed"
                                       " FROM versions ORDER BY id").fetchall(),
        "index": archive.db.execute("SELECT rowid FROM versions_fts WHERE versions_fts MATCH 'corrected'").fetchall(),
    }


def with_markdown(text: str) -> Article:
    return dataclasses.replace(article(text=text), markdown=f"# Story\n\n{text}")


def test_a_page_packed_elsewhere_is_stored_and_reads_back_as_one_the_archive_packed(tmp_path: Path) -> None:
    with Archive(tmp_path / "here.db") as here, Archive(tmp_path / "packed.db") as elsewhere:
        for url, html, text in edits():
            here.save(page(url, html), with_markdown(text))
            made = packing.pack(html.encode(), with_markdown(text), elsewhere.dictionary())
            elsewhere.save(page(url, html), with_markdown(text), packed=made)
        assert stored(elsewhere) == stored(here)
        # the edit kept the smaller form, its delta against the first HTML
        first, second = (hashlib.sha256(body.encode()).hexdigest() for _, body, _ in edits()[:2])
        assert elsewhere.db.execute("SELECT base FROM blobs WHERE sha256 = ?", [second]).fetchone() == (first,)
        for url, html, text in {url: (url, html, text) for url, html, text in edits()}.values():  # latest of each
            version = elsewhere.version(url)
            assert elsewhere.raw_html(version["html_sha256"]) == html.encode()
            assert (version["text"], version["markdown"]) == (text, f"# Story\n\n{text}")


def tampered(html: str, text: str) -> dict[str, Packed]:
    made = packing.pack(html.encode(), with_markdown(text))
    assert made.blob is not None
    other = packing.pack(b"<p>another page</p>", with_markdown(text))
    return {
        "sha256": dataclasses.replace(made, html_sha256=other.html_sha256),
        "content": dataclasses.replace(made, blob=other.blob),
        "garbage": dataclasses.replace(made, blob=dataclasses.replace(made.blob, content=b"not zstd")),
        "dictionary": dataclasses.replace(made, blob=dataclasses.replace(made.blob, method="zstd-dict-text",
                                                                         dictionary_id=7)),
        "no html": dataclasses.replace(made, blob=None),
        "a delta": dataclasses.replace(made, blob=Blob(made.blob.content, "zstd", base=other.html_sha256)),
        "markdown": dataclasses.replace(made, markdown_zstd=compression.pack_markdown("# Another story", text)),
    }


@pytest.mark.parametrize("how", list(tampered("<p>x</p>", "x")))
def test_a_pack_that_is_not_the_page_is_refused_and_nothing_written(archive: Archive, how: str) -> None:
    text, html = story()
    archive.save(page(html="<p>first</p>"), with_markdown("First."))
    before = {table: archive.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
              for table in ("pages", "versions", "blobs", "fetches", "versions_fts_docsize")}
    with pytest.raises(ArchiveError, match=re.escape(f"the page packed for {URL} ")):
        archive.save(page(html=html), with_markdown(text), packed=tampered(html, text)[how])
    assert before == {table: archive.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in before}
    assert archive.version(URL)["version"] == 1
    # An unchanged page ignores what it is given packed: nothing is written of it.
    result = archive.save(page(html="<p>first, with a new ad</p>"), with_markdown("First."),
                          packed=tampered(html, text)[how])
    assert (result.version, result.changed) == (1, False)


@pytest.mark.usefixtures("small_dictionary")
def test_a_page_packed_before_the_archive_trained_its_dictionary_is_kept(archive: Archive) -> None:
    pages = [site_page(n) for n in range(43)]
    run = archive.start_run("run")
    save_site_pages(archive, pages[:40], 0, run)
    packed_before = [packing.pack(html.encode(), article(text=text), archive.dictionary())
                     for text, html in pages[40:42]]
    archive.finish_run(run, status="finished", urls=40)
    trained = archive.dictionary()
    assert trained.id == 1 and len(trained.content) == 4096
    text, html = pages[42]
    packed_after = packing.pack(html.encode(), article(text=text), trained)
    for n, made in zip((40, 41, 42), [*packed_before, packed_after], strict=True):
        text, html = pages[n]
        archive.save(page(f"https://example.com/{n}", html), article(text=text), packed=made)
    assert archive.db.execute("SELECT compression, dictionary_id FROM blobs ORDER BY rowid DESC LIMIT 3").fetchall() \
        == [("zstd-dict-text", 1), ("zstd-text", None), ("zstd-text", None)]
    with Archive(archive.path) as reopened:
        for n in (40, 41, 42):
            assert reopened.raw_html(reopened.version(f"https://example.com/{n}")["html_sha256"]) \
                == pages[n][1].encode()
