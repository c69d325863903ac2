"""`scraper run --ray`: the same run with fetching and cleaning on a real Ray cluster.

Most tests join one head node started on loopback for the module (`ray start --head`,
through RAY_ADDRESS); one lets the run start and stop a Ray instance of its own.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from tests.hostile import HostileServer
from tests.server import FIXTURES, LocalServer, Response

ray = pytest.importorskip("ray")

SEED = "seeds/" + next(iter(sorted(path.name for path in SEEDS.glob("*.html"))))
FLAGS = ["--timeout", "5", "--deadline", "20", "--retries", "1"]
RUN_TIMEOUT = 240
NO_TOKEN = {"RAY_AUTH_MODE": "disabled"}
"""A loopback test cluster needs no token authentication."""


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _head(auth: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A one-node Ray cluster on loopback, started with the auth settings given: its address,
    and the pid whose descendants it runs."""
    port = _free_port()
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}",
         "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false",
         f"--object-store-memory={200 * 1024 * 1024}", "--block", "--disable-usage-stats"],
        env={**os.environ, **auth, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 120
        while True:  # up once its GCS takes connections
            assert head.poll() is None, "ray start failed"
            assert time.monotonic() < give_up, "ray start took over 2 minutes"
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.5)
        yield address, head.pid
    finally:
        head.terminate()  # --block: ends the node's processes, and only this node's
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, int]]:
    with _head(NO_TOKEN) as head:
        yield head


def _env(db_path: Path, address: str | None, auth: dict[str, str] = NO_TOKEN) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS" and not key.startswith("RAY_AUTH")}
    env.update(auth, SCRAPER_DB=str(db_path))
    if address:
        env["RAY_ADDRESS"] = address
    return env


def _start(listing: Path, db_path: Path, address: str | None, *flags: str,
           auth: dict[str, str] = NO_TOKEN) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "scraper", "run", str(listing), "--ray", "--json", *FLAGS, *flags],
                            env=_env(db_path, address, auth), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(listing: Path, db_path: Path, address: str | None, *flags: str,
         auth: dict[str, str] = NO_TOKEN) -> tuple[int, dict[str, object], str]:
    process = _start(listing, db_path, address, *flags, auth=auth)
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert out, err
    return process.returncode, json.loads(out), err


def _listing(path: Path, urls: list[str]) -> Path:
    path.write_text("\n".join(urls) + "\n")
    return path


