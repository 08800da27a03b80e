"""The Zulip backend: rendering units, and end-to-end runs of ``chatbot run --backend zulip``
as a subprocess whose real ``zulip.Client`` talks to a fake Zulip server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zulip

from chatbot.backends.zulip import CATCH_UP_MAX, USER_CACHE_TTL, ZWSP, ZulipBackend, _Backoff, neutralize, render_zulip
from chatbot.bot import Bot
from chatbot.config import ConfigError, Person, load_config, schema
from chatbot.messages import Link, Mention, Message, Text, Time, UserText

from conftest import FixedClock, write_config
from fakes.zulip import FakeZulip

REPO = Path(__file__).parent.parent
UTC = dt.UTC
QUIET_NOW = "2026-01-05T12:00:00Z"  # no reminder due for more than a day
BEFORE_REMINDER = "2026-01-07T16:44:57Z"  # the 15-minute reminder of 2026-01-07 17:00 UTC is 3 s away

# Zulip's own mention syntax (zerver/lib/mention.py): what the server would turn into a mention.
BEFORE_MENTION = r"(?<![^\s\'\"\(\{\[\/<])"
ZULIP_MENTION_RES = [
    re.compile(BEFORE_MENTION + r"@(?P<silent>_?)(\*\*(?P<match>[^\*]+)\*\*)"),
    re.compile(BEFORE_MENTION + r"@(?P<silent>_?)(\*(?P<match>[^\*]+)\*)"),
    # older servers also took bare wildcards
    re.compile(BEFORE_MENTION + r"@(?P<silent>_?)(?P<match>all|everyone|stream|channel|topic|online|here)\b"),
]

ZULIP_CONFIG = """
[bot]
default_meeting = "eco"

[[meetings]]
id = "eco"
name = "Conda Ecosystem Meeting"
call_link = "https://zoom.example/j/1"
timezones = ["UTC", "America/Los_Angeles", "Asia/Tokyo"]
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
filename = "%Y%m%d-eco.md"
template = "template.md"
url = "https://example.org/notes/{filename}"

[meetings.destinations]
console = false
zulip_stream = "conda"
zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"

[[meetings]]
id = "infra"
name = "Infra Sync"
timezones = ["UTC"]
reminders = []

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=TH"
start = 2026-01-08
time = 09:00:00
timezone = "UTC"

[meetings.notes]
directory = "infra-notes"
filename = "%Y%m%d-infra.md"
template = "template.md"

[meetings.destinations]
console = false
zulip_stream = "infra"

[[people]]
initials = "JRG"
name = "Jaime Rodríguez-Guerra"
github = "jaimergp"
zulip_email = "jaime@example.org"
admin = true

[[people]]
initials = "JL"
name = "Jannis Leidel"
github = "jezdez"

