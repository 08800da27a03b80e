"""Benchmark 2: the open-action-item scan over a large notes archive, against grep.

Generates N notes files (copies of the fixture corpus ``tests/fixtures/notes/`` and, when
present, ``../shared/fixtures/conda-governance/archive/``, one per day, named by the meeting's
filename pattern) in a temporary directory, then times in one run:

* ``grep -c -e '- \\[ \\]'`` over the same files (the floor: reading the bytes), its wall
  time and its CPU time,
* the same in plain Python (read every file, count the boxes): Python's own floor,
* a cold scan ``chatbot.actions.open_actions`` with no cache (in memory or on disk), in this
  process (the files are in the OS page cache for both); it writes the persisted cache; its
  wall time (the target) and its CPU time (steadier than wall times on a shared machine),
* the same in a fresh ``python`` process (imports excluded: timed inside the child),
* a restart: the in-memory caches dropped, the SQLite cache in ``[bot] state_dir`` kept, in
  this process and in a fresh one (nothing changed: the last answer is reused, its items
  looked up in their files' cached entries); a restart after one file changed (every file's
  cached entries merged again, the changed file parsed); a restart with the bot's default
  8-week lookback,
* a warm scan (nothing changed: the in-memory cache is valid).

    python bench/scan.py [--smoke] [--files 10000] [--profile] [--stages]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Row, clean_env, ratio, table

FIXTURES = [REPO / "tests" / "fixtures" / "notes", REPO.parent / "shared" / "fixtures" / "conda-governance" / "archive"]
FIRST_DAY = dt.date(2000, 1, 3)

CONFIG = """
[bot]
default_meeting = "eco"

[[meetings]]
id = "eco"
name = "Conda Ecosystem Meeting"

[[meetings.slots]]
rrule = "FREQ=DAILY"
start = 2000-01-03
time = 17:00:00

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-eco.md"

[meetings.actions]
lookback = "3000w"

