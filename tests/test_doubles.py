"""Issue 16, "nothing doubled, nothing lost": redeliveries act once, a reminder is posted once
across kill -9, owners are not pinged twice, a damaged ledger does not stop reminders, a
person's merge conflict is never edited, and revoked credentials are named and reported.

Faults are injected on loopback against the fake Slack and Zulip servers (tests/fakes/) and in
temporary directories; where the item is about a process, the real bot process is started.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from chatbot.backends.slack import slack_sender
from chatbot.bot import Bot
from chatbot.config import load_config
from chatbot.state import Ledger

from conftest import BASE_CONFIG, FixedClock, write_config
from test_gitsync import repos  # noqa: F401 (a fixture)
from test_reliability import REMINDER_CONFIG, Bot_, bots  # noqa: F401 (a fixture)

UTC = dt.UTC


# ---------------------------------------------------------------------------------------
# 8. A damaged ledger


def _damage_pages(path: Path) -> None:
    """Overwrite the start of every page after the first (the header stays: SQLite opens it)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(page, len(data), page):
        data[off : off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def _full_ledger(path: Path, rows: int = 3000) -> None:
    ledger = Ledger(path)
    for i in range(rows):
        ledger.mark_sent(f"reminder:console:other:{i}:900:")
    ledger.close()  # the last close checkpoints the WAL into the file
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


@pytest.mark.parametrize("damage", ["pages", "not-a-database"])
def test_a_damaged_ledger_is_moved_aside_loudly_and_the_reminder_still_goes_out(tmp_path, bots, damage):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    ledger.parent.mkdir()
    if damage == "pages":
        _full_ledger(ledger)
        _damage_pages(ledger)
    else:
        ledger.write_bytes(b"this is not a database, it is a note someone saved here\n" * 200)
    b = bots(cfg, "2026-01-07T16:44:58Z", "--stay", stdin=subprocess.DEVNULL)
    b.wait_for(r"\[eco\] \*Conda Ecosystem Meeting\* starts in 15 min", timeout=30)
    errors = b.wait_for(r"ERROR chatbot\.state: the ledger .*chatbot\.sqlite3 is damaged", "err")
    assert "moved it aside to chatbot.sqlite3.damaged-" in errors[0]
    aside = list(ledger.parent.glob("chatbot.sqlite3.damaged-*"))
    assert len([p for p in aside if not p.name.endswith(("-wal", "-shm"))]) == 1
    # the fresh ledger recorded the reminder: a restart does not post it again
    b.wait_for(r"sent the 0:15:00 reminder", "err")
    b.kill()
    assert Ledger(ledger).was_sent("reminder:console:eco:2026-01-07T17:00:00+00:00:900:")


def test_damage_found_while_running_is_recovered_from(tmp_path, caplog):
    path = tmp_path / "chatbot.sqlite3"
    ledger = Ledger(path)
    for i in range(3000):
        ledger.mark_sent(f"k{i}")
    ledger._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage_pages(path)
    other = sqlite3.connect(path)  # another process touches the file: the open connection re-reads it
    other.execute("PRAGMA user_version = 1")
    other.close()
    with caplog.at_level(logging.ERROR, logger="chatbot.state"):
        assert ledger.was_sent("k2999") is False  # a fresh ledger, not an exception
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    ledger.mark_sent("after")
    assert ledger.was_sent("after") and len(ledger.recovered) == 1
    ledger.close()


def test_a_healthy_ledger_is_kept(tmp_path):
    path = tmp_path / "chatbot.sqlite3"
    _full_ledger(path, rows=10)
    ledger = Ledger(path)
    assert ledger.recovered == [] and ledger.was_sent("reminder:console:other:9:900:")
    ledger.close()


# ---------------------------------------------------------------------------------------
# 7. Owners pinged once: the summary mentions only those their own ping did not reach

PAST_NOTES = (
    "# Conda Ecosystem Meeting 2026-01-07\n\n## Attendees\n\n- JRG: Jaime (@jaimergp)\n"
    "- JL: Jannis (@jezdez)\n\n## Discussion\n\n- [ ] JRG: open a PR\n- [ ] JL: write the docs\n"
)


@pytest.mark.slow
def test_the_summary_mentions_only_owners_whose_dm_failed(tmp_path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess, _config, _env

    # U0JANNIS is not a user of this workspace: conversations.open answers user_not_found
    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "20260107-conda-ecosystem.md").write_text(PAST_NOTES, encoding="utf-8")
        # the pings for the 2026-01-14 14:00 UTC meeting fall due two days before
        bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-12T13:59:58Z"))
        try:
            summary = fake.wait_for(
                lambda: [m for m in fake.messages("C0CONDAECO") if "Open action items" in m["text"]],
                timeout=30,
                what="the summary",
            )
            # (the admin, JRG, also gets the chair's review of the 2026-01-07 notes: not a ping)
            dms = [m for m in fake.messages() if m["channel"].startswith("D") and "open action item" in m["text"]]
            assert [m["channel"] for m in dms] == ["D0JAIME"] and "<@U0JAIME>" in dms[0]["text"]
            text = summary[0]["text"]
            assert "<@U0JANNIS>: 1" in text  # not reached by a DM: mentioned here
            assert "<@U0JAIME>" not in text and "Jaime Rodríguez-Guerra: 1" in text  # reached: named only
        finally:
            bot.stop()


class _Posts:
    name = "slack"

    def __init__(self, fail: set[str] = frozenset()):
        self.fail = fail
        self.summaries: list = []
        self.dms: list[str] = []

    def wants(self, meeting):
        return True

    def post(self, meeting, message):
        self.summaries.append(message)

    def notify(self, meeting, person, message):
        from chatbot.backends.base import BackendError

        if person.initials in self.fail:
            raise BackendError("refused")
        self.dms.append(person.initials)


@pytest.mark.parametrize(
    "setting, mentioned", [(None, {"JL"}), ("unreached", {"JL"}), ("all", {"JL", "JRG"}), ("none", set())]
)
def test_summary_mentions_setting(tmp_path, setting, mentioned):
    from chatbot.messages import Mention
    from chatbot.runner import Reminders

    text = BASE_CONFIG.replace(
        "[meetings.destinations]",
        (f'[meetings.actions]\nsummary_mentions = "{setting}"\n\n' if setting else "") + "[meetings.destinations]",
    )
    config = load_config(write_config(tmp_path, text))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "20260107-eco.md").write_text(PAST_NOTES, encoding="utf-8")
    backend = _Posts(fail={"JL"})
    rem = Reminders(
        Bot(config, FixedClock(dt.datetime(2026, 1, 12, 14, 1, tzinfo=UTC))),
        backend,
        Ledger(tmp_path / "state.sqlite3"),
    )
    rem.fire_pings("eco")
    assert backend.dms == ["JRG"]
    (summary,) = backend.summaries
    got = {seg.person.initials for line in summary.lines for seg in line if isinstance(seg, Mention)}
    assert got == mentioned
    rem.ledger.close()


