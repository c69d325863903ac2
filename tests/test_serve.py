"""`scraper serve` over HTTP: every view as HTML and JSON, the token rule, hostile content
escaped, read-only beside a writing run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from archive import Archive
from tests.conftest import FAST_FLAGS, scraper_cli
from tests.served import HOSTILE, INSERTED, OTHER, STORY, fill, serving
from tests.server import LocalServer, Response
from tests.test_read_only import _files, read_only_folder  # noqa: F401 - a fixture

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("served") / "archive.db"
    fill(path)
    with serving(path) as (base, _):
        yield base


def _ids(base: str) -> dict[str, int]:
    return {page["url"]: page["id"] for page in httpx.get(f"{base}/pages.json").json()["pages"]}


def test_the_pages_list_with_search_site_filter_and_sort(served: str) -> None:
    listing = httpx.get(f"{served}/pages.json").json()
    assert listing["total"] == 3 and listing["sort"] == "changed"
    story = listing["pages"][0]
    assert story["url"] == STORY  # changed last
    assert story["versions"] == 2 and story["site"] == "news.example" and story["title"].endswith("in April")
    assert story["last_changed"] == "2026-11-02T08:00:00Z" and story["last_checked"]
    found = httpx.get(f"{served}/pages.json", params={"q": "cyclists bridge"}).json()
    assert [page["url"] for page in found["pages"]] == [STORY] and "[cyclists]" in found["pages"][0]["snippet"]
    assert httpx.get(f"{served}/pages.json", params={"q": "bakery"}).json()["pages"][0]["url"] == OTHER
    assert httpx.get(f"{served}/pages.json", params={"q": "nowhere-to-be-found"}).json()["total"] == 0
    by_site = httpx.get(f"{served}/pages.json", params={"site": "other.example"}).json()
    assert [page["url"] for page in by_site["pages"]] == [OTHER]
    assert {"site": "news.example", "pages": 1} in by_site["sites"]
    by_title = httpx.get(f"{served}/pages.json", params={"sort": "title"}).json()
    assert [page["url"] for page in by_title["pages"]] == [OTHER, HOSTILE, STORY]
    html = httpx.get(served, params={"q": "cyclists"})
    assert html.headers["content-type"].startswith("text/html") and "Harbour bridge to close in April" in html.text
    assert "Bakery" not in html.text
    # A query FTS5 would choke on is words to find, not an error page.
    assert httpx.get(f"{served}/pages.json", params={"q": '"unbalanced AND ( NEAR'}).status_code == 200


def test_a_page_its_versions_and_failures(served: str) -> None:
    page_id = _ids(served)[STORY]
    data = httpx.get(f"{served}/pages/{page_id}.json").json()
    assert data["page"]["url"] == STORY and data["page"]["latest_version"] == 2
    newest, oldest = data["versions"]
    assert (newest["version"], newest["words_added"], newest["words_removed"]) == (2, 14, 1)
    assert oldest["version"] == 1 and oldest["cleaner"]
    assert data["similar"] == [] and data["failures"] == []
    html = httpx.get(f"{served}/pages/{page_id}").text
    assert f'href="/pages/{page_id}/diff?from=1&amp;to=2"' in html and "+14" in html
    same = httpx.get(f"{served}/pages/{page_id}", headers={"Accept": "application/json"})
    assert same.headers["content-type"] == "application/json" and same.json() == data
    redirect = httpx.get(f"{served}/page", params={"url": STORY})
    assert redirect.status_code == 303 and redirect.headers["location"] == f"/pages/{page_id}"
    missing = httpx.get(f"{served}/pages/9999.json")
    assert missing.status_code == 404 and "no page 9999" in missing.json()["error"]
    assert httpx.get(f"{served}/page", params={"url": "https://nowhere.example/"}).status_code == 404


def test_a_version_with_text_markdown_metadata_and_its_snapshot(served: str) -> None:
    page_id = _ids(served)[STORY]
    data = httpx.get(f"{served}/pages/{page_id}/versions/2.json").json()
    assert INSERTED in data["version"]["text"] and INSERTED in data["version"]["markdown"]
    assert data["version"]["site_name"] == "City News" and data["version"]["headers"]["content-type"]
    assert data["snapshot"] == f"/pages/{page_id}/versions/2/snapshot"
    html = httpx.get(f"{served}/pages/{page_id}/versions/2").text
    assert f'<iframe class="snapshot" sandbox src="/pages/{page_id}/versions/2/snapshot"' in html
    assert "City News" in html and INSERTED in html
    snapshot = httpx.get(f"{served}{data['snapshot']}")
    assert snapshot.status_code == 200 and INSERTED.encode() in snapshot.content
    csp = snapshot.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "script" not in csp
    assert httpx.get(f"{served}/pages/{page_id}/versions/7.json").status_code == 404


def test_a_diff_inline_and_side_by_side(served: str) -> None:
    page_id = _ids(served)[STORY]
    data = httpx.get(f"{served}/pages/{page_id}/diff.json", params={"from": 1, "to": 2}).json()
    assert (data["from"]["version"], data["to"]["version"], data["words_added"], data["words_removed"]) == (1, 2, 14, 1)
    assert {"op": "insert", "text": INSERTED + "\n"} in data["changes"]
    assert {"op": "delete", "text": "March, "} in data["changes"]
    assert httpx.get(f"{served}/pages/{page_id}/diff.json").json() == data  # the last two by default
    html = httpx.get(f"{served}/pages/{page_id}/diff", params={"from": 1, "to": 2}).text
    assert html.count(f"<ins>{INSERTED}\n</ins>") == 2  # inline, and in the side-by-side table
    assert "<del>March, </del>" in html and '<table class="diff side-by-side">' in html
    backwards = httpx.get(f"{served}/pages/{page_id}/diff.json", params={"from": 2, "to": 1}).json()
    assert {"op": "delete", "text": INSERTED + "\n"} in backwards["changes"]


def test_runs_and_failures(served: str) -> None:
    runs = httpx.get(f"{served}/runs.json").json()["runs"]
    assert [(run["status"], run["new_versions"], run["failed"]) for run in runs] == [("finished", 1, 0),
                                                                                      ("finished", 3, 1)]
    first = httpx.get(f"{served}/runs/{runs[1]['id']}.json").json()
    assert {"url": "https://gone.example/page", "outcome": "failed", "reason": "http 404"}.items() <= \
        next(fetch for fetch in first["fetches"] if fetch["outcome"] == "failed").items()
    assert httpx.get(f"{served}/failures.json").json()["failures"] == []  # the last run failed nothing
    failures = httpx.get(f"{served}/failures.json", params={"runs": 2}).json()["failures"]
    assert [(failure["url"], failure["reason"]) for failure in failures] == [("https://gone.example/page", "http 404")]
    assert "gone.example" in httpx.get(f"{served}/failures", params={"runs": 2}).text
    assert "http 404" in httpx.get(f"{served}/runs/{runs[1]['id']}").text


def test_the_atom_feed_of_changes_whole_and_per_site(served: str) -> None:
    feed = httpx.get(f"{served}/changes.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
    assert len(entries) == 4  # three new pages, one change
    newest = entries[0]
    assert newest.findtext(f"{ATOM}title") == "Changed: Harbour bridge to close in April"
    assert "/diff?from=1&to=2" in newest.find(f"{ATOM}link").get("href", "")  # type: ignore[union-attr]
    assert f"<ins>{INSERTED}" in (newest.findtext(f"{ATOM}content") or "")
    hostile = next(entry for entry in entries if "Breaking" in (entry.findtext(f"{ATOM}title") or ""))
    assert "<script>" in (hostile.findtext(f"{ATOM}title") or "")  # text, as XML parses it: not markup
    assert "<script>" not in (hostile.findtext(f"{ATOM}content") or "")  # the HTML content: escaped
    site = ET.fromstring(httpx.get(f"{served}/changes.atom", params={"site": "other.example"}).content)
    assert [entry.findtext(f"{ATOM}title") for entry in site.findall(f"{ATOM}entry")] == ["New: Bakery opens early"]


def test_hostile_content_is_escaped_and_never_a_link(served: str) -> None:
    page_id = _ids(served)[HOSTILE]
    views = ["/", "/?q=breaking", f"/pages/{page_id}", f"/pages/{page_id}/versions/1", "/runs/1",
             f"/pages/{page_id}/diff?from=1&to=1", "/failures?runs=5"]
    for view in views:
        response = httpx.get(f"{served}{view}")
        assert response.status_code == 200, view
        assert "default-src 'none'" in response.headers["content-security-policy"]
        body = response.text.replace('<iframe class="snapshot" sandbox', "")  # ours
        assert not re.search(r"<(script|svg|img|iframe)\b", body, re.IGNORECASE), view
        assert not [tag for tag in re.findall(r"<[^>]*>", body) if re.search(r"\son\w+\s*=", tag)], view
        assert not re.search(r"""(href|src)\s*=\s*["']?\s*(javascript|data):""", body, re.IGNORECASE), view
    version = httpx.get(f"{served}/pages/{page_id}/versions/1").text
    assert "&lt;script&gt;" in version and "onerror=&#34;fetch" in version
    markdown = version.split('<div class="markdown">')[1].split("</div>")[0]
    assert "click me" in markdown and "javascript:fetch" in markdown
    assert re.findall(r'href="([^"]*)"', markdown) == ["http://127.0.0.1:9/md-image.png"]  # an image: a link to it
    data = httpx.get(f"{served}/pages/{page_id}/versions/1.json").json()
    assert data["version"]["title"].startswith("Breaking <script>")  # JSON carries the data as it is


