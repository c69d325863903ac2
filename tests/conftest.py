from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import Archive, compression, store
from scraper.fetcher import FetchSettings
from tests.server import FIXTURES, LocalServer

# The tests that interrupt a command need it to hear Ctrl-C. A shell starts a background job
# (CI run with "&") with SIGINT ignored, children inherit that, and the CLI, as it should,
# leaves an ignored SIGINT ignored; the tests' own commands are not background jobs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SEEDS = FIXTURES / "seeds"
CORPUS = FIXTURES / "corpus"

# Fast settings for tests: short waits, so timeouts and retries take fractions of a second.
FAST = FetchSettings(connect_timeout=2.0, read_timeout=1.0, deadline=5.0, retries=2, backoff=0.01,
                     max_backoff=0.05)
FAST_FLAGS = ["--timeout", "1", "--deadline", "5", "--retries", "1", "--interval", "0", "--per-host", "8"]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "archive.db"
    monkeypatch.setenv("SCRAPER_DB", str(path))
    return path


@pytest.fixture
def archive(db_path: Path) -> Iterator[Archive]:
    with Archive(db_path) as opened:
        yield opened


def seed_expectations() -> dict[str, dict[str, list[str]]]:
    return json.loads((SEEDS / "expected.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def scraper_cli(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run the real command line in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "scraper", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def small_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dictionary that 40 small pages are enough to train, from 20 samples on."""
    monkeypatch.setattr(compression, "DICTIONARY_SIZE", 4096)
    monkeypatch.setattr(store, "DICTIONARY_MIN_SAMPLES", 20)