# ---------------------------------------------------------------------------------------
# 9. A person's unresolved merge conflict is never edited


def _merge_conflict(repo: Path, notes: Path, git) -> None:
    ident = ("-c", "user.name=Someone", "-c", "user.email=someone@example.org")
    git(repo, "checkout", "--quiet", "-b", "theirs")
    notes.write_text(
        notes.read_text(encoding="utf-8").replace("First item", "First item, as they wrote it"), encoding="utf-8"
    )
    git(repo, *ident, "commit", "--quiet", "-am", "theirs")
    git(repo, "checkout", "--quiet", "main")
    notes.write_text(
        notes.read_text(encoding="utf-8").replace("First item", "First item, as we wrote it"), encoding="utf-8"
    )
    git(repo, *ident, "commit", "--quiet", "-am", "ours")
    proc = subprocess.run(["git", *ident, "merge", "theirs"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode != 0 and "CONFLICT" in proc.stdout


@pytest.mark.parametrize("resolved_in_file", [False, True])
def test_a_notes_file_with_an_unresolved_merge_conflict_is_not_edited(tmp_path, repos, resolved_in_file):
    from chatbot.messages import render_plain
    from test_gitsync import NOTES, PUSH, git, make_bot, say

    _remote, _human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    say(bot, "agenda add First item")
    notes = repo / NOTES / "20260107-eco.md"
    _merge_conflict(repo, notes, git)
    if resolved_in_file:
        # the person fixed the text but has not told Git (no `git add`): still unmerged
        text = notes.read_text(encoding="utf-8")
        kept = [
            ln
            for ln in text.splitlines(keepends=True)
            if not ln.startswith(("<<<<<<<", "=======", ">>>>>>>")) and "as they wrote it" not in ln
        ]
        notes.write_text("".join(kept), encoding="utf-8")
    before = notes.read_bytes()
    msg = bot.handle("agenda add Second item", slack_sender(bot.config, "U1"))
    out = render_plain(msg)
    assert not msg.ok
    assert "20260107-eco.md" in out and "merge conflict" in out and "nothing was changed" in out
    if resolved_in_file:
        assert "git ls-files -u" in out
    assert notes.read_bytes() == before
    assert NOTES + "/20260107-eco.md" in git(repo, "ls-files", "-u")  # the conflict is still the person's
    # once resolved and committed, the bot edits again
    git(repo, "checkout", "--quiet", "--ours", "--", NOTES + "/20260107-eco.md")
    git(repo, "add", NOTES + "/20260107-eco.md")
    git(repo, "-c", "user.name=Someone", "-c", "user.email=someone@example.org", "commit", "--quiet", "--no-edit")
    assert "item 2" in say(bot, "agenda add Second item")


def test_conflict_markers_are_refused_without_git_but_a_setext_heading_is_not_one(tmp_path):
    from chatbot.messages import render_plain

    cfg = write_config(tmp_path)
    bot = Bot(load_config(cfg), FixedClock(dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)))
    (tmp_path / "notes").mkdir()
    notes = tmp_path / "notes" / "20260107-eco.md"
    conflicted = (
        "# Meeting\n\n## New agenda items\n\n<<<<<<< HEAD\n- [ ] JRG: ours\n=======\n"
        "- [ ] JL: theirs\n>>>>>>> hackmd-sync\n"
    )
    notes.write_text(conflicted, encoding="utf-8")
    msg = bot.handle("agenda add Third", slack_sender(bot.config, "U1"))
    assert not msg.ok and "unresolved merge conflict" in render_plain(msg) and "line 5" in render_plain(msg)
    assert notes.read_text(encoding="utf-8") == conflicted
    setext = "Meeting\n=======\n\n## New agenda items\n\n- [ ] JRG: ours\n"
    notes.write_text(setext, encoding="utf-8")
    assert bot.handle("agenda add Third", slack_sender(bot.config, "U1")).ok
    assert notes.read_text(encoding="utf-8").endswith("- [ ] JRG: Third\n")


# ---------------------------------------------------------------------------------------
# 5. Redeliveries and replays act once


def _slack_notes(tmp_path: Path) -> str:
    path = tmp_path / "notes" / "20260107-conda-ecosystem.md"
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.slow
def test_a_redelivered_socket_mode_envelope_acts_once_even_after_kill_9(tmp_path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess, _config, _env

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        bot = BotProcess(tmp_path, config, _env())
        try:
            fake.wait_connected(1, timeout=20)
            eid, cmd = fake.send_slash_command("/agenda", "add Only once", user_id="U0JAIME")
            fake.wait_ack(eid)
            assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
            fake.redeliver(eid)  # Slack did not get the ack in time
            fake.wait_ack(eid)  # answered...
            bot.wait_log(rf"envelope {eid} again \(retry 1, timeout\); it was handled already")
            bot.proc.kill()  # kill -9
            bot.proc.wait(10)
        finally:
            bot.stop()
        again = BotProcess(tmp_path, config, _env())
        try:
            fake.wait_connected(2, timeout=20)
            fake.redeliver(eid, retry_reason="refresh_requested")  # to the restarted bot
            fake.wait_ack(eid)
            again.wait_log(rf"envelope {eid} again \(retry 2, refresh_requested\); it was handled already")
            # ...and not acted on: one item, one answer
            eid2, listing = fake.send_slash_command("/agenda", "list", user_id="U0JAIME")
            text = fake.wait_response(listing["response_url"])["text"]
            assert "1. JRG: Only once" in text and "2." not in text
            assert _slack_notes(tmp_path).count("Only once") == 1
            path = cmd["response_url"].split(str(fake.port), 1)[1]
            assert [r.path for r in fake.responses].count(path) == 1
        finally:
            again.stop()


@pytest.mark.slow
def test_an_http_retry_and_a_byte_identical_replay_act_once(tmp_path):
    from fakes.slack import FakeSlack, post_raw, signed_request
    from test_slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, BotProcess, _config, _env, _free_port

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as fake:
        port = _free_port()
        config = _config(tmp_path, mode="http", api_url=fake.api_url, port=port)
        bot = BotProcess(tmp_path, config, _env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
        try:
            bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
            url = f"http://127.0.0.1:{port}/slack/events"
            form = fake.slash_command_payload("/agenda", "add Only once", user_id="U0JAIME")
            body, headers = signed_request(SIGNING_SECRET, form)
            assert post_raw(url, body, headers)[0] == 200
            assert "item 1" in fake.wait_response(form["response_url"])["text"]
            # Slack's retry: the same body, signed anew, with X-Slack-Retry-Num
            retry_body, retry_headers = signed_request(
                SIGNING_SECRET, form, timestamp=int(time.time()) + 1, retry_num=1
            )
            assert retry_body == body
            assert post_raw(url, retry_body, retry_headers)[0] == 200
            assert post_raw(url, body, headers)[0] == 200  # someone replays the captured request
            assert post_raw(url, body, headers)[0] == 200
            bot.wait_log(r"X-Slack-Retry-Num 1\); it was handled already")
            bot.wait_log(r"(?s)(same body\); it was handled already.*){2}")
            listing = fake.slash_command_payload("/agenda", "list", user_id="U0JAIME")
            assert post_raw(url, *signed_request(SIGNING_SECRET, listing))[0] == 200
            text = fake.wait_response(listing["response_url"])["text"]
            assert "1. JRG: Only once" in text and "2." not in text
            assert _slack_notes(tmp_path).count("Only once") == 1
            path = form["response_url"].split(str(fake.port), 1)[1]
            assert [r.path for r in fake.responses].count(path) == 1
            # a forged "replay" is refused before it is remembered: the real one still works after
            other = fake.slash_command_payload("/agenda", "add Second", user_id="U0JAIME")
            forged_body, forged_headers = signed_request("not-the-secret", other)
            assert post_raw(url, forged_body, forged_headers)[0] == 401
            assert post_raw(url, *signed_request(SIGNING_SECRET, other))[0] == 200
            assert "item 2" in fake.wait_response(other["response_url"])["text"]
        finally:
            bot.stop()


def test_handled_deliveries_are_bounded(tmp_path, monkeypatch):
    import chatbot.state as state

    monkeypatch.setattr(state, "HANDLED_MAX", 50)
    ledger = Ledger(tmp_path / "chatbot.sqlite3")
    t0 = 1_000_000.0
    assert ledger.claim("old", now=t0) and not ledger.claim("old", now=t0 + 1)
    for i in range(state._PRUNE_EVERY * 2):
        ledger.claim(f"k{i}", now=t0 + 10 + i)
    count = ledger._db.execute("SELECT COUNT(*) FROM handled").fetchone()[0]
    assert count <= 50 + state._PRUNE_EVERY
    ledger.prune(now=t0 + state.HANDLED_KEPT_FOR + 1000)  # a day later: all forgotten
    assert ledger._db.execute("SELECT COUNT(*) FROM handled").fetchone()[0] == 0
    assert ledger.claim("old", now=t0 + state.HANDLED_KEPT_FOR + 1000)
    ledger.close()


# ---------------------------------------------------------------------------------------
# 6. A reminder posted once across kill -9 right after (or right before) the post


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["after", "before"])
def test_slack_reminder_is_posted_once_across_kill_9_around_the_post(tmp_path, crash):
    """The fake kills the bot (SIGKILL) from inside chat.postMessage: with ``after`` Slack has
    stored the reminder and the bot never learns it; with ``before`` Slack never got it. The
    restarted bot (within reminder_grace) asks conversations.history for the post's metadata
    and posts only if it is not there."""
    import os
    import signal

    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, REMINDER_NOW, BotProcess, _config, _env

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW=REMINDER_NOW))
        fake.on_next("chat.postMessage", lambda rec: os.kill(bot.proc.pid, signal.SIGKILL), when=crash)
        try:
            assert bot.proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            bot.stop()
        assert len(fake.messages("C0CONDAECO")) == (1 if crash == "after" else 0)
        again = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-07T16:45:40Z"))
        try:
            if crash == "after":
                again.wait_log(
                    r"the 0:15:00 reminder for conda-ecosystem .* was posted before the bot stopped "
                    r"\(found on the platform",
                    timeout=30,
                )
            else:
                again.wait_log(r"found no post on the platform; posting it", timeout=30)
                again.wait_log(r"sent the 0:15:00 reminder", timeout=30)
            again.wait_log(r"chatbot ready")  # after the catch-up at start
            history = fake.calls("conversations.history")
            assert history and history[0].params["channel"] == "C0CONDAECO"
            (msg,) = fake.messages("C0CONDAECO")
            assert msg["text"].startswith("*Conda Ecosystem Meeting* starts in 15 min")
            assert (
                msg["metadata"]["event_payload"]["key"]
                == "reminder:slack:conda-ecosystem:2026-01-07T17:00:00+00:00:900:"
            )
        finally:
            again.stop()
        # and now it is confirmed: a third start neither asks nor posts
        third = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW="2026-01-07T16:46:00Z"))
        try:
            third.wait_log(r"chatbot ready")
            third.wait_log(r"Slack: connected in Socket Mode")
            assert len(fake.calls("conversations.history")) == len(history)
            assert len(fake.messages("C0CONDAECO")) == 1
        finally:
            third.stop()