[zulip]
"""


# ---------------------------------------------------------------------------------------
# Rendering


def mentions_in(text: str) -> list[str]:
    return [m.group(0) for rx in ZULIP_MENTION_RES for m in rx.finditer(text)]


ATTACKS = [
    "@**all**",
    "@**everyone**",
    "@**stream**",
    "@**channel**",
    "@**topic**",
    "@_**all**",
    "@**Jannis Leidel**",
    "@**Jannis Leidel|42**",
    "@**|42**",
    "@_**Jannis Leidel|42**",
    "@*core team*",
    "@_*core team*",
    "@all",
    "@here",
    "(@**all**)",
    "'@**all**'",
    "x\n@**all**",
    "[@**all**](x)",
    "<@**everyone**>",
    "{@**all**}",
    "/@**topic**",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_user_text_cannot_mention(attack):
    assert mentions_in(attack), "the regex copy should recognize the raw attack"
    rendered = render_zulip(Message().add("Added: ", UserText(f"hi {attack} there")))
    assert mentions_in(rendered) == []
    assert rendered == "Added: " + neutralize(f"hi {attack} there")
    assert rendered.replace(ZWSP, "") == f"Added: hi {attack} there"  # still readable as typed


@pytest.mark.parametrize("attack", ATTACKS)
def test_bot_text_quoting_what_was_typed_cannot_mention(attack):
    """The core quotes unknown command words in its own text (``unknown command '@**all**'``)."""
    said = f"unknown command {attack!r}. Try `help`."
    for rendered in (
        render_zulip(Message(kind="error").add(said)),
        render_zulip(Message().add(Text(attack, bold=True))),
    ):
        assert mentions_in(rendered) == [], rendered
    assert render_zulip(Message(kind="error").add(said)).replace(ZWSP, "") == said


def test_bot_text_keeps_addresses_and_plain_at_signs():
    said = 'add zulip_email = "user123@org.zulipchat.com" (all@example.org, a @ b, user@**x**)'
    assert render_zulip(Message().add(said)) == said


def test_render_times_links_bold_and_mentions():
    at = dt.datetime(2026, 1, 7, 17, 0, tzinfo=UTC)
    berlin = at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    msg = Message()
    msg.add(Text("Conda Ecosystem Meeting", bold=True), " starts in 15 min: ", Time(berlin, "Wed 17:00 UTC"))
    msg.add("Join: ", Link("https://zoom.example/j/1", "https://zoom.example/j/1"))
    msg.add("Notes: ", Link("https://example.org/notes/a (1).md", "a [1].md"))
    jaime = schema().person(initials="JRG", name="Jaime R", zulip_email="jaime@example.org")
    nobody = Person(initials="NB", name="No **Body**")
    msg.add("Owners: ", Mention(jaime), " ", Mention(nobody))
    lookup = {"jaime@example.org": (7, "Jaime Rodríguez-Guerra")}.get
    text = render_zulip(msg, lookup)
    assert text.splitlines() == [
        "**Conda Ecosystem Meeting** starts in 15 min: <time:2026-01-07T17:00:00Z>",
        "Join: https://zoom.example/j/1",
        "Notes: [a \\[1\\].md](https://example.org/notes/a%20%281%29.md)",
        "Owners: @**Jaime Rodríguez-Guerra|7** @**No Body**",
    ]
    # without a lookup (e.g. --dry-run) the roster name is used
    assert render_zulip(msg).splitlines()[-1] == "Owners: @**Jaime R** @**No Body**"
    # Zulip allows '|' in names and takes @**Name|id** only with the name exactly as it is
    piped = {"jaime@example.org": (7, "Jaime R | he/him")}.get
    assert render_zulip(Message().add(Mention(jaime)), piped) == "@**Jaime R | he/him|7**"
    # a roster name (no id) cannot turn into the id syntax
    assert render_zulip(Message().add(Mention(Person(initials="X", name="X|42")))) == "@**X42**"


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        render_zulip(Message().add(Time(dt.datetime(2026, 1, 7, 17, 0), "x")))


def _backend(tmp_path, text=ZULIP_CONFIG, now=dt.datetime(2026, 1, 5, 12, tzinfo=UTC)):
    config = load_config(write_config(tmp_path, text))
    return ZulipBackend(Bot(config, FixedClock(now)))


def test_topic_pattern_meeting_for_and_wants(tmp_path):
    backend = _backend(tmp_path)
    bot = backend.bot
    eco = bot.config.meeting("eco")
    occ = bot.next_meeting(eco)
    message = bot.reminder(eco, occ, dt.timedelta(minutes=15))
    assert backend.topic_for(eco, message) == "ecosystem meeting 2026-01-07"
    assert backend.meeting_for("conda") == "eco" and backend.meeting_for("Infra") == "infra"
    assert backend.meeting_for("random") is None and backend.meeting_for(None) is None
    assert backend.wants(eco)
    other = tmp_path / "other"
    other.mkdir()
    no_stream = _backend(other, ZULIP_CONFIG.replace('zulip_stream = "conda"\n', ""))
    assert not no_stream.wants(no_stream.bot.config.meeting("eco"))
    long = tmp_path / "long"
    long.mkdir()
    b = _backend(long, ZULIP_CONFIG.replace("ecosystem meeting {date:%Y-%m-%d}", "{name} " * 6 + "{date:%d %B}"))
    topic = b.topic_for(b.bot.config.meeting("eco"), message)
    assert len(topic) <= 60 and topic.endswith(" 07 January") and topic.startswith("Conda")


def test_a_long_meeting_name_is_shortened_and_the_topic_keeps_its_date(tmp_path):
    """Zulip keeps 60 characters of a topic: with a 65-character name and the default
    pattern the name is shortened, never the date, so each meeting keeps its own topic."""
    name = "Conda Community Ecosystem Interoperability and Governance Meeting"
    assert len(name) == 65
    text = ZULIP_CONFIG.replace('name = "Conda Ecosystem Meeting"', f'name = "{name}"', 1).replace(
        'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"\n', ""
    )
    backend = _backend(tmp_path, text)
    eco = backend.bot.config.meeting("eco")
    from chatbot.schedule import occurrences

    topics = []
    for occ in occurrences(eco, dt.datetime(2026, 1, 6, tzinfo=UTC), limit=2):
        topics.append(backend.topic_for(eco, backend.bot.reminder(eco, occ, dt.timedelta(minutes=15))))
    assert topics[0].endswith(" 2026-01-07") and topics[1].endswith(" 2026-01-14"), topics
    assert all(len(t) <= 60 for t in topics)
    assert topics[0].startswith("Conda Community Ecosystem") and "…" in topics[0]


def test_missing_credentials_are_named(tmp_path, monkeypatch):
    for var in ("ZULIP_SITE", "ZULIP_EMAIL", "ZULIP_API_KEY", "ZULIP_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ZULIP_EMAIL", "bot@example.org")
    backend = _backend(tmp_path)
    with pytest.raises(ConfigError) as err:
        backend.credentials()
    assert "ZULIP_SITE" in str(err.value) and "ZULIP_API_KEY" in str(err.value)
    assert "ZULIP_EMAIL" not in str(err.value)
    rc = tmp_path / "rc"
    rc.mkdir()
    (rc / "zuliprc").write_text("[api]\nemail=bot@example.org\nsite=https://z.example\n")
    b = _backend(rc, ZULIP_CONFIG.replace("[zulip]\n", '[zulip]\nzuliprc = "zuliprc"\n'))
    with pytest.raises(ConfigError, match=r"lacks key"):
        b.credentials()
    gone = tmp_path / "gone"
    gone.mkdir()
    b = _backend(gone, ZULIP_CONFIG.replace("[zulip]\n", '[zulip]\nzuliprc = "nope/zuliprc"\n'))
    with pytest.raises(ConfigError, match=r"does not exist"):
        b.credentials()


# ---------------------------------------------------------------------------------------
# End to end: the real bot process against the fake server


class BotProcess:
    def __init__(
        self,
        fake: FakeZulip,
        tmp_path: Path,
        config_text: str,
        fake_now: str,
        env: dict[str, str] | None,
        args: list[str],
    ):
        self.fake = fake
        self.dir = tmp_path
        self.config = write_config(tmp_path, config_text)
        self.log_path = tmp_path / "bot-output.txt"
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ZULIP_") and k not in ("CHATBOT_CONFIG", "CHATBOT_BACKEND")
        }
        full_env.update({"CHATBOT_FAKE_NOW": fake_now, "PYTHONUNBUFFERED": "1"})
        if env is None:
            env = {"ZULIP_SITE": fake.site, "ZULIP_EMAIL": fake.bot.email, "ZULIP_API_KEY": fake.bot.api_key}
        full_env.update(env)
        self._out = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "run", "--backend", "zulip", "--config", str(self.config), *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_ready(self, timeout: float = 20) -> None:
        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited early ({self.proc.returncode}):\n{self.output}")
            return any(r.status == 200 for r in self.fake.requests_to("GET", "events"))

        self.fake.wait_for(listening, timeout)

    def notes(self, name: str = "20260107-eco.md", directory: str = "notes") -> str:
        path = self.dir / directory / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()
        return self.proc.returncode


@pytest.fixture
def fake():
    server = FakeZulip(poll_timeout=0.5).start()
    yield server
    server.stop()


@pytest.fixture
def start_bot(fake, tmp_path):
    procs: list[BotProcess] = []

    def start(
        config_text: str = ZULIP_CONFIG,
        fake_now: str = QUIET_NOW,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        ready: bool = True,
    ) -> BotProcess:
        p = BotProcess(fake, tmp_path, config_text, fake_now, env, args or [])
        procs.append(p)
        if ready:
            p.wait_ready()
        return p

    yield start
    for p in procs:
        p.stop()
        assert fake.bot.api_key not in p.output, "the API key leaked into the bot's output"


def replies(fake: FakeZulip, since: int = 0) -> list[dict]:
    return fake.sent_messages()[since:]


def wait_reply(fake: FakeZulip, count: int = 1, since: int = 0, timeout: float = 15) -> list[dict]:
    def got():
        out = replies(fake, since)
        return out if len(out) >= count else None

    got.__name__ = f"{count} bot message(s)"
    return fake.wait_for(got, timeout)


def test_dm_agenda_add_lands_in_notes_and_is_answered_by_dm(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot(args=["-v"])
    reg = fake.requests_to("POST", "register")[0]
    assert reg.params["event_types"] == ["message", "reaction"] and reg.params["apply_markdown"] is False
    fake.send_private(jaime, "agenda add Release plans for 25.1")
    (answer,) = wait_reply(fake)
    assert answer["type"] == "private"
    assert [r["email"] for r in answer["display_recipient"]] == [fake.bot.email, "jaime@example.org"]
    assert "Added to the agenda of Conda Ecosystem Meeting on 2026-01-07 as item 1" in answer["content"]
    assert "JRG: Release plans for 25.1" in answer["content"]
    assert "[20260107-eco.md](https://example.org/notes/20260107-eco.md)" in answer["content"]
    assert "- [ ] JRG: Release plans for 25.1" in bot.notes()
    # the slash form works too, and the bot's own replies (echoed by the server) are ignored
    fake.send_private(jaime, "/agenda list")
    _, listing = wait_reply(fake, 2)
    assert "**Agenda for Conda Ecosystem Meeting on 2026-01-07**" in listing["content"]
    assert "1. JRG: Release plans for 25.1" in listing["content"]
    time.sleep(1.0)
    assert len(replies(fake)) == 2, [m["content"] for m in replies(fake)]


def test_stream_mention_answers_in_same_topic_and_picks_the_streams_meeting(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_stream(jaime, "conda", "agenda talk", "agenda add this is not for the bot")
    fake.send_stream(jaime, "conda", "agenda talk", f"@**{fake.bot.full_name}** agenda add Stream item")
    (answer,) = wait_reply(fake)
    assert answer["type"] == "stream" and answer["display_recipient"] == "conda"
    assert answer["subject"] == "agenda talk"
    assert "JRG: Stream item" in answer["content"]
    notes = bot.notes()
    assert "- [ ] JRG: Stream item" in notes and "not for the bot" not in notes
    # in the infra stream, with the name|id form and the slash form: the infra meeting
    fake.send_stream(jaime, "infra", "sync", f"@**{fake.bot.full_name}|{fake.bot.user_id}**: /agenda add Infra item")
    _, infra = wait_reply(fake, 2)
    assert infra["display_recipient"] == "infra" and infra["subject"] == "sync"
    assert "Infra Sync on 2026-01-08" in infra["content"]
    assert "- [ ] JRG: Infra item" in bot.notes("20260108-infra.md", "infra-notes")
    # mentioning someone else is not a command
    fake.send_stream(jaime, "conda", "agenda talk", "@**Somebody Else** next")
    fake.send_stream(jaime, "conda", "agenda talk", f"@_**{fake.bot.full_name}** next")
    _, _, nxt = wait_reply(fake, 3)
    assert "<time:2026-01-07T17:00:00Z>" in nxt["content"] and nxt["subject"] == "agenda talk"
    # a group DM needs a mention; the answer goes to the whole group
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="k")
    fake.send_private(jaime, "next", to=[fake.bot, olga])
    fake.send_private(jaime, f"@**{fake.bot.full_name}** agenda list", to=[fake.bot, olga])
    *_, group = wait_reply(fake, 4)
    assert group["type"] == "private" and "Agenda for Conda Ecosystem Meeting" in group["content"]
    assert sorted(r["email"] for r in group["display_recipient"]) == sorted(
        [fake.bot.email, "jaime@example.org", "olga@example.org"]
    )
    # the help in a stream spells commands with the mention a stream needs (a DM's help does not)
    fake.send_stream(jaime, "conda", "agenda talk", f"@**{fake.bot.full_name}** help")
    *_, helped = wait_reply(fake, 5)
    assert helped["subject"] == "agenda talk"
    assert f"`@**{fake.bot.full_name}** agenda add TEXT`" in helped["content"]
    assert f"`@**{fake.bot.full_name}** next`" in helped["content"]
    time.sleep(1.0)
    assert len(replies(fake)) == 5


def test_wildcard_mention_attempt_is_neutralized(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_private(jaime, "agenda add @**all** hi @**everyone** @*core team* @_**Jaime Rodríguez-Guerra**")
    (answer,) = wait_reply(fake)
    assert "Added to the agenda" in answer["content"]
    assert ZWSP + "@**all**" in answer["content"]
    assert mentions_in(answer["content"]) == []
    assert "JRG: @**all** hi" in bot.notes()  # the notes keep what was typed
    fake.send_stream(jaime, "conda", "t", f"@**{fake.bot.full_name}** agenda list")
    _, listing = wait_reply(fake, 2)
    assert "@**all** hi" in listing["content"].replace(ZWSP, "")
    assert mentions_in(listing["content"]) == []


def test_a_how_to_with_the_mention_in_inline_code_is_not_a_command(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_stream(
        jaime,
        "conda",
        "agenda bot",
        f"To add an item, type `@**{fake.bot.full_name}** agenda add TEXT` in any topic here.",
    )
    fake.send_stream(jaime, "conda", "agenda bot", f"@**{fake.bot.full_name}** agenda add Real item")
    (answer,) = wait_reply(fake)  # events are handled in order: the how-to came first
    assert "JRG: Real item" in answer["content"], answer["content"]
    notes = bot.notes()
    assert "- [ ] JRG: Real item" in notes and "TEXT" not in notes
    assert len(replies(fake)) == 1, [m["content"] for m in replies(fake)]


def test_unknown_user_gets_a_clear_answer(fake, start_bot):
    stranger = fake.add_user("stranger@example.org", "Some Stranger", api_key="k")
    bot = start_bot()
    fake.send_private(stranger, "agenda add Sneaky item")
    (answer,) = wait_reply(fake)
    assert answer["content"].startswith(":warning: ")
    assert "I don't know who you are (stranger@example.org)" in answer["content"]
    assert 'zulip_email = "stranger@example.org"' in answer["content"]
    assert "Sneaky" not in bot.notes()


def test_github_profile_field_and_unknown_users_allowed(fake, start_bot):
    jannis = fake.add_user("jannis@zulip.example", "Jannis Leidel", api_key="k", github="jezdez")
    other = fake.add_user("other@zulip.example", "Olga Other", api_key="k2")
    bot = start_bot(
        ZULIP_CONFIG.replace("[zulip]\n", "[zulip]\ngithub_profile_field = true\nallow_unknown_users = true\n")
    )
    fake.send_private(jannis, "agenda add Governance")
    wait_reply(fake)
    fake.send_private(other, "agenda add Hello")
    wait_reply(fake, 2)
    notes = bot.notes()
    assert "- [ ] JL: Governance" in notes  # from the GitHub profile field
    assert "- [ ] OO: Hello" in notes  # unknown, initials from the name
    assert fake.requests_to("GET", "realm/profile_fields")


def test_reminder_arrives_in_stream_and_topic(fake, start_bot):
    bot = start_bot(fake_now=BEFORE_REMINDER)
    (reminder,) = wait_reply(fake, timeout=20)
    assert reminder["type"] == "stream" and reminder["display_recipient"] == "conda"
    assert reminder["subject"] == "ecosystem meeting 2026-01-07"
    text = reminder["content"]
    assert text.startswith("**Conda Ecosystem Meeting** starts in 15 min: <time:2026-01-07T17:00:00Z>")
    assert "• America/Los_Angeles: Wed 09:00" in text and "• Asia/Tokyo: Thu 02:00 (+1 day)" in text
    assert "Join: https://zoom.example/j/1" in text
    assert "Notes: [20260107-eco.md](https://example.org/notes/20260107-eco.md)" in text
    assert "**Agenda so far:**" in text
    time.sleep(1.0)
    assert len(replies(fake)) == 1
    assert bot.stop() == 0


def test_expired_queue_is_reregistered(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    assert fake.expire_queues()
    fake.wait_for(lambda: len(fake.requests_to("POST", "register")) >= 2)
    assert any(r.status == 400 for r in fake.requests_to("GET", "events"))
    fake.wait_for(lambda: len(fake.queues) == 1)
    fake.send_private(jaime, "agenda add After the restart")
    (answer,) = wait_reply(fake)
    assert "After the restart" in answer["content"] and "After the restart" in bot.notes()
    assert "expired; registering a new one" in bot.output


def test_dropped_connection_and_server_errors_are_survived(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.fail_next("GET", "events", 1, status=None)  # connection closed without an answer
    fake.wait_for(lambda: any(r.status == -1 for r in fake.requests_to("GET", "events")))
    fake.fail_next("GET", "events", 1, status=429, retry_after=0.2)
    fake.wait_for(lambda: any(r.status == 429 for r in fake.requests_to("GET", "events")))
    fake.send_private(jaime, "next")
    (answer,) = wait_reply(fake)
    assert "<time:2026-01-07T17:00:00Z>" in answer["content"]
    assert bot.proc.poll() is None


def test_rate_limited_send_is_retried_once_after_the_delay(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    start_bot()
    fake.fail_next("POST", "messages", 1, status=429, retry_after=0.7)
    fake.send_private(jaime, "agenda add Rate limited")
    (answer,) = wait_reply(fake)
    assert "Rate limited" in answer["content"]
    posts = fake.requests_to("POST", "messages")
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.65
    time.sleep(0.5)
    assert len(replies(fake)) == 1


def test_sigterm_stops_promptly_and_deletes_the_queue(fake, start_bot):
    bot = start_bot()
    assert bot.stop() == 0  # exit 0 on SIGTERM: stop() kills (-9) after Docker's 10 s
    assert [r.status for r in fake.requests_to("DELETE", "events")] == [200]


def test_wrong_api_key_exits_with_a_clear_error(fake, start_bot):
    bot = start_bot(
        env={"ZULIP_SITE": fake.site, "ZULIP_EMAIL": fake.bot.email, "ZULIP_API_KEY": "wrong-key-9876"}, ready=False
    )
    assert bot.proc.wait(timeout=20) == 2
    out = bot.output
    assert "refused the credentials for agenda-bot@zulip.example" in out and "INVALID_API_KEY" in out
    assert "Traceback" not in out and "wrong-key-9876" not in out


def test_missing_credentials_exit_without_traceback(fake, start_bot):
    bot = start_bot(env={"ZULIP_EMAIL": fake.bot.email}, ready=False)
    assert bot.proc.wait(timeout=20) == 2
    out = bot.output
    assert "ZULIP_SITE" in out and "ZULIP_API_KEY" in out and "Traceback" not in out
    assert fake.requests == []


def test_zuliprc_relative_to_config_and_debug_logs_keep_the_key_secret(fake, start_bot, tmp_path):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    (tmp_path / "zuliprc").write_text(f"[api]\nemail={fake.bot.email}\nkey={fake.bot.api_key}\nsite={fake.site}\n")
    bot = start_bot(ZULIP_CONFIG.replace("[zulip]\n", '[zulip]\nzuliprc = "zuliprc"\n'), env={}, args=["-vv"])
    fake.send_private(jaime, "help")
    (answer,) = wait_reply(fake)
    assert "`agenda add TEXT`" in answer["content"]
    assert fake.requests_to("POST", "messages")[0].auth_email == fake.bot.email
    assert "DEBUG" in bot.output  # the most verbose logging; the fixture checks the key is absent


def test_remind_dry_run_needs_no_network_or_credentials(tmp_path):
    config = write_config(tmp_path, ZULIP_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZULIP_")}
    env["CHATBOT_FAKE_NOW"] = QUIET_NOW
    r = subprocess.run(
        [sys.executable, "-m", "chatbot", "remind", "--dry-run", "--backend", "zulip", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    # the real time left (2026-01-05 12:00 -> 2026-01-07 17:00), not the next reminder's offset
    assert "**Conda Ecosystem Meeting** starts in 2 d 5 h: <time:2026-01-07T17:00:00Z>" in r.stdout


def test_notify_dm_and_summary_topic_in_process(fake, tmp_path, monkeypatch):
    """notify() and post() with the real client against the fake, without a subprocess."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    backend = _env_backend(fake, tmp_path, monkeypatch)
    config = backend.bot.config
    eco = config.meeting("eco")
    person = config.person_by(initials="JRG")
    ping = Message(kind="notice").add(Mention(person), " you have 1 open action item(s): ", UserText("@**all** x"))
    fake.fail_next("POST", "messages", 2, status=429, retry_after=0.2)
    backend.notify(eco, person, ping)
    (dm,) = fake.sent_messages()
    assert dm["type"] == "private" and [r["email"] for r in dm["display_recipient"]][1] == "jaime@example.org"
    assert dm["content"].startswith(f"@**Jaime Rodríguez-Guerra|{jaime.user_id}** you have 1 open")
    assert mentions_in(dm["content"]) == [f"@**Jaime Rodríguez-Guerra|{jaime.user_id}**"]
    assert [r.status for r in fake.requests_to("POST", "messages")] == [429, 429, 200]
    # someone without a Zulip email is pinged in the stream; a message without a time goes to
    # the next meeting's topic
    jl = config.person_by(initials="JL")
    backend.notify(eco, jl, Message(kind="notice").add(Mention(jl), " you have 2 open action item(s)"))
    summary = Message(kind="notice").add(Text("Open action items before the meeting", bold=True))
    backend.post(eco, summary)
    _, to_stream, posted = fake.sent_messages()
    assert to_stream["content"] == "@**Jannis Leidel** you have 2 open action item(s)"
    assert (posted["display_recipient"], posted["subject"]) == ("conda", "ecosystem meeting 2026-01-07")
    assert posted["content"] == "**Open action items before the meeting**"
    assert len(fake.requests_to("GET", "users")) == 1  # the user list is cached


