from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard

import archive as archive_package
from archive import Archive
from scraper import ArchiveError, Article, HTTPStatusError, NotArchived, Page


def page(url: str = "https://example.com/story", html: str = "<p>v1</p>", **kwargs: object) -> Page:
    return Page(url=url, final_url=url, content=html.encode(), html=html, status=200, **kwargs)  # type: ignore[arg-type]


def article(text: str = "First version of the story.", title: str = "Story") -> Article:
    return Article(text=text, title=title, authors=("A. Writer",), language="en")


def test_first_save_makes_version_one(archive: Archive) -> None:
    result = archive.save(page(), article())
    assert (result.version, result.changed) == (1, True)
    row = archive.version("https://example.com/story")
    assert row["text"] == "First version of the story."
    assert row["title"] == "Story"


def test_unchanged_content_makes_no_new_version(archive: Archive) -> None:
    archive.save(page(), article())
    later = datetime.now(UTC) + timedelta(hours=1)
    result = archive.save(page(html="<p>v1 with a new ad</p>", fetched_at=later), article())
    assert (result.version, result.changed) == (1, False)
    assert len(archive.history("https://example.com/story")) == 1
    assert archive.page("https://example.com/story")["last_checked"] > archive.history(
        "https://example.com/story")[0]["fetched_at"]
    # The unchanged fetch's HTML is not stored.
    assert archive.db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1


def test_changed_text_or_title_makes_a_new_version(archive: Archive) -> None:
    archive.save(page(), article())
    assert archive.save(page(html="<p>v2</p>"), article(text="Second version.")).version == 2
    assert archive.save(page(html="<p>v3</p>"), article(text="Second version.", title="New")).version == 3
    history = archive.history("https://example.com/story")
    assert [row["version"] for row in history] == [1, 2, 3]
    assert len({row["content_hash"] for row in history}) == 3
    assert archive.version("https://example.com/story", 1)["text"] == "First version of the story."


def test_raw_html_is_kept_compressed_and_deduplicated(archive: Archive) -> None:
    html = "<html><body>" + "<p>same words again and again</p>" * 200 + "</body></html>"
    archive.save(page("https://example.com/a", html), article())
    archive.save(page("https://example.com/b", html), article())
    sha = archive.version("https://example.com/a")["html_sha256"]
    assert archive.raw_html(sha).decode() == html
    size, stored = archive.db.execute("SELECT size, length(content) FROM blobs").fetchone()
    assert archive.db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
    assert stored < size / 10


def test_an_edited_page_is_stored_as_a_delta_of_its_first_version(archive: Archive) -> None:
    paragraphs = [f"<p>Paragraph {n}: {hashlib.sha256(bytes(n)).hexdigest()}.</p>" for n in range(300)]
    htmls = ["".join(paragraphs)]
    htmls.append(htmls[0].replace("Paragraph 10:", "Paragraph ten:"))
    htmls.append(htmls[1].replace("Paragraph 200:", "Paragraph two hundred:"))
    for number, html in enumerate(htmls, 1):
        assert archive.save(page(html=html), article(text=f"Text {number}")).version == number
    rows = archive.db.execute("SELECT size, length(content), base FROM blobs ORDER BY rowid").fetchall()
    first = hashlib.sha256(htmls[0].encode()).hexdigest()
    assert [row[2] for row in rows] == [None, first, first]  # each delta against the first: chains of one
    assert all(stored < rows[0][1] / 20 for _, stored, _ in rows[1:])
    for number, html in enumerate(htmls, 1):
        assert archive.raw_html(archive.version("https://example.com/story", number)["html_sha256"]) == html.encode()


def test_word_changes_are_counted_per_version(archive: Archive) -> None:
    archive.save(page(), article(text="One two three\n\nFour five"))
    archive.save(page(), article(text="One two three four\n\nSix"))
    assert [(row["words_added"], row["words_removed"]) for row in archive.history("https://example.com/story")] == [
        (5, 0), (2, 2)]


def test_urls_differing_only_in_tracking_and_fragment_are_one_page(archive: Archive) -> None:
    archive.save(page("https://Example.com:443/story?utm_source=x#top"), article())
    assert archive.save(page("https://example.com/story"), article()).changed is False


def test_records_filter_by_prefix_since_and_versions(archive: Archive) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    archive.save(page("https://a.example/1", fetched_at=old), article())
    archive.save(page("https://a.example/1"), article(text="Updated."))
    archive.save(page("https://b.example/2"), article())
    latest = list(archive.records())
    assert [(r["url"], r["version"]) for r in latest] == [
        ("https://a.example/1", 2), ("https://b.example/2", 1)]
    every = list(archive.records(all_versions=True, url_prefix="https://a.example/"))
    assert [r["version"] for r in every] == [1, 2]
    recent = list(archive.records(all_versions=True, since=datetime(2024, 1, 1, tzinfo=UTC)))
    assert {(r["url"], r["version"]) for r in recent} == {
        ("https://a.example/1", 2), ("https://b.example/2", 1)}


