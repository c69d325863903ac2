"""Telling people that pages changed: a message after a run to Apprise URLs (mail, Slack,
Discord, ntfy, webhooks, ...), listing the pages that changed and the new ones.

Best effort by design: the archive is saved before anything is sent, a target that is down,
slow or refuses the message comes back as a NotifyError (never raised), and the targets are
tried side by side under one deadline, so they hold up the end of a run by TIMEOUT seconds at
most. Apprise is imported only when there is something to send or a URL to check.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from archive.diff import render_word_diff, word_diff
from archive.store import Archive, SaveResult
from scraper.errors import NotifyError, ScraperError
from scraper.models import strip_controls
from scraper.urls import shorten

TIMEOUT = 10.0
"""Seconds all targets together may take; Apprise's own connect and read timeouts (4 s each)
usually end a dead or hanging target sooner."""
DIFF_LINES = 3
"""Changed paragraphs of each page's word diff shown in a message."""
LINE_CHARS = 200
LISTED = 50
"""Pages of each kind (changed, new) described in one message; the rest are counted."""


@dataclass(frozen=True)
class PageChange:
    """A page that a run changed (version > 1) or archived for the first time (version 1)."""

    url: str
    title: str | None
    version: int
    words_added: int
    words_removed: int
    diff: tuple[str, ...]
    """The first changed paragraphs of the word diff, [-removed-] {+added+}."""

    @property
    def new(self) -> bool:
        return self.version == 1


def check_targets(targets: Iterable[str]) -> None:
    """Raise NotifyError for a URL that Apprise does not know how to send to."""
    import apprise

    for target in targets:
        if apprise.Apprise.instantiate(target, asset=_asset()) is None:
            raise NotifyError(_masked(target), "not a notification URL that Apprise knows (see its wiki for the forms)")


def page_changes(archive: Archive, results: Iterable[SaveResult]) -> list[PageChange]:
    """What each new version of a run changed, read back from the archive."""
    changes = []
    for result in results:
        after = archive.version(result.url, result.version)
        lines: tuple[str, ...] = ()
        if result.version > 1:
            before = archive.version(result.url, result.version - 1)
            rendered = render_word_diff(word_diff(before["text"], after["text"])).splitlines()
            lines = tuple(shorten(" ".join(line.split()), LINE_CHARS) for line in rendered
                          if "[-" in line or "{+" in line)[:DIFF_LINES]
        changes.append(PageChange(url=result.url, title=after["title"], version=result.version,
                                  words_added=after["words_added"] or 0, words_removed=after["words_removed"] or 0,
                                  diff=lines))
    return changes


def messages(changes: Sequence[PageChange], *, each: bool = False) -> list[tuple[str, str]]:
    """(title, body) of the messages to send: one for all the changes, or one per page."""
    if not changes:
        return []
    if each:
        return [(_headline([change]), _describe(change)) for change in changes]
    changed = [change for change in changes if not change.new]
    new = [change for change in changes if change.new]
    parts = []
    for heading, group in (("Changed", changed), ("New", new)):
        if group:
            more = f"\n\n... and {len(group) - LISTED} more" if len(group) > LISTED else ""
            parts.append(f"{heading}:\n\n" + "\n\n".join(_describe(change) for change in group[:LISTED]) + more)
    return [(_headline(changes), "\n\n".join(parts))]


def _headline(changes: Sequence[PageChange]) -> str:
    if len(changes) == 1:
        change = changes[0]
        return f"{'New' if change.new else 'Changed'}: {_clean(change.title or change.url)}"
    changed = sum(not change.new for change in changes)
    new = len(changes) - changed
    return "scraper: " + ", ".join(f"{count} {noun}" for count, noun in
                                   ((changed, "pages changed" if changed != 1 else "page changed"),
                                    (new, "new pages" if new != 1 else "new page")) if count)


def _describe(change: PageChange) -> str:
    lines = [_clean(change.title or "(no title)"), _clean(change.url)]
    if change.new:
        lines.append(f"v1: {change.words_added} words")
    else:
        lines.append(f"v{change.version}: +{change.words_added} -{change.words_removed} words")
        lines.extend("  " + _clean(line) for line in change.diff)
    return "\n".join(lines)


