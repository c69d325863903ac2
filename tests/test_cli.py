from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import cli
from tests.conftest import FAST_FLAGS, SEEDS, scraper_cli, seed_expectations
from tests.server import LocalServer, Response, fixture_response
from tests.test_cron import unstamped

SEED = "seeds/003_968b57e5d640ddbd.html"


def invoke(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_archive_a_url_then_again_unchanged(server: LocalServer, db_path: Path) -> None:
    url = server.url(f"/fixtures/{SEED}")
    code, out, _ = invoke("archive", url, *FAST_FLAGS)
    assert code == 0
    version, state, words, title, echoed = out.strip().split("\t")
    assert (version, state, echoed) == ("v1", "new", url)
    assert title == "Japan worried as China, Russia move to strengthen military coordination"
    assert int(words.split()[0]) > 300
    code, out, _ = invoke("archive", url, *FAST_FLAGS)
    assert out.split("\t")[:2] == ["v1", "unchanged"]


def test_changed_article_becomes_version_two(server: LocalServer, db_path: Path) -> None:
    original = (SEEDS.parent / SEED).read_text(encoding="utf-8")
    paragraph = seed_expectations()["003_968b57e5d640ddbd.txt"]["body"][2]
    assert paragraph in original
    edited = original.replace(paragraph, paragraph + " Tokio later denied this.")
    url = server.sequence("/story", [Response(body=original.encode()), Response(body=edited.encode())])
    assert invoke("archive", url, *FAST_FLAGS)[0] == 0
    code, out, _ = invoke("archive", url, "--json", *FAST_FLAGS)
    record = json.loads(out)
    assert (code, record["version"], record["changed"]) == (0, 2, True)
    code, out, _ = invoke("history", url)
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["v1", "v2"]
    assert [line.split("\t")[3] for line in lines] == [f"+{lines[0].split()[2]} -0", "+4 -0"]
    code, out, err = invoke("diff", url)
    assert code == 0 and "v1 -> v2: +4 -0 words" in err
    assert f"-{paragraph}\n+{paragraph} Tokio later denied this.\n" in out
    assert "{+Tokio later denied this.+}" in invoke("diff", url, "--words")[1]
    change = json.loads(invoke("diff", url, "--from", "1", "--to", "2", "--json")[1])
    assert (change["words_added"], change["words_removed"]) == (4, 0)
    assert [c["text"] for c in change["changes"] if c["op"] != "equal"] == ["Tokio later denied this.\n"]
    assert invoke("diff", url, "--to", "1")[0] == 1  # nothing before version 1
    assert "has no version 3" in invoke("diff", url, "--to", "3")[2]
    assert "Tokio later denied this." in invoke("show", url)[1]
    assert "Tokio" not in invoke("show", url, "--version", "1")[1]
    assert "Tokio later denied this." in invoke("show", url, "--markdown")[1]
    assert invoke("show", url, "--html", "--version", "1")[1] == original


def test_search_ranks_matches_and_reports_none(db_path: Path) -> None:
    for name, url in [("001_7b6a4f0f43ad198b.html", "https://paper.example/japan"),
                      ("004_c93559280a8c89ed.html", "https://blog.example/japan-us")]:
        assert invoke("archive", str(SEEDS / name), "--url", url)[0] == 0
    code, out, _ = invoke("search", "white paper", "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and results and all("[" in r["snippet"] for r in results)
    assert [r["rank"] for r in results] == sorted(r["rank"] for r in results)
    code, out, _ = invoke("search", "Kishida")
    assert code == 0 and out.splitlines()[0].startswith("https://")
    code, out, err = invoke("search", "xylophonist")
    assert (code, out) == (1, "") and "No match" in err
    code, _, err = invoke("search", "--fts", "white AND (", "--json")  # broken FTS syntax
    assert code == 1 and err.startswith("Error: cannot search") and "Traceback" not in err
    assert invoke("search", "NOT AND OR (")[0] == 1  # plain words: no syntax error, no match


def test_archive_a_saved_file_and_stdin(db_path: Path) -> None:
    path = str(SEEDS / "004_c93559280a8c89ed.html")
    code, out, _ = invoke("archive", path, "--url", "https://blog.example/japan-us")
    assert code == 0 and out.endswith("https://blog.example/japan-us\n")
    html = (SEEDS / "001_7b6a4f0f43ad198b.html").read_bytes()
    code, out, _ = invoke("archive", "-", "--url", "https://paper.example/japan", "--json", input=html)
    assert json.loads(out)["title"] == "Japan sounds alarm over Russian and Chinese military co-operation"
    code, out, _ = invoke("export", "--format", "jsonl")
    assert {json.loads(line)["url"] for line in out.splitlines()} == {
        "https://blog.example/japan-us", "https://paper.example/japan"}


def test_archive_reports_failures_and_exits_1(server: LocalServer, db_path: Path) -> None:
    good = server.url(f"/fixtures/{SEED}")
    code, out, err = invoke("archive", good, server.url("/status/404"), *FAST_FLAGS)
    assert code == 1
    assert out.count("\n") == 1
    assert "HTTP 404" in err


def test_export_formats_parse_back(server: LocalServer, db_path: Path) -> None:
    for name in ("000_d467d9e684ffadb1", "002_60c7648376388afa"):
        assert invoke("archive", server.url(f"/fixtures/seeds/{name}.html"), *FAST_FLAGS)[0] == 0
    records = [json.loads(line) for line in invoke("export", "--format", "jsonl")[1].splitlines()]
    assert len(records) == 2
    for record in records:
        assert {"url", "final_url", "version", "fetched_at", "title", "author", "published", "language",
                "text"} <= set(record)
    assert records[0]["author"] == "News Room" and records[0]["authors"] == ["News Room"]
    assert records[0]["published"] == "2023-07-27T23:39:24+00:00"
    rows = list(csv.DictReader(io.StringIO(invoke("export", "--format", "csv")[1])))
    assert [row["text"] for row in rows] == [record["text"] for record in records]
    txt = invoke("export", "--format", "txt")[1]
    assert txt.count("\f\n") == 1
    md = invoke("export", "--format", "md")[1]
    assert md.count("\n# ") + md.startswith("# ") == 2
    only = invoke("export", "--url-prefix", records[1]["url"])[1]
    assert json.loads(only)["url"] == records[1]["url"]
    assert invoke("export", "--since", "2999-01-01")[1] == ""
    code, _, err = invoke("export", "--since", "yesterday")
    assert code == 2 and "not a date" in err


def test_export_parquet_to_a_file_and_its_refusals(db_path: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    for name in ("000_d467d9e684ffadb1", "002_60c7648376388afa"):
        assert invoke("archive", str(SEEDS / f"{name}.html"), "--url", f"https://news.example/{name}")[0] == 0
    env = {"SCRAPER_DB": str(db_path)}
    result = scraper_cli("export", "--format", "parquet", "--markdown", env=env)
    assert result.returncode == 0 and result.stderr == b""
    records = [json.loads(line) for line in scraper_cli("export", "--markdown", env=env).stdout.splitlines()]
    assert pq.read_table(io.BytesIO(result.stdout)).to_pylist() == records
    assert len(records) == 2 and all(record["markdown"] for record in records)
    refused = scraper_cli("export", "--format", "parquet", "--output-dir", str(tmp_path / "out"), env=env)
    assert refused.returncode == 2 and b"Parquet is one file: > articles.parquet" in refused.stderr
    assert not (tmp_path / "out").exists()
    # As where `pip install scraper` was run without [parquet]: pyarrow cannot be imported.
    code = ("import sys; sys.modules['pyarrow'] = None; sys.argv = ['scraper', 'export', '-f', 'parquet']; "
            "from scraper.__main__ import main; main()")
    missing = subprocess.run([sys.executable, "-c", code], capture_output=True, env={**os.environ, **env}, timeout=60)
    assert missing.returncode == 2 and missing.stdout == b""
    assert b"--format parquet needs pyarrow: pip install 'scraper[parquet]'" in missing.stderr
    assert b"Traceback" not in missing.stderr


def test_clean_from_stdin_prints_text_only(db_path: Path) -> None:
    expected = seed_expectations()["002_60c7648376388afa.txt"]
    html = (SEEDS / "002_60c7648376388afa.html").read_bytes()
    code, out, _ = invoke("clean", "-", input=html)
    assert code == 0
    assert " ".join(expected["body"][0].split()) in " ".join(out.split())
    code, out, _ = invoke("clean", "-", "--json", input=html)
    record = json.loads(out)
    assert record["language"] == "en" and record["authors"] == ["South China Morning Post"]
    assert record["markdown"] and record["published"] == "2022-07-22T17:00:09+08:00"
    code, out, _ = invoke("clean", str(SEEDS / "000_d467d9e684ffadb1.html"), "--format", "md")
    assert code == 0 and "[myFT Daily Digest]" not in out
    assert "Read the full article here" not in out
    assert not db_path.exists()  # clean stores nothing


def test_clean_of_a_page_without_article_is_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><nav>Home</nav></body></html>")
    code, out, err = invoke("clean", str(empty))
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1


def test_run_over_a_list(server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    """Fifty-one pages, some failing: every good page archived, failures named, exit 1."""
    pages = sorted(p.name for p in SEEDS.glob("*.html"))
    good = [server.url(f"/fixtures/seeds/{pages[n % len(pages)]}?copy={n}") for n in range(44)]
    bad = [server.url("/status/404"), server.url("/status/500"), server.url("/status/410"),
           server.url("/delay/5/" + SEED),  # slower than --timeout 1
           server.url("/missing-page"),
           server.set("/file.zip", Response(body=b"PK\x03\x04", headers={"Content-Type": "application/zip"})),
           server.set("/empty", Response(body=b"<html><body><nav>Home</nav></body></html>"))]
    sources = tmp_path / "urls.txt"
    sources.write_text("# news to keep\n\n" + "\n".join(good + bad) + "\n")
    result = scraper_cli("run", str(sources), "--concurrency", "8", *FAST_FLAGS, "--retries", "0",
                         env={"SCRAPER_DB": str(db_path)})
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    assert "51 URLs: 44 fetched, 44 new versions, 0 unchanged, 0 skipped, 7 failed" in err
    for url in bad:
        assert f"failed: {url}: " in err
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*) FROM pages").fetchone()[0] == 44
    failures = invoke("failures")[1]
    assert {line.split("\t")[2] for line in failures.splitlines()} == {
        "http 404", "http 500", "http 410", "timeout", "not html", "no content"}

    # Unchanged rerun: no new versions. Then one article edited: version 2 for it alone.
    result = scraper_cli("run", str(sources), *FAST_FLAGS, "--retries", "0", "--json",
                         env={"SCRAPER_DB": str(db_path)})
    summary = json.loads(result.stdout)
    assert (summary["new_versions"], summary["unchanged"], summary["failed"]) == (0, 44, 7)
    original = (SEEDS / pages[0]).read_text(encoding="utf-8")
    server.set(f"/fixtures/seeds/{pages[0]}?copy=0",
               Response(body=original.replace("grave concern", "serious concern").encode()))
    result = scraper_cli("run", str(sources), *FAST_FLAGS, "--retries", "0", "--json",
                         env={"SCRAPER_DB": str(db_path)})
    summary = json.loads(result.stdout)
    assert (summary["new_versions"], summary["unchanged"]) == (1, 43)
    assert db.execute("SELECT max(version), count(*) FROM versions").fetchone() == (2, 45)


def test_run_reads_stdin_and_skips_duplicates(server: LocalServer, db_path: Path) -> None:
    url = server.url(f"/fixtures/{SEED}")
    listing = f"{url}\n{url}#comments\n{url}?utm_source=feed\n".encode()
    result = scraper_cli("run", "-", *FAST_FLAGS, input=listing, env={"SCRAPER_DB": str(db_path)})
    assert result.returncode == 0, result.stderr
    assert "1 URL: 1 fetched, 1 new version, 0 unchanged" in result.stderr.decode()
    assert server.hits(f"/fixtures/{SEED}") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-list.txt"], "no such file"),
        (["run"], "give a URL list, --feed or --sitemap"),
        (["run", "--feed", "not-a-url"], "neither a URL nor a readable file"),
        (["run", "--sitemap", "https://x.example/s.xml", "--since", "last week"], "--since"),
        (["export", "--format", "xml"], "Invalid value"),
        (["archive", "nowhere.html"], "neither a URL nor a readable file"),
        (["archive", "http://x.example:99999/"], "port 99999 is out of range"),
        (["archive", "http://[::1/story"], "invalid IPv6 address"),
        (["archive", "ftp://x.example/story"], "not an http(s) URL (its scheme is ftp:)"),
        (["run", "--sitemap", "http://x.example:port/"], "port 'port' is not a number"),
        (["run", "https://x.example/urls.txt"], "is a URL, not a file"),
        (["clean", "ftp://x.example/story"], "not an http(s) URL (its scheme is ftp:)"),
        (["clean"], "give a FILE, - or URL to clean, or --input-dir DIR"),
        (["clean", "a.html", "b.html", "--url", "https://x.example/"], "--url names one page"),
        (["clean", "nowhere.html"], "nowhere.html: not a readable file (No such file"),
        (["show", "https://x.example/", "--markdown", "--html"], "give one"),
        (["archive", "a.html", "b.html", "--url", "https://x.example/"], "exactly one"),
        (["archive", "-"], "--url"),
    ],
)
def test_usage_errors_exit_2_with_one_message(args: list[str], message: str, db_path: Path) -> None:
    result = scraper_cli(*args)
    err = result.stderr.decode()
    assert result.returncode == 2 and result.stdout == b""
    assert message in err and "Traceback" not in err
    assert not db_path.exists()  # refused before the archive is opened


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://x.example:0/story", "port 0 is out of range"),
        ("http://x.example/\tstory", "control character U+0009"),
        ("http://x.example/" + "a" * 9000, "over the 8192 limit"),
    ],
)
def test_a_url_the_fetcher_would_refuse_is_a_usage_error_before_the_archive_is_made(
        url: str, reason: str, db_path: Path) -> None:
    # The command checks URLs as the fetcher does: none gets past one to fail at the other.
    for args in (["archive", url], ["archive", "-", "--url", url], ["run", "--feed", url], ["clean", url]):
        code, out, err = invoke(*args, input="<html><body><p>A page.</p></body></html>")
        assert code == 2 and out == "" and reason in err and "Traceback" not in err, (args[:2], err[-300:])
    assert not db_path.exists()


