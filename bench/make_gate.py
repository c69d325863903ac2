"""Write fixtures/gate/pages.jsonl.zst: the fixed corpus subset behind the quality gate.

    python bench/make_gate.py [--corpus PATH]

Takes every fifth page of the evaluation corpus in URL order (no page is picked by hand or
by how well any extractor does on it) with its must-have and must-not-have snippets, and
stores them zstd-compressed so the gate runs without the corpus at hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import zstandard

from bench.corpus import DEFAULT_CORPUS, load, require

GATE = Path(__file__).resolve().parents[1] / "fixtures" / "gate" / "pages.jsonl.zst"
EVERY = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    require(args.corpus)
    lines = []
    for url, item, page in load(args.corpus)[::EVERY]:
        html = page.decode("utf-8", errors="surrogateescape")
        record = {"url": url, "with": item["with"], "without": item["without"], "html": html}
        lines.append(json.dumps(record, ensure_ascii=False))
    raw = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape")
    GATE.write_bytes(zstandard.ZstdCompressor(level=19).compress(raw))
    print(f"{len(lines)} pages, {len(raw) // 1024} KiB raw, {GATE.stat().st_size // 1024} KiB stored in {GATE}")


if __name__ == "__main__":
    main()
