"""Zulip: six documented behaviours an outside tester found mishandled (issue 22), each end to
end: the real bot process (``chatbot run --backend zulip``, the real ``zulip`` client) against
the fake Zulip server, which speaks them as the API documents them:

- long answers fit the server's ``max_message_length`` (``POST /register``, code points), also
  when the bot strikes an item through in its own message;
- other bots' messages (and the bot's own) are never answered, nor their reactions acted on;
- topics fit the server's ``max_topic_length`` (the server cuts longer ones with "...") and keep
  their date;
- a mention of the bot in code is not addressing it (Zulip renders none there: no ``mentioned``
  flag);
- a multi-line ``agenda add`` is refused with the reason (an item is one line);
- commands sent while the event queue was gone (``BAD_EVENT_QUEUE_ID``) are fetched with
  ``GET /messages`` after registering again, and each is acted on once.
"""

from __future__ import annotations

import re

import pytest

from fakes.zulip import FakeZulip
from test_zulip import ZULIP_CONFIG, narrow_operand, queue_lost, replies
from test_zulip import fake, start_bot  # noqa: F401 (fixtures: the real bot process against a fake Zulip)
from test_zulip import wait_reply as zulip_wait_reply
from test_zulip_reactions import listening_again

JAIME = ("jaime@example.org", "Jaime Rodríguez-Guerra")


def wait_reply(fake: FakeZulip, count: int = 1, timeout: float = 20, since: int = 0) -> list[dict]:
    """test_zulip's, with more time: these tests start bots that first catch up or register twice."""
    return zulip_wait_reply(fake, count, since, timeout)


def settled(fake: FakeZulip, count: int) -> None:
    """No more than ``count`` bot messages: the bot handled every event delivered so far (its
    queue is polled again, i.e. the events before were acted on) and sent nothing more."""
    polls = len(fake.requests_to("GET", "events"))
    fake.wait_for(lambda: len([r for r in fake.requests_to("GET", "events")[polls:] if r.status == 200]) >= 2)
    assert len(replies(fake)) == count, [m["content"][:80] for m in replies(fake)]


# ---------------------------------------------------------------------------------------
# Long answers


def test_a_long_answer_fits_the_max_message_length_the_server_reports(fake, start_bot):
    """A server may keep fewer than 10,000 characters (``max_message_length`` of its register
    answer): the bot splits at that many characters (code points, not bytes), never cut."""
    fake.max_message_length = 3000
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    bot = start_bot()
    fake.send_private(jaime, "agenda add First item")
    wait_reply(fake)
    path = bot.dir / "notes" / "20260107-eco.md"
    items = [f"- [ ] JL: item {n:02d} Ünïcödé ✅ 🚀 " + "résumé " * 12 for n in range(2, 41)]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("- [ ] JRG: First item\n", "- [ ] JRG: First item\n" + "\n".join(items) + "\n"))
    fake.send_private(jaime, "agenda list")
    fake.wait_for(lambda: any("Notes: [20260107-eco.md]" in m["content"] for m in replies(fake)[1:]))
    parts = replies(fake)[1:]
    assert len(parts) >= 2
    assert all("[message truncated]" not in p["content"] and len(p["content"]) <= 3000 for p in parts)
    assert max(len(p["content"].encode("utf-8")) for p in parts) > 3000  # counted in characters
    listing = "\n".join(p["content"] for p in parts)
    assert all(f"{n}. JL: item {n:02d} " in listing for n in range(2, 41))
    settled(fake, 1 + len(parts))
    (register,) = fake.requests_to("POST", "register")  # the limit is the register answer's
    assert "realm" in register.params["fetch_event_types"] and register.answer["max_message_length"] == 3000


def _actions_config() -> str:
    # no chair's review DM after the meeting: these tests read the bot's first answer to Jaime (an admin)
    text = ZULIP_CONFIG.replace(
        'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"\n',
        'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"\n\n[meetings.actions]\nreview_after = "none"\n',
    )
    return text.replace("[zulip]\n", '[[people]]\ninitials = "MO"\nname = "Maria Owner"\n\n[zulip]\n')


