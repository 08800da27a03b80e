"""Benchmark 4: reminder punctuality against the fake Slack.

A config with N meetings (one Slack channel each) whose single reminder (``reminders =
["1m"]``) falls due a few seconds after the bot starts, spread over SPREAD seconds (so
N/SPREAD reminders fall due at the same instant). The bot runs ``--backend slack`` (HTTP mode)
against the fake Slack; for each ``chat.postMessage`` we take the fake's receive time minus
the reminder's due time.

The meetings are placed in real time (the slots' start date and wall-clock time are computed
from the current time) instead of shifting the bot's clock with ``CHATBOT_FAKE_NOW``: the
shifted clock's offset is fixed inside the child process at an instant we cannot observe
exactly, which would blur the lateness by the interpreter's start-up time.

    python bench/reminders.py [--smoke] [--reminders 100] [--spread 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BOT_TOKEN, SIGNING_SECRET, Proc, Row, chatbot_cmd, clean_env, free_port, ms, pct, table

from tests.fakes.slack import FakeSlack

UTC = dt.UTC
LEAD = 5.0  # seconds from launch to the first due reminder (start-up takes ~0.5 s)
SMOKE_LEAD = 2.0

HEAD = """
[bot]
reminder_grace = "10m"

[slack]
mode = "http"
host = "127.0.0.1"
port = {port}
api_url = "{api_url}"
"""

MEETING = """
[[meetings]]
id = "m{i:03d}"
name = "Meeting {i:03d}"
reminders = ["1m"]

[[meetings.slots]]
rrule = "FREQ=DAILY"
start = {date}
time = {time}
timezone = "UTC"

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-m{i:03d}.md"

[meetings.destinations]
slack_channel = "{channel}"

[meetings.actions]
enabled = false
"""


def run(smoke: bool = False, n: int | None = None, spread: int | None = None) -> list[Row]:
    n = n or (10 if smoke else 100)
    spread = spread or (1 if smoke else 5)
    lead = SMOKE_LEAD if smoke else LEAD
    tmp = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    channels = {f"C0R{i:03d}": f"meeting-{i:03d}" for i in range(n)}
    proc = None
    try:
        with FakeSlack(BOT_TOKEN, channels=channels) as fake:
            wall_minus_mono = time.time() - time.monotonic()
            first_due = math.ceil(time.time() + lead)  # whole seconds: slot times have 1 s resolution
            due: dict[str, float] = {}  # channel -> due time (monotonic clock)
            parts = [HEAD.format(port=free_port(), api_url=fake.api_url)]
            for i, channel in enumerate(channels):
                at = first_due + i % spread
                start = dt.datetime.fromtimestamp(at + 60, UTC)  # the reminder is 1 min before
                due[channel] = at - wall_minus_mono
                parts.append(
                    MEETING.format(
                        i=i,
                        date=start.date().isoformat(),
                        time=start.time().isoformat(timespec="seconds"),
                        channel=channel,
                    )
                )
            cfg = tmp / "chatbot.toml"
            cfg.write_text("".join(parts), encoding="utf-8")
            env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
            proc = Proc(chatbot_cmd("run", "--backend", "slack", "--config", str(cfg)), tmp, env, tmp / "bot.log")
            proc.wait_log(r"chatbot ready", timeout=lead)
            last_due = max(due.values())
            # wait for all, then a little longer to catch doubles
            try:
                fake.wait_for(
                    lambda: len(fake.calls("chat.postMessage")) >= n, last_due - time.monotonic() + 30, f"{n} reminders"
                )
            except AssertionError:
                pass
            time.sleep(0.5 if smoke else 2.0)
            posts = [
                r for r in fake.calls("chat.postMessage") if r.ok and "starts in 1 min" in r.params.get("text", "")
            ]
            errors = [line for line in proc.output().splitlines() if " ERROR " in line]
    finally:
        if proc is not None:
            proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    per_channel = Counter(r.params["channel"] for r in posts)
    missing = sum(1 for c in channels if per_channel[c] == 0)
    doubled = sum(1 for c in channels if per_channel[c] > 1)
    first = {}
    for r in posts:
        first.setdefault(r.params["channel"], r.at)
    late = [first[c] - due[c] for c in first]
    name = f"4 reminders ({n} due within {spread} s, {n // spread} at once)"
    rows = [
        Row(name, "lateness p50", ms(pct(late, 50)) if late else "n/a"),
        Row(
            name,
            "lateness p99",
            ms(pct(late, 99)) if late else "n/a",
            "",
            "",
            "< 1 s",
            bool(late) and pct(late, 99) < 1.0,
        ),
        Row(name, "lateness max", ms(max(late)) if late else "n/a"),
        Row(
            name,
            "lateness min (early < 0)",
            ms(min(late)) if late else "n/a",
            "",
            "",
            ">= 0",
            bool(late) and min(late) >= -0.005,
        ),
        Row(name, "missing / doubled", f"{missing} / {doubled}", "", "", "0 / 0", missing == 0 and doubled == 0),
    ]
    if errors:
        rows.append(Row(name, "bot ERROR log lines", str(len(errors)), "", "", "0", False))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmark works")
    ap.add_argument("--reminders", type=int)
    ap.add_argument("--spread", type=int, help="seconds over which the reminders fall due")
    args = ap.parse_args(argv)
    print(table(run(args.smoke, args.reminders, args.spread)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
