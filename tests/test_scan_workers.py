"""A cold scan reads many uncached notes files in worker processes (``[meetings.actions]
parallel_from``): the same items, owners, errors and cache as reading them one by one."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from chatbot import actions
from chatbot.actions import cache, workers
from chatbot.config import load_config
from chatbot.notes.parse import NotesError

from conftest import BASE_CONFIG, NOTES_FIXTURES, write_config

pytestmark = pytest.mark.skipif(workers.cpus() < 2, reason="one CPU: the scan never starts workers")


def _archive(root: Path, parallel_from: int) -> tuple:
    """The test fixtures' notes, one per week from 2025-01-01, one file that is not UTF-8."""
    text = BASE_CONFIG.replace(
        "[meetings.destinations]",
        f'[meetings.actions]\nlookback = "520w"\nparallel_from = {parallel_from}\n\n[meetings.destinations]',
    )
    root.mkdir(parents=True, exist_ok=True)
    config = load_config(write_config(root, text))
    meeting = config.meeting()
    notes = root / "notes"
    notes.mkdir()
    day = dt.date(2025, 1, 1)
    sources = sorted(NOTES_FIXTURES)
    for src in sources:
        (notes / day.strftime(meeting.notes.filename)).write_bytes(src.read_bytes())
        day += dt.timedelta(weeks=1)
    (notes / day.strftime(meeting.notes.filename)).write_bytes(b"# broken \xff\xfe\n")
    return config, meeting, day + dt.timedelta(weeks=1), len(sources) + 1


def _scan(config, meeting, before):
    errors: list[str] = []
    items = actions.open_actions(config, meeting, before, today=before, errors=errors)
    return [(i.date, i.line, i.text, [o.describe() for o in i.owners], i.form) for i in items], errors


def test_workers_find_what_one_process_finds(tmp_path):
    actions.reset_caches()
    one = _scan(*_archive(tmp_path / "one", 0)[:3])
    actions.reset_caches()
    config, meeting, before, n = _archive(tmp_path / "many", 2)
    many = _scan(config, meeting, before)
    assert one[0] and many[0] == one[0]
    # the unreadable file is reported the same way, with its own path
    assert len(many[1]) == len(one[1]) == 1 and "UTF-8" in many[1][0]
    # and the workers' results were cached: a restart parses nothing
    actions.reset_caches()
    assert _scan(config, meeting, before) == many


def test_prefetch_reads_uncached_files_in_workers_and_keeps_cached_ones(tmp_path):
    actions.reset_caches()
    config, meeting, _, n = _archive(tmp_path, 2)
    files = sorted((tmp_path / "notes").iterdir())
    stats = [(p, p.stat()) for p in files]
    store = cache.ScanStore(None)
    sections = cache._sections_key(meeting)
    assert store.prefetch(stats, sections, least=0) == 0  # 0: never
    assert store.prefetch(stats, sections, least=n + 1) == 0  # fewer files than the threshold
    assert store.prefetch(stats, sections, least=2) == n - 1  # all but the one that is not UTF-8
    serial = cache.ScanStore(None)
    for p, st in stats[:-1]:
        assert store.get(p, st, sections) == serial.get(p, st, sections)
    with pytest.raises(NotesError, match="UTF-8"):
        store.get(*stats[-1], sections)
    # nothing changed: nothing to read again; a touched file with the same bytes keeps its facts
    assert store.prefetch(stats[:-1], sections, least=1) == 0
    p, st = stats[0]
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    before = store.get(p, st, sections)
    assert store.prefetch([(p, p.stat())], sections, least=1) == 1
    assert store.get(p, p.stat(), sections) == before


def test_with_other_threads_running_the_workers_do_not_fork_this_process(tmp_path):
    """The bot runs scheduler and platform threads: the workers come from a fork server (a
    ``fork`` would copy those threads' locks mid-flight), and read the same."""
    import threading

    actions.reset_caches()
    config, meeting, _, n = _archive(tmp_path, 2)
    stats = [(p, p.stat()) for p in sorted((tmp_path / "notes").iterdir())]
    sections = cache._sections_key(meeting)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(30,))
    other.start()
    try:
        assert workers._context().get_start_method() in ("forkserver", "spawn")
        store = cache.ScanStore(None)
        assert store.prefetch(stats, sections, least=2) == n - 1
    finally:
        stop.set()
        other.join()
    serial = cache.ScanStore(None)
    assert [store.get(p, st, sections) for p, st in stats[:-1]] == [serial.get(p, st, sections) for p, st in stats[:-1]]


def _doubled(chunk: list[int]) -> list[int]:
    return [2 * n for n in chunk]


def _broken(chunk: list[int]) -> list[int]:
    raise ValueError(f"a bug in the reader at {chunk[0]}")


def test_results_come_back_in_order_and_any_failure_leaves_the_work_to_the_scan(caplog):
    jobs = list(range(3 * workers.CHUNK + 5))  # four chunks
    assert workers.in_workers(_doubled, jobs, (), 2) == [2 * n for n in jobs]
    assert workers.in_workers(_broken, jobs, (), 2) is None
    assert "reading them here" in caplog.text and "a bug in the reader" in caplog.text
