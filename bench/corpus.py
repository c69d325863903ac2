"""Pages per second of `scraper extract` beside datatrove's way, over the same WARC, same run.

    python bench/warc_extract.py                 # the 990 corpus pages, twice over: 1,980 records
    python bench/warc_extract.py --copies 1 --ray

WARCs (gzip, one member per record) are made of the evaluation corpus's pages
(../shared/eval/trafilatura-corpus, or --corpus), each page --copies times under its own URL.
Then, back to back: `scraper extract` over it (one cleaning process per core), and what
datatrove does (warcio reading the records, `trafilatura.extract` on each HTML payload, one
process per core, each fed a share of the records). Prints pages per second of both and
their ratio; with --ray, `scraper extract --ray` too (one task per input). The records are
split into one WARC file per core, datatrove's unit of work.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import DEFAULT_CORPUS, load, require


def make_warcs(pages: list[tuple[str, bytes]], folder: Path, files: int) -> list[Path]:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    paths = [folder / f"part-{n}.warc.gz" for n in range(files)]
    handles = [open(path, "wb") for path in paths]  # noqa: SIM115 - closed below
    writers = [WARCWriter(handle, gzip=True) for handle in handles]
    for number, (url, body) in enumerate(pages):
        writer = writers[number % files]
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                      http_headers=http))
    for handle in handles:
        handle.close()
    return paths


def _trafilatura_file(path: Path) -> int:
    """datatrove's WarcReader + Trafilatura extractor, reduced to what they do per record."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    extracted = 0
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
            extracted += bool(text)
    return extracted


def _cpu() -> float:
    """CPU seconds of the processes this one started and waited for (and of theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def datatrove_way(paths: list[Path], cores: int) -> tuple[float, float, int]:
    """Seconds, CPU seconds and pages extracted."""
    started, cpu = time.perf_counter(), _cpu()
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        extracted = sum(pool.map(_trafilatura_file, paths))
        pool.close()
        pool.join()
    return time.perf_counter() - started, _cpu() - cpu, extracted


def scraper_extract(paths: list[Path], out: Path, cores: int, *, ray: bool) -> tuple[float, float]:
    """Seconds and CPU seconds (not counting Ray's workers, which are not its children)."""
    started, cpu = time.perf_counter(), _cpu()
    subprocess.run([sys.executable, "-m", "scraper", "extract", *map(str, paths), "-o", str(out), "-j", str(cores),
                    "-q", *(["--ray"] if ray else [])], check=True, env={**os.environ, "RAY_ADDRESS": ""})
    return time.perf_counter() - started, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--copies", type=int, default=2, help="Records of each page in the WARC.")
    parser.add_argument("--ray", action="store_true", help="Also scraper extract --ray.")
    args = parser.parse_args()
    require(args.corpus)
    cores = os.cpu_count() or 1
    # Some of the corpus's keys are no URLs ("hard::site.html"): given one, as warcio reads
    # HTTP headers only in records of http(s) URLs.
    pages = [(f"{address}#copy{copy}" if copy else address, body)
             for copy in range(args.copies) for url, _, body in load(args.corpus)
             for address in [url if url.startswith(("http://", "https://")) else
                             f"https://corpus.example/{url.replace(':', '-')}"]]
    with tempfile.TemporaryDirectory() as folder:
        files = make_warcs(pages, Path(folder), cores)  # datatrove's unit of work is a file
        ours, our_cpu = scraper_extract(files, Path(folder) / "out", cores, ray=False)
        theirs, their_cpu, extracted = datatrove_way(files, cores)
        count = len(pages)
        print(f"{count} records, {cores} cores, {len(files)} WARC file(s)")
        print(f"scraper extract:       {count / ours:7.1f} pages/s ({ours:.1f} s), "
              f"CPU {1000 * our_cpu / count:.1f} ms/page")
        print(f"warcio + trafilatura:  {count / theirs:7.1f} pages/s ({theirs:.1f} s, {extracted} extracted), "
              f"CPU {1000 * their_cpu / count:.1f} ms/page")
        print(f"ratio: {theirs / ours:.2f} (pages/s), {their_cpu / our_cpu:.2f} (CPU a page)")
        if args.ray:
            on_ray, _ = scraper_extract(files, Path(folder) / "ray", cores, ray=True)
            print(f"scraper extract --ray: {len(pages) / on_ray:7.1f} pages/s ({on_ray:.1f} s, "
                  f"{ours / on_ray:.0%} of the local pool's)")


if __name__ == "__main__":
    main()
