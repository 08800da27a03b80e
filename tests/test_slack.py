"""The Slack backend: the mrkdwn renderer, and the real bot process against a wire-level fake
Slack (tests/fakes/slack.py) in Socket Mode and HTTP mode.

End-to-end tests start ``python -m chatbot run --backend slack`` as a subprocess whose real
slack-bolt / slack_sdk clients are pointed at the fake by ``[slack] api_url``; nothing in the
bot is patched. ``CHATBOT_FAKE_NOW`` puts the bot's clock a few seconds before a reminder.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.bot import Bot
from chatbot.config import Person, load_config, schema
from chatbot.messages import Link, Mention, Message, Text, Time, UserText
from chatbot.backends.base import BackendError
from chatbot.backends.slack import (
    AckPriority,
    RedactSecrets,
    SlackBackend,
    date_token,
    readable_text,
    slack_sender,
    render_mrkdwn,
)
from fakes.slack import MAX_TEXT, FakeSlack, signed_post, slack_escape

REPO = Path(__file__).resolve().parent.parent
UTC = dt.UTC

BOT_TOKEN = "xoxb-1111-2222-TESTBOTTOKENsecret"
APP_TOKEN = "xapp-1-A0FAKE-3333-TESTAPPTOKENsecret"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543-testsigning"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)

MEETING_START = dt.datetime(2026, 1, 7, 17, 0, tzinfo=UTC)  # first slot of the eco meeting
UNIX_START = int(MEETING_START.timestamp())
QUIET_NOW = "2026-01-05T12:00:00Z"  # no reminder due for a day
REMINDER_NOW = "2026-01-07T16:44:57Z"  # the 15-minute reminder is due in 3 seconds
NOTES_NAME = "20260107-conda-ecosystem.md"

MASS = re.compile(r"(?i)(<!(channel|here|everyone)|@(channel|here|everyone)\b)")

# The structure of config/chatbot.toml, with notes in the test's tmp dir and a second meeting
# in another channel (to check that a command goes to the meeting of its channel).
CONFIG = """
[bot]
default_meeting = "conda-ecosystem"
reminder_grace = "10m"

[[meetings]]
id = "conda-ecosystem"
name = "Conda Ecosystem Meeting"
call_link = "https://zoom.example/j/91385?pwd=abc&x=1"
duration = "1h"
timezones = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo"]
reminders = ["24h", "15m"]

[[meetings.slots]]
rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
start = 2026-01-07
time = 17:00:00
timezone = "UTC"

[[meetings.slots]]
rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
start = 2026-01-14
time = 14:00:00
timezone = "UTC"

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-conda-ecosystem.md"
template = "templates/conda-ecosystem.md"
agenda_section = "New agenda items"
actions_section = "From previous meetings"
url = "https://github.com/conda/governance/blob/main/meetings/archive/{{filename}}"

[meetings.destinations]
console = false
slack_channel = "C0CONDAECO"

[[meetings]]
id = "ops"
name = "Ops Sync"
timezones = ["UTC"]
reminders = ["1h"]

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=MO"
start = 2026-01-12
time = 09:00:00
timezone = "UTC"

[meetings.notes]
directory = "ops-notes"
filename = "%Y%m%d-ops.md"

[meetings.destinations]
console = false
slack_channel = "C0OPS"

[[people]]
initials = "JRG"
name = "Jaime Rodríguez-Guerra"
github = "jaimergp"
slack_id = "U0JAIME"
admin = true

[[people]]
initials = "JL"
name = "Jannis Leidel"
github = "jezdez"
slack_id = "U0JANNIS"

