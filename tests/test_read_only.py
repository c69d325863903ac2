"""Read commands leave archives alone: read-only folders, foreign and damaged files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import Archive
from scraper import Article, HTTPStatusError
from tests.test_similar import SEED_URLS, SYNDICATED_URL, seeds, syndicated

NOBODY = 65534
READ_COMMANDS = [
    ["export"], ["export", "--format", "csv"], ["export", "--format", "warc"], ["export", "--dedupe"],
    ["history", SEED_URLS[0]], ["show", SEED_URLS[0]], ["show", SEED_URLS[0], "--html"],
    ["diff", SEED_URLS[0]], ["search", "Japan"], ["similar", SEED_URLS[0]], ["failures"],
]


def _files(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}


def _filled(path: Path) -> None:
    with Archive(path) as archive:
        run_id = archive.start_run("test")
        for page, article in [*seeds(), syndicated()]:
            archive.save(page, article, run_id=run_id)
        page, article = seeds()[0]
        archive.save(page, Article(text=article.text + "\n\nA new paragraph.", title=article.title), run_id=run_id)
        archive.record_failure("https://gone.example/", HTTPStatusError("https://gone.example/", 404), run_id=run_id)
        archive.finish_run(run_id, status="finished", urls=7)


def _as_nobody_works() -> bool:
    try:
        return subprocess.run([sys.executable, "-c", "import scraper"], user=NOBODY, group=NOBODY,
                              env={**os.environ, "HOME": "/"}, capture_output=True, timeout=60).returncode == 0
    except (PermissionError, OSError):
        return False


@pytest.fixture
def read_only_folder() -> Iterator[tuple[Path, dict[str, object]]]:
    """A folder holding an archive that this test's CLI processes cannot write to, and the keyword
    arguments of subprocess.run that start them: as root (CI), the processes run as nobody, or
    the folder and file are made immutable when nobody cannot run this Python."""
    folder = Path(tempfile.mkdtemp(prefix="scraper-ro-"))
    _filled(folder / "archive.db")
    os.chmod(folder / "archive.db", 0o444)
    os.chmod(folder, 0o555)
    kwargs: dict[str, object] = {}
    immutable = False
    if os.geteuid() == 0:
        if _as_nobody_works():
            kwargs = {"user": NOBODY, "group": NOBODY}
        elif subprocess.run(["chattr", "+i", str(folder / "archive.db"), str(folder)],
                            capture_output=True).returncode == 0:
            immutable = True
        else:
            pytest.skip("running as root, and neither another user nor chattr +i can make a folder read-only")
    try:
        yield folder, kwargs
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder), str(folder / "archive.db")], check=True)
        os.chmod(folder, 0o755)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "HOME": "/", "PYTHONPATH": str(Path(__file__).parent.parent)}
    return subprocess.run([sys.executable, "-m", "scraper", *args], capture_output=True, timeout=120, env=env,
                          **kwargs)  # type: ignore[call-overload, no-any-return]


def test_every_read_command_works_in_a_read_only_folder_and_writes_nothing(
        read_only_folder: tuple[Path, dict[str, object]]) -> None:
    folder, kwargs = read_only_folder
    before = _files(folder)
    assert set(before) == {"archive.db"}
    for command in READ_COMMANDS:
        done = _cli(*command, "--db", str(folder / "archive.db"), **kwargs)
        assert done.returncode == 0, (command, done.stderr.decode())
        assert done.stdout, command
    assert _files(folder) == before
    similar = _cli("similar", SEED_URLS[0], "--db", str(folder / "archive.db"), **kwargs)
    assert SYNDICATED_URL in similar.stdout.decode()  # the near-duplicate index, built in memory


def test_a_read_only_archive_that_cannot_be_written_finds_near_duplicates_in_memory(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archive import similar as similar_module
    from scraper import ArchiveError

    def refused(archive: Archive) -> int:
        raise ArchiveError("attempt to write a readonly database")

    _filled(db_path)
    monkeypatch.setattr(similar_module, "_store_elsewhere", refused)
    with Archive(db_path, readonly=True) as archive:
        assert [match.url for match in similar_module.similar(archive, SEED_URLS[0])] == [SYNDICATED_URL]
        assert len(similar_module.duplicate_pages(archive)) == 1
        assert [match.url for match in similar_module.similar(archive, SYNDICATED_URL)] == [SEED_URLS[0]]
    with Archive(db_path) as archive:
        assert archive.db.execute("SELECT count(*) FROM minhashes").fetchone()[0] == 0


def test_a_read_only_archive_that_can_be_written_stores_its_near_duplicate_index(db_path: Path) -> None:
    from archive.similar import similar

    _filled(db_path)
    with Archive(db_path, readonly=True) as archive:
        assert [match.url for match in similar(archive, SEED_URLS[0])] == [SYNDICATED_URL]
    with Archive(db_path, readonly=True) as archive:
        assert archive.db.execute("SELECT count(*) FROM minhashes").fetchone()[0] == 6


def test_reading_leaves_the_archive_one_file_and_a_writer_at_work_alone(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    _filled(path)
    for command in [["ls"], ["history", SEED_URLS[0]], ["export"], ["similar", SEED_URLS[0]]]:
        done = _cli(*command, "--db", str(path))
        assert done.returncode == 0, (command, done.stderr.decode())
        assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.db"], command  # no -wal, no -shm
    # Beside a writer still at work, its WAL stays, and all it writes is kept.
    page, article = seeds()[1]
    with Archive(path) as writer:
        writer.save(page, Article(text=article.text + "\n\nOne more paragraph.", title=article.title))
        assert _cli("history", page.url, "--db", str(path)).returncode == 0
        assert (tmp_path / "archive.db-wal").exists()
        writer.save(page, Article(text=article.text + "\n\nTwo more paragraphs.", title=article.title))
    with Archive(path, readonly=True) as reader:
        assert len(reader.history(page.url)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.db"]


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE people (name TEXT)")
    connection.execute("INSERT INTO people VALUES ('Ann')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("command", [*READ_COMMANDS, ["archive", "-", "--url", "https://example.com/x"]])
def test_any_command_refuses_a_sqlite_file_of_someone_else_and_leaves_it_alone(
        foreign: Path, command: list[str]) -> None:
    before = _files(foreign.parent)
    done = _cli(*command, "--db", str(foreign), input=b"<html><body><p>Text.</p></body></html>")
    assert done.returncode == 1
    assert done.stderr.decode() == f"Error: {foreign} is a SQLite database but not a scraper archive\n"
    assert _files(foreign.parent) == before


@pytest.mark.parametrize("command", [["export"], ["history", SEED_URLS[0]], ["run", "-"]])
def test_a_file_that_is_not_sqlite_is_one_line(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    done = _cli(*command, "--db", str(path), input=b"")
    assert done.returncode == 1
    assert done.stderr.decode() == f"Error: {path} is not a SQLite database\n"


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_a_damaged_archive_is_one_line_naming_what_is_missing(db_path: Path, command: list[str]) -> None:
    _filled(db_path)
    connection = sqlite3.connect(db_path)
    connection.execute("DROP TABLE versions")
    connection.commit()
    connection.close()
    done = _cli(*command, "--db", str(db_path))
    assert done.returncode == 1
    assert done.stderr.decode() == f"Error: {db_path} is damaged: table versions is missing\n"


def test_a_table_gone_while_reading_is_one_line(db_path: Path) -> None:
    from scraper import ArchiveError

    _filled(db_path)
    with Archive(db_path, readonly=True) as archive:
        other = sqlite3.connect(db_path)
        other.execute("DROP TABLE fetches")
        other.commit()
        other.close()
        with pytest.raises(ArchiveError, match=r"is damaged: table fetches is missing$"):
            archive.failures()


def test_reading_an_empty_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    done = _cli("export", "--db", str(path))
    assert done.returncode == 1
    assert done.stderr.decode() == f"Error: {path} holds no archive yet\n"
    assert path.stat().st_size == 0 and sorted(tmp_path.iterdir()) == [path]


