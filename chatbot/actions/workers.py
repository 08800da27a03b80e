"""Worker processes for a cold scan: when many notes files have nothing cached (a first
start, a new release of these rules, a ``git checkout`` that touched every file), ``cache``
has them read and parsed by one process per CPU, each returning what the cache stores.
Anything that keeps the workers from starting or finishing returns None: the scan then reads
the files itself, one by one, as before. Imports nothing of the package."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import multiprocessing.context

J = TypeVar("J")
R = TypeVar("R")

log = logging.getLogger("chatbot.actions")

# a worker's share of the files is sent in chunks of this many (one message each way per chunk)
CHUNK = 64


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    """``fork`` when this process runs one thread (a CLI command, the benchmark: the workers
    start at once with everything imported); otherwise (the bot: scheduler and platform
    threads, which ``fork`` would copy mid-flight) ``forkserver``, else ``spawn``."""
    import multiprocessing  # only when a cold scan needs workers: not at start-up

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def in_workers(func: Callable[..., list[R]], jobs: Sequence[J], args: tuple, workers: int) -> list[R] | None:
    """``func(chunk, *args)`` over ``jobs`` in chunks, in ``workers`` processes, the results in
    the jobs' order; None if the processes could not be used. ``func`` is a module-level
    function (the workers import it by name)."""
    import concurrent.futures

    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
            futures = [pool.submit(func, c, *args) for c in chunks]
            return [row for f in futures for row in f.result()]
    except Exception as exc:  # no semaphores, a worker killed, a result that would not pickle, a bug
        log.warning("reading the notes files in %d worker processes failed (%r); reading them here", workers, exc)
        return None