[slack]
mode = "{mode}"
api_url = "{api_url}"
host = "127.0.0.1"
port = {port}
public_confirmation = true
allow_unknown_users = {allow_unknown}
"""


# ---------------------------------------------------------------------------------------
# The renderer


def test_user_text_is_escaped_and_cannot_inject_markup():
    evil = "<!channel> & <@U0JAIME> <https://evil.example|click me> <#C0GENERAL>"
    out = render_mrkdwn(Message().add("item: ", UserText(evil)))
    assert out == (
        "item: &lt;!channel&gt; &amp; &lt;@U0JAIME&gt; &lt;https://evil.example|click me&gt; &lt;#C0GENERAL&gt;"
    )
    assert "<" not in out and ">" not in out


def test_bot_text_is_escaped_too():
    # bot text can quote user input ("unknown command '<!here>'")
    out = render_mrkdwn(Message().add(Text("unknown command '<!here>' & more", bold=True)))
    assert out == "*unknown command '&lt;!here&gt;' &amp; more*"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@CHANNEL", "hi @here!"])
def test_mass_mentions_are_defused(word):
    out = render_mrkdwn(Message().add(UserText(word), " ", Text(word)))
    assert not MASS.search(out), out
    assert "\u200b" in out  # still readable, just inert


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>&@!|*_~`^ abcCHANNELhere\n")) | st.characters(), max_size=60))
def test_no_user_text_can_produce_a_control_sequence(text):
    out = render_mrkdwn(Message().add(UserText(text)))
    assert "<" not in out and ">" not in out
    assert not MASS.search(out)
    # '&' only as the start of one of Slack's three escapes
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)


def test_time_is_a_slack_date_token_with_fallback():
    at = dt.datetime(2026, 1, 7, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # = 17:00 UTC
    out = render_mrkdwn(Message().add("at ", Time(at, "Wed 2026-01-07 17:00 UTC")))
    assert out == f"at <!date^{UNIX_START}^{{date_short_pretty}} at {{time}}|Wed 2026-01-07 17:00 UTC>"
    with pytest.raises(ValueError):
        date_token(dt.datetime(2026, 1, 7, 17, 0), "naive")


def test_links_and_mentions():
    jaime = schema().person(initials="JRG", name="Jaime", slack_id="U0JAIME")
    nobody = Person(initials="CHL", name="Cheng <@here>")
    odd = schema().person(initials="XX", name="Odd", slack_id="U1>|<!channel")
    msg = Message().add(
        Link("https://x.example/a?b=1&c=2", "notes <file>"),
        " ",
        Link("https://x.example/", "https://x.example/"),
        " ",
        Mention(jaime),
        " ",
        Mention(nobody),
        " ",
        Mention(odd),
    )
    out = render_mrkdwn(msg)
    assert out == (
        "<https://x.example/a?b=1&amp;c=2|notes &lt;file&gt;> <https://x.example/> "
        "<@U0JAIME> Cheng &lt;@\u200bhere&gt; Odd"
    )


@pytest.mark.parametrize(
    "wire,typed",
    [
        ("Q&amp;A &lt;b&gt; a &amp;&amp; b", "Q&A <b> a && b"),
        ("&amp;lt;not a tag&amp;gt;", "&lt;not a tag&gt;"),  # unescaped once, as typed
        ("ask <@U0X|ann> and <@W0Y>", "ask @ann and @W0Y"),
        ("in <#C0OPS|ops> or <#C0RAW> or <#C0E|>", "in #ops or #C0RAW or #C0E"),
        (
            "<!channel> <!here|here> <!everyone> <!subteam^S0T|@core> <!subteam^S0U>",
            "@channel @here @everyone @core @S0U",
        ),
        ("due <!date^1767805200^{date_short}|Jan 7th>", "due Jan 7th"),
        ("<https://x.example/a?b=1&amp;c=2|the &lt;doc&gt;>", "the <doc> (https://x.example/a?b=1&c=2)"),
        ("<https://x.example/> <http://x.org|x.org> <mailto:a@b.org|a@b.org>", "https://x.example/ x.org a@b.org"),
        ("a < b >", "a < b >"),  # not Slack's wire format, left alone
    ],
)
def test_readable_text_undoes_slacks_wire_format(wire, typed):
    assert readable_text(wire) == typed
    # and rendering it again gives Slack's escaping back, with no entity
    assert not re.search(r"<[@#!]", render_mrkdwn(Message().add(UserText(readable_text(wire)))))


class _Ack:
    """A WSGI app standing for bolt acking a command: blocks until released."""

    def __init__(self):
        self.started, self.release, self.log = threading.Event(), threading.Event(), []

    def __call__(self, environ, start_response):
        self.started.set()
        assert self.release.wait(30)
        self.log.append("acked")
        start_response("200 OK", [])
        return [b""]

    def run_in_thread(self, wsgi) -> threading.Thread:
        t = threading.Thread(target=wsgi, args=({}, lambda *a: None), daemon=True)
        t.start()
        assert self.started.wait(10)
        return t


def test_command_work_waits_until_the_acks_in_flight_are_out():
    prio = AckPriority(threads=1, max_wait=60, settle=0)
    ack = _Ack()
    t = ack.run_in_thread(prio.wrap(ack))
    work = prio.executor.submit(lambda: list(ack.log))  # what had happened when the work began
    with pytest.raises(concurrent.futures.TimeoutError):
        work.result(timeout=0.5)  # held: an ack is in flight (and max_wait is a minute)
    ack.release.set()
    assert work.result(timeout=10) == ["acked"]
    t.join(10)
    # nothing in flight: work starts at once
    assert prio.executor.submit(lambda: "done").result(timeout=10) == "done"
    prio.executor.shutdown()


def test_command_work_is_held_at_most_max_wait():
    prio = AckPriority(threads=1, max_wait=0.2, settle=0)
    ack = _Ack()
    t = ack.run_in_thread(prio.wrap(ack))
    assert prio.executor.submit(lambda: list(ack.log)).result(timeout=10) == []  # ran while the ack hung
    ack.release.set()
    t.join(10)
    prio.executor.shutdown()


def _config(tmp_path: Path, mode="socket", api_url="http://127.0.0.1:9/api/", port=3000, allow_unknown=False):
    tpl = tmp_path / "templates"
    tpl.mkdir(exist_ok=True)
    shutil.copyfile(REPO / "config" / "templates" / "conda-ecosystem.md", tpl / "conda-ecosystem.md")
    path = tmp_path / "chatbot.toml"
    path.write_text(
        CONFIG.format(mode=mode, api_url=api_url, port=port, allow_unknown=str(allow_unknown).lower()), encoding="utf-8"
    )
    return path


class _Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_reminder_rendering(tmp_path):
    config = load_config(_config(tmp_path))
    bot = Bot(config, _Clock(dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC)))
    backend = SlackBackend(bot, env={})  # no tokens needed to render
    meeting = config.meeting("conda-ecosystem")
    occ = bot.next_meeting(meeting)
    out = backend.render(bot.reminder(meeting, occ, dt.timedelta(minutes=15)))
    assert out.startswith(
        "*Conda Ecosystem Meeting* starts in 15 min: "
        f"<!date^{UNIX_START}^{{date_short_pretty}} at {{time}}|Wed 2026-01-07 17:00 UTC>"
    )
    assert "• Asia/Tokyo: Thu 02:00 (+1 day)" in out
    assert "<https://zoom.example/j/91385?pwd=abc&amp;x=1>" in out
    assert f"|{NOTES_NAME}>" in out
    assert not MASS.search(out)


def test_backend_routing_without_network(tmp_path):
    config = load_config(_config(tmp_path))
    backend = SlackBackend(Bot(config), env={})
    assert backend.meeting_for("C0OPS") == "ops"
    assert backend.meeting_for("C0CONDAECO") == "conda-ecosystem"
    assert backend.meeting_for("D0SOMEDM") is None
    assert backend.wants(config.meeting("ops"))
    no_channel = config.meeting("ops").model_copy(
        update={"destinations": config.meeting("ops").destinations.model_copy(update={"slack_channel": None})}
    )
    assert not backend.wants(no_channel)
    assert backend.command_text("/agenda", " add  x ") == "agenda add  x"
    assert backend.command_text("/next", "whatever") == "next"
    assert backend.command_text("/actions", "done 2") == "actions done 2"
    assert set(backend.commands()) == {"/agenda", "/next", "/actions"}


def _long_agenda(bot: Bot, items: int) -> None:
    """Items people added, long ones full of characters Slack escapes (&, <, >)."""
    for n in range(items):
        assert bot.handle(f"agenda add item {n}: " + "a<b & c>d " * 60, slack_sender(bot.config, "U0JAIME")).ok


def _whole_mrkdwn(text: str) -> bool:
    """No escape or <…> entity cut in half."""
    rest = re.sub(r"<[^<>\n]*>", "", text)
    return "<" not in rest and ">" not in rest and not re.search(r"&(?!amp;|lt;|gt;)", text)


def test_a_reminder_longer_than_slack_keeps_is_split_at_line_breaks(tmp_path, fake):
    """Slack cuts a message after 40,000 characters, wherever that falls (inside a link or an
    escape). The bot sends a longer one as several messages, split at line breaks, each whole."""
    config = load_config(_config(tmp_path, api_url=fake.api_url))
    bot = Bot(config, _Clock(dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC)))
    backend = SlackBackend(bot, env={"SLACK_BOT_TOKEN": BOT_TOKEN})
    meeting = config.meeting("conda-ecosystem")
    _long_agenda(bot, 80)
    reminder = bot.reminder(meeting, bot.next_meeting(meeting), dt.timedelta(minutes=15))
    full = render_mrkdwn(reminder)
    assert len(full) > 2 * MAX_TEXT
    backend.post(meeting, reminder)
    texts = [m["text"] for m in fake.messages("C0CONDAECO")]
    assert len(texts) == 3 and fake.shown("C0CONDAECO") == texts  # nothing left for Slack to cut
    assert all(len(x) <= MAX_TEXT and _whole_mrkdwn(x) for x in texts)
    assert "\n".join(texts) == full  # every line, in order, none cut
    assert texts[0].startswith("*Conda Ecosystem Meeting* starts in 15 min") and f"|{NOTES_NAME}>" in full

    # one line alone longer than that (max_item_length goes up to 100,000): split between escapes
    backend.post(meeting, Message().add("x: ", UserText("&" * MAX_TEXT)))
    texts = [m["text"] for m in fake.messages("C0CONDAECO")[3:]]
    assert len(texts) == 6 and all(len(x) <= MAX_TEXT and _whole_mrkdwn(x) for x in texts)
    assert "".join(texts) == "x: " + "&amp;" * MAX_TEXT
    # short messages are untouched
    backend.post(meeting, Message().add("hello ", UserText("<you>")))
    assert fake.messages("C0CONDAECO")[-1]["text"] == "hello &lt;you&gt;"
    backend.close()


@pytest.mark.slow
def test_a_long_answer_comes_as_several_responses(tmp_path, fake, start_bot):
    config = load_config(_config(tmp_path, api_url=fake.api_url))
    _long_agenda(Bot(config, _Clock(dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC))), 80)
    start_bot()
    fake.wait_connected(1, timeout=20)
    eid, cmd = fake.send_slash_command("/agenda", "list", user_id="U0JANNIS")
    fake.wait_ack(eid)
    fake.wait_response(cmd["response_url"])
    path = cmd["response_url"].split("//", 1)[1].split("/", 1)[1]
    fake.wait_for(lambda: len([r for r in fake.responses if r.path.endswith(path)]) >= 3, what="3 responses")
    texts = [r.params["text"] for r in fake.responses if r.path.endswith(path)]
    assert all(len(x) <= MAX_TEXT and _whole_mrkdwn(x) for x in texts)
    listing = "\n".join(texts)
    assert listing.startswith("*Agenda for Conda Ecosystem Meeting on 2026-01-07*\n1. JRG: item 0: a&lt;b &amp; c")
    assert all(f"{n + 1}. JRG: item {n}: " in listing for n in range(80))
    assert texts[-1].split("\n")[-1].startswith("Notes: <https://github.com/conda/governance/")


def test_a_response_url_takes_five_messages_the_rest_is_shortened(tmp_path):
    config = load_config(_config(tmp_path))
    backend = SlackBackend(
        Bot(config, _Clock(dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC))), env={"SLACK_BOT_TOKEN": BOT_TOKEN}
    )
    message = Message()
    for n in range(300):
        message.add(f"{n}. ", UserText("long line " * 100))
    message.add("Notes: ", Link("https://example.org/n.md", "n.md"))
    parts = backend.render_parts(message, most=5)
    assert len(parts) == 5 and all(len(x) <= MAX_TEXT for x in parts)
    assert "shortened" in parts[-1].split("\n")[-2] and parts[-1].endswith("|n.md>")


def test_redaction_filter():
    filt = RedactSecrets([SIGNING_SECRET])
    rec = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "token %s secret %s other xoxp-99-abc", (BOT_TOKEN, SIGNING_SECRET), None
    )
    filt.filter(rec)
    text = rec.getMessage()
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text and "xoxp-99-abc" not in text
    assert "xoxb-[redacted]" in text


def test_post_and_notify_in_process(tmp_path, fake):
    """The backend's own Web API calls (real WebClient, base URL = the fake)."""
    config = load_config(_config(tmp_path, api_url=fake.api_url))
    backend = SlackBackend(Bot(config), env={"SLACK_BOT_TOKEN": BOT_TOKEN})
    eco = config.meeting("conda-ecosystem")
    jaime = config.person_by(initials="JRG")
    ping = Message(kind="notice").add(Mention(jaime), " you have 1 open action item: ", UserText("fix <it>"))
    backend.notify(eco, jaime, ping)  # actions.ping = "dm" by default
    assert [r.params["users"] for r in fake.calls("conversations.open")] == ["U0JAIME"]
    (dm,) = fake.messages()
    assert dm["channel"] == "D0JAIME"
    assert dm["text"] == "<@U0JAIME> you have 1 open action item: fix &lt;it&gt;"

    by_channel = eco.model_copy(update={"actions": eco.actions.model_copy(update={"ping": "channel"})})
    backend.notify(by_channel, jaime, ping)
    assert fake.messages()[-1]["channel"] == "C0CONDAECO"

    gone = eco.model_copy(update={"destinations": eco.destinations.model_copy(update={"slack_channel": "C0GONE"})})
    with pytest.raises(BackendError, match=r"chat\.postMessage failed: channel_not_found"):
        backend.post(gone, Message().add("hello"))
    assert fake.calls("chat.postMessage")[-1].error == "channel_not_found"
    backend.close()


