"""The inbound seam (chatbot/inbox.py) and the listings (chatbot/listings.py), without a
platform: each step of an incoming command once, in order, and the kind of answer it gives.
The platforms' own tests (test_slack*, test_zulip*, the console in test_review) show the
same steps end to end through the real clients."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chatbot.context import Context
from chatbot.identity import Sender
from chatbot.inbox import Incoming, Inbox, RateLimiter
from chatbot.listings import Listings, Pick, as_typed, listed_items, review_items
from chatbot.messages import Message, render_plain
from chatbot.state import Ledger

from chatbot.config import load_config

from conftest import BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # before the 2026-01-07 meeting
JRG = Sender("test", initials="JRG")
NOTES = "20260107-eco.md"


def _notes(config) -> str:
    path = Path(config.resolve(config.meeting().notes.directory)) / NOTES
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture
def context(config):
    return Context(config, FixedClock(NOW))


def test_a_command_runs_once_and_says_what_ran(context):
    answer = Inbox(context).take(Incoming("agenda add Release plans", JRG))
    assert answer.kind == "ok" and answer.ok and answer.command == ("agenda", "add")
    assert answer.sender == JRG
    assert "- [ ] JRG: Release plans" in _notes(context.config)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("agenda frobnicate", "bad input"),  # no such command
        ("agenda remove two", "bad input"),  # not a number
        ("agenda remove 1", "refused"),  # no agenda yet: the handler refuses
    ],
)
def test_bad_input_and_refusals_are_answers_of_their_kind(context, text, kind):
    answer = Inbox(context).take(Incoming(text, JRG))
    assert answer.kind == kind and not answer.ok
    assert _notes(context.config) == ""


def test_someone_the_bot_does_not_know_is_refused(context):
    stranger = Sender("test", user_id="U0X", name="Sam Doe", id_field="slack_id")
    answer = Inbox(context).take(Incoming("agenda add sneaky", stranger))
    assert answer.kind == "refused" and "I don't know who you are (U0X)" in render_plain(answer.message)
    allowed = Inbox(context).take(Incoming("agenda add hello", stranger, allow_unknown=True))
    assert allowed.kind == "ok" and "- [ ] SD: hello" in _notes(context.config)


def test_an_unknown_meeting_is_bad_input(context):
    answer = Inbox(context).take(Incoming("agenda list", JRG, meeting_id="nope"))
    assert answer.kind == "bad input" and "no meeting 'nope'" in render_plain(answer.message)


def test_the_place_check_refuses_before_anything_runs(tmp_path):
    text = BASE_CONFIG.replace('default_meeting = "eco"', 'default_meeting = "eco"\nallowed_places = ["C1"]')
    context = Context(load_config(write_config(tmp_path, text)), FixedClock(NOW))
    inbox = Inbox(context)
    refused = inbox.take(Incoming("agenda add elsewhere", JRG, place="C2"))
    assert refused.kind == "not here" and refused.command is None
    assert inbox.take(Incoming("agenda add here", JRG, place="C1")).kind == "ok"
    assert inbox.take(Incoming("agenda add in a DM", JRG, place=None)).kind == "ok"  # direct messages always
    notes = _notes(context.config)
    assert "here" in notes and "in a DM" in notes and "elsewhere" not in notes


def test_not_addressed_and_redelivered_are_quiet_and_do_nothing(context):
    seen: set[str] = set()

    def first(key: str) -> bool:
        new = key not in seen
        seen.add(key)
        return new

    inbox = Inbox(context, first_delivery=first)
    assert inbox.take(Incoming("agenda add chatter", JRG, addressed=False)).quiet
    once = inbox.take(Incoming("agenda add once", JRG, delivery="d1"))
    again = inbox.take(Incoming("agenda add once", JRG, delivery="d1"))
    assert once.kind == "ok" and again.kind == "redelivered" and again.quiet
    notes = _notes(context.config)
    assert notes.count("JRG: once") == 1 and "chatter" not in notes


def test_unreadable_text_is_said_and_not_run(context):
    answer = Inbox(context).take(Incoming("agenda add first line", JRG, unreadable="one command per message"))
    assert answer.kind == "bad input" and render_plain(answer.message) == "one command per message"
    assert _notes(context.config) == ""


def test_the_rate_is_per_conversation_told_once_and_asks_nobody_who_sent_it(context):
    now = [0.0]
    inbox = Inbox(context, limiter=RateLimiter(burst=2, refill=5.0, clock=lambda: now[0]))
    asked = []

    def sender() -> Sender:
        asked.append(1)
        return JRG

    kinds = [inbox.take(Incoming("next", sender, conversation="c1")) for _ in range(4)]
    assert [a.kind for a in kinds] == ["ok", "ok", "rate limited", "rate limited"]
    assert [a.quiet for a in kinds[2:]] == [False, True]  # told once per run of refusals
    assert "too many commands" in render_plain(kinds[2].message)
    assert len(asked) == 2  # the refused ones were never resolved to a person
    assert inbox.take(Incoming("next", JRG, conversation="c2")).kind == "ok"  # another conversation
    assert inbox.take(Incoming("next", JRG)).kind == "ok"  # no conversation: no rate (Slack, console)
    now[0] += 5.0
    assert inbox.take(Incoming("next", JRG, conversation="c1")).kind == "ok"


def _listing_message() -> Message:
    msg = Message().add("Open action items:")
    msg.add("1. JRG: write the docs", action="id-docs")
    msg.add("2. JL: fix CI", action="id-ci")
    return msg


def test_listed_items_are_the_numbers_shown_and_the_stable_ids():
    msg = _listing_message()
    assert listed_items(msg) == [{"n": 1, "id": "id-docs", "line": 1}, {"n": 2, "id": "id-ci", "line": 2}]
    review = Message().add("Review:").add("1. a candidate", review="id-c")
    assert review_items(review) == [{"n": 1, "id": "id-c", "line": 1}] and listed_items(review) == []


def test_a_listing_split_over_messages_is_remembered_per_message_and_done_n_picks_by_id(tmp_path):
    listings = Listings(Ledger(tmp_path / "ledger.sqlite3"))
    msg = _listing_message()
    # the answer went out as two messages: lines 0-1 and line 2
    listings.remember([("p:1", "Open action items:\n1. …", 0), ("p:2", "2. …", 2)], msg, "eco", "conv")
    assert listings.of_message("p:2")["items"] == [{"n": 2, "id": "id-ci", "line": 0}]
    pick = listings.reply("done 2", "conv")
    assert pick == Pick(listings.of_message("p:2"), {"n": 2, "id": "id-ci", "line": 0}, "done")
    assert pick.words == ("actions", "done-item")
    assert listings.reply("done 2", "elsewhere") is None and listings.reply("done 7", "conv") is None
    assert listings.reply("track 1", "conv") is None  # not a review message
    review = Message().add("Review:").add("1. a candidate", review="id-c")
    listings.remember([("p:3", "Review:\n1. a candidate", 0)], review, "eco", "conv")
    decided = listings.reply("reject 1", "conv")
    assert decided is not None and decided.item["id"] == "id-c" and decided.words == ("actions", "reject-item")


def test_done_n_in_a_conversation_goes_to_the_listed_item_else_to_actions_done(context, tmp_path):
    listings = Listings(Ledger(tmp_path / "ledger.sqlite3"))
    listings.remember([("p:1", "Open action items:\n1. …\n2. …", 0)], _listing_message(), "eco", "conv")
    inbox = Inbox(context, listings=listings)
    picked = inbox.take(Incoming("done 1", JRG, conversation="conv"))
    assert picked.picked is not None and picked.picked.item["id"] == "id-docs"
    assert picked.command == ("actions", "done-item")  # by its id (no such item in these notes: refused)
    elsewhere = inbox.take(Incoming("done 1", JRG, conversation="other"))
    assert elsewhere.picked is None and elsewhere.command == ("actions", "done")  # N as `actions` numbers them
    console = inbox.take(Incoming("done 1", JRG))  # no conversation: the text as typed
    assert console.kind == "bad input" and console.command is None


def test_as_typed():
    assert as_typed("done 3") == "actions done 3" and as_typed("/track 2") == "actions track 2"
    assert as_typed("actions done 3") == "actions done 3" and as_typed("agenda list") == "agenda list"


def test_a_meeting_that_left_the_config_is_said_for_an_item(context):
    answer = Inbox(context).on_item(("actions", "done-item"), JRG, "gone", "id-x")
    assert answer.kind == "bad input" and "'gone' of that message is no longer configured" in render_plain(
        answer.message
    )