def _wait_output(proc, pattern: str, timeout: float = 30.0) -> str:
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, proc.output)
        if m:
            return m.group(0)
        if proc.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in the bot's output:\n{proc.output[-3000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["after", "before"])
def test_zulip_reminder_is_posted_once_across_kill_9_around_the_post(tmp_path, crash):
    """As for Slack, with Zulip's own way to look: the bot's newest messages in the meeting's
    stream and topic (GET /messages, narrow channel + topic + sender), matched by content."""
    import os
    import signal

    from fakes.zulip import FakeZulip
    from test_zulip import BEFORE_REMINDER, ZULIP_CONFIG, BotProcess as ZulipBot

    fake = FakeZulip(poll_timeout=0.5).start()
    procs = []
    try:
        bot = ZulipBot(fake, tmp_path, ZULIP_CONFIG, BEFORE_REMINDER, None, [])
        procs.append(bot)
        fake.on_next_send(lambda rec: os.kill(bot.proc.pid, signal.SIGKILL), when=crash)
        assert bot.proc.wait(timeout=30) == -signal.SIGKILL
        assert len(fake.sent_messages()) == (1 if crash == "after" else 0)
        again = ZulipBot(fake, tmp_path, ZULIP_CONFIG, "2026-01-07T16:45:40Z", None, [])
        procs.append(again)
        if crash == "after":
            _wait_output(
                again,
                r"the 0:15:00 reminder for eco .* was posted before the bot stopped \(found on the "
                r"platform",
            )
        else:
            _wait_output(again, r"found no post on the platform; posting it")
        _wait_output(again, r"chatbot ready")
        lookups = [
            r
            for r in fake.requests_to("GET", "messages")
            if any(t.get("operator") == "topic" for t in r.params.get("narrow") or [] if isinstance(t, dict))
        ]
        assert lookups and {t["operator"]: t["operand"] for t in lookups[0].params["narrow"]} == {
            "channel": "conda",
            "topic": "ecosystem meeting 2026-01-07",
            "sender": fake.bot.email,
        }
        (reminder,) = fake.sent_messages()
        assert reminder["content"].startswith("**Conda Ecosystem Meeting** starts in 15 min")
        assert reminder["subject"] == "ecosystem meeting 2026-01-07"
    finally:
        for p in procs:
            p.stop()
        fake.stop()


