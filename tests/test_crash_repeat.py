"""A reminder around a crash: exactly once, or posted with a visible note that it may be a repeat.

The bot is killed (SIGKILL) at the worst moment: the reminder is out (on the console's stdout,
accepted by Slack) but the ledger has only the intent, not the confirmation. Each test makes
that moment exact by holding the ledger's write lock from the test process, so the bot's
confirmation waits while the test kills it. The restart (within ``reminder_grace``) must then
either find the post on the platform and not post it again (Slack's ``conversations.history``)
or, where the platform cannot be asked (the console; a Slack app without the history scopes),
post it once more *saying* it may be a repeat: never a silent double, never a lost reminder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatbot.compose import MAYBE_REPEATED

from conftest import write_config
from test_reliability import REMINDER_CONFIG, Bot_

REPO = Path(__file__).parent.parent
CONSOLE_KEY = "reminder:console:eco:2026-01-07T17:00:00+00:00:900:"
SLACK_KEY = "reminder:slack:conda-ecosystem:2026-01-07T17:00:00+00:00:900:"
F_SETPIPE_SZ = 1031  # Linux


def _ledger_rows(path: Path, key: str) -> tuple[bool, bool]:
    """(an intent is recorded, a confirmation is recorded) for ``key``."""
    db = sqlite3.connect(path, timeout=5)
    try:
        intent = db.execute("SELECT 1 FROM intents WHERE key = ?", (key,)).fetchone() is not None
        sent = db.execute("SELECT 1 FROM sent WHERE key = ?", (key,)).fetchone() is not None
        return intent, sent
    finally:
        db.close()


def _has_intent(path: Path, key: str) -> bool:
    try:
        return path.exists() and _ledger_rows(path, key)[0]
    except sqlite3.OperationalError:  # the bot is still creating it
        return False


def _wait(what: str, check, timeout: float = 30.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}" + (f"; {log.read_text()[-3000:]}" if log else ""))


class _WriteLock:
    """The ledger's write lock, held by the test: the bot's next write (its confirmation) waits."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def _full_pipe() -> tuple[int, int]:
    """A pipe with a one-page buffer, already full: the bot's first write to it blocks until the
    test reads."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"#" * 511 + b"\n")
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_console_reminder_killed_right_after_it_was_shown_is_shown_again_marked_as_a_possible_repeat(tmp_path):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    r, w = _full_pipe()
    env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-07T16:44:59Z"}  # the 15 min reminder is due in 1 s
    env.pop("CHATBOT_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "run", "--stay", "--config", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=w,
        stderr=(tmp_path / "bot.log").open("w"),
        cwd=REPO,
        env=env,
    )
    os.close(w)
    shown: list[str] = []
    lock = None
    try:
        # the bot recorded its intent and is blocked writing the reminder to the full pipe
        _wait("the intent", lambda: _has_intent(ledger, CONSOLE_KEY), log=tmp_path / "bot.log")
        lock = _WriteLock(ledger)  # its confirmation, after the write, waits for this
        out = os.fdopen(r, "r", encoding="utf-8")
        reader = threading.Thread(target=lambda: shown.extend(out), daemon=True)
        reader.start()
        _wait("the reminder on stdout", lambda: any("starts in 15 min" in ln for ln in shown))
        proc.kill()  # kill -9: shown, not confirmed
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if lock is not None:
            lock.release()
    assert _ledger_rows(ledger, CONSOLE_KEY) == (True, False)  # the worst moment, exactly

    # restart within the grace period: the console keeps no history to ask, so it says so
    again = Bot_(cfg, "2026-01-07T16:45:30Z", "--stay", stdin=subprocess.DEVNULL)
    try:
        again.wait_for("starts in 15 min|starts in 14 min")
        again.wait_for(r"the platform cannot say whether it was; posting it with a note that it may be a repeat", "err")
        again.wait_for(r"sent the 0:15:00 reminder", "err")
        text = "\n".join(again.out)
        assert text.count("starts in 1") == 1
        assert MAYBE_REPEATED in text
        assert _ledger_rows(ledger, CONSOLE_KEY) == (False, True)
    finally:
        again.kill()

    # confirmed now: a third start neither posts it nor flags anything
    third = Bot_(cfg, "2026-01-07T16:46:00Z", "--stay", stdin=subprocess.DEVNULL)
    try:
        third.wait_for("scheduled reminders:eco, next at 2026-01-14", "err")
        third.wait_for("chatbot ready", "err")
        assert not [ln for ln in third.out if "starts in" in ln or MAYBE_REPEATED in ln]
    finally:
        third.kill()


def test_a_reminder_sent_normally_carries_no_repeat_note(tmp_path):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    b = Bot_(cfg, "2026-01-07T16:44:59Z", "--stay", stdin=subprocess.DEVNULL)
    try:
        b.wait_for(r"sent the 0:15:00 reminder", "err")
        assert "starts in 15 min" in "\n".join(b.out)
        assert MAYBE_REPEATED not in "\n".join(b.out)
    finally:
        b.kill()


# ---------------------------------------------------------------------------------------
# Slack: killed the instant chat.postMessage was answered, or while it was in flight


def _slack(tmp_path: Path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN

    return FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    )


@pytest.mark.slow
def test_slack_reminder_killed_the_instant_slack_answered_is_found_and_not_posted_again(tmp_path):
    """The bot has Slack's ``ok`` for the post (it logged it) but dies before the ledger
    confirms it; the restart finds the post's metadata in ``conversations.history``."""
    from test_slack import REMINDER_NOW, BotProcess, _config, _env

    ledger = tmp_path / "state" / "chatbot.sqlite3"
    locks: list[_WriteLock] = []
    with _slack(tmp_path) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW=REMINDER_NOW))
        # stored by Slack, and before the answer goes back the test takes the ledger's write lock
        fake.on_next("chat.postMessage", lambda rec: locks.append(_WriteLock(ledger)), when="after")
        try:
            bot.wait_log(r"posted to Slack channel C0CONDAECO for conda-ecosystem", timeout=30)
            bot.proc.kill()  # answered, logged, not confirmed
            assert bot.proc.wait(10) == -signal.SIGKILL
        finally:
            bot.stop()
            for lock in locks:
                lock.release()
        assert _ledger_rows(ledger, SLACK_KEY) == (True, False)
        assert len(fake.messages("C0CONDAECO")) == 1
        again = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-07T16:45:40Z"))
        try:
            again.wait_log(r"was posted before the bot stopped \(found on the platform", timeout=30)
            again.wait_log(r"chatbot ready")
            assert fake.calls("conversations.history")
            (msg,) = fake.messages("C0CONDAECO")
            assert MAYBE_REPEATED not in msg["text"]
            assert _ledger_rows(ledger, SLACK_KEY) == (False, True)
        finally:
            again.stop()


