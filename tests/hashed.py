"""Seed pages rebuilt the way CSS-in-JS sites serve them: hashed class names, only <div>s.

Every class and id becomes a hash (`css-1x2y3z`), the semantic tags (nav, aside, footer,
header, main, article, section, figure, figcaption, form, dialog) become <div>, and role
attributes go. What is left to tell chrome from body is structure and text.
"""

from __future__ import annotations

import hashlib
import re

_SEMANTIC = ("nav", "aside", "footer", "header", "main", "article", "section", "figure", "figcaption",
             "form", "dialog")
_TAG = re.compile(r"<(/?)(" + "|".join(_SEMANTIC) + r")\b", re.I)
_NAMES = re.compile(r"""\s(class|id)\s*=\s*("[^"]*"|'[^']*')""", re.I)
_ROLE = re.compile(r"""\srole\s*=\s*("[^"]*"|'[^']*')""", re.I)


def _hashed(match: re.Match[str]) -> str:
    value = match.group(2)[1:-1]
    names = " ".join("css-" + hashlib.sha1(name.encode()).hexdigest()[:6] for name in value.split())
    return f' {match.group(1)}="{names}"'


def hash_markup(html: str) -> str:
    body_start = html.lower().find("<body")
    head, body = html[:body_start], html[body_start:]
    body = _TAG.sub(lambda m: f"<{m.group(1)}div", body)
    body = _NAMES.sub(_hashed, body)
    return head + _ROLE.sub("", body)
