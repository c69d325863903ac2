"""clean: the articles of saved pages or of URLs, printed or written to files; nothing is
archived."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archive.export import file_name
from scraper.cleaning_pool import CleaningPool
from scraper.cli.local_pages import local_page
from scraper.cli.options import check_url, clean_options, looks_like_url, parse_headers
from scraper.cli.output import count, json_line, message, safe
from scraper.errors import ScraperError
from scraper.fetcher import FetchSettings
from scraper.politeness import PoliteClient, Politeness
from scraper.urls import shorten


@click.command("clean")
@click.argument("sources", nargs=-1, metavar="FILE|-|URL ...")
@click.option("--input-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Clean every .html and .htm file under DIR.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write each article to a file in DIR named after its input, instead of stdout.")
@click.option("--url", help="The page's address, which helps resolve links and metadata (one FILE or - only).")
@click.option("-f", "--format", "fmt", type=click.Choice(["txt", "md", "json"]), default="txt",
              show_default=True, help="Plain text, Markdown, or JSON with the metadata.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=FetchSettings.max_bytes, show_default=True,
              help="Largest page read.")
@click.option("--user-agent", envvar="SCRAPER_USER_AGENT", default=FetchSettings.user_agent,
              help="The User-Agent header, for URLs.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", callback=parse_headers,
              help="A request header for URLs (repeatable).")
@clean_options
def clean_command(sources: tuple[str, ...], input_dir: Path | None, output_dir: Path | None, url: str | None,
                  fmt: str, as_json: bool, max_bytes: int, user_agent: str, headers: tuple[tuple[str, str], ...],
                  clean_timeout: float, clean_memory: int) -> None:
    """Clean saved HTML pages (- for HTML on stdin), or pages fetched from URLs, and print their
    articles. Stores nothing. Several inputs print one after another (txt and md separated by
    a form feed line, json one object a line); a failed input is named on stderr and exit is 1.
    """
    fmt = "json" if as_json else fmt
    inputs = list(sources)
    if input_dir is not None:
        inputs += sorted(str(path) for path in input_dir.rglob("*")
                         if path.suffix.lower() in (".html", ".htm") and path.is_file())
    if not inputs:
        raise click.UsageError("give a FILE, - or URL to clean, or --input-dir DIR")
    if url is not None:
        if len(inputs) > 1:
            raise click.UsageError("--url names one page: give a single FILE or -")
        check_url(url, "--url")
    single = len(inputs) == 1 and input_dir is None
    settings = FetchSettings(max_bytes=max_bytes, user_agent=user_agent, headers=headers)
    failed = 0
    with CleaningPool(1, timeout=clean_timeout, memory=clean_memory) as cleaning, \
            PoliteClient(settings, Politeness()) as client:
        for number, source in enumerate(inputs):
            try:
                if looks_like_url(source):
                    check_url(source, "URL")
                    page = client.fetch(source)
                    address: str | None = page.final_url
                else:
                    page, address = local_page(source, url, max_bytes, "not a readable file"), url
                article = cleaning.clean(page.html, address)
            except (click.BadParameter, ScraperError) as error:
                if single:
                    raise
                said = error.format_message() if isinstance(error, click.ClickException) else str(error)
                click.echo(f"{shorten(safe(source))}: {message(said)}", err=True)
                failed += 1
                continue
            if fmt == "json":
                text = json_line({"url": address, **article.to_dict()})
            else:
                text = safe(article.markdown if fmt == "md" else article.text)
            if output_dir is not None:
                _write_cleaned(output_dir, _cleaned_name(source, input_dir, fmt), text)
            else:
                if number and fmt != "json":
                    click.echo("\f")
                click.echo(text)
    if failed:
        click.echo(f"{failed} of {count(len(inputs), 'page')} failed", err=True)
        sys.exit(1)


def _cleaned_name(source: str, input_dir: Path | None, fmt: str) -> Path:
    """Where --output-dir puts the article of source: a file's own name (its path under
    --input-dir) with the format's extension; for a URL, a name made from it; stdin.txt for -."""
    if looks_like_url(source):
        return Path(file_name({"url": source}, "jsonl" if fmt == "json" else fmt))
    path = Path("stdin" if source == "-" else source)
    inside = input_dir is not None and path.is_relative_to(input_dir)
    path = path.relative_to(input_dir) if inside and input_dir is not None else Path(path.name)
    return path.with_suffix(".json" if fmt == "json" else f".{fmt}")


def _write_cleaned(output_dir: Path, name: Path, text: str) -> None:
    target = output_dir / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error.strerror}") from None
