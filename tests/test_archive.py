from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zstandard

import archive as archive_package
from archive import Archive, compression, store
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


def story(paragraphs: int = 40) -> tuple[str, str]:
    """An article's text and a page that holds it, in words no compressor can guess."""
    texts = [" ".join(hashlib.sha256(f"{n}.{w}".encode()).hexdigest()[:10] for w in range(12))
             for n in range(paragraphs)]
    html = "<html><body><nav>Home | News</nav>" + "".join(f"<p>{text}</p>" for text in texts) + "</body></html>"
    return "\n\n".join(texts), html


def test_a_page_is_compressed_against_its_text_and_read_back_exactly(archive: Archive) -> None:
    text, html = story()
    archive.save(page(html=html), article(text=text))
    version = archive.version("https://example.com/story")
    method, text_id, stored = archive.db.execute("SELECT compression, text_id, length(content) FROM blobs").fetchone()
    assert (method, text_id) == ("zstd-text", version["id"])
    assert stored < len(compression.compress(html.encode())) / 5
    assert archive.raw_html(version["html_sha256"]) == html.encode()


def test_an_edit_of_a_page_compressed_against_its_text_is_a_delta_that_reads_back(archive: Archive) -> None:
    text, html = story()
    word = text.split()[100]
    edited_text, edited = text.replace(word, "corrected"), html.replace(word, "corrected")
    archive.save(page(html=html), article(text=text))
    archive.save(page(html=edited), article(text=edited_text))
    first, second = (hashlib.sha256(body.encode()).hexdigest() for body in (html, edited))
    rows = archive.db.execute("SELECT sha256, compression, base FROM blobs ORDER BY rowid").fetchall()
    assert rows == [(first, "zstd-text", None), (second, "zstd", first)]
    assert archive.raw_html(second) == edited.encode()
    # The same HTML again, cleaned to another text (by a newer cleaner, say): stored once, and
    # still read with the text of the version that brought it.
    archive.save(page("https://example.com/copy", html), article(text="Cleaned otherwise."))
    assert archive.db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 2
    assert archive.raw_html(first) == html.encode()


def site_page(n: int) -> tuple[str, str]:
    """Page n of one site: its own article in the chrome every page of the site shares."""
    chrome = "".join(f"<li><a href='/{hashlib.sha256(bytes([k])).hexdigest()}'>{k}</a></li>" for k in range(40))
    text, html = story(paragraphs=60 + n % 7)
    words = {word: hashlib.sha256(f"{n}{word}".encode()).hexdigest()[:10] for word in set(text.split())}
    for word, replacement in words.items():
        text, html = text.replace(word, replacement), html.replace(word, replacement)
    return text, html.replace("<nav>Home | News</nav>", f"<nav><ul>{chrome}</ul></nav>")


def save_site_pages(archive: Archive, pages: list[tuple[str, str]], first: int, run: int) -> None:
    """pages (text, html) as https://example.com/{n}, n counted from first, in the run."""
    for n, (text, html) in enumerate(pages, first):
        archive.save(page(f"https://example.com/{n}", html), article(text=text), run_id=run)


@pytest.mark.usefixtures("small_dictionary")
def test_the_end_of_a_run_trains_a_dictionary_once_the_archive_holds_enough_pages(archive: Archive) -> None:
    pages = [site_page(n) for n in range(41)]
    run = archive.start_run("run")
    save_site_pages(archive, pages[:19], 0, run)
    archive.finish_run(run, status="finished", urls=19)
    assert archive.db.execute("SELECT count(*) FROM dictionaries").fetchone()[0] == 0  # too few pages

    run = archive.start_run("run")
    save_site_pages(archive, pages[19:40], 19, run)
    archive.finish_run(run, status="interrupted", urls=21)  # Ctrl-C: the run ends at once
    assert archive.db.execute("SELECT count(*) FROM dictionaries").fetchone()[0] == 0
    before = archive.db.execute("SELECT sum(length(content)) FROM blobs").fetchone()[0]
    archive.finish_run(archive.start_run("run"), status="finished", urls=0)
    assert archive.db.execute("SELECT id, samples FROM dictionaries").fetchall() == [(1, 40)]
    assert set(archive.db.execute("SELECT compression, dictionary_id FROM blobs").fetchall()) == {
        ("zstd-dict-text", 1)}
    assert archive.db.execute("SELECT sum(length(content)) FROM blobs").fetchone()[0] < before * 0.6

    # A page archived later is stored with the dictionary too, for less than its text alone takes.
    text, html = pages[40]
    archive.save(page("https://example.com/40", html), article(text=text))
    method, stored = archive.db.execute("SELECT compression, length(content) FROM blobs ORDER BY rowid DESC").fetchone()
    assert method == "zstd-dict-text"
    assert stored < len(compression.compress(html.encode(), like=text.encode())) * 0.6
    with Archive(archive.path) as reopened:
        for n, (_, html) in enumerate(pages):
            assert reopened.raw_html(reopened.version(f"https://example.com/{n}")["html_sha256"]) == html.encode()
    run = archive.start_run("run")
    archive.finish_run(run, status="finished", urls=0)
    assert archive.db.execute("SELECT count(*) FROM dictionaries").fetchone()[0] == 1  # trained once