def test_a_renamed_user_is_still_mentioned(fake, tmp_path, monkeypatch):
    """Zulip only takes ``@**Name|id**`` for a mention while Name is the user's current name:
    the bot's user list must not keep someone's old name for as long as it runs."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    backend = _env_backend(fake, tmp_path, monkeypatch)
    eco = backend.bot.config.meeting("eco")
    person = backend.bot.config.person_by(initials="JRG")

    def ping() -> dict:
        backend.notify(eco, person, Message(kind="notice").add(Mention(person), " you have 1 open action item(s)"))
        return fake.sent_messages()[-1]

    first = ping()
    assert first["content"].startswith(f"@**Jaime Rodríguez-Guerra|{jaime.user_id}** ")
    assert "mentioned" in fake._flags(jaime, first)
    jaime.full_name = "Jaime R. Guerra"  # renamed in Zulip while the bot runs
    backend._users_fetched -= USER_CACHE_TTL  # the user list is as old as it may get
    second = ping()
    assert second["content"].startswith(f"@**Jaime R. Guerra|{jaime.user_id}** "), second["content"]
    assert "mentioned" in fake._flags(jaime, second)
    ping()
    assert len(fake.requests_to("GET", "users")) == 2  # fetched again once, then cached again


@pytest.mark.parametrize(
    "content, require, expected",
    [
        ("@**Agenda Bot** agenda add X", True, "agenda add X"),
        ("@**agenda bot**: /agenda list", True, "/agenda list"),
        ("@**Agenda Bot|100**, next", True, "next"),
        ("@**|100** help", True, "help"),
        ("@_**Agenda Bot** next", True, "next"),
        ("hey @**Agenda Bot** agenda list", True, "agenda list"),
        ("agenda list @**Agenda Bot**", True, "agenda list"),
        ("@**Agenda Bot|101** next", True, None),  # same name, another user id
        ("@**Someone** next", True, None),
        ("agenda list", True, None),
        ("```quote\n@**Agenda Bot** agenda add old\n```\nthanks", True, None),
        ("> @**Agenda Bot** agenda add old\nthanks", True, None),
        ("```quote\nagenda add old\n```\n@**Agenda Bot** next", True, "next"),
        ("thanks @**Agenda Bot**", True, None),  # talk about the bot, not a command
        ("ask @**Agenda Bot** for the times", True, None),
        ("@**Agenda Bot** thanks", True, "thanks"),  # addressed: it answers (with help)
        ("thanks @**Agenda Bot**", False, "thanks"),  # a one-to-one DM is always for the bot
        ("  agenda add X  ", False, "agenda add X"),
        ("~~~\nquoted\n~~~\nagenda list", False, "agenda list"),
        # inside inline code a mention is not one (Zulip renders it as code): how-to text, not a command
        ("To add an item, type `@**Agenda Bot** agenda add TEXT` in this topic", True, None),
        ("Try ``@**Agenda Bot** next`` or `@_**Agenda Bot** help`", True, None),
        (
            "`@**Agenda Bot** agenda add X` like this:\n@**Agenda Bot** agenda add Real item",
            True,
            "agenda add Real item",
        ),
        ("@**Agenda Bot** agenda add drop `conda-build` 3", True, "agenda add drop `conda-build` 3"),
    ],
)
def test_command_text(tmp_path, content, require, expected):
    backend = _backend(tmp_path)
    backend._me = {"user_id": 100, "full_name": "Agenda Bot", "email": "bot@zulip.example"}
    assert backend.command_text(content, require_mention=require) == expected


def test_unreachable_server_at_start_is_retried(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    fake.fail_next("GET", "server_settings", 2, status=None)  # connections dropped
    fake.fail_next("POST", "register", 1, status=502)
    bot = start_bot()
    assert [r.status for r in fake.requests_to("GET", "server_settings")][:2] == [-1, -1]
    assert fake.requests_to("POST", "register")[0].status == 502
    fake.send_private(jaime, "agenda list")
    (answer,) = wait_reply(fake)
    assert "No items yet" in answer["content"]
    assert "cannot connect to" in bot.output and "retrying" in bot.output


def test_remind_now_posts_once_to_the_stream(fake, tmp_path):
    config = write_config(tmp_path, ZULIP_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZULIP_")}
    env.update(
        {
            "CHATBOT_FAKE_NOW": QUIET_NOW,
            "ZULIP_SITE": fake.site,
            "ZULIP_EMAIL": fake.bot.email,
            "ZULIP_API_KEY": fake.bot.api_key,
        }
    )
    r = subprocess.run(
        [sys.executable, "-m", "chatbot", "remind", "--backend", "zulip", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    (posted,) = fake.sent_messages()
    assert (posted["display_recipient"], posted["subject"]) == ("conda", "ecosystem meeting 2026-01-07")
    assert posted["content"].startswith("**Conda Ecosystem Meeting** starts in 2 d 5 h: <time:2026-01-07T17:00:00Z>")
    assert fake.bot.api_key not in r.stdout + r.stderr


def test_allowed_places_limit_streams_but_not_dms(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot(
        ZULIP_CONFIG.replace('default_meeting = "eco"\n', 'default_meeting = "eco"\nallowed_places = ["conda"]\n')
    )
    fake.send_stream(jaime, "random", "x", f"@**{fake.bot.full_name}** agenda add Not here")
    (refused,) = wait_reply(fake)
    assert refused["display_recipient"] == "random" and "commands are not accepted here" in refused["content"]
    fake.send_stream(jaime, "conda", "x", f"@**{fake.bot.full_name}** agenda add In conda")
    fake.send_private(jaime, "agenda add By DM")
    wait_reply(fake, 3)
    notes = bot.notes()
    assert "JRG: In conda" in notes and "JRG: By DM" in notes and "Not here" not in notes


@pytest.mark.slow
def test_kill_9_with_200_adds_in_flight_keeps_every_acknowledged_item_once(fake, start_bot):
    from chatbot.notes.edit import agenda_items
    from chatbot.notes.parse import read_notes

    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    for i in range(200):
        fake.send_private(jaime, f"agenda add chaos item {i:03d}")
    wait_reply(fake, 30, timeout=60)
    bot.proc.kill()  # kill -9 in the middle of the stream of commands
    bot.proc.wait(10)
    acked = {
        int(m.group(1))
        for msg in fake.sent_messages()
        if (m := re.search(r"as item \d+: JRG: chaos item (\d{3})", msg["content"]))
    }
    assert len(acked) >= 30
    path = bot.dir / "notes" / "20260107-eco.md"
    notes = read_notes(path)  # the file parses: no torn write
    numbers = [int(it.text.rsplit(" ", 1)[1]) for it in agenda_items(notes, notes.section("New agenda items"))]
    assert len(numbers) == len(set(numbers)), "no command landed twice"
    assert acked <= set(numbers), "every command the user saw acknowledged is in the file"
    # a restarted bot goes on from there
    since = len(fake.sent_messages())
    registered = len(fake.requests_to("POST", "register"))
    start_bot(ready=False)
    fake.wait_for(lambda: len(fake.requests_to("POST", "register")) > registered, timeout=20)
    polls = len(fake.requests_to("GET", "events"))
    fake.wait_for(lambda: len(fake.requests_to("GET", "events")) > polls, timeout=20)  # its queue is live
    fake.send_private(jaime, "agenda add after the restart")
    (answer,) = wait_reply(fake, 1, since=since)
    assert f"as item {len(numbers) + 1}: JRG: after the restart" in answer["content"]


# ---------------------------------------------------------------------------------------
# Regressions found in review


def test_echoed_command_word_cannot_mention(fake, start_bot):
    """An unknown command is quoted back in the answer ("unknown command '@**all**'"): the
    quote, next to ', was a live wildcard mention the bot posted to the whole stream."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga", api_key="k")
    start_bot()
    bot_mention = f"@**{fake.bot.full_name}**"
    attacks = [
        "@**all**",
        "agenda @**everyone**",
        "actions @**topic**",
        "@*core*",
        "@_**channel**",
        f"@**Olga|{olga.user_id}**",
    ]
    for attack in attacks:
        fake.send_stream(jaime, "conda", "t", f"{bot_mention} {attack}")
    answers = wait_reply(fake, len(attacks))
    for attack, answer in zip(attacks, answers):
        assert "unknown" in answer["content"], answer["content"]
        assert attack.split()[-1].lower() in answer["content"].replace(ZWSP, "")  # still shown as typed
        assert mentions_in(answer["content"]) == [], answer["content"]
    # bot text that is not mention syntax is left alone (the address to copy into the config)
    stranger = fake.add_user("stranger@example.org", "Some Stranger", api_key="k")
    fake.send_private(stranger, "agenda add x")
    *_, unknown = wait_reply(fake, len(attacks) + 1)
    assert 'zulip_email = "stranger@example.org"' in unknown["content"]