# ---------------------------------------------------------------------------------------
# The real bot process against the fake


class BotProcess:
    def __init__(self, tmp_path: Path, config: Path, env: dict[str, str], args=()):
        self.log_path = tmp_path / "bot.log"
        self.log = open(self.log_path, "w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", *args, "run", "--backend", "slack", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if not self.alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"bot log has no {pattern!r}:\n{self.output()[-3000:]}")

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # the stacks of a bot that did not stop, in its log
                time.sleep(1)
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


def _env(**extra: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CHATBOT_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "CHATBOT_FAKE_NOW": QUIET_NOW})
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake():
    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={
            "U0JAIME": {"name": "jaime"},
            "U0STRANGER": {"name": "stranger", "real_name": "Sam Doe", "display_name": "Sam Doe"},
        },
    ) as f:
        yield f


@pytest.fixture
def start_bot(tmp_path, fake):
    procs: list[BotProcess] = []

    def start(mode="socket", env=None, port=3000, allow_unknown=False, args=()) -> BotProcess:
        config = _config(tmp_path, mode=mode, api_url=fake.api_url, port=port, allow_unknown=allow_unknown)
        p = BotProcess(tmp_path, config, env if env is not None else _env(), args)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


@contextlib.contextmanager
def slack_processes(tmp_path: Path, fake: FakeSlack):
    """``start(mode, now, port)``: the real bot process on ``fake`` at the fixed time ``now``,
    in Socket Mode or HTTP mode (no app token, the signing secret); each stopped at the end."""
    procs: list[BotProcess] = []

    def start(mode: str = "socket", now: str = QUIET_NOW, port: int = 3000) -> BotProcess:
        config = _config(tmp_path, mode=mode, api_url=fake.api_url, port=port)
        env = _env(CHATBOT_FAKE_NOW=now)
        if mode == "http":
            env.pop("SLACK_APP_TOKEN")
            env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
        p = BotProcess(tmp_path, config, env)
        procs.append(p)
        return p

    try:
        yield start
    finally:
        for p in procs:
            p.stop()


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert "TESTBOTTOKEN" not in text and "TESTAPPTOKEN" not in text


