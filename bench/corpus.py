"""`scraper extract` beside datatrove's way over the same WARC records, same run: pages per
second (a core), CPU a page, peak memory a worker, and how good the texts each made are.

    python bench/corpus.py                         # both sets' 2,487 pages, 3 rounds
    python bench/corpus.py --set trafilatura       # the corpus's 990 pages only
    python bench/corpus.py --ray                   # scraper extract --ray too, on one Ray instance
    python bench/corpus.py --limit 100 --rounds 1  # a small run

WARCs (gzip, one member per record) are made of the pages of both development sets, each page
once (--set takes one; --limit the first N of each): the trafilatura corpus's 990 pages
(../shared/eval/trafilatura-corpus, or --corpus) and WCXB's 1,497 pages of the 2025 web
(../shared/eval/wcxb-dev, or --wcxb), split into one WARC file per core (datatrove's unit of
work). Then, in each round: `scraper extract` over them (one cleaning process per core) and
what datatrove does (its WarcReader and Trafilatura extractor, reduced to what they do per
record: warcio reads each file, `trafilatura.extract(html, favor_precision=True,
include_comments=False, deduplicate=True)` cleans each HTML payload, one process per core,
each fed whole files); with --ray, `scraper extract --ray` (one Ray task per file) on a Ray
instance started once for the bench (bench/ray_local.py says why). The order turns round by
round, so that each goes first in some round and the machine's drift falls on all of them.

Per tool and round: pages per second and per second a core (wall time of the whole command:
reading, cleaning, writing, starting its processes), CPU a page (the processes' user and
system time, from getrusage(RUSAGE_CHILDREN); not for Ray, whose workers are not ours) and
the share of the cores' time it is (how busy the command kept them), peak
RSS of each cleaning process (scraper: VmHWM of its children, read from /proc while it runs;
datatrove's way: each pool worker's own VmHWM) and of scraper's main process, and each set's
score of the texts, by its own rule (bench/evaluation.py): on the corpus, precision, recall
and F1 over its snippets; on WCXB, word F1 averaged over pages. A record that yields no text
scores nothing. datatrove's way also gives the seconds each file took: a process given whole
files idles once its files are done. The summary gives medians over rounds.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import pages, wcxb
from bench.evaluation import Tally, word_prf
from bench.ray_local import ray_or_none
from bench.throughput import _children


@dataclass
class Scores:
    corpus: Tally | None
    wcxb: float | None
    """word F1, the mean over pages"""

    def __str__(self) -> str:
        parts = []
        if self.corpus is not None:
            parts.append(f"corpus F1 {self.corpus.f1:.4f} (P {self.corpus.precision:.4f} R {self.corpus.recall:.4f})")
        if self.wcxb is not None:
            parts.append(f"WCXB F1 {self.wcxb:.4f}")
        return ", ".join(parts)


@dataclass
class References:
    """What each record's text is scored against, by WARC-Record-ID."""

    snippets: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """a corpus page's `with` and `without` snippets"""
    contents: dict[str, str] = field(default_factory=dict)
    """a WCXB page's main content"""

    def score(self, texts: dict[str, str]) -> Scores:
        tally = Tally()
        for record, (with_, without) in self.snippets.items():
            tally.add(texts.get(record), with_, without)
        f1s = [word_prf(texts.get(record), content)[2] for record, content in self.contents.items()]
        return Scores(tally if self.snippets else None, sum(f1s) / len(f1s) if f1s else None)


def make_warcs(records: list[tuple[str, bytes]], folder: Path, files: int) -> tuple[list[Path], list[str]]:
    """WARC files of the pages, dealt round-robin; and each page's WARC-Record-ID, in order."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    paths = [folder / f"part-{n}.warc.gz" for n in range(files)]
    handles = [open(path, "wb") for path in paths]  # noqa: SIM115 - closed below
    writers = [WARCWriter(handle, gzip=True) for handle in handles]
    ids = []
    for number, (url, body) in enumerate(records):
        writer = writers[number % files]
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                           http_headers=http)
        ids.append(record.rec_headers.get_header("WARC-Record-ID"))
        writer.write_record(record)
    for handle in handles:
        handle.close()
    return paths, ids


@dataclass
class Measured:
    seconds: float
    cpu: float | None
    """CPU seconds of the processes that did the work, None when not ours to count (Ray)"""
    texts: dict[str, str]
    """WARC-Record-ID: text, for the records that yielded one"""
    worker_peaks: list[float] = field(default_factory=list)
    """peak RSS of each cleaning process, MiB"""
    main_peak: float | None = None
    """peak RSS of the command's own process, MiB"""
    note: str = ""