def test_striking_an_item_through_never_makes_the_message_longer_than_the_server_keeps(fake, start_bot, tmp_path):
    """`done N` edits the bot's list; when the struck-through text would not fit the server's
    limit (Zulip would cut the message), the bot confirms with a ✅ reaction instead."""
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    notes = tmp_path / "notes"
    notes.mkdir()
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa"
    words += " quebec romeo sierra tango"
    items = "".join(
        f"- [ ] MO: action number {n:02d} {w} " + f"{w} " * 8 + "\n" for n, w in enumerate(words.split(), 1)
    )
    att = "## Attendees\n| Name | Initials |\n| -- | -- |\n| Maria | MO |\n\n"
    (notes / "20260107-eco.md").write_text(f"# Conda Ecosystem Meeting 2026-01-07\n\n{att}## Action items\n\n{items}")
    proc = start_bot(_actions_config(), fake_now="2026-01-12T12:00:00Z")
    fake.send_private(jaime, "actions")
    (whole,) = wait_reply(fake)
    lines = whole["content"].split("\n")
    assert len(lines) > 13, whole["content"]
    assert lines[1].startswith("1. [2026-01-07] MO: action number") and lines[12].startswith("12. [2026-01-07]")
    first, twelfth = (re.search(r"action number \d+", lines[n]).group(0) for n in (1, 12))
    proc.stop()
    # the server keeps exactly the first 11 lines: the list comes as two messages, the first full
    fake.max_message_length = len("\n".join(lines[:11]))
    registered = len(fake.requests_to("POST", "register"))
    start_bot(_actions_config(), fake_now="2026-01-12T12:00:00Z", ready=False)
    listening_again(fake, registered)
    fake.send_private(jaime, "actions")
    _, part1, part2 = wait_reply(fake, 3)
    assert part1["content"] == "\n".join(lines[:11]) and part2["content"] == "\n".join(lines[11:])
    fake.send_private(jaime, "done 1")
    _, _, _, answer = wait_reply(fake, 4)
    assert first in answer["content"] and not answer["content"].startswith(":warning:")

    def confirmed():
        return [r for r in fake.message(part1["id"])["reactions"] if r["user_id"] == fake.bot.user_id]

    (mark,) = fake.wait_for(confirmed)
    assert mark["emoji_code"] == "2705"
    assert fake.message(part1["id"])["content"] == part1["content"]  # not edited, not cut
    assert not fake.requests_to("PATCH", f"messages/{part1['id']}")
    assert f"- [x] MO: {first} " in (notes / "20260107-eco.md").read_text()
    # an item in the second, shorter message is struck through there
    fake.send_private(jaime, "done 12")
    wait_reply(fake, 5)
    fake.wait_for(lambda: fake.edits)
    new = fake.message(part2["id"])["content"]
    assert f"~~12. [2026-01-07] MO: {twelfth} " in new and "[message truncated]" not in new


# ---------------------------------------------------------------------------------------
# Other bots, and the bot itself


def test_bots_and_the_bot_itself_are_never_answered(fake, start_bot, tmp_path):
    echo = fake.add_user("echo-bot@zulip.example", "Echo Bot", api_key="echo-key", is_bot=True)
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    bot = start_bot()
    mention = f"@**{fake.bot.full_name}**"
    fake.send_private(echo, "agenda add From a bot")
    fake.send_stream(echo, "conda", "echo", f"{mention} agenda add From a bot in a stream")
    fake.send_private(fake.bot, "agenda add From the bot itself", to=[jaime])
    fake.send_stream(fake.bot, "conda", "self", f"{mention} agenda add From the bot itself in a stream")
    # a bot created after the bot started, whose lookup fails: Zulip cannot say it is no bot
    late = fake.add_user("late-bot@zulip.example", "Late Bot", api_key="late-key", is_bot=True)
    fake.fail_next("GET", f"users/{late.user_id}", status=400)
    fake.send_private(late, "agenda add From a bot nobody could look up")
    fake.send_private(jaime, "next")  # handled after the others (one event queue, in order)
    (answer,) = wait_reply(fake, since=2)  # after the two messages the bot itself "sent" above
    assert [r["email"] for r in answer["display_recipient"] if r["id"] != fake.bot.user_id] == [jaime.email]
    settled(fake, 3)
    assert "JRG: From" not in bot.notes() and "From a bot" not in bot.notes()
    assert "ignored a command from the bot echo-bot@zulip.example" in bot.output
    assert "Zulip cannot say whether they are a bot" in bot.output
    assert not fake.requests_to("GET", f"users/{echo.user_id}")  # the user list said so