def _notes(tmp_path: Path, name: str = NOTES_NAME, directory: str = "notes") -> str:
    path = tmp_path / directory / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.slow
def test_socket_mode_slash_commands(tmp_path, fake, start_bot):
    # debug logging on: even then no token may show up in the output
    bot = start_bot(args=("-vv",))
    fake.wait_connected(1, timeout=20)
    opened = fake.calls("apps.connections.open")
    assert opened and opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"
    auth_tests = len(fake.calls("auth.test"))  # all at start: none inside a command's ack

    # as Slack sends it: '&' escaped, the typed @channel as Slack's <!channel> entity
    eid, cmd = fake.send_slash_command(
        "/agenda",
        "add Release plans for 25.1 <!channel> &amp; @here",
        user_id="U0JAIME",
        user_name="jaime",
        channel_id="C0CONDAECO",
    )
    fake.wait_ack(eid)
    assert fake.envelopes[-1].envelope_id == eid
    # (that the ack does not wait for the work is tested with the notes lock held, in
    # test_http_mode_acks_before_the_work_and_serves_status_pages)

    answer = fake.wait_response(cmd["response_url"])
    assert len(fake.calls("auth.test")) == auth_tests
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(
        "Added to the agenda of Conda Ecosystem Meeting on 2026-01-07 as item 1: "
        "JRG: Release plans for 25.1 @\u200bchannel &amp; @\u200bhere"
    )
    notes = _notes(tmp_path)
    # the notes file gets the text as typed, readable (defused only where it is posted to chat)
    assert "- [ ] JRG: Release plans for 25.1 @channel & @here\n" in notes

    # the public confirmation, in the meeting's channel, with the bot token
    public = fake.wait_for(lambda: fake.messages("C0CONDAECO"), what="public confirmation")
    assert public[0]["text"].startswith(
        "JRG added an agenda item for 2026-01-07: Release plans for 25.1 @\u200bchannel"
    )
    assert not MASS.search(public[0]["text"])
    posts = fake.calls("chat.postMessage")
    assert all(r.headers["authorization"] == f"Bearer {BOT_TOKEN}" for r in posts)

    # /agenda list and /next
    eid, cmd = fake.send_slash_command("/agenda", "list", user_id="U0JANNIS", channel_id="C0CONDAECO")
    fake.wait_ack(eid)
    listing = fake.wait_response(cmd["response_url"])["text"]
    assert "*Agenda for Conda Ecosystem Meeting on 2026-01-07*" in listing
    assert "1. JRG: Release plans for 25.1 @\u200bchannel &amp; @\u200bhere" in listing

    eid, cmd = fake.send_slash_command("/next", "", user_id="U0JANNIS", channel_id="C0CONDAECO")
    fake.wait_ack(eid)
    nxt = fake.wait_response(cmd["response_url"])["text"]
    assert f"<!date^{UNIX_START}^{{date_short_pretty}} at {{time}}|Wed 2026-01-07 17:00 UTC>" in nxt

    eid, cmd = fake.send_slash_command("/agenda", "help", user_id="U0JANNIS", channel_id="C0CONDAECO")
    fake.wait_ack(eid)
    helptext = fake.wait_response(cmd["response_url"])["text"]
    assert "`/agenda add TEXT`" in helptext and "`/next`" in helptext and "`/actions done N`" in helptext

    eid, cmd = fake.send_slash_command("/actions", "", user_id="U0JANNIS", channel_id="C0CONDAECO")
    fake.wait_ack(eid)
    actions = fake.wait_response(cmd["response_url"])
    assert actions["response_type"] == "ephemeral" and "action items" in actions["text"].lower()
    assert not actions["text"].startswith(":warning:")

    # bad input gets a clear (private) answer
    eid, cmd = fake.send_slash_command("/agenda", "frobnicate <!here>", user_id="U0JAIME")
    fake.wait_ack(eid)
    bad = fake.wait_response(cmd["response_url"])
    assert bad["text"].startswith(":warning: unknown agenda command 'frobnicate'")
    assert not MASS.search(bad["text"])

    # someone not in the roster gets told how to be added, and nothing is written
    before = _notes(tmp_path)
    eid, cmd = fake.send_slash_command("/agenda", "add sneaky", user_id="U0STRANGER", channel_id="C0CONDAECO")
    fake.wait_ack(eid)
    refusal = fake.wait_response(cmd["response_url"])
    assert refusal["response_type"] == "ephemeral"
    assert "I don't know who you are (U0STRANGER)" in refusal["text"]
    assert 'slack_id = "U0STRANGER"' in refusal["text"]
    assert _notes(tmp_path) == before

    # a command in the ops channel goes to the ops meeting
    eid, cmd = fake.send_slash_command("/agenda", "add Rotate keys", user_id="U0JANNIS", channel_id="C0OPS")
    fake.wait_ack(eid)
    assert "Ops Sync" in fake.wait_response(cmd["response_url"])["text"]
    assert "- [ ] JL: Rotate keys" in _notes(tmp_path, "20260112-ops.md", "ops-notes")
    assert "Rotate keys" not in _notes(tmp_path)

    assert bot.alive()
    assert bot.stop() == 0
    out = bot.output()
    assert "DEBUG" in out  # the debug logging really was on
    assert_no_secrets(out)


