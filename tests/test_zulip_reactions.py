"""Zulip: acting on the bot's messages (issue 18). End to end: the real bot process
(``chatbot run --backend zulip``) against the fake Zulip server; clocks fixed by
CHATBOT_FAKE_NOW, no sleeps to wait for a moment."""

from __future__ import annotations

import pytest

from chatbot.backends.zulip import conversation_key, is_check, listed_items
from chatbot.messages import Message, Text, UserText

from test_zulip import ZULIP_CONFIG, fake, start_bot  # noqa: F401  (the fake server and the real bot process)

PEOPLE = """
[[people]]
initials = "MO"
name = "Maria Owner"
zulip_email = "maria@example.org"

[[people]]
initials = "LP"
name = "Lee Pacific"
zulip_email = "lee@example.org"
timezone = "America/Los_Angeles"

[[people]]
initials = "SS"
name = "Sam Stranger"
zulip_email = "sam@example.org"

[zulip]
"""
ATT = "## Attendees\n| Name | Initials |\n| -- | -- |\n| Maria | MO |\n\n"
# the meeting after 2026-01-07 is 2026-01-14 14:00 UTC; pings go 2 days before: 2026-01-12 14:00 UTC
BEFORE_PINGS = "2026-01-12T13:59:57Z"


def config(actions: str = "") -> str:
    text = ZULIP_CONFIG.replace("[zulip]\n", PEOPLE)
    if actions:
        text = text.replace(
            'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"\n',
            'zulip_topic = "ecosystem meeting {date:%Y-%m-%d}"\n\n[meetings.actions]\n' + actions + "\n",
            1,
        )
    return text


def past_notes(tmp_path, items: str) -> None:
    notes = tmp_path / "notes"
    notes.mkdir(exist_ok=True)
    (notes / "20260107-eco.md").write_text(
        f"# Conda Ecosystem Meeting 2026-01-07\n\n{ATT}## Action items\n\n{items}", encoding="utf-8"
    )


def listening_again(fake, registered: int) -> None:
    """A restarted bot is listening: its own event queue exists and was polled (the old
    process's polls do not count)."""

    def polled():
        new = [r for r in fake.requests_to("POST", "register") if r.status == 200][registered:]
        qids = {r.answer["queue_id"] for r in new}
        return any(r.status == 200 and r.params.get("queue_id") in qids for r in fake.requests_to("GET", "events"))

    fake.wait_for(polled, 20)


