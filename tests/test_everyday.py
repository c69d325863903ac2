"""ls, stats, rm and prune: listing the archive and deleting from it, whole pages at a time."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive import Archive, maintenance, store
from scraper.models import Article, Page
from tests.conftest import SEEDS, scraper_cli
from tests.server import LocalServer, fixture_response

OLD = datetime(2020, 1, 1, tzinfo=UTC)


def _save(archive: Archive, url: str, number: int, *, at: datetime, html: str | None = None) -> None:
    body = html or f"<html><body><p>Page {url} version {number}. " + "Filler words here. " * 40 + "</p></body></html>"
    page = Page(url=url, final_url=url, content=body.encode(), html=body, status=200, fetched_at=at)
    archive.save(page, Article(text=f"Text of {url}, version {number}. " + "Words of the story. " * 30,
                               title=f"Title {url.rsplit('/', 1)[-1]} v{number}", cleaner="test"))


def _fill(path: Path, pages: int, versions: int) -> None:
    with Archive(path) as archive:
        for index in range(pages):
            url = f"https://www.example.com/news/{index:04d}" if index % 2 else f"https://other.org/a/{index:04d}"
            for number in range(1, versions + 1):
                _save(archive, url, number, at=OLD + timedelta(days=number * 100 + index))


def _whole(path: Path) -> dict[str, int]:
    """Each page's number of versions, after checking the archive through: SQLite's integrity
    check, the search index's, every version's HTML readable, the latest version present."""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("INSERT INTO versions_fts (versions_fts) VALUES ('integrity-check')")
    conn.close()
    counts: dict[str, int] = {}
    with Archive(path, readonly=True) as archive:
        for url, latest, page_id in archive.db.execute("SELECT url, latest_version, id FROM pages").fetchall():
            numbers = [row[0] for row in archive.db.execute(
                "SELECT version FROM versions WHERE page_id = ? ORDER BY version", [page_id])]
            assert numbers and numbers[-1] == latest, url
            for (sha256,) in archive.db.execute("SELECT html_sha256 FROM versions WHERE page_id = ?", [page_id]):
                assert archive.raw_html(sha256).startswith(b"<html>")
            counts[url] = len(numbers)
        assert archive.db.execute("SELECT count(*) FROM versions_fts_docsize").fetchone()[0] \
            == archive.db.execute("SELECT count(*) FROM versions").fetchone()[0] \
            if "versions_fts_docsize" in archive.db.table_names() else True
    return counts


def test_ls_lists_pages_with_their_site_versions_and_times(db_path: Path) -> None:
    _fill(db_path, 4, 2)
    result = scraper_cli("ls")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 4
    assert lines[0].split("\t")[2:6] == ["2 versions", "other.org", "https://other.org/a/0000", "Title 0000 v2"]
    only = scraper_cli("ls", "--site", "example.com", "--json")
    rows = [json.loads(line) for line in only.stdout.decode().splitlines()]
    assert [row["url"] for row in rows] == ["https://www.example.com/news/0001", "https://www.example.com/news/0003"]
    assert rows[0]["versions"] == 2 and rows[0]["site"] == "example.com"
    assert rows[0]["last_changed"].startswith("2020-07-")
    prefixed = scraper_cli("ls", "--url-prefix", "https://other.org/", "--since", "2020-07-20")
    assert [line.split("\t")[4] for line in prefixed.stdout.decode().splitlines()] == ["https://other.org/a/0002"]


def test_ls_and_stats_tell_a_site_on_another_port_apart(db_path: Path) -> None:
    """As the web view does: another port is another server."""
    with Archive(db_path) as archive:
        _save(archive, "https://www.example.com:8443/a", 1, at=OLD)
        _save(archive, "https://example.com/b", 1, at=OLD)
    rows = [json.loads(line) for line in scraper_cli("ls", "--site", "example.com:8443", "--json").stdout.splitlines()]
    assert [(row["url"], row["site"]) for row in rows] == [("https://www.example.com:8443/a", "example.com:8443")]
    figures = json.loads(scraper_cli("stats", "--json").stdout)
    assert figures["sites"] == {"example.com": {"pages": 1, "versions": 1},
                                "example.com:8443": {"pages": 1, "versions": 1}}


def test_stats_counts_pages_versions_runs_and_sizes_by_site(db_path: Path) -> None:
    _fill(db_path, 3, 3)
    figures = json.loads(scraper_cli("stats", "--json").stdout)
    assert (figures["pages"], figures["versions"], figures["runs"]) == (3, 9, 0)
    assert figures["html_bytes"] > figures["html_stored_bytes"] > 0
    assert figures["text_bytes"] > 0 and figures["index_bytes"] > 0
    assert figures["sites"] == {"other.org": {"pages": 2, "versions": 6}, "example.com": {"pages": 1, "versions": 3}}
    text = scraper_cli("stats").stdout.decode()
    assert "pages\t3\n" in text and "site\tother.org\t2 pages\t6 versions" in text


def test_rm_deletes_a_page_and_what_only_it_used(db_path: Path) -> None:
    _fill(db_path, 3, 2)
    shared = "<html><body><p>The very same page on two addresses.</p></body></html>"
    with Archive(db_path) as archive:  # the second page's blob is compressed against the first's text
        _save(archive, "https://other.org/first", 1, at=OLD, html=shared)
        _save(archive, "https://other.org/second", 1, at=OLD, html=shared)
    dry = scraper_cli("rm", "https://other.org/first", "--dry-run")
    assert dry.returncode == 0 and "would delete" in dry.stderr.decode()
    assert "https://other.org/first" in _whole(db_path)
    result = scraper_cli("rm", "https://other.org/first", "https://www.example.com/news/0001", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["pages"], report["versions"], report["blobs"]) == (2, 3, 2)  # the shared HTML stays
    assert "freed" in result.stderr.decode()
    counts = _whole(db_path)
    assert set(counts) == {"https://other.org/a/0000", "https://other.org/a/0002", "https://other.org/second"}
    assert scraper_cli("search", "0001").returncode == 1  # gone from the search index too
    missing = scraper_cli("rm", "https://other.org/a/0000", "https://nowhere.example/")
    assert missing.returncode == 1 and "not in the archive" in missing.stderr.decode()
    assert "https://other.org/a/0000" in _whole(db_path)  # nothing deleted


def test_prune_keeps_the_newest_versions_and_never_the_latest(db_path: Path) -> None:
    _fill(db_path, 2, 4)
    with Archive(db_path) as archive:
        _save(archive, "https://other.org/recent", 1, at=datetime.now(UTC))
    assert scraper_cli("prune").returncode == 2
    assert scraper_cli("prune", "--older-than", "soon").returncode == 2
    dry = scraper_cli("prune", "--keep", "2", "--dry-run")
    assert "4 versions" in dry.stderr.decode() and "would go" in dry.stderr.decode()
    assert "would prune\thttps://other.org/a/0000" in dry.stderr.decode()
    assert _whole(db_path)["https://other.org/a/0000"] == 4
    result = scraper_cli("prune", "--keep", "2")
    assert result.returncode == 0, result.stderr
    assert set(_whole(db_path).values()) == {2, 1}
    with Archive(db_path, readonly=True) as archive:
        assert [row["version"] for row in archive.history("https://other.org/a/0000")] == [3, 4]
    assert scraper_cli("prune", "--older-than", "1y", "--vacuum").returncode == 0
    assert _whole(db_path) == {"https://other.org/a/0000": 1, "https://www.example.com/news/0001": 1,
                               "https://other.org/recent": 1}


def test_rm_and_prune_of_many_versions_free_only_what_nothing_else_uses(db_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "IN_LIST", 7)  # each statement over several chunks of versions and blobs
    story = "<html><body>" + "".join(f"<p>Paragraph {n} of a long story, edited a little each time.</p>"
                                     for n in range(200))
    with Archive(db_path) as archive:
        for url, versions in (("https://other.org/long", 40), ("https://other.org/solo", 30)):
            for number in range(1, versions + 1):  # each edit stored as a delta against the first HTML
                _save(archive, url, number, at=OLD + timedelta(days=number), html=f"{story}<p>{url} {number}</p>")
        # Shares the first version's HTML, which is compressed with that version's text.
        _save(archive, "https://other.org/copy", 1, at=OLD, html=f"{story}<p>https://other.org/long 1</p>")
        assert archive.db.execute("SELECT count(*) FROM blobs WHERE base IS NOT NULL").fetchone()[0] >= 60
        dry = maintenance.prune(archive, keep=3, dry_run=True)
        assert _whole(db_path) == {"https://other.org/long": 40, "https://other.org/solo": 30,
                                   "https://other.org/copy": 1}
        done = maintenance.prune(archive, keep=3)
        assert (done.versions, done.blobs) == (37 + 27, 37 + 27 - 2)  # the first HTMLs are bases of the rest
        assert (dry.versions, dry.blobs, dry.bytes, dry.urls) == (done.versions, done.blobs, done.bytes, done.urls)
        dry = maintenance.remove(archive, ["https://other.org/solo", "https://other.org/long"], dry_run=True)
        done = maintenance.remove(archive, ["https://other.org/solo", "https://other.org/long"])
        assert (done.pages, done.versions, done.blobs) == (2, 6, 3 + 1 + 3)  # the copy's HTML stays
        assert (dry.versions, dry.blobs, dry.bytes) == (done.versions, done.blobs, done.bytes)
        assert _whole(db_path) == {"https://other.org/copy": 1}  # readable, and the search index agrees
        assert archive.db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
        assert [row["url"] for row in archive.search("story", all_versions=True)] == ["https://other.org/copy"]


def test_parse_age_reads_days_months_years_and_dates() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert maintenance.parse_age("30d", now=now) == now - timedelta(days=30)
    assert maintenance.parse_age("6m", now=now) == now - timedelta(days=180)
    assert maintenance.parse_age("1y", now=now) == now - timedelta(days=365)
    assert maintenance.parse_age("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    with pytest.raises(ValueError):
        maintenance.parse_age("ages")


@pytest.mark.timeout(600)
def test_a_prune_killed_midway_leaves_every_page_whole(db_path: Path) -> None:
    pages, versions = 300, 3
    _fill(db_path, pages, versions)
    process = subprocess.Popen([sys.executable, "-m", "scraper", "prune", "--keep", "1", "--db", str(db_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    give_up = time.monotonic() + 300
    left = pages * versions
    while process.poll() is None and time.monotonic() < give_up:
        conn = sqlite3.connect(db_path, timeout=30)
        left = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        conn.close()
        if left < pages * versions - 30:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    counts = _whole(db_path)
    assert len(counts) == pages
    assert set(counts.values()) <= {1, versions}  # each page pruned whole, or not yet
    assert 1 in counts.values() and versions in counts.values(), "the kill came before or after the prune"
    assert scraper_cli("prune", "--keep", "1").returncode == 0
    assert set(_whole(db_path).values()) == {1}


def test_export_filters_by_time_language_and_words_and_carries_markdown(db_path: Path, tmp_path: Path) -> None:
    with Archive(db_path) as archive:
        pages = [("https://a.org/en", "en-GB", 50), ("https://a.org/fr", "fr", 50), ("https://a.org/short", "en", 3)]
        for number, (url, language, words) in enumerate(pages):
            body = f"<html><body><p>{url}</p></body></html>"
            page = Page(url=url, final_url=url, content=body.encode(), html=body, status=200,
                        fetched_at=OLD + timedelta(days=number))
            text = " ".join(["word"] * words)
            archive.save(page, Article(text=text, markdown=f"## Heading\n\n{text}", title=url, language=language))

    def urls(*args: str) -> list[str]:
        result = scraper_cli("export", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["url"] for line in result.stdout.decode().splitlines()]

    assert urls("--language", "en") == ["https://a.org/en", "https://a.org/short"]
    assert urls("--min-words", "10") == ["https://a.org/en", "https://a.org/fr"]
    assert urls("--until", "2020-01-02") == ["https://a.org/en"]
    assert urls("--since", "2020-01-02", "--until", "2020-01-03") == ["https://a.org/fr"]
    [record] = [json.loads(line) for line in scraper_cli("export", "--markdown", "--url-prefix", "https://a.org/f")
                .stdout.decode().splitlines()]
    assert record["markdown"].startswith("## Heading") and "markdown" not in json.loads(
        scraper_cli("export").stdout.decode().splitlines()[0])
    out = tmp_path / "out"
    result = scraper_cli("export", "--format", "md", "--output-dir", str(out))
    assert result.returncode == 0 and "3 files written" in result.stderr.decode()
    names = sorted(path.name for path in out.iterdir())
    assert len(names) == 3 and names[0].startswith("a.org-en-") and names[0].endswith(".md")
    assert (out / names[0]).read_text().startswith("# https://a.org/en")


def _origin() -> LocalServer:
    """A loopback server that answers every path these tests ask for with a page, and keeps each
    request's first line and headers: an origin server, or an HTTP proxy when the client asks
    it for absolute URLs."""
    server = LocalServer()
    for path in ("/story", "/from-feed", "/from-sitemap", "http://news.example.invalid/story"):
        server.set(path, fixture_response("seeds/000_d467d9e684ffadb1.html"))
    return server


def test_header_is_sent_with_every_request(db_path: Path) -> None:
    with _origin() as origin:
        url = f"http://127.0.0.1:{origin.server_address[1]}/story"
        result = scraper_cli("archive", url, "--header", "Accept-Language: de", "--header", "X-Token:  abc ")
        assert result.returncode == 0, result.stderr
        assert origin.requests and all(headers.get("accept-language") == "de" and headers.get("x-token") == "abc"
                                       for _, headers in origin.requests)
    bad = scraper_cli("archive", url, "--header", "no colon here")
    assert bad.returncode == 2 and b"not a header like" in bad.stderr


def test_fetches_go_through_the_proxy_the_environment_names(db_path: Path) -> None:
    with _origin() as proxy:
        env = {**os.environ, "HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}", "NO_PROXY": ""}
        result = scraper_cli("archive", "http://news.example.invalid/story", env=env)
        assert result.returncode == 0, result.stderr
        assert "GET http://news.example.invalid/story HTTP/1.1" in [line for line, _ in proxy.requests]
        env["NO_PROXY"] = "example.invalid"  # then straight to a host that does not exist
        direct = scraper_cli("archive", "http://news.example.invalid/other", env=env)
        assert direct.returncode == 1
        assert not any("/other" in line for line, _ in proxy.requests)


def test_run_reads_a_local_feed_and_sitemap(db_path: Path, tmp_path: Path) -> None:
    with _origin() as origin:
        base = f"http://127.0.0.1:{origin.server_address[1]}"
        feed = tmp_path / "rss.xml"
        feed.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
                        f"<item><title>One</title><link>{base}/from-feed</link></item></channel></rss>")
        sitemap = tmp_path / "sitemap.xml.gz"
        sitemap.write_bytes(gzip.compress(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                          f"<url><loc>{base}/from-sitemap</loc></url></urlset>".encode()))
        result = scraper_cli("run", "--feed", str(feed), "--sitemap", str(sitemap), "--interval", "0")
        assert result.returncode == 0, result.stderr
        assert {line.split()[1] for line, _ in origin.requests} >= {"/from-feed", "/from-sitemap"}
    missing = scraper_cli("run", "--feed", str(tmp_path / "nothing.xml"))
    assert missing.returncode == 2 and b"neither a URL nor a readable file" in missing.stderr


def test_clean_takes_several_files_a_directory_and_a_url(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    (pages / "sub").mkdir(parents=True)
    for index, name in enumerate(["a.html", "sub/b.htm"]):
        (pages / name).write_bytes((SEEDS / sorted(p.name for p in SEEDS.glob("*.html"))[index]).read_bytes())
    (pages / "notes.txt").write_text("not a page")
    both = scraper_cli("clean", str(pages / "a.html"), str(pages / "sub/b.htm"))
    assert both.returncode == 0, both.stderr
    assert both.stdout.decode().count("\f\n") == 1
    out = tmp_path / "out"
    result = scraper_cli("clean", "--input-dir", str(pages), "--output-dir", str(out), "--format", "md")
    assert result.returncode == 0, result.stderr
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*.md")) == ["a.md", "sub/b.md"]
    assert len((out / "a.md").read_text().split()) > 50
    jsons = scraper_cli("clean", "--input-dir", str(pages), "--json", str(tmp_path / "missing.html"))
    assert jsons.returncode == 1 and b"missing.html: not a readable file" in jsons.stderr
    assert [json.loads(line)["word_count"] > 50 for line in jsons.stdout.decode().splitlines()] == [True, True]
    with _origin() as origin:
        url = f"http://127.0.0.1:{origin.server_address[1]}/story"
        fetched = scraper_cli("clean", url, "--json")
        assert fetched.returncode == 0, fetched.stderr
        assert json.loads(fetched.stdout)["url"] == url and json.loads(fetched.stdout)["word_count"] > 50
    assert not (tmp_path / "scraper.db").exists()


def test_config_file_gives_defaults_below_environment_and_flags(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRAPER_DB", raising=False)
    monkeypatch.delenv("SCRAPER_USER_AGENT", raising=False)
    monkeypatch.chdir(tmp_path)  # the command is started here: this checkout must stay importable
    root = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    (tmp_path / "scraper.toml").write_text('db = "news.db"\nuser_agent = "FileBot/1.0"\nper_host = 3\n'
                                           'headers = ["Accept-Language: de"]\n')
    shown = {row["key"]: row for row in map(json.loads, scraper_cli("config", "--json").stdout.decode().splitlines())}
    assert shown["per_host"] == {"key": "per_host", "value": 3, "source": "file scraper.toml"}
    assert shown["interval"]["source"] == "default" and shown["db"]["value"] == "news.db"
    env = {**os.environ, "SCRAPER_USER_AGENT": "EnvBot/2.0"}
    assert "user_agent = \"EnvBot/2.0\"\t# environment SCRAPER_USER_AGENT" in scraper_cli(
        "config", env=env).stdout.decode()
    with _origin() as origin:
        url = f"http://127.0.0.1:{origin.server_address[1]}/story"
        assert scraper_cli("archive", url).returncode == 0
        assert origin.requests[-1][1]["user-agent"] == "FileBot/1.0"  # the file's
        assert origin.requests[-1][1]["accept-language"] == "de"
        assert scraper_cli("archive", url, env=env).returncode == 0
        assert origin.requests[-1][1]["user-agent"] == "EnvBot/2.0"  # the environment's over the file's
        assert scraper_cli("archive", url, "--user-agent", "FlagBot/3.0", env=env).returncode == 0
        assert origin.requests[-1][1]["user-agent"] == "FlagBot/3.0"  # the flag's over both
    assert (tmp_path / "news.db").exists() and not (tmp_path / "scraper.db").exists()
    (tmp_path / "other.toml").write_text("per_host = 'many'\n")
    for args, message in [(["--config", "other.toml", "ls"], "per_host must be a whole number"),
                          (["--config", "missing.toml", "config"], "cannot read config file missing.toml"),
                          (["--config", "scraper.toml", "ls"], None)]:
        result = scraper_cli(*args)
        if message is None:
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 2 and len(result.stderr.decode().splitlines()) == 1
        assert message in result.stderr.decode()
    (tmp_path / "scraper.toml").write_text("per_host = \n")
    broken = scraper_cli("ls")
    assert broken.returncode == 2 and b"is not valid TOML" in broken.stderr and b"Traceback" not in broken.stderr


def test_shell_completion_script_is_produced() -> None:
    env = {**os.environ, "_SCRAPER_COMPLETE": "bash_source"}
    result = scraper_cli(env=env)
    assert result.returncode == 0
    assert b"_scraper_completion" in result.stdout and b"complete -o nosort -F" in result.stdout
    words = {**os.environ, "_SCRAPER_COMPLETE": "bash_complete", "COMP_WORDS": "scraper pr", "COMP_CWORD": "1"}
    assert b"plain,prune" in scraper_cli(env=words).stdout
