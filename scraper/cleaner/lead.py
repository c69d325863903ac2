"""The lead that trafilatura leaves out: prose between the headline and the extracted body.

News pages often set their standfirst (a summary paragraph, a subheading in sentences) in its
own container between the <h1> and the body's container; trafilatura keeps the container it
chose and drops the lead. It is put back when it reads like article prose, or when it is the
page's own description (its meta or JSON-LD summary) shown on the page.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from lxml import etree
from selectolax.lexbor import LexborNode

from scraper.cleaner.boilerplate import is_boilerplate, line_key
from scraper.cleaner.prune import INLINE, name_tokens
from scraper.models import safe_text

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
_MIN_DESCRIPTION = 50
"""Characters of a description long enough to be a summary of this page, not a site's slogan."""
_MAX_STANDFIRST = 1000
"""Characters past which the block that shows the description is a body, not its lead."""
_FEW_WORDS = 3
"""Words in a probe of text written without spaces between words."""
_ELLIPSIS = re.compile(r"\s*(\.\.\.|…)\s*$")
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
    standfirst: str | None = None
    """The lead that the block showing the page's description gives, if any (see _standfirst)."""
    description_probe: str | None = None
    """The opening of the description, by which an extraction that kept it is told."""


def read_lead_region(body: LexborNode, description: str | None = None, headline: str | None = None) -> LeadRegion:
    """What restore_lead needs of the pruned page's body: the blocks after its <h1>, and the
    block that shows the page's description (from its metadata) unless that restates headline."""
    summary = _SPACE.sub(" ", description or "").strip()
    shortened = _ELLIPSIS.sub("", summary)
    probe = shortened[:_PROBE] if len(shortened) >= _MIN_DESCRIPTION else None
    shown = _block_showing(body, probe) if probe is not None else None
    standfirst = _standfirst(shown, summary, headline) if shown is not None else None
    standfirst = safe_text(standfirst) if standfirst is not None else None
    region = LeadRegion([], [], standfirst=standfirst, description_probe=probe)
    blocks: dict[int, int] = {}  # mem_id -> order of first appearance
    h1: LexborNode | None = None
    for node in body.traverse(include_text=True):
        if not node.is_text_node:
            if h1 is None and node.tag == "h1":
                h1 = node
            continue
        if h1 is None or not (text := node.text_content or "").strip():
            continue
        block, linked = _block_of(node)
        if block is None or block.mem_id == h1.mem_id:
            continue
        if block.mem_id not in blocks:
            blocks[block.mem_id] = len(blocks)
            region.captions.append(_in_caption(block))
        region.runs.append((blocks[block.mem_id], text, linked))
        if len(blocks) > _MAX_GAP:
            break
    return region


def _block_of(node: LexborNode) -> tuple[LexborNode | None, bool]:
    """The element that holds a text node or inline element as a block (its nearest ancestor
    that is not inline), and whether a link holds it."""
    block, linked = node.parent, False
    while block is not None and block.tag in INLINE:
        linked = linked or block.tag == "a"
        block = block.parent
    return block, linked


def _block_showing(body: LexborNode, probe: str) -> _Block | None:
    """The first block of body whose text holds probe, with all of its text."""
    words = probe.split()
    longest = max(words[:-1] or words, key=len)  # the probe's last word may be cut short
    quoted = longest.replace("\\", "\\\\").replace('"', '\\"')
    checked: set[int] = set()
    # lexbor finds the elements whose own text holds the word, in document order.
    for element in body.css(f':lexbor-contains("{quoted}")'):
        block = _block_of(element)[0] if element.tag in INLINE else element
        if block is None or block.tag == "script" or block.mem_id in checked:  # JSON-LD is not on show
            continue
        checked.add(block.mem_id)
        whole = _whole_block(block)
        if probe in whole.text:
            return whole
    # In Chinese or Japanese a "word" runs to the next space, and links or bold type within it
    # split it across elements: there the text is read node by node.
    if len(words) <= _FEW_WORDS and longest in body.text(deep=True, separator=""):
        return _block_showing_split(body, probe, longest)
    return None


