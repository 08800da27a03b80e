"""Reliability: signals, config reload, exactly-once reminders across restarts, kill -9
during writes, and property-based bad input. Real processes, fixed (fake) clocks."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.bot import Bot, Sender
from chatbot.config import ConfigError, load_config
from chatbot.messages import render_plain
from chatbot.notes.edit import agenda_items
from chatbot.notes.parse import NotesError, parse_notes, read_notes
from chatbot.state import Ledger

from fakes.recording import RecordingBackend
from conftest import BASE_CONFIG, FixedClock, write_config

REPO = Path(__file__).parent.parent
UTC = dt.UTC


class Bot_:
    """A `chatbot run` console process whose stdout/stderr are collected line by line."""

    def __init__(self, config: Path, fake_now: str, *extra: str, stdin=subprocess.PIPE, preexec_fn=None):
        env = {**os.environ, "CHATBOT_FAKE_NOW": fake_now}
        env.pop("CHATBOT_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "run", "--config", str(config), *extra],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
            bufsize=1,
            preexec_fn=preexec_fn,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink.append(line.rstrip("\n"))

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pattern: str, where: str = "out", timeout: float = 20, count: int = 1) -> list[str]:
        rx = re.compile(pattern)
        sink = self.out if where == "out" else self.err
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [ln for ln in list(sink) if rx.search(ln)]
            if len(hits) >= count:
                return hits
            if self.proc.poll() is not None and len(sink) == len(list(sink)):
                time.sleep(0.1)
                hits = [ln for ln in list(sink) if rx.search(ln)]
                if len(hits) >= count:
                    return hits
                raise AssertionError(
                    f"bot exited ({self.proc.returncode}) before {pattern!r}; stderr: {self.err[-10:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {pattern!r} in std{where}; last: {sink[-5:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for t in self._threads:
            t.join(5)


@pytest.fixture
def bots():
    started: list[Bot_] = []

    def start(*a, **kw) -> Bot_:
        b = Bot_(*a, **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.kill()


def test_sigterm_exits_cleanly_while_waiting_for_input(tmp_path, bots):
    b = bots(write_config(tmp_path), "2026-01-05T12:00:00Z")
    b.wait_for("chatbot ready", "err")
    b.send("/agenda add before shutdown")
    b.wait_for("as item 1")
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0
    b.wait_for("chatbot stopped", "err")


def test_sighup_reloads_config_and_a_bad_one_is_refused(tmp_path, bots):
    cfg = write_config(tmp_path)
    b = bots(cfg, "2026-01-05T12:00:00Z")
    b.wait_for("chatbot ready", "err")
    cfg.write_text(cfg.read_text().replace('name = "Conda Ecosystem Meeting"', 'name = "Renamed Meeting"'))
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for("config reloaded", "err")
    b.send("/next")
    b.wait_for(r"\*Renamed Meeting\* — Wed 2026-01-07 17:00 UTC")
    cfg.write_text(cfg.read_text().replace('timezone = "UTC"', 'timezone = "Nowhere/City"', 1))
    b.proc.send_signal(signal.SIGHUP)
    b.wait_for(r"config not reloaded, keeping the running one: .*timezone: unknown time zone 'Nowhere/City'", "err")
    b.send("/next")
    b.wait_for(r"\*Renamed Meeting\*", count=2)
    assert b.proc.poll() is None


REMINDER_CONFIG = BASE_CONFIG.replace('reminders = ["24h", "15m"]', 'reminders = ["15m"]')


def test_reminder_is_posted_exactly_once_across_kill_and_restart(tmp_path, bots):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    # due at 2026-01-07 16:45:00Z; start 2 s before
    b = bots(cfg, "2026-01-07T16:44:58Z", "--stay", stdin=subprocess.DEVNULL)
    b.wait_for(r"\[eco\] \*Conda Ecosystem Meeting\* starts in 15 min")
    b.kill()  # kill -9 right after the post
    # restart 30 s after the due time: inside the 10-minute grace, but already sent
    b2 = bots(cfg, "2026-01-07T16:45:30Z", "--stay", stdin=subprocess.DEVNULL)
    b2.wait_for("chatbot ready", "err")
    b2.wait_for("scheduled reminders:eco, next at 2026-01-14", "err")
    time.sleep(1.0)
    assert not [ln for ln in b2.out if "starts in" in ln]


def test_reminder_missed_while_down_is_sent_once_within_grace_and_never_after_start(tmp_path, bots):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    b = bots(cfg, "2026-01-07T16:50:00Z", "--stay", stdin=subprocess.DEVNULL)  # 5 min late
    hits = b.wait_for(r"starts in 10 min")  # what is true when it is sent, not "15 min"
    assert len(hits) == 1
    other = tmp_path / "other"
    other.mkdir()
    cfg2 = write_config(other, REMINDER_CONFIG)
    b2 = bots(cfg2, "2026-01-07T17:01:00Z", "--stay", stdin=subprocess.DEVNULL)  # meeting started
    b2.wait_for("chatbot ready", "err")
    time.sleep(1.0)
    assert not [ln for ln in b2.out if "starts in" in ln]


@pytest.mark.slow
def test_kill_9_during_200_adds_loses_nothing_acknowledged(tmp_path, bots):
    cfg = write_config(tmp_path)
    b = bots(cfg, "2026-01-05T12:00:00Z")
    b.wait_for("chatbot ready", "err")
    for i in range(200):
        b.send(f"/agenda add chaos item {i:03d}")
    b.wait_for(r"as item \d+: JRG|as item \d+: ME", count=40, timeout=60)
    b.kill()
    acked = {int(m.group(1)) for ln in b.out if (m := re.search(r"chaos item (\d{3})$", ln))}
    assert len(acked) >= 40
    path = tmp_path / "notes" / "20260107-eco.md"
    notes = read_notes(path)  # parses: no torn write
    texts = [it.text for it in agenda_items(notes, notes.section("New agenda items"))]
    numbers = [int(t.rsplit(" ", 1)[1]) for t in texts]
    assert len(numbers) == len(set(numbers)), "no item twice"
    assert acked <= set(numbers), "every acknowledged item is in the file"
    # the bot restarts on the same file and keeps adding; a temp file the killed writer may
    # have left behind is cleaned up under the lock
    b2 = bots(cfg, "2026-01-05T12:00:00Z")
    b2.send("/agenda add after restart")
    b2.wait_for(rf"as item {len(numbers) + 1}: ")
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- property-based bad input -------------------------------------------------------

AGENDA_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("#>-*+`[]()!@<>&\n\r\t \u200f\u202e\x00x1.")), max_size=80),
    st.sampled_from(
        [
            "@channel",
            "@**all**",
            "# Heading",
            "```",
            "<!--",
            "- [ ] x",
            "1. x",
            "\u202eevil",
            "a\nb",
            "x" * 1001,
            "",
            "   ",
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=AGENDA_TEXT)
def test_any_agenda_text_is_refused_or_one_wellformed_line(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("prop")
    bot = Bot(load_config(write_config(tmp)), FixedClock(dt.datetime(2026, 1, 5, tzinfo=UTC)))
    assert bot.handle("agenda add seed", Sender("cli", initials="JL")).ok
    path = tmp / "notes" / "20260107-eco.md"
    before = read_notes(path)
    msg = bot.handle("agenda add " + text, Sender("cli", initials="JRG"))
    after = read_notes(path)
    if not msg.ok:
        assert render_plain(msg).strip(), "a refusal says why"
        assert after.text == before.text
        return
    assert len(after.lines) == len(before.lines) + 1
    assert [(h.level, h.title) for h in after.headings] == [(h.level, h.title) for h in before.headings]
    assert after.metadata == before.metadata
    items = agenda_items(after, after.section("New agenda items"))
    assert [it.text for it in items[:-1]] == ["JL: seed"]
    new = items[-1]
    assert new.text.startswith("JRG: ") and new.end == new.line + 1 and not new.children
    line = after.lines[new.line]
    assert line.endswith("\n") and "\n" not in line[:-1] and "\r" not in line
    assert line.count("\u200b") <= text.count("\u200b")  # no invisible characters added to the notes
    # in chat, a mass mention in it is defused
    assert not re.search(r"(?<!\u200b)@(channel|here|all|everyone)\b", render_plain(msg))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400))
def test_parser_never_crashes_on_arbitrary_text(text):
    try:
        notes = parse_notes(text)
    except NotesError as exc:
        assert exc.problem
        return
    assert notes.text == text


CONFIG_LINES = BASE_CONFIG.strip().splitlines()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drop=st.sets(st.integers(0, len(CONFIG_LINES) - 1), max_size=3),
    garble=st.dictionaries(
        st.integers(0, len(CONFIG_LINES) - 1),
        st.sampled_from(
            [
                "x = 1",
                "= broken",
                "time = 99:99:99",
                'start = "soon"',
                'reminders = "often"',
                "[[meetings]]",
                "rrule = 42",
                'timezones = ["Mars"]',
                "duration = -5",
            ]
        ),
        max_size=2,
    ),
)
def test_random_malformed_configs_get_a_clear_error(tmp_path_factory, drop, garble):
    lines = [garble.get(i, ln) for i, ln in enumerate(CONFIG_LINES) if i not in drop]
    tmp = tmp_path_factory.mktemp("cfg")
    path = write_config(tmp, "\n".join(lines) + "\n")
    try:
        load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        # every problem, one line each, each naming the file
        assert msg.splitlines() and all(ln.startswith(f"{path}: ") for ln in msg.splitlines())
        assert "Traceback" not in msg


def test_notes_filename_cannot_escape_the_notes_directory(tmp_path):
    for pattern in ("../%Y%m%d.md", "/etc/%Y%m%d", "sub/%Y%m%d.md", ".%Y%m%d.md"):
        bad = BASE_CONFIG.replace('filename = "%Y%m%d-eco.md"', f'filename = "{pattern}"')
        with pytest.raises(ConfigError, match=r"meetings\[0\]\.notes\.filename"):
            load_config(write_config(tmp_path, bad))


def test_config_file_change_is_picked_up_without_a_signal(tmp_path, bots):
    cfg = write_config(tmp_path)
    b = bots(cfg, "2026-01-05T12:00:00Z")
    b.wait_for("chatbot ready", "err")
    cfg.write_text(cfg.read_text().replace('reminders = ["24h", "15m"]', 'reminders = ["2d"]'))
    b.wait_for("config reloaded", "err", timeout=15)
    # rescheduled: the next reminder is now 2 days before 2026-01-07 17:00 (it was 24 h)
    b.wait_for(r"rescheduled reminders:eco, next at 2026-01-05T17:00:00\+00:00", "err")


def test_disk_full_is_a_clear_error_the_file_is_untouched_and_the_bot_keeps_running(tmp_path, bots):
    """A write the kernel refuses (here: over RLIMIT_FSIZE, EFBIG, as a full disk refuses with
    ENOSPC) leaves the notes file as it was, tells the user, and the bot goes on."""
    import resource

    config = write_config(tmp_path)
    cli = [sys.executable, "-m", "chatbot", "agenda", "add", "seed item", "--as", "JRG", "--config", str(config)]
    env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-05T12:00:00Z"}
    assert subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=60).returncode == 0
    notes = tmp_path / "notes" / "20260107-eco.md"
    # a long human-written tail, so the limit below leaves room for the bot's small state files
    with notes.open("a", encoding="utf-8") as fh:
        fh.write("".join(f"- discussion line {i}: nothing to see\n" for i in range(2000)))
    before = notes.read_bytes()
    limit = len(before) + 4  # any added item makes the file larger than this

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    b = bots(config, "2026-01-05T12:00:00Z", preexec_fn=small_files)
    b.wait_for("chatbot ready", "err")
    b.send("/agenda add this one cannot be written")
    [answer] = b.wait_for(r"could not write 20260107-eco\.md", timeout=30)
    assert "the file was not changed" in answer and "Traceback" not in "\n".join(b.out + b.err)
    assert notes.read_bytes() == before
    assert not [p for p in notes.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    b.send("/agenda list")  # still running and still reading the file
    b.wait_for(r"1\. JRG: seed item", timeout=30)
    assert b.proc.poll() is None
    # the CLI says the same and exits non-zero
    r = subprocess.run(
        cli[:5] + ["too big now"] + cli[6:],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
    )
    assert r.returncode != 0 and "could not write 20260107-eco.md" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    assert notes.read_bytes() == before


class _FlakyBackend:
    """A backend (the runner's interface, no platform) whose first DM to JL fails."""

    name = "flaky"

    def __init__(self):
        self.posts: list[str] = []
        self.dms: list[str] = []
        self.refused = 0

    def wants(self, meeting):
        return True

    def post(self, meeting, message):
        self.posts.append(render_plain(message))

    def notify(self, meeting, person, message):
        from chatbot.backends.base import BackendError

        if person.initials == "JL" and not self.refused:
            self.refused += 1
            raise BackendError("Slack API chat.postMessage failed: internal_error")
        self.dms.append(person.initials)


def test_a_failed_ping_is_tried_again_without_repeating_the_others(tmp_path):
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    config = write_config(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "20260107-eco.md").write_text(
        "# Meeting\n## Attendees\n- JRG: Jaime (@jaimergp)\n- JL: Jannis (@jezdez)\n\n"
        "## Discussion\n- [ ] JRG: open a PR\n- [ ] JL: write the docs\n",
        encoding="utf-8",
    )
    # the pings for the 2026-01-14 14:00 UTC meeting fall due 2 days before
    bot = Bot(load_config(config), clock=FixedClock(dt.datetime(2026, 1, 12, 14, 1, tzinfo=UTC)))
    backend = _FlakyBackend()
    rem = Reminders(bot, backend, Ledger(tmp_path / "state.sqlite3"))
    rem.fire_pings("eco")
    assert backend.dms == ["JRG"] and backend.refused == 1
    assert len(backend.posts) == 1  # the summary still goes to the channel
    job = rem.scheduler.get_job("retry:pings:eco")
    assert job is not None  # a retry is planned (the scheduler is not running in this test)
    assert rem.retry_delay() == dt.timedelta(minutes=1)  # a tenth of the 10 min grace
    job.func()  # the retry, a minute later
    assert backend.dms == ["JRG", "JL"] and len(backend.posts) == 1  # JL now; nobody twice
    job.func()
    assert backend.dms == ["JRG", "JL"] and len(backend.posts) == 1
    # past the grace period nothing is due any more, sent or not
    bot.clock.now = dt.datetime(2026, 1, 12, 14, 11, tzinfo=UTC)
    assert rem.due(bot.config.meeting("eco"), bot.now(), [dt.timedelta(days=2)], kind=None) == []
    rem.ledger.close()


def test_two_platforms_sharing_the_state_directory_each_get_every_reminder_once(tmp_path):
    """The example config posts to the console, Slack and Zulip: one process per platform,
    same config, same ledger. What one platform was sent must not count for the others."""
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    config = load_config(write_config(tmp_path, REMINDER_CONFIG))
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC))  # the 15 min reminder is due
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    slack = Reminders(Bot(config, clock), RecordingBackend("slack"), Ledger(ledger))
    zulip = Reminders(Bot(config, clock), RecordingBackend("zulip"), Ledger(ledger))
    for rem in (slack, zulip, slack, zulip):
        rem.fire("eco")
    want = ["*Conda Ecosystem Meeting* starts in 15 min: Wed 2026-01-07 17:00 UTC"]
    assert slack.backend.posts == want and zulip.backend.posts == want
    # and each of them remembers its own across a restart
    clock.now += dt.timedelta(minutes=1)
    again = Reminders(Bot(config, clock), RecordingBackend("zulip"), Ledger(ledger))
    again.fire("eco")
    assert again.backend.posts == []
    for rem in (slack, zulip, again):
        rem.ledger.close()


