"""The chair's review of candidate action items (issue 21), end to end: the real bot process
(``chatbot run``) against the wire-level fake Slack and fake Zulip. The review reaches the
chair after the meeting; a click, a reply or a reaction records the decision; after a restart
the pings follow the decisions (a rejected prose item is not pinged, a tracked one is, an
unreviewed prose item is not while an unreviewed item of an Action items section is).
Clocks are fixed with CHATBOT_FAKE_NOW; waits are bounded."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from chatbot.actions import FORMS
from chatbot.backends.slack import ACTION_REJECT, ACTION_TRACK
from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain
from conftest import FixedClock
from fakes.slack import FakeSlack, block_errors, signed_post
from test_slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, _free_port, assert_no_secrets, slack_processes
from test_zulip import ZULIP_CONFIG, fake, start_bot  # noqa: F401  (the fake server and the real bot process)
from test_zulip_reactions import dms_to, listening_again, wait_dm

# three prose items (an owner committing) and one in the Action items section, all of MO
ITEMS = (
    "## Discussion\n\n- Release plans\n"
    "    - {o}: will report this to the list\n"
    "    - {o}: will draft the CEP\n"
    "    - {o}: will call the vote\n\n"
    "## Action items\n\n- [ ] {o}: write the docs\n"
)
AFTER_MEETING = "2026-01-07T20:00:30Z"  # the meeting 17:00-18:00 UTC; its review is due 2 h after its end
BEFORE_PINGS = "2026-01-12T13:59:57Z"  # the next meeting is 2026-01-14 14:00 UTC; pings 2 days before


def _pinged(text: str) -> dict[str, bool]:
    return {what: what in text for what in ("report this", "draft the CEP", "call the vote", "write the docs")}


EXPECTED_PINGED = {"report this": False, "draft the CEP": True, "call the vote": False, "write the docs": True}


# ---------------------------------------------------------------------------------------
# Zulip

PEOPLE = """
[[people]]
initials = "MO"
name = "Maria Owner"
zulip_email = "maria@example.org"

[[people]]
initials = "CH"
name = "Chris Chair"
zulip_email = "chris@example.org"
chair = true