def test_html_in_a_compression_unknown_to_this_version_is_an_archive_error(archive: Archive) -> None:
    archive.save(page(), article())
    archive.db.execute("UPDATE blobs SET compression = 'zstd-2030'")
    with pytest.raises(ArchiveError, match="'zstd-2030', unknown to this version"):
        archive.raw_html(archive.version("https://example.com/story")["html_sha256"])


def test_word_changes_are_counted_per_version(archive: Archive) -> None:
    archive.save(page(), article(text="One two three\n\nFour five"))
    archive.save(page(), article(text="One two three four\n\nSix"))
    assert [(row["words_added"], row["words_removed"]) for row in archive.history("https://example.com/story")] == [
        (5, 0), (2, 2)]


@pytest.mark.parametrize("theirs, expected", [
    ("Two words.", (3, True, (3, 2))),  # ours follows theirs, its words counted against theirs
    ("Three words here.", (2, False, None)),  # theirs already holds ours: nothing new
])
def test_a_save_that_another_writer_overtook_is_worked_out_again(
        archive: Archive, theirs: str, expected: tuple[int, bool, tuple[int, int] | None]) -> None:
    # The compression and word counts of a save are worked out before its write lock; another
    # process may save the same page in between.
    archive.save(page(), article(text="One."))
    other = Archive(archive.path)
    plan = archive._plan
    plans = []

    def overtaken(*args: Any) -> Any:
        plans.append(plan(*args))
        if len(plans) == 1:
            other.save(page(html="<p>theirs</p>"), article(text=theirs))
        return plans[-1]

    archive._plan = overtaken  # type: ignore[method-assign]
    result = archive.save(page(html="<p>ours</p>"), article(text="Three words here."))
    other.close()
    version, changed, words = expected
    assert (result.version, result.changed, len(plans)) == (version, changed, 2)
    history = archive.history("https://example.com/story")
    assert [row["version"] for row in history] == list(range(1, version + 1))
    if words is not None:
        assert (history[-1]["words_added"], history[-1]["words_removed"]) == words
        assert archive.raw_html(history[-1]["html_sha256"]) == b"<p>ours</p>"
    assert archive.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_word_changes_count_characters_in_chinese_and_japanese(archive: Archive) -> None:
    # Written without spaces: each character is a word, as in Article.word_count.
    archive.save(page(), article(text="東京で雪が降った。\n\nIt snowed."))
    archive.save(page(), article(text="大阪で雪が降った。\n\nIt snowed."))
    history = archive.history("https://example.com/story")
    assert history[0]["word_count"] == 11 and (history[0]["words_added"], history[0]["words_removed"]) == (11, 0)
    assert (history[1]["words_added"], history[1]["words_removed"]) == (9, 9)  # the changed paragraph, whole


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
    with pytest.raises(ArchiveError, match=r"notes.txt is not a SQLite database$"):
        Archive(path)


def test_a_write_blocked_by_another_writer_is_an_archive_error(db_path: Path) -> None:
    with Archive(db_path, busy_timeout=0.1, lock_patience=0.5) as archive:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(ArchiveError, match=r"cannot write to the archive: database is locked .*over 0.5 s"):
                archive.save(page(), article())
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert archive.save(page(), article()).version == 1  # and works once the lock is gone