# ---------------------------------------------------------------------------------------
# 13. Credentials revoked while running


@pytest.mark.slow
@pytest.mark.parametrize("how", ["revoked", "link_disabled"])
def test_a_refused_app_token_stops_socket_mode_with_its_name_and_exit_status_3(tmp_path, how):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess, _config, _env, assert_no_secrets

    with FakeSlack(BOT_TOKEN, APP_TOKEN, channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"}) as fake:
        bot = BotProcess(tmp_path, _config(tmp_path, api_url=fake.api_url), _env())
        try:
            fake.wait_connected(1, timeout=20)
            opened = len(fake.calls("apps.connections.open"))
            if how == "revoked":
                fake.revoke("app")  # also closes the connection: the client asks for a new one
            else:  # Socket Mode turned off for the app
                fake.fail("apps.connections.open", "link_disabled", times=1000)
                fake.drop_connections()
            assert bot.proc.wait(timeout=30) == 3
        finally:
            bot.stop()
        out = bot.output()
        error = "invalid_auth" if how == "revoked" else "link_disabled"
        assert (
            f"ERROR chatbot.backends.base: SLACK_APP_TOKEN was refused by Slack ({error}) on apps.connections.open"
            in out
        )
        assert out.rstrip().splitlines()[-1].startswith(f"error: SLACK_APP_TOKEN was refused by Slack ({error})")
        assert len(fake.calls("apps.connections.open")) - opened <= 2  # not hammered
        assert_no_secrets(out)
        assert "Traceback" not in out


@pytest.mark.slow
def test_a_revoked_bot_token_in_http_mode_is_named_and_healthz_says_so(tmp_path):
    import urllib.request

    from fakes.slack import FakeSlack, signed_post
    from test_slack import (
        APP_TOKEN,
        BOT_TOKEN,
        SIGNING_SECRET,
        BotProcess,
        _config,
        _env,
        _free_port,
        assert_no_secrets,
    )

    def healthz(port: int) -> tuple[int, str]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as fake:
        port = _free_port()
        config = _config(tmp_path, mode="http", api_url=fake.api_url, port=port)
        bot = BotProcess(tmp_path, config, _env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
        try:
            bot.wait_log(r"listening for slash commands", timeout=20)
            url = f"http://127.0.0.1:{port}/slack/events"
            assert healthz(port) == (200, "ok\n")
            fake.revoke("bot")  # the app was uninstalled, or an admin revoked the token
            first = fake.slash_command_payload("/agenda", "add After revocation", user_id="U0JAIME")
            assert signed_post(url, SIGNING_SECRET, first)[0] == 200
            # the answer needs no token (response_url); the public note does, and is refused
            assert "item 1" in fake.wait_response(first["response_url"])["text"]
            fake.wait_for(lambda: fake.calls("chat.postMessage"), what="the refused channel note")
            status, body = fake.wait_for(
                lambda: (lambda h: h if h[0] == 503 else None)(healthz(port)), what="/healthz to report the token"
            )
            assert body.startswith("unhealthy\n") and "SLACK_BOT_TOKEN was refused by Slack (token_revoked)" in body
            second = fake.slash_command_payload("/agenda", "add Still answered", user_id="U0JAIME")
            assert signed_post(url, SIGNING_SECRET, second)[0] == 200
            assert "item 2" in fake.wait_response(second["response_url"])["text"]
            bot.wait_log(r"Slack API chat\.postMessage not called: SLACK_BOT_TOKEN was refused earlier")
            assert len(fake.calls("chat.postMessage")) == 1  # Slack is not asked again
            assert bot.alive()
        finally:
            bot.stop()
        out = bot.output()
        assert len([ln for ln in out.splitlines() if "ERROR" in ln and "SLACK_BOT_TOKEN was refused" in ln]) == 1
        assert_no_secrets(out)


@pytest.mark.slow
def test_a_revoked_bot_token_in_socket_mode_stops_the_bot_with_exit_status_3(tmp_path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess, _config, _env, assert_no_secrets

    with FakeSlack(BOT_TOKEN, APP_TOKEN, channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"}) as fake:
        # revoked once the bot is running (auth.test passed), before the reminder falls due
        fake.on_next("apps.connections.open", lambda rec: fake.revoke("bot", error="account_inactive"))
        bot = BotProcess(
            tmp_path, _config(tmp_path, api_url=fake.api_url), _env(CHATBOT_FAKE_NOW="2026-01-07T16:44:52Z")
        )  # the reminder is due in 8 s
        try:
            assert bot.proc.wait(timeout=40) == 3
        finally:
            bot.stop()
        out = bot.output()
        assert "SLACK_BOT_TOKEN was refused by Slack (account_inactive) on chat.postMessage" in out
        assert out.rstrip().splitlines()[-1].startswith("error: SLACK_BOT_TOKEN was refused by Slack")
        assert len(fake.calls("chat.postMessage")) == 1
        assert_no_secrets(out)


@pytest.mark.slow
def test_a_revoked_zulip_key_stops_the_bot_with_its_name_and_exit_status_3(tmp_path):
    from fakes.zulip import FakeZulip
    from test_zulip import QUIET_NOW, ZULIP_CONFIG, BotProcess as ZulipBot

    fake = FakeZulip(poll_timeout=0.5).start()
    bot = None
    try:
        key = fake.bot.api_key
        bot = ZulipBot(fake, tmp_path, ZULIP_CONFIG, QUIET_NOW, None, [])
        bot.wait_ready()
        fake.revoke()
        assert bot.proc.wait(timeout=30) == 3
        out = bot.output
        assert "ERROR chatbot.backends.base: Zulip refused the bot's credentials (INVALID_API_KEY)" in out
        assert "ZULIP_API_KEY (for agenda-bot@zulip.example) no longer works" in out
        assert out.rstrip().splitlines()[-1].startswith("error: Zulip refused the bot's credentials")
        refused = [r for r in fake.requests if r.status == 401]
        assert 1 <= len(refused) <= 2  # not hammered
        assert key not in out and "Traceback" not in out
    finally:
        if bot is not None:
            bot.stop()
        fake.stop()


def test_zulip_finds_a_ping_sent_before_a_crash_in_the_direct_messages(tmp_path, monkeypatch):
    """The ping's intent (its content) is looked up among the bot's direct messages with the
    person; a message to someone else, or an older one with other content, does not count."""
    from chatbot.messages import Mention, Message, UserText
    from fakes.zulip import FakeZulip
    from test_zulip import _env_backend

    with FakeZulip(poll_timeout=0.5) as fake:
        fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
        other = fake.add_user("someone@example.org", "Someone Else", api_key="other-key")
        backend = _env_backend(fake, tmp_path, monkeypatch)
        eco = backend.bot.config.meeting("eco")
        jaime = backend.bot.config.person_by(initials="JRG")
        ping = Message(kind="notice").add(Mention(jaime), " you have 1 open action item(s): ", UserText("fix it"))
        since = dt.datetime.now(UTC)
        data = backend.intent_data(eco, ping)
        assert backend.find_sent(eco, "k", since, data, jaime) is False
        fake.send_private(fake.bot, data["text"], to=[other])  # the same text to someone else
        assert backend.find_sent(eco, "k", since, data, jaime) is False
        backend.notify(eco, jaime, ping)
        assert backend.find_sent(eco, "k", since, data, jaime) is True
        narrow = fake.requests_to("GET", "messages")[-1].params["narrow"]
        assert {t["operator"]: t["operand"] for t in narrow} == {"dm": ["jaime@example.org"], "sender": fake.bot.email}


def test_unconfirmed_intents_are_forgotten_after_a_week(tmp_path):
    ledger = Ledger(tmp_path / "chatbot.sqlite3")
    week_ago = dt.datetime.now(UTC) - dt.timedelta(days=8)
    ledger.record_intent("old", {"text": "x"}, when=week_ago)
    ledger.record_intent("new", {"text": "y"})
    ledger.prune()
    assert ledger.intent("old") is None and ledger.intent("new")[1] == {"text": "y"}
    ledger.mark_sent("new")  # a confirmation removes its intent
    assert ledger.intent("new") is None and ledger.was_sent("new")
    ledger.close()