def _checked(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute(  # every page has the version it claims: none half-saved
        "SELECT count(*) FROM pages p LEFT JOIN versions v"
        " ON v.page_id = p.id AND v.version = p.latest_version WHERE v.id IS NULL").fetchone()[0] == 0
    return db


def _versions(db_path: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM versions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _wait_until(done: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Wait (2 minutes at most) until done(), while the run goes on."""
    give_up = time.monotonic() + 120
    while not done():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up, f"no {what} in 2 minutes"
        time.sleep(0.05)


def _wait_for_versions(db_path: Path, count: int, process: subprocess.Popen[str]) -> None:
    _wait_until(lambda: _versions(db_path) >= count, process, f"{count} versions")


DELAY = 0.3
INTERVAL = 0.5
CRAWL_DELAY = 1.0


def test_a_cluster_run_is_as_polite_as_a_local_one_and_fetches_conditionally(
        cluster: tuple[str, int], db_path: Path, tmp_path: Path) -> None:
    """Three hosts over several fetcher actors: per host one URL at a time, --interval apart,
    Crawl-delay raising it; stdout holds the JSON summary only; a rerun sends the ETag."""
    with LocalServer() as one, LocalServer() as two, LocalServer() as slow, HostileServer() as conditional:
        tagged = conditional.set_page("/tagged", (FIXTURES / SEED).read_bytes(), etag="v1")
        slow.set("/robots.txt", Response(body=f"User-agent: *\nCrawl-delay: {CRAWL_DELAY:g}\n".encode(),
                                          headers={"Content-Type": "text/plain"}))
        urls = [tagged] + [server.url(f"/delay/{DELAY}/{SEED}?n={n}") for server in (one, two, slow) for n in range(4)]
        listing = _listing(tmp_path / "urls.txt", urls)
        code, totals, err = _run(listing, db_path, cluster[0], "--per-host", "1", "--interval", str(INTERVAL))
        assert code == 0, err
        assert (totals["urls"], totals["new_versions"], totals["failed"]) == (13, 13, 0)
        assert "13 URLs: 13 fetched, 13 new versions" in err

        for server, spacing in ((one, INTERVAL), (two, INTERVAL), (slow, CRAWL_DELAY)):
            starts = sorted(at for at, path in server.log if path.startswith("/delay/"))
            assert len(starts) == 4
            # One at a time: each request starts after the last one's answer (DELAY) and its turn.
            # Seen at the server, whose thread notes a request when it gets the CPU: on a loaded
            # machine a start shows up to 10 ms late, and the next gap that much short.
            gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
            assert all(gap >= max(spacing, DELAY) - 0.05 for gap in gaps), (server.base, gaps)

        code, totals, err = _run(_listing(tmp_path / "again.txt", [tagged]), db_path, cluster[0])
        assert code == 0, err
        assert (totals["unchanged"], totals["failed"]) == (1, 0)
        # the driver sent the stored ETag with the URL
        assert [hit.headers.get("if-none-match") for hit in conditional.hits("/tagged")] == [None, '"v1"']
    with _checked(db_path) as db:
        assert db.execute("SELECT count(*), max(version) FROM versions").fetchone() == (13, 1)


def test_a_run_starts_a_ray_instance_of_its_own_and_reports_as_locally(db_path: Path, tmp_path: Path) -> None:
    """No RAY_ADDRESS: the run starts Ray and stops it; failures, summary and exit code as a local run."""
    with LocalServer() as server:
        urls = [server.url(f"/fixtures/{SEED}?n={n}") for n in range(3)] + [server.url("/status/404")]
        code, totals, err = _run(_listing(tmp_path / "urls.txt", urls), db_path, None, "-c", "4")
    assert code == 1, err
    assert (totals["new_versions"], totals["failed"], totals["failed_by_reason"]) == (3, 1, {"http 404": 1})
    assert "failed: " in err and "/status/404" in err



def test_a_cluster_with_token_authentication_is_joined_with_its_token(db_path: Path, tmp_path: Path) -> None:
    """Without RAY_AUTH_MODE=token the run fails in one line that says what to set; with it and
    the head's token, the run archives its page."""
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    home = tmp_path / "home"  # Ray looks for ~/.ray/auth_token: not the user's
    home.mkdir()
    with _head({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "HOME": str(home)}) as (address, _), \
            LocalServer() as server:
        listing = _listing(tmp_path / "urls.txt", [server.url(f"/fixtures/{SEED}")])
        command = [sys.executable, "-m", "scraper", "run", str(listing), "--ray", "--json", *FLAGS]
        refused = subprocess.run(command, env={**_env(db_path, address, {}), "HOME": str(home)},
                                 capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert refused.returncode == 1 and refused.stdout == "", refused.stderr
        error = refused.stderr.strip().splitlines()[-1]
        assert error.startswith(f"Error: cannot start or join the cluster at {address}: "), error
        assert "RAY_AUTH_MODE=token" in error and "Traceback" not in refused.stderr

        code, totals, err = _run(listing, db_path, address, auth={"RAY_AUTH_MODE": "token",
                                                                 "RAY_AUTH_TOKEN_PATH": str(token)})
    assert code == 0, err
    assert (totals["new_versions"], totals["failed"]) == (1, 0)

SLOW = 3.0


def test_a_host_gets_as_many_urls_at_once_as_per_host_allows(
        cluster: tuple[str, int], server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    """--per-host 4: a host's four URLs are all out at once, not sent one a second."""
    listing = _listing(tmp_path / "urls.txt", [server.url(f"/delay/{SLOW}/{SEED}?n={n}") for n in range(4)])
    code, totals, err = _run(listing, db_path, cluster[0], "-c", "4", "--per-host", "4", "--interval", "0")
    assert code == 0, err
    assert totals["new_versions"] == 4
    starts = sorted(at for at, path in server.log if path.startswith("/delay/"))
    assert starts[-1] - starts[0] < SLOW / 2, starts  # each started before the first could end


def _descendants(pid: int) -> dict[int, str]:
    """Process ids under pid, with their command lines."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = lines.get(child, "")
                frontier.append(child)
    return found


PAGES = 24


def _slow_list(server: LocalServer, tmp_path: Path, seconds: float) -> Path:
    return _listing(tmp_path / "urls.txt", [server.url(f"/delay/{seconds}/{SEED}?n={n}") for n in range(PAGES)])


def test_a_killed_driver_keeps_what_it_saved_and_a_rerun_finishes(
        cluster: tuple[str, int], server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    listing = _slow_list(server, tmp_path, 0.25)
    process = _start(listing, db_path, cluster[0], "-c", "2", "--interval", "0")
    _wait_for_versions(db_path, 4, process)
    process.kill()  # SIGKILL: no chance to clean up
    process.communicate(timeout=30)
    with _checked(db_path) as db:
        kept = db.execute("SELECT count(*) FROM versions").fetchone()[0]
    assert 4 <= kept < PAGES

    code, totals, err = _run(listing, db_path, None, "--ray-address", cluster[0],  # the option, not RAY_ADDRESS
                             "-c", "8", "--per-host", "8", "--interval", "0")
    assert code == 0, err
    assert (totals["fetched"], totals["new_versions"], totals["unchanged"]) == (PAGES, PAGES - kept, kept)
    with _checked(db_path) as db:
        assert db.execute("SELECT count(*), max(version) FROM versions").fetchone() == (PAGES, 1)


def test_a_killed_fetcher_costs_only_its_urls_in_flight(
        cluster: tuple[str, int], server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    """kill -9 of a fetcher actor's process mid-run: its URLs are sent again (the actor
    restarts) or fail as "worker lost"; the run finishes and accounts for every URL."""
    listing = _slow_list(server, tmp_path, 1.0)
    process = _start(listing, db_path, cluster[0], "-c", "8", "--per-host", "8", "--interval", "0")
    _wait_for_versions(db_path, 2, process)
    # A fetch under way, for at least half a second more: the server answers each after 1 s. (Just
    # after a save, every URL out may be fetched already, waiting to be cleaned or saved.)
    _wait_until(lambda: _arrived_since(server, time.monotonic() - 0.5), process, "fetch under way")
    fetchers = [pid for pid, line in _descendants(cluster[1]).items() if line.startswith("ray::Fetcher")]
    assert fetchers, "no fetcher actor found"
    for pid in fetchers:
        os.kill(pid, signal.SIGKILL)
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    totals = json.loads(out)
    lost = totals["failed_by_reason"].get("worker lost", 0)  # type: ignore[attr-defined]
    assert totals["failed"] == lost, err
    assert totals["fetched"] + lost == PAGES
    assert process.returncode == (1 if lost else 0)
    with _checked(db_path) as db:
        assert db.execute("SELECT count(*) FROM versions").fetchone()[0] == totals["fetched"]
    # The fetches cut short were made again.
    assert len([path for _, path in server.log if path.startswith("/delay/")]) > PAGES - lost


def _arrived_since(server: LocalServer, moment: float) -> bool:
    """Whether a request of the slow list reached the server after moment (time.monotonic())."""
    with server.lock:
        return any(at > moment and path.startswith("/delay/") for at, path in server.log)


def _archived(db_path: Path) -> dict[str, object]:
    """Every page's latest HTML, text and Markdown as read back, and every stored blob."""
    from archive import Archive

    with Archive(db_path, readonly=True) as archive:
        pages = {}
        for (url,) in archive.db.execute("SELECT url FROM pages").fetchall():
            version = archive.version(url)
            pages[url] = (archive.raw_html(version["html_sha256"]), version["text"], version["markdown"])
        blobs = set(archive.db.execute("SELECT sha256, size, compression, dictionary_id, content FROM blobs"))
    return {"pages": pages, "blobs": blobs}


def test_a_cluster_run_archives_what_a_local_run_does(
        cluster: tuple[str, int], server: LocalServer, tmp_path: Path) -> None:
    """Regression guard: pages packed in the Ray tasks, with the archive's trained dictionary,
    read back as those a local run packs in its writer; their blobs are the same bytes."""
    from archive import Archive, compression

    seeds = sorted(path.name for path in SEEDS.glob("*.html"))
    trained = b"".join((SEEDS / name).read_bytes()[:4096] for name in seeds)
    urls = [server.url(f"/fixtures/seeds/{name}?n={n}") for name in seeds for n in range(2)]
    listing = _listing(tmp_path / "urls.txt", urls)
    archived = []
    for name, address in (("local", None), ("ray", cluster[0])):
        db_path = tmp_path / f"{name}.db"
        with Archive(db_path) as archive:  # as if an earlier run had trained it
            archive.db.execute("INSERT INTO dictionaries (trained_at, samples, sample_bytes, content_zstd)"
                               " VALUES ('2026-01-01T00:00:00Z', 1, 1, ?)", [compression.compress(trained)])
        flags = [*FLAGS, "--interval", "0"]
        if address is None:
            result = subprocess.run([sys.executable, "-m", "scraper", "run", str(listing), "--json", *flags],
                                    env=_env(db_path, None), capture_output=True, text=True, timeout=RUN_TIMEOUT)
            code, totals, err = result.returncode, json.loads(result.stdout), result.stderr
        else:
            code, totals, err = _run(listing, db_path, address, "--interval", "0")
        assert code == 0, err
        assert totals["new_versions"] == len(urls), err
        archived.append(_archived(db_path))
    local, on_ray = archived
    assert on_ray == local
    assert {(method, dictionary) for _, _, method, dictionary, _ in on_ray["blobs"]} == {  # type: ignore[attr-defined]
        ("zstd-dict-text", 1)}


def test_a_run_on_ray_without_ray_says_so_in_one_line_before_it_does_anything(tmp_path: Path) -> None:
    # As where `pip install scraper` was run without [ray]: the module cannot be imported.
    (tmp_path / "urls.txt").write_text("https://example.org/a\n")
    code = ("import sys; sys.modules['ray'] = None; "
            "sys.argv = ['scraper', 'run', 'urls.txt', '--ray', '--db', 'archive.db']; "
            "from scraper.__main__ import main; main()")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert not (tmp_path / "archive.db").exists()  # no archive made, no run recorded
    assert "--ray needs ray: pip install 'scraper[ray]'" in done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_a_clean_task_packs_its_page_unless_the_archive_holds_its_article_already() -> None:
    """The task as a function, here: a page is packed with the dictionary it is given; a page
    whose article has the content hash of the page's latest version is not (it is not saved)."""
    from archive import packing
    from scraper.models import Page
    from scraper.run import ray as on_ray

    content = (FIXTURES / SEED).read_bytes()
    fetched = Page(url="https://example.com/a", final_url="https://example.com/a", content=content,
                   html=content.decode(), status=200)
    dictionary = packing.Dictionary(3, content[:2048])
    try:
        answer = on_ray.clean(on_ray.Wire.of(fetched), dictionary, None, 60.0, 1024)
        assert not isinstance(answer, Exception)
        cleaned = answer.cleaned()
        assert cleaned.page == fetched and cleaned.article is not None
        assert cleaned.packed == packing.pack(content, cleaned.article, dictionary)
        assert cleaned.packed.blob is not None and cleaned.packed.blob.dictionary_id == 3
        again = on_ray.clean(on_ray.Wire.of(fetched), dictionary, cleaned.article.content_hash, 60.0, 1024)
        assert not isinstance(again, Exception)
        assert (again.article, again.packed) == (cleaned.article, None)
    finally:
        on_ray._POOLS.pop((60.0, 1024)).close()


def test_a_fetched_page_crosses_the_cluster_compressed_and_arrives_as_fetched() -> None:
    """A page goes between fetcher, task and driver as a Wire, pickled as Ray pickles it: it
    comes back equal field for field, its text left out when that is its body as UTF-8 (so it
    is much smaller than the page), sent compressed when it is not."""
    import pickle
    from datetime import UTC, datetime

    from scraper.models import Page
    from scraper.run.ray import Wire

    content = (FIXTURES / SEED).read_bytes()
    fetched_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    utf8 = Page(url="https://example.com/a", final_url="https://example.com/b", content=content,
                html=content.decode(), status=200, headers={"etag": '"x"', "content-type": "text/html"},
                fetched_at=fetched_at)
    latin1_body = "<html><body><p>Caf\u00e9 na\u00efve, 10 \u00b0C</p></body></html>".encode("latin-1")
    latin1 = Page(url="https://example.com/c", final_url="https://example.com/c", content=latin1_body,
                  html=latin1_body.decode("latin-1"), status=200, encoding="iso-8859-1")
    with_bom = Page(url="https://example.com/d", final_url="https://example.com/d", content=b"\xef\xbb\xbf" + content,
                    html=content.decode(), status=200)
    undecodable = Page(url="file:///e.html", final_url="file:///e.html", content=b"<p>\xff</p>",
                       html=b"<p>\xff</p>".decode("utf-8", "surrogateescape"))
    not_modified = Page(url="https://example.com/f", final_url="https://example.com/f", content=b"", html="",
                        status=304)

    for page in (utf8, latin1, with_bom, undecodable, not_modified):
        wire = Wire.of(page)
        arrived = pickle.loads(pickle.dumps(wire, protocol=5)).page()
        assert arrived == page
        assert type(arrived.content) is bytes and type(arrived.html) is str
        assert (wire.html_zstd is None) == (page.html == page.content.decode("utf-8", "replace"))

    assert Wire.of(utf8).html_zstd is None and Wire.of(latin1).html_zstd is not None
    assert Wire.of(with_bom).html_zstd is not None and Wire.of(undecodable).html_zstd is not None
    page_size, wire_size = len(pickle.dumps(utf8, protocol=5)), len(pickle.dumps(Wire.of(utf8), protocol=5))
    assert wire_size < page_size / 4, (wire_size, page_size)
    assert wire_size < len(content) / 2