@pytest.mark.slow
def test_slack_without_the_history_scope_reposts_a_reminder_killed_in_flight_marked_as_a_possible_repeat(tmp_path):
    """Killed while chat.postMessage was in flight (Slack stored it, the answer never came);
    the app may not read the channel's history (``missing_scope``): the restart cannot know,
    so the second post says it may be a repeat."""
    from test_slack import REMINDER_NOW, BotProcess, _config, _env

    ledger = tmp_path / "state" / "chatbot.sqlite3"
    with _slack(tmp_path) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW=REMINDER_NOW))
        fake.on_next("chat.postMessage", lambda rec: os.kill(bot.proc.pid, signal.SIGKILL), when="after")
        try:
            assert bot.proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            bot.stop()
        assert _ledger_rows(ledger, SLACK_KEY) == (True, False)
        fake.fail("conversations.history", "missing_scope", times=5)
        again = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-07T16:45:40Z"))
        try:
            again.wait_log(r"cannot look for a post made before a crash \(missing_scope\)", timeout=30)
            again.wait_log(r"posting it with a note that it may be a repeat")
            again.wait_log(r"sent the 0:15:00 reminder")
            first, second = fake.messages("C0CONDAECO")
            assert MAYBE_REPEATED not in first["text"]
            assert MAYBE_REPEATED in second["text"]
            assert second["metadata"]["event_payload"]["key"] == SLACK_KEY
            assert _ledger_rows(ledger, SLACK_KEY) == (False, True)
        finally:
            again.stop()


