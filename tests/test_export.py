from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from archive import Archive, parquet, write_records
from archive.export import FIELDS, RECORD_SEPARATOR, write_parquet
from scraper import Article, Page


@pytest.fixture
def filled(archive: Archive) -> Archive:
    for n in range(3):
        url = f"https://example.com/{n}"
        text = f"Paragraph one of story {n}, with a comma.\n\nParagraph two says \"quoted\" things."
        archive.save(Page(url=url, final_url=url + "?final", content=b"<p>x</p>", html="<p>x</p>"),
                     Article(text=text, title=f"Story {n}", authors=("Ann",), published="2024-05-01"))
    return archive


def export(archive: Archive, fmt: str) -> str:
    out = io.StringIO()
    write_records(archive.records(), out, fmt)
    return out.getvalue()


def test_jsonl_parses_back_with_every_field(filled: Archive) -> None:
    records = [json.loads(line) for line in export(filled, "jsonl").splitlines()]
    assert [r["url"] for r in records] == [f"https://example.com/{n}" for n in range(3)]
    assert set(records[0]) == set(FIELDS)
    assert records[1]["final_url"] == "https://example.com/1?final"
    assert records[1]["version"] == 1
    assert records[1]["fetched_at"].endswith("Z")
    assert records[1]["text"].startswith("Paragraph one of story 1")


def test_csv_parses_back(filled: Archive) -> None:
    rows = list(csv.DictReader(io.StringIO(export(filled, "csv"))))
    assert len(rows) == 3
    assert rows[2]["title"] == "Story 2"
    assert 'says "quoted" things' in rows[2]["text"]


def test_txt_records_split_on_form_feed(filled: Archive) -> None:
    records = export(filled, "txt").split(RECORD_SEPARATOR)
    assert len(records) == 3
    title, url, blank, *body = records[0].splitlines()
    assert (title, url, blank) == ("Story 0", "https://example.com/0", "")
    assert body[0].startswith("Paragraph one of story 0")


def test_markdown_has_a_heading_per_article(filled: Archive) -> None:
    text = export(filled, "md")
    assert [line for line in text.splitlines() if line.startswith("# ")] == [f"# Story {n}" for n in range(3)]
    assert "*Ann · 2024-05-01*" in text


def test_unknown_format_is_rejected(filled: Archive) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write_records(filled.records(), io.StringIO(), "xml")


@pytest.fixture
def hostile(archive: Archive) -> Archive:
    """Text as an older archive may hold it: formulas and terminal escapes in the metadata and text."""
    text = ("-1 + 2 is what \x1b]8;;https://evil.example\x07the\x1b]8;;\x07 page\x9b31m says.\r\n\n"
            "A\ttab and\x00 a\x7f end.")
    archive.save(Page(url="https://example.com/x", final_url="https://example.com/x", content=b"<p>x</p>", html="x"),
                 Article(text=text, title="=HYPERLINK(\"https://evil.example\",\"Click\")", authors=("@admin", "+Bob"),
                         description="\tcmd", site_name="\x1b[2J\rSite", markdown="# \x1b[31mRed\x1b[0m"))
    return archive


def test_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote(hostile: Archive) -> None:
    [row] = csv.DictReader(io.StringIO(export(hostile, "csv")))
    assert row["title"] == "'=HYPERLINK(\"https://evil.example\",\"Click\")"
    assert row["author"] == "'@admin; +Bob" and row["authors"] == "'@admin; +Bob"
    assert row["description"] == "'\tcmd"
    assert row["text"].startswith("'-1 + 2 is what ")
    assert row["site_name"] == "[2JSite"  # the escape's ESC and the CR go first: no formula left
    assert row["url"] == "https://example.com/x" and row["word_count"].isdigit()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt", "md"])
def test_exports_hold_no_control_characters_but_newlines_and_tabs(hostile: Archive, fmt: str) -> None:
    out = export(hostile, fmt)
    assert not [char for char in out if (ord(char) < 32 and char not in "\n\t\f") or 0x7f <= ord(char) <= 0x9f]
    assert "\f" not in out.replace(RECORD_SEPARATOR, "")
    assert "[31mRed[0m" in out if fmt == "md" else "the]8;; page31m says." in out  # the rest of the text stays


def test_jsonl_keeps_the_text_as_it_reads(hostile: Archive) -> None:
    [record] = [json.loads(line) for line in export(hostile, "jsonl").splitlines()]
    assert record["text"] == "-1 + 2 is what ]8;;https://evil.examplethe]8;; page31m says.\n\nA\ttab and a end."
    assert record["title"].startswith("=HYPERLINK")  # only CSV cells are defused
    assert record["authors"] == ["@admin", "+Bob"]


def test_parquet_holds_the_jsonl_records_a_row_group_at_a_time(filled: Archive, hostile: Archive,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # One archive under both fixtures: three stories and the hostile page, control characters and all.
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(parquet, "ROW_GROUP", 3)  # written as they come, never all held at once
    out, lines = io.BytesIO(), io.StringIO()
    assert write_parquet(hostile.records(), out, markdown=True) == 4
    write_records(hostile.records(), lines, "jsonl", markdown=True)
    table = pq.ParquetFile(io.BytesIO(out.getvalue()))
    assert table.metadata.num_row_groups == 2
    assert table.schema_arrow.names == [*FIELDS, "markdown"]
    assert table.read().to_pylist() == [json.loads(line) for line in lines.getvalue().splitlines()]


def test_parquet_cut_short_by_an_error_is_still_a_file_of_the_records_before(filled: Archive,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(parquet, "ROW_GROUP", 1)

    def failing() -> Iterator[dict[str, Any]]:
        records = filled.records()
        yield next(records)
        yield next(records)
        raise OSError("disk went away")

    out = io.BytesIO()
    try:
        write_parquet(failing(), out)
    except OSError as error:
        # Held, as a caller reporting it may: its traceback holds the writer, which is not left
        # for the garbage collector to close.
        failure = error
    else:
        pytest.fail("the error did not come through")
    assert str(failure) == "disk went away"
    rows = pq.ParquetFile(io.BytesIO(out.getvalue())).read().to_pylist()
    assert [row["url"] for row in rows] == [record["url"] for record in list(filled.records())[:2]]