def test_reading_or_deleting_from_a_missing_archive_is_an_error(tmp_path: Path) -> None:
    for args in (["export"], ["rm", "https://example.org/"], ["prune", "--keep", "1"]):
        code, _, err = invoke(*args, "--db", str(tmp_path / "none.db"))
        assert code == 1 and "no archive at" in err, args
        assert not (tmp_path / "none.db").exists()


def test_history_of_an_unknown_url(db_path: Path) -> None:
    invoke("archive", str(SEEDS / "004_c93559280a8c89ed.html"), "--url", "https://blog.example/a")
    code, _, err = invoke("history", "https://blog.example/unknown")
    assert code == 1 and err == "Error: https://blog.example/unknown is not in the archive\n"


def test_python_dash_m_and_help() -> None:
    result = scraper_cli("--help")
    assert result.returncode == 0
    for command in ("archive", "run", "export", "history", "show", "clean", "failures"):
        assert command in result.stdout.decode()


def test_export_into_a_closed_pipe_is_quiet_and_succeeds(server: LocalServer, db_path: Path) -> None:
    for n in range(30):
        invoke("archive", str(SEEDS / "000_d467d9e684ffadb1.html"), "--url", f"https://a.example/{n}")
    pipeline = subprocess.run(
        ["bash", "-c", f'{sys.executable} -m scraper export --format txt | head -n 1; echo "exit ${{PIPESTATUS[0]}}"'],
        capture_output=True, env={**os.environ, "SCRAPER_DB": str(db_path)}, timeout=60,
    )
    assert pipeline.stdout.decode().startswith("Japan")
    assert pipeline.stdout.decode().endswith("exit 0\n")  # head had all it asked for: no failure
    assert pipeline.stderr == b""


