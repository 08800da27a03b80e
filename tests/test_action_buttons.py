"""Acting on one action item by its stable id (what buttons and reactions send): tick it,
or carry it into the next meeting's notes; a changed or finished item is refused."""

from __future__ import annotations

import datetime as dt

from chatbot.action_commands import item_id
from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain

from conftest import BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
ATT = "## Attendees\n| Name | Initials | GH Username |\n| -- | -- | -- |\n| Jaime | JRG | jaimergp |\n\n"
JRG, JL = Sender("cli", initials="JRG"), Sender("cli", initials="JL")


def make_bot(tmp_path) -> Bot:
    cfg = load_config(write_config(tmp_path, BASE_CONFIG))
    d = tmp_path / "notes"
    d.mkdir()
    (d / "20260114-eco.md").write_text(f"# b\n{ATT}## Action items\n\n- [ ] JRG: open a PR\n- [ ] JRG: write docs\n")
    return Bot(cfg, FixedClock(dt.datetime(2026, 1, 20, 12, tzinfo=UTC)))  # before the 2026-01-21 meeting


def test_done_by_id_ticks_that_item_even_after_the_numbering_changed(tmp_path):
    bot = make_bot(tmp_path)
    first, second = bot.open_actions(bot.config.meeting())
    ident = item_id(second)
    assert bot.run(("actions", "done"), JRG, number=1).ok  # item 1 done: "write docs" is item 1 now
    msg = bot.run(("actions", "done-item"), JRG, item=ident)
    assert msg.ok, render_plain(msg)
    assert (
        (tmp_path / "notes" / "20260114-eco.md").read_text().endswith("- [x] JRG: open a PR\n- [x] JRG: write docs\n")
    )
    again = bot.run(("actions", "done-item"), JRG, item=ident)
    assert not again.ok and "list them again" in render_plain(again)


def test_done_by_id_keeps_the_permission_rules(tmp_path):
    bot = make_bot(tmp_path)
    item = bot.open_actions(bot.config.meeting())[0]
    before = (tmp_path / "notes" / "20260114-eco.md").read_text()
    refused = bot.run(("actions", "done-item"), JL, item=item_id(item))
    assert not refused.ok and "only an owner or an admin" in render_plain(refused)
    assert (tmp_path / "notes" / "20260114-eco.md").read_text() == before


def test_carry_puts_the_item_into_the_next_notes_once(tmp_path):
    bot = make_bot(tmp_path)
    item = bot.open_actions(bot.config.meeting())[0]
    msg = bot.run(("actions", "carry"), JRG, item=item_id(item))
    assert msg.ok, render_plain(msg)
    nxt = (tmp_path / "notes" / "20260121-eco.md").read_text()
    assert nxt.count("JRG: open a PR (from 2026-01-14)") == 1
    assert bot.run(("actions", "carry"), JRG, item=item_id(item)).ok
    assert (tmp_path / "notes" / "20260121-eco.md").read_text().count("JRG: open a PR") == 1


def test_hidden_commands_are_not_typed_or_listed(tmp_path):
    bot = make_bot(tmp_path)
    assert "done-item" not in render_plain(bot.handle("help", JRG))
    assert not bot.handle("actions done-item 2026-01-14:7:abc", JRG).ok
