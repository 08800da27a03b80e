"""Deferred topics through the bot: the topics the last meeting did not reach are carried
into the next notes' "From previous meetings" with ``(from DATE)``, listed by ``agenda list``
under their own heading, and never pinged as action items."""

from __future__ import annotations

import datetime as dt

from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain
from chatbot.schedule import next_occurrence

from conftest import BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
ATT = "## Attendees\n| Name | Initials | GH Username |\n| -- | -- | -- |\n| Jannis | JL | jezdez |\n\n"
HELD = (
    f"# 2026-01-14\n{ATT}## From previous meetings\n\n- [ ] ...\n\n## New agenda items\n\n"
    "- [x] JRG: Release plans\n    - JRG: will tag 26.1 on Friday\n"
    "- [ ] JL: CI costs\n- [ ] ADM: Budget\n    - discussed, no decision\n"
)


def make_bot(tmp_path) -> Bot:
    cfg = load_config(write_config(tmp_path, BASE_CONFIG))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "20260114-eco.md").write_text(HELD)
    return Bot(cfg, FixedClock(dt.datetime(2026, 1, 18, 12, tzinfo=UTC)))  # next meeting: 2026-01-21


def test_unreached_topics_are_carried_listed_and_not_pinged(tmp_path):
    bot = make_bot(tmp_path)
    me = Sender("cli", initials="JRG")
    # a prose action item is carried and pinged once the chair (here the admin) tracks it (issue 21)
    assert bot.handle("actions track 1", Sender("cli", initials="ADM")).ok
    assert bot.handle("agenda add Docs sprint", me).ok
    new = (tmp_path / "notes" / "20260121-eco.md").read_text()
    prev = new.split("## From previous meetings", 1)[1].split("\n## ", 1)[0]
    assert "- [ ] JL: CI costs (from 2026-01-14)" in prev
    assert "Budget" not in prev  # discussed (notes under it): not deferred
    assert "Release plans" not in prev  # ticked
    assert "JRG: will tag 26.1 on Friday" in prev  # the action item is carried as such
    listing = render_plain(bot.handle("agenda list", me))
    assert "Deferred from earlier meetings" in listing and "JL: CI costs (from 2026-01-14)" in listing
    # pings name action items, never topics
    m = bot.config.meeting()
    pings, summary = bot.action_pings(m, next_occurrence(m, bot.now()))
    text = "\n".join(render_plain(p) for _, p in pings) + render_plain(summary)
    assert "CI costs" not in text and "tag 26.1" in text


def test_a_topic_ticked_later_under_other_words_is_no_longer_deferred(tmp_path):
    bot = make_bot(tmp_path)
    before = render_plain(bot.handle("agenda list", Sender("cli", initials="JRG")))
    assert "JL: CI costs (from 2026-01-14)" in before
    # the next notes, written ahead by hand, tick it under other words
    (tmp_path / "notes" / "20260121-eco.md").write_text(
        f"# 2026-01-21\n{ATT}## From previous meetings\n\n- [ ] ...\n\n## New agenda items\n\n"
        "- [x] JL: the costs of CI\n"
    )
    listing = render_plain(bot.handle("agenda list", Sender("cli", initials="JRG")))
    assert "Deferred from earlier meetings" not in listing
