"""The commands that read the archive (opened read-only) and change nothing: a page's text,
its versions and what changed between them; search and near-copies; exports; the pages, the
figures and the failures of recent runs."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from archive import FORMATS, maintenance, write_records
from archive.diff import counted, render_word_diff, unified_diff, word_diff
from archive.export import file_name, write_parquet
from archive.similar import THRESHOLD, duplicate_pages, similar
from archive.warc import write_warc
from scraper.cli.options import db_option, open_archive, parse_when, require_extra, url_prefix_option
from scraper.cli.output import count, echo_rows, field, json_line, safe, size
from scraper.urls import shorten

# ---- one page --------------------------------------------------------------------------


@click.command("show")
@click.argument("url")
@click.option("-v", "--version", "number", type=click.IntRange(min=1),
              help="Version number (default: latest).")
@click.option("--html", is_flag=True, help="Print the raw HTML as fetched instead of the text.")
@click.option("--markdown", is_flag=True, help="Print the article as Markdown instead of plain text.")
@click.option("--json", "as_json", is_flag=True, help="The version with its metadata, as JSON.")
@db_option
def show_command(url: str, number: int | None, html: bool, markdown: bool, as_json: bool, db_path: Path) -> None:
    """Print the cleaned text of one version of a page."""
    if html + markdown + as_json > 1:
        raise click.UsageError("--html, --markdown and --json each choose what to print: give one")
    with open_archive(db_path, must_exist=True) as archive:
        row = archive.version(url, number)
        if html:
            sys.stdout.buffer.write(archive.raw_html(row["html_sha256"]))
        elif as_json:
            row.pop("headers", None)
            click.echo(json_line(row))
        else:
            click.echo(safe(row["markdown"] if markdown else row["text"]))


@click.command("history")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@db_option
def history_command(url: str, as_json: bool, db_path: Path) -> None:
    """List every version of a page: number, time, words, words added and removed, title, and
    the cleaner that made its text ("unknown" for versions made before that was recorded)."""

    def line(row: dict[str, Any]) -> str:
        changes = f"+{row['words_added'] or 0} -{row['words_removed'] or 0}"
        return (f"v{row['version']}\t{row['fetched_at']}\t{count(row['word_count'], 'word')}\t{changes}\t"
                f"{field(row['title'])}\t{field(row['cleaner'] or 'unknown')}")

    with open_archive(db_path, must_exist=True) as archive:
        echo_rows(archive.history(url), line, as_json=as_json)


@click.command("diff")
@click.argument("url")
@click.option("--from", "older", type=click.IntRange(min=1),
              help="Version to compare from (default: the one before --to).")
@click.option("--to", "newer", type=click.IntRange(min=1), help="Version to compare to (default: the latest).")
@click.option("-w", "--words", is_flag=True, help="Word by word: [-removed-] {+added+}, instead of a unified diff.")
@click.option("--json", "as_json", is_flag=True, help="The changes as JSON: runs of equal, deleted and inserted text.")
@db_option
def diff_command(url: str, older: int | None, newer: int | None, words: bool, as_json: bool, db_path: Path) -> None:
    """Show what changed in a page's text between two versions (by default the last two)."""
    with open_archive(db_path, must_exist=True) as archive:
        after = archive.version(url, newer)
        if older is None:
            if after["version"] == 1:
                raise click.ClickException(f"{shorten(safe(url))} has one version only: nothing to compare")
            older = after["version"] - 1
        before = archive.version(url, older)
    changes = word_diff(before["text"], after["text"])
    added, removed = counted(changes)
    if as_json:
        click.echo(json_line({
            "url": url,
            "from": {key: before[key] for key in ("version", "fetched_at", "title")},
            "to": {key: after[key] for key in ("version", "fetched_at", "title")},
            "words_added": added, "words_removed": removed,
            "changes": [{"op": change.op, "text": change.text} for change in changes],
        }))
        return
    if before["title"] != after["title"]:
        click.echo(f"title: {before['title']!r} -> {after['title']!r}")  # repr escapes control characters
    if words:
        click.echo(safe(render_word_diff(changes)), nl=False)
    else:
        labels = [f"v{row['version']} {row['fetched_at']}" for row in (before, after)]
        for line in unified_diff(before["text"], after["text"], from_label=labels[0], to_label=labels[1]).splitlines():
            line = safe(line)
            color = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
            click.echo(click.style(line, fg=color) if color else line)
    noun = "word" if added + removed == 1 else "words"
    click.echo(f"v{before['version']} -> v{after['version']}: +{added} -{removed} {noun}", err=True)


