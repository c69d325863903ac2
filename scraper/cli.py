"""The `scraper` command: a thin layer over the library. The only module that prints
and chooses exit codes: 0 all went well, 1 something failed, 2 usage error, 130 interrupted.
Data goes to stdout; progress, summaries and errors to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import json
import os
import re
import signal
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from archive import FORMATS, Archive, SaveResult, maintenance, write_records
from archive.diff import counted, render_word_diff, unified_diff, word_diff
from archive.export import file_name
from archive.similar import THRESHOLD, duplicate_pages, similar
from archive.warc import write_warc
from scraper import __version__, config
from scraper.cleaning_pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, CleaningPool
from scraper.encoding import decode_html, html_problem
from scraper.errors import NotHTML, NotifyError, ScraperError, SourceError, TooLarge
from scraper.feeds import parse_since
from scraper.fetcher import FetchSettings
from scraper.models import Page, strip_controls
from scraper.politeness import PoliteClient, Politeness
from scraper.run import Outcome, run, save_page
from scraper.sources import feed_urls, is_local, read_url_list, sitemap_urls, unique
from scraper.urls import canonical_url, shorten

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
FAILURES_LISTED = 20
FEW_PAGES = 8


class Interrupted(Exception):
    """SIGTERM, turned into an exception so a killed run closes its books like Ctrl-C."""


def _on_signal(signum: int, frame: object) -> NoReturn:
    """The first Ctrl-C or SIGTERM stops the command; later ones are ignored while it closes
    its books (which waits for no page), so none interrupts that with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted()


def _interrupted_message(command: str | None) -> str:
    """What Ctrl-C or SIGTERM leaves behind: the commands that save say what is kept."""
    if command in ("run", "archive"):
        return "Interrupted: everything archived so far is saved."
    if command == "reclean":
        return "Interrupted: every version re-cleaned so far is saved; run it again to go on."
    if command == "extract":
        return "Interrupted: finished inputs are kept; run it again to do the rest."
    return "Interrupted."


def _reader_gone() -> NoReturn:
    """The reader of stdout went away (`scraper export | head`): it had all it wanted, so
    stop quietly, successfully. Later writes (the final flush) go nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


class ScraperGroup(click.Group):
    """Turns library errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScraperError as error:
            raise click.ClickException(shorten(_safe(str(error)), 400)) from error
        except BrokenPipeError:  # before click takes it for a failure
            _reader_gone()
        except (KeyboardInterrupt, Interrupted):
            click.echo(_interrupted_message(ctx.invoked_subcommand), err=True)
            ctx.exit(130)


# ---- what the command prints -------------------------------------------------------------

_C1_AND_DEL = re.compile("[\x7f-\x9f]")


def _safe(text: object) -> str:
    """Text from a page (or a user) fit for a terminal: control characters dropped (C0 but
    newline and tab, DEL, C1), so that a title cannot clear the screen, colour it or retitle
    the window."""
    return strip_controls("" if text is None else str(text))


def _field(text: object) -> str:
    """One field of a tab-separated line: safe, and on one line."""
    return " ".join(_safe(text).split())


def _json(record: Any) -> str:
    """One JSON line. json.dumps escapes C0 controls; DEL and C1 (which terminals may obey) too."""
    line = json.dumps(record, ensure_ascii=False)
    return _C1_AND_DEL.sub(lambda match: f"\\u{ord(match.group()):04x}", line)


