"""Ray, joined as its own convention says, for the commands that run on a cluster (`run --ray`,
`extract --ray`): an address given, else RAY_ADDRESS, names a running cluster; without one a
Ray instance is started on this machine for the command and stopped after it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

from scraper import package_path
from scraper.errors import ScraperError

OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""A local instance's object store: pages pass through it one window at a time."""


TOKEN_HINT = ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token and give its token"
              " (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)")
"""Ray turns token authentication on by itself only for a cluster it finds on this machine, not
for one named by its address, and then says no more than that it could not connect."""


class RayUnavailable(ScraperError):
    reason = "ray"


@contextmanager
def connected(address: str | None = None, *, cpus: int | None = None) -> Iterator[None]:
    """Ray, connected for the block; an instance the caller connected already is used as it is.
    cpus: how many a local instance offers (default: every core)."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Ray's own log lines and its workers' output stay off the terminal: a command's data goes there.
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # address="local": a new instance, never one that an earlier `ray start` left word of
            # in Ray's temporary folder. Its workers import this very package, installed or not.
            ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                     object_store_memory=OBJECT_STORE_BYTES,
                     runtime_env={"env_vars": {"PYTHONPATH": package_path()}}, **quiet)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, ...: whatever Ray raises, one line
        where = f"the cluster at {address}" if address else "a local Ray instance"
        hint = TOKEN_HINT if address and os.environ.get("RAY_AUTH_MODE", "").lower() != "token" else ""
        raise RayUnavailable(f"cannot start or join {where}: {' '.join(str(exc).split())[:300]}{hint}") from None
    try:
        yield
    finally:
        ray.shutdown()
