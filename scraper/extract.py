"""WARC files -> clean-text corpora: `scraper extract`.

Each input is read in order (scraper.warc_input); each HTML page is cleaned in a
CleaningPool's processes, under its time and memory limits, several pages at once; what
comes back is written in the order of the records. A page that is no page to clean, or that
the cleaner cannot finish, is skipped and counted by its reason; it never stops the input.

Shards: one per input, `NAME.jsonl.gz` (one JSON object a line, gzipped) or `NAME.parquet`,
written to a temporary file in the output folder and renamed into place when the input is
read, then a done marker `NAME.done` (JSON: the input's size and time, the settings, the
counts). A rerun passes over the inputs whose marker matches and does the others again from
their start; a shard is replaced whole, so no record is ever written twice. An input that
breaks off (truncated, corrupt) keeps the records read before that in its shard, gets no
marker, and counts as failed.

Into the archive instead: each page is saved as a run saves a fetched page, dated by its
WARC-Date, one short transaction each. A capture dated no later than the page's last check
in the archive is passed over: it is there already (a rerun), or older than what the archive
holds (give WARCs oldest first).

Where the work runs: locally, one input after another, the pages of each cleaned in a pool of
processes over all cores; or with Ray, one task per input (the task is given the input's path,
reads it and writes its shard itself, so the files must be where every node sees them).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zlib_ng import gzip_ng

from archive.parquet import ParquetRecords
from scraper.cleaning_pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, CleaningPool, Job, clean_in_order
from scraper.errors import ArchiveError, OutputUnavailable, ScraperError
from scraper.fetcher import FetchSettings
from scraper.models import Article, Page
from scraper.warc_input import BrokenInput, Capture, Counts, Rejected, read_pages

if TYPE_CHECKING:
    from archive.store import Archive

FORMATS = ("jsonl", "parquet")
SUFFIXES = {"jsonl": ".jsonl.gz", "parquet": ".parquet"}
MARKER = ".done"
FIELDS = ("url", "warc_date", "warc_record_id", "title", "authors", "published", "modified", "language",
          "site_name", "description", "canonical_url", "image", "word_count", "cleaner", "text")
"""Fields of an output record, in order; text is Markdown with markdown=True."""


@dataclass(frozen=True)
class Settings:
    fmt: str = "jsonl"
    markdown: bool = False
    max_bytes: int = FetchSettings.max_bytes
    """Largest payload read, after decompression."""
    clean_timeout: float = DEFAULT_TIMEOUT
    clean_memory: int = DEFAULT_MEMORY
    """MiB"""


@dataclass
class InputResult:
    """What became of one input."""

    path: str
    shard: str | None = None
    """The shard's file name; None into the archive."""
    state: str = "done"
    """done; failed (it broke off: the records before are kept); passed (done by an earlier run)."""
    records: int = 0
    """WARC records read, of any type."""
    pages: int = 0
    """Records holding an HTTP response (or an HTML resource)."""
    extracted: int = 0
    """Pages written to the shard, or saved into the archive."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Pages skipped, by reason."""
    error: str | None = None
    new_versions: int = 0
    unchanged: int = 0
    """Into the archive: pages whose text was the latest version's, or not newer than its last check."""


Item = tuple[Capture, Article] | Rejected
"""A page cleaned, or a record that is no page to keep (with why)."""


def shard_names(paths: list[Path]) -> list[str]:
    """A shard name per input: its file name without .warc.gz; inputs of the same name in
    different folders get a hash of their path after it, the same on every run."""
    stems = [_stem(path) for path in paths]
    twice = {stem for stem, count in Counter(stems).items() if count > 1}
    return [f"{stem}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}" if stem in twice else stem
            for stem, path in zip(stems, paths, strict=True)]


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".warc", ".arc"):
        name = name.removesuffix(suffix)
    return name or "input"


def cleaned(path: Path, settings: Settings, cleaning: CleaningPool, *, counts: Counts | None = None,
            bodies: bool = True) -> Iterator[Item]:
    """The input's page records in order, each cleaned in `cleaning` or rejected with why.
    Raises BrokenInput where the input breaks off, after the pages before it. bodies=False: the
    captures come without their body and HTML (a shard needs neither), so that the pages
    waiting their turn hold little."""

    def jobs() -> Iterator[tuple[Capture | Rejected, Job]]:
        for page in read_pages(path, max_bytes=settings.max_bytes, counts=counts):
            if isinstance(page, Rejected):
                yield page, None
            else:
                yield (page if bodies else replace(page, content=b"", html="")), (page.html, page.url or None)

    for entry, outcome in clean_in_order(cleaning, jobs()):
        if isinstance(entry, Rejected):
            yield entry
        elif isinstance(outcome, ScraperError):
            yield Rejected.of(entry.url, entry.warc_date, entry.record_id, outcome)
        else:
            assert outcome is not None  # a capture always has a page to clean
            yield entry, outcome