def _clean(text: str) -> str:
    return " ".join(strip_controls(text).split())


def send(targets: Sequence[str], outgoing: Sequence[tuple[str, str]], *,
         timeout: float = TIMEOUT) -> list[NotifyError]:
    """Send each (title, body) to every target (Apprise tries the targets side by side); the
    targets that failed, or had not answered when timeout seconds were up, as errors. A target
    that failed is not tried again with the next message. Nothing is raised."""
    if not targets or not outgoing:
        return []
    import apprise

    failed: dict[str, NotifyError] = {}
    give_up = time.monotonic() + timeout

    def deliver() -> None:
        try:
            deliver_all()
        except Exception as exc:  # a plugin's bug must not end the run that has saved its pages
            for target in targets:
                failed.setdefault(target, NotifyError(_masked(target), shorten(f"{type(exc).__name__}: {exc}", 400)))

    def deliver_all() -> None:
        for title, body in outgoing:
            remaining = [target for target in targets if target not in failed]
            left = give_up - time.monotonic()
            if not remaining or left <= 0:
                return
            service = apprise.Apprise(asset=_asset())
            by_url = {}  # Apprise names each target in its results by its URL with secrets masked
            for target in remaining:
                plugin = apprise.Apprise.instantiate(target, asset=_asset())
                if plugin is None:
                    failed[target] = NotifyError(_masked(target), "not a notification URL that Apprise knows")
                    continue
                service.add(plugin)
                by_url[plugin.url(privacy=True)] = target  # type: ignore[no-untyped-call]
            if not by_url:
                return
            result = service.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT, timeout=left)
            for each in result.results:
                if each.status != apprise.AppriseResultStatus.SUCCESS:
                    target = by_url.get(each.url, each.url)
                    failed[target] = NotifyError(_masked(target), _why(each, timeout))

    # A thread of its own, so that even a target that ignores Apprise's timeouts costs no more.
    worker = threading.Thread(target=deliver, name="notify", daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    if worker.is_alive():  # left to itself, it ends with the process
        for target in targets:
            failed.setdefault(target, NotifyError(_masked(target), f"no answer within {timeout:g} s"))
    return [failed[target] for target in targets if target in failed]


def _why(result: Any, timeout: float) -> str:
    """What went wrong with one target, from what Apprise logged while sending to it."""
    import apprise

    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return f"no answer within {timeout:g} s"
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")] or [
        entry.message for entry in result.logs()]
    return shorten(" ".join(" ".join(said[-1:]).split()) or "Apprise could not send it", 400)


def notify_run(archive: Archive, results: Iterable[SaveResult], targets: Sequence[str], *, each: bool = False,
               run_id: int | None = None, timeout: float = TIMEOUT) -> list[NotifyError]:
    """Tell targets about a run's new versions (nothing when there are none); each failed target is
    recorded with the run's failures (`scraper failures` lists it) and returned."""
    outgoing = messages(page_changes(archive, results), each=each)
    failures = send(targets, outgoing, timeout=timeout)
    for failure in failures:
        with contextlib.suppress(ScraperError):  # the archive is busy or gone: still told to the caller
            archive.record_failure(failure.target, failure, run_id=run_id)
    return failures


def _asset() -> Any:
    """Apprise's settings: nothing kept on disk."""
    import apprise

    return apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)


@functools.lru_cache(maxsize=64)
def _masked(target: str) -> str:
    """The URL with its secrets (passwords, tokens) masked, fit for logs and the archive. Only
    the target's plugin knows which parts are secret, and Apprise masks through an instance
    of it alone: made once a target."""
    import apprise

    service = apprise.Apprise.instantiate(target, asset=_asset())
    if service is None:
        return shorten(target.split("://", 1)[0] + "://...")
    return str(service.url(privacy=True)).split("?")[0]  # type: ignore[no-untyped-call]
