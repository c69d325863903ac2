"""The lead that trafilatura leaves out: prose between the headline and the extracted body.

News pages often set their standfirst (a summary paragraph, a subheading in sentences) in its
own container between the <h1> and the body's container; trafilatura keeps the container it
chose and drops the lead. It is put back when it reads like article prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from selectolax.lexbor import LexborNode

from scraper.boilerplate import is_boilerplate, line_key
from scraper.prune import INLINE, name_tokens

_MAX_GAP = 12
"""Blocks between the headline and the body beyond which what lies between is not a lead."""
_MIN_CHARS = 80
_PROBE = 40
_MAX_LINKED = 0.3
_SENTENCE_END = re.compile(r"[.!?。！？…»\"“”'’)]\s*$")
_SPACE = re.compile(r"\s+")
# Image captions stand between headline and body too: told by their box, or by a credit.
_CAPTION_TAGS = frozenset({"figure", "figcaption"})
_CAPTION_TOKENS = frozenset({"caption", "credit", "credits", "figure", "photo", "image", "img", "media"})
_CAPTION_DEPTH = 4
_CREDIT = re.compile(
    r"\([^()]*\b(foto|fotos|photo|bild|quelle|source|credits?|image|imagen|getty|reuters|afp|dpa|epa)\b[^()]*\)\W*$",
    re.I,
)


@dataclass
class _Block:
    in_caption: bool
    parts: list[str] = field(default_factory=list)
    linked: int = 0
    """Characters of the block's text inside links."""

    @property
    def text(self) -> str:
        return _SPACE.sub(" ", "".join(self.parts)).strip()


@dataclass(frozen=True)
class LeadRegion:
    """What restore_lead needs of the page, read before extraction so that the page's tree
    can be freed first (several MB on a large page)."""

    runs: list[tuple[int, str, bool]]
    """The text nodes after the first <h1>, in document order, each with its block (by order
    of first appearance) and whether a link holds it; up to the first of block _MAX_GAP + 1."""
    captions: list[bool]
    """For each block: whether it is an image caption."""


def read_lead_region(body: LexborNode) -> LeadRegion:
    region = LeadRegion([], [])
    blocks: dict[int, int] = {}  # mem_id -> order of first appearance
    headline: LexborNode | None = None
    for node in body.traverse(include_text=True):
        if not node.is_text_node:
            if headline is None and node.tag == "h1":
                headline = node
            continue
        if headline is None or not (text := node.text_content or "").strip():
            continue
        block, linked = node.parent, False
        while block is not None and block.tag in INLINE:
            linked = linked or block.tag == "a"
            block = block.parent
        if block is None or block.mem_id == headline.mem_id:
            continue
        if block.mem_id not in blocks:
            blocks[block.mem_id] = len(blocks)
            region.captions.append(_in_caption(block))
        region.runs.append((blocks[block.mem_id], text, linked))
        if len(blocks) > _MAX_GAP:
            break
    return region


def _blocks_before(region: LeadRegion, probe: str) -> list[_Block]:
    """The blocks holding text (elements other than inline ones) between the first <h1> and
    the block whose text holds probe, in document order; none when that block is not found
    within _MAX_GAP blocks of the headline."""
    found: dict[int, _Block] = {}  # insertion order is document order
    for position, text, linked in region.runs:
        entry = found.setdefault(position, _Block(region.captions[position]))
        entry.parts.append(text)
        entry.linked += len(text.strip()) if linked else 0
        if probe in entry.text:
            del found[position]
            return list(found.values())
        if len(found) > _MAX_GAP:
            break
    return []


def _in_caption(node: LexborNode | None) -> bool:
    """Whether node is, or sits within a few levels of, a figure or a box named as a caption."""
    for _ in range(_CAPTION_DEPTH):
        if node is None:
            return False
        if node.tag in _CAPTION_TAGS:
            return True
        names = f"{node.attributes.get('class') or ''} {node.id or ''}"
        if name_tokens(names) & _CAPTION_TOKENS:
            return True
        node = node.parent
    return False


def _is_lead(block: _Block, text: str) -> bool:
    return (len(text) >= _MIN_CHARS and block.linked <= _MAX_LINKED * len(text)
            and _SENTENCE_END.search(text) is not None and _CREDIT.search(text) is None
            and not is_boilerplate(text, line_key(text)) and not block.in_caption)


def restore_lead(region: LeadRegion, extracted: etree._Element) -> None:
    """Put back, at the top of the extracted tree, prose blocks of the pruned page (as read by
    read_lead_region) that stand between its first <h1> and the first extracted paragraph."""
    paragraphs = (_SPACE.sub(" ", "".join(p.itertext())).strip() for p in extracted.iter("p"))
    # The body's first paragraph is found on the page by its opening words.
    probe = next((text[:_PROBE] for text in paragraphs if len(text) >= _PROBE), None)
    if probe is None:
        return
    leads = [text for block in _blocks_before(region, probe) if _is_lead(block, text := block.text)]
    if leads:  # joining the whole extracted text costs; most pages have no lead to check
        kept = _SPACE.sub(" ", "".join(extracted.itertext()))
        leads = [text for text in leads if text not in kept]
    for position, text in enumerate(leads):
        paragraph = etree.Element("p")
        paragraph.text = text
        extracted.insert(position, paragraph)
