"""Benchmark 5: a Done click against the same tick typed as ``/actions done N``, Slack HTTP mode.

Starts ``python -m chatbot run --backend slack`` in HTTP mode against the fake Slack, with one
past notes file holding ITEMS open action items of one owner, a moment before their ping is
due. Then, alternating, presses **Done** on the ping's first remaining item (a signed
``block_actions`` POST) and types ``/actions done N`` for the last open one (a signed slash
command), one at a time, and records for each the time from the POST to the bot's answer at
the ``response_url`` (the ping updated in place, or the command's answer). Both do the same
notes edit; the click also rebuilds the message's blocks. Then checks that every item is
ticked exactly once.

    python bench/clicks.py [--smoke] [--items 20]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BOT_TOKEN, HOST, SIGNING_SECRET, Proc, Row, chatbot_cmd, clean_env, free_port, ms, pct, ratio, table

from tests.fakes.slack import FakeSlack, signed_post

CHANNEL = "C0CONDAECO"
USER = "U0JAIME"
PING_NOW = "2026-01-05T16:59:58Z"  # the ping (2 days before the 2026-01-07 17:00 meeting) is due in 2 s
PAST = "20251231-eco.md"

CONFIG = """
[bot]
default_meeting = "eco"

[[meetings]]
id = "eco"
name = "Conda Ecosystem Meeting"
reminders = []

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-01-07
time = 17:00:00
timezone = "UTC"

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-eco.md"

[meetings.destinations]
slack_channel = "{channel}"

[[people]]
initials = "JRG"
name = "Jaime"
slack_id = "{user}"

[slack]
mode = "http"
api_url = "{api_url}"
host = "127.0.0.1"
port = {port}
public_confirmation = false
"""


def _answered(fake: FakeSlack, count: int, what: str) -> float:
    fake.wait_for(lambda: len(fake.responses) >= count, 30, what)
    return time.monotonic()


def run(smoke: bool = False, items: int | None = None) -> list[Row]:
    n = items or (4 if smoke else 20)  # at most ~23 items get buttons (50 blocks)
    tmp = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    bot = None
    clicks: list[float] = []
    commands: list[float] = []
    try:
        with FakeSlack(BOT_TOKEN, channels={CHANNEL: "conda-ecosystem"}, users={USER: {"name": "jaime"}}) as fake:
            (tmp / "notes").mkdir()
            # words of their own: items of one owner with similar words count as one (carried copies)
            texts = [" ".join(uuid.uuid4().hex[k : k + 6] for k in (0, 8, 16)) for _ in range(n)]
            lines = "".join(f"- [ ] JRG: {t}\n" for t in texts)
            (tmp / "notes" / PAST).write_text(f"# 2025-12-31\n\n## Action items\n\n{lines}", encoding="utf-8")
            port = free_port()
            cfg = tmp / "chatbot.toml"
            cfg.write_text(CONFIG.format(channel=CHANNEL, user=USER, port=port, api_url=fake.api_url), encoding="utf-8")
            env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, CHATBOT_FAKE_NOW=PING_NOW)
            bot = Proc(chatbot_cmd("run", "--backend", "slack", "--config", str(cfg)), tmp, env, tmp / "bot.log")
            bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events")
            url = f"http://{HOST}:{port}/slack/events"
            ping = fake.wait_for(
                lambda: [m for m in fake.history.get("D" + USER[1:], []) if m.get("blocks")], 30, "the ping"
            )[0]
            # warm-up: the first request pays for lazy imports and connection set-up
            form = fake.slash_command_payload("/actions", "", user_id=USER, user_name="jaime")
            signed_post(url, SIGNING_SECRET, form)
            _answered(fake, 1, "the warm-up answer")

            open_left = n
            for turn in range(n):
                seen = len(fake.responses)
                if turn % 2 == 0:
                    payload = fake.click_payload(ping["ts"], "chatbot_done", user_id=USER, user_name="jaime")
                    t0 = time.monotonic()
                    signed_post(url, SIGNING_SECRET, {"payload": json.dumps(payload)})
                    clicks.append(_answered(fake, seen + 1, "the ping updated") - t0)
                else:
                    form = fake.slash_command_payload("/actions", f"done {open_left}", user_id=USER, user_name="jaime")
                    t0 = time.monotonic()
                    signed_post(url, SIGNING_SECRET, form)
                    commands.append(_answered(fake, seen + 1, "the command's answer") - t0)
                open_left -= 1
            text = (tmp / "notes" / PAST).read_text(encoding="utf-8")
            ticked = [len(re.findall(rf"^- \[x\] JRG: {t}$", text, re.M)) for t in texts]
            errors = [line for line in bot.output().splitlines() if " ERROR " in line]
    finally:
        if bot is not None:
            bot.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    name = f"5 Done click vs /actions done ({len(clicks)} + {len(commands)}, one at a time)"
    c50, k50 = pct(clicks, 50), pct(commands, 50)
    rows = [
        Row(
            name,
            "to the answer at response_url p50",
            ms(c50),
            ms(k50),
            ratio(c50, k50),
            "ratio <= 1.2",
            c50 / k50 <= 1.2,
        ),
        Row(name, "max", ms(max(clicks)), ms(max(commands)), ratio(max(clicks), max(commands))),
        Row(name, "items ticked exactly once", f"{ticked.count(1)}/{n}", "", "", "all", ticked.count(1) == n),
    ]
    if errors:
        rows.append(Row(name, "bot ERROR log lines", str(len(errors)), "", "", "0", False))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmark works")
    ap.add_argument("--items", type=int)
    args = ap.parse_args(argv)
    print(table(run(args.smoke, args.items)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
