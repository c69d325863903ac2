"""The web view's routes, its access rule and its security headers.

Each view gathers plain data (archive.web.queries) and shows it as HTML (a Jinja2 template,
autoescaped) or, asked with `Accept: application/json` or a `.json` suffix, as that data in
JSON. The archive is read through one read-only connection, used by one thread only: SQLite
connections belong to their thread, and a personal archive's views take milliseconds.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from archive.store import Archive
from archive.web import present, queries
from scraper.encoding import decode_html
from scraper.errors import ArchiveError, NotArchived, SearchError
from scraper.models import strip_controls

TOKEN_COOKIE = "scraper_token"
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self';"
            " base-uri 'none'; frame-ancestors 'none'")
SNAPSHOT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none';" \
               " frame-ancestors 'self'"
"""The raw HTML as fetched runs no script, submits nothing and loads nothing, from its site or ours,
even opened on its own (the sandbox directive gives it an origin of its own)."""
_STATIC = Path(__file__).parent / "static"


def is_loopback(host: str) -> bool:
    """Whether host is a loopback name or address: only this machine can reach it."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Web:
    """The archive at db_path, shown. token: required of every request (header, cookie or
    ?token=); without one, only requests naming a loopback host are answered (so a web page
    cannot read the archive through a DNS name rebound to 127.0.0.1)."""

    def __init__(self, db_path: str | Path, *, token: str | None = None) -> None:
        self.db_path = Path(db_path)
        self.token = token
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive")
        self._archive: Archive | None = None
        self.templates = Environment(loader=PackageLoader("archive.web", "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))
        self.templates.filters.update(linkable=present.linkable, markdown=present.markdown,
                                      change_html=present.change_html, side_by_side=present.side_by_side,
                                      first_changes=present.first_changes, clean=_clean)
        self.templates.globals.update(query_string=_query_string, sorts=list(queries.SORTS))
        self.app = Starlette(routes=[
            *_both("/", self.pages_view, "/pages"),
            *_both("/pages/{page_id:int}", self.page_view),
            *_both("/pages/{page_id:int}/versions/{number:int}", self.version_view),
            Route("/pages/{page_id:int}/versions/{number:int}/snapshot", self.snapshot),
            *_both("/pages/{page_id:int}/diff", self.diff_view),
            Route("/page", self.find_page),
            *_both("/runs", self.runs_view),
            *_both("/runs/{run_id:int}", self.run_view),
            *_both("/failures", self.failures_view),
            Route("/changes.atom", self.feed),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Mount("/static", StaticFiles(directory=_STATIC), name="static"),
        ], exception_handlers={NotArchived: self._not_found, SearchError: self._bad_query,
                               ArchiveError: self._unreadable})

    def __enter__(self) -> Web:
        """Open the archive now (read-only): ArchiveError for a missing or foreign file."""
        try:
            self._thread.submit(self._get).result()
        except BaseException:
            self._thread.shutdown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        def close() -> None:
            if self._archive is not None:
                self._archive.close()
        self._thread.submit(close).result()
        self._thread.shutdown()

    def _get(self) -> Archive:
        if self._archive is None:
            archive = Archive(self.db_path, readonly=True)
            queries.prepare(archive)
            self._archive = archive
        return self._archive

    async def _read(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: function(self._get(), *args, **kwargs))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The access rule, then the app, then the security headers on every answer."""
        if scope["type"] != "http":
            return  # no websockets here; lifespan events are off
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await _with_headers(refusal, snapshot=False, cookie=None)(scope, receive, send)
            return
        cookie = self.token if self._token_in_query(request) else None
        await _with_headers(self.app, snapshot=scope["path"].endswith("/snapshot"), cookie=cookie)(scope, receive, send)

    def _token_in_query(self, request: Request) -> bool:
        given = request.query_params.get("token")
        return self.token is not None and given is not None and _same(given, self.token)

    def _refusal(self, request: Request) -> Response | None:
        if self.token is None:
            try:
                host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
            except ValueError:  # a malformed Host header
                host = ""
            if not is_loopback(host):
                return Response("This archive is served to this machine only.\n", 421, media_type="text/plain")
            return None
        given = [request.query_params.get("token"), request.cookies.get(TOKEN_COOKIE)]
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            given.append(authorization[7:].strip())
        if any(value is not None and _same(value, self.token) for value in given):
            return None
        return Response("This archive needs its token: add ?token=... to the address once, or send"
                        " Authorization: Bearer ...\n", 401, media_type="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="scraper"'})

    # ---- views --------------------------------------------------------------------------

    async def pages_view(self, request: Request) -> Response:
        params = request.query_params
        found = await self._read(queries.pages, query=params.get("q", ""), site_filter=params.get("site", ""),
                                 sort=params.get("sort", ""), offset=_number(params.get("offset"), 0))
        found["sites"] = await self._read(queries.sites)
        for row in found["pages"]:
            row["links"] = _page_links(row["id"])
        if found["offset"] + found["limit"] < found["total"]:
            found["next"] = _query_string(request, offset=found["offset"] + found["limit"])
        return self._answer(request, "pages.html", found)

    async def page_view(self, request: Request) -> Response:
        page_id = request.path_params["page_id"]
        page = await self._read(queries.page, page_id)
        data = {"page": page, "versions": await self._read(queries.timeline, page_id),
                "similar": await self._read(queries.near_duplicates, page["url"]),
                "failures": await self._read(queries.page_failures, page["url"])}
        for row in data["versions"]:
            row["links"] = {"html": f"/pages/{page_id}/versions/{row['version']}",
                            "json": f"/pages/{page_id}/versions/{row['version']}.json"}
        return self._answer(request, "page.html", data)

    async def version_view(self, request: Request) -> Response:
        page_id, number = request.path_params["page_id"], request.path_params["number"]
        page = await self._read(queries.page, page_id)
        row = await self._read(queries.version, page_id, number)
        snapshot = f"/pages/{page_id}/versions/{number}/snapshot"
        return self._answer(request, "version.html", {"page": page, "version": row, "snapshot": snapshot})

    async def snapshot(self, request: Request) -> Response:
        page_id, number = request.path_params["page_id"], request.path_params["number"]
        row = await self._read(queries.version, page_id, number)
        body = await self._read(lambda archive: archive.raw_html(row["html_sha256"]))
        return Response(_as_utf8(body, row["encoding"]), media_type="text/html; charset=utf-8")

    async def diff_view(self, request: Request) -> Response:
        page_id = request.path_params["page_id"]
        page = await self._read(queries.page, page_id)
        newer = _number(request.query_params.get("to"), page["latest_version"])
        older = _number(request.query_params.get("from"), max(1, newer - 1))
        data = {"page": page, **await self._read(queries.diff, page_id, older, newer)}
        return self._answer(request, "diff.html", data, older=data["from"], newer=data["to"])

    async def find_page(self, request: Request) -> Response:
        """/page?url=...: the page archived under that address."""
        url = request.query_params.get("url", "")
        found = await self._read(lambda archive: archive.page(url))
        suffix = ".json" if _wants_json(request) else ""
        return RedirectResponse(f"/pages/{found['id']}{suffix}", status_code=303)

    async def runs_view(self, request: Request) -> Response:
        return self._answer(request, "runs.html", {"runs": await self._read(queries.runs)})

    async def run_view(self, request: Request) -> Response:
        return self._answer(request, "run.html", await self._read(queries.run, request.path_params["run_id"]))

    async def failures_view(self, request: Request) -> Response:
        runs = max(1, _number(request.query_params.get("runs"), 1))
        return self._answer(request, "failures.html", {"runs": runs, "failures": await self._read(queries.failures,
                                                                                                  runs)})

    async def feed(self, request: Request) -> Response:
        site = request.query_params.get("site", "")
        entries = await self._read(queries.changes, site_filter=site)
        base = str(request.base_url).rstrip("/")
        updated = entries[0]["fetched_at"] if entries else "1970-01-01T00:00:00Z"
        body = self.templates.get_template("changes.atom").render(entries=entries, site=site, base=base,
                                                                  updated=updated)
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    # ---- answers ------------------------------------------------------------------------

    def _answer(self, request: Request, template: str, data: dict[str, Any], status: int = 200,
                **extra: Any) -> Response:
        """data as JSON, or shown by template (with extra, for the template only)."""
        if _wants_json(request):
            return JSONResponse(data, status_code=status, headers={"Vary": "Accept"})
        html = self.templates.get_template(template).render(request=request, **data, **extra)
        return Response(html, status, media_type="text/html; charset=utf-8", headers={"Vary": "Accept"})

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return self._error(request, 404, str(exc))

    async def _bad_query(self, request: Request, exc: Exception) -> Response:
        return self._error(request, 400, str(exc))

    async def _unreadable(self, request: Request, exc: Exception) -> Response:
        return self._error(request, 500, str(exc))

    def _error(self, request: Request, status: int, message: str) -> Response:
        return self._answer(request, "error.html", {"error": strip_controls(message), "status": status}, status)


def _both(path: str, endpoint: Callable[[Request], Awaitable[Response]], *aliases: str) -> list[Route]:
    """A view's routes: HTML (or JSON, by the Accept header) at path and its aliases, JSON at path.json."""
    json_path = (aliases[0] if aliases else path) + ".json"
    return [Route(each, endpoint) for each in (path, *aliases, json_path)]


def _same(given: str, token: str) -> bool:
    """Constant-time comparison (of bytes: compare_digest refuses non-ASCII strings)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))


def _wants_json(request: Request) -> bool:
    if request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _page_links(page_id: int) -> dict[str, str]:
    return {"html": f"/pages/{page_id}", "json": f"/pages/{page_id}.json"}


def _number(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


def _as_utf8(raw: bytes, encoding: str | None) -> bytes:
    """The HTML as fetched, in UTF-8: decoded as it was when archived (a charset label in the
    header would not do: Python's codec names are not all browsers' labels)."""
    try:
        return raw.decode(encoding or "utf-8", errors="replace").encode("utf-8", errors="replace")
    except LookupError:
        return decode_html(raw)[0].encode("utf-8", errors="replace")


def _clean(text: object) -> str:
    """Text fit for XML and for one line: no control characters."""
    return " ".join(strip_controls("" if text is None else str(text)).split())


def _query_string(request: Request, **changes: object) -> str:
    """This view's address with some query parameters changed (None drops one)."""
    params = {key: value for key, value in request.query_params.items() if key != "token"}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return request.url.path + ("?" + urlencode(params) if params else "")


def _with_headers(app: ASGIApp, *, snapshot: bool, cookie: str | None) -> ASGIApp:
    """app, its answers carrying the security headers (and the token's cookie, when it came in the query)."""
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", [])
                           if name.lower() not in (b"content-security-policy", b"x-frame-options")]
                headers += [
                    (b"content-security-policy", (SNAPSHOT_CSP if snapshot else PAGE_CSP).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"SAMEORIGIN" if snapshot else b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cache-control", b"no-cache"),
                ]
                if cookie is not None:
                    jar: SimpleCookie = SimpleCookie()
                    jar[TOKEN_COOKIE] = cookie
                    jar[TOKEN_COOKIE]["httponly"] = True
                    jar[TOKEN_COOKIE]["samesite"] = "Strict"
                    jar[TOKEN_COOKIE]["path"] = "/"
                    headers.append((b"set-cookie", jar[TOKEN_COOKIE].OutputString().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, sending)

    return wrapped