def test_a_bots_reaction_ticks_nothing(fake, start_bot, tmp_path):
    """A bot in the user list (known when the bot started) reacts ✅ on a list of one item."""
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    echo = fake.add_user("echo-bot@zulip.example", "Echo Bot", api_key="echo-key", is_bot=True)
    notes = tmp_path / "notes"
    notes.mkdir()
    path = notes / "20260107-eco.md"
    path.write_text("# Conda Ecosystem Meeting 2026-01-07\n\n## Action items\n\n- [ ] MO: write the docs\n")
    bot = start_bot(_actions_config(), fake_now="2026-01-12T12:00:00Z")
    fake.send_stream(jaime, "conda", "actions", f"@**{fake.bot.full_name}** actions")
    (listing,) = wait_reply(fake)
    assert "1. [2026-01-07] MO: write the docs" in listing["content"]
    fake.react(echo, listing["id"], "check")
    fake.wait_for(lambda: "ignored a reaction by the bot echo-bot@zulip.example" in bot.output)
    assert "- [ ] MO: write the docs" in path.read_text() and not fake.edits
    fake.react(jaime, listing["id"], "check")  # a person's ✅ does tick it
    fake.wait_for(lambda: fake.edits)
    assert "- [x] MO: write the docs" in path.read_text()


# ---------------------------------------------------------------------------------------
# Topic length


LONG_NAME = "Conda Community Ecosystem Interoperability and Governance Meeting"


@pytest.mark.parametrize(
    ("pattern", "limit"),
    [
        ("{name} {date:%Y-%m-%d}", 60),  # the default pattern, Zulip's 60
        ("{name} {date:%Y-%m-%d}", 40),  # a server that says 40
        ("weekly conda community ecosystem interoperability sync {date:%Y-%m-%d}", 60),  # no {name}
    ],
)
def test_the_reminder_topic_fits_the_servers_max_topic_length_and_keeps_its_date(fake, start_bot, pattern, limit):
    """Zulip cuts a longer topic (to ``max_topic_length`` code points, ending "..."): the bot
    sends one that fits, with its date, so each meeting keeps its own topic."""
    fake.max_topic_length = limit
    config = ZULIP_CONFIG.replace('name = "Conda Ecosystem Meeting"', f'name = "{LONG_NAME}"', 1).replace(
        'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"', f'zulip_topic = "{pattern}"'
    )
    start_bot(config, fake_now="2026-01-07T16:44:55Z")
    (reminder,) = wait_reply(fake)
    (sent,) = [r for r in fake.requests_to("POST", "messages") if r.status == 200]
    assert reminder["subject"] == sent.params["topic"], "the server had to cut the topic"
    assert len(reminder["subject"]) <= limit and reminder["subject"].endswith(" 2026-01-07"), reminder["subject"]
    assert "…" in reminder["subject"] and "..." not in reminder["subject"]


# ---------------------------------------------------------------------------------------
# Mentions in code


CODE_MENTIONS = [
    "To add an item: `{m} agenda add TEXT`",
    "Like this:\n```\n{m} agenda add From a fenced block\n```",
    "Like this:\n~~~ text\n{m} agenda add From a tilde block\n~~~",
    "Like this:\n\n    {m} agenda add From an indented block\n\nthat's all",
    "``{m} agenda add From double backticks``",
    "`{m}` agenda add After inline code",
]


