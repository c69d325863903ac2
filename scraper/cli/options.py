"""What several commands take: the archive (--db) and how it is opened, the fetching and
cleaning options, --header, --since and --url-prefix, and the check of a URL given on the
command line."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from archive import Archive
from scraper.cleaning_pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT
from scraper.cli.output import safe
from scraper.feeds import parse_since
from scraper.fetcher import FetchSettings
from scraper.politeness import PoliteClient, Politeness
from scraper.urls import shorten, url_problem

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db", "db_path", envvar="SCRAPER_DB", default="scraper.db", show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The archive file (also the SCRAPER_DB environment variable).",
    )(func)


def url_prefix_option(func: F) -> F:
    return click.option("--url-prefix", help="Only pages whose URL starts with this.")(func)


def require_extra(module: str, option: str, extra: str) -> None:
    """A usage error in one line unless module, which option needs, can be imported."""
    if importlib.util.find_spec(module) is None:
        raise click.UsageError(f"{option} needs {module}: pip install 'scraper[{extra}]'")


def require_archive(path: Path) -> None:
    """For the commands that work on an archive made before: one line if there is none."""
    if not path.exists():
        raise click.ClickException(f"no archive at {path} (set --db or SCRAPER_DB)")


@contextmanager
def open_archive(path: Path, *, must_exist: bool = False, write: bool = False) -> Iterator[Archive]:
    """The archive at path, made if there is none. must_exist: one made before, opened read-only
    as the read commands want, unless write (for those that delete or re-clean)."""
    if must_exist:
        require_archive(path)
    archive = Archive(path, readonly=must_exist and not write)
    try:
        yield archive
    finally:
        archive.close()


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
        click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", callback=parse_headers,
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


def polite_client(*, timeout: float, deadline: float, retries: int, max_bytes: int, user_agent: str,
                  ignore_robots: bool, block_private: bool, per_host: int, interval: float,
                  headers: tuple[tuple[str, str], ...] = ()) -> PoliteClient:
    """The client the fetch options describe."""
    settings = FetchSettings(connect_timeout=min(timeout, FetchSettings.connect_timeout), read_timeout=timeout,
                             deadline=deadline,
                             retries=retries, max_bytes=max_bytes, user_agent=user_agent,
                             block_private=block_private, headers=headers)
    return PoliteClient(settings, Politeness(per_host=per_host, interval=interval, robots=not ignore_robots))


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token


def parse_headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """--header 'Name: value' values as (name, value) pairs."""
    pairs = []
    for text in values:
        name, colon, value = text.partition(":")
        value = value.strip()
        if not colon or not _HEADER_NAME.fullmatch(name.strip()) or any(ord(c) < 32 and c != "\t" for c in value):
            raise click.BadParameter(f"{shorten(safe(text))!r} is not a header like 'Accept-Language: de'")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def parse_when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """--since (and --until): a date, an ISO 8601 time (UTC if no zone), or 7d, 12h, 30m ago."""
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-01-31, 2026-01-31T12:00 or 7d") from None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def looks_like_url(text: str) -> bool:
    return bool(_SCHEME.match(text.strip()))


def check_url(text: str, param_hint: str) -> None:
    """A URL to fetch, or to record a page under, must be one the fetcher would fetch: else a
    usage error, before anything is done."""
    if (problem := url_problem(text)) is not None:
        raise click.BadParameter(f"{shorten(safe(text))!r}: {problem}", param_hint=param_hint)
