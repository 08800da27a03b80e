"""The benchmarks (bench/) are run by hand; this only checks they still work, at tiny sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_smoke_run_prints_the_table():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CHATBOT_"))}
    res = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "| benchmark" in out and "| metric" in out and "| chatbot" in out, out
    for bench in ("1 command ack", "2 action scan", "3 start-up", "4 reminders", "5 Done click"):
        assert bench in out, out
    assert "FAILED" not in out, out
    # correctness checks inside the benchmarks hold even at tiny sizes
    for line in out.splitlines():
        if "exactly once" in line or "missing / doubled" in line:
            assert "| met" in line, line
