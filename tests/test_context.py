"""The handlers' context: commands run with a Context alone (no Bot), and the Bot's state is its
context's (what the runner replaces on reload reaches the handlers)."""

from __future__ import annotations

import datetime as dt

import pytest

from chatbot import commands
from chatbot.bot import Bot
from chatbot.config import load_config
from chatbot.context import Call, Context
from chatbot.identity import Refused, Sender
from chatbot.messages import render_plain
from chatbot.state import Ledger

from conftest import FixedClock, write_config

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)  # before the 2026-01-07 meeting
JRG = Sender("cli", initials="JRG")


def _command(words: tuple[str, ...]) -> commands.Command:
    return next(c for c in commands.COMMANDS if c.words == words)


def test_a_command_runs_with_a_context_and_no_bot(config):
    ctx = Context(config, FixedClock(NOW))
    meeting = config.meeting()
    added = commands.run(Call(ctx, meeting, JRG), _command(("agenda", "add")), {"text": "Release plans"})
    assert added.ok, render_plain(added)
    notes = config.resolve(meeting.notes.directory) / "20260107-eco.md"
    assert "- [ ] JRG: Release plans" in notes.read_text(encoding="utf-8")
    listed = commands.run(Call(ctx, meeting, JRG), _command(("agenda", "list")), {})
    assert "JRG: Release plans" in render_plain(listed)


def test_the_registry_checks_who_runs_a_command_before_its_handler(config):
    ctx = Context(config, FixedClock(NOW))
    called = []
    probe = commands.Command(("probe",), "a test command", lambda call: called.append(call) or None, who="roster")
    stranger = Sender("slack", user_id="U77", name="Some One", id_field="slack_id")
    with pytest.raises(Refused) as refused:
        commands.run(Call(ctx, config.meeting(), stranger), probe, {})
    assert "U77" in render_plain(refused.value.message)  # told who the bot does not know
    assert called == []


def test_the_bot_state_is_its_context_state(tmp_path, config):
    bot = Bot(config, FixedClock(NOW))
    # the runner's reload: a new config and hooks, its ledger handed over, a new clock
    (tmp_path / "reloaded").mkdir()
    reloaded = load_config(write_config(tmp_path / "reloaded"))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    later = FixedClock(NOW + dt.timedelta(days=10))
    bot.config, bot.hooks, bot.ledger, bot.clock = reloaded, [], ledger, later
    assert bot.context.config is reloaded and bot.context.ledger is ledger and bot.context.clock is later
    assert bot.review_ledger() is ledger and bot.now() == NOW + dt.timedelta(days=10)
    # and the handlers see it: the next meeting is now the one after 2026-01-14
    assert "2026-01-21" in render_plain(bot.handle("agenda list", JRG))
