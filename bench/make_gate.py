"""Write the fixed subsets of the development sets behind the quality gate, in fixtures/gate/.

    python -m bench.make_gate [--set both|trafilatura|wcxb] [--corpus PATH] [--wcxb PATH]

- pages.jsonl.zst: every fifth page of trafilatura's corpus in URL order, with its must-have
  and must-not-have snippets.
- wcxb.jsonl.zst: every tenth page of the WCXB development set in id order, with its id, URL,
  page type and main content. To keep the file small, the bodies of <script> elements (but
  JSON-LD, which holds metadata) and of <style> elements are emptied: no text extractor keeps
  their contents, and the rest of each page is byte for byte as saved.
No page is picked by hand or by how well any extractor does on it. Both are stored
zstd-compressed so the gate runs without the sets at hand.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import zstandard

from bench import pages, wcxb

GATE = Path(__file__).resolve().parents[1] / "fixtures" / "gate"
EVERY_CORPUS, EVERY_WCXB = 5, 10

_SCRIPT = re.compile(rb"(<script\b[^>]*>)(.*?)(</script\s*>)", re.IGNORECASE | re.DOTALL)
_STYLE = re.compile(rb"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)


def _empty_body(match: re.Match[bytes]) -> bytes:
    return match[0] if b"ld+json" in match[1].lower() else match[1] + match[3]


def without_code(html: bytes) -> bytes:
    """The page with its scripts (but JSON-LD) and style sheets emptied, tags kept."""
    return _STYLE.sub(_empty_body, _SCRIPT.sub(_empty_body, html))


def write(path: Path, records: list[dict[str, object]]) -> None:
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    raw = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape")
    path.write_bytes(zstandard.ZstdCompressor(level=19).compress(raw))
    print(f"{len(lines)} pages, {len(raw) // 1024} KiB raw, {path.stat().st_size // 1024} KiB stored in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("both", "trafilatura", "wcxb"), default="both", help="which subset to write")
    parser.add_argument("--corpus", type=Path, default=pages.DEFAULT_CORPUS, help="trafilatura's corpus")
    parser.add_argument("--wcxb", type=Path, default=wcxb.DEFAULT_WCXB, help="the WCXB development set")
    args = parser.parse_args()
    if args.set in ("both", "trafilatura"):
        pages.require(args.corpus)
        write(GATE / "pages.jsonl.zst", [
            {"url": url, "with": item["with"], "without": item["without"],
             "html": page.decode("utf-8", errors="surrogateescape")}
            for url, item, page in pages.load(args.corpus)[::EVERY_CORPUS]
        ])
    if args.set in ("both", "wcxb"):
        wcxb.require(args.wcxb)
        write(GATE / "wcxb.jsonl.zst", [
            {"id": page.id, "url": page.url, "type": page.type, "main_content": page.main_content,
             "html": without_code(page.html()).decode("utf-8", errors="surrogateescape")}
            for page in wcxb.load(args.wcxb)[::EVERY_WCXB]
        ])


if __name__ == "__main__":
    main()