def _block_showing_split(body: LexborNode, probe: str, longest: str) -> _Block | None:
    """_block_showing for a probe whose words markup may split."""
    seen: dict[int, str] = {}  # mem_id -> the block's text so far
    for node in body.traverse(include_text=True):
        if not node.is_text_node or not (text := node.text_content or "").strip():
            continue
        block, _ = _block_of(node)
        if block is None or block.tag == "script":
            continue
        so_far = seen.get(block.mem_id, "") + text
        seen[block.mem_id] = so_far
        # Only the end that the new text touches can hold the probe for the first time.
        end = so_far[-(len(text) + 2 * len(probe)):]
        if longest in end and probe in _SPACE.sub(" ", end):
            return _whole_block(block)
    return None


def _whole_block(block: LexborNode) -> _Block:
    """The text that is block's own (not that of blocks inside it), and how much links hold."""
    whole = _Block(in_caption=False)
    for node in block.traverse(include_text=True):
        if node.is_text_node and (text := node.text_content or "").strip():
            holder, linked = _block_of(node)
            if holder is not None and holder.mem_id == block.mem_id:
                whole.parts.append(text)
                whole.linked += len(text.strip()) if linked else 0
    return whole


def _standfirst(block: _Block, summary: str, headline: str | None) -> str | None:
    """The lead to put back from the block that shows the page's summary, if any: the summary
    itself when the block holds it whole (leaving out a slide number or a photo credit beside
    it), else the block's text. Not when that is long, linked, a credit or chrome, or the
    headline again (many pages describe themselves by their title). It may sit in a picture's
    box: a standfirst is often set over the opening picture."""
    text = block.text
    if _SENTENCE_END.search(summary) and not _ELLIPSIS.search(summary) and summary in text:
        text = summary
    key = line_key(text)
    if len(text) > _MAX_STANDFIRST or block.linked > _MAX_LINKED * len(block.text) \
            or _CREDIT.search(text) or is_boilerplate(text, key):
        return None
    title = line_key(headline or "")
    if title and (key in title or (title in key and len(key) < 1.5 * len(title))):
        return None
    return text


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
        attributes = node.attributes
        if _names_a_caption(f"{attributes.get('class') or ''} {attributes.get('id') or ''}"):
            return True
        node = node.parent
    return False


@functools.lru_cache(maxsize=1024)
def _names_a_caption(names: str) -> bool:
    """Whether class and id names say caption; cached, as prune's chrome names are."""
    return bool(name_tokens(names) & _CAPTION_TOKENS)


def _is_lead(block: _Block, text: str) -> bool:
    return (len(text) >= _MIN_CHARS and block.linked <= _MAX_LINKED * len(text)
            and _SENTENCE_END.search(text) is not None and _CREDIT.search(text) is None
            and not is_boilerplate(text) and not block.in_caption)


def restore_lead(region: LeadRegion, extracted: etree._Element) -> None:
    """Put back, at the top of the extracted tree, prose blocks of the pruned page (as read by
    read_lead_region): the block that shows the page's description, then those that stand
    between its first <h1> and the first extracted paragraph."""
    paragraphs = (_SPACE.sub(" ", "".join(p.itertext())).strip() for p in extracted.iter("p"))
    # The body's first paragraph is found on the page by its opening words.
    probe = next((text[:_PROBE] for text in paragraphs if len(text) >= _PROBE), None)
    leads = [text for block in _blocks_before(region, probe) if _is_lead(block, text := block.text)] \
        if probe is not None else []
    # Control characters, which the extraction drops, would also stop lxml taking the text.
    leads = [safe_text(text) for text in leads]
    if region.standfirst is not None:
        leads = [region.standfirst, *(text for text in leads if text != region.standfirst)]
    if leads:  # joining the whole extracted text costs; most pages have no lead to check
        kept = _SPACE.sub(" ", etree.tostring(extracted, method="text", encoding=str))
        # The extraction may hold the description in a block of its own making, with other text.
        described = region.description_probe is not None and region.description_probe in kept
        leads = [text for text in leads if text not in kept and not (described and text == region.standfirst)]
    for position, text in enumerate(leads):
        paragraph = etree.Element("p")
        paragraph.text = text
        extracted.insert(position, paragraph)