def test_after_a_downtime_only_the_latest_due_reminder_of_a_meeting_is_sent(tmp_path):
    """With a long grace period, the bot back at 16:50 must not say "starts in 1 h" (and then
    "starts in 15 min") for a meeting that starts at 17:00."""
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    text = REMINDER_CONFIG.replace('reminders = ["15m"]', 'reminders = ["1h", "15m"]').replace(
        'default_meeting = "eco"', 'default_meeting = "eco"\nreminder_grace = "1h"'
    )
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 50, tzinfo=UTC))
    rem = Reminders(
        Bot(load_config(write_config(tmp_path, text)), clock),
        RecordingBackend("console"),
        Ledger(tmp_path / "state.sqlite3"),
    )
    rem.fire("eco")
    assert rem.backend.posts == ["*Conda Ecosystem Meeting* starts in 10 min: Wed 2026-01-07 17:00 UTC"]
    clock.now += dt.timedelta(minutes=5)  # another job fires, or a reload catches up
    rem.fire("eco")
    assert len(rem.backend.posts) == 1
    # down until 16:10 only: the 1 h reminder is 10 min late, the 15 min one not due yet
    other = tmp_path / "other"
    other.mkdir()
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 10, tzinfo=UTC))
    rem2 = Reminders(
        Bot(load_config(write_config(other, text)), clock), RecordingBackend("console"), Ledger(other / "state.sqlite3")
    )
    rem2.fire("eco")
    assert rem2.backend.posts == ["*Conda Ecosystem Meeting* starts in 50 min: Wed 2026-01-07 17:00 UTC"]
    clock.now = dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC)
    rem2.fire("eco")
    assert rem2.backend.posts[1:] == ["*Conda Ecosystem Meeting* starts in 15 min: Wed 2026-01-07 17:00 UTC"]
    rem.ledger.close()
    rem2.ledger.close()