def test_a_mention_of_the_bot_in_code_is_not_addressing_it(fake, start_bot):
    """In a stream, in a group direct message, and after the queue was lost (from history)."""
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="k")
    bot = start_bot()
    m = f"@**{fake.bot.full_name}**"
    for text in CODE_MENTIONS:
        sent = fake.send_stream(jaime, "conda", "how to", text.format(m=m))
        assert "mentioned" not in fake._flags(fake.bot, sent), "Zulip renders no mention in code"
        fake.send_private(jaime, text.format(m=m), to=[fake.bot, olga])
    # a mention Zulip does not render (not the bot's current name) is not one either
    fake.send_stream(jaime, "conda", "how to", f"@**Old Bot Name|{fake.bot.user_id}** agenda add Old name")
    fake.send_stream(jaime, "conda", "how to", f"{m} agenda add Real item")
    (answer,) = wait_reply(fake)
    assert "JRG: Real item" in answer["content"]
    settled(fake, 1)
    queue_lost(fake)
    for text in CODE_MENTIONS:
        fake.send_stream(jaime, "conda", "how to", text.format(m=m))
    fake.release("POST", "register")
    fake.wait_for(lambda: "caught up" in bot.output)
    settled(fake, 1)
    notes = bot.notes()
    assert "JRG: Real item" in notes and "JRG: From" not in notes
    assert "After inline" not in notes and "Old name" not in notes


# ---------------------------------------------------------------------------------------
# Multi-line agenda add


def test_a_multi_line_agenda_add_is_refused_with_the_reason(fake, start_bot):
    """An agenda item is one line: several lines are not run together into one item, nor is
    one kept and the rest dropped. The answer says why, and nothing is added."""
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    bot = start_bot()
    refused = [
        ("agenda add First topic\nagenda add Second topic", "2 lines"),
        ("agenda add Topics:\n- release\n- CI", "3 lines"),
        ("agenda add Two lines\nof text", "2 lines"),
        ("agenda add Build matrix\n```yaml\nos: [linux, osx]\n```", "a code block after it"),
        ("agenda add Governance\n> quoted policy text", "a quote after it"),
    ]
    for n, (text, reason) in enumerate(refused, 1):
        fake.send_private(jaime, text)
        answer = wait_reply(fake, n)[-1]["content"]
        assert answer.startswith(":warning:") and reason in answer and "nothing was added" in answer, answer
        assert "one line" in answer
    fake.send_stream(jaime, "conda", "plans", f"@**{fake.bot.full_name}** agenda add A\nB")
    assert "2 lines" in wait_reply(fake, len(refused) + 1)[-1]["content"]
    # one line of text, wherever it starts, is one item
    fake.send_private(jaime, "agenda add\nOn the next line\n")
    assert "as item 1: JRG: On the next line" in wait_reply(fake, len(refused) + 2)[-1]["content"]
    notes = bot.notes()
    assert "- [ ] JRG: On the next line" in notes
    for word in ("First topic", "Topics", "Two lines", "Build matrix", "Governance", "JRG: A"):
        assert word not in notes


# ---------------------------------------------------------------------------------------
# Commands sent while the event queue was gone