def quote_and_reply(fake: FakeZulip, message: dict) -> str:
    """What Zulip's web app puts in the compose box for "Quote and reply" (compose_reply.ts)."""
    link = f"{fake.site}/#narrow/channel/{message.get('stream_id', 0)}-x/topic/t/near/{message['id']}"
    fence = "````" if "```" in message["content"] else "```"
    return (
        f"@_**{message['sender_full_name']}|{message['sender_id']}** [said]({link}):\n"
        f"{fence}quote\n{message['content']}\n{fence}\n"
    )


def test_quoting_the_bot_is_not_a_command(fake, start_bot):
    """Quote-and-reply to one of the bot's messages silently mentions the bot in its header;
    that is a comment on the bot's message, not a command."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_stream(jaime, "conda", "ecosystem meeting 2026-01-07", f"@**{fake.bot.full_name}** agenda list")
    (listing,) = wait_reply(fake)
    fake.send_stream(
        jaime, "conda", "ecosystem meeting 2026-01-07", quote_and_reply(fake, listing) + "\nI'll be 5 minutes late"
    )
    # messages are handled in order: once the next command is answered, the quote was seen
    fake.send_stream(jaime, "conda", "ecosystem meeting 2026-01-07", f"@**{fake.bot.full_name}** next")
    _, second = wait_reply(fake, 2)
    assert "<time:2026-01-07T17:00:00Z>" in second["content"], second["content"]
    # in a direct message, text after a quote of the bot is the command
    fake.send_private(jaime, quote_and_reply(fake, listing) + "\nagenda add Quoted then added")
    *_, added = wait_reply(fake, 3)
    assert "Added to the agenda" in added["content"], added["content"]
    assert "- [ ] JRG: Quoted then added" in bot.notes()
    fake.send_private(jaime, "next")
    wait_reply(fake, 4)
    assert len(replies(fake)) == 4, [m["content"] for m in replies(fake)]


@pytest.mark.parametrize(
    "content, require, expected",
    [
        (
            "@_**Agenda Bot|100** [said](https://z.example/#narrow/channel/5-conda/topic/t/near/9):\n"
            "```quote\nagenda list\n```\nthanks!",
            True,
            None,
        ),
        (
            "@_**Agenda Bot|100** [a dit](https://z.example/#narrow/dm/100-dm/near/9) :\n"
            "````quote\n```\nx\n```\n````\nagenda add Y",
            False,
            "agenda add Y",
        ),
        (
            "@_**Agenda Bot|100** [said](https://z.example/#narrow/near/9):\n```quote\nold\n```\n@**Agenda Bot** next",
            True,
            "next",
        ),
        ("@_**Agenda Bot** next", True, "next"),  # a silent mention outside a quote header still counts
    ],
)
def test_command_text_quote_header(tmp_path, content, require, expected):
    backend = _backend(tmp_path)
    backend._me = {"user_id": 100, "full_name": "Agenda Bot", "email": "bot@zulip.example"}
    assert backend.command_text(content, require_mention=require) == expected


def test_sigterm_while_answering_still_sends_the_answer(fake, start_bot):
    """The notes edit landed; a stop must not drop the answer that says so."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.fail_next("POST", "messages", 1, status=429, retry_after=3.0)
    fake.send_private(jaime, "agenda add Stopped mid-answer")
    fake.wait_for(lambda: fake.requests_to("POST", "messages"))  # the answer waits out the 429
    bot.proc.send_signal(signal.SIGTERM)
    assert bot.proc.wait(timeout=20) == 0
    assert "- [ ] JRG: Stopped mid-answer" in bot.notes()
    answers = [m["content"] for m in replies(fake)]
    assert len(answers) == 1 and "Stopped mid-answer" in answers[0], answers


