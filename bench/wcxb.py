"""The WCXB development set the benchmarks read: ../shared/eval/wcxb-dev by default.

1,497 pages of the 2025 web in 7 page types, each with its whole main content as plain text
(WCXB by Murrough Foley, CC-BY-4.0). How pages, types and folds are read follows `pages()`,
`domain()` and `folds()` of the set's own scorer, ../shared/eval/wcxb_score.py, so a page gets
the same type and the same fold here as there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.evaluation import words

DEFAULT_WCXB = Path(__file__).resolve().parents[2] / "shared" / "eval" / "wcxb-dev"
FOLDS = 5


@dataclass(frozen=True)
class Page:
    id: str
    url: str
    type: str
    main_content: str
    html_path: Path
    published: str = ""
    """the page's publication date as the reference gives it (YYYY-MM-DD), or empty"""

    def html(self) -> bytes:
        return gzip.decompress(self.html_path.read_bytes())

    @property
    def has_reference(self) -> bool:
        """Whether its main content holds words: on a page whose reference is empty (WCXB's
        annotators saw it rendered by script), any text scores 0, the HTML's own included."""
        return bool(words(self.main_content))

    @property
    def fold(self) -> int:
        return fold_of(self.url)


def require(wcxb: Path) -> None:
    """Exit with a one-line message unless wcxb holds the set's ground-truth/ and html/."""
    if not (wcxb / "ground-truth").is_dir() or not (wcxb / "html").is_dir():
        sys.exit(f"no ground-truth/ and html/ in {wcxb}: give the WCXB set with --wcxb")


def domain(url: str) -> str:
    """The page's host, lower-cased, without a leading www. (as wcxb_score.domain)."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def fold_of(url: str, folds: int = FOLDS) -> int:
    """sha1 of the domain mod 5, as wcxb_score.folds(): no site is in two folds."""
    return int(hashlib.sha1(domain(url).encode()).hexdigest(), 16) % folds


def load(wcxb: Path, limit: int | None = None) -> list[Page]:
    """The set's pages sorted by id, as wcxb_score.pages() reads them."""
    pages = []
    for path in sorted((wcxb / "ground-truth").glob("*.json"))[:limit]:
        data = json.loads(path.read_text(encoding="utf-8"))
        truth = data.get("ground_truth") or {}
        kind = (data.get("_internal") or {}).get("page_type") or {}
        kind = kind.get("primary", "article") if isinstance(kind, dict) else str(kind)
        pages.append(Page(
            id=path.stem, url=data.get("url", ""), type="collection" if kind == "category" else kind,
            main_content=truth.get("main_content") or "", html_path=wcxb / "html" / f"{path.stem}.html.gz",
            published=truth.get("publish_date") or "",
        ))
    return pages