[zulip]
"""


@pytest.fixture
def zulip(fake):
    return fake


@pytest.fixture
def start_zulip(start_bot):
    """The real bot process on the fake Zulip (test_zulip's), with this file's roster."""
    return lambda fake_now, ready=True: start_bot(ZULIP_CONFIG.replace("[zulip]\n", PEOPLE), fake_now, ready=ready)


def _zulip_notes(tmp_path: Path, items: str) -> None:
    notes = tmp_path / "notes"
    notes.mkdir(exist_ok=True)
    att = "## Attendees\n| Name | Initials |\n| -- | -- |\n| Maria | MO |\n\n"
    (notes / "20260107-eco.md").write_text(f"# Conda Ecosystem Meeting 2026-01-07\n\n{att}{items}", encoding="utf-8")


def _reviews(fake, user) -> list[dict]:
    return [m for m in dms_to(fake, user) if m["content"].startswith("**Action items of Conda Ecosystem Meeting")]


@pytest.mark.slow
def test_zulip_the_chair_answers_the_review_by_reply_and_pings_follow_after_a_restart(zulip, start_zulip, tmp_path):
    chris = zulip.add_user("chris@example.org", "Chris Chair", api_key="chris-key")
    maria = zulip.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    _zulip_notes(tmp_path, ITEMS.format(o="MO"))
    bot = start_zulip(AFTER_MEETING)
    (rev,) = zulip.wait_for(lambda: _reviews(zulip, chris) or None, 20)
    lines = rev["content"].split("\n")
    assert lines[1].startswith(f"1. MO: will report this to the list — {FORMS['prose']} — ")
    assert lines[4].startswith(f"4. MO: write the docs — {FORMS['section']} — ")
    assert "Answer per item: `actions track N` (keep chasing it)" in rev["content"]  # as typed on Zulip
    assert not dms_to(zulip, maria)  # nobody else is asked

    # the owner is not the chair: told why, nothing decided
    zulip.send_private(maria, "reject 1")
    (told,) = wait_dm(zulip, maria)
    assert "only the chair or an admin" in told["content"]

    zulip.send_private(chris, "reject 1")
    zulip.send_private(chris, "track 2")

    def edited_twice():
        content = zulip.message(rev["id"])["content"]
        return content if "tracked" in content and "not an action item (CH)" in content else None

    content = zulip.wait_for(edited_twice, 20)
    assert content.split("\n")[1].endswith("→ 🚫 not an action item (CH)")
    assert content.split("\n")[2].endswith("→ ✅ tracked (CH)")
    zulip.wait_for(lambda: len(dms_to(zulip, chris)) == 3, 20)  # the answer follows the edit
    answers = [m["content"] for m in dms_to(zulip, chris)][1:]
    assert answers[0].startswith("Not an action item") and answers[1].startswith("Tracked")

    bot.stop()  # the decisions are in the ledger, not in the notes
    assert "will report this" in (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")
    registered = len(zulip.requests_to("POST", "register"))
    start_zulip(BEFORE_PINGS, ready=False)
    listening_again(zulip, registered)
    ping = zulip.wait_for(lambda: [m for m in dms_to(zulip, maria) if "open action item" in m["content"]] or None, 20)[
        0
    ]
    assert _pinged(ping["content"]) == EXPECTED_PINGED
    assert len(_reviews(zulip, chris)) == 1  # sent once, also across the restart
    # a 👍 on the review of several items cannot say which one: the chair is told how to answer
    zulip.react(chris, rev["id"], "+1")
    hint = zulip.wait_for(lambda: [m for m in dms_to(zulip, chris) if "cannot say which one" in m["content"]] or None)
    assert "`track N`" in hint[0]["content"]


@pytest.mark.slow
def test_zulip_a_thumbs_down_on_a_single_item_review_rejects_it(zulip, start_zulip, tmp_path):
    chris = zulip.add_user("chris@example.org", "Chris Chair", api_key="chris-key")
    zulip.add_user("maria@example.org", "Maria Owner", api_key="maria-key")
    _zulip_notes(tmp_path, "## Discussion\n\n- Release plans\n    - MO: will report this to the list\n")
    start_zulip(AFTER_MEETING)
    (rev,) = zulip.wait_for(lambda: _reviews(zulip, chris) or None, 20)
    zulip.react(chris, rev["id"], "-1")
    content = zulip.wait_for(lambda: "not an action item (CH)" in zulip.message(rev["id"])["content"] or None, 20)
    assert content
    zulip.send_private(chris, "actions")
    answer = zulip.wait_for(
        lambda: [m for m in dms_to(zulip, chris) if m["content"].startswith("**Open action items")] or None, 20
    )[0]
    assert "report this" not in answer["content"] and "No open action items" in answer["content"]


# ---------------------------------------------------------------------------------------
# Slack (Socket Mode and HTTP mode)


@pytest.fixture
def slack():
    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}, "U0JANNIS": {"name": "jannis"}},
    ) as f:
        yield f


@pytest.fixture
def start_slack(tmp_path, slack):
    with slack_processes(tmp_path, slack) as start:
        yield lambda now, mode="socket", port=3000: start(mode, now, port)


def _slack_notes(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir(exist_ok=True)
    att = "## Attendees\n| Name | Initials |\n| -- | -- |\n| Jaime | JRG |\n\n"
    (notes / "20260107-conda-ecosystem.md").write_text(
        f"# 2026-01-07 Conda Ecosystem Meeting\n{att}" + ITEMS.format(o="JRG"), encoding="utf-8"
    )


def _review(slack) -> dict:
    def found():
        return [m for m in slack.history.get("D0JAIME", []) if m.get("text", "").startswith("*Action items of")]

    return slack.wait_for(found, timeout=30, what="the review")[0]


def _review_buttons(message: dict) -> list[tuple[str, str]]:
    return [(el["action_id"], json.loads(el["value"])["i"]) for _, el in FakeSlack.buttons(message)]


def _contexts(message: dict) -> list[str]:
    return [el["text"] for b in message.get("blocks") or [] if b["type"] == "context" for el in b["elements"]]


@pytest.mark.slow
def test_slack_the_admin_reviews_with_buttons_and_pings_follow_after_a_restart(tmp_path, slack, start_slack):
    _slack_notes(tmp_path)
    bot = start_slack(AFTER_MEETING)
    slack.wait_connected(1, timeout=20)
    rev = _review(slack)  # no chair in this roster: the admin (JRG) reviews
    assert block_errors(rev["blocks"]) == []
    buttons = _review_buttons(rev)
    assert [a for a, _ in buttons] == [ACTION_TRACK, ACTION_REJECT] * 4
    assert f"1. JRG: will report this to the list — {FORMS['prose']}" in rev["text"]
    # typed on Slack the answer is a slash command: the hint says so
    assert "Answer per item: `/actions track N` (keep chasing it) or `/actions reject N`" in rev["text"]

    # Jannis (neither chair nor admin) is refused, privately; nothing changes
    eid, _ = slack.click(rev["ts"], ACTION_REJECT, user_id="U0JANNIS", user_name="jannis")
    slack.wait_ack(eid)
    refusal = slack.wait_for(lambda: slack.ephemeral, what="the refusal")[0]
    assert refusal["user"] == "U0JANNIS" and "only the chair or an admin" in refusal["text"]
    assert "edited" not in slack.find(rev["ts"])[1]

    # Jaime rejects item 1: the message shows it in place; a redelivery acts once
    eid, click = slack.click(rev["ts"], ACTION_REJECT, user_id="U0JAIME", user_name="jaime")
    slack.wait_ack(eid)
    slack.wait_for(lambda: "edited" in slack.find(rev["ts"])[1], what="the review updated in place")
    slack.redeliver(eid)
    slack.wait_ack(eid)
    time.sleep(0.5)  # would a second update follow?
    assert len([r for r in slack.responses if r.path in click["response_url"]]) == 1
    _, updated, _ = slack.find(rev["ts"])
    assert block_errors(updated["blocks"]) == [] and _contexts(updated) == ["🚫 Not an action item — by <@U0JAIME>"]
    assert len(_review_buttons(updated)) == 6

    # and tracks item 2 (now the first Track button)
    eid, _ = slack.click(rev["ts"], ACTION_TRACK, user_id="U0JAIME", user_name="jaime")
    slack.wait_ack(eid)
    slack.wait_for(lambda: len(_contexts(slack.find(rev["ts"])[1])) == 2, what="the second update")
    assert _contexts(slack.find(rev["ts"])[1])[1] == "✅ Tracked — by <@U0JAIME>"
    assert bot.alive()
    bot.stop()
    assert_no_secrets(bot.output())
    assert "Traceback" not in bot.output()

    again = start_slack(BEFORE_PINGS)

    def ping():
        return [m for m in slack.history.get("D0JAIME", []) if "open action item(s)" in m.get("text", "")]

    (pinged,) = slack.wait_for(ping, timeout=30, what="Jaime's ping")
    assert _pinged(pinged["text"]) == EXPECTED_PINGED
    assert len([m for m in slack.history["D0JAIME"] if m.get("text", "").startswith("*Action items of")]) == 1
    again.stop()
    assert "Traceback" not in again.output()


@pytest.mark.slow
def test_slack_review_buttons_in_http_mode_and_a_retried_click_acts_once(tmp_path, slack, start_slack):
    _slack_notes(tmp_path)
    port = _free_port()
    bot = start_slack(AFTER_MEETING, mode="http", port=port)
    bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
    url = f"http://127.0.0.1:{port}/slack/events"
    rev = _review(slack)
    payload = slack.click_payload(rev["ts"], ACTION_TRACK, user_id="U0JAIME", user_name="jaime", nth=2)
    form = {"payload": json.dumps(payload)}
    assert signed_post(url, SIGNING_SECRET, form)[0] == 200
    slack.wait_for(lambda: "edited" in slack.find(rev["ts"])[1], what="the review updated in place")
    assert signed_post(url, SIGNING_SECRET, form, retry_num=1)[0] == 200  # Slack's retry: not acted on again
    time.sleep(0.5)
    assert len([r for r in slack.responses if r.path in payload["response_url"]]) == 1
    _, updated, _ = slack.find(rev["ts"])
    assert _contexts(updated) == ["✅ Tracked — by <@U0JAIME>"]
    # the third item (prose: call the vote) is now tracked: the CLI sees the decision in the ledger
    cli = Bot(load_config(tmp_path / "chatbot.toml"), FixedClock(dt.datetime(2026, 1, 7, 21, tzinfo=dt.UTC)))
    listed = render_plain(cli.run(("actions", "review"), Sender("cli", initials="JRG"), day=dt.date(2026, 1, 7)))
    assert "3. JRG: will call the vote" in listed and "tracked (JRG)" in listed
    bot.stop()
    assert_no_secrets(bot.output())