def _count(number: int, noun: str) -> str:
    """"1 word", "2 words"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _url_problem(text: str) -> str | None:
    """Why text is not an http(s) URL to fetch or to record a page under, or None if it is."""
    from urllib.parse import urlsplit

    if strip_controls(text) != text:
        return "it holds control characters"
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:  # "Invalid IPv6 URL"
        return f"its host is malformed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"it is not an http(s) URL (scheme {parts.scheme!r})" if parts.scheme else "it is not an http(s) URL"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        port = parts.netloc.rpartition(":")[2]
        return f"its port {port} is out of range (0-65535)" if port.isdigit() else f"its port {port!r} is not a number"
    if not parts.hostname:
        return "it has no host"
    return None


def _check_url(text: str, param_hint: str) -> None:
    if (problem := _url_problem(text)) is not None:
        raise click.BadParameter(f"{shorten(_safe(text))!r}: {problem}", param_hint=param_hint)


def _looks_like_url(text: str) -> bool:
    return bool(_SCHEME.match(text.strip()))


def db_option(func: F) -> F:
    return click.option(
        "--db", "db_path", envvar="SCRAPER_DB", default="scraper.db", show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The archive file (also the SCRAPER_DB environment variable).",
    )(func)


def clean_options(func: F) -> F:
    """--clean-timeout and --clean-memory: the bounds each page is cleaned under."""
    func = click.option("--clean-memory", type=click.IntRange(min=100), default=DEFAULT_MEMORY, show_default=True,
                        metavar="MiB", help="Memory cleaning one page may take; a page past it fails.")(func)
    return click.option("--clean-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
                        show_default=True, metavar="SECONDS",
                        help="Seconds cleaning one page may take; a page past it fails.")(func)


def fetch_options(func: F) -> F:
    defaults, polite = FetchSettings(), Politeness()
    options = [
        click.option("--timeout", type=click.FloatRange(min=0.1), default=defaults.read_timeout, show_default=True,
                     help="Seconds to wait for a connection or for data."),
        click.option("--deadline", type=click.FloatRange(min=0.1), default=defaults.deadline, show_default=True,
                     help="Seconds one URL may take in all, retries included."),
        click.option("--retries", type=click.IntRange(min=0), default=defaults.retries, show_default=True,
                     help="Further tries after timeouts, connection errors, 408, 429 and 5xx."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=defaults.max_bytes,
                     show_default=True, help="Largest page body accepted, after decompression."),
        click.option("--user-agent", envvar="SCRAPER_USER_AGENT", default=defaults.user_agent,
                     show_default=True, help="The User-Agent header; robots.txt rules are matched by its first word."),
        click.option("--ignore-robots", is_flag=True, help="Fetch pages that robots.txt disallows."),
        click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", callback=_headers,
                     help="A request header sent with every request (repeatable)."),
        click.option("--per-host", type=click.IntRange(1, 64), default=polite.per_host, show_default=True,
                     help="URLs of one host fetched at once."),
        click.option("--interval", type=click.FloatRange(min=0), default=polite.interval, show_default=True,
                     help="Seconds between requests to one host; a robots.txt Crawl-delay can raise it."),
        click.option("--block-private", is_flag=True,
                     help="Refuse loopback, private and link-local addresses, on every redirect (for services)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token


def _headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """--header 'Name: value' values as (name, value) pairs."""
    pairs = []
    for text in values:
        name, colon, value = text.partition(":")
        value = value.strip()
        if not colon or not _HEADER_NAME.fullmatch(name.strip()) or any(ord(c) < 32 and c != "\t" for c in value):
            raise click.BadParameter(f"{shorten(_safe(text))!r} is not a header like 'Accept-Language: de'")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def _client(*, timeout: float, deadline: float, retries: int, max_bytes: int, user_agent: str,
            ignore_robots: bool, block_private: bool, per_host: int, interval: float,
            headers: tuple[tuple[str, str], ...] = ()) -> PoliteClient:
    settings = FetchSettings(connect_timeout=min(timeout, FetchSettings.connect_timeout), read_timeout=timeout,
                             deadline=deadline,
                             retries=retries, max_bytes=max_bytes, user_agent=user_agent,
                             block_private=block_private, headers=headers)
    return PoliteClient(settings, Politeness(per_host=per_host, interval=interval, robots=not ignore_robots))


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """--since of export and run: a date, an ISO 8601 time (UTC if no zone), or 7d, 12h, 30m ago."""
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-01-31, 2026-01-31T12:00 or 7d") from None


@contextmanager
def _open_archive(path: Path, *, must_exist: bool = False) -> Iterator[Archive]:
    """The archive at path; must_exist: for the read commands, which open it read-only."""
    if must_exist and not path.exists():
        raise click.ClickException(f"no archive at {path} (set --db or SCRAPER_DB)")
    archive = Archive(path, readonly=must_exist)
    try:
        yield archive
    finally:
        archive.close()


@click.group(cls=ScraperGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="scraper")
@click.option("--config", "config_path", envvar="SCRAPER_CONFIG", metavar="PATH",
              help="Defaults from this TOML file (also SCRAPER_CONFIG; else scraper.toml beside the archive).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Fetch web articles, strip the site chrome, keep clean versioned copies in SQLite."""
    path, required = config.find(config_path)
    try:
        settings = config.load(path, required=required)
    except ScraperError as error:
        raise _UsageLine(_safe(str(error))) from None
    ctx.default_map = config.default_map(settings, dict(cli.commands))
    ctx.meta["config"] = (path, settings)


class _UsageLine(click.ClickException):
    """A usage error said in one line (no usage text): exit 2."""

    exit_code = 2


# ---- archive ---------------------------------------------------------------------------


def _outcome_line(result: SaveResult) -> str:
    state = "unchanged" if not result.changed else ("new" if result.version == 1 else "changed")
    words = _count(result.word_count, "word")
    return f"v{result.version}\t{state}\t{words}\t{_field(result.title)}\t{_field(result.url)}"


def _describe(outcome: Outcome) -> str:
    """"URL: what went wrong", fit for a message line."""
    assert outcome.error is not None
    return f"{shorten(_field(outcome.url))}: {shorten(_safe(outcome.error.message), 400)}"


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
    return _json(record)


def _read_local(target: str, max_bytes: int, missing: str) -> bytes:
    """The bytes of a saved page, or of stdin for -: at most max_bytes, and HTML.

    Anything else ends the command with one line: a file that is not there or is not a
    regular file (a directory, a FIFO, a device) as a usage error, at once; bytes that are
    too many, binary or not HTML as the error the fetcher raises for such a body.
    """
    name = "stdin" if target == "-" else shorten(_safe(target))
    if target == "-":
        content = sys.stdin.buffer.read(max_bytes + 1)
    else:
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        except OSError as exc:
            raise click.BadParameter(f"{name}: {missing} ({exc.strerror})", param_hint="FILE") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise click.BadParameter(f"{name} is a directory, not a saved page", param_hint="FILE")
            raise click.BadParameter(f"{name} is not a regular file (a FIFO, device or socket): "
                                     "save the page to a file, or give it on stdin as -", param_hint="FILE")
        with os.fdopen(fd, "rb") as handle:
            content = handle.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise TooLarge(name, f"more than {max_bytes} bytes (--max-bytes)")
    if (problem := html_problem(content)) is not None:
        raise NotHTML(name, problem)
    return content


