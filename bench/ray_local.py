"""One Ray instance on this machine for a whole bench, which the `--ray` commands join.

The commands are given its address in RAY_ADDRESS, as they would be a cluster's. Without it,
each `--ray` command would start an instance of its own and stop it after (several seconds on
a small machine, paid by every command): the benches measure what Ray costs a run once a
cluster is up, and print the start-up apart. Its workers import the code of this checkout.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def ray_instance(cpus: int) -> Iterator[tuple[dict[str, str], float]]:
    """A local Ray instance of `cpus` CPUs while the block runs: the environment that points a
    command at it, and the seconds it took to start."""
    import ray

    # The instance's workers inherit this process's environment: this checkout first.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    started = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=256 * 1024 * 1024)
    seconds = time.perf_counter() - started
    try:
        yield {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}, seconds
    finally:
        ray.shutdown()


@contextmanager
def ray_or_none(wanted: bool, cpus: int) -> Iterator[dict[str, str] | None]:
    """The environment of a command that joins a Ray instance started for the bench, if wanted
    (its start-up time printed), else None."""
    if not wanted:
        yield None
        return
    with ray_instance(cpus) as (env, seconds):
        print(f"Ray: a local instance of {cpus} CPUs, started once in {seconds:.1f} s", flush=True)
        yield env
