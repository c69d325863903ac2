"""A real HTTP server on 127.0.0.1 for the tests: fixture pages plus programmable answers.

    /fixtures/<path>         a file under fixtures/
    /status/<code>           that status, with a small HTML body
    /delay/<seconds>/<path>  sleeps, then serves /fixtures/<path>
    anything set with .set() or .sequence()
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    delay: float = 0.0


def fixture_response(path: str, **kwargs: object) -> Response:
    return Response(body=(FIXTURES / path).read_bytes(), **kwargs)  # type: ignore[arg-type]


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[Response]] = {}
        self.log: list[tuple[float, str]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []  # each request's first line and headers
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def set(self, path: str, response: Response) -> str:
        """Answer every request for path with response; returns the full URL."""
        return self.sequence(path, [response])

    def sequence(self, path: str, responses: list[Response]) -> str:
        """Answer successive requests with successive responses; the last one repeats."""
        with self.lock:
            self.routes[path] = list(responses)
        return self.url(path)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, logged in self.log if logged == path)

    def next_response(self, path: str) -> Response:
        with self.lock:
            self.log.append((time.monotonic(), path))
            queue = self.routes.get(path)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        path = path.split("?")[0]
        if path.startswith("/fixtures/"):
            file = (FIXTURES / path.removeprefix("/fixtures/")).resolve()
            if file.is_file() and FIXTURES in file.parents:
                return Response(body=file.read_bytes())
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            return Response(status=code, body=f"<html><body><h1>{code}</h1></body></html>".encode())
        if path.startswith("/delay/"):
            _, _, seconds, rest = path.split("/", 3)
            return fixture_response(rest, delay=float(seconds))
        return Response(status=404, body=b"<html><body>not found</body></html>")

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (timeout tests) are expected here

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.requests.append((self.requestline, headers))
        response = self.server.next_response(self.path)
        if response.delay:
            time.sleep(response.delay)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to do

    def log_message(self, format: str, *args: object) -> None:
        pass  # the server keeps its own log; stderr stays quiet