@pytest.mark.slow
def test_command_text_as_slack_sends_it_is_stored_readable(tmp_path, fake, start_bot):
    """Slack escapes &, < and > in what people type and sends mentions, channels, mass
    mentions and links as <…> entities. The notes get readable text (not '&amp;' or
    '<@U0JANNIS>'), Slack's replies show it escaped exactly once, and no entity comes back
    out as a live mention."""
    start_bot()
    fake.wait_connected(1, timeout=20)
    wire = (
        "add " + slack_escape("Q&A: is a < b > c?") + " with <@U0JANNIS> <@U0STRANGER> <@W0GRID|grid.admin>"
        " in <#C0OPS|ops> <!channel> <!here|here> <!subteam^S0CORE|@core>,"
        " see <https://x.example/doc?a=1&amp;b=2|the doc> and <https://x.example/raw>"
    )
    eid, cmd = fake.send_slash_command("/agenda", wire, user_id="U0JAIME")
    fake.wait_ack(eid)
    answer = fake.wait_response(cmd["response_url"])["text"]
    readable = (
        "Q&A: is a < b > c? with @Jannis Leidel @Sam Doe @grid.admin in #ops @channel @here"
        " @core, see the doc (https://x.example/doc?a=1&b=2) and https://x.example/raw"
    )
    assert f"- [ ] JRG: {readable}\n" in _notes(tmp_path)
    assert "JRG: " + render_mrkdwn(Message().add(UserText(readable))) in answer  # escaped once
    public = fake.wait_for(lambda: fake.messages("C0CONDAECO"), what="the public note")[0]["text"]
    assert render_mrkdwn(Message().add(UserText(readable))) in public
    for out in (answer, public):
        assert not re.search(r"<[@#!]", out) and not MASS.search(out)
    # the person not in the roster was looked up by id (users:read), the one in it was not
    assert [r.params.get("user") for r in fake.calls("users.info")] == ["U0STRANGER"]

    # an entity where a sub-command is expected is quoted back readable, and inert
    eid, cmd = fake.send_slash_command("/agenda", "<!here> now", user_id="U0JAIME")
    fake.wait_ack(eid)
    bad = fake.wait_response(cmd["response_url"])["text"]
    assert bad.startswith(":warning: unknown agenda command '@\u200bhere'")


@pytest.mark.slow
def test_unknown_users_allowed_by_config_use_their_slack_name(tmp_path, fake, start_bot):
    start_bot(allow_unknown=True)
    fake.wait_connected(1, timeout=20)
    eid, cmd = fake.send_slash_command("/agenda", "add Hello", user_id="U0STRANGER", user_name="stranger")
    fake.wait_ack(eid)
    assert "SD: Hello" in fake.wait_response(cmd["response_url"])["text"]
    assert "- [ ] SD: Hello" in _notes(tmp_path)
    assert [r.params.get("user") for r in fake.calls("users.info")] == ["U0STRANGER"]


@pytest.mark.slow
def test_reminder_is_posted_to_the_meeting_channel(tmp_path, fake, start_bot):
    bot = start_bot(env=_env(CHATBOT_FAKE_NOW=REMINDER_NOW))
    msgs = fake.wait_for(lambda: fake.messages(), timeout=20, what="the reminder")
    time.sleep(0.5)  # would a duplicate follow?
    msgs = fake.messages()
    assert len(msgs) == 1
    assert msgs[0]["channel"] == "C0CONDAECO"
    text = msgs[0]["text"]
    assert text.startswith(
        "*Conda Ecosystem Meeting* starts in 15 min: "
        f"<!date^{UNIX_START}^{{date_short_pretty}} at {{time}}|Wed 2026-01-07 17:00 UTC>"
    )
    assert "• Europe/Berlin: Wed 18:00" in text
    assert "*Agenda so far:*" in text
    assert not MASS.search(text)
    assert fake.calls("chat.postMessage")[0].headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert bot.alive()
    bot.stop()
    assert_no_secrets(bot.output())


@pytest.mark.slow
def test_reminder_the_platform_refused_is_tried_again_and_posted_once(tmp_path, fake):
    """Slack answers chat.postMessage with HTTP 500 twice: the reminder is not lost (tried
    again after a tenth of the grace period) and is posted exactly once."""
    fake.fail("chat.postMessage", "internal_error", times=2, status=500)
    config = _config(tmp_path, api_url=fake.api_url)
    config.write_text(
        config.read_text(encoding="utf-8").replace('reminder_grace = "10m"', 'reminder_grace = "1m"'), encoding="utf-8"
    )
    bot = BotProcess(tmp_path, config, _env(CHATBOT_FAKE_NOW=REMINDER_NOW))
    try:
        msgs = fake.wait_for(lambda: fake.messages(), timeout=60, what="the reminder, third time lucky")
        assert len(fake.calls("chat.postMessage")) == 3  # two refused, one accepted
        assert len(msgs) == 1 and msgs[0]["text"].startswith("*Conda Ecosystem Meeting* starts in 15 min")
        out = bot.output()
        assert len(re.findall(r"sending the 0:15:00 reminder .* failed .* trying again in 6 s", out)) == 2
        bot.wait_log(r"sent the 0:15:00 reminder")
        time.sleep(0.5)  # would a duplicate follow?
        assert len(fake.messages()) == 1 and len(fake.calls("chat.postMessage")) == 3
        assert bot.alive()
    finally:
        bot.stop()
    assert "Traceback" not in bot.output()


