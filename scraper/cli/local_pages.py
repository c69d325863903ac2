"""Pages given on the command line as saved files, or on stdin as -: read within --max-bytes,
and refused in one line unless they are HTML in a regular file."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from scraper.cli.output import safe
from scraper.encoding import decode_html, html_problem
from scraper.errors import NotHTML, TooLarge
from scraper.models import Page
from scraper.urls import shorten


def local_page(target: str, url: str | None, max_bytes: int, missing: str) -> Page:
    """The page saved at target (- for stdin), recorded under url or else its file: URL."""
    content = _read_local(target, max_bytes, missing)
    address = url or ("stdin:" if target == "-" else Path(target).resolve().as_uri())
    html, encoding = decode_html(content)
    return Page(url=address, final_url=address, content=content, html=html, encoding=encoding)


def _read_local(target: str, max_bytes: int, missing: str) -> bytes:
    """The bytes of a saved page, or of stdin for -: at most max_bytes, and HTML.

    Anything else ends the command with one line: a file that is not there or is not a
    regular file (a directory, a FIFO, a device) as a usage error, at once; bytes that are
    too many, binary or not HTML as the error the fetcher raises for such a body.
    """
    name = "stdin" if target == "-" else shorten(safe(target))
    if target == "-":
        content = sys.stdin.buffer.read(max_bytes + 1)
    else:
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        except OSError as exc:
            raise click.BadParameter(f"{name}: {missing} ({exc.strerror})", param_hint="FILE") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise click.BadParameter(f"{name} is a directory, not a saved page", param_hint="FILE")
            raise click.BadParameter(f"{name} is not a regular file (a FIFO, device or socket): "
                                     "save the page to a file, or give it on stdin as -", param_hint="FILE")
        with os.fdopen(fd, "rb") as handle:
            content = handle.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise TooLarge(name, f"more than {max_bytes} bytes (--max-bytes)")
    if (problem := html_problem(content)) is not None:
        raise NotHTML(name, problem)
    return content
