"""The evaluation corpus the benchmarks read: ../shared/eval/trafilatura-corpus by default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "trafilatura-corpus"


def require(corpus: Path) -> None:
    """Exit with a one-line message unless corpus holds an evaldata.json."""
    if not (corpus / "evaldata.json").is_file():
        sys.exit(f"no evaldata.json in {corpus}: give the corpus with --corpus")


def load(corpus: Path, limit: int | None = None) -> list[tuple[str, dict[str, object], bytes]]:
    """(url, snippets record, page bytes) of the corpus's pages, sorted by URL."""
    data = json.loads((corpus / "evaldata.json").read_text(encoding="utf-8"))
    items = sorted(data.items())[:limit]
    return [(url, item, (corpus / "pages" / str(item["file"])).read_bytes()) for url, item in items]