def notes_text(tmp_path) -> str:
    return (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")


def dms_to(fake, user) -> list[dict]:
    return [
        m
        for m in fake.sent_messages()
        if m["type"] == "private" and user.user_id in [r["id"] for r in m["display_recipient"]]
    ]


def wait_dm(fake, user, count: int = 1, timeout: float = 20) -> list[dict]:
    def got():
        out = dms_to(fake, user)
        return out if len(out) >= count else None

    got.__name__ = f"{count} direct message(s) to {user.email}"
    return fake.wait_for(got, timeout)


def test_an_owner_ticks_their_item_with_a_reaction_on_the_ping_also_after_a_restart(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n- [ ] LP: fix the CI\n")
    bot = start_bot(config(), fake_now=BEFORE_PINGS)
    (ping,) = wait_dm(fake, maria)
    assert "1. [2026-01-07] write the docs" in ping["content"]
    assert "fix the CI" not in ping["content"]
    bot.stop()  # what the ping lists is remembered in the state directory
    registered = len(fake.requests_to("POST", "register"))
    start_bot(config(), fake_now="2026-01-12T15:00:00Z", ready=False)
    listening_again(fake, registered)
    fake.react(maria, ping["id"], "check")  # ✅ as Zulip names it: "check", code 2705

    def edited():
        return [e for e in fake.edits if e["message_id"] == ping["id"]]

    (edit,) = fake.wait_for(edited)
    assert fake.message(ping["id"])["content"] == edit["new"]
    line = next(x for x in edit["new"].split("\n") if "write the docs" in x)
    assert line.startswith("~~1. [2026-01-07] write the docs") and line.endswith("~~ ✅ done (MO)")
    assert "- [x] MO: write the docs" in notes_text(tmp_path)
    assert "- [ ] LP: fix the CI" in notes_text(tmp_path)
    assert len(dms_to(fake, maria)) == 1  # the edit is the confirmation: no extra message


def test_done_n_in_the_dm_ticks_item_n_of_the_ping(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    past_notes(tmp_path, "- [ ] JRG: plan the release\n- [ ] MO: write the docs\n- [ ] MO: update the site\n")
    start_bot(config(), fake_now=BEFORE_PINGS)
    (ping,) = wait_dm(fake, maria)
    assert "2. [2026-01-07] write the docs" in ping["content"] and "3. [2026-01-07] update the site" in ping["content"]
    # a ✅ on a ping with two items cannot say which: Maria is told how, once
    fake.react(maria, ping["id"], "white_check_mark", "2705")
    (_, hint) = wait_dm(fake, maria, 2)
    assert "`done N`" in hint["content"] and "2, 3" in hint["content"]
    fake.send_private(maria, "done 2")
    (_, _, answer) = wait_dm(fake, maria, 3)
    assert "write the docs" in answer["content"] and not answer["content"].startswith(":warning:")
    notes = notes_text(tmp_path)
    assert "- [x] MO: write the docs" in notes and "- [ ] MO: update the site" in notes
    assert "- [ ] JRG: plan the release" in notes
    new = fake.message(ping["id"])["content"]
    assert "~~2. [2026-01-07] write the docs" in new and "~~3." not in new
    # the numbers of the ping still hold: `done 3` is "update the site", though `actions` now
    # numbers it 2
    fake.send_private(maria, "done 3")
    wait_dm(fake, maria, 4)
    assert "- [x] MO: update the site" in notes_text(tmp_path)
    assert "- [ ] JRG: plan the release" in notes_text(tmp_path)


def test_a_strangers_reaction_is_ignored_and_they_are_told_once(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    sam = fake.add_user("sam@example.org", "Sam Stranger", api_key="sam-key")  # in the roster, not an owner
    olga = fake.add_user("olga@zulip.example", "Olga Other", api_key="olga-key")  # not in the roster
    past_notes(tmp_path, "- [ ] MO: write the docs\n")
    start_bot(config('ping = "channel"'), fake_now=BEFORE_PINGS)

    def ping_in_stream():
        return [
            m
            for m in fake.sent_messages()
            if m["type"] == "stream" and "write the docs" in m["content"] and m["content"].startswith("@**Maria Owner")
        ]

    (ping,) = fake.wait_for(ping_in_stream)
    fake.react(sam, ping["id"], "check")
    (told,) = wait_dm(fake, sam)
    assert told["content"].startswith(":warning:") and "only an owner or an admin can tick it" in told["content"]
    fake.react(sam, ping["id"], "check", op="remove")
    fake.react(sam, ping["id"], "check")  # again: not told twice
    fake.react(olga, ping["id"], "heavy_check_mark", "2714")
    (told_olga,) = wait_dm(fake, olga)
    assert "I don't know who you are" in told_olga["content"]
    assert "- [ ] MO: write the docs" in notes_text(tmp_path)
    assert fake.edits == []
    # other emoji are not a tick, and the owner's ✅ still works afterwards
    fake.react(maria, ping["id"], "tada")
    fake.react(maria, ping["id"], "check")
    fake.wait_for(lambda: fake.edits)
    assert "- [x] MO: write the docs" in notes_text(tmp_path)
    assert len(dms_to(fake, sam)) == 1 and len(dms_to(fake, olga)) == 1 and dms_to(fake, maria) == []


def test_when_the_message_cannot_be_edited_the_bot_confirms_with_a_reaction(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n")
    start_bot(config(), fake_now=BEFORE_PINGS)
    (ping,) = wait_dm(fake, maria)
    fake.allow_message_editing = False
    fake.react(maria, ping["id"], "check")

    def confirmed():
        return [r for r in fake.message(ping["id"])["reactions"] if r["user_id"] == fake.bot.user_id]

    (mark,) = fake.wait_for(confirmed)
    assert (mark["emoji_code"], mark["reaction_type"]) == ("2705", "unicode_emoji")
    assert "- [x] MO: write the docs" in notes_text(tmp_path)
    assert [r.status for r in fake.requests_to("PATCH", f"messages/{ping['id']}")] == [400]


def test_an_actions_list_answer_can_be_acted_on(fake, start_bot, tmp_path):
    jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n")
    start_bot(config(), fake_now="2026-01-12T12:00:00Z")
    fake.send_private(jaime, "actions")
    # (Jaime, an admin, is also sent the chair's review of the 2026-01-07 notes)
    answer = fake.wait_for(
        lambda: [m for m in dms_to(fake, jaime) if m["content"].startswith("**Open action items")] or None, 20
    )[0]
    assert "1. [2026-01-07]" in answer["content"]
    fake.react(jaime, answer["id"], "check")  # an admin may tick anyone's item
    fake.wait_for(lambda: fake.edits)
    assert "- [x] MO: write the docs" in notes_text(tmp_path)
    assert "✅ done (JRG)" in fake.message(answer["id"])["content"]


def test_pings_reach_tokyo_and_los_angeles_in_their_daytime(fake, start_bot, tmp_path):
    # 2026-01-12 14:00 UTC (ping_before) is 23:00 in Tokyo and 06:00 in Los Angeles. Maria's zone
    # comes from her Zulip settings, Lee's from the roster.
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key", timezone="Asia/Tokyo")
    lee = fake.add_user("lee@example.org", "Lee Pacific", api_key="lee-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n- [ ] LP: fix the CI\n")
    text = config('waking_hours = "09:00-18:00"')
    # 18:00 in Tokyo (09:00 UTC) is nearer to 23:00 than 09:00 the next morning
    bot = start_bot(text, fake_now="2026-01-12T08:59:57Z")
    (ping,) = wait_dm(fake, maria)
    assert "write the docs" in ping["content"]
    # the log line is written after the send returns: wait for it rather than race it
    fake.wait_for(lambda: "action-item ping to MO" in bot.output)
    assert dms_to(fake, lee) == []
    assert "action-item ping to LP" not in bot.output
    bot.stop()
    # 09:00 in Los Angeles is 17:00 UTC; the summary went at 14:00 UTC (not mentioning Lee, who
    # gets his own ping later) while the bot was down: it is not sent late
    registered = len(fake.requests_to("POST", "register"))
    bot = start_bot(text, fake_now="2026-01-12T16:59:57Z", ready=False)
    listening_again(fake, registered)
    (ping,) = wait_dm(fake, lee)
    assert "fix the CI" in ping["content"]
    assert len(dms_to(fake, maria)) == 1  # once
    assert "action-item ping to MO" not in bot.output


# ---------------------------------------------------------------------------------------
# Units


@pytest.mark.parametrize(
    "event, expected",
    [
        ({"emoji_name": "check", "emoji_code": "2705", "reaction_type": "unicode_emoji"}, True),
        ({"emoji_name": "white_check_mark", "emoji_code": "2705", "reaction_type": "unicode_emoji"}, True),
        ({"emoji_name": "anything", "emoji_code": "2714", "reaction_type": "unicode_emoji"}, True),
        ({"emoji_name": "checkbox", "emoji_code": "2611", "reaction_type": "unicode_emoji"}, True),
        ({"emoji_name": "check", "emoji_code": "42", "reaction_type": "realm_emoji"}, True),  # a custom :check:
        ({"emoji_name": "octopus", "emoji_code": "1f419", "reaction_type": "unicode_emoji"}, False),
        ({"emoji_name": "x", "emoji_code": "2705", "reaction_type": "realm_emoji"}, False),
    ],
)
def test_which_reactions_tick(event, expected):
    assert is_check(event) is expected


def test_listed_items_and_conversations():
    msg = Message().add(Text("Open", bold=True))
    msg.add("4. [2026-01-07] ", UserText("a"), action="2026-01-07:9:abc")
    msg.add("• [2026-01-07] ", UserText("b"), action="2026-01-07:10:def")
    assert listed_items(msg) == [
        {"n": 4, "id": "2026-01-07:9:abc", "line": 1},
        {"n": None, "id": "2026-01-07:10:def", "line": 2},
    ]
    assert conversation_key({"type": "private", "to": ["B@x.org", "a@x.org"]}) == "zulip:dm:a@x.org,b@x.org"
    assert conversation_key({"type": "stream", "to": 12, "topic": "T"}, "Conda") == "zulip:stream:conda:t"


def test_done_n_in_the_topic_of_a_channel_ping(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n- [ ] MO: update the site\n")
    start_bot(config('ping = "channel"'), fake_now=BEFORE_PINGS)

    def ping_in_stream():
        return [m for m in fake.sent_messages() if m["type"] == "stream" and "update the site" in m["content"]]

    (ping,) = fake.wait_for(ping_in_stream)
    since = len(fake.sent_messages())
    fake.send_stream(maria, "conda", ping["subject"], "@**Agenda Bot** done 2")

    def answered():  # other posts (the channel summary) may come in between
        return [m for m in fake.sent_messages()[since:] if "Ticked" in m["content"]]

    (answer,) = fake.wait_for(answered)
    assert answer["subject"] == ping["subject"] and "update the site" in answer["content"]
    assert "- [x] MO: update the site" in notes_text(tmp_path) and "- [ ] MO: write the docs" in notes_text(tmp_path)
    fake.wait_for(lambda: "~~2. [2026-01-07] update the site" in fake.message(ping["id"])["content"])


def test_the_fake_answers_reactions_and_edits_as_zulip_does(fake):
    """The wire behaviour the bot relies on, through the real client."""
    import zulip

    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key", timezone="Asia/Tokyo")
    bot = zulip.Client(email=fake.bot.email, api_key=fake.bot.api_key, site=fake.site)
    queue = bot.register(event_types=["reaction"])
    sent = bot.send_message({"type": "private", "to": [maria.email], "content": "1. an item"})
    mid = sent["id"]
    assert bot.add_reaction({"message_id": mid, "emoji_name": "check"})["result"] == "success"
    again = bot.add_reaction({"message_id": mid, "emoji_name": "check"})
    assert (again["result"], again["code"]) == ("error", "REACTION_ALREADY_EXISTS")
    unknown = bot.add_reaction({"message_id": mid, "emoji_name": "no_such_emoji_here"})
    assert unknown["result"] == "error"
    events = bot.get_events(queue_id=queue["queue_id"], last_event_id=-1)["events"]
    (event,) = [e for e in events if e["type"] == "reaction"]
    assert {k: event[k] for k in ("op", "user_id", "message_id", "emoji_name", "emoji_code", "reaction_type")} == {
        "op": "add",
        "user_id": fake.bot.user_id,
        "message_id": mid,
        "emoji_name": "check",
        "emoji_code": "2705",
        "reaction_type": "unicode_emoji",
    }
    assert bot.remove_reaction({"message_id": mid, "emoji_name": "check"})["result"] == "success"
    missing = bot.remove_reaction({"message_id": mid, "emoji_name": "check"})
    assert missing["code"] == "REACTION_DOES_NOT_EXIST"
    # editing: only the sender, only while the organization allows it
    assert bot.update_message({"message_id": mid, "content": "~~1. an item~~ done"})["result"] == "success"
    assert fake.message(mid)["content"] == "~~1. an item~~ done"
    other = zulip.Client(email=maria.email, api_key="maria-key", site=fake.site)
    assert other.update_message({"message_id": mid, "content": "mine now"})["result"] == "error"
    fake.edit_limit_seconds = -1  # every message is past the limit
    late = bot.update_message({"message_id": mid, "content": "later"})
    assert late["result"] == "error" and fake.message(mid)["content"] == "~~1. an item~~ done"
    assert other.get_user_by_id(maria.user_id)["user"]["timezone"] == "Asia/Tokyo"
    assert bot.add_reaction({"message_id": 999999, "emoji_name": "check"})["result"] == "error"


def test_a_reaction_on_an_item_changed_in_the_notes_since_is_refused_and_the_edit_kept(fake, start_bot, tmp_path):
    maria = fake.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    past_notes(tmp_path, "- [ ] MO: write the docs\n")
    start_bot(config(), fake_now=BEFORE_PINGS)
    (ping,) = wait_dm(fake, maria)
    path = tmp_path / "notes" / "20260107-eco.md"
    path.write_text(notes_text(tmp_path).replace("write the docs", "write the docs (half done)"), encoding="utf-8")
    fake.react(maria, ping["id"], "check")
    (_, told) = wait_dm(fake, maria, 2)
    assert told["content"].startswith(":warning: Your ✅ did not tick the action item")
    assert "- [ ] MO: write the docs (half done)" in notes_text(tmp_path)
    assert fake.edits == []


def test_the_ledger_remembers_listings(tmp_path):
    from chatbot.state import LISTINGS_KEPT_FOR, Ledger

    ledger = Ledger(tmp_path / "state.sqlite3")
    items = [{"n": 2, "id": "2026-01-07:9:abc", "line": 1}]
    ledger.remember_listing("zulip:5", "zulip:dm:a@x.org", "eco", items, "head\n2. item", now=1000.0)
    ledger.remember_listing("zulip:7", "zulip:dm:a@x.org", "eco", [], "newer", now=2000.0)
    assert ledger.latest_listing("zulip:dm:a@x.org")["message"] == "zulip:7"
    assert ledger.latest_listing("zulip:dm:b@x.org") is None
    ledger.update_listing("zulip:5", "head\n~~2. item~~")
    ledger.close()
    again = Ledger(tmp_path / "state.sqlite3")  # a restart
    got = again.listing("zulip:5")
    assert (got["meeting"], got["items"], got["content"]) == ("eco", items, "head\n~~2. item~~")
    again.remember_listing("zulip:9", "zulip:dm:c@x.org", "eco", items, "x", now=1000.0 + LISTINGS_KEPT_FOR + 1)
    assert again.listing("zulip:5") is None  # older than kept: forgotten
