"""The README's examples run as written.

Each command of the README (the scraper part of the first set-up command, every line of
the "Command line" block, the cron line) is run by bash as it stands, with `scraper` and
`.venv/bin/scraper` starting this checkout's command, against a loopback server that stands
in for https://example.com: its story changes between fetches, and it serves a feed, a
sitemap index and a gzipped sitemap. The Library section's code is saved as a script and run.

Rule for what is not run: a command that names a URL to fetch (not a --url or
--user-agent value) on a host other than example.com needs the internet, and is reported
as skipped.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import SEEDS, seed_expectations
from tests.server import FIXTURES, LocalServer, Response

ROOT = FIXTURES.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
STAND_IN = "https://example.com"


@dataclass(frozen=True)
class Example:
    section: str
    command: str

    @property
    def online(self) -> bool:
        """Whether it fetches from a host other than example.com: the rule of the module docstring."""
        words = shlex.split(self.command, comments=True)
        values = {index + 1 for index, word in enumerate(words) if word in ("--url", "--user-agent")}
        return any(re.match(r"https?://", word) and not word.startswith(STAND_IN)
                   for index, word in enumerate(words) if index not in values)


def _sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in README.splitlines():
        if line.startswith("#") and not line.startswith("    "):
            current = line.lstrip("#").strip()
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def _code_blocks(lines: list[str]) -> list[list[str]]:
    """Indented code blocks: runs of lines indented by four spaces, blank lines within kept."""
    blocks: list[list[str]] = []
    previous_blank, inside = True, False
    for line in lines:
        if line.startswith("    ") and (inside or previous_blank):
            if not inside:
                blocks.append([])
            blocks[-1].append(line[4:])
            inside = True
        elif line.strip() and not line.startswith("    "):
            inside = False
        previous_blank = not line.strip()
    return [[line for line in block if line.strip()] for block in blocks]


def readme_examples() -> list[Example]:
    sections = _sections()
    intro = sections["scraper"]  # under the title, before "What it does"
    setup = _code_blocks(intro)[0][0]
    examples = [Example("set-up", " && ".join(part for part in setup.split(" && ") if "bin/scraper " in part))]
    examples += [Example("set-up", span) for span in re.findall(r"`(\.venv/bin/scraper [^`]+)`", "\n".join(intro))]
    examples += [Example("Command line", line) for line in _code_blocks(sections["Command line"])[0]
                 if not line.startswith("#")]
    [[cron]] = _code_blocks(sections["From cron"])
    examples.append(Example("From cron", cron.split(maxsplit=5)[5]))  # without the five schedule fields
    return examples


def test_the_readme_holds_the_examples_this_module_runs() -> None:
    examples = readme_examples()
    assert len(examples) > 35
    assert [example.command for example in examples if example.online] == [
        ".venv/bin/scraper archive https://en.wikipedia.org/wiki/Web_scraping"]
    assert {example.command.split()[0] for example in examples} <= {"scraper", "curl", "cat", "cd",
                                                                   "_SCRAPER_COMPLETE=bash_source",
                                                                   ".venv/bin/scraper"}


@pytest.mark.parametrize("example", [example for example in readme_examples() if example.online],
                         ids=lambda example: example.command)
def test_readme_examples_that_need_the_internet(example: Example) -> None:
    pytest.skip(f"needs the internet: {example.command}")


# ---- the stand-in for example.com ---------------------------------------------------------------


def _edited(name: str, extra: str) -> bytes:
    """The seed page with a sentence added to one of its paragraphs: a new version of it."""
    html = (SEEDS / name).read_text(encoding="utf-8")
    paragraph = seed_expectations()[name.replace(".html", ".txt")]["body"][1]
    assert paragraph in html
    return html.replace(paragraph, f"{paragraph} {extra}").encode()


STORY = "000_d467d9e684ffadb1.html"


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.sequence("/news/story", [Response(body=(SEEDS / STORY).read_bytes()),
                                        Response(body=_edited(STORY, "Officials declined to comment."))])
        for path, fixture in [("/news/other", "seeds/001_7b6a4f0f43ad198b.html"),
                              ("/news/more", "seeds/002_60c7648376388afa.html"),
                              ("/news/feed-1", "seeds/003_968b57e5d640ddbd.html"),
                              ("/news/mapped", "seeds/004_c93559280a8c89ed.html"),
                              ("/elsewhere/copy", "syndicated/000_other_layout.html")]:
            server.set(path, Response(body=(FIXTURES / fixture).read_bytes()))
        base = server.base
        xml = {"Content-Type": "application/xml"}
        server.set("/rss.xml", Response(body=(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
            f"<item><title>One</title><link>{base}/news/feed-1</link></item>"
            f"<item><title>Two</title><link>{base}/news/other</link></item></channel></rss>").encode(), headers=xml))
        urlset = (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{base}/news/mapped</loc>'
                  f"<lastmod>2020-01-01</lastmod></url><url><loc>{base}/news/story</loc></url></urlset>").encode()
        server.set("/sitemap.xml", Response(body=urlset, headers=xml))
        server.set("/sitemap.xml.gz", Response(body=gzip.compress(urlset),
                                               headers={"Content-Type": "application/gzip"}))
        server.set("/sitemap_index.xml", Response(body=(
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{base}/sitemap.xml</loc></sitemap></sitemapindex>").encode(), headers=xml))
        yield server


def _workdir(path: Path, base: str) -> Path:
    """A directory as the README's commands expect it: saved-page.html, URL lists, .venv/bin/scraper."""
    path.mkdir(parents=True)
    (path / "saved-page.html").write_bytes(_edited(STORY, "The ministry said so on Friday."))
    (path / "urls.txt").write_text(f"# news\n{STAND_IN}/news/story\n{STAND_IN}/news/other\n"
                                   f"{STAND_IN}/elsewhere/copy\n".replace(STAND_IN, base))
    (path / "more-urls.txt").write_text(f"{base}/news/more\n")
    (path / "saved-feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
                                         f"<item><title>One</title><link>{base}/news/feed-1</link></item>"
                                         "</channel></rss>")
    (path / "saved-sitemap.xml.gz").write_bytes(gzip.compress(
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{base}/news/mapped</loc></url>'
        "</urlset>".encode()))
    (path / "other-page.html").write_bytes((SEEDS / "001_7b6a4f0f43ad198b.html").read_bytes())
    (path / "saved").mkdir()
    (path / "saved" / "page.html").write_bytes((SEEDS / "002_60c7648376388afa.html").read_bytes())
    (path / "scraper.toml").write_text('user_agent = "scraper-readme-test"\n')
    (path / "fixtures").symlink_to(FIXTURES)
    _shim(path / ".venv" / "bin")
    return path


