"""Shared helpers for the benchmarks: paths, subprocesses, percentiles, the result table."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from collections.abc import Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:  # `import chatbot` and the fake Slack from tests/fakes
    sys.path.insert(0, str(REPO))

HOST = "127.0.0.1"
BOT_TOKEN = "xoxb-1111-2222-BENCHBOTTOKEN"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"


@dataclass
class Row:
    """One line of the result table."""

    bench: str
    metric: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.ok]


HEADER = ("benchmark", "metric", "chatbot", "baseline", "ratio", "target", "")


def table(rows: Sequence[Row]) -> str:
    cells = [HEADER] + [(r.bench, r.metric, r.value, r.baseline, r.ratio, r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]

    def line(c):
        return "| " + " | ".join(x.ljust(w) for x, w in zip(c, widths)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells[1:]]
    return "\n".join(out)


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def clean_env(**extra: str | None) -> dict[str, str]:
    """The environment for a child process: no real Slack/chatbot settings, no proxies, the
    repo on PYTHONPATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CHATBOT_", "ZULIP_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Proc:
    """A child process whose combined output goes to a log file we can poll."""

    def __init__(
        self, args: list[str], cwd: Path, env: dict[str, str], log: Path, stdin: int | IO | None = subprocess.DEVNULL
    ):
        self.log_path = log
        self._log = open(log, "w+", encoding="utf-8")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=stdin, stdout=self._log, stderr=subprocess.STDOUT, text=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_log(self, pattern: str, timeout: float = 30.0, poll: float = 0.02) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if not self.alive():
                break
            time.sleep(poll)
        raise RuntimeError(f"no {pattern!r} in the output of {self.proc.args!r}:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 10.0) -> int:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


def vm_hwm_kib(pid: int) -> int | None:
    """Peak resident set size of a live process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def chatbot_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "chatbot", *args]