def test_commands_sent_while_the_queue_was_gone_are_fetched_and_acted_on_once(fake, start_bot):
    """The long poll hangs (a dead connection) while the server drops the queue; meanwhile a
    direct message, a group direct message with a mention, a stream mention and a silent
    mention arrive. Answering ``BAD_EVENT_QUEUE_ID``, the server makes the bot register again;
    it then fetches what it missed (``GET /messages``, after the last message it saw) and acts
    on each once, and goes on with the new queue; a second loss later fetches only what is new."""
    jaime = fake.add_user(*JAIME, api_key="jaime-key")
    olga = fake.add_user("olga@example.org", "Olga Other", api_key="k")
    echo = fake.add_user("echo-bot@zulip.example", "Echo Bot", api_key="echo-key", is_bot=True)
    bot = start_bot()
    seen = fake.send_private(jaime, "agenda add Seen before")
    wait_reply(fake)
    fake.hold("GET", "events")  # the next poll hangs, as on a dead connection
    polls = len(fake.requests_to("GET", "events"))
    fake.wait_for(lambda: len(fake.requests_to("GET", "events")) > polls)
    assert fake.expire_queues()
    m = f"@**{fake.bot.full_name}**"
    fake.send_private(jaime, "agenda add By direct message")
    fake.send_private(jaime, f"{m} agenda add In a group", to=[fake.bot, olga])
    fake.send_stream(jaime, "conda", "plans", f"{m} agenda add In the stream")
    fake.send_stream(jaime, "infra", "ops", f"@_**{fake.bot.full_name}** agenda add Silently")
    fake.send_stream(jaime, "conda", "plans", "chatter, not for the bot")
    fake.send_private(echo, "agenda add From a bot")
    fake.release("GET", "events")  # the poll comes back: BAD_EVENT_QUEUE_ID
    fake.wait_for(lambda: sum(1 for r in fake.requests_to("POST", "register") if r.status == 200) == 2)
    answers = wait_reply(fake, 5)[1:]  # oldest first
    assert "By direct message" in answers[0]["content"] and answers[0]["type"] == "private"
    assert "In a group" in answers[1]["content"]
    assert {r["id"] for r in answers[1]["display_recipient"]} == {jaime.user_id, olga.user_id, fake.bot.user_id}
    assert "In the stream" in answers[2]["content"] and (answers[2]["display_recipient"], answers[2]["subject"]) == (
        "conda",
        "plans",
    )
    assert "Silently" in answers[3]["content"] and answers[3]["display_recipient"] == "infra"
    fetches = fake.requests_to("GET", "messages")
    assert fetches and all(f.params["anchor"] >= seen["id"] for f in fetches)
    register_at = [r.at for r in fake.requests_to("POST", "register")][1]
    assert all(f.at > register_at for f in fetches)  # fetched after the new queue exists
    settled(fake, 5)
    # a second loss: only what came after is fetched and answered
    queue_lost(fake)
    fake.send_private(jaime, "agenda add After the second loss")
    fake.release("POST", "register")
    (last,) = wait_reply(fake, 6)[5:]
    assert "After the second loss" in last["content"]
    settled(fake, 6)
    notes = bot.notes()
    for item in ("Seen before", "By direct message", "In a group", "In the stream", "After the second loss"):
        assert notes.count(item) == 1, item
    assert "chatter" not in notes and "From a bot" not in notes
    assert bot.notes("20260108-infra.md", "infra-notes").count("Silently") == 1
    assert sorted(map(str, {narrow_operand(f) for f in fetches})) == ["None", "dm", "mentioned"]


# ---------------------------------------------------------------------------------------
# Units behind them


def test_server_limits_come_from_the_register_answer():
    from chatbot.backends.zulip import MAX_CONTENT, MAX_TOPIC, ServerLimits

    assert ServerLimits.from_register({"max_message_length": 5000, "max_topic_length": 40}) == ServerLimits(5000, 40)
    # an older server (or no realm data) says nothing: Zulip's defaults; nonsense is not believed
    for res in ({}, {"max_message_length": 0, "max_topic_length": True}, {"max_message_length": "9"}):
        assert ServerLimits.from_register(res) == ServerLimits(MAX_CONTENT, MAX_TOPIC) == ServerLimits()


def test_the_ledger_gives_every_message_of_the_newest_list(tmp_path):
    from chatbot.state import Ledger

    ledger = Ledger(tmp_path / "state.sqlite3")
    item = [{"n": 1, "id": "a", "line": 1}]
    ledger.remember_listing("zulip:1", "zulip:dm:a@x.org", "eco", item, "old", now=100.0)
    ledger.remember_listing("zulip:2", "zulip:dm:a@x.org", "eco", item, "part 1", now=200.0)
    ledger.remember_listing("zulip:3", "zulip:dm:a@x.org", "eco", item, "part 2", now=200.0)
    assert [x["message"] for x in ledger.latest_listings("zulip:dm:a@x.org")] == ["zulip:2", "zulip:3"]
    assert ledger.latest_listings("zulip:dm:b@x.org") == []
