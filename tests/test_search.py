"""Full-text search: Chinese, Japanese and Korean words, ranking, snippets, bad queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from archive import Archive
from scraper import Article, Page, SearchError
from tests.test_similar import SEED_URLS, seeds

CHINESE = ("在益阳一个智慧农业园区里，农民用手机管理温室。\n\n"
           "智慧农业让年轻人回到了农村。")
JAPANESE = "東京都は新しい防災計画を発表した。地震への備えを強化する。"
KOREAN = "서울시는 새로운 교통 정책을 발표했다."


def _save(archive: Archive, url: str, text: str, title: str = "Story") -> None:
    archive.save(Page(url=url, final_url=url, content=text.encode(), html=text), Article(text=text, title=title))


@pytest.fixture
def cjk(archive: Archive) -> Archive:
    _save(archive, "https://cn.example/farm", CHINESE, title="益阳新闻")
    _save(archive, "https://jp.example/bousai", JAPANESE, title="防災")
    _save(archive, "https://kr.example/seoul", KOREAN, title="교통")
    _save(archive, "https://en.example/farm", "Smart farming in Yiyang.", title="Farming")
    return archive


@pytest.mark.parametrize(("query", "url"), [
    ("智慧农业", "https://cn.example/farm"), ("农业园区", "https://cn.example/farm"),
    ("益阳 温室", "https://cn.example/farm"), ("新しい", "https://jp.example/bousai"),
    ("防災計画", "https://jp.example/bousai"), ("교통", "https://kr.example/seoul"),
])
def test_a_cjk_word_inside_a_sentence_is_found(cjk: Archive, query: str, url: str) -> None:
    assert [row["url"] for row in cjk.search(query)] == [url]


def test_a_cjk_query_matches_its_characters_in_order_only(cjk: Archive) -> None:
    assert cjk.search("农业智慧") == []  # each character is there, not in this order
    assert {row["url"] for row in cjk.search("智慧 OR 防災", syntax=True)} == {
        "https://cn.example/farm", "https://jp.example/bousai"}
    assert [row["url"] for row in cjk.search("title:益阳 AND 温室", syntax=True)] == ["https://cn.example/farm"]


def test_a_cjk_snippet_marks_the_word_in_the_stored_text(cjk: Archive) -> None:
    [row] = cjk.search("智慧农业")
    assert "[智慧农业]" in row["snippet"]
    assert " " not in row["snippet"].replace("\n", "")  # the text as stored, not as indexed


def test_an_archive_of_the_sixth_schema_gets_cjk_search_when_upgraded(db_path: Path) -> None:
    from sqlite_utils import Database

    from archive.schema import migrations

    old = Database(db_path)
    migrations.apply(old, stop_before="m007_search_finds_cjk_words")
    old.close()
    with Archive(db_path, readonly=True) as reader:
        assert reader.search("anything") == []  # read-only: the old index is read, not migrated
    # Written with the sixth schema's triggers: as an older program would have saved it.
    connection = sqlite3.connect(db_path)
    connection.execute("INSERT INTO pages (id, url, first_seen, last_checked, latest_version)"
                       " VALUES (1, 'https://cn.example/farm', 'x', 'x', 1)")
    connection.execute("INSERT INTO blobs (sha256, size, compression, content) VALUES ('h', 0, 'zstd', x'')")
    connection.execute("INSERT INTO versions (page_id, version, fetched_at, html_sha256, content_hash, title, text)"
                       " VALUES (1, 1, 'x', 'h', 'c', '益阳', ?)", [CHINESE])
    connection.commit()
    connection.close()
    with Archive(db_path) as archive:
        [row] = archive.search("智慧农业")
        assert row["url"] == "https://cn.example/farm"
        archive.db.execute("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")


def test_latin_text_ranks_and_snippets_as_an_index_of_the_text_itself(archive: Archive) -> None:
    for page, article in seeds():
        archive.save(page, article)
    reference = sqlite3.connect(":memory:")
    reference.execute("CREATE VIRTUAL TABLE ref USING FTS5 (title, text, tokenize='unicode61 remove_diacritics 2')")
    reference.executemany("INSERT INTO ref (rowid, title, text) VALUES (?, ?, ?)",
                          archive.db.execute("SELECT v.id, v.title, v.text FROM versions v").fetchall())
    url_of = dict(archive.db.execute("SELECT v.id, p.url FROM versions v JOIN pages p ON p.id = v.page_id"))
    for query in ['"white paper"', '"Kishida"', '"Japan" "China"', '"military"', '"défense"']:
        expected = [(url_of[rowid], rank) for rowid, rank in reference.execute(
            "SELECT rowid, bm25(ref, 3.0, 1.0) AS rank FROM ref WHERE ref MATCH ? ORDER BY rank", [query])]
        found = [(row["url"], row["rank"]) for row in archive.search(query)]
        assert [url for url, _ in found] == [url for url, _ in expected], query
        assert [rank for _, rank in found] == pytest.approx([rank for _, rank in expected]), query
    assert SEED_URLS  # the seeds are the five write-ups of one story


def test_a_snippet_brackets_the_matches_of_a_window_of_the_text(archive: Archive) -> None:
    words = [*(f"word{n}" for n in range(100)), "the White paper said so.", *(f"more{n}" for n in range(30))]
    text = " ".join(words)
    _save(archive, "https://example.com/long", text)
    [row] = archive.search('"white paper"')
    assert row["snippet"].startswith("…") and row["snippet"].endswith("…")
    assert "the [White paper] said so." in row["snippet"]
    [row] = archive.search("whi*", syntax=True)
    assert "[White]" in row["snippet"]


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_an_empty_query_asks_for_a_word(archive: Archive, query: str) -> None:
    with pytest.raises(SearchError, match=r"^give at least one word to search for$"):
        archive.search(query)
    with pytest.raises(SearchError, match=r"^give at least one word to search for$"):
        archive.search(query, syntax=True)
