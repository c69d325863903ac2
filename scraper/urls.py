"""What makes a URL fit to fetch, how to show one in a message, and its canonical form: the
key that identifies a page in the archive."""

from __future__ import annotations

import unicodedata
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that only track the visitor: the same article with or without them.
_TRACKING_PREFIXES = ("utm_",)
_TRACKING_NAMES = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid"})
MAX_URL_LENGTH = 8192
"""Longer would-be URLs are refused: no server takes them, and they swell every message."""


def url_problem(text: str) -> str | None:
    """What is wrong with text as an http(s) URL to fetch, or None if nothing is.

    Surrounding spaces are tolerated; control characters (C0, DEL, C1: CR, LF and TAB
    included) are not, anywhere, as they could end up in a request or a record's headers.
    """
    text = text.strip(" ")
    if len(text) > MAX_URL_LENGTH:
        return f"URL of {len(text)} characters, over the {MAX_URL_LENGTH} limit"
    problem = control_character(text)
    if problem:
        return problem
    try:
        parts = urlsplit(text)
    except ValueError:  # unbalanced brackets, or a bracketed host that is no address
        return "invalid IPv6 address"
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return "not an http(s) URL" + (f" (its scheme is {scheme}:)" if scheme else "")
    if not parts.hostname:
        return "no host"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        given = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
        return f"port {given} is out of range" if given.isdigit() else f"port {given!r} is not a number"
    return None


def is_web_url(text: str) -> bool:
    return url_problem(text) is None


def control_character(text: str) -> str | None:
    """Which control character text holds, if any (a check of its own for text that is not a
    whole URL: urljoin and urlsplit silently drop TAB, CR and LF)."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cc":
            return f"control character U+{ord(char):04X} at position {index + 1}"
    return None


def shorten(url: str, limit: int = 200) -> str:
    """url fit for a one-line message: control characters escaped, and the middle of a long
    one replaced by … so that its start and end still show and the result has at most limit characters."""
    shown = "".join(char if unicodedata.category(char) != "Cc" else ascii(char)[1:-1] for char in url)
    if len(shown) <= limit:
        return shown
    tail = (limit - 1) // 3
    return f"{shown[:limit - 1 - tail]}…{shown[len(shown) - tail:]}"


def host_of(url: str, *, www: bool = True) -> str:
    """Lower-case host, with its port unless it is the scheme's default: what a server is known
    by, and a site in the web view. www=False: without a leading "www.", as people name a site
    (`scraper ls --site example.com` lists www.example.com's pages too)."""
    try:
        host = _host_and_port(urlsplit(url.strip()))
    except ValueError:  # a malformed URL: it will fail to fetch, with its own message
        return ""
    return host if www else host.removeprefix("www.")


def _host_and_port(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: the URL will fail to fetch, with its own message
        return parts.netloc.rpartition("@")[2].lower()
    return host if port is None or _DEFAULT_PORTS.get(parts.scheme.lower()) == port else f"{host}:{port}"


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters.

    A URL too malformed to parse is its own canonical form.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    netloc = _host_and_port(parts)
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode(
        [
            (name, value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
            if not name.lower().startswith(_TRACKING_PREFIXES)
            and name.lower() not in _TRACKING_NAMES
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))
