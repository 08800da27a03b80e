"""Benchmark 3: start-up time and peak memory, chatbot's console backend against errbot's Text
backend.

chatbot: ``python -m chatbot run`` with the example config (``config/chatbot.toml`` and its
templates copied to a temporary directory, so no notes land in the repository). errbot: the
``errbot`` package from PyPI in the benchmark's own virtual environment
(``bench/.venv-errbot``, created on first use with the same Python), a directory made by
``errbot --init`` (Text backend, its default). Both get stdin as a pipe holding one command
(``/next`` resp. ``!echo``) and output unbuffered; we record the time from launch to

* ready: the "chatbot ready" log line / errbot's first ``>>>`` prompt,
* first answer: the reply to that command (comparable across the two bots),

then read the peak RSS (``VmHWM`` in ``/proc/PID/status``) before closing stdin. Each bot is
started once to warm the OS caches and byte-code, then ROUNDS times, alternating; medians.

    python bench/startup.py [--smoke] [--rounds 5] [--no-install]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, REPO, Proc, Row, chatbot_cmd, clean_env, ratio, table, vm_hwm_kib

VENV = BENCH / ".venv-errbot"
ERRBOT = VENV / "bin" / "errbot"


def ensure_errbot(install: bool) -> str | None:
    """None when errbot is ready to run, else why not."""
    if ERRBOT.exists():
        return None
    if not install:
        return f"not installed ({VENV} missing; run without --no-install)"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "errbot"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        err = getattr(exc, "stderr", "") or str(exc)
        return "pip install errbot failed: " + err.strip().splitlines()[-1][:120] if err.strip() else str(exc)
    return None if ERRBOT.exists() else "pip install errbot did not produce bin/errbot"


def _measure(proc: Proc, ready: str, answer: str, timeout: float = 60) -> tuple[float, float, int]:
    """Seconds to the ready marker, to the answer, and peak RSS (KiB)."""
    t_ready = t_answer = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (t_ready is None or t_answer is None):
        out = proc.output()
        now = time.monotonic()
        if t_ready is None and ready in out:
            t_ready = now - proc.started
        if t_answer is None and answer in out:
            t_answer = now - proc.started
        if not proc.alive():
            break
        time.sleep(0.005)
    rss = vm_hwm_kib(proc.pid) or 0
    if t_ready is None or t_answer is None:
        raise RuntimeError(f"{proc.proc.args!r} did not get ready/answer in {timeout:.0f} s:\n{proc.output()[-2000:]}")
    return t_ready, t_answer, rss


def _start(args: list[str], cwd: Path, env: dict, log: Path, command: str) -> Proc:
    proc = Proc(args, cwd, env, log, stdin=subprocess.PIPE)
    proc.proc.stdin.write(command + "\n")  # waits in the pipe until the bot reads it
    proc.proc.stdin.flush()
    return proc


def _finish(proc: Proc) -> None:
    try:
        proc.proc.stdin.close()
    except OSError:
        pass
    try:
        proc.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    proc.stop()


def run(smoke: bool = False, rounds: int | None = None, install: bool = True) -> list[Row]:
    rounds = rounds or (1 if smoke else 5)
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        cfgdir = tmp / "chatbot" / "config"
        shutil.copytree(REPO / "config", cfgdir, ignore=shutil.ignore_patterns("state", "*.sqlite3"))
        env = clean_env(PYTHONUNBUFFERED="1")

        def chatbot_once(i: int):
            p = _start(
                chatbot_cmd("run", "--config", str(cfgdir / "chatbot.toml")),
                tmp / "chatbot",
                env,
                tmp / f"chatbot-{i}.log",
                "/next",
            )
            try:
                return _measure(p, "chatbot ready", "Conda Ecosystem Meeting")
            finally:
                _finish(p)

        why_not = "skipped in --smoke" if smoke else ensure_errbot(install)
        ebdir = tmp / "errbot"
        if why_not is None:
            ebdir.mkdir()
            init = subprocess.run([str(ERRBOT), "--init"], cwd=ebdir, env=env, capture_output=True, text=True)
            if init.returncode != 0:
                why_not = "errbot --init failed: " + (init.stderr.strip().splitlines() or ["?"])[-1][:120]

        def errbot_once(i: int):
            p = _start([str(ERRBOT)], ebdir, env, tmp / f"errbot-{i}.log", "!echo benchready-errbot")
            try:
                return _measure(p, ">>> ", "benchready-errbot")
            finally:
                _finish(p)

        chatbot_once(-1)  # warm-up: byte-code, page cache
        if why_not is None:
            try:
                errbot_once(-1)
            except RuntimeError as exc:
                why_not = "errbot did not start: " + str(exc).splitlines()[0][:120]
        cb, eb = [], []
        for i in range(rounds):
            cb.append(chatbot_once(i))
            if why_not is None:
                eb.append(errbot_once(i))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(samples, k):
        return statistics.median(s[k] for s in samples)

    name = f"3 start-up (console vs errbot Text, median of {rounds})"
    sec = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    if why_not is not None:
        return [
            Row(name, "to ready", sec(med(cb, 0)), f"errbot: {why_not}"),
            Row(name, "to first answer", sec(med(cb, 1)), "n/a"),
            Row(name, "peak RSS", mib(med(cb, 2)), "n/a"),
        ]
    return [
        Row(
            name,
            "to ready",
            sec(med(cb, 0)),
            sec(med(eb, 0)),
            ratio(med(cb, 0), med(eb, 0)),
            "faster than errbot",
            med(cb, 0) < med(eb, 0),
        ),
        Row(
            name,
            "to first answer",
            sec(med(cb, 1)),
            sec(med(eb, 1)),
            ratio(med(cb, 1), med(eb, 1)),
            "faster than errbot",
            med(cb, 1) < med(eb, 1),
        ),
        Row(
            name,
            "peak RSS",
            mib(med(cb, 2)),
            mib(med(eb, 2)),
            ratio(med(cb, 2), med(eb, 2)),
            "less than errbot",
            med(cb, 2) < med(eb, 2),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, chatbot only (no errbot)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--no-install", action="store_true", help="do not create bench/.venv-errbot")
    args = ap.parse_args(argv)
    print(table(run(args.smoke, args.rounds, not args.no_install)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
