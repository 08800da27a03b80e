"""The chair's review of candidate action items (issue 21): the rules (which items are pinged,
listed, asked about), who reviews, when the review is due, the commands, the ledger keeping
the decisions across restarts, and the runner sending the review once. In process; the
end-to-end tests against the fake Slack and Zulip are in test_review_e2e.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot import review
from chatbot.actions import FORMS, ActionItem, item_id
from chatbot.backends.base import Backend
from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain
from chatbot.runner import Reminders
from chatbot.schedule import occurrence_on
from chatbot.state import Ledger
from conftest import BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
REPO = Path(__file__).resolve().parent.parent
ATT = "## Attendees\n| Name | Initials |\n| -- | -- |\n| Jaime | JRG |\n| Jannis | JL |\n\n"
NOTES = (
    f"# Conda Ecosystem Meeting 2026-01-07\n\n{ATT}## Discussion\n\n- Release plans\n"
    "    - JRG: will report this to the list\n    - JL will draft the CEP\n\n"
    "## Action items\n\n- [ ] JRG: write the docs\n"
)
AFTER = dt.datetime(2026, 1, 7, 20, 0, 1, tzinfo=UTC)  # the meeting 17:00-18:00, review 2 h after its end
ADM = Sender("cli", initials="ADM")


def _item(form: str, line: int = 1, text: str = "JRG: x") -> ActionItem:
    return ActionItem(dt.date(2026, 1, 7), Path("n.md"), line, text, text, form=form, checkbox=form != "prose")


def _bot(tmp_path: Path, config: str = BASE_CONFIG, now: dt.datetime = AFTER, notes: str = NOTES) -> Bot:
    tmp_path.mkdir(exist_ok=True)
    path = write_config(tmp_path, config)
    (tmp_path / "notes").mkdir(exist_ok=True)
    (tmp_path / "notes" / "20260107-eco.md").write_text(notes, encoding="utf-8")
    return Bot(load_config(path), FixedClock(now))


def _say(bot: Bot, text: str, who: Sender = ADM) -> str:
    msg = bot.handle(text, who)
    assert msg.ok, render_plain(msg)
    return render_plain(msg)


# ---------------------------------------------------------------------------------------
# The rules


def test_tracked_are_pinged_rejected_never_unreviewed_only_if_explicit(config):
    meeting = config.meeting()
    prose, checkbox, tracked, rejected = (
        _item("prose", 1, "JRG: will a"),
        _item("checkbox", 2, "JRG: b"),
        _item("prose", 3, "JRG: will c"),
        _item("section", 4, "JRG: d"),
    )
    decisions = {
        review.decision_key(meeting, tracked): {"decision": "track", "by": "ADM"},
        review.decision_key(meeting, rejected): {"decision": "reject", "by": "ADM"},
    }
    items = [prose, checkbox, tracked, rejected]
    assert review.listed(meeting, items, decisions) == [prose, checkbox, tracked]
    assert review.pinged(meeting, items, decisions) == [checkbox, tracked]
    assert review.unconfirmed(meeting, items, decisions) == {item_id(prose)}
    # without any decision: every explicit form is pinged, prose is not
    forms = ["section", "label", "list", "checkbox", "carried", "prose"]
    assert [it.form for it in review.pinged(meeting, [_item(f, n) for n, f in enumerate(forms)], {})] == forms[:-1]


def test_a_decision_is_kept_by_date_and_text_not_line(config):
    meeting = config.meeting()
    a, moved, edited = _item("prose", 3, "JRG: will a"), _item("prose", 9, "JRG: will a"), _item("prose", 3, "JRG: b")
    assert review.decision_key(meeting, a) == review.decision_key(meeting, moved)
    assert review.decision_key(meeting, a) != review.decision_key(meeting, edited)


def test_a_copy_marked_from_the_meeting_has_its_decision(config):
    meeting = config.meeting()
    orig = _item("prose", 3, "JRG: will a")
    copy = ActionItem(
        dt.date(2026, 1, 21),
        Path("m.md"),
        5,
        "JRG: Will  a (from 2026-01-07)",
        "Will  a (from 2026-01-07)",
        form="prose",
    )
    other = ActionItem(dt.date(2026, 1, 21), Path("m.md"), 6, "JRG: will a", "will a", form="prose")
    decisions = {review.decision_key(meeting, orig): {"decision": "track", "by": "ADM"}}
    assert review.pinged(meeting, [copy, other], decisions) == [copy]  # the unmarked one is a new candidate


def test_candidates_are_the_meetings_own_items_not_topics_nor_carried_copies():
    day = dt.date(2026, 1, 7)
    own, carried, topic = _item("prose"), _item("carried", 2), _item("section", 3)
    topic.kind = "topic"
    earlier = ActionItem(dt.date(2025, 12, 24), Path("m.md"), 1, "JL: y", "y", form="checkbox")
    assert review.candidates([own, carried, topic, earlier], day) == [own]


def test_the_chair_reviews_else_the_admins(tmp_path):
    config = load_config(write_config(tmp_path))
    assert [p.initials for p in review.reviewers(config)] == ["ADM"]
    chaired = BASE_CONFIG.replace('name = "Jannis Leidel"\n', 'name = "Jannis Leidel"\nchair = true\n')
    config = load_config(write_config(tmp_path, chaired))
    assert [p.initials for p in review.reviewers(config)] == ["JL"]
    nobody = BASE_CONFIG.replace("admin = true\n", "")
    assert review.reviewers(load_config(write_config(tmp_path, nobody))) == []


def test_the_review_is_due_after_the_meeting_ends_until_the_next_one_starts(config):
    meeting = config.meeting()
    first = occurrence_on(meeting, dt.date(2026, 1, 7))
    assert review.due_review(meeting, dt.datetime(2026, 1, 7, 19, 59, tzinfo=UTC)) is None
    assert review.due_review(meeting, dt.datetime(2026, 1, 7, 20, 0, tzinfo=UTC)) == first
    assert review.due_review(meeting, dt.datetime(2026, 1, 14, 13, 59, tzinfo=UTC)) == first
    # the next meeting started: its review is the one due, 2 h after it ends
    assert review.due_review(meeting, dt.datetime(2026, 1, 14, 14, 30, tzinfo=UTC)) is None
    assert review.due_review(meeting, dt.datetime(2026, 1, 14, 17, 0, tzinfo=UTC)).date == dt.date(2026, 1, 14)
    never = meeting.model_copy(update={"actions": meeting.actions.model_copy(update={"review_after": None})})
    assert review.due_review(never, dt.datetime(2026, 1, 8, tzinfo=UTC)) is None


def test_review_after_is_a_duration_or_none(tmp_path):
    text = BASE_CONFIG.replace(
        'zulip_stream = "conda"\n', 'zulip_stream = "conda"\n\n[meetings.actions]\nreview_after = "30m"\n'
    )
    assert load_config(write_config(tmp_path, text)).meeting().actions.review_after == dt.timedelta(minutes=30)
    none = text.replace('review_after = "30m"', 'review_after = "none"')  # as the README writes it
    assert load_config(write_config(tmp_path, none)).meeting().actions.review_after is None
    text = text.replace('review_after = "30m"', 'review_after = "soon"')
    with pytest.raises(Exception, match="review_after"):
        load_config(write_config(tmp_path, text))


# ---------------------------------------------------------------------------------------
# The commands, pings and lists


def test_the_chair_decides_and_pings_follow(tmp_path):
    bot = _bot(tmp_path)
    meeting = bot.config.meeting()
    listed = _say(bot, "actions review")
    assert f"1. JRG: will report this to the list — {FORMS['prose']} — 20260107-eco.md:12" in listed
    assert f"3. JRG: write the docs — {FORMS['section']}" in listed
    # someone who is neither chair nor admin is told why
    refused = bot.handle("actions reject 1", Sender("cli", initials="JL"))
    assert not refused.ok and "only the chair or an admin" in render_plain(refused) and "ADM" in render_plain(refused)
    assert bot.decisions(meeting) == {}
    assert "Not an action item" in _say(bot, "actions reject 1")
    assert "Tracked" in _say(bot, "actions track 2")
    assert "no candidate action item 9; there are 3" in render_plain(bot.handle("actions track 9", ADM))

    pings, summary = bot.action_pings(meeting, bot.next_meeting(meeting))
    text = {p.initials: render_plain(m) for p, m in pings}
    assert "will report this" not in text["JRG"] and "write the docs" in text["JRG"]  # rejected: never
    assert "JL will draft the CEP" in text["JL"]  # tracked prose: pinged
    assert "will report this" not in render_plain(summary) and "): 2" in render_plain(summary)
    # numbered as `actions` lists them (the rejected one is not listed)
    actions = _say(bot, "actions")
    assert "will report this" not in actions and "1. [2026-01-07] JL: JL will draft the CEP" in actions
    assert "2. [2026-01-07] write the docs" in text["JRG"]


def test_an_unreviewed_prose_item_is_listed_marked_but_not_pinged(tmp_path):
    bot = _bot(tmp_path)
    meeting = bot.config.meeting()
    pings, summary = bot.action_pings(meeting, bot.next_meeting(meeting))
    assert [p.initials for p, _ in pings] == ["JRG"]  # JL's only item is unreviewed prose
    assert "will report this" not in render_plain(pings[0][1]) and "3. [2026-01-07] write the docs" in render_plain(
        pings[0][1]
    )
    actions = _say(bot, "actions").splitlines()
    assert next(x for x in actions if "will report this" in x).endswith(f"({FORMS['prose']}, unconfirmed)")
    assert next(x for x in actions if "write the docs" in x).endswith(f"({FORMS['section']})")


def test_new_notes_carry_over_what_is_pinged(tmp_path):
    bot = _bot(tmp_path, now=dt.datetime(2026, 1, 10, tzinfo=UTC))
    _say(bot, "actions reject 3")  # the Action items section's item: rejected, never carried
    _say(bot, "actions track 2")  # prose, tracked: carried
    _say(bot, "agenda add Docs sprint", Sender("cli", initials="JRG"))
    new = (tmp_path / "notes" / "20260114-eco.md").read_text(encoding="utf-8")
    assert "- [ ] JL: JL will draft the CEP (from 2026-01-07)" in new
    assert "write the docs" not in new and "report this" not in new  # rejected; prose nobody confirmed


def test_decisions_survive_a_restart_and_a_line_added_above(tmp_path):
    bot = _bot(tmp_path)
    _say(bot, "actions track 1")
    notes = tmp_path / "notes" / "20260107-eco.md"
    notes.write_text(notes.read_text(encoding="utf-8").replace("## Discussion\n", "## Discussion\n\n- hello\n"))
    again = Bot(load_config(tmp_path / "chatbot.toml"), FixedClock(AFTER))  # a new process: the ledger's file
    meeting = again.config.meeting()
    pings, _ = again.action_pings(meeting, again.next_meeting(meeting))
    assert "will report this" in render_plain(dict((p.initials, m) for p, m in pings)["JRG"])
    assert "tracked (ADM)" in _say(again, "actions review")


def test_the_review_message_asks_only_about_undecided_items(tmp_path):
    bot = _bot(tmp_path)
    meeting = bot.config.meeting()
    occ = occurrence_on(meeting, dt.date(2026, 1, 7))
    msg = bot.review(meeting, occ)
    assert len(msg.reviews) == 3 and msg.about == occ
    _say(bot, "actions reject 1")
    msg = bot.review(meeting, occ)
    assert sorted(msg.reviews.values()) == sorted(item_id(it) for _, it in bot.review_candidates(meeting, occ)[1:])
    assert render_plain(msg).splitlines()[1].startswith("2. JL: JL will draft the CEP")  # numbers kept
    _say(bot, "actions track 2")
    _say(bot, "actions track 3")
    assert bot.review(meeting, occ) is None  # nothing left to ask


def test_a_button_decides_by_id_also_after_the_line_moved(tmp_path):
    bot = _bot(tmp_path)
    meeting = bot.config.meeting()
    (_, first), *_ = bot.review_candidates(meeting, occurrence_on(meeting, dt.date(2026, 1, 7)))
    ident = item_id(first)
    notes = tmp_path / "notes" / "20260107-eco.md"
    notes.write_text(notes.read_text(encoding="utf-8").replace("## Discussion\n", "## Discussion\n\n- hello\n"))
    assert bot.run(("actions", "reject-item"), ADM, item=ident).ok
    assert "will report this" not in _say(bot, "actions")
    gone = bot.run(("actions", "track-item"), ADM, item="2026-01-07:12:0000000000")
    assert not gone.ok and "text changed" in render_plain(gone)


# ---------------------------------------------------------------------------------------
# The runner: sent once, when due, to the reviewers


class Recorder(Backend):
    name = "rec"

    def __init__(self, bot):
        super().__init__(bot)
        self.posts: list[str] = []
        self.dms: list[tuple[str, str]] = []

    def render(self, message):
        return render_plain(message)

    def post(self, meeting, message):
        self.posts.append(render_plain(message))

    def reaches_directly(self, person):
        return bool(person.slack_id)

    def send_direct(self, meeting, person, message, key=None):
        self.dms.append((person.initials, render_plain(message)))

    def run(self, stop):
        pass


def test_the_runner_sends_the_review_once_when_due_also_across_restarts(tmp_path):
    bot = _bot(tmp_path, now=AFTER - dt.timedelta(seconds=2))
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    rec = Recorder(bot)
    assert Reminders(bot, rec, Ledger(ledger)).fire_review("eco") == []  # not yet due
    bot.clock.now = AFTER
    assert Reminders(bot, rec, Ledger(ledger)).fire_review("eco") == [True]
    ((who, text),) = rec.dms
    assert who == "ADM" and text.startswith("*Action items of Conda Ecosystem Meeting on 2026-01-07*")
    bot.clock.now = AFTER + dt.timedelta(hours=1)
    assert Reminders(bot, rec, Ledger(ledger)).fire_review("eco") == []  # a restart: sent already
    assert len(rec.dms) == 1 and rec.posts == []


def test_nothing_to_review_sends_nothing_and_a_chair_without_a_dm_is_mentioned_in_the_channel(tmp_path):
    bot = _bot(tmp_path, notes=f"# 2026-01-07\n\n{ATT}## Discussion\n\n- nothing to do\n")
    rec = Recorder(bot)
    assert Reminders(bot, rec, Ledger(tmp_path / "l.sqlite3")).fire_review("eco") == []
    assert rec.dms == rec.posts == []
    no_dm = BASE_CONFIG.replace('slack_id = "U9"\n', "")
    bot = _bot(tmp_path / "b", config=no_dm)
    rec = Recorder(bot)
    assert Reminders(bot, rec, Ledger(tmp_path / "m.sqlite3")).fire_review("eco") == [True]
    (post,) = rec.posts
    assert post.startswith("@ADM *Action items of Conda Ecosystem Meeting")


def test_with_the_weekly_pull_request_the_review_waits_for_the_sync(tmp_path):
    weekly = BASE_CONFIG.replace(
        'zulip_stream = "conda"\n',
        'zulip_stream = "conda"\n\n[meetings.github]\nrepo = "conda/governance"\n',
    ).replace('template = "template.md"\n', 'template = "template.md"\nstore = "hackmd"\n')
    bot = _bot(tmp_path, config=weekly)
    ledger = Ledger(tmp_path / "l.sqlite3")
    rec = Recorder(bot)
    rem = Reminders(bot, rec, ledger)
    assert rem.fire_review("eco") == []  # due by the clock, but the notes are not synced yet
    ledger.mark_sent("pipeline-sync:rec:eco:2026-01-07")
    assert rem.fire_review("eco") == [True]


# ---------------------------------------------------------------------------------------
# The CLI


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-07T20:00:01Z"}
    return subprocess.run(
        [sys.executable, "-m", "chatbot", "actions", "review", "-c", str(tmp_path / "chatbot.toml"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def test_cli_actions_review_lists_decides_and_says_json(tmp_path):
    _bot(tmp_path)
    out = _cli(tmp_path)
    assert out.returncode == 0 and f"1. JRG: will report this to the list — {FORMS['prose']}" in out.stdout
    refused = _cli(tmp_path, "--reject", "1", "--as", "JL")
    assert refused.returncode == 1 and "only the chair or an admin" in refused.stderr
    assert _cli(tmp_path, "--reject", "1").returncode == 2  # who decides?
    done = _cli(tmp_path, "--reject", "1", "--track", "2", "--as", "ADM", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout[done.stdout.index("{") :])
    assert data["date"] == "2026-01-07"
    assert [(i["n"], i["form"], i["explicit"], i["decision"], i["by"]) for i in data["items"]] == [
        (1, "prose", False, "reject", "ADM"),
        (2, "prose", False, "track", "ADM"),
        (3, "section", True, None, None),
    ]
    assert "Not an action item" in done.stdout and "Tracked" in done.stdout
    assert _cli(tmp_path, "--date", "2026-01-08").returncode == 1  # no meeting that day
    helped = _cli(tmp_path, "--help")
    assert helped.returncode == 0 and "--track N" in helped.stdout and "--reject N" in helped.stdout


def test_check_config_says_who_reviews(tmp_path):
    _bot(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "chatbot", "check-config", "-c", str(tmp_path / "chatbot.toml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert (
        "review: candidate action items sent to ADM (the admins: no chair in the roster) 2 h after each meeting ends"
        in (out.stdout)
    )


def test_the_console_gets_the_review_and_answers_it_by_typed_commands(tmp_path):
    import io
    import threading

    from chatbot.backends.console import ConsoleBackend

    bot = _bot(tmp_path)
    out = io.StringIO()
    console = ConsoleBackend(bot, stdin=io.StringIO("/actions reject 1\n/actions track 2\n"), stdout=out, user="ADM")
    assert Reminders(bot, console, Ledger(tmp_path / "l.sqlite3")).fire_review("eco") == [True]
    assert out.getvalue().startswith("[eco] @ADM *Action items of Conda Ecosystem Meeting on 2026-01-07*")
    console.run(threading.Event())  # the typed answers, until the input ends
    said = out.getvalue()
    assert "Not an action item (item 1 of 2026-01-07" in said and "Tracked (item 2 of 2026-01-07" in said
    decisions = {d["text"]: d["decision"] for d in bot.decisions(bot.config.meeting()).values()}
    assert decisions == {"JRG: will report this to the list": "reject", "JL will draft the CEP": "track"}