def _shim(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "scraper"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m scraper "$@"\n')
    script.chmod(0o755)


def _run(command: str, cwd: Path, base: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items() if key != "SCRAPER_DB"}
    env.update(PATH=f"{home / 'bin'}{os.pathsep}{env['PATH']}", HOME=str(home),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return subprocess.run(["bash", "-o", "pipefail", "-c", command.replace(STAND_IN, base)], cwd=cwd, env=env,
                          capture_output=True, timeout=120)


@pytest.mark.timeout(900)  # some forty commands, a few seconds each on a busy machine
def test_readme_examples_run_as_written(site: LocalServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _shim(home / "bin")  # `scraper` on the PATH
    _workdir(home / "news", site.base)  # the cron line's directory
    places = {"set-up": _workdir(tmp_path / "checkout", site.base),
              "Command line": _workdir(tmp_path / "work", site.base)}
    ran = []
    for example in readme_examples():
        if example.online:
            continue
        result = _run(example.command, places.get(example.section, home), site.base, home)
        assert result.returncode == 0, (example.command, result.stderr.decode())
        assert b"Traceback" not in result.stderr
        ran.append((example.command, result))
    assert len(ran) == len(readme_examples()) - 1

    def output(start: str) -> str:
        [text] = [result.stdout.decode() for command, result in ran if command.startswith(start)]
        return text

    story = f"{STAND_IN}/news/story"
    # The story changed between fetches, and the saved page was a third text: three versions.
    assert len(output(f"scraper history {story}").splitlines()) == 3
    assert "Officials declined to comment." in output(f"scraper show {story} --markdown")
    assert f"{site.base}/news/story\t" in output('scraper search "white paper" Kishida')
    assert f"{site.base}/elsewhere/copy" in output(f"scraper similar {story}")
    with sqlite3.connect(places["set-up"] / "scraper.db") as db:
        assert db.execute("SELECT url FROM pages").fetchall() == [("https://indebta.com/news/japan-gravely-concerned/",)]
    with sqlite3.connect(home / "news" / "news.db") as db:  # the cron job's archive
        archived = {url for (url,) in db.execute("SELECT url FROM pages")}
    assert archived == {f"{site.base}/news/{name}" for name in ("story", "other", "feed-1")} | {
        f"{site.base}/elsewhere/copy"}
    assert (home / "news" / "scraper.log").read_text() == ""  # --quiet, and nothing failed
    exported = (places["Command line"] / "articles.jsonl").read_text().splitlines()
    assert {json.loads(line)["url"] for line in exported} >= {f"{site.base}/news/story"}
    with gzip.open(places["Command line"] / "corpus" / "archive.jsonl.gz", "rt") as shard:
        assert f"{site.base}/news/story" in {json.loads(line)["url"] for line in shard}
    with sqlite3.connect(places["Command line"] / "copy.db") as db:  # extracted back into an archive
        assert db.execute("SELECT count(*) FROM versions").fetchone()[0] > 3
    # The everyday commands: listing, counting, deleting, settings, batch cleaning.
    [listed] = [result.stdout.decode() for command, result in ran if command.split("#")[0].strip() == "scraper ls"]
    assert f"3 versions\t{urlsplit(site.base).netloc}\t{site.base}/news/story\t" in listed
    assert "pages\t" in output("scraper stats")
    assert "would go" in next(result.stderr.decode() for command, result in ran if "--dry-run" in command)
    with sqlite3.connect(places["Command line"] / "scraper.db") as db:
        urls = {url for (url,) in db.execute("SELECT url FROM pages")}
    assert f"{site.base}/news/mapped" in urls and f"{site.base}/elsewhere/copy" not in urls
    assert 'user_agent = "scraper-readme-test"' in output("scraper config")
    assert (places["Command line"] / "cleaned" / "page.md").read_text().strip()
    assert len(list((places["Command line"] / "articles").glob("*.md"))) == len(urls) + 1  # the copy rm deleted too
    assert "_scraper_completion" in (places["Command line"] / "scraper-complete.bash").read_text()


def test_the_library_example_runs_as_written(site: LocalServer, tmp_path: Path) -> None:
    [code] = _code_blocks(_sections()["Library"])
    script = tmp_path / "example.py"
    script.write_text("\n".join(code).replace(STAND_IN, site.base) + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("1 True Japan")
    assert any(line.startswith(f"{site.base}/news/other 1") for line in lines)
    assert (tmp_path / "scraper.db").exists() and (tmp_path / "archive.warc.gz").stat().st_size > 0