# ---- finding pages ---------------------------------------------------------------------


@click.command("search")
@click.argument("words", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many results.")
@click.option("--all-versions", is_flag=True, help="Search every version, not only the latest of each page.")
@click.option("--fts", "syntax", is_flag=True,
              help="Read WORDS as SQLite FTS5 syntax (OR, NOT, NEAR, prefix*) instead of plain words.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result.")
@db_option
def search_command(words: tuple[str, ...], limit: int, all_versions: bool, syntax: bool, as_json: bool,
                   db_path: Path) -> None:
    """Full-text search of titles and texts, best matches first, each with a snippet.

    Every word must appear; a quoted argument with spaces ("white paper") is a phrase, whose
    words must appear together. Exits 1 when nothing matches, as grep does.
    """
    query = " ".join(words) if syntax else _phrases(words)
    with open_archive(db_path, must_exist=True) as archive:
        results = archive.search(query, limit=limit, all_versions=all_versions, syntax=syntax)
    echo_rows(results, lambda row: f"{field(row['url'])}\tv{row['version']}\t{field(row['title'])}\n"
                                   f"    {field(row['snippet'])}", as_json=as_json)
    if not results:
        click.echo(f"No match for {shorten(field(query))}.", err=True)
        sys.exit(1)


def _phrases(words: tuple[str, ...]) -> str:
    """The words as the archive's plain query: an argument holding spaces (the shell's quotes
    kept it whole) becomes a "quoted phrase", unless it has quotes of its own."""
    return " ".join(f'"{word}"' if len(word.split()) > 1 and '"' not in word else word for word in words)


@click.command("similar")
@click.argument("url")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1), default=THRESHOLD, show_default=True,
              help="Least estimated share of word sequences in common (Jaccard similarity of 5-word shingles).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page.")
@db_option
def similar_command(url: str, threshold: float, limit: int, as_json: bool, db_path: Path) -> None:
    """List archived pages whose article is a near-copy of URL's, most similar first.

    Compares the latest versions' texts with MinHash; the index is brought up to date first.
    """
    with open_archive(db_path, must_exist=True) as archive:
        matches = similar(archive, url, threshold=threshold, limit=limit)
    echo_rows((dataclasses.asdict(match) for match in matches),
              lambda row: f"{row['similarity']:.2f}\t{field(row['url'])}\t{field(row['title'])}", as_json=as_json)


# ---- export ----------------------------------------------------------------------------


@click.command("export")
@click.option("-f", "--format", "fmt", type=click.Choice([*FORMATS, "parquet", "warc"]), default="jsonl",
              show_default=True, help="Output format.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest of each page.")
@url_prefix_option
@click.option("--since", metavar="WHEN", callback=parse_when,
              help="Only versions fetched at or after WHEN: 2026-01-31, an ISO 8601 time (UTC if no zone), or 7d.")
@click.option("--until", metavar="WHEN", callback=parse_when,
              help="Only versions fetched before WHEN (as --since).")