class _InterruptedConnection:
    """The archive's connection, with a Ctrl-C arriving once just after `sql` ran (after=True)
    or just before: where a signal can land between a write's statements."""

    def __init__(self, conn: sqlite3.Connection, sql: str, *, after: bool) -> None:
        self.conn, self.sql, self.after, self.fired = conn, sql, after, False

    def execute(self, sql: str, *args: Any) -> Any:
        due = sql == self.sql and not self.fired
        if due and not self.after:
            self.fired = True
            raise KeyboardInterrupt
        result = self.conn.execute(sql, *args)
        if due:
            self.fired = True
            raise KeyboardInterrupt
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.mark.parametrize(("sql", "after"), [("BEGIN IMMEDIATE", True), ("COMMIT", False)],
                         ids=["just-after-begin", "just-before-commit"])
def test_a_write_interrupted_between_its_statements_leaves_no_transaction_open(
        archive: Archive, sql: str, after: bool) -> None:
    """Else the command's closing writes fail ("cannot start a transaction within a
    transaction") and Ctrl-C ends in an error instead of "Interrupted"."""
    conn = archive.db.conn
    archive.db.conn = _InterruptedConnection(conn, sql, after=after)  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            archive.save(page(), article())
    finally:
        archive.db.conn = conn
    assert not conn.in_transaction
    with pytest.raises(NotArchived):  # rolled back whole
        archive.page("https://example.com/story")
    assert archive.save(page(), article()).version == 1


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


def test_a_database_of_the_fourth_schema_reads_its_html_and_grows_on(db_path: Path) -> None:
    from sqlite_utils import Database

    from archive.schema import migrations

    old = Database(db_path)
    migrations.apply(old, stop_before="m005_html_compressed_against_text")
    old.table("pages").insert({"id": 1, "url": "https://example.com/story", "first_seen": "2025-01-01T00:00:00Z",
                               "last_checked": "2025-01-01T00:00:00Z", "latest_version": 2})
    text, html = story()
    edited = html.replace("<nav>Home | News</nav>", "<nav>Home | World</nav>")
    first, second = (hashlib.sha256(body.encode()).hexdigest() for body in (html, edited))
    old.table("blobs").insert({"sha256": first, "size": len(html), "compression": "zstd",
                               "content": compression.compress(html.encode())})
    old.table("blobs").insert({"sha256": second, "size": len(edited), "compression": "zstd", "base": first,
                               "content": compression.compress(edited.encode(), like=html.encode())})
    for number, sha256 in ((1, first), (2, second)):
        old.table("versions").insert({"page_id": 1, "version": number, "fetched_at": "2025-01-01T00:00:00Z",
                                      "html_sha256": sha256, "content_hash": f"h{number}", "text": text})
    old.close()
    with Archive(db_path) as upgraded:
        assert "text_id" in upgraded.db.table("blobs").columns_dict
        assert upgraded.raw_html(first) == html.encode()
        assert upgraded.raw_html(second) == edited.encode()
        run = upgraded.start_run("run")
        third = edited.replace("<nav>Home | World</nav>", "<nav>Home | Sport</nav>")
        assert upgraded.save(page(html=third), article(text=text + " More."), run_id=run).version == 3
        upgraded.finish_run(run, status="finished", urls=1)  # no auto_vacuum in this file: nothing to give back
        assert upgraded.raw_html(hashlib.sha256(third.encode()).hexdigest()) == third.encode()
        assert upgraded.db.execute("SELECT compression, base FROM blobs ORDER BY rowid").fetchall() == [
            ("zstd", None), ("zstd", first), ("zstd", first)]
        assert upgraded.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0


def test_a_new_archive_gives_free_pages_back_at_the_end_of_a_run(archive: Archive) -> None:
    assert archive.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert archive.db.execute("PRAGMA page_size").fetchone()[0] == 2048
    run = archive.start_run("run")
    for n in range(20):
        text, html = story(paragraphs=5 + n)
        archive.save(page(f"https://example.com/{n}", html), article(text=text), run_id=run)
    archive.finish_run(run, status="finished", urls=20)  # the search index merged: its old segments freed
    assert archive.db.execute("PRAGMA freelist_count").fetchone()[0] == 0