def test_the_token_rule(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    fill(path)
    refused = scraper_cli("serve", "--db", str(path), "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert refused.returncode == 2
    lines = refused.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "needs --token" in lines[0]
    with serving(path, "--host", "0.0.0.0", env={"SCRAPER_TOKEN": "s3cret-token"}) as (base, _):
        base = base.replace("0.0.0.0", "127.0.0.1")
        for view in ["/", "/pages.json", "/changes.atom", "/static/style.css", "/pages/1/versions/1/snapshot"]:
            assert httpx.get(base + view).status_code == 401, view
        assert httpx.get(base + "/pages.json", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(base + "/pages.json", params={"token": "wrong"}).status_code == 401
        assert httpx.get(base + "/pages.json", params={"token": "s3cret-tokén"}).status_code == 401
        assert httpx.get(base + "/pages.json", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        first = httpx.get(base + "/", params={"token": "s3cret-token"})
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Strict" in first.headers["set-cookie"]
        assert httpx.get(base + "/runs", cookies={"scraper_token": "s3cret-token"}).status_code == 200
        assert "token" not in first.text  # links do not repeat it
    # On loopback a token is optional, but checked when given.
    with serving(path, "--token", "loop-token") as (base, _):
        assert httpx.get(base + "/").status_code == 401
        assert httpx.get(base + "/", params={"token": "loop-token"}).status_code == 200


def test_without_a_token_only_loopback_host_names_are_answered(served: str) -> None:
    assert httpx.get(served, headers={"Host": "localhost:8080"}).status_code == 200
    rebound = httpx.get(served, headers={"Host": "attacker.example"})  # a DNS name rebound to 127.0.0.1
    assert rebound.status_code == 421


def test_serve_needs_an_archive_and_a_free_port(tmp_path: Path) -> None:
    missing = scraper_cli("serve", "--db", str(tmp_path / "none.db"), "--port", "0")
    assert missing.returncode == 1 and "no archive" in missing.stderr.decode()
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "notes.db").write_text("not a database")
    foreign = scraper_cli("serve", "--db", str(tmp_path / "notes.db"), "--port", "0")
    assert foreign.returncode == 1 and foreign.stderr.decode().strip().splitlines() == [
        f"Error: {tmp_path / 'notes.db'} is not a SQLite database"]
    path = tmp_path / "archive.db"
    fill(path)
    with serving(path) as (base, _):
        taken = scraper_cli("serve", "--db", str(path), "--port", base.rsplit(":", 1)[1])
        assert taken.returncode == 1 and len(taken.stderr.decode().strip().splitlines()) == 1
        assert "cannot listen" in taken.stderr.decode()


def test_serves_an_archive_in_a_read_only_folder(read_only_folder: tuple[Path, dict[str, object]]) -> None:  # noqa: F811
    folder, kwargs = read_only_folder
    before = _files(folder)
    with serving(folder / "archive.db", **kwargs) as (base, _):
        assert httpx.get(f"{base}/pages.json").json()["total"] >= 5
        assert httpx.get(f"{base}/runs.json").status_code == 200
        page_id = httpx.get(f"{base}/pages.json").json()["pages"][0]["id"]
        assert httpx.get(f"{base}/pages/{page_id}.json").status_code == 200  # near-duplicates computed, not stored
    assert _files(folder) == before


def _article(title: str, extra: str = "") -> bytes:
    paragraphs = [
        f"{title} was the talk of the town this week, as residents gathered to discuss what comes next.",
        "Officials said the plan had been years in the making and would be paid for from the regular budget.",
        f"Local shop owners welcomed the news, saying it would bring more visitors to the old quarter. {extra}",
        "A public meeting is planned for next month, when the final design will be shown to residents.",
    ]
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article>"
            "</body></html>").encode()


def _read_only_fds(pid: int, db_path: Path) -> list[tuple[str, int]]:
    """(file name, access mode) of every descriptor the process holds on the archive or its WAL."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target in (str(db_path), f"{db_path}-wal"):
            flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
            found.append((Path(target).name, flags & os.O_ACCMODE))
    return found


@pytest.mark.skipif(not Path("/proc/self/fdinfo").exists(), reason="reads /proc")
def test_serves_beside_a_writing_run_and_never_opens_the_file_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    fill(path)
    with LocalServer() as pages, serving(path) as (base, server):
        urls = [pages.set(f"/news/{number}", Response(_article(f"Story number {number}"), delay=0.05))
                for number in range(40)]
        listing = tmp_path / "urls.txt"
        listing.write_text("\n".join(urls) + "\n")
        run = subprocess.Popen([sys.executable, "-m", "scraper", "run", str(listing), "--db", str(path), *FAST_FLAGS,
                                "--quiet"], stderr=subprocess.PIPE)
        answers = []
        seen_during_run = set()
        while run.poll() is None:
            for view in ["/pages.json", "/runs.json", "/changes.atom", "/?q=story"]:
                response = httpx.get(base + view, timeout=30)
                answers.append(response.status_code)
                if view == "/pages.json":
                    seen_during_run.add(response.json()["total"])
            time.sleep(0.05)
        _, stderr = run.communicate()
        assert run.returncode == 0, stderr
        assert set(answers) == {200}
        final = httpx.get(base + "/pages.json").json()
        assert final["total"] == 43  # the server reads what the run wrote, as it writes it
        assert len(seen_during_run) > 1 or max(seen_during_run) == 43
        # The file itself is open read-only (SQLite opens the -wal read-write even for a mode=ro
        # reader, for its locks; the connection writes nothing to it).
        modes = _read_only_fds(server.pid, path)
        assert [mode for name, mode in modes if name == "archive.db"] == [os.O_RDONLY], modes
    with Archive(path, readonly=True) as archive:
        assert archive.last_runs()[0]["status"] == "finished"