def _local_page(target: str, url: str | None, max_bytes: int, missing: str) -> Page:
    content = _read_local(target, max_bytes, missing)
    address = url or ("stdin:" if target == "-" else Path(target).resolve().as_uri())
    html, encoding = decode_html(content)
    return Page(url=address, final_url=address, content=content, html=html, encoding=encoding)


@cli.command("archive")
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
        _check_url(url, "--url")
    urls = [target for target in targets if _looks_like_url(target)]
    files = [target for target in targets if not _looks_like_url(target)]
    for target in urls:
        _check_url(target, "URL")
    if url is not None and len(files) != 1:
        raise click.UsageError("--url names the address of exactly one file or - target")
    if "-" in files and url is None:
        raise click.UsageError("give the address of the HTML on stdin with --url")
    if fetch["block_private"] and (paths := [target for target in files if target != "-"]):
        raise click.UsageError(f"--block-private refuses local files ({shorten(_safe(paths[0]))}): "
                               "give URLs, or the HTML on stdin as -")
    failed = 0
    # A bad file fails before anything is saved.
    pages = [_local_page(target, url, fetch["max_bytes"], "neither a URL nor a readable file") for target in files]
    status = "interrupted"
    # A few pages need no more than one cleaning process (0.3 s to start).
    cleaning = CleaningPool(None if len(pages) + len(urls) > FEW_PAGES else 1, timeout=clean_timeout,
                            memory=clean_memory)
    with _open_archive(db_path) as archive, cleaning:
        run_id = archive.start_run("archive")
        try:
            saved = (save_page(archive, page, run_id=run_id, cleaning=cleaning) for page in pages)
            fetched = run(urls, archive, client=_client(**fetch), run_id=run_id, cleaning=cleaning)
            for outcome in itertools.chain(saved, fetched):
                if outcome.ok:
                    assert outcome.result is not None
                    click.echo(_outcome_json(outcome) if as_json else _outcome_line(outcome.result))
                else:
                    failed += 1
                    if as_json:
                        click.echo(_outcome_json(outcome))
                    click.echo(f"Error: {_describe(outcome)}", err=True)
            status = "finished"
        finally:
            archive.finish_run(run_id, status=status, urls=len(targets))
    sys.exit(1 if failed else 0)


# ---- run -------------------------------------------------------------------------------


@cli.command("run")
@click.argument("sources", nargs=-1, metavar="[LIST ...]")
@click.option("--feed", "feeds", multiple=True, metavar="URL|FILE",
              help="An RSS or Atom feed whose entries to archive (a URL or a local file).")
@click.option("--sitemap", "sitemaps", multiple=True, metavar="URL|FILE",
              help="A sitemap or sitemap index, gzipped or not, whose pages to archive (a URL or a local file).")