def test_a_state_directory_that_cannot_be_made_is_a_clear_error_not_a_traceback(tmp_path):
    # e.g. a Docker volume the container's user cannot write; here: a path through a file
    config = write_config(
        tmp_path,
        BASE_CONFIG.replace('default_meeting = "eco"', 'default_meeting = "eco"\nstate_dir = "template.md/state"'),
    )
    env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-05T12:00:00Z"}
    env.pop("CHATBOT_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot", "run", "--config", str(config)],
        input="",
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"error: {config}: bot.state_dir: cannot use {tmp_path / 'template.md' / 'state'}" in proc.stderr


class _FullLedger(Ledger):
    """A ledger on a full disk: nothing can be recorded."""

    def mark_sent(self, key, when=None):
        raise sqlite3.OperationalError("database or disk is full")


def _bot_with_two_pings_due(tmp_path) -> Bot:
    """JRG and JL each own an open item of 2026-01-07; the pings for the next meeting are due."""
    config = write_config(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "20260107-eco.md").write_text(
        "# Meeting\n## Attendees\n- JRG: Jaime (@jaimergp)\n- JL: Jannis (@jezdez)\n\n"
        "## Discussion\n- [ ] JRG: open a PR\n- [ ] JL: write the docs\n",
        encoding="utf-8",
    )
    return Bot(load_config(config), clock=FixedClock(dt.datetime(2026, 1, 12, 14, 1, tzinfo=UTC)))