@pytest.mark.slow
def test_slack_long_reminder_killed_between_its_parts_is_posted_again_whole_marked_as_a_possible_repeat(tmp_path):
    """A reminder longer than Slack keeps goes out in parts; the ledger key is on the last one,
    the earlier ones are marked as its parts. Killed after the first part: the restart finds a
    part but not the post, so it posts the whole reminder again, saying it may be a repeat."""
    import datetime as dt

    from chatbot.bot import Bot
    from chatbot.config import load_config
    from test_slack import REMINDER_NOW, BotProcess, _Clock, _config, _env, _long_agenda

    ledger = tmp_path / "state" / "chatbot.sqlite3"
    with _slack(tmp_path) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        _long_agenda(Bot(load_config(config), _Clock(dt.datetime(2026, 1, 7, 16, 0, tzinfo=dt.UTC))), 80)
        bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW=REMINDER_NOW))
        fake.on_next("chat.postMessage", lambda rec: os.kill(bot.proc.pid, signal.SIGKILL), when="after")
        try:
            assert bot.proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            bot.stop()
        (part,) = fake.messages("C0CONDAECO")
        assert part["metadata"]["event_payload"] == {"part_of": SLACK_KEY, "part": 1}
        again = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-07T16:45:40Z"))
        try:
            again.wait_log(r"only the first parts of a long post reached C0CONDAECO", timeout=30)
            again.wait_log(r"sent the 0:15:00 reminder", timeout=30)
            msgs = fake.messages("C0CONDAECO")
            assert len(msgs) == 4  # the lone first part, then the whole reminder in three
            assert msgs[1]["text"] == part["text"]
            assert MAYBE_REPEATED in msgs[-1]["text"]
            assert msgs[-1]["metadata"]["event_payload"] == {"key": SLACK_KEY}
            assert _ledger_rows(ledger, SLACK_KEY) == (False, True)
        finally:
            again.stop()


@pytest.mark.slow
def test_zulip_reminder_killed_in_flight_when_the_server_refuses_the_lookup_is_posted_again_marked(tmp_path):
    """Zulip looks for the post by content (GET /messages with a narrow); when the server
    refuses that lookup for good (400), the restart cannot know and says so in the post."""
    from fakes.zulip import FakeZulip
    from test_doubles import _wait_output
    from test_zulip import BEFORE_REMINDER, ZULIP_CONFIG, BotProcess as ZulipBot

    fake = FakeZulip(poll_timeout=0.5).start()
    procs = []
    try:
        bot = ZulipBot(fake, tmp_path, ZULIP_CONFIG, BEFORE_REMINDER, None, [])
        procs.append(bot)
        fake.on_next_send(lambda rec: os.kill(bot.proc.pid, signal.SIGKILL), when="after")
        assert bot.proc.wait(timeout=30) == -signal.SIGKILL
        assert len(fake.sent_messages()) == 1
        fake.fail_next("GET", "messages", count=1, status=400)
        again = ZulipBot(fake, tmp_path, ZULIP_CONFIG, "2026-01-07T16:45:40Z", None, [])
        procs.append(again)
        _wait_output(again, r"Zulip: cannot look for a post made before a crash in #conda > ecosystem meeting")
        _wait_output(again, r"posting it with a note that it may be a repeat")
        _wait_output(again, r"sent the 0:15:00 reminder")
        first, second = fake.sent_messages()
        assert MAYBE_REPEATED not in first["content"]
        assert MAYBE_REPEATED in second["content"] and second["subject"] == first["subject"]
    finally:
        for p in procs:
            p.stop()
        fake.stop()