@click.option("--since", metavar="WHEN", callback=_since,
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
            _check_url(address, hint)
        elif not Path(address.removeprefix("file://")).is_file():
            raise click.BadParameter(f"{shorten(_safe(address))!r} is neither a URL nor a readable file",
                                     param_hint=hint)
    if notify:
        from scraper.notify import check_targets

        try:
            check_targets(notify)
        except NotifyError as error:
            raise click.BadParameter(_safe(str(error)), param_hint="--notify") from None
    report = _Report(log_format, quiet=quiet)
    saved: list[SaveResult] = []
    cleaning = CleaningPool(timeout=clean_timeout, memory=clean_memory)
    with _client(**fetch) as client, _open_archive(db_path) as archive, cleaning:
        urls = list(itertools.islice(unique(_gather(sources, feeds, sitemaps, client, since, report),
                                            key=canonical_url), max_urls))
        run_id = archive.start_run("run")
        status = "interrupted"
        try:
            try:
                outcomes = run(urls, archive, client=client, concurrency=concurrency, run_id=run_id,
                               cleaning=cleaning, ray=on_ray, address=ray_address or None)
            except ImportError:  # only Ray is imported there, and only for --ray
                raise click.UsageError("--ray needs Ray: pip install 'scraper[ray]'") from None
            with _progress(len(urls), enabled=report.progress) as advance:
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
        click.echo(_json(report.totals(run_id, len(urls))))
    sys.exit(1 if report.counts["failed"] else 0)


def _check_list(source: str) -> None:
    """A LIST argument must be - or a file (a FIFO too: `scraper run <(...)`)."""
    if source == "-":
        return
    name = shorten(_safe(source))
    if _looks_like_url(source):
        raise click.BadParameter(f"{name} is a URL, not a file: put URLs in a list file or on stdin (-), "
                                 "or give a feed or sitemap with --feed/--sitemap", param_hint="LIST")
    path = Path(source)
    if path.is_dir():
        raise click.BadParameter(f"{name} is a directory, not a URL list", param_hint="LIST")
    if not path.exists():
        raise click.BadParameter(f"{name}: no such file", param_hint="LIST")


def _gather(lists: tuple[str, ...], feeds: tuple[str, ...], sitemaps: tuple[str, ...], client: PoliteClient,
            since: datetime | None, report: _Report) -> Iterator[str]:
    """Every URL of every source; a source (or a list's line) that fails is reported and the rest go on."""
    for source in lists:
        try:
            yield from read_url_list(source, on_bad_line=report.source_failed)
        except SourceError as error:
            report.source_failed(error)
    for feed in feeds:
        try:
            yield from feed_urls(client, feed, since=since)
        except SourceError as error:
            report.source_failed(error)
    for sitemap in sitemaps:
        try:
            yield from sitemap_urls(client, sitemap, since=since)
        except SourceError as error:
            report.source_failed(error)


class _Report:
    """What a run tells its user on stderr: text for people, or JSON lines for machines.

    Text lines start with the time (UTC) when stderr is not a terminal: cron appends them to
    a log. Quiet, text shows only errors; JSON only failures and the summary.
    """

    def __init__(self, log_format: str, *, quiet: bool) -> None:
        self.json = log_format == "json"
        self.quiet = quiet
        terminal = sys.stderr.isatty()
        self.progress = not quiet and not self.json and terminal
        self.stamped = not terminal
        self.counts: Counter[str] = Counter()
        self.reasons = {"failed": Counter[str](), "skipped": Counter[str]()}
        self.failures: list[str] = []
        self.sources_failed = 0
        """Counted with the failed URLs, but reported as they happen and not in the archive."""

    def _event(self, event: str, **fields: Any) -> None:
        record = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event": event, **fields}
        click.echo(_json(record), err=True)

    def _line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ") if self.stamped else ""
        click.echo(stamp + text, err=True)

    def source_failed(self, error: ScraperError) -> None:
        self.counts["failed"] += 1
        self.sources_failed += 1
        self.reasons["failed"][error.reason] += 1
        if self.json:
            self._event("source_failed", reason=error.reason, error=str(error))
        else:
            self._line(f"Error: {shorten(_safe(error), 400)}")

    def notify_failed(self, error: NotifyError) -> None:
        """A notification that did not go: told, but the run has not failed."""
        if self.json:
            self._event("notify_failed", target=error.target, reason=error.reason, error=error.message)
        else:
            self._line(f"notification not sent: {shorten(_safe(error), 400)}")

    def outcome(self, outcome: Outcome) -> None:
        if outcome.result is not None:
            state = "new" if outcome.result.changed else "unchanged"
            self.counts[state] += 1
            if self.json and not self.quiet:
                self._event(state, url=outcome.url, version=outcome.result.version,
                            words=outcome.result.word_count, final_url=outcome.result.final_url)
            return
        assert outcome.error is not None
        state = "skipped" if outcome.skipped else "failed"
        self.counts[state] += 1
        self.reasons[state][outcome.error.reason] += 1
        if self.json:
            if state == "failed" or not self.quiet:
                self._event(state, url=outcome.url, reason=outcome.error.reason, error=outcome.describe_error())
        elif state == "failed" and len(self.failures) < FAILURES_LISTED:
            self.failures.append(_describe(outcome))

    def totals(self, run_id: int, urls: int) -> dict[str, Any]:
        counts = self.counts
        return {"run_id": run_id, "urls": urls, "fetched": counts["new"] + counts["unchanged"],
                "new_versions": counts["new"], "unchanged": counts["unchanged"], "skipped": counts["skipped"],
                "failed": counts["failed"], "failed_by_reason": dict(self.reasons["failed"]),
                "skipped_by_reason": dict(self.reasons["skipped"])}

    def summary(self, run_id: int, urls: int) -> None:
        totals = self.totals(run_id, urls)
        if self.json:
            self._event("summary", **totals)
            return
        for line in self.failures:
            self._line(f"failed: {line}")
        unlisted = self.counts["failed"] - self.sources_failed - len(self.failures)
        if unlisted > 0:
            self._line(f"... and {unlisted} more: see `scraper failures`")
        if not self.quiet:
            def why(state: str) -> str:
                reasons = ", ".join(f"{_safe(reason)} {n}" for reason, n in self.reasons[state].most_common())
                return f"{totals[state]} {state}" + (f" ({reasons})" if reasons else "")

            self._line(f"{_count(urls, 'URL')}: {totals['fetched']} fetched, "
                       f"{_count(totals['new_versions'], 'new version')}, {totals['unchanged']} unchanged, "
                       f"{why('skipped')}, {why('failed')}")


@contextmanager
def _progress(total: int, *, enabled: bool, doing: str = "archiving") -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(doing), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(doing, total=total)
        yield lambda: progress.advance(task)


# ---- reclean ---------------------------------------------------------------------------


@cli.command("reclean")
@click.option("--url-prefix", help="Only pages whose URL starts with this.")
@click.option("--since", metavar="WHEN", callback=_since,
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

    if not db_path.exists():
        raise click.ClickException(f"no archive at {db_path} (set --db or SCRAPER_DB)")
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    stamped = not sys.stderr.isatty()
    listed = 0

    def line(text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ") if stamped else ""
        click.echo(stamp + text, err=True)

    with _open_archive(db_path) as archive, CleaningPool(timeout=clean_timeout, memory=clean_memory) as cleaning:
        total = archive.count_to_reclean(CLEANER_ID, url_prefix=url_prefix, since=since, force=force)
        passed_over = archive.count_to_reclean(CLEANER_ID, url_prefix=url_prefix, since=since, force=True) - total
        try:
            with _progress(total, enabled=sys.stderr.isatty(), doing="re-cleaning") as advance:
                for done in reclean(archive, cleaning, cleaner=CLEANER_ID, url_prefix=url_prefix,
                                    since=since, force=force):
                    advance()
                    counts[done.state] += 1
                    if done.error is not None:
                        reasons[done.error.reason] += 1
                        if listed < FAILURES_LISTED:
                            listed += 1
                            line(f"failed: {shorten(_field(done.version.url))} v{done.version.version}: "
                                 f"{shorten(_safe(done.error.message), 400)}")
        finally:
            archive.tidy()
    if counts["failed"] > listed:
        line(f"... and {counts['failed'] - listed} more failed")
    versions = sum(counts.values())
    why = ", ".join(f"{_safe(reason)} {n}" for reason, n in reasons.most_common())
    line(f"{_count(versions, 'version')} re-cleaned by {CLEANER_ID}: {counts['changed']} changed, "
         f"{counts['unchanged']} unchanged, {counts['failed']} failed" + (f" ({why})" if why else "")
         + f"; {passed_over} made by it already")
    if as_json:
        click.echo(_json({"cleaner": CLEANER_ID, "versions": versions, "changed": counts["changed"],
                          "unchanged": counts["unchanged"], "failed": counts["failed"],
                          "failed_by_reason": dict(reasons), "passed_over": passed_over}))
    sys.exit(1 if counts["failed"] else 0)


# ---- extract ---------------------------------------------------------------------------


@cli.command("extract")
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
    for wanted, module, option in ((use_ray, "ray", "--ray"), (fmt == "parquet", "pyarrow", "--format parquet")):
        if wanted and importlib.util.find_spec(module) is None:
            raise click.UsageError(f"{option} needs {module}: pip install 'scraper[ray]'")
    try:
        paths = expand_inputs(inputs)
    except SourceError as error:
        raise click.BadParameter(_safe(error), param_hint="INPUT") from None
    if output is not None:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"{_safe(output)}: {exc.strerror}", param_hint="--output") from None
    settings = extract.Settings(fmt=fmt, markdown=markdown, max_bytes=max_bytes, clean_timeout=clean_timeout,
                                clean_memory=clean_memory)
    tally = extract.Tally(len(paths))
    stamped = not sys.stderr.isatty()
    started = last = time.monotonic()

    def line(text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ") if stamped else ""
        click.echo(stamp + text, err=True)

    def on_item(item: Any) -> None:
        nonlocal last
        tally.item(item)
        if not quiet and time.monotonic() - last >= 2:
            last = time.monotonic()
            line(tally.progress(last - started))

    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(_open_archive(db_path)) if into_archive else None
        run_id = archive.start_run("extract") if archive is not None else None
        status = "interrupted"
        try:
            for result in extract.extract(paths, settings, out_dir=output, archive=archive, jobs=jobs,
                                          use_ray=use_ray, run_id=run_id, on_item=on_item):
                tally.result(result)
                if result.state == "failed":
                    line(f"failed: {shorten(_safe(result.error), 400)}")
                elif not quiet:
                    line(f"{result.state}: {_safe(result.path)}: {result.extracted} of {result.pages} pages"
                         + (f" -> {_safe(result.shard)}" if result.shard else ""))
                    line(tally.progress(time.monotonic() - started))
            status = "finished"
        finally:
            if archive is not None and run_id is not None:
                archive.finish_run(run_id, status=status, urls=tally.pages)
    if dedupe and output is not None:
        names = extract.shard_names(paths)
        shards = [output / f"{name}{extract.SUFFIXES[fmt]}" for name in names]
        tally.duplicates = extract.dedupe_shards([shard for shard in shards if shard.is_file()])
    seconds = time.monotonic() - started
    if not quiet or tally.failed:
        line(tally.summary(seconds, into_archive=into_archive))
    if as_json:
        click.echo(_json(tally.as_dict(seconds)))
    sys.exit(1 if tally.failed else 0)


# ---- reading the archive ---------------------------------------------------------------


@cli.command("export")
@click.option("-f", "--format", "fmt", type=click.Choice([*FORMATS, "warc"]), default="jsonl",
              show_default=True, help="Output format.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest of each page.")
@click.option("--url-prefix", help="Only pages whose URL starts with this.")
@click.option("--since", metavar="WHEN", callback=_since,
              help="Only versions fetched at or after WHEN: 2026-01-31, an ISO 8601 time (UTC if no zone), or 7d.")
@click.option("--until", metavar="WHEN", callback=_since,
              help="Only versions fetched before WHEN (as --since).")
@click.option("--language", metavar="CODE", help="Only pages in this language: en also matches en-GB.")
@click.option("--min-words", type=click.IntRange(min=0), metavar="N", help="Only versions of at least N words.")
@click.option("--markdown", is_flag=True, help="jsonl and csv: the article as Markdown too (field markdown).")
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
    warc: WARC/1.1 (gzipped records) of the raw HTML as fetched, for web-archive tools.
    """
    if fmt == "warc" and output_dir is None and sys.stdout.isatty():
        raise click.UsageError("WARC is binary: redirect it to a file, e.g. > archive.warc.gz")
    if fmt == "warc" and output_dir is not None:
        raise click.UsageError("--output-dir writes the text formats; a WARC is one file: > archive.warc.gz")
    with _open_archive(db_path, must_exist=True) as archive:
        records = archive.records(all_versions=all_versions, url_prefix=url_prefix, since=since, until=until,
                                  language=language, min_words=min_words)
        if dedupe:
            copies = duplicate_pages(archive)
            records = (record for record in records if record["page_id"] not in copies)
        if fmt == "warc":
            write_warc(records, sys.stdout.buffer, archive.raw_html)
        elif output_dir is None:
            write_records(records, sys.stdout, fmt, markdown=markdown)
        else:
            written = _export_files(records, output_dir, fmt, markdown=markdown, versioned=all_versions)
            click.echo(f"{_count(written, 'file')} written to {output_dir}", err=True)


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


@cli.command("history")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@db_option
def history_command(url: str, as_json: bool, db_path: Path) -> None:
    """List every version of a page: number, time, words, words added and removed, title, and
    the cleaner that made its text ("unknown" for versions made before that was recorded)."""
    with _open_archive(db_path, must_exist=True) as archive:
        for row in archive.history(url):
            if as_json:
                click.echo(_json(row))
            else:
                changes = f"+{row['words_added'] or 0} -{row['words_removed'] or 0}"
                click.echo(f"v{row['version']}\t{row['fetched_at']}\t{_count(row['word_count'], 'word')}\t{changes}\t"
                           f"{_field(row['title'])}\t{_field(row['cleaner'] or 'unknown')}")


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per setting.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Show the settings in effect, and where each comes from: the environment, the config
    file or the built-in default (an option on a command's line beats them all)."""
    path, settings = ctx.find_root().meta["config"]
    builtin: dict[str, Any] = {}
    for name, key in config.KEYS.items():
        for command in cli.commands.values():
            found = [param for param in command.params if param.name == key.param]
            if found:
                param = found[0]
                several = getattr(param, "multiple", False) or param.nargs == -1
                builtin[name] = [] if several else param.default
                break
    click.echo(f"# config file: {path if path is not None and path.exists() else 'none'}", err=True)
    for name, value, source in config.effective(settings, path, builtin):
        if as_json:
            click.echo(_json({"key": name, "value": value, "source": source}))
        else:
            click.echo(f"{name} = {_safe(json.dumps(value, ensure_ascii=False))}\t# {_safe(source)}")


# ---- looking after the archive: ls, stats, rm, prune ------------------------------------


def _size(number: int) -> str:
    """Bytes for people: 512 B, 3.4 MB."""
    value = float(number)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return maintenance.parse_age(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@cli.command("ls")
@click.option("--url-prefix", help="Only pages whose URL starts with this.")
@click.option("--since", metavar="WHEN", callback=_since,
              help="Only pages with a version fetched at or after WHEN: 2026-01-31, an ISO 8601 time, or 7d.")
@click.option("--site", help="Only pages of this host (www. or not).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page.")
@db_option
def ls_command(url_prefix: str | None, since: datetime | None, site: str | None, as_json: bool,
               db_path: Path) -> None:
    """List archived pages: last changed, last checked, versions, site, URL and title."""
    with _open_archive(db_path, must_exist=True) as archive:
        for row in maintenance.pages(archive, url_prefix=url_prefix, since=since, site=site):
            if as_json:
                click.echo(_json(row))
            else:
                click.echo(f"{row['last_changed']}\t{row['last_checked']}\t{_count(row['versions'], 'version')}\t"
                           f"{_field(row['site'])}\t{_field(row['url'])}\t{_field(row['title'])}")


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@db_option
def stats_command(as_json: bool, db_path: Path) -> None:
    """Pages, versions, runs; the room the HTML, the texts and the search index take; pages by site."""
    with _open_archive(db_path, must_exist=True) as archive:
        figures = maintenance.stats(archive)
    if as_json:
        click.echo(_json(figures))
        return
    click.echo(f"pages\t{figures['pages']}\nversions\t{figures['versions']}\nruns\t{figures['runs']}")
    click.echo(f"html\t{_size(figures['html_stored_bytes'])} stored ({_size(figures['html_bytes'])} as fetched)")
    click.echo(f"text\t{_size(figures['text_bytes'])}\nsearch index\t{_size(figures['index_bytes'])}")
    click.echo(f"file\t{_size(figures['file_bytes'])} ({_size(figures['free_bytes'])} free)")
    for site, counts in figures["sites"].items():
        click.echo(f"site\t{_field(site)}\t{_count(counts['pages'], 'page')}\t"
                   f"{_count(counts['versions'], 'version')}")


def _report_removed(archive: Archive, removed: maintenance.Removed, *, dry_run: bool,
                    vacuum: bool, as_json: bool) -> None:
    """What rm or prune took away, on stderr (and as JSON on stdout), with VACUUM advice."""
    verb = "would free" if dry_run else "freed"
    if not dry_run:
        archive.tidy()  # gives free pages back where the file was made with auto_vacuum
        if vacuum:
            maintenance.vacuum(archive)
    click.echo(f"{_count(removed.pages, 'page')}, {_count(removed.versions, 'version')}, "
               f"{_count(removed.blobs, 'stored HTML')} {'would go' if dry_run else 'deleted'}: "
               f"{verb} {_size(removed.bytes)} of data", err=True)
    room = os.path.getsize(archive.path) - maintenance.file_size(archive)
    if not dry_run and not vacuum and removed.bytes and room > 0:
        click.echo(f"The file keeps {_size(room)} of free room for new pages; to give it back, "
                   "run `VACUUM` (or this command again with --vacuum): it rewrites the file.", err=True)
    if as_json:
        click.echo(_json({**dataclasses.asdict(removed), "dry_run": dry_run,
                          "file_bytes": os.path.getsize(archive.path)}))


@cli.command("rm")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be deleted, and delete nothing.")
@click.option("--vacuum", is_flag=True, help="Then rewrite the file to give the room back (SQLite VACUUM).")
@click.option("--json", "as_json", is_flag=True, help="What was deleted, as JSON on stdout.")
@db_option
def rm_command(urls: tuple[str, ...], dry_run: bool, vacuum: bool, as_json: bool, db_path: Path) -> None:
    """Delete pages with all their versions, their stored HTML that nothing else uses, and
    their search and near-duplicate entries. Each page goes in one transaction: an
    interrupted rm leaves every page whole or gone. Any URL not archived: nothing deleted, exit 1."""
    if not db_path.exists():
        raise click.ClickException(f"no archive at {db_path} (set --db or SCRAPER_DB)")
    with _open_archive(db_path) as archive:
        removed = maintenance.remove(archive, list(urls), dry_run=dry_run)
        for url in removed.urls:
            click.echo(f"{'would delete' if dry_run else 'deleted'}\t{_field(url)}", err=True)
        _report_removed(archive, removed, dry_run=dry_run, vacuum=vacuum, as_json=as_json)


@cli.command("prune")
@click.option("--keep", type=click.IntRange(min=1), metavar="N", help="Keep the N newest versions of each page.")
@click.option("--older-than", metavar="AGE", callback=_older_than,
              help="Delete versions fetched before AGE ago: 30d, 2w, 6m (months), 1y, or a date.")
@click.option("--url-prefix", help="Only pages whose URL starts with this.")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be deleted, and delete nothing.")
@click.option("--vacuum", is_flag=True, help="Then rewrite the file to give the room back (SQLite VACUUM).")
@click.option("--json", "as_json", is_flag=True, help="What was deleted, as JSON on stdout.")
@db_option
def prune_command(keep: int | None, older_than: datetime | None, url_prefix: str | None, dry_run: bool,
                  vacuum: bool, as_json: bool, db_path: Path) -> None:
    """Delete old versions, never the latest of a page: those past the --keep newest, or
    fetched before --older-than (given both, only versions that are both), with their stored
    HTML that nothing else uses and their search and near-duplicate entries. Each page is
    pruned in one transaction: an interrupted prune leaves every page whole."""
    if keep is None and older_than is None:
        raise click.UsageError("say which versions to delete: --keep N, --older-than AGE, or both")
    if not db_path.exists():
        raise click.ClickException(f"no archive at {db_path} (set --db or SCRAPER_DB)")
    with _open_archive(db_path) as archive:
        removed = maintenance.prune(archive, keep=keep, older_than=older_than, url_prefix=url_prefix,
                                    dry_run=dry_run)
        if dry_run:
            for url in removed.urls:
                click.echo(f"would prune\t{_field(url)}", err=True)
        _report_removed(archive, removed, dry_run=dry_run, vacuum=vacuum, as_json=as_json)


@cli.command("diff")
@click.argument("url")
@click.option("--from", "older", type=click.IntRange(min=1),
              help="Version to compare from (default: the one before --to).")
@click.option("--to", "newer", type=click.IntRange(min=1), help="Version to compare to (default: the latest).")
@click.option("-w", "--words", is_flag=True, help="Word by word: [-removed-] {+added+}, instead of a unified diff.")
@click.option("--json", "as_json", is_flag=True, help="The changes as JSON: runs of equal, deleted and inserted text.")
@db_option
def diff_command(url: str, older: int | None, newer: int | None, words: bool, as_json: bool, db_path: Path) -> None:
    """Show what changed in a page's text between two versions (by default the last two)."""
    with _open_archive(db_path, must_exist=True) as archive:
        after = archive.version(url, newer)
        if older is None:
            if after["version"] == 1:
                raise click.ClickException(f"{shorten(_safe(url))} has one version only: nothing to compare")
            older = after["version"] - 1
        before = archive.version(url, older)
    changes = word_diff(before["text"], after["text"])
    added, removed = counted(changes)
    if as_json:
        click.echo(_json({
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
        click.echo(_safe(render_word_diff(changes)), nl=False)
    else:
        labels = [f"v{row['version']} {row['fetched_at']}" for row in (before, after)]
        for line in unified_diff(before["text"], after["text"], from_label=labels[0], to_label=labels[1]).splitlines():
            line = _safe(line)
            color = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
            click.echo(click.style(line, fg=color) if color else line)
    noun = "word" if added + removed == 1 else "words"
    click.echo(f"v{before['version']} -> v{after['version']}: +{added} -{removed} {noun}", err=True)


@cli.command("search")
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
    with _open_archive(db_path, must_exist=True) as archive:
        results = archive.search(query, limit=limit, all_versions=all_versions, syntax=syntax)
    for row in results:
        if as_json:
            click.echo(_json(row))
        else:
            click.echo(f"{_field(row['url'])}\tv{row['version']}\t{_field(row['title'])}")
            click.echo("    " + _field(row["snippet"]))
    if not results:
        click.echo(f"No match for {shorten(_field(query))}.", err=True)
        sys.exit(1)


def _phrases(words: tuple[str, ...]) -> str:
    """The words as the archive's plain query: an argument holding spaces (the shell's quotes
    kept it whole) becomes a "quoted phrase", unless it has quotes of its own."""
    return " ".join(f'"{word}"' if len(word.split()) > 1 and '"' not in word else word for word in words)


@cli.command("similar")
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
    with _open_archive(db_path, must_exist=True) as archive:
        matches = similar(archive, url, threshold=threshold, limit=limit)
    for match in matches:
        if as_json:
            click.echo(_json(dataclasses.asdict(match)))
        else:
            click.echo(f"{match.similarity:.2f}\t{_field(match.url)}\t{_field(match.title)}")


@cli.command("show")
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
    with _open_archive(db_path, must_exist=True) as archive:
        row = archive.version(url, number)
        if html:
            sys.stdout.buffer.write(archive.raw_html(row["html_sha256"]))
        elif as_json:
            row.pop("headers", None)
            click.echo(_json(row))
        else:
            click.echo(_safe(row["markdown"] if markdown else row["text"]))


@cli.command("failures")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many recent runs to look at.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per failure.")
@db_option
def failures_command(runs: int, as_json: bool, db_path: Path) -> None:
    """What failed in the most recent runs, and why."""
    with _open_archive(db_path, must_exist=True) as archive:
        for row in archive.failures(runs=runs):
            if as_json:
                click.echo(_json(row))
            else:
                click.echo(f"run {row['run_id']}\t{row['at']}\t{_field(row['reason'])}\t{_field(row['url'])}\t"
                           f"{_field(row['error'])}")


# ---- serve -----------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but a loopback one needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free one, printed at start).")
@click.option("--token", envvar="SCRAPER_TOKEN",
              help="Secret every request must carry (?token=, then a cookie; or Authorization: Bearer). "
                   "Also SCRAPER_TOKEN.")
@db_option
def serve_command(host: str, port: int, token: str | None, db_path: Path) -> None:
    """Browse the archive in a web browser: pages, search, versions, diffs, runs, failures.

    Every view is JSON too (a .json suffix or Accept: application/json); /changes.atom is a
    feed of changes. The archive is opened read-only: serve it beside the cron job's runs.
    """
    from archive.web import Web, bind, is_loopback, serve

    if not token and not is_loopback(host):
        click.echo(f"Error: serving on {_safe(host)} needs --token (or SCRAPER_TOKEN): anyone who can reach "
                   "it could read the archive", err=True)
        sys.exit(2)
    if not db_path.exists():
        raise click.ClickException(f"no archive at {db_path} (set --db or SCRAPER_DB)")
    with Web(db_path, token=token) as web:  # opened read-only now: a file that is no archive is told at once
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {_safe(host)} port {port}: {exc.strerror or exc}") from None
        address, bound = sock.getsockname()[:2]
        shown = f"[{address}]" if ":" in address else address
        click.echo(f"Serving {_safe(db_path)} (read-only) at http://{shown}:{bound}/ - Ctrl-C to stop", err=True)
        serve(web, sock)


# ---- clean -----------------------------------------------------------------------------


@cli.command("clean")
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
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", callback=_headers,
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
        _check_url(url, "--url")
    single = len(inputs) == 1 and input_dir is None
    settings = FetchSettings(max_bytes=max_bytes, user_agent=user_agent, headers=headers)
    failed = 0
    with CleaningPool(1, timeout=clean_timeout, memory=clean_memory) as cleaning, \
            PoliteClient(settings, Politeness()) as client:
        for number, source in enumerate(inputs):
            try:
                if _looks_like_url(source):
                    _check_url(source, "URL")
                    page = client.fetch(source)
                    address: str | None = page.final_url
                else:
                    page, address = _local_page(source, url, max_bytes, "not a readable file"), url
                article = cleaning.clean(page.html, address)
            except (click.BadParameter, ScraperError) as error:
                if single:
                    raise
                message = error.format_message() if isinstance(error, click.ClickException) else str(error)
                click.echo(f"{shorten(_safe(source))}: {shorten(_safe(message), 400)}", err=True)
                failed += 1
                continue
            if fmt == "json":
                text = _json({"url": address, **article.to_dict()})
            else:
                text = _safe(article.markdown if fmt == "md" else article.text)
            if output_dir is not None:
                _write_cleaned(output_dir, _cleaned_name(source, input_dir, fmt), text)
            else:
                if number and fmt != "json":
                    click.echo("\f")
                click.echo(text)
    if failed:
        click.echo(f"{failed} of {_count(len(inputs), 'page')} failed", err=True)
        sys.exit(1)


def _cleaned_name(source: str, input_dir: Path | None, fmt: str) -> Path:
    """Where --output-dir puts the article of source: a file's own name (its path under
    --input-dir) with the format's extension; for a URL, a name made from it; stdin.txt for -."""
    if _looks_like_url(source):
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


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as a shell leaves it for a background job
            signal.signal(signum, _on_signal)
    try:
        cli.main(prog_name="scraper")
    except BrokenPipeError:
        _reader_gone()


if __name__ == "__main__":
    main()
