"""extract: the HTML pages of WARC files cleaned into shards of text, or into the archive."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from scraper.cli.options import clean_options, db_option, open_archive, require_extra
from scraper.cli.output import json_line, log_lines, message, safe
from scraper.errors import SourceError
from scraper.fetcher import FetchSettings


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the shards (one per input), made if missing.")
@click.option("-f", "--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="Shards as gzipped JSON Lines or Parquet.")
@click.option("--markdown", is_flag=True, help="The text as Markdown.")
@click.option("--into-archive", is_flag=True, help="Save into the archive (--db) instead, dated by WARC-Date.")
@click.option("--dedupe", is_flag=True, help="Drop near-duplicate texts across the shards (the first one stays).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Cleaning processes (default: one per core).")
@click.option("--ray", "use_ray", is_flag=True,
              help="One Ray task per input: RAY_ADDRESS joins a cluster, else a local one runs for the command.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=FetchSettings.max_bytes, show_default=True,
              help="Largest payload, after decompression.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures.")
@clean_options
@db_option
def extract_command(inputs: tuple[str, ...], output: Path | None, fmt: str, markdown: bool, into_archive: bool,
                    dedupe: bool, jobs: int | None, use_ray: bool, max_bytes: int, as_json: bool, quiet: bool,
                    clean_timeout: float, clean_memory: int, db_path: Path) -> None:
    """Clean every HTML page of WARC files into shards of text (or into the archive).

    An INPUT is a .warc or .warc.gz file, a glob, or @FILE listing them one a line. Each input
    gets a shard in --output and a done marker: a rerun passes over finished inputs. Pages
    that are too large, not HTML, undecodable or past the cleaning limits are skipped and
    counted. Exits 0 when every input was read to its end, 1 when some input broke off.
    """
    from scraper import extract
    from scraper.warc_input import expand_inputs

    if into_archive == (output is not None):
        raise click.UsageError("give --output DIR, or --into-archive")
    if into_archive and (dedupe or markdown):
        raise click.UsageError("--dedupe and --markdown are for shards; the archive keeps both texts and all copies")
    if use_ray:
        require_extra("ray", "--ray", "ray")
    if fmt == "parquet":
        require_extra("pyarrow", "--format parquet", "parquet")
    try:
        paths = expand_inputs(inputs)
    except SourceError as error:
        raise click.BadParameter(safe(error), param_hint="INPUT") from None
    if output is not None:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"{safe(output)}: {exc.strerror}", param_hint="--output") from None
    # warcio logs a warning for each record it mends as it reads (a WARC-Target-URI with spaces
    # is read with %20): the page is extracted all the same, and a crawl can hold thousands.
    logging.getLogger("warcio").setLevel(logging.ERROR)
    settings = extract.Settings(fmt=fmt, markdown=markdown, max_bytes=max_bytes, clean_timeout=clean_timeout,
                                clean_memory=clean_memory)
    tally = extract.Tally(len(paths))
    line = log_lines()
    started = last = time.monotonic()

    def on_item(item: Any) -> None:
        nonlocal last
        tally.item(item)
        if not quiet and time.monotonic() - last >= 2:
            last = time.monotonic()
            line(tally.progress(last - started))

    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(open_archive(db_path)) if into_archive else None
        run_id = archive.start_run("extract") if archive is not None else None
        status = "interrupted"
        try:
            for result in extract.extract(paths, settings, out_dir=output, archive=archive, jobs=jobs,
                                          use_ray=use_ray, dedupe=dedupe, run_id=run_id, on_item=on_item):
                if isinstance(result, extract.Deduplicated):
                    tally.duplicates = result.dropped
                    continue
                tally.result(result)
                if result.state == "failed":
                    line(f"failed: {message(result.error)}")
                elif not quiet:
                    line(f"{result.state}: {safe(result.path)}: {result.extracted} of {result.pages} pages"
                         + (f" -> {safe(result.shard)}" if result.shard else ""))
                    line(tally.progress(time.monotonic() - started))
            status = "finished"
        finally:
            if archive is not None and run_id is not None:
                archive.finish_run(run_id, status=status, urls=tally.pages)
    seconds = time.monotonic() - started
    if not quiet or tally.failed:
        line(tally.summary(seconds, into_archive=into_archive))
    if as_json:
        click.echo(json_line(tally.as_dict(seconds)))
    sys.exit(1 if tally.failed else 0)