def test_a_ledger_that_cannot_record_does_not_stop_the_other_sends(tmp_path):
    """The disk holding the state directory is full: the ping that went out cannot be recorded
    (it may be sent again after a restart), but the other pings and the summary still go."""
    from chatbot.runner import Reminders

    bot = _bot_with_two_pings_due(tmp_path)
    backend = RecordingBackend("slack")
    rem = Reminders(bot, backend, _FullLedger(tmp_path / "state.sqlite3"))
    rem.fire_pings("eco")  # no exception
    assert sorted(backend.dms) == ["JL", "JRG"] and len(backend.posts) == 1
    assert rem.scheduler.get_job("retry:pings:eco") is None  # sent: nothing to try again
    rem.ledger.close()


def test_a_reminder_missed_beyond_the_grace_period_is_logged_as_skipped_at_start(tmp_path, caplog):
    """Issue 6: a reminder that fell due while the bot was down is sent within the grace
    period, "else skipped and logged": the operator can see what was not sent, and why."""
    import logging

    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    config = load_config(write_config(tmp_path, REMINDER_CONFIG))
    ledger = tmp_path / "state.sqlite3"

    def start(now: dt.datetime) -> list[str]:
        caplog.clear()
        rem = Reminders(Bot(config, FixedClock(now)), RecordingBackend("console"), Ledger(ledger))
        with caplog.at_level(logging.INFO, logger="chatbot.runner"):
            rem.start()
            rem.stop()
        skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not sent: the 15 min reminder")]
        return rem.backend.posts, skipped

    # the 15 min reminder was due 16:45; back at 16:58, 13 min late with a 10 min grace
    posts, skipped = start(dt.datetime(2026, 1, 7, 16, 58, tzinfo=UTC))
    assert posts == []
    assert skipped == [
        "not sent: the 15 min reminder for eco at 2026-01-07T17:00:00+00:00, due at "
        "2026-01-07T16:45:00+00:00 (13 min late, more than reminder_grace 10 min)"
    ]
    # next time: sent within the grace period, so nothing to report, then or after a restart
    posts, skipped = start(dt.datetime(2026, 1, 14, 13, 50, tzinfo=UTC))
    assert posts == ["*Conda Ecosystem Meeting* starts in 10 min: Wed 2026-01-14 14:00 UTC"] and skipped == []
    posts, skipped = start(dt.datetime(2026, 1, 14, 13, 59, tzinfo=UTC))
    assert posts == [] and skipped == []
    # a reminder inside the grace period whose meeting already started is not sent either
    posts, skipped = start(dt.datetime(2026, 1, 21, 17, 2, tzinfo=UTC))
    assert posts == []
    assert skipped == [
        "not sent: the 15 min reminder for eco at 2026-01-21T17:00:00+00:00, due at "
        "2026-01-21T16:45:00+00:00 (the meeting had already started)"
    ]


