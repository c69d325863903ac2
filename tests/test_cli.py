from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import cli
from tests.conftest import FAST_FLAGS, SEEDS, scraper_cli, seed_expectations
from tests.server import LocalServer, Response, fixture_response

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
    assert "1 URLs: 1 fetched, 1 new versions" in result.stderr.decode()
    assert server.hits(f"/fixtures/{SEED}") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-list.txt"], "no such file"),
        (["run"], "give a URL list, --feed or --sitemap"),
        (["run", "--feed", "not-a-url"], "not an http(s) URL"),
        (["run", "--sitemap", "https://x.example/s.xml", "--since", "last week"], "--since"),
        (["export", "--format", "xml"], "Invalid value"),
        (["archive", "nowhere.html"], "neither a URL nor a readable file"),
        (["archive", "a.html", "b.html", "--url", "https://x.example/"], "exactly one"),
        (["archive", "-"], "--url"),
    ],
)
def test_usage_errors_exit_2_with_one_message(args: list[str], message: str, db_path: Path) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_reading_a_missing_archive_is_an_error(tmp_path: Path) -> None:
    code, _, err = invoke("export", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "no archive at" in err
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


def test_export_into_a_closed_pipe_is_quiet(server: LocalServer, db_path: Path) -> None:
    import subprocess
    import sys

    for n in range(30):
        invoke("archive", str(SEEDS / "000_d467d9e684ffadb1.html"), "--url", f"https://a.example/{n}")
    pipeline = subprocess.run(
        f"{sys.executable} -m scraper export --format txt | head -n 1",
        shell=True, capture_output=True, env={"SCRAPER_DB": str(db_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert pipeline.stdout.decode().startswith("Japan")
    assert b"Traceback" not in pipeline.stderr and b"Broken pipe" not in pipeline.stderr


def test_fixture_response_helper_serves_bytes(server: LocalServer) -> None:
    assert fixture_response(SEED).body.startswith(b"<!DOCTYPE")


def test_malformed_urls_in_a_list_fail_one_by_one(tmp_path: Path, db_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://[::1/\nhttp://example.com:port/\nftp://example.com/\n")
    code, _, err = invoke("run", str(listing), *FAST_FLAGS)
    assert code == 1 and "Traceback" not in err
    for url in ("http://[::1/", "http://example.com:port/", "ftp://example.com/"):
        assert f"failed: {url}: not an http(s) URL" in err