@pytest.mark.slow
def test_rate_limited_post_is_retried_after_retry_after(tmp_path, fake, start_bot):
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    bot = start_bot(env=_env(CHATBOT_FAKE_NOW=REMINDER_NOW))
    fake.wait_for(lambda: fake.messages(), timeout=20, what="the reminder after the 429")
    time.sleep(0.5)
    attempts = fake.calls("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # waited for Retry-After
    assert len(fake.messages("C0CONDAECO")) == 1
    assert bot.alive()


@pytest.mark.slow
def test_api_errors_are_logged_and_the_bot_keeps_running(tmp_path, fake, start_bot):
    fake.fail("chat.postMessage", "channel_not_found", times=1)
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    eid, cmd = fake.send_slash_command("/agenda", "add First", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
    bot.wait_log(r"Slack API chat\.postMessage failed: channel_not_found")
    # still working: the next command and its public note go through
    eid, cmd = fake.send_slash_command("/agenda", "add Second", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 2" in fake.wait_response(cmd["response_url"])["text"]
    fake.wait_for(lambda: fake.messages("C0CONDAECO"), what="the second public confirmation")
    assert bot.alive()
    assert "Traceback" not in bot.output()


@pytest.mark.slow
def test_a_slash_command_the_config_does_not_name_gets_an_answer(tmp_path, fake, start_bot):
    """The manifest says /meeting-agenda, the config still /agenda: the user is told, instead
    of Slack's "dispatch_failed", and the bot keeps working."""
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    eid, _ = fake.send_slash_command("/meeting-agenda", "add x", user_id="U0JAIME")
    ack = fake.wait_ack(eid)
    text = ack["payload"]["text"]
    assert "does not handle /meeting-agenda" in text and "/agenda" in text
    assert ack["payload"].get("response_type") == "ephemeral"
    assert _notes(tmp_path) == ""  # nothing written
    bot.wait_log(r"Slack sent /meeting-agenda, which \[slack\] command")
    eid, cmd = fake.send_slash_command("/agenda", "add still fine", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
    assert bot.alive()


@pytest.mark.slow
def test_a_slash_command_renamed_in_a_reloaded_config_works(tmp_path, fake, start_bot):
    """The admin renames /agenda to /meeting in the Slack app and in the config; the bot
    reloads the config while running and answers /meeting, not "does not handle /meeting"."""
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    config = tmp_path / "chatbot.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("[slack]\n", '[slack]\ncommand = "/meeting"\n'), encoding="utf-8"
    )
    bot.proc.send_signal(signal.SIGHUP)
    bot.wait_log(r"config reloaded from")
    eid, cmd = fake.send_slash_command("/meeting", "add Renamed", user_id="U0JAIME")
    ack = fake.wait_ack(eid)
    assert "does not handle" not in str(ack)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
    assert "- [ ] JRG: Renamed" in _notes(tmp_path)
    fake.wait_for(lambda: fake.messages("C0CONDAECO"), what="the public confirmation")
    assert bot.alive()


@pytest.mark.slow
def test_socket_mode_reconnects_after_a_disconnect(tmp_path, fake, start_bot):
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    assert fake.tickets_issued == 1

    fake.drop_connections()  # the server goes away without warning the client
    fake.wait_connected(2, timeout=20)
    assert fake.tickets_issued == 2  # a fresh URL from apps.connections.open
    eid, cmd = fake.send_slash_command("/agenda", "add After the drop", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]

    fake.request_refresh()  # Slack's polite "please reconnect"
    fake.wait_connected(3, timeout=20)
    assert fake.tickets_issued == 3
    fake.wait_for(lambda: fake.live_connections == 1, what="the old connection to close")
    eid, cmd = fake.send_slash_command("/agenda", "add After the refresh", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 2" in fake.wait_response(cmd["response_url"])["text"]

    notes = _notes(tmp_path)
    assert "- [ ] JRG: After the drop" in notes and "- [ ] JRG: After the refresh" in notes
    assert bot.alive()


@pytest.mark.slow
def test_a_command_right_after_a_reconnect_request_is_acked_and_done_once(tmp_path, fake, start_bot):
    """Slack asks for a reconnect and a command arrives on the old connection at that moment:
    it is acknowledged (through the new connection) and acted on once; so is one on the new."""
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    fake.request_refresh()
    eid, cmd = fake.send_slash_command("/agenda", "add On the old connection", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
    fake.wait_connected(2, timeout=20)
    eid, cmd = fake.send_slash_command("/agenda", "add On the new connection", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 2" in fake.wait_response(cmd["response_url"])["text"]
    fake.wait_for(lambda: fake.live_connections == 1, what="the old connection to close")
    notes = _notes(tmp_path)
    assert notes.count("- [ ] JRG: On the old connection") == 1 and notes.count("- [ ] JRG: On the new connection") == 1
    assert bot.alive() and " ERROR " not in bot.output()


@pytest.mark.slow
def test_private_answers_do_not_wait_behind_a_rate_limited_channel_note(tmp_path, fake, start_bot):
    """The channel is rate limited (429, Retry-After): the notes of a burst of commands wait
    their turn, each person's private answer does not."""
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    fake.rate_limit("chat.postMessage", times=2, retry_after=3)
    cmds = [fake.send_slash_command("/agenda", f"add Burst {i}", user_id="U0JAIME") for i in range(4)]
    for eid, cmd in cmds:
        fake.wait_ack(eid)
        fake.wait_response(cmd["response_url"], timeout=30)
    fake.wait_for(lambda: len(fake.messages("C0CONDAECO")) == 4, timeout=40, what="the 4 channel notes")
    seen = [r for r in fake.requests if r.method in ("response_url", "chat.postMessage")]
    first_note = next(i for i, r in enumerate(seen) if r.method == "chat.postMessage" and r.ok)
    assert [r.method for r in seen[:first_note]].count("response_url") == 4, [(r.method, r.status) for r in seen]
    assert sorted(m["text"].rsplit(": ", 1)[1] for m in fake.messages("C0CONDAECO")) == [f"Burst {i}" for i in range(4)]
    assert bot.alive()


@pytest.mark.slow
def test_socket_mode_recovers_from_a_dead_connection(tmp_path, fake, start_bot):
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    fake.drop_connections(abrupt=True)  # TCP gone without a close frame, as when the network fails
    # the bot sees the end of the stream (bench/latency.py times it) and opens a new connection
    fake.wait_connected(2, timeout=40)
    assert fake.tickets_issued == 2
    eid, cmd = fake.send_slash_command("/agenda", "add After the network came back", user_id="U0JAIME")
    fake.wait_ack(eid)
    assert "item 1" in fake.wait_response(cmd["response_url"])["text"]
    assert "- [ ] JRG: After the network came back" in _notes(tmp_path)
    assert bot.alive()


@pytest.mark.slow
def test_http_mode_checks_signatures(tmp_path, fake, start_bot):
    port = _free_port()
    bot = start_bot(mode="http", port=port, env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
    url = f"http://127.0.0.1:{port}/slack/events"

    form = fake.slash_command_payload("/agenda", "add Signed item", user_id="U0JAIME", user_name="jaime")
    status, _ = signed_post(url, SIGNING_SECRET, form)
    assert status == 200
    answer = fake.wait_response(form["response_url"])
    assert answer["response_type"] == "ephemeral" and "Signed item" in answer["text"]
    notes = _notes(tmp_path)
    assert "- [ ] JRG: Signed item" in notes

    refused = []
    forged = fake.slash_command_payload("/agenda", "add Forged", user_id="U0JAIME")
    refused.append((forged, signed_post(url, "not-the-secret", forged)))
    stale = fake.slash_command_payload("/agenda", "add Stale", user_id="U0JAIME")
    refused.append((stale, signed_post(url, SIGNING_SECRET, stale, timestamp=int(time.time()) - 6 * 60)))
    unsigned = fake.slash_command_payload("/agenda", "add Unsigned", user_id="U0JAIME")
    refused.append((unsigned, signed_post(url, None, unsigned)))
    bad = fake.slash_command_payload("/agenda", "add Garbled", user_id="U0JAIME")
    refused.append((bad, signed_post(url, SIGNING_SECRET, bad, signature="v0=" + "0" * 64)))
    # a timestamp that is not a number (slack_sdk's int() raised: a 500 and a traceback per request)
    junk = fake.slash_command_payload("/agenda", "add Junk time", user_id="U0JAIME")
    refused.append((junk, signed_post(url, SIGNING_SECRET, junk, timestamp="soon")))
    for form, (status, _) in refused:
        assert status == 401, form["text"]

    # a correctly signed request still works afterwards; the refused ones left no trace
    again = fake.slash_command_payload("/agenda", "list", user_id="U0JANNIS")
    assert signed_post(url, SIGNING_SECRET, again)[0] == 200
    listing = fake.wait_response(again["response_url"])["text"]
    assert "1. JRG: Signed item" in listing and "2." not in listing
    assert _notes(tmp_path) == notes
    answered = {r.path for r in fake.responses}
    for form, _ in refused:
        assert form["response_url"].split(str(fake.port), 1)[1] not in answered
    assert bot.alive()
    bot.stop()
    assert_no_secrets(bot.output())
    assert "Traceback" not in bot.output()


def test_http_mode_acks_before_the_work_and_serves_status_pages(tmp_path, fake, start_bot):
    """The ack must not wait for the notes edit: while another process holds the notes lock the
    command is acknowledged at once, its answer and item follow when the lock is free. The same
    port serves the status page and the calendar feed."""
    from filelock import FileLock

    port = _free_port()
    bot = start_bot(mode="http", port=port, env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "notes").mkdir(exist_ok=True)
    lock = FileLock(str(tmp_path / "notes" / ".chatbot.lock"))
    with lock:
        form = fake.slash_command_payload("/agenda", "add Acked while locked", user_id="U0JAIME")
        status, _ = signed_post(base + "/slack/events", SIGNING_SECRET, form)
        assert status == 200  # acknowledged although the edit cannot start yet
        with pytest.raises(AssertionError):
            fake.wait_response(form["response_url"], timeout=1.0)
        assert "Acked while locked" not in _notes(tmp_path)
    answer = fake.wait_response(form["response_url"], timeout=20)
    assert "Acked while locked" in answer["text"]
    assert "- [ ] JRG: Acked while locked" in _notes(tmp_path)

    import urllib.request

    with urllib.request.urlopen(base + "/meetings/conda-ecosystem", timeout=10) as resp:
        page = resp.read().decode()
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "Conda Ecosystem Meeting" in page and "Acked while locked" in page
    with urllib.request.urlopen(base + "/calendar/conda-ecosystem.ics", timeout=10) as resp:
        ics = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in ics and "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=WE" in ics
    # the signed endpoint is still bolt's: a GET there is not a status page
    try:
        with urllib.request.urlopen(base + "/slack/events", timeout=10) as resp:
            assert "Conda Ecosystem Meeting" not in resp.read().decode()
    except urllib.error.HTTPError as exc:
        assert exc.code in (401, 404, 405)
    assert bot.alive()
    assert bot.stop() == 0
    assert_no_secrets(bot.output())


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode,missing", [("socket", "SLACK_APP_TOKEN"), ("socket", "SLACK_BOT_TOKEN"), ("http", "SLACK_SIGNING_SECRET")]
)
def test_missing_secret_is_a_clear_error(tmp_path, fake, start_bot, mode, missing):
    env = _env(**{missing: None})
    if mode == "http":
        env.pop("SLACK_APP_TOKEN")
    bot = start_bot(mode=mode, env=env, port=_free_port())
    assert bot.proc.wait(timeout=30) != 0
    out = bot.output()
    assert f"error: {missing} is not set" in out
    assert "Traceback" not in out
    assert "chatbot ready" not in out  # checked before the scheduler starts (no reminder without a token)
    assert fake.requests == []  # gave up before talking to Slack
    assert_no_secrets(out)


@pytest.mark.slow
def test_wrong_bot_token_is_a_clear_error(tmp_path, fake, start_bot):
    wrong = "xoxb-9999-WRONGTOKENvalue"
    bot = start_bot(env=_env(SLACK_BOT_TOKEN=wrong))
    assert bot.proc.wait(timeout=30) != 0
    out = bot.output()
    assert "error: SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in out
    assert "Traceback" not in out and "WRONGTOKENvalue" not in out
    assert [r.method for r in fake.requests] == ["auth.test"]
    assert fake.requests[0].token == wrong


def test_remind_dry_run_prints_mrkdwn(tmp_path, fake):
    config = _config(tmp_path, api_url=fake.api_url)
    env = _env(SLACK_BOT_TOKEN=None, SLACK_APP_TOKEN=None, CHATBOT_FAKE_NOW="2026-01-07T16:00:00Z")
    res = subprocess.run(
        [sys.executable, "-m", "chatbot", "remind", "--backend", "slack", "--dry-run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "# conda-ecosystem at 2026-01-07T17:00:00+00:00, posted now via slack"
    assert (
        f"*Conda Ecosystem Meeting* starts in 1 h: <!date^{UNIX_START}^{{date_short_pretty}} at {{time}}"
        "|Wed 2026-01-07 17:00 UTC>"
    ) in res.stdout
    assert "<https://zoom.example/j/91385?pwd=abc&amp;x=1>" in res.stdout
    assert fake.requests == []  # a dry run never talks to Slack


def test_manifest_matches_the_defaults():
    """The app manifest declares the commands the bot registers, the scopes it uses, Socket Mode."""
    text = (REPO / "config" / "slack-app-manifest.yml").read_text(encoding="utf-8")
    config = load_config(REPO / "config" / "chatbot.toml")
    for name in SlackBackend(Bot(config), env={}).commands():
        assert re.search(rf"^\s*- command: {re.escape(name)}\s*$", text, re.M), name
    scopes = re.search(r"^\s*bot:\s*\n((?:\s*- .*\n)+)", text, re.M).group(1)
    assert {re.match(r"\s*- ([\w:.]+)", ln).group(1) for ln in scopes.splitlines()} == {
        "commands",
        "chat:write",
        "chat:write.public",
        "im:write",
        "users:read",
        "channels:history",
        "groups:history",
        "im:history",
    }
    assert re.search(r"^\s*socket_mode_enabled: true\s*$", text, re.M)


def test_manifest_lets_people_type_commands_in_the_bots_direct_messages():
    """Slash commands in a DM with the bot are always accepted (allowed_places does not apply;
    the refusal tells people to use one), and action-item pings arrive there. Without an App
    Home Messages tab that people may write in, Slack shows "Sending messages to this app has
    been turned off" instead of a message box there."""
    text = (REPO / "config" / "slack-app-manifest.yml").read_text(encoding="utf-8")
    home = re.search(r"^  app_home:\s*\n((?:    .*\n)+)", text, re.M)
    assert home, "features.app_home is missing"
    assert re.search(r"^\s*messages_tab_enabled: true\s*(#.*)?$", home.group(1), re.M)
    assert re.search(r"^\s*messages_tab_read_only_enabled: false\s*(#.*)?$", home.group(1), re.M)


@pytest.mark.slow
def test_commands_outside_allowed_channels_are_refused(tmp_path, fake):
    config = _config(tmp_path, api_url=fake.api_url)
    config.write_text(
        config.read_text().replace('reminder_grace = "10m"', 'reminder_grace = "10m"\nallowed_places = ["C0CONDAECO"]')
    )
    bot = BotProcess(tmp_path, config, _env(), ())
    try:
        fake.wait_connected(1, timeout=20)
        eid, cmd = fake.send_slash_command("/agenda", "add elsewhere", user_id="U0JAIME", channel_id="C0RANDOM")
        fake.wait_ack(eid)
        refused = fake.wait_response(cmd["response_url"])
        assert refused["text"].startswith(":warning: commands are not accepted here")
        assert "elsewhere" not in _notes(tmp_path)
        # a direct message (D…) and the allowed channel both work
        for channel in ("D0DIRECT", "C0CONDAECO"):
            eid, cmd = fake.send_slash_command("/agenda", f"add from {channel}", user_id="U0JAIME", channel_id=channel)
            fake.wait_ack(eid)
            assert "Added to the agenda" in fake.wait_response(cmd["response_url"])["text"]
        notes = _notes(tmp_path)
        assert "- [ ] JRG: from D0DIRECT" in notes and "- [ ] JRG: from C0CONDAECO" in notes
    finally:
        bot.stop()


@pytest.mark.slow
def test_one_agenda_add_builds_the_notes_store_once_and_looks_the_person_up_once(tmp_path, fake, start_bot):
    """Issue 23: on its way to the notes edit, one ``/agenda add`` opens the meeting's notes
    store once (the store says so in the debug log) and asks Slack about the person once, even
    when the text mentions them too (the sender's Slack name and the mention's label are the
    same ``users.info``)."""
    bot = start_bot(allow_unknown=True, args=("-vv",))
    fake.wait_connected(1, timeout=20)
    opened = len(re.findall(r"notes store \w+ of conda-ecosystem opened", bot.output()))
    eid, cmd = fake.send_slash_command(
        "/agenda", "add Ask <@U0STRANGER> about mirrors", user_id="U0STRANGER", user_name="stranger"
    )
    fake.wait_ack(eid)
    assert "SD: Ask @Sam Doe about mirrors" in fake.wait_response(cmd["response_url"])["text"]
    fake.wait_for(lambda: fake.messages("C0CONDAECO"), what="the public note")
    assert "- [ ] SD: Ask @Sam Doe about mirrors" in _notes(tmp_path)
    assert len(re.findall(r"notes store \w+ of conda-ecosystem opened", bot.output())) - opened == 1
    assert [r.params.get("user") for r in fake.calls("users.info")] == ["U0STRANGER"]