def _trafilatura_file(path: Path) -> tuple[list[tuple[str, str]], int, float, float]:
    """datatrove's WarcReader + Trafilatura extractor, reduced to what they do per record: the
    (record id, text) of each record that yields text, this worker's pid, its peak RSS (MiB)
    and the seconds the file took."""
    started = time.perf_counter()
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    texts = []
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                continue
            content = record.content_stream().read()
            try:
                html = content.decode("utf-8")
            except UnicodeDecodeError:
                continue  # datatrove drops what does not decode
            text = trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=True)
            if text:
                texts.append((record.rec_headers.get_header("WARC-Record-ID"), text))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec, so a spawned process's would
    # start at the RSS of the bench that forked it.
    return texts, os.getpid(), _peak_rss(os.getpid()), time.perf_counter() - started


def _cpu() -> float:
    """CPU seconds of the processes this one started and waited for (and of theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def datatrove_way(paths: list[Path], cores: int) -> Measured:
    started, cpu = time.perf_counter(), _cpu()
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        results = pool.map(_trafilatura_file, paths, chunksize=1)
        pool.close()
        pool.join()
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    peaks: dict[int, float] = {}
    for _, pid, peak, _ in results:
        peaks[pid] = max(peaks.get(pid, 0.0), peak)
    # A process is given whole files: one that is done early idles while another works.
    took = ", ".join(f"{result[3]:.0f}" for result in results)
    return Measured(seconds, cpu, {record: text for texts, _, _, _ in results for record, text in texts},
                    sorted(peaks.values()), note=f"files took {took} s")


def _peak_rss(pid: int) -> float:
    """VmHWM of one process, MiB (0 once gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0) / 1024