def test_sigterm_with_the_server_unreachable_deletes_the_queue_once(fake, start_bot):
    """At stop, deleting the event queue is tried once: the client's own retries of an
    unreachable server (~10 s) would outlast a supervisor's stop timeout."""
    bot = start_bot()
    fake.fail_next("DELETE", "events", 50, status=None)  # connections dropped
    assert bot.stop() == 0
    assert [r.status for r in fake.requests_to("DELETE", "events")] == [-1]
    assert "could not delete the event queue" in bot.output


def test_stream_named_like_a_number(fake, start_bot, tmp_path):
    """Zulip reads a stream's ``to`` as JSON first: the name "2026" must not become stream id 2026."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    config = ZULIP_CONFIG.replace('zulip_stream = "conda"', 'zulip_stream = "2026"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZULIP_")}
    env.update(
        {
            "CHATBOT_FAKE_NOW": QUIET_NOW,
            "ZULIP_SITE": fake.site,
            "ZULIP_EMAIL": fake.bot.email,
            "ZULIP_API_KEY": fake.bot.api_key,
        }
    )
    remind_dir = tmp_path / "remind"
    remind_dir.mkdir()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatbot",
            "remind",
            "--backend",
            "zulip",
            "--config",
            str(write_config(remind_dir, config)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (posted,) = fake.sent_messages()
    assert (posted["display_recipient"], posted["subject"]) == ("2026", "ecosystem meeting 2026-01-07")
    # a command in that stream is answered there, and acts on its meeting
    start_bot(config)
    fake.send_stream(jaime, "2026", "plans", f"@**{fake.bot.full_name}** agenda add Numbered stream")
    _, answer = wait_reply(fake, 2)
    assert (answer["display_recipient"], answer["subject"]) == ("2026", "plans"), answer["content"]
    assert "Conda Ecosystem Meeting" in answer["content"]


@pytest.mark.slow
def test_server_restart_with_connections_refused_is_survived(fake, start_bot):
    """The server goes away (connections cut, then refused) and comes back on the same port:
    a message that reached its kept queue meanwhile is answered; after a restart that lost
    the queues the bot registers again and goes on."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.go_down()
    fake.wait_for(lambda: "connection problem" in bot.output, timeout=60)  # the client gave up once
    fake.send_private(jaime, "agenda add During the restart")
    fake.come_back()
    (answer,) = wait_reply(fake, timeout=90)
    assert "During the restart" in answer["content"] and "During the restart" in bot.notes()
    registered = len(fake.requests_to("POST", "register"))
    fake.go_down()
    fake.wait_for(lambda: bot.output.count("connection problem") >= 2, timeout=60)
    fake.send_private(jaime, "agenda add Lost with the queues")  # reaches the queue the restart drops
    fake.come_back(forget_queues=True)
    fake.wait_for(lambda: len(fake.requests_to("POST", "register")) > registered and fake.queues, timeout=90)
    _, caught = wait_reply(fake, 2, timeout=30)  # fetched after the new registration
    assert "Lost with the queues" in caught["content"]
    fake.send_private(jaime, "next")
    _, _, nxt = wait_reply(fake, 3, timeout=30)
    assert "<time:2026-01-07T17:00:00Z>" in nxt["content"]
    assert bot.notes().count("Lost with the queues") == 1
    assert bot.proc.poll() is None


