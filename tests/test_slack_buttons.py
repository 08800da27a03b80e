"""Slack Block Kit: reminders, action-item pings and /actions answers carry buttons (Done,
Next meeting, Add agenda item); clicking them acts on the notes and updates the message in
place. Renderer tests run in process; end-to-end tests start the real bot process against
the wire-level fake Slack (tests/fakes/slack.py), in Socket Mode and HTTP mode.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from chatbot.action_commands import item_id
from chatbot.backends.slack import (
    ACTION_ADD,
    ACTION_CARRY,
    ACTION_DONE,
    AGENDA_BLOCK,
    AGENDA_INPUT,
    MAX_BLOCKS,
    SlackBackend,
    blocks_text,
    render_blocks,
    render_mrkdwn,
)
from chatbot.bot import Bot
from chatbot.config import load_config
from chatbot.messages import Message, UserText, render_plain
from fakes.slack import FakeSlack, block_errors, signed_post
from test_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    _Clock,
    _config,
    _free_port,
    _long_agenda,
    assert_no_secrets,
    slack_processes,
)

UTC = dt.UTC
PAST = "20251224-conda-ecosystem.md"  # the meeting before the first one of the test config
NEXT = "20260107-conda-ecosystem.md"
PING_NOW = "2026-01-05T16:59:57Z"  # pings go out 2 days before the 2026-01-07 17:00 meeting
REMINDER_NOW = "2026-01-07T16:44:57Z"  # the 15-minute reminder is due in 3 seconds
ATT = "## Attendees\n| Name | Initials | GH Username |\n| -- | -- | -- |\n| Jaime | JRG | jaimergp |\n\n"
PAST_NOTES = (
    f"# 2025-12-24 Conda Ecosystem Meeting\n{ATT}## Action items\n\n"
    "- [ ] JRG: open a PR for <the> docs & more\n- [ ] JRG: write the release notes\n- [ ] JL: review it\n"
)


def _write_past(tmp_path: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir(exist_ok=True)
    path = notes / PAST
    path.write_text(PAST_NOTES, encoding="utf-8")
    return path


def _read(tmp_path: Path, name: str) -> str:
    path = tmp_path / "notes" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture
def fake():
    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}, "U0JANNIS": {"name": "jannis"}, "U0STRANGER": {"name": "sam"}},
    ) as f:
        yield f


@pytest.fixture
def start_bot(tmp_path, fake):
    with slack_processes(tmp_path, fake) as start:
        yield lambda mode="socket", now=PING_NOW, port=3000: start(mode, now, port)


def _buttons(message: dict) -> list[tuple[str, str]]:
    return [(el["action_id"], json.loads(el["value"]).get("i", "")) for _, el in FakeSlack.buttons(message)]


def _contexts(message: dict) -> list[str]:
    return [el["text"] for b in message.get("blocks") or [] if b["type"] == "context" for el in b["elements"]]


# ---------------------------------------------------------------------------------------
# Rendering, in process


def _bot(tmp_path: Path, now: dt.datetime) -> Bot:
    _write_past(tmp_path)
    return Bot(load_config(_config(tmp_path)), _Clock(now))


def test_a_ping_has_done_and_next_meeting_under_each_item_and_the_same_text(tmp_path):
    bot = _bot(tmp_path, dt.datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    meeting = bot.config.meeting("conda-ecosystem")
    items = bot.open_actions(meeting)
    pings, summary = bot.action_pings(meeting, bot.next_meeting(meeting))
    ((jaime, ping),) = [(p, m) for p, m in pings if p.initials == "JRG"]
    assert len(pings) == 2 and not summary.actions  # the summary has nothing to click
    blocks = render_blocks(ping, meeting.id)
    assert block_errors(blocks) == []
    ids = [item_id(it) for it in items if it.owned_by("JRG")]
    assert _buttons({"blocks": blocks}) == [
        (ACTION_DONE, ids[0]),
        (ACTION_CARRY, ids[0]),
        (ACTION_DONE, ids[1]),
        (ACTION_CARRY, ids[1]),
    ]
    # every line is in the blocks, as in the text: user text escaped in both
    assert blocks_text(blocks) == render_mrkdwn(ping)
    assert "open a PR for &lt;the&gt; docs &amp; more" in blocks_text(blocks)
    # other renderers show the same lines, unchanged
    assert render_plain(ping).count(". [2025-12-24]") == 2


def test_the_reminder_offers_add_agenda_item(tmp_path):
    bot = _bot(tmp_path, dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC))
    meeting = bot.config.meeting("conda-ecosystem")
    reminder = bot.reminder(meeting, bot.next_meeting(meeting), dt.timedelta(minutes=15))
    backend = SlackBackend(bot, env={})
    blocks = backend.blocks(reminder, meeting.id)["blocks"]
    assert block_errors(blocks) == []
    (button,) = FakeSlack.buttons({"blocks": blocks})
    assert button[1]["action_id"] == ACTION_ADD and json.loads(button[1]["value"]) == {"m": "conda-ecosystem"}
    assert blocks_text(blocks) == backend.render(reminder)
    assert backend.blocks(Message().add("a plain answer"), meeting.id) == {}  # no buttons, no blocks


def test_a_reminder_in_several_parts_has_its_button_under_the_last(tmp_path, fake):
    config = load_config(_config(tmp_path, api_url=fake.api_url))
    bot = Bot(config, _Clock(dt.datetime(2026, 1, 7, 16, 45, tzinfo=UTC)))
    backend = SlackBackend(bot, env={"SLACK_BOT_TOKEN": BOT_TOKEN})
    meeting = config.meeting("conda-ecosystem")
    _long_agenda(bot, 80)
    backend.post(meeting, bot.reminder(meeting, bot.next_meeting(meeting), dt.timedelta(minutes=15)))
    *first, last = fake.messages("C0CONDAECO")
    assert len(first) == 2 and not any("blocks" in m for m in first)
    assert block_errors(last["blocks"]) == []
    assert [el["action_id"] for _, el in FakeSlack.buttons(last)] == [ACTION_ADD]
    assert blocks_text(last["blocks"]) == last["text"]  # the part's lines, all of them
    backend.close()


def test_more_items_than_fit_in_50_blocks_get_buttons_on_the_first_ones(tmp_path):
    msg = Message(kind="notice").add("you have 40 items:")
    for n in range(40):
        msg.add(f"• item {n} ", UserText("x" * 4000 if n == 3 else "short"), action=f"2026-01-01:{n}:abc")
    blocks = render_blocks(msg, "conda-ecosystem")
    assert len(blocks) <= MAX_BLOCKS and block_errors(blocks) == []
    done = [v for a, v in _buttons({"blocks": blocks}) if a == ACTION_DONE]
    assert done and done == [f"2026-01-01:{n}:abc" for n in range(len(done))]
    assert "tick the others with `/actions done N`" in blocks_text(blocks)
    text = blocks_text(blocks)
    assert "item 39 short" in text  # no line lost, only buttons
    assert "x" * 2900 in text and "x" * 3001 not in text  # a long line is cut to what a section holds


def test_the_fake_refuses_broken_blocks():
    good = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    assert block_errors(good) == []
    assert block_errors(good * 51)  # too many
    assert block_errors([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}])
    assert block_errors([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    assert block_errors([{"type": "buttons"}])
    button = {"type": "button", "text": {"type": "plain_text", "text": "Done"}, "action_id": "a", "value": "v"}
    assert block_errors([{"type": "actions", "elements": [button]}]) == []
    assert block_errors([{"type": "actions", "elements": [button, button]}])  # same action_id twice
    assert block_errors([{"type": "actions", "elements": [dict(button, text={"type": "mrkdwn", "text": "x"})]}])
    assert block_errors([{"type": "actions", "elements": [dict(button, value="v" * 2001)]}])
    assert block_errors([dict(good[0], block_id="a"), dict(good[0], block_id="a")])


# ---------------------------------------------------------------------------------------
# End to end: the real bot process


def _ping(fake: FakeSlack) -> dict:
    msgs = fake.wait_for(
        lambda: [m for m in fake.history.get("D0JAIME", []) if m.get("blocks")], timeout=30, what="Jaime's ping"
    )
    return msgs[0]


@pytest.mark.slow
def test_owner_ticks_an_item_from_the_ping_and_carries_another(tmp_path, fake, start_bot):
    past = _write_past(tmp_path)
    # the next meeting's notes exist already (else they are created with every open item carried)
    (tmp_path / "notes" / NEXT).write_text(
        "# 2026-01-07\n## From previous meetings\n\n## New agenda items\n\n", encoding="utf-8"
    )
    bot = start_bot()
    fake.wait_connected(1, timeout=20)
    ping = _ping(fake)
    assert ping["text"].startswith("<@U0JAIME> you have 2 open action item(s) before Conda Ecosystem Meeting")
    (first, _), _, (second, _), _ = [(v, a) for a, v in _buttons(ping)]

    # Done on the first item: ticked in the notes, the message shows it, by whom
    eid, click = fake.click(ping["ts"], ACTION_DONE, user_id="U0JAIME", user_name="jaime")
    fake.wait_ack(eid)
    fake.wait_for(lambda: "edited" in fake.find(ping["ts"])[1], what="the ping updated in place")
    assert past.read_text(encoding="utf-8") == PAST_NOTES.replace("- [ ] JRG: open a PR", "- [x] JRG: open a PR")
    _, updated, _ = fake.find(ping["ts"])
    assert block_errors(updated["blocks"]) == []
    assert _buttons(updated) == [(ACTION_DONE, second), (ACTION_CARRY, second)]  # the ticked one has none left
    (note,) = _contexts(updated)
    assert note.startswith("✅ Ticked in " + PAST) and note.endswith("— by <@U0JAIME>")
    assert "open a PR for &lt;the&gt; docs" in updated["text"] and note in updated["text"]  # the fallback too
    # the meeting's channel hears about it, as after /actions done
    completed = lambda: [m for m in fake.messages("C0CONDAECO") if "completed an action item" in m["text"]]  # noqa: E731
    public = fake.wait_for(completed, what="the public note")
    assert public[0]["text"].startswith("JRG completed an action item: JRG: open a PR")

    # the same click delivered again (no ack in time, a reconnect) acts once
    fake.redeliver(eid)
    fake.wait_ack(eid)
    time.sleep(0.5)  # would a second edit or answer follow?
    assert past.read_text(encoding="utf-8").count("[x]") == 1
    assert len([r for r in fake.responses if r.path in click["response_url"]]) == 1
    assert fake.ephemeral == [] and len(completed()) == 1

    # Next meeting on the second: carried into the next notes, the message says so (its
    # response URL has expired: the bot edits its own message with chat.update instead)
    fake.fail_response_urls(1)
    eid, _ = fake.click(ping["ts"], ACTION_CARRY, user_id="U0JAIME", user_name="jaime")
    fake.wait_ack(eid)
    fake.wait_for(lambda: len(_contexts(fake.find(ping["ts"])[1])) == 2, what="the second update")
    (update,) = fake.calls("chat.update")
    assert update.ok and update.params["channel"] == "D0JAIME" and update.params["ts"] == ping["ts"]
    assert "- [ ] JRG: write the release notes (from 2025-12-24)\n" in _read(tmp_path, NEXT)
    assert "- [ ] JRG: write the release notes\n" in past.read_text(encoding="utf-8")  # still open where it was
    _, updated, _ = fake.find(ping["ts"])
    assert _buttons(updated) == []
    assert _contexts(updated)[1] == "➡️ Carried to the notes of 2026-01-07 — by <@U0JAIME>"

    assert bot.alive()
    bot.stop()
    assert_no_secrets(bot.output())
    assert "Traceback" not in bot.output()


@pytest.mark.slow
def test_actions_list_buttons_refuse_someone_not_allowed_and_relist_after_a_tick(tmp_path, fake, start_bot):
    past = _write_past(tmp_path)
    start_bot(now="2026-01-05T12:00:00Z")  # no ping due
    fake.wait_connected(1, timeout=20)
    eid, cmd = fake.send_slash_command("/actions", "", user_id="U0JANNIS", user_name="jannis")
    fake.wait_ack(eid)
    fake.wait_response(cmd["response_url"])
    (listing,) = fake.ephemeral
    assert listing["user"] == "U0JANNIS" and listing["text"].startswith("*Open action items (Conda Ecosystem")
    assert len(_buttons(listing)) == 6 and block_errors(listing["blocks"]) == []

    # Jannis presses Done on Jaime's item: refused, privately, with the reason; nothing changes
    eid, _ = fake.click(listing["ts"], ACTION_DONE, user_id="U0JANNIS", user_name="jannis", nth=0)
    fake.wait_ack(eid)
    refusal = fake.wait_for(lambda: fake.ephemeral[1:], what="the refusal")[0]
    assert refusal["user"] == "U0JANNIS"
    assert refusal["text"].startswith(":warning: action item 1 belongs to JRG; only an owner or an admin can tick it")
    assert past.read_text(encoding="utf-8") == PAST_NOTES
    assert "edited" not in listing

    # someone the bot does not know at all: told how to be added, nothing changes
    eid, cmd = fake.send_slash_command("/actions", "", user_id="U0STRANGER", user_name="sam")
    fake.wait_ack(eid)
    fake.wait_response(cmd["response_url"])
    theirs = fake.ephemeral[-1]
    assert theirs["user"] == "U0STRANGER" and len(_buttons(theirs)) == 6
    eid, _ = fake.click(theirs["ts"], ACTION_CARRY, user_id="U0STRANGER", user_name="sam")
    fake.wait_ack(eid)
    told = fake.wait_for(lambda: [m for m in fake.ephemeral if m["user"] == "U0STRANGER"][1:], what="the refusal")[0]
    assert told["text"].startswith(":warning: ") and "roster" in told["text"]
    assert past.read_text(encoding="utf-8") == PAST_NOTES and not _read(tmp_path, NEXT)
    refusals = len(fake.ephemeral)

    # his own item (the third): ticked; the ephemeral list is shown again, as it is now
    assert len(fake.ephemeral) == refusals
    eid, _ = fake.click(listing["ts"], ACTION_DONE, user_id="U0JANNIS", user_name="jannis", nth=2)
    fake.wait_ack(eid)
    fake.wait_for(lambda: "edited" in listing, what="the list updated in place")
    assert "- [x] JL: review it\n" in past.read_text(encoding="utf-8")
    assert _contexts(listing)[0].startswith(f"✅ Ticked in {PAST}: JL: review it — by <@U0JANNIS>")
    assert len(_buttons(listing)) == 4 and "review it" not in "".join(
        b["text"]["text"] for b in listing["blocks"] if b["type"] == "section"
    )
    assert block_errors(listing["blocks"]) == []


@pytest.mark.slow
def test_add_agenda_item_from_the_reminder_opens_a_modal_with_the_same_validation(tmp_path, fake, start_bot):
    bot = start_bot(now=REMINDER_NOW)
    fake.wait_connected(1, timeout=20)
    reminder = fake.wait_for(
        lambda: [m for m in fake.history.get("C0CONDAECO", []) if m.get("blocks")], timeout=30, what="the reminder"
    )[0]
    assert reminder["text"].startswith("*Conda Ecosystem Meeting* starts in 15 min")
    eid, _ = fake.click(reminder["ts"], ACTION_ADD, user_id="U0JAIME", user_name="jaime")
    fake.wait_ack(eid)
    (view_id,) = fake.wait_for(lambda: list(fake.views), what="the modal")
    view = fake.views[view_id]
    assert view["user"] == "U0JAIME" and view["title"]["text"] == "Add agenda item"
    (field,) = view["blocks"]
    assert field["block_id"] == AGENDA_BLOCK and field["element"]["action_id"] == AGENDA_INPUT
    assert "2026-01-07" in field["label"]["text"]

    # only blanks: the same refusal as `/agenda add`, shown in the modal, nothing written
    answer = fake.submit_view(view_id, {AGENDA_BLOCK: {AGENDA_INPUT: "   "}})
    assert answer["response_action"] == "errors"
    assert answer["errors"][AGENDA_BLOCK].startswith("the agenda item is empty")
    assert "- [ ] JRG:" not in _read(tmp_path, NEXT)

    answer = fake.submit_view(view_id, {AGENDA_BLOCK: {AGENDA_INPUT: "Release plans for 25.1 <!here> & co"}})
    assert answer["response_action"] == "update"
    assert "- [ ] JRG: Release plans for 25.1 <!here> & co\n" in _read(tmp_path, NEXT)
    # the submission delivered again (Slack got no ack in time): acknowledged, added once
    submitted = fake.envelopes[-1].envelope_id
    fake.redeliver(submitted)
    assert fake.wait_ack(submitted).get("payload") in (None, {})
    time.sleep(0.5)
    assert _read(tmp_path, NEXT).count("Release plans for 25.1") == 1
    assert len([m for m in fake.messages("C0CONDAECO") if "added an agenda item" in m["text"]]) == 1
    shown = fake.views[view_id]["blocks"][0]["text"]["text"]
    assert shown.startswith("Added to the agenda of Conda Ecosystem Meeting on 2026-01-07 as item 1")
    assert "&lt;!here&gt; &amp; co" in shown
    public = fake.wait_for(
        lambda: [m for m in fake.messages("C0CONDAECO") if "added an agenda item" in m["text"]], what="the public note"
    )
    assert public[0]["text"].startswith("JRG added an agenda item for 2026-01-07: Release plans for 25.1")
    # a trigger_id is good once: the modal cannot be opened twice from one click
    assert [c.error for c in fake.calls("views.open")] == [None]
    assert bot.alive()
    bot.stop()
    assert "Traceback" not in bot.output()


@pytest.mark.slow
def test_buttons_in_http_mode_are_signed_and_a_retried_click_acts_once(tmp_path, fake, start_bot):
    past = _write_past(tmp_path)
    port = _free_port()
    bot = start_bot(mode="http", port=port)
    bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
    url = f"http://127.0.0.1:{port}/slack/events"
    ping = _ping(fake)

    # a forged click is refused and does nothing; a signed one whose payload is not JSON is a 400
    forged = fake.click_payload(ping["ts"], ACTION_DONE, user_id="U0JAIME")
    assert signed_post(url, "not-the-secret", {"payload": json.dumps(forged)})[0] == 401
    assert signed_post(url, SIGNING_SECRET, {"payload": json.dumps(forged)[:-1]})[0] == 400
    assert signed_post(url, SIGNING_SECRET, {"payload": "[1, 2]"})[0] == 400

    payload = fake.click_payload(ping["ts"], ACTION_DONE, user_id="U0JAIME", user_name="jaime")
    form = {"payload": json.dumps(payload)}
    assert signed_post(url, SIGNING_SECRET, form)[0] == 200
    fake.wait_for(lambda: "edited" in fake.find(ping["ts"])[1], what="the ping updated in place")
    assert "- [x] JRG: open a PR" in past.read_text(encoding="utf-8")
    # Slack's retry of the same request (X-Slack-Retry-Num) is acknowledged, not acted on
    assert signed_post(url, SIGNING_SECRET, form, retry_num=1)[0] == 200
    time.sleep(0.5)
    assert past.read_text(encoding="utf-8").count("[x]") == 1
    assert len([r for r in fake.responses if r.path in payload["response_url"]]) == 1

    # a second, distinct click on the same item (a double click, or a second device): the
    # item is no longer open, so the clicker is told and nothing changes
    again = json.loads(json.dumps(payload))
    again["actions"][0]["action_ts"] = f"{time.time() + 1:.6f}"  # another click: not the same request
    assert signed_post(url, SIGNING_SECRET, {"payload": json.dumps(again)})[0] == 200
    told = fake.wait_for(lambda: fake.ephemeral, what="the answer to the second click")[0]
    assert told["user"] == "U0JAIME" and "done already" in told["text"]
    assert past.read_text(encoding="utf-8").count("[x]") == 1
    bot.stop()
    assert_no_secrets(bot.output())
    assert "Traceback" not in bot.output()


@pytest.mark.slow
def test_the_agenda_modal_in_http_mode(tmp_path, fake, start_bot):
    port = _free_port()
    bot = start_bot(mode="http", now=REMINDER_NOW, port=port)
    bot.wait_log(r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events", timeout=20)
    http = (f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET)
    reminder = fake.wait_for(
        lambda: [m for m in fake.history.get("C0CONDAECO", []) if m.get("blocks")], timeout=30, what="the reminder"
    )[0]

    # Slack cannot open the form (the trigger expired on the way): the clicker is told what to type
    fake.fail("views.open", "expired_trigger_id")
    (status, _), _ = fake.click(reminder["ts"], ACTION_ADD, user_id="U0JANNIS", user_name="jannis", http=http)
    assert status == 200
    told = fake.wait_for(lambda: fake.ephemeral, what="the answer")[0]
    assert told["user"] == "U0JANNIS" and "type `/agenda add TEXT` instead" in told["text"]
    assert fake.views == {}

    (status, _), _ = fake.click(reminder["ts"], ACTION_ADD, user_id="U0JANNIS", user_name="jannis", http=http)
    assert status == 200
    (view_id,) = fake.wait_for(lambda: list(fake.views), what="the modal")
    answer = fake.submit_view(view_id, {AGENDA_BLOCK: {AGENDA_INPUT: "Docs sprint"}}, http=http)
    assert answer["response_action"] == "update"
    assert "- [ ] JL: Docs sprint\n" in _read(tmp_path, NEXT)
    assert "edited" not in reminder  # the reminder itself stays as it was
    bot.stop()
    assert_no_secrets(bot.output())
    assert "Traceback" not in bot.output()


def test_the_manifest_turns_interactivity_on():
    import yaml

    manifest = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "config" / "slack-app-manifest.yml").read_text(encoding="utf-8")
    )
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


@pytest.mark.slow
def test_a_form_submitted_while_the_notes_are_busy_is_answered_at_once_and_shows_the_result(tmp_path, fake, start_bot):
    """Slack waits 3 seconds for a form's answer, then shows an error and people submit again
    (a second item). While another process holds the notes lock the bot answers "adding…" in
    time, and puts the result into the form (views.update) when the edit is done."""
    from filelock import FileLock

    start_bot(now=REMINDER_NOW)
    fake.wait_connected(1, timeout=20)
    reminder = fake.wait_for(
        lambda: [m for m in fake.history.get("C0CONDAECO", []) if m.get("blocks")], timeout=30, what="the reminder"
    )[0]
    eid, _ = fake.click(reminder["ts"], ACTION_ADD, user_id="U0JAIME", user_name="jaime")
    fake.wait_ack(eid)
    (view_id,) = fake.wait_for(lambda: list(fake.views), what="the modal")
    lock = FileLock(str(tmp_path / "notes" / ".chatbot.lock"))
    with lock:
        answer = fake.submit_view(view_id, {AGENDA_BLOCK: {AGENDA_INPUT: "Busy notes item"}})
        assert answer["response_action"] == "update"
        assert "Adding your item" in fake.views[view_id]["blocks"][0]["text"]["text"]
        assert "Busy notes item" not in _read(tmp_path, NEXT)
    fake.wait_for(lambda: fake.calls("views.update"), timeout=20, what="the result in the form")
    assert fake.views[view_id]["blocks"][0]["text"]["text"].startswith("Added to the agenda of Conda Ecosystem")
    assert _read(tmp_path, NEXT).count("- [ ] JRG: Busy notes item") == 1
