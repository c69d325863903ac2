"""The config file: defaults for the command's options, read from TOML.

Found at --config PATH (or SCRAPER_CONFIG), else as scraper.toml in the folder of the
database (SCRAPER_DB, else the current folder); none is fine. Its keys are flat:

    db = "news.db"
    user_agent = "NewsBot/1.0 (+https://example.org/bot)"
    per_host = 2
    interval = 1.0
    concurrency = 8
    timeout = 20
    deadline = 60
    retries = 2
    max_bytes = 10485760
    headers = ["Accept-Language: en"]
    lists = ["urls.txt"]
    feeds = ["https://example.com/rss.xml"]
    sitemaps = []

A value set on the command line wins, then the environment (SCRAPER_DB, SCRAPER_USER_AGENT),
then this file, then the built-in default: the file fills click's default_map.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scraper.errors import ConfigError

FILE_NAME = "scraper.toml"


@dataclass(frozen=True)
class Key:
    kind: type
    param: str
    """The name of the click parameter it gives a default to."""
    env: str | None = None


KEYS: dict[str, Key] = {
    "db": Key(str, "db_path", "SCRAPER_DB"),
    "user_agent": Key(str, "user_agent", "SCRAPER_USER_AGENT"),
    "per_host": Key(int, "per_host"),
    "interval": Key(float, "interval"),
    "concurrency": Key(int, "concurrency"),
    "timeout": Key(float, "timeout"),
    "deadline": Key(float, "deadline"),
    "retries": Key(int, "retries"),
    "max_bytes": Key(int, "max_bytes"),
    "headers": Key(list, "headers"),
    "lists": Key(list, "sources"),
    "feeds": Key(list, "feeds"),
    "sitemaps": Key(list, "sitemaps"),
}


def find(explicit: str | None, environ: dict[str, str] | None = None) -> tuple[Path | None, bool]:
    """The config file to read, and whether it was named (then it must exist)."""
    env = os.environ if environ is None else environ
    named = explicit or env.get("SCRAPER_CONFIG")
    if named:
        return Path(named), True
    database = Path(env.get("SCRAPER_DB") or "scraper.db")
    return database.parent / FILE_NAME, False


def load(path: Path | None, *, required: bool) -> dict[str, Any]:
    """The file's settings, checked: unknown keys and values of the wrong type are errors."""
    if path is None or (not required and not path.exists()):
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for name, value in data.items():
        key = KEYS.get(name)
        if key is None:
            raise ConfigError(f"config file {path}: unknown key {name!r} (known: {', '.join(KEYS)})")
        fits = isinstance(value, key.kind) and not (key.kind is not bool and isinstance(value, bool))
        if key.kind is float:
            fits = isinstance(value, int | float) and not isinstance(value, bool)
        if key.kind is list:
            fits = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not fits:
            wanted = {str: "a string", int: "a whole number", float: "a number", list: "a list of strings"}[key.kind]
            raise ConfigError(f"config file {path}: {name} must be {wanted}, not {value!r}")
    return data


def default_map(settings: dict[str, Any], commands: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """click's default_map: each setting given to every command that has its option."""
    result: dict[str, dict[str, Any]] = {}
    for command_name, command in commands.items():
        params = {param.name for param in command.params}
        defaults = {KEYS[name].param: value for name, value in settings.items() if KEYS[name].param in params}
        if defaults:
            result[command_name] = defaults
    return result


def effective(settings: dict[str, Any], path: Path | None, builtin: dict[str, Any],
              environ: dict[str, str] | None = None) -> list[tuple[str, Any, str]]:
    """(key, value, where it came from) of every key: environment, file or default."""
    env = os.environ if environ is None else environ
    rows: list[tuple[str, Any, str]] = []
    for name, key in KEYS.items():
        if key.env and env.get(key.env):
            rows.append((name, env[key.env], f"environment {key.env}"))
        elif name in settings:
            rows.append((name, settings[name], f"file {path}"))
        else:
            rows.append((name, builtin.get(name), "default"))
    return rows