def test_a_send_the_ledger_could_not_record_is_not_repeated_by_the_same_process(tmp_path):
    """Disk full and a flaky platform at once: JL's ping fails and is retried a minute later;
    JRG's ping and the summary went out but could not be recorded. The retry must not send
    them again (the process knows what it sent even when the ledger could not say so)."""
    from chatbot.runner import Reminders

    bot = _bot_with_two_pings_due(tmp_path)
    backend = _FlakyBackend()
    rem = Reminders(bot, backend, _FullLedger(tmp_path / "state.sqlite3"))
    rem.fire_pings("eco")
    assert backend.dms == ["JRG"] and len(backend.posts) == 1
    rem.scheduler.get_job("retry:pings:eco").func()  # the retry, a minute later
    assert backend.dms == ["JRG", "JL"] and len(backend.posts) == 1
    rem.ledger.close()


# a second meeting, at the same time as the eco one
OPS_MEETING = """
[[meetings]]
id = "ops"
name = "Ops Sync"
timezones = ["UTC"]
reminders = ["15m"]

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-01-07
time = 17:00:00
timezone = "UTC"

[meetings.notes]
directory = "ops-notes"
filename = "%Y%m%d-ops.md"
"""


def test_one_meeting_whose_reminder_cannot_be_built_does_not_stop_the_start_or_other_meetings(tmp_path):
    """The eco meeting's notes file for the next meeting is a symlink out of the notes
    directory (the bot refuses to read it). Catching up at start must still send the other
    meeting's reminder, and the bot must start; eco's own reminder goes out without its agenda
    (it used to raise, and took the whole start with it)."""
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    text = REMINDER_CONFIG + OPS_MEETING
    config = load_config(write_config(tmp_path, text))
    (tmp_path / "notes").mkdir()
    (tmp_path / "elsewhere.md").write_text("# not a notes file\n", encoding="utf-8")
    (tmp_path / "notes" / "20260107-eco.md").symlink_to(tmp_path / "elsewhere.md")
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 50, tzinfo=UTC))  # both 15 min reminders 5 min late
    rem = Reminders(Bot(config, clock), RecordingBackend("console"), Ledger(tmp_path / "state.sqlite3"))
    try:
        rem.start()
    finally:
        rem.stop()
    assert sorted(rem.backend.posts) == [
        "*Conda Ecosystem Meeting* starts in 10 min: Wed 2026-01-07 17:00 UTC",
        "*Ops Sync* starts in 10 min: Wed 2026-01-07 17:00 UTC",
    ]


