"""Throughput of `scraper run` beside `trafilatura --input-file`, same URLs, same run.

    python bench/throughput.py                  # 1,000 pages from 20 loopback hosts, 3 rounds
    python bench/throughput.py --urls 10000 --rounds 1 --skip-trafilatura   # peak memory
    python bench/throughput.py --ray            # scraper run --ray too, on one Ray instance

Pages of the evaluation corpus (../shared/eval/trafilatura-corpus, or --corpus) are served
from 20 loopback addresses (127.0.0.1 ... 127.0.0.20) by a server in a subprocess, each
response after a fixed latency. Both tools get the same URL list and the same concurrency,
with no politeness delay (trafilatura: SLEEP_TIME 0; scraper: --interval 0, --per-host equal
to the concurrency). Prints pages per second for both and their ratio, the peak resident
memory of the scraper process, and the CPU-bound limit: cores / mean cleaning time, the
most any pipeline that cleans every page could do on this machine. Machines shared with
others drift (trafilatura's time for the same list varied by half within an hour), so each
round runs both tools back to back, alternating which goes first, and the summary gives the
median of the rounds. With --ray, each round also runs `scraper run --ray` on the same list
with the same options (a third turn in the rotating order), on a Ray instance started once for
the bench (bench/ray_local.py says why), and prints its pages per second beside the local
run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pages import DEFAULT_CORPUS, load, require
from bench.ray_local import ray_or_none

HOSTS = 20


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log, and a client that hangs up is no error: normal at
    the end of a run."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()


def page_number(path: str) -> int | None:
    """n of a /p/<n> request path (any query ignored), else None."""
    path = path.split("?")[0]
    return int(path[3:]) if path.startswith("/p/") and path[3:].isdigit() else None


class BenchServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def load_pages(corpus: Path) -> list[bytes]:
    return [html for _, _, html in load(corpus)]


def serve(corpus: Path, port: int, latency: float) -> None:
    """Serve /p/<n> (page n of the corpus, any query ignored) on 127.0.0.1..20 until killed."""
    pages = load_pages(corpus)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            time.sleep(latency)
            number = page_number(self.path)
            if number is not None:
                body, status = pages[number % len(pages)], 200
            else:
                body, status = b"not found", 404
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = [BenchServer((f"127.0.0.{n}", port), Handler) for n in range(1, HOSTS + 1)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a process and its children, read from /proc (0 once gone)."""
    total = 0
    for proc in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{proc}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total / 1024


def _children(pid: int) -> list[int]:
    """Child processes, whichever thread started them."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@dataclass
class Timed:
    seconds: float
    """wall time"""
    peak_rss: float
    """MiB, the process and its children"""
    cpu_main: float
    """CPU seconds of the process itself"""
    cpu_children: float
    """CPU seconds of its child processes (as last seen before they ended)"""
    result: subprocess.CompletedProcess[bytes]


def timed(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Wall seconds, peak RSS and CPU seconds of a command and its child processes."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak, main, children = 0.0, 0.0, dict[int, float]()
    while process.poll() is None:
        peak = max(peak, peak_rss_mib(process.pid))
        main = max(main, cpu_seconds(process.pid))
        for child in _children(process.pid):
            children[child] = max(children.get(child, 0.0), cpu_seconds(child))
        time.sleep(0.05)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    return Timed(seconds, peak, main, sum(children.values()),
                 subprocess.CompletedProcess(command, process.returncode, out, err))


def _reasons(summary: dict[str, object]) -> str:
    by_reason = summary.get("failed_by_reason")
    if not isinstance(by_reason, dict) or not by_reason:
        return ""
    return ": " + ", ".join(f"{reason} {count}" for reason, count in sorted(by_reason.items()))


def mean_clean_seconds(pages: list[bytes], sample: int) -> float:
    from scraper.cleaner import clean
    from scraper.errors import ScraperError

    started = time.perf_counter()
    for html in pages[:sample]:
        with contextlib.suppress(ScraperError):
            clean(html)
    return (time.perf_counter() - started) / min(sample, len(pages))


@dataclass
class Round:
    ours: float
    """pages/s of scraper run"""
    rss: float
    theirs: float | None
    """pages/s of trafilatura's CLI"""
    limit: float
    """cores / mean cleaning time, measured right after"""
    on_ray: float | None = None
    """pages/s of scraper run --ray"""


