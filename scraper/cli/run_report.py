"""What a run (and a re-clean) tells its user on stderr while it works and at its end: a
progress bar on a terminal, failures, a summary; lines for people or JSON for machines."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from scraper.cli.output import count, field, json_line, log_lines, message, reasons
from scraper.errors import NotifyError, ScraperError
from scraper.run import Outcome
from scraper.urls import shorten

FAILURES_LISTED = 20
"""Failures named at the end of a run; `scraper failures` lists them all."""


def describe(outcome: Outcome) -> str:
    """"URL: what went wrong", fit for a message line."""
    assert outcome.error is not None
    return f"{shorten(field(outcome.url))}: {message(outcome.error.message)}"


class Report:
    """What a run tells its user on stderr: text for people, or JSON lines for machines.

    Text lines start with the time (UTC) when stderr is not a terminal: cron appends them to
    a log. Quiet, text shows only errors; JSON only failures and the summary.
    """

    def __init__(self, log_format: str, *, quiet: bool) -> None:
        self.json = log_format == "json"
        self.quiet = quiet
        self.progress = not quiet and not self.json and sys.stderr.isatty()
        self._line = log_lines()
        self.counts: Counter[str] = Counter()
        self.reasons = {"failed": Counter[str](), "skipped": Counter[str]()}
        self.failures: list[str] = []
        self.sources_failed = 0
        """Counted with the failed URLs, but reported as they happen and not in the archive."""

    def _event(self, event: str, **fields: Any) -> None:
        record = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event": event, **fields}
        click.echo(json_line(record), err=True)

    def source_failed(self, error: ScraperError) -> None:
        self.counts["failed"] += 1
        self.sources_failed += 1
        self.reasons["failed"][error.reason] += 1
        if self.json:
            self._event("source_failed", reason=error.reason, error=str(error))
        else:
            self._line(f"Error: {message(error)}")

    def notify_failed(self, error: NotifyError) -> None:
        """A notification that did not go: told, but the run has not failed."""
        if self.json:
            self._event("notify_failed", target=error.target, reason=error.reason, error=error.message)
        else:
            self._line(f"notification not sent: {message(error)}")

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
            self.failures.append(describe(outcome))

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
                counted = reasons(self.reasons[state])
                return f"{totals[state]} {state}" + (f" ({counted})" if counted else "")

            self._line(f"{count(urls, 'URL')}: {totals['fetched']} fetched, "
                       f"{count(totals['new_versions'], 'new version')}, {totals['unchanged']} unchanged, "
                       f"{why('skipped')}, {why('failed')}")


@contextmanager
def progress(total: int, *, enabled: bool, doing: str = "archiving") -> Iterator[Callable[[], None]]:
    """A function to call as each item is done: it moves a bar on stderr, when enabled."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(doing), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(doing, total=total)
        yield lambda: bar.advance(task)