# ---------------------------------------------------------------------------------------
# Catching up after a lost event queue


def test_fake_get_messages_behaves_like_the_server(fake):
    """The fake's ``GET /messages``, through the real client, as zerver/lib/narrow.py answers."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="olga-key")
    dm = fake.send_private(olga, "hi & <b>", to=[jaime])
    mention = fake.send_stream(olga, "conda", "t", f"@**{jaime.full_name}** look")
    plain = fake.send_stream(olga, "conda", "t", "plain")
    fake.send_private(olga, "not for jaime")  # to the bot
    wildcard = fake.send_stream(olga, "conda", "t", "@**all** meeting now")
    fake.send_stream(olga, "conda", "t", f"@_**{jaime.full_name}** silent")
    fake.send_stream(olga, "conda", "t", f"another name, same id: @**Jaime|{jaime.user_id}** is no mention")
    own = fake.send_stream(jaime, "conda", "t", f"by id @**|{jaime.user_id}**")
    client = zulip.Client(email=jaime.email, api_key=jaime.api_key, site=fake.site)

    def get(**request):
        return client.get_messages({"apply_markdown": False, **request})

    res = get(anchor="newest", num_before=10, num_after=0, narrow=[{"operator": "is", "operand": "dm"}])
    assert res["result"] == "success", res
    assert [m["id"] for m in res["messages"]] == [dm["id"]]
    assert res["messages"][0]["flags"] == [] and res["messages"][0]["content"] == "hi & <b>"
    assert (res["anchor"], res["found_anchor"], res["found_oldest"], res["found_newest"]) == (10**16, False, True, True)
    assert set(res["messages"][0]) >= {"sender_email", "display_recipient", "timestamp", "type", "subject"}
    res = get(anchor="oldest", num_before=0, num_after=100, narrow=[["is", "mentioned"]])
    assert [(m["id"], m["flags"]) for m in res["messages"]] == [
        (mention["id"], ["mentioned"]),
        (wildcard["id"], ["wildcard_mentioned"]),
        (own["id"], ["read", "mentioned"]),
    ]
    res = get(anchor="oldest", num_before=0, num_after=100, narrow=[["is", "private"]])
    assert [m["id"] for m in res["messages"]] == [dm["id"]]
    res = get(anchor=0, num_before=0, num_after=100, narrow=[{"operator": "is", "operand": "dm", "negated": True}])
    assert dm["id"] not in [m["id"] for m in res["messages"]] and len(res["messages"]) == 6
    # a numeric anchor, with and without the anchor message
    res = get(anchor=mention["id"], num_before=0, num_after=2)
    assert [m["id"] for m in res["messages"]] == [mention["id"], plain["id"], wildcard["id"]]
    assert res["found_anchor"] is True and res["found_newest"] is False
    res = get(anchor=mention["id"], include_anchor=False, num_before=0, num_after=2)
    assert [m["id"] for m in res["messages"]] == [plain["id"], wildcard["id"]] and res["found_anchor"] is False
    res = get(anchor=own["id"], include_anchor=False, num_before=0, num_after=2)
    assert res["messages"] == [] and res["found_newest"] is True
    res = get(anchor=wildcard["id"], num_before=1, num_after=0)
    assert [m["id"] for m in res["messages"]] == [plain["id"], wildcard["id"]] and res["found_oldest"] is False
    assert get(anchor="first_unread", num_before=0, num_after=0)["anchor"] == dm["id"]
    # rendered unless told otherwise; the errors the server gives
    html = client.get_messages({"anchor": dm["id"], "num_before": 0, "num_after": 0})["messages"][0]
    assert html["content"] == "<p>hi &amp; &lt;b></p>" and html["content_type"] == "text/html"
    assert (
        get(anchor=1, include_anchor=False, num_before=1, num_after=1)["msg"]
        == "The anchor can only be excluded at an end of the range"
    )
    assert get(anchor="newest", num_before=5000, num_after=1)["msg"] == "Too many messages requested (maximum 5000)."
    assert get(num_before=1, num_after=0)["msg"] == "Missing 'anchor' argument."
    assert get(anchor="later", num_before=1, num_after=0)["msg"] == "Invalid anchor"


def test_fake_get_messages_on_an_old_server():
    with FakeZulip(version="5.0", feature_level=150) as old:
        jaime = old.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
        first = old.send_private(jaime, "one")
        second = old.send_private(jaime, "two")
        client = zulip.Client(email=jaime.email, api_key=jaime.api_key, site=old.site)
        res = client.get_messages(
            {"anchor": "oldest", "num_before": 0, "num_after": 9, "narrow": [{"operator": "is", "operand": "dm"}]}
        )
        assert (res["result"], res["code"]) == ("error", "BAD_NARROW")
        res = client.get_messages(
            {
                "anchor": first["id"],
                "include_anchor": False,
                "num_before": 0,
                "num_after": 9,
                "narrow": [{"operator": "is", "operand": "private"}],
            }
        )
        assert [m["id"] for m in res["messages"]] == [first["id"], second["id"]]  # include_anchor unknown


def narrow_operand(request) -> str | None:
    """The ``is:`` operand of a ``GET /messages`` request; None for no narrow (all messages)."""
    narrow = request.params["narrow"]
    return narrow[0]["operand"] if narrow else None


def queue_lost(fake: FakeZulip) -> None:
    """The server forgets the bot's event queue, and the bot's new registration waits until
    ``fake.release("POST", "register")``: whatever is sent meanwhile reaches no queue."""
    registered = len(fake.requests_to("POST", "register"))
    fake.hold("POST", "register")
    assert fake.expire_queues()
    fake.wait_for(lambda: len(fake.requests_to("POST", "register")) > registered)


def test_commands_sent_while_the_queue_was_lost_are_answered_once(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="k")
    bot = start_bot()
    first = fake.send_private(jaime, "agenda add Before the loss")
    wait_reply(fake)
    queue_lost(fake)
    mention = f"@**{fake.bot.full_name}**"
    lost = fake.send_private(jaime, "agenda add Sent while the queue was lost")
    fake.send_stream(jaime, "conda", "plans", f"thanks {mention}")  # talk about the bot, not a command
    fake.send_stream(jaime, "conda", "plans", f"```quote\n{mention} agenda add Quoted\n```\nold news")
    fake.send_private(jaime, "agenda add Group chatter", to=[fake.bot, olga])  # a group DM needs a mention
    fake.send_stream(jaime, "random", "x", "agenda add not for the bot")
    fake.send_stream(jaime, "conda", "plans", f"{mention} agenda list")
    assert not fake.queues  # nothing delivered these
    fake.release("POST", "register")
    _, added, listing = wait_reply(fake, 3)
    assert added["type"] == "private" and "as item 2: JRG: Sent while the queue was lost" in added["content"]
    assert (listing["display_recipient"], listing["subject"]) == ("conda", "plans")
    assert "1. JRG: Before the loss" in listing["content"]
    assert "2. JRG: Sent while the queue was lost" in listing["content"]
    # fetched through the real API: newer than the last message seen, direct messages and mentions
    fetches = fake.requests_to("GET", "messages")
    # and everything the bot received (no narrow), for silent mentions, which is:mentioned misses
    assert sorted(map(str, map(narrow_operand, fetches))) == ["None", "dm", "mentioned"]
    for f in fetches:
        assert first["id"] <= f.params["anchor"] < lost["id"], f.params
        assert (f.params["include_anchor"], f.params["num_before"], f.params["apply_markdown"]) == (False, 0, False)
    # the new queue goes on, and nothing was answered twice
    fake.send_private(jaime, "next")
    *_, nxt = wait_reply(fake, 4)
    assert "<time:2026-01-07T17:00:00Z>" in nxt["content"]
    assert len(replies(fake)) == 4, [m["content"] for m in replies(fake)]
    notes = bot.notes()
    assert notes.count("Sent while the queue was lost") == 1 and notes.count("Before the loss") == 1
    assert "Quoted" not in notes and "Group chatter" not in notes and "not for the bot" not in notes
    assert "caught up 2 message(s) sent while the event queue was lost" in bot.output


def test_a_restarted_bot_does_not_answer_old_messages(fake, start_bot):
    """Catching up is for a lost queue: a new process starts from the newest message, and a
    lost queue later on is caught up from there, not from before the restart."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    first = start_bot()
    fake.send_private(jaime, "agenda add Answered before the restart")
    wait_reply(fake)
    assert first.stop() == 0
    fake.send_private(jaime, "agenda add Sent while the bot was stopped")
    registered, polls = len(fake.requests_to("POST", "register")), len(fake.requests_to("GET", "events"))
    second = start_bot(ready=False)
    fake.wait_for(lambda: any(r.status == 200 for r in fake.requests_to("POST", "register")[registered:]))
    fake.wait_for(lambda: any(r.status == 200 for r in fake.requests_to("GET", "events")[polls:]))
    assert not fake.requests_to("GET", "messages")  # nothing fetched at the start
    queue_lost(fake)
    fake.send_private(jaime, "agenda add Sent while the queue was lost")
    fake.release("POST", "register")
    _, caught = wait_reply(fake, 2)
    assert "as item 2: JRG: Sent while the queue was lost" in caught["content"], caught["content"]
    fake.send_private(jaime, "agenda list")
    *_, listing = wait_reply(fake, 3)
    assert len(replies(fake)) == 3, [m["content"] for m in replies(fake)]
    assert "1. JRG: Answered before the restart" in listing["content"]
    notes = second.notes()
    assert notes.count("Answered before the restart") == 1 and "Sent while the bot was stopped" not in notes
    assert "caught up 1 message(s) sent while the event queue was lost" in second.output


