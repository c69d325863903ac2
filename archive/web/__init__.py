"""`scraper serve`: a web view of the archive, read-only, with diffs and an Atom feed of changes.

A small ASGI app (Starlette routes, Jinja2 templates with autoescaping) served by uvicorn:
    /                      pages, with full-text search (?q=), a site filter (?site=), sorting (?sort=)
    /pages/ID              a page's versions, near-duplicates on other sites, failed fetches
    /pages/ID/versions/N   a version: text, Markdown, metadata, the HTML as fetched in a sandboxed frame
    /pages/ID/diff?from=1&to=2   word diff, inline and side by side
    /runs, /runs/ID, /failures   recent runs and what failed
    /changes.atom[?site=]  new versions as an Atom feed
Each view is JSON too: a .json suffix (/pages.json, /pages/ID.json, ...) or Accept: application/json.
"""

from __future__ import annotations

import socket

from archive.web.app import Web, is_loopback

__all__ = ["Web", "bind", "is_loopback", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); OSError when it cannot be had."""
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(web: Web, sock: socket.socket) -> None:
    """Serve web (an open Web) on a bound socket until interrupted."""
    import uvicorn

    config = uvicorn.Config(web, log_level="warning", access_log=False, lifespan="off", proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