def output_record(capture: Capture, article: Article, *, markdown: bool) -> dict[str, Any]:
    return {
        "url": capture.url, "warc_date": capture.warc_date, "warc_record_id": capture.record_id,
        "title": article.title, "authors": list(article.authors), "published": article.published,
        "modified": article.modified, "language": article.language, "site_name": article.site_name,
        "description": article.description, "canonical_url": article.canonical_url, "image": article.image,
        "word_count": article.word_count, "cleaner": article.cleaner,
        "text": article.markdown if markdown else article.text,
    }


# ---- shards ----------------------------------------------------------------------------


class _Jsonl:
    def __init__(self, path: Path) -> None:
        # zlib-ng: gzip as small as zlib's at the same level (within 1%), in a third of the time.
        self._file = gzip_ng.open(path, "wt", encoding="utf-8", compresslevel=6)  # type: ignore[no-untyped-call]

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


def _writer(path: Path, fmt: str) -> _Jsonl | ParquetRecords:
    return ParquetRecords(path, FIELDS) if fmt == "parquet" else _Jsonl(path)


def read_shard(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a shard, in order."""
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
        return
    with gzip_ng.open(path, "rt", encoding="utf-8") as lines:  # type: ignore[no-untyped-call]
        for line in lines:
            yield json.loads(line)


def _identity(path: Path, settings: Settings) -> dict[str, Any]:
    """What a done marker must match for its input to be passed over."""
    status = path.stat()
    return {"input": str(path.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns,
            "format": settings.fmt, "markdown": settings.markdown}


def finished(path: Path, out_dir: Path, name: str, settings: Settings) -> InputResult | None:
    """The result an earlier run recorded for this input, if it finished it with these settings."""
    marker = out_dir / f"{name}{MARKER}"
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("identity") != _identity(path, settings):
            return None
        if not (out_dir / f"{name}{SUFFIXES[settings.fmt]}").is_file():
            return None
        result = InputResult(**recorded["result"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    result.state = "passed"
    return result


def extract_to_shard(path: Path, out_dir: Path, name: str, settings: Settings, cleaning: CleaningPool, *,
                     on_item: Callable[[Item], None] | None = None) -> InputResult:
    """Extract one input into its shard in out_dir, unless an earlier run finished it."""
    if (earlier := finished(path, out_dir, name, settings)) is not None:
        return earlier
    shard = out_dir / f"{name}{SUFFIXES[settings.fmt]}"
    marker = out_dir / f"{name}{MARKER}"
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()  # of another version of the input, or other settings
    for stale in out_dir.glob(f".{glob.escape(name + SUFFIXES[settings.fmt])}.*.tmp"):  # left by a killed run
        with contextlib.suppress(OSError):
            stale.unlink()
    temporary = out_dir / f".{shard.name}.{uuid.uuid4().hex[:12]}.tmp"
    result = InputResult(str(path), shard=shard.name)
    skipped: Counter[str] = Counter()
    try:
        with contextlib.closing(_writer(temporary, settings.fmt)) as writer:  # closed on an interrupt too
            for item in _read_through(path, settings, cleaning, result, bodies=False):
                if isinstance(item, Rejected):
                    skipped[item.reason] += 1
                else:
                    writer.write(output_record(*item, markdown=settings.markdown))
                    result.extracted += 1
                if on_item is not None:
                    on_item(item)
        os.replace(temporary, shard)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    result.skipped = dict(skipped)
    if result.state == "done":
        _write_atomically(marker, json.dumps({"identity": _identity(path, settings), "result": asdict(result)},
                                             ensure_ascii=False, indent=1))
    return result


def _read_through(path: Path, settings: Settings, cleaning: CleaningPool, result: InputResult, *,
                  bodies: bool = True) -> Iterator[Item]:
    """The input's cleaned items, the records and pages read counted into result; an input that
    breaks off (truncated, unreadable) marks result failed, the items before the break kept."""
    counts = Counts()
    try:
        yield from cleaned(path, settings, cleaning, counts=counts, bodies=bodies)
    except BrokenInput as error:
        result.state, result.error = "failed", str(error)
    except OSError as error:
        result.state, result.error = "failed", f"{path}: {error.strerror or error}"
    finally:
        result.records, result.pages = counts.records, counts.pages


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ---- into the archive ------------------------------------------------------------------


def extract_into_archive(path: Path, archive: Archive, settings: Settings, cleaning: CleaningPool, *,
                         run_id: int | None = None,
                         on_item: Callable[[Item], None] | None = None) -> InputResult:
    """Save each page of one input into the archive, dated by its WARC-Date."""
    result = InputResult(str(path))
    for item in _read_through(path, settings, cleaning, result):
        save_item(archive, item, result, run_id=run_id)
        if on_item is not None:
            on_item(item)
    return result


def save_item(archive: Archive, item: Item, result: InputResult, *, run_id: int | None) -> None:
    """Save a cleaned page as a version dated by its WARC-Date (unless the archive checked the
    page at or after that date), or record why it was skipped; result counts it."""
    if isinstance(item, Rejected):
        result.skipped[item.reason] = result.skipped.get(item.reason, 0) + 1
        error = ScraperError(item.message)
        error.reason = item.reason
        with contextlib.suppress(ArchiveError):
            archive.record_failure(item.url or item.record_id, error, run_id=run_id)
        return
    capture, article = item
    try:
        captured = _parse_date(capture.warc_date)
    except ValueError:
        result.skipped["bad warc-date"] = result.skipped.get("bad warc-date", 0) + 1
        return
    if (checked := _last_checked(archive, capture.url)) is not None and captured <= checked:
        result.unchanged += 1
        return
    page = Page(url=capture.url, final_url=capture.url, content=capture.content, html=capture.html,
                status=capture.status, headers=capture.headers, encoding=capture.encoding, fetched_at=captured)
    saved = archive.save(page, article, run_id=run_id)
    result.extracted += 1
    if saved.changed:
        result.new_versions += 1
    else:
        result.unchanged += 1


def _parse_date(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError("a WARC-Date is in UTC, with a Z")
    return moment


def _last_checked(archive: Archive, url: str) -> datetime | None:
    from scraper.urls import canonical_url

    row = archive.db.execute("SELECT last_checked FROM pages WHERE url = ?", [canonical_url(url)]).fetchone()
    return None if row is None or not row[0] else datetime.fromisoformat(row[0])


# ---- near-duplicates -------------------------------------------------------------------


def dedupe_shards(shards: list[Path], *, threshold: float | None = None) -> int:
    """Drop from the shards every record whose text is a near-duplicate (MinHash of word
    5-grams, as the archive's `similar`) of a record kept before it, in the order of the
    shards and of their records; returns how many were dropped. A shard that loses records is
    rewritten (a temporary file renamed into place): running it again drops nothing more.
    The signatures of the records kept are held in memory (about 1 KB each)."""
    from archive.similar import THRESHOLD, _buckets, estimate, signature

    limit = THRESHOLD if threshold is None else threshold
    kept: list[bytes] = []
    buckets: dict[tuple[int, int], list[int]] = {}
    dropped = 0
    for shard in shards:
        keep: list[bool] = []
        for record in read_shard(shard):
            sig = signature(record.get("text") or "")
            if not sig:
                keep.append(True)
                continue
            bands = _buckets(sig)
            candidates = {index for band in bands for index in buckets.get(band, ())}
            if any(estimate(sig, kept[index]) >= limit for index in candidates):
                keep.append(False)
                continue
            keep.append(True)
            for band in bands:
                buckets.setdefault(band, []).append(len(kept))
            kept.append(sig)
        if all(keep):
            continue
        dropped += keep.count(False)
        temporary = shard.with_name(f".{shard.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with contextlib.closing(_writer(temporary, "parquet" if shard.name.endswith(".parquet") else "jsonl")
                                    ) as writer:
                for record, wanted in zip(read_shard(shard), keep, strict=True):
                    if wanted:
                        writer.write(record)
            os.replace(temporary, shard)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return dropped


# ---- Ray -------------------------------------------------------------------------------


def _task_to_shard(path: str, out_dir: str, name: str, settings: Settings) -> InputResult:
    """One Ray task: an input into its shard, cleaned in one process of the task's own."""
    with CleaningPool(1, timeout=settings.clean_timeout, memory=settings.clean_memory) as cleaning:
        return extract_to_shard(Path(path), Path(out_dir), name, settings, cleaning)


def _task_items(path: str, settings: Settings) -> Iterator[Any]:
    """One Ray task into the archive: batches of items, the input's result (its state and
    counts) last."""
    result = InputResult(path)
    batch: list[Item] = []
    with CleaningPool(1, timeout=settings.clean_timeout, memory=settings.clean_memory) as cleaning:
        for item in _read_through(Path(path), settings, cleaning, result):
            batch.append(item)
            if len(batch) >= 32:
                yield batch
                batch = []
    if batch:
        yield batch
    yield result


def ray_to_shards(ray: Any, paths: list[Path], out_dir: Path, names: list[str], settings: Settings
                  ) -> Iterator[InputResult]:
    """Each input as a Ray task; results as tasks finish. Inputs finished before are passed
    over here, without a task."""
    task = ray.remote(num_cpus=1, max_retries=1)(_task_to_shard)
    pending = {}
    for path, name in zip(paths, names, strict=True):
        if (earlier := finished(path, out_dir, name, settings)) is not None:
            yield earlier
            continue
        pending[task.remote(str(path.resolve()), str(out_dir.resolve()), name, settings)] = path
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            path = pending.pop(ref)
            try:
                yield ray.get(ref)
            except Exception as exc:  # the task's process or node died twice
                yield InputResult(str(path), state="failed",
                                  error=f"{path}: the Ray task failed ({type(exc).__name__})")


def ray_into_archive(ray: Any, paths: list[Path], archive: Archive, settings: Settings, *,
                     run_id: int | None = None, on_item: Callable[[Item], None] | None = None
                     ) -> Iterator[InputResult]:
    """Each input as a Ray task that streams its cleaned pages back; this process saves them,
    input by input in the order given (the tasks run ahead, a few batches each)."""
    task = ray.remote(num_cpus=1, max_retries=0, _generator_backpressure_num_objects=8)(_task_items)
    streams = [(path, task.remote(str(path.resolve()), settings)) for path in paths]
    for path, stream in streams:
        result = InputResult(str(path))
        try:
            for ref in stream:
                value = ray.get(ref)
                if isinstance(value, InputResult):
                    result.state, result.error = value.state, value.error
                    result.records, result.pages = value.records, value.pages
                    continue
                for item in value:
                    save_item(archive, item, result, run_id=run_id)
                    if on_item is not None:
                        on_item(item)
        except ArchiveError:
            raise
        except Exception as exc:
            result.state, result.error = "failed", f"{path}: the Ray task failed ({type(exc).__name__})"
        yield result


# ---- the whole job ---------------------------------------------------------------------


@dataclass(frozen=True)
class Deduplicated:
    """The end of a job into shards with dedupe: the near-duplicate records it dropped."""

    dropped: int


def extract(paths: list[Path], settings: Settings, *, out_dir: Path | None = None, archive: Archive | None = None,
            jobs: int | None = None, use_ray: bool = False, dedupe: bool = False, run_id: int | None = None,
            on_item: Callable[[Item], None] | None = None) -> Iterator[InputResult | Deduplicated]:
    """Extract every input into its shard in out_dir, or into the archive; yield each input's
    result as it is done. Locally, pages are cleaned in `jobs` processes (default: one per
    core); with use_ray, each input is a Ray task (on_item is then called only into the
    archive, as pages come back). With dedupe, the shards' near-duplicates are then dropped
    (see dedupe_shards), before the job lets go of out_dir, and a Deduplicated ends the job."""
    jobs = jobs or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            stack.enter_context(_writing_to(out_dir))
        yield from _extract(paths, settings, out_dir=out_dir, archive=archive, jobs=jobs, use_ray=use_ray,
                            run_id=run_id, on_item=on_item)
        if dedupe and out_dir is not None:
            shards = [out_dir / f"{name}{SUFFIXES[settings.fmt]}" for name in shard_names(paths)]
            yield Deduplicated(dedupe_shards([shard for shard in shards if shard.is_file()]))


@contextlib.contextmanager
def _writing_to(out_dir: Path) -> Iterator[None]:
    """out_dir for this job alone: a second job writing there would take the first one's
    unfinished shards for a killed run's and delete them. The folder itself is locked (flock:
    the kernel lets go when the job ends, killed or not), so nothing is added to it. Raises
    OutputUnavailable."""
    try:
        folder = os.open(out_dir, os.O_RDONLY)
    except OSError as exc:
        raise OutputUnavailable(f"cannot open {out_dir}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(folder)
        raise OutputUnavailable(f"{out_dir} is being written by another scraper extract: wait for it to end,"
                                " or give another --output") from None
    try:
        yield
    finally:
        os.close(folder)


def _extract(paths: list[Path], settings: Settings, *, out_dir: Path | None, archive: Archive | None, jobs: int,
             use_ray: bool, run_id: int | None, on_item: Callable[[Item], None] | None) -> Iterator[InputResult]:
    if use_ray:
        import ray

        from scraper.ray_cluster import connected

        with connected(cpus=jobs):
            if archive is not None:
                yield from ray_into_archive(ray, paths, archive, settings, run_id=run_id, on_item=on_item)
            else:
                assert out_dir is not None
                yield from ray_to_shards(ray, paths, out_dir, shard_names(paths), settings)
        return
    with CleaningPool(jobs, timeout=settings.clean_timeout, memory=settings.clean_memory) as cleaning:
        if archive is not None:
            for path in paths:
                yield extract_into_archive(path, archive, settings, cleaning, run_id=run_id,
                                           on_item=on_item)
            return
        assert out_dir is not None
        for path, name in zip(paths, shard_names(paths), strict=True):
            yield extract_to_shard(path, out_dir, name, settings, cleaning, on_item=on_item)


@dataclass
class Tally:
    """Counts over a whole job, for its progress lines and summary."""

    inputs: int
    done: int = 0
    failed: int = 0
    passed: int = 0
    records: int = 0
    pages: int = 0
    extracted: int = 0
    new_versions: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    seen: int = 0
    """Pages settled so far (the progress of the inputs under way, too)."""
    seen_skipped: Counter[str] = field(default_factory=Counter)

    def item(self, item: Item) -> None:
        self.seen += 1
        if isinstance(item, Rejected):
            self.seen_skipped[item.reason] += 1

    def result(self, result: InputResult) -> None:
        if result.state == "passed":  # its counts are an earlier run's
            self.passed += 1
            return
        if result.state == "failed":
            self.failed += 1
        else:
            self.done += 1
        self.records += result.records
        self.pages += result.pages
        self.extracted += result.extracted
        self.new_versions += result.new_versions
        self.unchanged += result.unchanged
        self.skipped.update(result.skipped)

    def progress(self, seconds: float) -> str:
        pages = max(self.seen, self.pages)
        skipped = self.seen_skipped if self.seen >= self.pages else self.skipped
        rate = pages / seconds if seconds > 0 else 0.0
        return (f"{self.done + self.failed + self.passed}/{self.inputs} inputs, {pages} pages, {rate:.1f} pages/s"
                + (f", skipped: {_reasons(skipped)}" if skipped else ""))

    def summary(self, seconds: float, *, into_archive: bool) -> str:
        rate = (self.pages / seconds) if seconds > 0 else 0.0
        inputs = f"{self.inputs} input{'' if self.inputs == 1 else 's'}: {self.done} read, {self.failed} failed" + (
            f", {self.passed} done before" if self.passed else "")
        skipped = sum(self.skipped.values())
        kept = (f"{self.extracted} saved ({self.new_versions} new versions, {self.unchanged} unchanged)"
                if into_archive else f"{self.extracted} extracted")
        return (f"{inputs}; {self.records} records, {self.pages} pages: {kept}, {skipped} skipped"
                + (f" ({_reasons(self.skipped)})" if skipped else "")
                + (f"; {self.duplicates} near-duplicates dropped" if self.duplicates else "")
                + f"; {rate:.1f} pages/s")

    def as_dict(self, seconds: float) -> dict[str, Any]:
        return {"inputs": self.inputs, "read": self.done, "failed": self.failed, "done_before": self.passed,
                "records": self.records, "pages": self.pages, "extracted": self.extracted,
                "new_versions": self.new_versions, "unchanged": self.unchanged,
                "skipped": sum(self.skipped.values()), "skipped_by_reason": dict(self.skipped),
                "duplicates_dropped": self.duplicates, "seconds": round(seconds, 3)}


def _reasons(counts: Counter[str]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in counts.most_common())
