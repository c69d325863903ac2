from __future__ import annotations

import dataclasses
import itertools
import json
from functools import cache
from pathlib import Path

import pytest

from archive import Archive
from archive.similar import (
    BANDS,
    NUM_PERM,
    THRESHOLD,
    duplicate_pages,
    estimate,
    refresh_index,
    shingles,
    signature,
    similar,
)
from scraper import Article, NotArchived, Page, clean
from tests.conftest import SEEDS, scraper_cli
from tests.server import FIXTURES

SYNDICATED = "syndicated/000_other_layout.html"
SYNDICATED_URL = "https://www.harbourstreetwire.example/asia-pacific/2023/07/28/japan-china-russia-military-cooperation"
SEED_FILES = sorted(SEEDS.glob("*.html"))
SEED_URLS = [f"https://seed{n}.example/japan-china-russia" for n in range(len(SEED_FILES))]


@cache
def _cleaned(path: str, url: str) -> tuple[Page, Article]:
    """A fixture file as fetched from url, and its cleaned article; cleaned once per test run."""
    content = (FIXTURES / path).read_bytes()
    page = Page(url=url, final_url=url, content=content, html=content.decode(), status=200)
    return page, clean(content, url)


def seeds() -> list[tuple[Page, Article]]:
    return [_cleaned(f"seeds/{path.name}", url) for path, url in zip(SEED_FILES, SEED_URLS, strict=True)]


def syndicated() -> tuple[Page, Article]:
    return _cleaned(SYNDICATED, SYNDICATED_URL)


def archive_all(archive: Archive) -> None:
    """The five seeds, then the syndicated copy of seed 000: archived last, so highest page id."""
    for page, article in [*seeds(), syndicated()]:
        archive.save(page, article)


def test_syndicated_copy_in_another_layout_matches_seed_000_both_ways(archive: Archive) -> None:
    archive_all(archive)
    forward = similar(archive, SEED_URLS[0])
    assert [match.url for match in forward] == [SYNDICATED_URL]
    assert forward[0].similarity >= THRESHOLD
    assert forward[0].version == 1
    assert forward[0].title == "Japan ‘gravely concerned’ by China and Russia’s military co-operation"
    backward = similar(archive, SYNDICATED_URL)
    assert [match.url for match in backward] == [SEED_URLS[0]]
    assert backward[0].similarity == forward[0].similarity
    print(f"syndicated copy vs seed 000: {forward[0].similarity:.3f}")


def test_five_write_ups_of_one_story_are_not_near_duplicates(archive: Archive) -> None:
    archive_all(archive)
    for url in SEED_URLS:
        assert not {match.url for match in similar(archive, url)} & set(SEED_URLS)
    texts = [article.text for _, article in seeds()]
    highest = max(estimate(signature(a), signature(b)) for a, b in itertools.combinations(texts, 2))
    assert highest < THRESHOLD / 2
    print(f"highest estimate between two seeds: {highest:.3f}")


def test_duplicate_pages_leaves_out_the_later_archived_copy(archive: Archive) -> None:
    archive_all(archive)
    assert duplicate_pages(archive) == {archive.page(SYNDICATED_URL)["id"]}


def _words(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n}" for n in range(count)]


def test_duplicate_groups_are_connected_through_pairs(archive: Archive) -> None:
    # b shares 260 of 400 words with a and with c, in one run each: about 0.48 with both;
    # a and c share 120 words: about 0.17, yet all three are one group through b.
    a = _words("x", 400)
    b = _words("y", 140) + a[140:]
    c = b[:260] + _words("z", 140)
    for name, words in (("a", a), ("b", b), ("c", c)):
        archive.save(_page(f"https://{name}.example/"), Article(text=" ".join(words), title=name))
    ids = {name: archive.page(f"https://{name}.example/")["id"] for name in "abc"}
    assert [match.url for match in similar(archive, "https://a.example/")] == ["https://b.example/"]
    assert duplicate_pages(archive) == {ids["b"], ids["c"]}
    assert duplicate_pages(archive, threshold=0.9) == set()


def _page(url: str) -> Page:
    return Page(url=url, final_url=url, content=url.encode(), html=url, status=200)


def test_refresh_index_is_incremental_and_indexes_new_versions(archive: Archive) -> None:
    for page, article in seeds():
        archive.save(page, article)
    assert refresh_index(archive) == 5
    assert refresh_index(archive) == 0
    assert archive.db.execute("SELECT count(*), min(num_perm), min(length(signature)) FROM minhashes").fetchone() == (
        5, NUM_PERM, NUM_PERM * 4)
    assert archive.db.execute("SELECT count(*) FROM minhash_bands").fetchone()[0] == 5 * BANDS
    assert similar(archive, SEED_URLS[1]) == []

    # Seed 1's page now carries seed 0's text: its new latest version is indexed, its old one dropped.
    page, article = seeds()[1]
    archive.save(page, dataclasses.replace(seeds()[0][1], title=article.title))
    assert refresh_index(archive) == 1
    assert refresh_index(archive) == 0
    latest = archive.version(SEED_URLS[1])
    assert latest["version"] == 2
    indexed = {row[0] for row in archive.db.execute("SELECT version_id FROM minhashes")}
    assert latest["id"] in indexed and len(indexed) == 5
    assert archive.db.execute("SELECT count(DISTINCT version_id) FROM minhash_bands").fetchone()[0] == 5
    matches = similar(archive, SEED_URLS[0])
    assert [(match.url, match.version, match.similarity) for match in matches] == [(SEED_URLS[1], 2, 1.0)]


def test_a_text_without_words_is_indexed_once_and_matches_nothing(archive: Archive) -> None:
    archive.save(_page("https://empty.example/"), Article(text="— … —", title="Nothing"))
    archive.save(_page("https://other.example/"), Article(text="— … —", title="Nothing either"))
    assert refresh_index(archive) == 2
    assert refresh_index(archive) == 0
    assert similar(archive, "https://empty.example/", threshold=0.0) == []
    assert duplicate_pages(archive) == set()


def test_unknown_url_raises_not_archived(archive: Archive) -> None:
    with pytest.raises(NotArchived):
        similar(archive, "https://nowhere.example/story")


def test_shingles_ignore_case_and_punctuation_and_count_cjk_characters() -> None:
    assert shingles("One, two. THREE four five six") == {b"one two three four five", b"two three four five six"}
    assert shingles("Too short!") == {b"too short"}
    assert shingles(" … ") == set()
    assert shingles("日本の防衛") == {"日 本 の 防 衛".encode()}
    assert signature("") == b""
    assert estimate(signature("a b c d e f g"), signature("A b, c d e f g!")) == 1.0


def test_cli_similar_and_deduplicated_export(db_path: Path) -> None:
    for (page, _), path in zip([*seeds(), syndicated()], [*SEED_FILES, FIXTURES / SYNDICATED], strict=True):
        assert scraper_cli("archive", str(path), "--url", page.url).returncode == 0
    result = scraper_cli("similar", SEED_URLS[0], "--json")
    assert result.returncode == 0, result.stderr
    [match] = [json.loads(line) for line in result.stdout.splitlines()]
    assert match["url"] == SYNDICATED_URL and match["similarity"] >= THRESHOLD
    assert scraper_cli("similar", SEED_URLS[1]).stdout == b""  # another write-up of the story: no copy
    exported = scraper_cli("export", "--dedupe", "--format", "jsonl")
    assert [json.loads(line)["url"] for line in exported.stdout.splitlines()] == sorted(SEED_URLS)
    result = scraper_cli("similar", "https://nowhere.example/")
    assert result.returncode == 1 and b"not in the archive" in result.stderr