def scraper_run(listing: Path, db: Path, args: argparse.Namespace, env: dict[str, str] | None = None) -> Timed:
    """`scraper run` of the list, with --ray when env points at a Ray instance."""
    return timed([sys.executable, "-m", "scraper", "run", str(listing), "--db", str(db), "-q", "--json",
                  "--concurrency", str(args.concurrency), "--per-host", str(args.concurrency), "--interval", "0",
                  *(["--ray"] if env else [])], env)


def one_round(listing: Path, work: Path, pages: list[bytes], args: argparse.Namespace, number: int,
              server: int, ray_env: dict[str, str] | None) -> Round:
    """Each tool on the list, in an order that turns round by round (scraper first in round 1),
    then the CPU-bound limit, printed as they come."""
    urls = args.urls
    ours: Timed | None = None
    on_ray: Timed | None = None
    theirs_s = server_cpu = 0.0
    summary: dict[str, object] = {}
    tools = ["scraper", "trafilatura", *(["ray"] if ray_env else [])]
    turn = (number - 1) % len(tools)
    for tool in tools[turn:] + tools[:turn]:
        if tool == "scraper":
            before = cpu_seconds(server)
            ours = scraper_run(listing, work / f"bench{number}.db", args)
            server_cpu = cpu_seconds(server) - before
            summary = json.loads(ours.result.stdout or b"{}")
        elif tool == "ray":
            on_ray = scraper_run(listing, work / f"ray{number}.db", args, ray_env)
        elif not args.skip_trafilatura:
            config = work / "trafilatura.cfg"
            config.write_text("[DEFAULT]\nDOWNLOAD_TIMEOUT = 30\nMAX_FILE_SIZE = 20000000\nMIN_FILE_SIZE = 10\n"
                              "SLEEP_TIME = 0\nUSER_AGENTS =\nCOOKIE =\nMAX_REDIRECTS = 2\nSSRF_PROTECTION = off\n"
                              "INSECURE_SSL_FALLBACK = on\nMIN_EXTRACTED_SIZE = 250\nMIN_OUTPUT_SIZE = 1\n"
                              "MIN_OUTPUT_COMM_SIZE = 1\nMAX_TREE_SIZE =\nEXTRACTION_TIMEOUT = 0\n"
                              "MIN_DUPLCHECK_SIZE = 100\nMAX_REPETITIONS = 2\nEXTENSIVE_DATE_SEARCH = on\n"
                              "EXTERNAL_URLS = off\n")
            out = work / f"out{number}"
            theirs_s = timed(
                [sys.executable, "-m", "trafilatura.cli", "--input-file", str(listing), "--parallel",
                 str(args.concurrency), "--config-file", str(config), "--output-dir", str(out)]).seconds
            written = sum(1 for _ in out.glob("*")) if out.exists() else 0
    assert ours is not None
    mean = mean_clean_seconds(pages, 300)
    result = Round(urls / ours.seconds, ours.peak_rss, urls / theirs_s if theirs_s else None,
                   (os.cpu_count() or 1) / mean, urls / on_ray.seconds if on_ray else None)
    print(f"round {number}:")
    print(f"  scraper run       {result.ours:6.1f} pages/s  ({ours.seconds:.1f} s; {summary.get('new_versions')} "
          f"archived, {summary.get('failed')} failed{_reasons(summary)})  peak RSS {ours.peak_rss:.0f} MiB")
    if result.theirs is not None:
        print(f"  trafilatura CLI   {result.theirs:6.1f} pages/s  ({theirs_s:.1f} s; {written} written)")
        print(f"  throughput ratio (scraper / trafilatura) {result.ours / result.theirs:.2f}")
    if on_ray is not None and result.on_ray is not None:
        ray_summary = json.loads(on_ray.result.stdout or b"{}")
        print(f"  scraper run --ray {result.on_ray:6.1f} pages/s  ({on_ray.seconds:.1f} s; "
              f"{ray_summary.get('new_versions')} archived, {ray_summary.get('failed')} failed"
              f"{_reasons(ray_summary)}): {result.on_ray / result.ours:.0%} of the local run's; CPU a page in "
              f"the run's process (Ray's driver, the archive's writer) {1000 * on_ray.cpu_main / urls:.1f} ms")
    print(f"  CPU-bound limit   {result.limit:6.1f} pages/s  ({os.cpu_count()} cores / {mean * 1000:.1f} ms mean "
          f"cleaning time); scraper reaches {100 * result.ours / result.limit:.0f}% of it", flush=True)
    # Every process of the run shares the cores: what each spent a page bounds the throughput.
    per_page = {"cleaning processes": ours.cpu_children, "run process": ours.cpu_main, "page server": server_cpu}
    total = sum(per_page.values())
    print("  CPU a page        " + ", ".join(f"{name} {1000 * cpu / urls:.1f} ms" for name, cpu in per_page.items())
          + f": {1000 * total / urls:.1f} ms, at most {(os.cpu_count() or 1) * urls / total:.1f} pages/s",
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--urls", type=int, default=1000, help="URLs in the list (pages repeat past the corpus)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each response")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of every tool, in turning order; the summary gives medians (machines drift)")
    parser.add_argument("--skip-trafilatura", action="store_true", help="only scraper (for --urls 10000)")
    parser.add_argument("--ray", action="store_true", help="also scraper run --ray, on one Ray instance")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.corpus, args.port, args.latency)
        return
    require(args.corpus)

    server = subprocess.Popen([sys.executable, __file__, "--serve", "--corpus", str(args.corpus),
                               "--port", str(args.port), "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as work, ray_or_none(args.ray, os.cpu_count() or 1) as ray_env:
            listing = Path(work) / "urls.txt"
            # Page n on host n % 20; past the corpus, the same pages again under a new query.
            listing.write_text("".join(f"http://127.0.0.{n % HOSTS + 1}:{args.port}/p/{n}?r={n}\n"
                                       for n in range(args.urls)))
            print(f"{args.urls} URLs on {HOSTS} hosts, {args.latency * 1000:.0f} ms latency, "
                  f"concurrency {args.concurrency}, {os.cpu_count()} cores, {args.rounds} rounds", flush=True)
            pages = load_pages(args.corpus)
            rounds = [one_round(listing, Path(work), pages, args, number, server.pid, ray_env)
                      for number in range(1, args.rounds + 1)]
    finally:
        server.kill()
        server.wait()
    print(f"median of {len(rounds)}: scraper {median(r.ours for r in rounds):.1f} pages/s, "
          f"peak RSS {max(r.rss for r in rounds):.0f} MiB (highest), "
          f"{median(100 * r.ours / r.limit for r in rounds):.0f}% of the CPU-bound limit", end="")
    if not args.skip_trafilatura:
        print(f", throughput ratio {median(r.ours / (r.theirs or 1) for r in rounds):.2f} "
              f"(each round: {', '.join(f'{r.ours / (r.theirs or 1):.2f}' for r in rounds)})", end="")
    print()
    if args.ray:
        shares = [(r.on_ray or 0) / r.ours for r in rounds]
        print(f"scraper run --ray: median {median(r.on_ray or 0 for r in rounds):.1f} pages/s, "
              f"{median(shares):.0%} of the local run's (each round: {', '.join(f'{s:.0%}' for s in shares)})")



if __name__ == "__main__":
    main()