def test_failures_are_recorded_per_run(archive: Archive) -> None:
    first = archive.start_run("run")
    archive.record_failure("https://example.com/gone", HTTPStatusError("https://example.com/gone", 404),
                           run_id=first)
    archive.finish_run(first, status="finished", urls=1)
    second = archive.start_run("run")
    archive.save(page(), article(), run_id=second)
    archive.finish_run(second, status="finished", urls=1)
    assert archive.failures(runs=1) == []
    [failure] = archive.failures(runs=2)
    assert (failure["reason"], failure["status"], failure["url"]) == ("http 404", 404, "https://example.com/gone")
    assert archive.last_runs(2)[1]["failed"] == 1


def test_missing_page_or_version_raises_not_archived(archive: Archive) -> None:
    with pytest.raises(NotArchived):
        archive.history("https://nowhere.example/")
    archive.save(page(), article())
    with pytest.raises(NotArchived):
        archive.version("https://example.com/story", 7)


def test_reopening_keeps_everything_and_uses_wal(db_path: Path) -> None:
    with Archive(db_path) as first:
        first.save(page(), article())
    with Archive(db_path) as again:
        assert again.version("https://example.com/story")["version"] == 1
    connection = sqlite3.connect(db_path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(ArchiveError, match="not a usable archive"):
        Archive(path)


def test_a_write_blocked_by_another_writer_is_an_archive_error(db_path: Path) -> None:
    with Archive(db_path, busy_timeout=0.1) as archive:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(ArchiveError, match="cannot write to the archive: database is locked"):
                archive.save(page(), article())
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert archive.save(page(), article()).version == 1  # and works once the lock is gone


def test_a_database_of_the_first_schema_is_upgraded_in_place(db_path: Path) -> None:
    from sqlite_utils import Database

    from archive.schema import migrations

    old = Database(db_path)
    migrations.apply(old, stop_before="m002_markdown_authors_modified")
    assert "markdown" not in old.table("versions").columns_dict
    old.table("pages").insert({"id": 1, "url": "https://example.com/old", "first_seen": "2024-01-01T00:00:00Z",
                               "last_checked": "2024-01-01T00:00:00Z", "latest_version": 1})
    html = b"<html><body><p>Old text.</p></body></html>"
    sha256 = hashlib.sha256(html).hexdigest()
    old.table("blobs").insert({"sha256": sha256, "size": len(html), "compression": "zstd",
                               "content": zstandard.ZstdCompressor().compress(html)})
    old.table("versions").insert({"page_id": 1, "version": 1, "fetched_at": "2024-01-01T00:00:00Z",
                                  "html_sha256": sha256, "content_hash": "h", "text": "Old text.",
                                  "author": "Old Author"})
    old.close()
    with Archive(db_path) as archive:
        assert {"markdown_zstd", "authors", "modified", "words_added"} <= set(archive.db.table("versions").columns_dict)
        [record] = archive.records()
        assert (record["text"], record["author"], record["authors"]) == ("Old text.", "Old Author", [])
        [found] = archive.search("old")  # the search index covers versions made before it existed
        assert found["url"] == "https://example.com/old"
        assert archive.history("https://example.com/old")[0]["words_added"] == 2
        assert archive.save(page("https://example.com/old"), article()).version == 2
        assert archive.raw_html(sha256) == html


def test_markdown_of_a_third_schema_database_survives_the_upgrade(db_path: Path) -> None:
    from sqlite_utils import Database

    from archive.schema import migrations

    old = Database(db_path)
    migrations.apply(old, stop_before="m004_deltas_word_changes_markdown_search_minhash")
    html = b"<html><body><p>Plain text of it.</p></body></html>"
    sha256 = hashlib.sha256(html).hexdigest()
    old.table("pages").insert({"id": 1, "url": "https://example.com/story", "first_seen": "2025-01-01T00:00:00Z",
                               "last_checked": "2025-01-01T00:00:00Z", "latest_version": 1})
    old.table("blobs").insert({"sha256": sha256, "size": len(html), "compression": "zstd",
                               "content": zstandard.ZstdCompressor().compress(html)})
    markdown = "**Plain** text of [it](https://example.com/it)."
    old.table("versions").insert({"page_id": 1, "version": 1, "fetched_at": "2025-01-01T00:00:00Z",
                                  "html_sha256": sha256, "content_hash": "h", "text": "Plain text of it.",
                                  "markdown": markdown})
    old.close()
    with Archive(db_path) as upgraded:
        assert "markdown" not in upgraded.db.table("versions").columns_dict
        [record] = upgraded.records()
        assert record["markdown"] == markdown
        assert upgraded.version("https://example.com/story")["markdown"] == markdown
        [found] = upgraded.search("plain")
        assert found["snippet"] == "[Plain] text of it."


def test_datasette_metadata_describes_every_table_and_column(archive: Archive) -> None:
    import json

    metadata = json.loads((Path(archive_package.__file__).parent / "datasette.json").read_text(encoding="utf-8"))
    tables = metadata["databases"]["scraper"]["tables"]
    assert set(tables) == set(archive.db.table_names())
    for name, table in tables.items():
        if table.get("hidden"):
            continue
        columns = set(archive.db.table(name).columns_dict) - {"id"}
        assert set(table["columns"]) == columns, name