def test_a_message_both_caught_up_and_delivered_by_the_new_queue_is_answered_once(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_private(jaime, "agenda add Before the loss")
    wait_reply(fake)
    fake.hold("GET", "messages")
    assert fake.expire_queues()
    fake.wait_for(lambda: fake.requests_to("GET", "messages"))  # a new queue exists; the catch-up waits
    assert len(fake.queues) == 1
    twice = fake.send_private(jaime, "agenda add Delivered twice")  # to the new queue, and found by the fetch
    fake.release("GET", "messages")
    _, added = wait_reply(fake, 2)
    assert "as item 2: JRG: Delivered twice" in added["content"]
    fake.send_private(jaime, "next")
    *_, nxt = wait_reply(fake, 3)
    assert "<time:2026-01-07T17:00:00Z>" in nxt["content"]
    assert len(replies(fake)) == 3, [m["content"] for m in replies(fake)]
    assert bot.notes().count("Delivered twice") == 1
    # it really came both ways
    fetched = [m["id"] for r in fake.requests_to("GET", "messages") for m in (r.answer or {}).get("messages", [])]
    delivered = [
        e["message"]["id"]
        for r in fake.requests_to("GET", "events")
        for e in (r.answer or {}).get("events", [])
        if e.get("type") == "message"
    ]
    assert twice["id"] in fetched and twice["id"] in delivered


def _env_backend(fake: FakeZulip, tmp_path, monkeypatch) -> ZulipBackend:
    """A backend whose credentials come from ZULIP_SITE/ZULIP_EMAIL/ZULIP_API_KEY (the fake's)."""
    monkeypatch.delenv("ZULIP_CONFIG", raising=False)
    monkeypatch.setenv("ZULIP_SITE", fake.site)
    monkeypatch.setenv("ZULIP_EMAIL", fake.bot.email)
    monkeypatch.setenv("ZULIP_API_KEY", fake.bot.api_key)
    backend = _backend(tmp_path)
    return backend


def _connected(fake: FakeZulip, tmp_path, monkeypatch) -> ZulipBackend:
    backend = _env_backend(fake, tmp_path, monkeypatch)
    assert backend.connect(threading.Event())
    return backend


def test_catch_up_on_an_old_server_uses_is_private_and_skips_the_anchor(tmp_path, monkeypatch):
    """Before Zulip 7.0 there is no is:dm, before 6.0 no include_anchor (the anchor message is
    always returned): the bot asks for is:private from the message after the last one seen."""
    with FakeZulip(version="5.0", feature_level=150) as old:
        jaime = old.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
        seen = old.send_private(jaime, "agenda add Seen before the loss")
        backend = _connected(old, tmp_path, monkeypatch)
        backend._seen_max = seen["id"]
        old.send_private(jaime, "agenda add After the loss")
        old.send_stream(jaime, "conda", "t", f"@**{old.bot.full_name}** next")
        assert backend._catch_up(backend._events_client, threading.Event(), _Backoff())
        added, nxt = old.sent_messages()
        assert "as item 1: JRG: After the loss" in added["content"]
        assert nxt["display_recipient"] == "conda" and "<time:2026-01-07T17:00:00Z>" in nxt["content"]
        fetches = old.requests_to("GET", "messages")
        assert [narrow_operand(f) for f in fetches] == ["private", "mentioned", None]
        assert all(f.params["anchor"] == seen["id"] + 1 and "include_anchor" not in f.params for f in fetches)
        assert "Seen before the loss" not in (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")


def test_catch_up_is_limited_to_1000_messages_and_24_hours(fake, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="chatbot.backends.zulip")
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="k")
    seen = fake.send_private(jaime, "agenda add Seen")
    day_ago = int(time.time()) - 25 * 3600
    for i in range(3):
        fake.send_private(jaime, f"agenda add Too old {i}", timestamp=day_ago)
    fake.send_private(jaime, "agenda add Within the limits")
    chatter = [fake.send_private(jaime, f"chatter {i}", to=[fake.bot, olga]) for i in range(CATCH_UP_MAX)]
    fake.send_private(jaime, "agenda add Beyond the limit")
    backend = _connected(fake, tmp_path, monkeypatch)
    backend._seen_max = seen["id"]
    assert backend._catch_up(backend._events_client, threading.Event(), _Backoff())
    (answer,) = fake.sent_messages()
    assert "as item 1: JRG: Within the limits" in answer["content"]
    fetches = fake.requests_to("GET", "messages")
    dm_anchors = [f.params["anchor"] for f in fetches if narrow_operand(f) == "dm"]
    assert len(dm_anchors) == CATCH_UP_MAX // 200 and dm_anchors[0] == seen["id"]  # pages of 200
    assert all(f.params["num_after"] == 200 for f in fetches)
    last = chatter[CATCH_UP_MAX - 5]["id"]  # the 1000th message after the one seen
    text = caplog.text
    assert "caught up 1 message(s) sent while the event queue was lost" in text
    assert "3 message(s) sent while the event queue was lost are older than 24 h" in text
    assert f"those after message {last} were not answered" in text
    assert backend._seen_max == last


# ---------------------------------------------------------------------------------------
# Platform edges: long answers, other bots, floods, code blocks, multi-line items, silent mentions


def test_split_content_keeps_everything_under_the_limit():
    from chatbot.backends.zulip import split_content

    lines = [f"{n}. " + "word " * 40 for n in range(1, 400)]
    text = "\n".join(lines)
    parts = split_content(text)
    assert len(parts) == 9 and all(len(p) <= 10000 for p in parts)
    assert "\n".join(parts) == text  # split between lines: nothing dropped, nothing added
    # a single line longer than a message is split inside it (after a space where it has one)
    long = "\n".join(["head", "x" * 25000, "a " * 6000, "tail"])
    parts = split_content(long)
    assert all(len(p) <= 10000 for p in parts)
    assert "".join(parts).replace("\n", "") == long.replace("\n", "")
    assert split_content("short") == ["short"]


def test_a_long_answer_is_sent_as_several_messages_never_cut(fake, start_bot):
    """Zulip cuts a message after 10,000 characters: a long agenda comes as several messages,
    each whole, together with every item."""
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_private(jaime, "agenda add First item")
    wait_reply(fake)
    path = bot.dir / "notes" / "20260107-eco.md"
    text = path.read_text(encoding="utf-8")
    items = [f"- [ ] JL: item {n:02d} " + "long discussion " * 55 for n in range(2, 31)]
    path.write_text(
        text.replace("- [ ] JRG: First item\n", "- [ ] JRG: First item\n" + "\n".join(items) + "\n"), encoding="utf-8"
    )
    fake.send_private(jaime, "agenda list")
    wait_reply(fake, 3, since=1)
    time.sleep(1.0)  # would more follow?
    parts = replies(fake, since=1)
    assert len(parts) == 3, [len(p["content"]) for p in parts]
    assert all("[message truncated]" not in p["content"] and len(p["content"]) <= 10000 for p in parts)
    listing = "\n".join(p["content"] for p in parts)
    assert all(f"{n}. JL: item {n:02d} " in listing for n in range(2, 31)), listing[-300:]
    assert listing.startswith("**Agenda for Conda Ecosystem Meeting on 2026-01-07**")
    assert "Notes: [20260107-eco.md]" in parts[-1]["content"]


def test_other_bots_are_not_answered(fake, start_bot):
    """An echo bot and this bot would otherwise talk without end."""
    echo = fake.add_user("echo-bot@zulip.example", "Echo Bot", api_key="echo-key", is_bot=True)
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    fake.send_private(echo, "agenda list")
    fake.send_stream(echo, "conda", "echo", f"@**{fake.bot.full_name}** next")
    fake.send_private(jaime, "next")  # handled after the two above (one event queue, in order)
    (answer,) = wait_reply(fake)
    assert answer["display_recipient"][1]["email"] == "jaime@example.org"
    time.sleep(0.5)
    assert len(replies(fake)) == 1
    assert "ignored a command from the bot echo-bot@zulip.example" in bot.output
    assert not fake.requests_to("GET", f"users/{echo.user_id}")  # the user list says it is a bot


def test_replies_are_rate_limited_per_conversation(fake, tmp_path, monkeypatch):
    from chatbot.backends.zulip import ReplyLimiter

    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    backend = _connected(fake, tmp_path, monkeypatch)
    now = [0.0]
    backend.limiter = ReplyLimiter(burst=10, refill=3.0, clock=lambda: now[0])  # a fixed clock
    flood = [fake.send_stream(jaime, "conda", "loop", f"@**{fake.bot.full_name}** agenda add loop") for _ in range(15)]
    for m in flood:
        backend.on_message(m, fake._flags(fake.bot, m))
    sent = fake.sent_messages()
    assert len(sent) == 11  # 10 answers, then one notice for the 5 commands not run
    assert sum("Added to the agenda" in m["content"] for m in sent) == 10
    assert sent[-1]["content"].startswith(":warning: too many commands in this conversation")
    assert (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8").count("JRG: loop") == 10
    backend.on_message(fake.send_private(jaime, "next"), [])  # another conversation is answered
    assert len(fake.sent_messages()) == 12
    now[0] += 6.0  # two more commands in that topic after 6 s; the third is refused and said so again
    for m in flood[:3]:
        backend.on_message(m, fake._flags(fake.bot, m))
    sent = fake.sent_messages()
    assert len(sent) == 15 and sent[-1]["content"].startswith(":warning: too many commands")


def test_a_mention_in_an_indented_code_block_is_not_a_command(tmp_path):
    backend = _backend(tmp_path)
    backend._me = {"user_id": 100, "full_name": "Agenda Bot", "email": "bot@zulip.example"}
    assert backend.command_text("Example:\n\n    @**Agenda Bot** agenda add TEXT\n\nthat's it", True) is None
    assert backend.command_text("    @**Agenda Bot** agenda add X", True) is None
    assert backend.command_text("\t@**Agenda Bot** next", True) is None
    # indented lines inside a paragraph are not a code block (Markdown needs a blank line first)
    assert backend.command_text("see\n    @**Agenda Bot** next", True) == "next"
    assert backend.command_text("    code\n\n@**Agenda Bot** next", True) == "next"


def test_a_multi_line_agenda_add_is_refused_with_a_reason_never_cut(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    bot = start_bot()
    cases = [
        ("agenda add Build matrix\n```yaml\nos: [linux, osx]\n```", "code block"),
        ("agenda add Governance\n> quoted policy text", "quote"),
        ("agenda add Surprise\n```spoiler Details\nhidden\n```", "spoiler"),
        ("agenda add Traceback\n\n    File x.py, line 1", "code block"),
    ]
    for n, (content, kind) in enumerate(cases, 1):
        fake.send_private(jaime, content)
        answer = wait_reply(fake, n)[-1]["content"]
        assert answer.startswith(":warning:") and f"a {kind} after it" in answer and "nothing was added" in answer
    # more lines of text are refused too (tests/test_zulip_faults.py); one line is added
    fake.send_private(jaime, "agenda add One line")
    assert "JRG: One line" in wait_reply(fake, 5)[-1]["content"]
    notes = bot.notes()
    assert "- [ ] JRG: One line" in notes
    assert not any(word in notes for word in ("Build matrix", "Governance", "Surprise", "Traceback"))


def test_a_silent_mention_sent_while_the_queue_was_lost_is_answered(fake, start_bot):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    start_bot()
    fake.send_private(jaime, "next")
    wait_reply(fake)
    queue_lost(fake)
    fake.send_stream(jaime, "conda", "plans", f"@_**{fake.bot.full_name}** agenda add Silently asked")
    fake.send_stream(jaime, "conda", "plans", "unrelated chatter")
    fake.release("POST", "register")
    (_, answer) = wait_reply(fake, 2)
    assert (answer["display_recipient"], answer["subject"]) == ("conda", "plans")
    assert "JRG: Silently asked" in answer["content"]
    time.sleep(0.5)
    assert len(replies(fake)) == 2


def test_a_command_fetches_its_sender_at_most_once(fake, start_bot):
    """Issue 23: someone who joined after the bot read the user list, with ``github_profile_field``
    on, is fetched once (``GET /users/{id}``, with the profile fields) for one command: whether
    they are a bot and their GitHub login come from the same answer."""
    bot = start_bot(ZULIP_CONFIG.replace("[zulip]\n", "[zulip]\ngithub_profile_field = true\n"))
    jannis = fake.add_user("jannis@zulip.example", "Jannis Leidel", api_key="k", github="jezdez")
    fake.send_private(jannis, "agenda add Governance")
    (answer,) = wait_reply(fake)
    assert "JL: Governance" in answer["content"]
    assert "- [ ] JL: Governance" in bot.notes()  # known by the GitHub profile field
    assert len(fake.requests_to("GET", f"users/{jannis.user_id}")) == 1
    fake.send_private(jannis, "agenda list")
    wait_reply(fake, 2)
    assert len(fake.requests_to("GET", f"users/{jannis.user_id}")) == 1  # remembered for the next command