@click.option("--language", metavar="CODE", help="Only pages in this language: en also matches en-GB.")
@click.option("--min-words", type=click.IntRange(min=0), metavar="N", help="Only versions of at least N words.")
@click.option("--markdown", is_flag=True, help="jsonl, csv and parquet: the article as Markdown too (field markdown).")
@click.option("--dedupe", is_flag=True,
              help="Leave out near-duplicates of pages archived earlier (the same story republished elsewhere).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="One file per page (per version with --all-versions) in DIR, named after its URL.")
@db_option
def export_command(fmt: str, all_versions: bool, url_prefix: str | None, since: datetime | None,
                   until: datetime | None, language: str | None, min_words: int | None, markdown: bool,
                   dedupe: bool, output_dir: Path | None, db_path: Path) -> None:
    """Write archived pages to stdout (or, with --output-dir, one file each).

    txt: title, URL, blank line, text; records separated by a form feed line.
    jsonl: one object per version. csv: a header row, then one row per version. md: Markdown.
    parquet: one row per version, the fields of jsonl as columns (needs pyarrow).
    warc: WARC/1.1 (gzipped records) of the raw HTML as fetched, for web-archive tools.
    """
    binary = {"warc": ("a WARC", "archive.warc.gz"), "parquet": ("Parquet", "articles.parquet")}
    if fmt in binary:
        kind, example = binary[fmt]
        if output_dir is not None:
            raise click.UsageError(f"--output-dir writes the text formats; {kind} is one file: > {example}")
        if sys.stdout.isatty():
            raise click.UsageError(f"{kind} is binary: redirect it to a file, e.g. > {example}")
    if fmt == "parquet":
        require_extra("pyarrow", "--format parquet", "parquet")
    with open_archive(db_path, must_exist=True) as archive:
        records = archive.records(all_versions=all_versions, url_prefix=url_prefix, since=since, until=until,
                                  language=language, min_words=min_words)
        if dedupe:
            copies = duplicate_pages(archive)
            records = (record for record in records if record["page_id"] not in copies)
        if fmt == "warc":
            write_warc(records, sys.stdout.buffer, archive.raw_html)
        elif fmt == "parquet":
            write_parquet(records, sys.stdout.buffer, markdown=markdown)
        elif output_dir is None:
            write_records(records, sys.stdout, fmt, markdown=markdown)
        else:
            written = _export_files(records, output_dir, fmt, markdown=markdown, versioned=all_versions)
            click.echo(f"{count(written, 'file')} written to {output_dir}", err=True)


def _export_files(records: Iterator[dict[str, Any]], output_dir: Path, fmt: str, *, markdown: bool,
                  versioned: bool) -> int:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"cannot make {output_dir}: {error.strerror}") from None
    written = 0
    for record in records:
        path = output_dir / file_name(record, fmt, versioned=versioned)
        try:
            with path.open("w", encoding="utf-8", newline="") as out:
                write_records([record], out, fmt, markdown=markdown)
        except OSError as error:
            raise click.ClickException(f"cannot write {path}: {error.strerror}") from None
        written += 1
    return written


# ---- the whole archive -----------------------------------------------------------------


@click.command("ls")
@url_prefix_option
@click.option("--since", metavar="WHEN", callback=parse_when,
              help="Only pages with a version fetched at or after WHEN: 2026-01-31, an ISO 8601 time, or 7d.")
@click.option("--site", help="Only pages of this host (www. or not).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page.")
@db_option
def ls_command(url_prefix: str | None, since: datetime | None, site: str | None, as_json: bool,
               db_path: Path) -> None:
    """List archived pages: last changed, last checked, versions, site, URL and title."""
    with open_archive(db_path, must_exist=True) as archive:
        echo_rows(maintenance.pages(archive, url_prefix=url_prefix, since=since, site=site),
                  lambda row: f"{row['last_changed']}\t{row['last_checked']}\t{count(row['versions'], 'version')}\t"
                              f"{field(row['site'])}\t{field(row['url'])}\t{field(row['title'])}", as_json=as_json)


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@db_option
def stats_command(as_json: bool, db_path: Path) -> None:
    """Pages, versions, runs; the room the HTML, the texts and the search index take; pages by site."""
    with open_archive(db_path, must_exist=True) as archive:
        figures = maintenance.stats(archive)
    if as_json:
        click.echo(json_line(figures))
        return
    click.echo(f"pages\t{figures['pages']}\nversions\t{figures['versions']}\nruns\t{figures['runs']}")
    click.echo(f"html\t{size(figures['html_stored_bytes'])} stored ({size(figures['html_bytes'])} as fetched)")
    click.echo(f"text\t{size(figures['text_bytes'])}\nsearch index\t{size(figures['index_bytes'])}")
    click.echo(f"file\t{size(figures['file_bytes'])} ({size(figures['free_bytes'])} free)")
    for site, counts in figures["sites"].items():
        click.echo(f"site\t{field(site)}\t{count(counts['pages'], 'page')}\t"
                   f"{count(counts['versions'], 'version')}")


@click.command("failures")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many recent runs to look at.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per failure.")
@db_option
def failures_command(runs: int, as_json: bool, db_path: Path) -> None:
    """What failed in the most recent runs, and why."""
    with open_archive(db_path, must_exist=True) as archive:
        echo_rows(archive.failures(runs=runs),
                  lambda row: f"run {row['run_id']}\t{row['at']}\t{field(row['reason'])}\t{field(row['url'])}\t"
                              f"{field(row['error'])}", as_json=as_json)
