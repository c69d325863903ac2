"""`scraper reclean`: archived versions made anew by today's cleaner from their stored HTML,
in place, with what an earlier cleaner made kept; and each version naming its cleaner."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from archive import Archive
from scraper import Article, Page
from scraper.cleaner import CLEANER_ID, clean
from tests.conftest import FAST_FLAGS, SEEDS, scraper_cli
from tests.server import LocalServer, Response

OLD_CLEANER = "scraper 0.0.1"
BOILERPLATE = "Share this story on Quokkabook and follow us for more."
SEED = SEEDS / "003_968b57e5d640ddbd.html"


def older_article(html: str, url: str) -> tuple[Article, str]:
    """What an older cleaner made of html: today's text less a paragraph, plus a line of site
    chrome; and a word that only the dropped paragraph holds."""
    today = clean(html, url=url)
    paragraphs = today.text.split("\n\n")
    dropped = paragraphs.pop(2)
    rest = "\n\n".join(paragraphs).lower()
    word = next(word for word in re.findall(r"[A-Za-z]{6,}", dropped) if word.lower() not in rest)
    text = "\n\n".join([*paragraphs, BOILERPLATE])
    return Article(text=text, markdown=text, title=today.title, cleaner=OLD_CLEANER), word


def fetched(url: str, content: bytes, when: str = "2026-01-01T00:00:00+00:00") -> Page:
    return Page(url=url, final_url=url, content=content, html=content.decode(), status=200,
                headers={"content-type": "text/html; charset=utf-8"}, fetched_at=datetime.fromisoformat(when))


def cleaners(db_path: Path) -> list[str | None]:
    with closing(sqlite3.connect(db_path)) as db:
        return [row[0] for row in db.execute("SELECT cleaner FROM versions ORDER BY id")]


def reclean(*args: str) -> subprocess.CompletedProcess[bytes]:
    return scraper_cli("reclean", "--json", *args, timeout=180)


def test_reclean_replaces_an_older_cleaners_text_in_place_and_the_next_run_finds_the_page_unchanged(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    first = SEED.read_bytes()
    second = first.replace(b"</body>", b"<p>A reader's note the cleaner leaves out.</p></body>")
    assert second != first
    url = server.set("/story", Response(body=second))
    old, word = older_article(first.decode(), url)
    old_second = Article(text=old.text + "\n\nA correction, added later.", markdown=old.markdown,
                         title=old.title, cleaner=OLD_CLEANER)
    with Archive(db_path) as archive:
        assert archive.save(fetched(url, first), old).version == 1
        assert archive.save(fetched(url, second, "2026-02-01T00:00:00+00:00"), old_second).version == 2
        before = archive.history(url)
        page_before = archive.page(url)
    assert scraper_cli("search", word).returncode == 1  # the older cleaner dropped it

    result = reclean()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {"cleaner": CLEANER_ID, "versions": 2, "changed": 2, "unchanged": 0, "failed": 0,
                       "failed_by_reason": {}, "passed_over": 0}
    assert b"2 versions re-cleaned" in result.stderr

    with Archive(db_path) as archive:
        after = archive.history(url)
        assert [row["version"] for row in after] == [1, 2]  # no new version
        assert archive.page(url) == page_before  # the page did not change: no last_changed, no latest_version
        for was, now, html in zip(before, after, (first, second), strict=True):
            today = clean(html.decode(), url=url)
            assert (now["words_added"], now["words_removed"]) == (was["words_added"], was["words_removed"])
            assert now["content_hash"] == today.content_hash != was["content_hash"]
            assert now["cleaner"] == CLEANER_ID and now["word_count"] == today.word_count
            assert archive.version(url, now["version"])["markdown"] == today.markdown
            # HTML compressed against the older text reads back byte for byte.
            assert archive.raw_html(now["html_sha256"]) == html
        earlier = list(archive.db.query("SELECT * FROM earlier_texts ORDER BY id"))
        assert [(row["cleaner"], row["replaced_by"], row["text"]) for row in earlier] == [
            (OLD_CLEANER, CLEANER_ID, old.text), (OLD_CLEANER, CLEANER_ID, old_second.text)]
        assert [row["content_hash"] for row in earlier] == [row["content_hash"] for row in before]
        archive.db.execute("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")

    # Search follows the new text, in every version.
    found = scraper_cli("search", word, "--all-versions", "--json")
    assert found.returncode == 0 and {json.loads(line)["version"] for line in found.stdout.splitlines()} == {1, 2}
    assert scraper_cli("search", "Quokkabook", "--all-versions").returncode == 1

    # History and exports name the cleaner.
    lines = scraper_cli("history", url).stdout.decode().splitlines()
    assert [line.split("\t")[5] for line in lines] == [CLEANER_ID, CLEANER_ID]
    assert {json.loads(line)["cleaner"] for line in scraper_cli("history", url, "--json").stdout.splitlines()} == {
        CLEANER_ID}
    exported = [json.loads(line) for line in scraper_cli("export", "--all-versions").stdout.splitlines()]
    assert [record["cleaner"] for record in exported] == [CLEANER_ID, CLEANER_ID]
    assert "cleaner" in scraper_cli("export", "--format", "csv").stdout.decode().splitlines()[0].split(",")

    # A second re-clean has nothing to do; --force cleans again and finds nothing changed.
    again = reclean()
    assert (again.returncode, json.loads(again.stdout)["versions"], json.loads(again.stdout)["passed_over"]) == (
        0, 0, 2)
    forced = json.loads(reclean("--force").stdout)
    assert (forced["versions"], forced["changed"], forced["unchanged"]) == (2, 0, 2)

    # The next run fetches the page unchanged (the second HTML): no new version.
    listing = tmp_path / "urls.txt"
    listing.write_text(url + "\n")
    run = scraper_cli("run", str(listing), "--json", *FAST_FLAGS)
    assert run.returncode == 0, run.stderr
    assert (json.loads(run.stdout)["new_versions"], json.loads(run.stdout)["unchanged"]) == (0, 1)
    with Archive(db_path) as archive:
        assert len(archive.history(url)) == 2
        assert archive.db.execute("SELECT count(*) FROM earlier_texts").fetchone()[0] == 2


def test_a_new_version_names_its_cleaner_and_an_older_one_shows_unknown(db_path: Path, tmp_path: Path) -> None:
    url = "https://paper.example/story"
    assert scraper_cli("archive", str(SEED), "--url", url).returncode == 0
    assert cleaners(db_path) == [CLEANER_ID]
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("UPDATE versions SET cleaner = NULL")  # as a version archived before cleaners were recorded
    assert scraper_cli("history", url).stdout.decode().rstrip("\n").endswith("\tunknown")
    assert json.loads(scraper_cli("history", url, "--json").stdout)["cleaner"] is None
    result = reclean()
    assert json.loads(result.stdout)["unchanged"] == 1  # today's cleaner made this text: nothing to keep
    assert cleaners(db_path) == [CLEANER_ID]


def test_filters_choose_the_versions_to_reclean(db_path: Path) -> None:
    html = SEED.read_bytes()
    urls = ["https://a.example/news/1", "https://a.example/blog/2", "https://b.example/news/3"]
    with Archive(db_path) as archive:
        for url, when in zip(urls, ["2026-01-01", "2026-03-01", "2026-03-01"], strict=True):
            archive.save(fetched(url, html, f"{when}T00:00:00+00:00"), older_article(html.decode(), url)[0])
    assert json.loads(reclean("--url-prefix", "https://a.example/news/").stdout)["versions"] == 1
    assert cleaners(db_path) == [CLEANER_ID, OLD_CLEANER, OLD_CLEANER]
    assert json.loads(reclean("--since", "2026-02-01", "--url-prefix", "https://b.").stdout)["versions"] == 1
    assert cleaners(db_path) == [CLEANER_ID, OLD_CLEANER, CLEANER_ID]
    assert json.loads(reclean().stdout)["versions"] == 1
    assert cleaners(db_path) == [CLEANER_ID] * 3


def test_a_version_the_cleaner_now_finds_nothing_in_keeps_its_text_and_counts_as_failed(db_path: Path) -> None:
    url = "https://a.example/short"
    html = b"<html><body><p>Too short to be an article now.</p></body></html>"
    text = "An older cleaner found an article here, of more than ten words in all."
    with Archive(db_path) as archive:
        archive.save(fetched(url, html), Article(text=text, title="Short", cleaner=OLD_CLEANER))
    result = reclean()
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["versions"], summary["failed"], summary["failed_by_reason"]) == (1, 1, {"no content": 1})
    assert b"failed: https://a.example/short v1: " in result.stderr
    with Archive(db_path) as archive:
        assert archive.version(url)["text"] == text
        assert archive.db.execute("SELECT count(*) FROM earlier_texts").fetchone()[0] == 0
    assert cleaners(db_path) == [OLD_CLEANER]  # tried again next time


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
def test_a_reclean_stopped_midway_keeps_what_it_did_and_a_rerun_completes(db_path: Path, signum: int) -> None:
    pages = 150  # some seconds of cleaning: time enough to stop it midway, however fast the machine
    html = SEED.read_bytes()
    old, _ = older_article(html.decode(), "https://a.example/story/")
    with Archive(db_path) as archive:
        for n in range(pages):
            archive.save(fetched(f"https://a.example/story/{n}", html), old)
    process = subprocess.Popen([sys.executable, "-m", "scraper", "reclean", "--json"],
                               env={**os.environ, "SCRAPER_DB": str(db_path)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    give_up = time.monotonic() + 120
    while cleaners(db_path).count(CLEANER_ID) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    if signum != signal.SIGKILL:
        assert process.returncode == 130, err
        assert b"Interrupted: every version re-cleaned so far is saved" in err
    else:
        assert process.returncode == -signal.SIGKILL
    done = cleaners(db_path).count(CLEANER_ID)
    assert 2 <= done < pages
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT count(*) FROM earlier_texts").fetchone()[0] == done

    rest = reclean()
    assert rest.returncode == 0, rest.stderr
    assert (json.loads(rest.stdout)["changed"], json.loads(rest.stdout)["passed_over"]) == (pages - done, done)
    assert cleaners(db_path) == [CLEANER_ID] * pages
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT count(*) FROM earlier_texts").fetchone()[0] == pages  # one each, none twice
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")
    assert json.loads(reclean().stdout)["versions"] == 0


def test_reclean_wants_an_archive(tmp_path: Path) -> None:
    result = scraper_cli("reclean", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1 and b"no archive at" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_a_saved_article_that_names_no_cleaner_is_taken_as_todays(archive: Archive) -> None:
    url = "https://a.example/x"
    archive.save(fetched(url, b"<p>x</p>"), Article(text="Some words of a story."))
    assert archive.history(url)[0]["cleaner"] == CLEANER_ID


def test_html_compressed_with_a_trained_dictionary_and_the_old_text_reads_back_after_a_reclean(
        archive: Archive) -> None:
    from archive import compression

    archive.db.execute("INSERT INTO dictionaries (trained_at, samples, sample_bytes, content_zstd)"
                       " VALUES ('2026-01-01T00:00:00Z', 1, 1, ?)", [compression.compress(b"<html><body><nav>" * 50)])
    url = "https://a.example/story"
    html = SEED.read_bytes()
    old, _ = older_article(html.decode(), url)
    archive.save(fetched(url, html), old)
    assert archive.db.execute("SELECT compression FROM blobs").fetchone()[0] == "zstd-dict-text"
    today = clean(html.decode(), url=url)
    assert archive.reclean(archive.version(url)["id"], today) is True
    assert archive.raw_html(archive.version(url)["html_sha256"]) == html
    assert archive.db.execute("SELECT compression, dictionary_id FROM blobs").fetchone() == ("zstd-dict-text", 1)
    with Archive(archive.path) as reopened:  # no dictionary cached: read from the file
        assert reopened.raw_html(reopened.version(url)["html_sha256"]) == html


def test_a_reclean_that_changes_nothing_only_names_the_cleaner(archive: Archive) -> None:
    url = "https://a.example/story"
    text = "The same words, whichever cleaner made them, in this story."
    archive.save(fetched(url, b"<p>x</p>"), Article(text=text, title="T", cleaner=OLD_CLEANER))
    version_id = archive.version(url)["id"]
    assert archive.reclean(version_id, Article(text=text, title="T", cleaner="scraper 9")) is False
    assert archive.version(url)["cleaner"] == "scraper 9"
    assert archive.db.execute("SELECT count(*) FROM earlier_texts").fetchone()[0] == 0
    # A title alone is a change: the earlier one is kept, and search follows the new one.
    assert archive.reclean(version_id, Article(text=text, title="Zebras", cleaner="scraper 10")) is True
    assert archive.db.execute("SELECT title, cleaner, replaced_by FROM earlier_texts").fetchall() == [
        ("T", "scraper 9", "scraper 10")]
    assert [hit["title"] for hit in archive.search("zebras")] == ["Zebras"]


def test_the_near_duplicate_index_follows_a_recleaned_text(archive: Archive) -> None:
    from archive.similar import similar

    html = SEED.read_bytes()
    first, second = "https://a.example/one", "https://b.example/two"
    archive.save(fetched(first, html), clean(html.decode(), url=first))
    archive.save(fetched(second, html), Article(text="Another story entirely, about something else altogether.",
                                                cleaner=OLD_CLEANER))
    assert similar(archive, first) == []
    archive.reclean(archive.version(second)["id"], clean(html.decode(), url=second))
    assert [match.url for match in similar(archive, first)] == [second]