def test_an_unexpected_error_building_one_meetings_reminder_does_not_stop_the_start_or_others(tmp_path):
    """Fault injection: building eco's reminder raises an error nobody expected (a bug).
    Catching up at start logs it and goes on to the other meeting; the bot starts."""
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    class BuggyBot(Bot):
        def reminder(self, meeting, occ, offset):
            if meeting.id == "eco":
                raise RuntimeError("a bug")
            return super().reminder(meeting, occ, offset)

    text = REMINDER_CONFIG + OPS_MEETING
    config = load_config(write_config(tmp_path, text))
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 50, tzinfo=UTC))  # both 15 min reminders 5 min late
    rem = Reminders(BuggyBot(config, clock), RecordingBackend("console"), Ledger(tmp_path / "state.sqlite3"))
    try:
        rem.start()
    finally:
        rem.stop()
    assert rem.backend.posts == ["*Ops Sync* starts in 10 min: Wed 2026-01-07 17:00 UTC"]


def test_a_failure_listing_missed_reminders_does_not_stop_the_start(tmp_path, caplog):
    """Listing what was missed is only a log line: if it fails (fault injected here), the
    bot still starts and sends what is due."""
    from chatbot.runner import Reminders
    from chatbot.state import Ledger

    class Failing(Reminders):
        def log_missed(self):
            raise RuntimeError("a bug")

    config = load_config(write_config(tmp_path, REMINDER_CONFIG))
    clock = FixedClock(dt.datetime(2026, 1, 7, 16, 50, tzinfo=UTC))
    rem = Failing(Bot(config, clock), RecordingBackend("console"), Ledger(tmp_path / "state.sqlite3"))
    try:
        rem.start()
    finally:
        rem.stop()
    assert rem.backend.posts == ["*Conda Ecosystem Meeting* starts in 10 min: Wed 2026-01-07 17:00 UTC"]
    assert "cannot list the reminders missed" in caplog.text
