"""Bytes of a web page -> text, choosing the encoding the way browsers do."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
# Labels that pages declare but that browsers read as a superset.
_SUPERSETS = {"iso-8859-1": "windows-1252", "latin-1": "windows-1252", "ascii": "windows-1252",
              "us-ascii": "windows-1252", "gb2312": "gb18030", "gbk": "gb18030",
              "shift_jis": "cp932", "x-sjis": "cp932"}


def _known(label: str | None) -> str | None:
    if not label:
        return None
    label = _SUPERSETS.get(label.lower(), label.lower())
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


_LATIN = frozenset({"cp1252", "iso8859-1", "ascii"})
_MARKUP = re.compile(rb"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.I | re.S)
# Valid non-ASCII characters per undecodable byte above which text is UTF-8 with a few stray
# bytes: 25 to 500 on such pages of the evaluation corpus, where legacy text has almost none.
_NEARLY_UTF8 = 10
_HIGH = bytes(range(0x80, 0x100))
_ASCII_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))


def _mostly_high_bytes(content: bytes) -> bool:
    """Whether the page's text is mostly bytes above ASCII: not a Western language in a
    single-byte encoding, where such letters are the exception (a few in a hundred)."""
    text = _MARKUP.sub(b" ", content)
    high = len(text) - len(text.translate(None, _HIGH))
    letters = len(text) - len(text.translate(None, _ASCII_LETTERS))
    return high > 0.3 * (high + letters)


def decode_html(content: bytes, content_type: str = "") -> tuple[str, str]:
    """Return (text, encoding): BOM; valid UTF-8; HTTP header; <meta>; detection.

    Bytes that are valid UTF-8 are taken as UTF-8 whatever the page declares: legacy text
    is almost never valid UTF-8 by chance, while wrong declarations are common. So are bytes
    that are nearly so: a UTF-8 page with a stray byte or two from a pasted legacy string,
    and a page declared UTF-8 whose valid UTF-8 characters outnumber its bad bytes.
    """
    for bom, name in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(name, errors="replace"), name
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        lenient = content.decode("utf-8", errors="replace")
    invalid = lenient.count("\ufffd")
    valid = len(lenient) - len(lenient.encode("ascii", "ignore")) - invalid  # non-ASCII characters
    if valid >= _NEARLY_UTF8 * invalid:
        return lenient, "utf-8"
    header = _HEADER_CHARSET.search(content_type)
    meta = _META_CHARSET.search(content[:4096])
    declared = [_known(header.group(1) if header else None),
                _known(meta.group(1).decode("ascii", "replace") if meta else None)]
    if any(name in _LATIN for name in declared) and _mostly_high_bytes(content):
        # A server's default latin-1 label over CJK or Cyrillic text: detect instead.
        declared = [name for name in declared if name not in _LATIN]
    for name in filter(None, declared):
        if name == "utf-8" and valid >= invalid:
            # Declared, and more of it UTF-8 than not: damaged UTF-8, read as browsers do, with
            # a replacement character for each bad byte (legacy text has almost no valid UTF-8).
            return lenient, name
        try:
            return content.decode(name), name
        except UnicodeDecodeError:
            continue  # a wrong declaration is common; try the next clue
    matches = charset_normalizer.from_bytes(content)
    best = matches.best()
    if best is not None:
        # Short texts often tie; windows-1252 is then the likelier, as browsers assume.
        for match in matches:
            if (match.encoding == "cp1252" and match.chaos == best.chaos
                    and match.coherence == best.coherence):
                best = match
        return str(best), best.encoding
    return content.decode("utf-8", errors="replace"), "utf-8"


# WHATWG MIME sniffing's HTML signatures (https://mimesniff.spec.whatwg.org/#identifying-a-resource-with-an-unknown-mime-type),
# plus elements a page fragment or a hand-written page often starts with.
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h[1-6]|div|font|table|a|style|title|b|body|br|p"
    rb"|meta|link|article|main|section|header|footer|nav|span|ul|ol|li|img|form|noscript|base|template"
    rb"|svg|center|pre|blockquote|dl)(?=[\s>/])|<!--",
    re.I,
)
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*\?>", re.I)
_LEADING_SPACE = re.compile(rb"\s+")


def is_binary(content: bytes) -> bool:
    """Whether content is no text at all: a NUL byte in its first kilobyte (not UTF-16, which
    has them in every ASCII character)."""
    return b"\0" in content[:1024] and not content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def html_problem(content: bytes) -> str | None:
    """Why content is not an HTML page, judged by its start as browsers sniff it; None if it is.

    For input that comes with no content type (a local file, stdin): "binary content" for
    bytes with NUL among the first kilobyte (unless UTF-16), "not HTML (...)" for text that
    does not open with HTML markup (Markdown, JSON, a feed), "empty" for nothing but space.
    """
    if is_binary(content):
        return "binary content"
    text = content
    for bom, name in _BOMS:
        if content.startswith(bom):
            text = content[len(bom):]
            if name != "utf-8":  # compare the markup as ASCII; other characters do not matter here
                text = text[:8192].decode(name, errors="ignore").encode("ascii", errors="replace")
            break
    start = space.end() if (space := _LEADING_SPACE.match(text)) else 0
    head = text[start:start + 1024]
    if not head:
        return "empty"
    if (declaration := _XML_DECLARATION.match(head)) is not None:  # XHTML: the declaration, then HTML
        head = head[declaration.end():].lstrip()
        if head[:9].lower() == b"<!doctype" or _HTML_START.match(head):
            return None
        return "not HTML (XML that is not XHTML)"
    if _HTML_START.match(head):
        return None
    return "not HTML (no HTML markup at its start)"