[[people]]
initials = "JRG"
name = "Jaime Rodriguez-Guerra"
github = "jaimergp"
"""

# runs in a fresh interpreter: one cold scan, timed after the imports
CHILD = """
import datetime as dt, json, sys, time
from chatbot.actions import open_actions
from chatbot.config import load_config
config = load_config(sys.argv[1])
meeting = config.meeting("eco")
before = dt.date.fromisoformat(sys.argv[2])
t0 = time.perf_counter()
items = open_actions(config, meeting, before, today=before)
print(json.dumps({"seconds": time.perf_counter() - t0, "items": len(items)}))
"""


def corpus() -> list[str]:
    texts = []
    for d in FIXTURES:
        if d.is_dir():
            texts += [p.read_text(encoding="utf-8") for p in sorted(d.glob("*.md"))]
    if not texts:
        raise RuntimeError("no fixture notes found in " + ", ".join(map(str, FIXTURES)))
    return texts


def generate(root: Path, n: int) -> tuple[Path, dt.date]:
    """N notes files, one per day from FIRST_DAY; returns the config and the day after the last."""
    texts = corpus()
    notes = root / "notes"
    notes.mkdir(parents=True)
    for i in range(n):
        day = FIRST_DAY + dt.timedelta(days=i)
        (notes / day.strftime("%Y%m%d-eco.md")).write_text(texts[i % len(texts)], encoding="utf-8")
    cfg = root / "chatbot.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg, FIRST_DAY + dt.timedelta(days=n)


def time_grep(notes: Path, repeat: int) -> tuple[float, int, float]:
    """grep's median wall time, the number of unchecked boxes, and its median CPU time (user +
    system, from the children's resource usage): on a shared machine, other processes stretch
    wall times but not CPU times."""
    times, cpus, total = [], [], 0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(
            ["grep", "-r", "-c", "-e", r"- \[ \]", str(notes)], capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode not in (0, 1):
            raise RuntimeError(f"grep failed: {out.stderr}")
        total = sum(int(line.rsplit(":", 1)[1]) for line in out.stdout.splitlines())
    return statistics.median(times), total, statistics.median(cpus)


def time_python_read(notes: Path, repeat: int) -> float:
    """Python's own floor: list the directory, read every file, count the checkboxes."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        total = 0
        for p in notes.iterdir():
            total += p.read_bytes().count(b"- [ ]")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _children_cpu() -> float:
    """CPU time (user + system) of this process's finished children: the scan's workers."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _child(cfg: Path, before: dt.date, cwd: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(cfg), before.isoformat()],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def stages(config, meeting, before: dt.date, n: int, forget) -> str:
    """CPU time per file of one cold scan, by stage: what the cold-scan target is up against.
    The stages are timed by wrapping the functions the scan calls (the wrappers cost ~1 µs
    per call, counted in the totals)."""
    from chatbot import actions
    from chatbot.actions import cache
    from chatbot.notes import parse

    spent = dict.fromkeys(
        ("read (os calls)", "parse_notes", "extract (classification)", "evidence (done later)", "attendees"), 0.0
    )
    wrapped = [
        (cache, "_read_bytes", "read (os calls)"),
        (cache, "parse_notes", "parse_notes"),
        (cache, "extract", "extract (classification)"),
        (cache, "evidence", "evidence (done later)"),
        (parse.Notes, "attendees", "attendees"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]

    def timed(func, stage):
        def call(*args, **kwargs):
            c0 = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                spent[stage] += time.process_time() - c0

        return call

    for (owner, name, stage), (_, _, func) in zip(wrapped, originals):
        setattr(owner, name, timed(func, stage))
    # in this process (parallel_from = 0): the workers' stages would not be seen here
    meeting = meeting.model_copy(update={"actions": meeting.actions.model_copy(update={"parallel_from": 0})})
    try:
        forget(on_disk=True)
        c0 = time.process_time()
        actions.open_actions(config, meeting, before, today=before)
        total = time.process_time() - c0
    finally:
        for owner, name, func in originals:
            setattr(owner, name, func)
    rest = total - sum(spent.values())
    lines = [f"cold scan, CPU time per file ({n} files): {total * 1e6 / n:,.1f} µs"]
    lines += [f"  {stage:26s} {s * 1e6 / n:7.1f} µs  {s / total:4.0%}" for stage, s in spent.items()]
    lines.append(f"  {'everything else':26s} {rest * 1e6 / n:7.1f} µs  {rest / total:4.0%}")
    return "\n".join(lines)


def run(smoke: bool = False, files: int | None = None, profile: bool = False, by_stage: bool = False) -> list[Row]:
    from chatbot import actions
    from chatbot.config import load_config

    n = files or (200 if smoke else 10_000)
    repeat = 1 if smoke else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        cfg, before = generate(tmp, n)
        config = load_config(cfg)
        meeting = config.meeting("eco")
        cache_file = config.resolve(config.bot.state_dir) / actions.CACHE_NAME

        def forget(on_disk: bool) -> None:
            actions.reset_caches()
            if on_disk:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(cache_file) + suffix).unlink(missing_ok=True)

        grep_s, unchecked, grep_cpu = time_grep(tmp / "notes", repeat)
        pyread_s = time_python_read(tmp / "notes", repeat)

        cold, cold_cpu, restart, warm, found = [], [], [], [], 0
        for _ in range(repeat):
            forget(on_disk=True)  # nothing known: every file parsed (and the cache written)
            c0, k0, t0 = time.process_time(), _children_cpu(), time.perf_counter()
            items = actions.open_actions(config, meeting, before, today=before)
            cold.append(time.perf_counter() - t0)
            cold_cpu.append(time.process_time() - c0 + _children_cpu() - k0)  # the workers' too
            found = len(items)
            t0 = time.perf_counter()
            again = actions.open_actions(config, meeting, before, today=before)
            warm.append(time.perf_counter() - t0)
            forget(on_disk=False)  # a restart: the persisted cache only
            t0 = time.perf_counter()
            after = actions.open_actions(config, meeting, before, today=before)
            restart.append(time.perf_counter() - t0)
            if len(again) != found or len(after) != found:
                raise RuntimeError("the warm or restarted scan found something else than the cold one")
        # the same cold scan in this process only (no worker processes)
        serial_meeting = meeting.model_copy(update={"actions": meeting.actions.model_copy(update={"parallel_from": 0})})
        serial = []
        for _ in range(repeat):
            forget(on_disk=True)
            t0 = time.perf_counter()
            if len(actions.open_actions(config, serial_meeting, before, today=before)) != found:
                raise RuntimeError("the scan in one process found something else than with workers")
            serial.append(time.perf_counter() - t0)
        serial_s = statistics.median(serial)
        cold_s, warm_s, restart_s = (statistics.median(cold), statistics.median(warm), statistics.median(restart))
        cold_cpu_s = statistics.median(cold_cpu)

        # a restart after one notes file changed (a tick): the answer is not reused; every other
        # file comes from the persisted cache, the changed one is parsed again
        changed = sorted((tmp / "notes").iterdir())[n // 2]
        forget(on_disk=False)
        changed.write_text(changed.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        actions.open_actions(config, meeting, before, today=before)
        changed_s = time.perf_counter() - t0

        # the bot's default lookback (8 weeks): the people index still covers every file
        recent = meeting.model_copy(
            update={"actions": meeting.actions.model_copy(update={"lookback": dt.timedelta(weeks=8)})}
        )
        forget(on_disk=False)
        t0 = time.perf_counter()
        recent_found = len(actions.open_actions(config, recent, before, today=before))
        recent_restart_s = time.perf_counter() - t0

        forget(on_disk=True)
        fresh = _child(cfg, before, tmp)  # a fresh process, no cache on disk
        fresh_s = fresh["seconds"]
        actions.reset_caches()
        restarted = _child(cfg, before, tmp)  # a fresh process with the cache the first one left
        restarted_s = restarted["seconds"]

        if by_stage:
            print(stages(config, meeting, before, n, forget))
        if profile:
            import cProfile
            import pstats

            forget(on_disk=True)
            prof = cProfile.Profile()
            prof.runcall(actions.open_actions, config, meeting, before, today=before)
            print("--- cold ---")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            forget(on_disk=False)
            prof = cProfile.Profile()
            prof.runcall(actions.open_actions, config, meeting, before, today=before)
            print("--- restart (persisted cache) ---")
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    finally:
        actions.reset_caches()
        shutil.rmtree(tmp, ignore_errors=True)

    name = f"2 action scan ({n} files)"
    fps = lambda s: f"{n / s:,.0f} files/s ({s * 1000:.0f} ms)"  # noqa: E731
    cpu = lambda s: f"{s * 1e6 / n:,.1f} µs/file ({s * 1000:.0f} ms)"  # noqa: E731
    return [
        Row(name, "grep -c (floor)", "", fps(grep_s), "", "", None),
        Row(name, "python read+count (floor)", "", fps(pyread_s) + " py", ratio(pyread_s, grep_s), "", None),
        Row(
            name,
            "cold, no cache (in process)",
            fps(cold_s),
            fps(grep_s),
            ratio(cold_s, grep_s),
            "<= 10x grep",
            cold_s <= 10 * grep_s,
        ),
        Row(
            name,
            "cold, no cache (in process), CPU time (user + system, workers included)",
            cpu(cold_cpu_s),
            cpu(grep_cpu) + " grep",
            ratio(cold_cpu_s, grep_cpu),
            "",
            None,
        ),
        Row(
            name,
            "cold, no cache, one process (parallel_from = 0)",
            fps(serial_s),
            fps(grep_s),
            ratio(serial_s, grep_s),
            "",
            None,
        ),
        Row(
            name,
            "cold, no cache, fresh process",
            fps(fresh_s),
            fps(grep_s),
            ratio(fresh_s, grep_s),
            "<= 10x grep",
            fresh_s <= 10 * grep_s,
        ),
        Row(
            name,
            "restart, persisted cache (in process)",
            fps(restart_s),
            fps(grep_s),
            ratio(restart_s, grep_s),
            "<= 3x grep",
            restart_s <= 3 * grep_s,
        ),
        Row(
            name,
            "restart, persisted cache, fresh process",
            fps(restarted_s),
            fps(grep_s),
            ratio(restarted_s, grep_s),
            "<= 3x grep",
            restarted_s <= 3 * grep_s,
        ),
        Row(
            name,
            "restart, persisted cache, one file changed",
            fps(changed_s),
            fps(grep_s),
            ratio(changed_s, grep_s),
            "",
            None,
        ),
        Row(
            name,
            f"restart, persisted cache, default 8-week lookback ({recent_found} open)",
            fps(recent_restart_s),
            fps(grep_s),
            ratio(recent_restart_s, grep_s),
            "",
            None,
        ),
        Row(
            name,
            "warm (nothing changed)",
            fps(warm_s),
            fps(cold_s) + " cold",
            ratio(warm_s, cold_s),
            "well under cold (<= 0.5x)",
            warm_s <= 0.5 * cold_s,
        ),
        Row(
            name,
            "open items found / unchecked boxes",
            f"{found} / {unchecked}",
            "",
            "",
            "same in fresh processes",
            fresh["items"] == found == restarted["items"],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmark works")
    ap.add_argument("--files", type=int)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of a cold and a warm scan")
    ap.add_argument(
        "--stages", action="store_true", help="print the CPU time per file of a cold scan by stage (parse, classify, …)"
    )
    args = ap.parse_args(argv)
    print(table(run(args.smoke, args.files, args.profile, args.stages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
