"""The commands that put pages into the archive: archive (pages named on the line), run (the
URLs of lists, feeds and sitemaps: the cron job) and reclean (archived pages, with today's
cleaner)."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from archive import SaveResult
from scraper.cleaning_pool import CleaningPool
from scraper.cli.local_pages import local_page
from scraper.cli.options import (
    check_url,
    clean_options,
    db_option,
    fetch_options,
    looks_like_url,
    open_archive,
    parse_when,
    polite_client,
    require_extra,
    url_prefix_option,
)
from scraper.cli.output import count, field, json_line, log_lines, message, reasons, safe
from scraper.cli.run_report import FAILURES_LISTED, Report, describe, progress
from scraper.errors import NotifyError, SourceError
from scraper.politeness import PoliteClient
from scraper.run import Outcome, run, save_page
from scraper.sources import feed_urls, is_local, local_path, read_url_list, sitemap_urls, unique
from scraper.urls import canonical_url, shorten

FEW_PAGES = 8
"""Pages that one cleaning process cleans sooner than a pool starts."""


@click.command("archive")
@click.argument("targets", nargs=-1, required=True, metavar="URL|FILE|- ...")
@click.option("--url", help="The address of a page given as a file or on stdin.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page on stdout.")
@fetch_options
@clean_options
@db_option
def archive_command(targets: tuple[str, ...], url: str | None, as_json: bool, db_path: Path,
                    clean_timeout: float, clean_memory: int, **fetch: Any) -> None:
    """Fetch, clean and store a snapshot of each page.

    Each target is a URL, a saved HTML file, or - for HTML on stdin (give --url for its address).
    Prints one line per page: version, new/changed/unchanged, words, title, URL.
    With --block-private, files are refused: a service must not read its own machine's files.
    """
    if url is not None:
        check_url(url, "--url")
    urls = [target for target in targets if looks_like_url(target)]
    files = [target for target in targets if not looks_like_url(target)]
    for target in urls:
        check_url(target, "URL")
    if url is not None and len(files) != 1:
        raise click.UsageError("--url names the address of exactly one file or - target")
    if "-" in files and url is None:
        raise click.UsageError("give the address of the HTML on stdin with --url")
    if fetch["block_private"] and (paths := [target for target in files if target != "-"]):
        raise click.UsageError(f"--block-private refuses local files ({shorten(safe(paths[0]))}): "
                               "give URLs, or the HTML on stdin as -")
    failed = 0
    # A bad file fails before anything is saved.
    pages = [local_page(target, url, fetch["max_bytes"], "neither a URL nor a readable file") for target in files]
    status = "interrupted"
    # A few pages need no more than one cleaning process (0.3 s to start).
    cleaning = CleaningPool(None if len(pages) + len(urls) > FEW_PAGES else 1, timeout=clean_timeout,
                            memory=clean_memory)
    with open_archive(db_path) as archive, cleaning:
        run_id = archive.start_run("archive")
        try:
            saved = (save_page(archive, page, run_id=run_id, cleaning=cleaning) for page in pages)
            fetched = run(urls, archive, client=polite_client(**fetch), run_id=run_id, cleaning=cleaning)
            for outcome in itertools.chain(saved, fetched):
                if outcome.ok:
                    assert outcome.result is not None
                    click.echo(_outcome_json(outcome) if as_json else _outcome_line(outcome.result))
                else:
                    failed += 1
                    if as_json:
                        click.echo(_outcome_json(outcome))
                    click.echo(f"Error: {describe(outcome)}", err=True)
            status = "finished"
        finally:
            archive.finish_run(run_id, status=status, urls=len(targets))
    sys.exit(1 if failed else 0)


def _outcome_line(result: SaveResult) -> str:
    state = "unchanged" if not result.changed else ("new" if result.version == 1 else "changed")
    words = count(result.word_count, "word")
    return f"v{result.version}\t{state}\t{words}\t{field(result.title)}\t{field(result.url)}"


def _outcome_json(outcome: Outcome) -> str:
    if outcome.result is not None:
        result = outcome.result
        record: dict[str, Any] = {
            "url": result.url, "ok": True, "version": result.version, "changed": result.changed,
            "title": result.title, "word_count": result.word_count, "final_url": result.final_url,
        }
    else:
        assert outcome.error is not None
        error = outcome.error
        record = {"url": outcome.url, "ok": False, "reason": error.reason, "error": outcome.describe_error()}
    return json_line(record)


# ---- run -------------------------------------------------------------------------------


@click.command("run")
@click.argument("sources", nargs=-1, metavar="[LIST ...]")
@click.option("--feed", "feeds", multiple=True, metavar="URL|FILE",
              help="An RSS or Atom feed whose entries to archive (a URL or a local file).")
@click.option("--sitemap", "sitemaps", multiple=True, metavar="URL|FILE",
              help="A sitemap or sitemap index, gzipped or not, whose pages to archive (a URL or a local file).")
@click.option("--since", metavar="WHEN", callback=parse_when,
              help="Only feed and sitemap entries dated at or after WHEN: 2026-01-31, an ISO 8601 time, or 7d, 12h.")
@click.option("--max-urls", type=click.IntRange(min=1), help="Archive at most this many URLs.")
@click.option("-c", "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="URLs fetched at once, over all hosts.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to report on stderr: lines for people, or one JSON object per event.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print only errors (with --log-format json: failures and the summary).")
@click.option("--notify", "notify", multiple=True, envvar="SCRAPER_NOTIFY", metavar="URL",
              help="After the run, tell this Apprise URL (json://, ntfy://, mailto://, slack://, ...) which pages "
                   "changed or are new; repeatable (SCRAPER_NOTIFY: URLs separated by spaces).")
@click.option("--notify-each", is_flag=True, help="One notification per changed or new page instead of one in all.")
@click.option("--ray", "on_ray", is_flag=True,
              help="Fetch and clean on a Ray cluster (RAY_ADDRESS), or on a Ray instance started for the run.")
@click.option("--ray-address", metavar="ADDRESS", help="The Ray cluster to join (implies --ray).")
@fetch_options
@clean_options
@db_option
def run_command(sources: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...],
                since: datetime | None, max_urls: int | None, concurrency: int, as_json: bool, log_format: str,
                quiet: bool, notify: tuple[str, ...], notify_each: bool, on_ray: bool, ray_address: str | None,
                db_path: Path, clean_timeout: float, clean_memory: int, **fetch: Any) -> None:
    """Archive every URL of the LIST files, feeds and sitemaps: the job to run from cron.

    A LIST is a file of URLs, one a line (blank lines and # comments skipped), or - for
    stdin. Requests are polite by default: robots.txt obeyed, at most --per-host URLs of a
    host at once, --interval seconds apart. Pages archived before are fetched conditionally
    (ETag, Last-Modified). Runs may overlap on one archive: a URL another run is fetching is
    skipped. Exits 0 when every URL was archived or skipped on purpose, 1 when some failed.
    """
    if not (sources or feeds or sitemaps):
        raise click.UsageError("give a URL list, --feed or --sitemap")
    for source in sources:
        _check_list(source)
    for address, hint in [*((feed, "--feed") for feed in feeds), *((sitemap, "--sitemap") for sitemap in sitemaps)]:
        if not is_local(address):
            check_url(address, hint)
        elif not local_path(address).is_file():
            raise click.BadParameter(f"{shorten(safe(address))!r} is neither a URL nor a readable file",
                                     param_hint=hint)
    if on_ray:  # before anything is fetched or an archive made
        require_extra("ray", "--ray", "ray")
    if notify:
        from scraper.notify import check_targets

        try:
            check_targets(notify)
        except NotifyError as error:
            raise click.BadParameter(safe(str(error)), param_hint="--notify") from None
    report = Report(log_format, quiet=quiet)
    saved: list[SaveResult] = []
    cleaning = CleaningPool(timeout=clean_timeout, memory=clean_memory)
    with polite_client(**fetch) as client, open_archive(db_path) as archive, cleaning:
        urls = list(itertools.islice(unique(_gather(sources, feeds, sitemaps, client, since, report),
                                            key=canonical_url), max_urls))
        run_id = archive.start_run("run")
        status = "interrupted"
        try:
            outcomes = run(urls, archive, client=client, concurrency=concurrency, run_id=run_id,
                           cleaning=cleaning, ray=on_ray, address=ray_address or None)
            with progress(len(urls), enabled=report.progress) as advance:
                for outcome in outcomes:
                    advance()
                    report.outcome(outcome)
                    if outcome.result is not None and outcome.result.changed:
                        saved.append(outcome.result)
            status = "finished"
        finally:
            archive.finish_run(run_id, status=status, urls=len(urls))
        if notify and saved:
            from scraper.notify import notify_run

            for failure in notify_run(archive, saved, notify, each=notify_each, run_id=run_id):
                report.notify_failed(failure)
    report.summary(run_id, len(urls))
    if as_json:
        click.echo(json_line(report.totals(run_id, len(urls))))
    sys.exit(1 if report.counts["failed"] else 0)


def _check_list(source: str) -> None:
    """A LIST argument must be - or a file (a FIFO too: `scraper run <(...)`)."""
    if source == "-":
        return
    name = shorten(safe(source))
    if looks_like_url(source):
        raise click.BadParameter(f"{name} is a URL, not a file: put URLs in a list file or on stdin (-), "
                                 "or give a feed or sitemap with --feed/--sitemap", param_hint="LIST")
    path = Path(source)
    if path.is_dir():
        raise click.BadParameter(f"{name} is a directory, not a URL list", param_hint="LIST")
    if not path.exists():
        raise click.BadParameter(f"{name}: no such file", param_hint="LIST")


def _gather(lists: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...], client: PoliteClient,
            since: datetime | None, report: Report) -> Iterator[str]:
    """Every URL of every source; a source (or a list's line) that fails is reported and the rest go on."""
    readers: list[Callable[[], Iterable[str]]] = [
        *(partial(read_url_list, source, on_bad_line=report.source_failed) for source in lists),
        *(partial(feed_urls, client, feed, since=since) for feed in feeds),
        *(partial(sitemap_urls, client, sitemap, since=since) for sitemap in sitemaps),
    ]
    for read in readers:
        try:
            yield from read()
        except SourceError as error:
            report.source_failed(error)


# ---- reclean ---------------------------------------------------------------------------


@click.command("reclean")
@url_prefix_option
@click.option("--since", metavar="WHEN", callback=parse_when,
              help="Only versions fetched at or after WHEN: 2026-01-31, an ISO 8601 time (UTC if no zone), or 7d.")
@click.option("--force", is_flag=True, help="Also versions that today's cleaner made already.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@clean_options
@db_option
def reclean_command(url_prefix: str | None, since: datetime | None, force: bool, as_json: bool, db_path: Path,
                    clean_timeout: float, clean_memory: int) -> None:
    """Clean archived versions again from their stored HTML, with today's cleaner.

    A version whose text changes keeps its number: the page did not change, the cleaner did.
    Its earlier text goes to the table earlier_texts; search follows the new one, and the next
    run compares fetched pages with it. A version the cleaner now finds no article in, or
    fails on, keeps its text and counts as failed. Versions today's cleaner made already are
    passed over (unless --force): a stopped re-clean goes on where it stopped when run again.
    Exits 1 when some version failed.
    """
    from scraper.cleaner import CLEANER_ID  # the cleaner's id is in its module, which loads trafilatura
    from scraper.reclean import reclean

    counts: Counter[str] = Counter()
    failed_by_reason: Counter[str] = Counter()
    line = log_lines()
    listed = 0
    with (open_archive(db_path, must_exist=True, write=True) as archive,
          CleaningPool(timeout=clean_timeout, memory=clean_memory) as cleaning):
        total = archive.count_to_reclean(CLEANER_ID, url_prefix=url_prefix, since=since, force=force)
        passed_over = archive.count_to_reclean(CLEANER_ID, url_prefix=url_prefix, since=since, force=True) - total
        try:
            with progress(total, enabled=sys.stderr.isatty(), doing="re-cleaning") as advance:
                for done in reclean(archive, cleaning, cleaner=CLEANER_ID, url_prefix=url_prefix,
                                    since=since, force=force):
                    advance()
                    counts[done.state] += 1
                    if done.error is not None:
                        failed_by_reason[done.error.reason] += 1
                        if listed < FAILURES_LISTED:
                            listed += 1
                            line(f"failed: {shorten(field(done.version.url))} v{done.version.version}: "
                                 f"{message(done.error.message)}")
        finally:
            archive.tidy()
    if counts["failed"] > listed:
        line(f"... and {counts['failed'] - listed} more failed")
    versions = sum(counts.values())
    why = reasons(failed_by_reason)
    line(f"{count(versions, 'version')} re-cleaned by {CLEANER_ID}: {counts['changed']} changed, "
         f"{counts['unchanged']} unchanged, {counts['failed']} failed" + (f" ({why})" if why else "")
         + f"; {passed_over} made by it already")
    if as_json:
        click.echo(json_line({"cleaner": CLEANER_ID, "versions": versions, "changed": counts["changed"],
                              "unchanged": counts["unchanged"], "failed": counts["failed"],
                              "failed_by_reason": dict(failed_by_reason), "passed_over": passed_over}))
    sys.exit(1 if counts["failed"] else 0)