def test_fixture_response_helper_serves_bytes(server: LocalServer) -> None:
    assert fixture_response(SEED).body.startswith(b"<!DOCTYPE")


def test_malformed_urls_in_a_list_fail_one_by_one(tmp_path: Path, db_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://[::1/\nhttp://example.com:port/\nftp://example.com/\n")
    code, _, err = invoke("run", str(listing), *FAST_FLAGS)
    assert code == 1 and "Traceback" not in err
    assert "failed: http://[::1/: invalid IPv6 address" in err
    for url in ("http://example.com:port/", "ftp://example.com/"):
        assert f"failed: {url}: " in err


# ---- local input: only HTML, within a cap, from regular files -------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _versions(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM versions").fetchone()[0])


@pytest.mark.parametrize("kind, content, problem", [
    ("png", PNG, "binary content"),
    ("markdown", (Path(__file__).parent.parent / "README.md").read_bytes(), "not HTML (no HTML markup at its start)"),
    ("json", b'{"title": "<b>not a page</b>"}', "not HTML"),
    ("feed", b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title></channel></rss>', "not HTML"),
    ("empty", b"", "empty"),
])
def test_local_input_that_is_not_html_is_refused(kind: str, content: bytes, problem: str, tmp_path: Path,
                                                 db_path: Path) -> None:
    path = tmp_path / f"input.{kind}"
    path.write_bytes(content)
    for args in (["clean", str(path)], ["clean", "-"], ["archive", str(path), "--url", "https://x.example/a"]):
        result = scraper_cli(*args, input=content)
        err = result.stderr.decode()
        assert (result.returncode, result.stdout) == (1, b""), (args, err)
        name = "stdin" if args[1] == "-" else str(path)
        assert err.startswith(f"Error: {name}: {problem}") and err.count("\n") == 1, err
    assert _versions(db_path) == 0


def test_a_program_is_not_archived(db_path: Path) -> None:
    result = scraper_cli("archive", sys.executable, "--url", "https://x.example/a")
    assert result.returncode == 1 and result.stderr.decode().endswith(": binary content\n")
    assert _versions(db_path) == 0


def test_every_html_fixture_passes_the_sniffing() -> None:
    from scraper.encoding import html_problem

    pages = list((SEEDS.parent).rglob("*.html"))
    assert len(pages) >= 14
    assert {page.name: html_problem(page.read_bytes()) for page in pages} == {page.name: None for page in pages}
    bom16 = "\ufeff<!DOCTYPE html><p>UTF-16</p>".encode("utf-16-le")
    assert html_problem(b"\xef\xbb\xbf \n<!-- a comment -->x") is None
    assert html_problem(bom16) is None  # NUL bytes, but UTF-16
    assert html_problem(b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"></html>') is None
    assert html_problem(b"<P>a paragraph") is None and html_problem(b"<br/>") is None
    assert html_problem(b"<pizza>") is not None and html_problem(b"<ab>") is not None
    assert html_problem(b" \n" * 3000 + b"<!DOCTYPE html>") is None  # a template's blank lines first


def _limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # old code must fail, not eat the machine


def test_endless_stdin_stops_at_the_cap_with_one_line() -> None:
    with open("/dev/zero", "rb") as zeros:
        result = subprocess.run([sys.executable, "-m", "scraper", "clean", "-"], stdin=zeros, capture_output=True,
                                timeout=60, preexec_fn=_limited_memory)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr == b"Error: stdin: more than 10485760 bytes (--max-bytes)\n"


def test_a_file_over_the_cap_is_refused(tmp_path: Path, db_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_bytes(b"<!DOCTYPE html><p>" + b"word " * 50_000)
    result = scraper_cli("archive", str(page), "--url", "https://x.example/big", "--max-bytes", "100000")
    assert result.returncode == 1
    assert result.stderr.decode() == f"Error: {page}: more than 100000 bytes (--max-bytes)\n"
    assert _versions(db_path) == 0


def test_files_that_are_not_regular_are_refused_at_once(tmp_path: Path, db_path: Path) -> None:
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait for ever
    for args, problem in [
        (["clean", str(fifo)], "is not a regular file"),
        (["archive", str(fifo), "--url", "https://x.example/a"], "is not a regular file"),
        (["clean", "/dev/zero"], "is not a regular file"),
        (["clean", str(tmp_path)], "is a directory, not a saved page"),
        (["archive", str(tmp_path), "--url", "https://x.example/a"], "is a directory"),
        (["run", str(tmp_path)], "is a directory, not a URL list"),
    ]:
        result = scraper_cli(*args, timeout=30)
        err = result.stderr.decode()
        assert result.returncode == 2 and f"{problem}" in err.splitlines()[-1], (args, err)
    assert not db_path.exists()


def test_block_private_refuses_local_files_and_urls_with_control_characters_are_refused(db_path: Path) -> None:
    page = str(SEEDS / "000_d467d9e684ffadb1.html")
    result = scraper_cli("archive", page, "--url", "https://x.example/a", "--block-private")
    assert result.returncode == 2 and "--block-private refuses local files" in result.stderr.decode()
    html = (SEEDS / "000_d467d9e684ffadb1.html").read_bytes()
    assert scraper_cli("archive", "-", "--url", "https://x.example/a", "--block-private", input=html).returncode == 0
    result = scraper_cli("archive", page, "--url", "https://x.example/a\r\nWARC-Type: resource")
    assert result.returncode == 2 and "control character U+000D" in result.stderr.decode()
    assert _versions(db_path) == 1


# ---- messages ---------------------------------------------------------------------------------


def test_search_takes_several_words_and_phrases(db_path: Path) -> None:
    for name, url in [("001_7b6a4f0f43ad198b.html", "https://paper.example/japan"),
                      ("003_968b57e5d640ddbd.html", "https://news.example/japan")]:
        assert invoke("archive", str(SEEDS / name), "--url", url)[0] == 0
    result = scraper_cli("search", "white paper", "Kishida")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines()[0].startswith("https://paper.example/japan\tv1\t")
    assert scraper_cli("search", "paper", "white").returncode == 0  # words, in any order
    result = scraper_cli("search", "paper white", "Kishida")  # a phrase that is nowhere
    assert result.returncode == 1 and result.stderr == b'No match for "paper white" Kishida.\n'
    assert scraper_cli("search", "--fts", "white", "NOT", "Kishida").returncode == 1


def test_a_line_of_a_list_that_is_not_utf8_fails_alone(server: LocalServer, tmp_path: Path, db_path: Path) -> None:
    good = [server.url(f"/fixtures/seeds/{name}") for name in ("000_d467d9e684ffadb1.html",
                                                                "002_60c7648376388afa.html")]
    listing = tmp_path / "urls.txt"
    listing.write_bytes(f"{good[0]}\n".encode() + b"https://x.example/caf\xe9\n" + f"{good[1]}\n".encode())
    result = scraper_cli("run", str(listing), *FAST_FLAGS, "--json")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert f"Error: {listing} line 2: not UTF-8 text\n" in err
    totals = json.loads(result.stdout)
    assert (totals["new_versions"], totals["failed"], totals["failed_by_reason"]) == (2, 1, {"source": 1})
    result = scraper_cli("run", "-", *FAST_FLAGS, "--log-format", "json", input=b"\xff\xfe\n" + good[0].encode())
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events[0]["event"] == "source_failed" and events[0]["error"] == "stdin line 1: not UTF-8 text"
    assert [event["event"] for event in events[1:]] == ["unchanged", "summary"]
    result = scraper_cli("run", sys.executable)  # a program given as the list: one line, not a line per byte
    assert result.returncode == 1
    assert unstamped(result.stderr) == f"Error: URL list {sys.executable} is binary content, not text\n" + \
        "0 URLs: 0 fetched, 0 new versions, 0 unchanged, 0 skipped, 1 failed (source 1)\n"


def test_quiet_json_log_has_failures_and_the_summary_only(server: LocalServer, tmp_path: Path,
                                                          db_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{server.url(f'/fixtures/{SEED}')}\n{server.url('/status/404')}\n")
    result = scraper_cli("run", str(listing), *FAST_FLAGS, "--log-format", "json", "--quiet")
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [event["event"] for event in events] == ["failed", "summary"]
    assert events[1]["new_versions"] == 1


def test_run_log_lines_carry_the_time_when_stderr_is_a_file(server: LocalServer, tmp_path: Path,
                                                             db_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{server.url(f'/fixtures/{SEED}')}\n{server.url('/status/404')}\n")
    result = scraper_cli("run", str(listing), "--feed", server.url("/status/410"), *FAST_FLAGS)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 3, lines  # the feed's error, the failed URL, the summary
    for line in lines:
        stamp = line.partition(" ")[0]
        assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T", line
    assert lines[1].endswith(f"failed: {server.url('/status/404')}: HTTP 404")
    assert " 2 URLs: 1 fetched, 1 new version, 0 unchanged, 0 skipped, 2 failed" in lines[2]


def test_an_interrupted_read_command_says_nothing_about_saving(db_path: Path) -> None:
    for n in range(40):
        invoke("archive", str(SEEDS / "000_d467d9e684ffadb1.html"), "--url", f"https://a.example/{n}")
    export = subprocess.Popen([sys.executable, "-m", "scraper", "export", "--format", "txt"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert export.stdout is not None
    export.stdout.read(1)  # it is writing; it blocks once the pipe is full, far from its end
    export.send_signal(signal.SIGINT)
    _, err = export.communicate(timeout=30)
    assert export.returncode == 130
    assert b"Interrupted." in err and b"archived" not in err and b"Traceback" not in err


def test_long_urls_are_shortened_in_messages(server: LocalServer, tmp_path: Path, db_path: Path) -> None:
    long_url = server.url("/status/404?q=" + "a" * 5_000)  # under the 8 KB URL limit
    listing = tmp_path / "urls.txt"
    listing.write_text(long_url + "\n")
    result = scraper_cli("run", str(listing), *FAST_FLAGS)
    [failed, _] = result.stderr.decode().splitlines()
    assert "failed: " + server.url("/status/404?q=aaa") in failed and failed.endswith("aaa: HTTP 404")
    assert len(failed) < 300 and "…" in failed
    result = scraper_cli("archive", "http://x.example:99999/" + "b" * 100_000)
    assert result.returncode == 2 and len(result.stderr) < 500 and b"over the 8192 limit" in result.stderr


def test_one_version_one_word_one_url_in_the_singular(server: LocalServer, db_path: Path) -> None:
    original = (SEEDS.parent / SEED).read_text(encoding="utf-8")
    paragraph = seed_expectations()["003_968b57e5d640ddbd.txt"]["body"][2]
    edited = original.replace(paragraph, paragraph + " Really.")
    url = server.sequence("/story", [Response(body=original.encode()), Response(body=edited.encode())])
    result = scraper_cli("run", "-", *FAST_FLAGS, input=url.encode())
    assert " 1 URL: 1 fetched, 1 new version, 0 unchanged" in result.stderr.decode()
    assert scraper_cli("archive", url, *FAST_FLAGS).returncode == 0
    assert scraper_cli("diff", url).stderr == b"v1 -> v2: +1 -0 word\n"


# ---- page text reaches the terminal without its control characters ---------------------------

EVIL_TITLE = "Evil \x1b[2J\x1b]0;pwned\x07 title\x9b31m \x7f end"


def test_control_characters_of_pages_never_reach_the_terminal(server: LocalServer, db_path: Path) -> None:
    body = "<p>" + "A sentence about the evil page, long enough to be an article here. " * 12 + "</p>"
    html = f"<!DOCTYPE html><html><head><title>{EVIL_TITLE}</title></head><body><article><h1>{EVIL_TITLE}</h1>"
    page = server.set("/evil", Response(body=(html + body * 3 + "</article></body></html>").encode()))
    copy = server.set("/copy", Response(body=(html + body * 3 + "<p>Copied.</p></article></body></html>").encode()))
    mime = server.set("/mime", Response(body=b"x", headers={"Content-Type": "application/x-\x1b]0;pwned\x07"}))
    commands = [("archive", page, copy, mime, *FAST_FLAGS), ("history", page), ("search", "evil"),
                ("similar", page), ("failures",), ("show", page), ("diff", copy, "--words"),
                ("export", "--format", "txt")]
    outputs = []
    for args in commands:
        result = scraper_cli(*args)
        outputs.append(result.stdout + result.stderr)
        # show prints the text, which leaves the headline to the title.
        assert b"Evil" in outputs[-1] or args[0] in ("failures", "diff", "export", "show"), (args, outputs[-1])
    failures = outputs[4].decode()
    assert "\tcontent type application/x-]0" in failures  # the failure is listed, its escape sequence gone
    for args, output in zip(commands, outputs, strict=True):
        if args[0] != "export":  # export writes data files, as they are
            assert not any(char in output.decode() for char in "\x1b\x07\x9b\x7f"), (args, output)
    history = json.loads(scraper_cli("history", page, "--json").stdout)
    assert history["title"].startswith("Evil [2J]0;pwned title")  # the cleaner drops the controls at source
    raw = scraper_cli("show", page, "--json").stdout
    assert b"[2J" in raw and b"\x1b" not in raw and b"\x07" not in raw