FERRIES = ("harbour bridge ferry", "night ferry to the harbour", "bridge over the river")


@pytest.mark.parametrize("budget", [store.MERGE_PAGES, 2], ids=["index merged whole", "segments merged in pairs"])
def test_the_end_of_a_run_merges_the_search_index_and_finds_the_same(
        archive: Archive, monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.setattr(store, "MERGE_PAGES", budget)
    run = archive.start_run("run")
    for n in range(30):  # a save a transaction, a segment each
        archive.save(page(f"https://example.com/{n}"), article(text=f"Story {n}: the {FERRIES[n % 3]}."), run_id=run)
    for n in range(0, 30, 4):
        archive.save(page(f"https://example.com/{n}"), article(text=f"Story {n}, corrected: the {FERRIES[n % 3]}."),
                     run_id=run)
    queries: list[tuple[str, dict[str, Any]]] = [
        ("ferry", {}), ('"harbour bridge"', {}), ("corrected", {}), ("ferry", {"all_versions": True}),
        ("bridge NOT harbour", {"syntax": True, "all_versions": True}), ("harb*", {"syntax": True})]
    found = [archive.search(query, limit=100, **options) for query, options in queries]
    assert all(found)
    rows = archive.db.execute("SELECT count(*) FROM versions_fts_data").fetchone()[0]
    archive.finish_run(run, status="finished", urls=30)
    assert archive.db.execute("SELECT count(*) FROM versions_fts_data").fetchone()[0] < rows
    assert [archive.search(query, limit=100, **options) for query, options in queries] == found
    archive.db.execute("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")  # raises if corrupt


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


def test_a_run_left_running_by_a_killed_process_is_marked_killed(archive: Archive) -> None:
    import os
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    host = socket.gethostname()
    archive.db.execute("INSERT INTO runs (command, started_at, status, host, pid) VALUES"
                       " ('run', 'x', 'running', ?, ?), ('run', 'x', 'running', ?, ?), ('run', 'x', 'running', ?, ?)",
                       [host, gone.pid, host, os.getpid(), "elsewhere.example", gone.pid])
    run_id = archive.start_run("run")
    statuses = [row[0] for row in archive.db.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["killed", "running", "running", "running"]  # alive here; another machine's; the new one
    assert run_id == 4


def test_history_and_show_find_a_page_by_the_url_it_redirected_to(archive: Archive) -> None:
    moved = Page(url="https://example.com/old", final_url="https://example.com/new", content=b"<p>v1</p>",
                 html="<p>v1</p>", status=200)
    archive.save(moved, article())
    assert archive.history("https://example.com/new")[0]["final_url"] == "https://example.com/new"
    assert archive.version("https://example.com/new")["text"] == article().text
    archive.save(page("https://example.com/new"), article("Its own text."))
    assert archive.version("https://example.com/new")["text"] == "Its own text."  # the URL requested comes first
    with pytest.raises(NotArchived):
        archive.history("https://example.com/elsewhere")


@contextmanager
def _locked_for(db_path: Path, seconds: float) -> Iterator[None]:
    """Another connection holds the write lock, and lets it go after `seconds`."""
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: other.execute("COMMIT"))
    release.start()
    try:
        yield
    finally:
        release.join()
        other.close()


def test_writes_wait_out_a_write_lock_held_longer_than_the_busy_timeout(db_path: Path) -> None:
    with Archive(db_path, busy_timeout=0.2) as archive:
        started = time.monotonic()
        with _locked_for(db_path, 1.5):
            assert archive.save(page(), article()).version == 1
        assert time.monotonic() - started >= 1.0
        run_id = archive.start_run("run")
        with _locked_for(db_path, 1.0):
            archive.finish_run(run_id, status="interrupted", urls=1)
        with _locked_for(db_path, 1.0):
            archive._tidy()  # the upkeep that takes the lock itself
    with Archive(db_path, readonly=True) as reader:
        assert reader.version("https://example.com/story")["version"] == 1
        assert reader.last_runs()[0]["status"] == "interrupted"
