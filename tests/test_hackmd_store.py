"""The ``hackmd`` notes store through the bot: agenda items land in the live HackMD note,
with the same minimal line edits as files, and a person's concurrent typing survives.
Against the fake HackMD API on loopback; the real HackMD client."""

from __future__ import annotations

import datetime as dt

import pytest

from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain
from chatbot.notes.edit import agenda_items
from chatbot.notes.parse import parse_notes
from chatbot.stores.base import store_for
from chatbot.stores.hackmd import HackMDStore
from chatbot.stores.records import NoteRecords

from conftest import BASE_CONFIG, FixedClock, write_config
from fakes.hackmd import FakeHackMD

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # Monday before the 2026-01-07 17:00 UTC meeting
JRG = Sender("cli", initials="JRG")
JL = Sender("cli", initials="JL")


@pytest.fixture
def hm():
    with FakeHackMD() as fake:
        yield fake


def hackmd_config(tmp_path, hm, extra: str = ""):
    text = BASE_CONFIG.replace(
        'url = "https://example.org/notes/{filename}"', 'url = "https://example.org/notes/{filename}"\nstore = "hackmd"'
    )
    text += f'\n[meetings.hackmd]\napi_url = "{hm.api_url}"\nteam = "{hm.team}"\n' + extra
    return load_config(write_config(tmp_path, text))


@pytest.fixture
def bot(tmp_path, hm, monkeypatch):
    monkeypatch.setenv("HACKMD_TOKEN", hm.token)
    return Bot(hackmd_config(tmp_path, hm), FixedClock(NOW))


def the_note(hm):
    (note,) = hm.team_notes()
    return note


def agenda(text: str) -> list[str]:
    notes = parse_notes(text)
    return [it.text for it in agenda_items(notes, notes.section("New agenda items"))]


def test_store_is_chosen_by_config(bot):
    assert isinstance(store_for(bot.config, bot.config.meeting()), HackMDStore)


def test_agenda_add_creates_the_team_note_from_the_template_and_adds_the_item(bot, hm):
    msg = bot.handle("agenda add Release plans for 26.1", JRG)
    assert msg.ok, render_plain(msg)
    note = the_note(hm)
    assert "\n# 2026-01-07 Conda Ecosystem Meeting\n" in note.content  # the template, rendered for the date
    assert agenda(note.content) == ["JRG: Release plans for 26.1"]
    # the answer links the live note, not a file
    assert f"/{note.short_id}" in render_plain(msg)
    # no notes file was written: Git receives the notes through the weekly pull request
    assert not (bot.config.resolve(bot.config.meeting().notes.directory) / "20260107-eco.md").exists()


def test_edits_are_minimal_lines_and_list_reads_the_live_note(bot, hm):
    assert bot.handle("agenda add first", JRG).ok
    before = the_note(hm).content
    assert bot.handle("agenda add second", JL).ok
    after = the_note(hm).content
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(b) == len(a) + 1 and [ln for ln in b if ln not in a] == ["- [ ] JL: second\n"]
    listing = render_plain(bot.handle("agenda list", JRG))
    assert "1. JRG: first" in listing and "2. JL: second" in listing
    assert bot.handle("agenda remove 2", JL).ok
    assert the_note(hm).content == before  # add then remove: byte for byte


def test_a_person_typing_between_the_bots_read_and_write_keeps_both_lines(bot, hm):
    assert bot.handle("agenda add first", JRG).ok
    note = the_note(hm)
    path = f"/v1/teams/{hm.team}/notes/{note.id}"
    # a person types a line after the bot read the note and before it writes (HackMD has no
    # conditional write: the bot reads again right before writing, and re-applies its edit)
    hm.before_next(
        "GET", lambda: hm.human_edit(note.id, lambda c: c + "\nJaime: a note typed live\n"), path=path, skip=1
    )
    assert bot.handle("agenda add second", JL).ok
    content = hm.content(note.id)
    assert "Jaime: a note typed live" in content
    assert agenda(content) == ["JRG: first", "JL: second"]


def test_an_existing_note_is_found_by_its_title_and_recorded(tmp_path, hm, monkeypatch):
    monkeypatch.setenv("HACKMD_TOKEN", hm.token)
    config = hackmd_config(tmp_path, hm)
    store = store_for(config, config.meeting())
    title = store.title_for(dt.date(2026, 1, 7))
    assert title
    existing = hm.add_note(f"# {title}\n\n## New agenda items\n\n- [ ] ...\n", team_path=hm.team)
    bot = Bot(config, FixedClock(NOW))
    assert bot.handle("agenda add found it", JRG).ok
    assert len(hm.team_notes()) == 1  # no second note
    assert agenda(hm.content(existing.id)) == ["JRG: found it"]
    record = NoteRecords(config.resolve(config.bot.state_dir) / "hackmd-notes.json").get("eco", dt.date(2026, 1, 7))
    assert record and record["hackmd_id"] == existing.id


@pytest.mark.parametrize("status, says", [(401, "HACKMD_TOKEN"), (403, "team"), (429, "")])
def test_hackmd_errors_get_a_clear_answer_and_nothing_is_lost(bot, hm, status, says):
    assert bot.handle("agenda add first", JRG).ok
    note = the_note(hm)
    before = hm.content(note.id)
    hm.fail_next("GET", count=10, status=status, retry_after=3600)
    msg = bot.handle("agenda add second", JL)
    assert not msg.ok
    text = render_plain(msg)
    assert "HackMD" in text and says in text
    assert hm.content(note.id) == before


def test_a_missing_token_is_named(tmp_path, hm, monkeypatch):
    monkeypatch.delenv("HACKMD_TOKEN", raising=False)
    bot = Bot(hackmd_config(tmp_path, hm), FixedClock(NOW))
    msg = bot.handle("agenda add first", JRG)
    assert not msg.ok and "HACKMD_TOKEN" in render_plain(msg)
    assert hm.team_notes() == []


def test_the_reminder_reads_the_agenda_from_the_live_note(bot, hm):
    from chatbot.schedule import next_occurrence

    assert bot.handle("agenda add Release plans", JRG).ok
    m = bot.config.meeting()
    text = render_plain(bot.reminder(m, next_occurrence(m, NOW), dt.timedelta(hours=24)))
    assert "JRG: Release plans" in text
    assert f"/{the_note(hm).short_id}" in text  # the link goes to the HackMD note