def scraper_extract(paths: list[Path], out: Path, cores: int, env: dict[str, str] | None) -> Measured:
    """`scraper extract` (with --ray when env points at a Ray instance), watched from /proc."""
    command = [sys.executable, "-m", "scraper", "extract", *map(str, paths), "-o", str(out), "-j", str(cores), "-q"]
    started, cpu = time.perf_counter(), _cpu()
    process = subprocess.Popen([*command, *(["--ray"] if env else [])], env=env)
    own, children = 0.0, dict[int, float]()
    while process.poll() is None:
        own = max(own, _peak_rss(process.pid))
        for child in _children(process.pid):
            children[child] = max(children.get(child, 0.0), _peak_rss(child))
        time.sleep(0.05)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if process.returncode:
        sys.exit(f"scraper extract exited {process.returncode}")
    texts = {}
    for shard in out.glob("*.jsonl.gz"):
        with gzip.open(shard, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                texts[record["warc_record_id"]] = record["text"]
    workers = sorted(peak for peak in children.values() if peak > 0)  # its children: the cleaning processes
    return Measured(seconds, None if env else cpu, texts, workers if not env else [], own)


@dataclass
class Row:
    name: str
    rates: list[float] = field(default_factory=list)
    """pages/s, a round each"""
    cpus: list[float] = field(default_factory=list)
    """CPU ms a page"""
    worker_peaks: list[float] = field(default_factory=list)
    main_peaks: list[float] = field(default_factory=list)
    scores: list[Scores] = field(default_factory=list)


def report(row: Row, measured: Measured, count: int, cores: int, references: References) -> None:
    rate = count / measured.seconds
    scores = references.score(measured.texts)
    row.rates.append(rate)
    row.scores.append(scores)
    row.worker_peaks += measured.worker_peaks
    line = (f"  {row.name:<22} {rate:6.1f} pages/s, {rate / cores:5.1f} a core ({measured.seconds:5.1f} s)  "
            f"{scores}, {len(measured.texts)} texts")
    if measured.cpu is not None:
        row.cpus.append(1000 * measured.cpu / count)
        line += f"  CPU {row.cpus[-1]:.1f} ms/page (cores busy {measured.cpu / (measured.seconds * cores):.0%})"
    if measured.worker_peaks:
        line += f"  peak RSS a worker {', '.join(f'{peak:.0f}' for peak in measured.worker_peaks)} MiB"
    if measured.main_peak is not None:
        row.main_peaks.append(measured.main_peak)
        line += f" (main process {measured.main_peak:.0f} MiB)"
    if measured.note:
        line += f"; {measured.note}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("both", "trafilatura", "wcxb"), default="both")
    parser.add_argument("--corpus", type=Path, default=pages.DEFAULT_CORPUS)
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB)
    parser.add_argument("--limit", type=int, help="Only the first N pages of each set.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of every tool, the order turning (medians).")
    parser.add_argument("--ray", action="store_true", help="Also scraper extract --ray.")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    corpus, web = [], []
    if args.set in ("both", "trafilatura"):
        pages.require(args.corpus)
        corpus = pages.load(args.corpus, args.limit)
    if args.set in ("both", "wcxb"):
        wcxb.require(args.wcxb)
        web = wcxb.load(args.wcxb, args.limit)
    # Some of the corpus's keys are no URLs ("hard::site.html") and five WCXB pages have none:
    # given one, as warcio reads HTTP headers only in records of http(s) URLs.
    records = [(url if url.startswith(("http://", "https://")) else f"https://corpus.example/{url.replace(':', '-')}",
                body) for url, _, body in corpus]
    records += [(page.url or f"https://wcxb.example/{page.id}", page.html()) for page in web]
    count = len(records)
    with tempfile.TemporaryDirectory() as folder, ray_or_none(args.ray, cores) as ray_env:
        files, ids = make_warcs(records, Path(folder), cores)
        references = References(
            snippets={record: (list(item["with"]), list(item["without"]))  # type: ignore[call-overload]
                      for record, (_, item, _) in zip(ids[:len(corpus)], corpus, strict=True)},
            contents={record: page.main_content for record, page in zip(ids[len(corpus):], web, strict=True)})
        runs: dict[str, Callable[[int], Measured]] = {
            "scraper extract": lambda n: scraper_extract(files, Path(folder) / f"ours{n}", cores, None),
            "warcio + trafilatura": lambda n: datatrove_way(files, cores),
        }
        if ray_env is not None:
            runs["scraper extract --ray"] = lambda n: scraper_extract(files, Path(folder) / f"ray{n}", cores, ray_env)
        rows = {name: Row(name) for name in runs}
        print(f"{count} records ({len(corpus)} corpus pages, {len(web)} WCXB pages), {cores} cores, "
              f"{len(files)} WARC files, load average {os.getloadavg()[0]:.1f}", flush=True)
        names = list(runs)
        for number in range(args.rounds):
            order = names[number % len(names):] + names[:number % len(names)]
            print(f"round {number + 1} (load average {os.getloadavg()[0]:.1f}):", flush=True)
            for name in order:
                report(rows[name], runs[name](number), count, cores, references)
    summary(rows, cores)


def summary(rows: dict[str, Row], cores: int) -> None:
    print(f"median of {len(next(iter(rows.values())).rates)} rounds:")
    for row in rows.values():
        rate = median(row.rates)
        line = f"  {row.name:<22} {rate:6.1f} pages/s, {rate / cores:5.1f} a core, {row.scores[0]}"
        if row.cpus:
            line += f", CPU {median(row.cpus):.1f} ms/page"
        if row.worker_peaks:
            line += f", peak RSS a worker up to {max(row.worker_peaks):.0f} MiB"
        if row.main_peaks:
            line += f" (main process {max(row.main_peaks):.0f} MiB)"
        print(line)
    ours, theirs = rows["scraper extract"], rows["warcio + trafilatura"]
    ratios = [a / b for a, b in zip(ours.rates, theirs.rates, strict=True)]
    print(f"  pages/s (a core), scraper extract / datatrove's way: median {median(ratios):.2f} "
          f"(each round: {', '.join(f'{ratio:.2f}' for ratio in ratios)}); CPU a page, datatrove's way / "
          f"scraper extract: {median(theirs.cpus) / median(ours.cpus):.2f}")
    if "scraper extract --ray" in rows:
        on_ray = rows["scraper extract --ray"].rates
        shares = [a / b for a, b in zip(on_ray, ours.rates, strict=True)]
        print(f"  scraper extract --ray / the local pool: median {median(shares):.0%} "
              f"(each round: {', '.join(f'{share:.0%}' for share in shares)})")


if __name__ == "__main__":
    main()
