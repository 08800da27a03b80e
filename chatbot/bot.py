"""The bot's core, independent of any chat platform.

Backends resolve who typed a command (a :class:`~chatbot.identity.Sender`), call
:meth:`Bot.handle` and render the :class:`~chatbot.messages.Message` they get back; the CLI
calls :meth:`Bot.run` with typed arguments; the scheduler asks :meth:`Bot.reminder` and
:meth:`Bot.action_pings` what to post. The commands are declared in :mod:`chatbot.commands`;
their handlers (:mod:`chatbot.agenda`, :mod:`chatbot.action_commands`, …) are given the
bot's :class:`~chatbot.context.Context` in a :class:`~chatbot.context.Call`, never the bot.
What the bot says is composed in :mod:`chatbot.compose`, and notes are read and edited only
through the meeting's notes store (:mod:`chatbot.stores`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from . import actions as act
from . import commands
from . import review
from .agenda import ensure_notes, read_agenda
from .compose import (
    action_pings,
    agenda_lines,
    next_message,
    notes_link,
    reminder_head,
    review_message,
    zone_lines,
)
from .config import Config, Meeting, Person
from .context import Clock, Context, SystemClock, system_clock
from .editing import Change, EditHooks, EditSession
from .identity import Identity, Sender, initials_from_name
from .inbox import Incoming, Inbox
from .messages import Message, Text
from .notes.edit import EditError
from .notes.files import NotesFiles
from .notes.parse import Item, NotesError
from .schedule import Occurrence
from .state import Ledger
from .stores.base import NotesStore

log = logging.getLogger(__name__)

# re-exported: where backends and hooks have always found them
looks_like_command = commands.looks_like_command
__all__ = [
    "Bot",
    "Change",
    "Clock",
    "EditHooks",
    "EditSession",
    "Identity",
    "Sender",
    "SystemClock",
    "initials_from_name",
    "looks_like_command",
    "system_clock",
]


class Bot:
    """The facade the backends, the scheduler and the CLI use. Its state is the
    :class:`~chatbot.context.Context` every command handler is given (``context``)."""

    def __init__(self, config: Config, clock: Clock = system_clock, hooks: list[EditHooks] | None = None):
        self.context = Context(config, clock, hooks)
        self.inbox = Inbox(self.context)  # commands typed without a platform's rate, deliveries or listings

    # -- the context's state (the runner replaces the config and hooks on reload and
    # hands over its ledger) -----------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.context.config

    @config.setter
    def config(self, config: Config) -> None:
        self.context.config = config

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.context.clock = clock

    @property
    def hooks(self) -> list[EditHooks]:
        return self.context.hooks

    @hooks.setter
    def hooks(self, hooks: list[EditHooks]) -> None:
        self.context.hooks = hooks

    @property
    def ledger(self) -> Ledger | None:
        """The ledger the chair's review decisions are kept in (see ``Context.review_ledger``)."""
        return self.context.ledger

    @ledger.setter
    def ledger(self, ledger: Ledger | None) -> None:
        self.context.ledger = ledger

    # -- plumbing (the context's, for the runner, stores and backends) ----------------

    def now(self) -> dt.datetime:
        return self.context.now()

    def store(self, meeting: Meeting) -> NotesStore:
        """Where the meeting's notes live (as configured now: the config may be reloaded)."""
        return self.context.store(meeting)

    def files(self, meeting: Meeting) -> NotesFiles:
        """The meeting's notes directory (the archive action items are read from)."""
        return self.context.files(meeting)

    @contextlib.contextmanager
    def editing(self, meeting: Meeting) -> Iterator[EditSession]:
        """Hold the meeting's notes lock for one command's edits; run the hooks around them."""
        with self.context.editing(meeting) as session:
            yield session

    def next_meeting(self, meeting: Meeting) -> Occurrence:
        return self.context.next_meeting(meeting)

    def held_until(self, meeting: Meeting) -> dt.date:
        """The latest notes date whose meeting has started (``Context.held_until``)."""
        return self.context.held_until(meeting)

    # -- commands ---------------------------------------------------------------------

    def handle(
        self,
        text: str,
        sender: Sender,
        meeting_id: str | None = None,
        allow_unknown: bool = False,
        place: str | None = None,
        spelled: Mapping[str, str] | None = None,
    ) -> Message:
        """Run one command typed by a person; never raises for bad input. ``place`` is the
        channel or stream it was typed in (None for direct messages and the console);
        ``spelled`` says how people type the core commands on this platform, for the help
        (Slack's slash commands: ``{"agenda": "/agenda", "next": "/next"}``). The backends go
        through their :class:`~chatbot.inbox.Inbox` (which also keeps their rate, deliveries
        and listings); this is the same without those."""
        incoming = Incoming(text, sender, meeting_id, place, allow_unknown=allow_unknown, spelled=spelled)
        return self.inbox.take(incoming).message

    def run(self, words: tuple[str, ...], sender: Sender, meeting_id: str | None = None, **args: Any) -> Message:
        """Run the command ``words`` with typed arguments (the CLI); never raises for bad input
        but an unknown meeting (UnknownMeeting)."""
        return self.inbox.run_words(words, sender, meeting_id, **args).message

    # -- what the bot says on its own (scheduler, status pages, CLI) -------------------

    def ensure_notes(self, meeting: Meeting, occ: Occurrence, session: EditSession) -> bool:
        """Create the occurrence's notes from the template if missing (inside ``editing``)."""
        return ensure_notes(self.context, meeting, occ, session)

    def agenda(self, meeting: Meeting, occ: Occurrence) -> list[Item] | None:
        """The occurrence's numbered agenda items; None if it has no notes yet."""
        return read_agenda(self.context, meeting, occ)

    def zone_lines(self, meeting: Meeting, occ: Occurrence) -> list[str]:
        return zone_lines(meeting, occ)

    def next_message(self, meeting: Meeting, count: int = 1) -> Message:
        return next_message(meeting, self.context.upcoming(meeting, count), self.now())

    def reminder(self, meeting: Meeting, occ: Occurrence, offset: dt.timedelta | None = None) -> Message:
        """The reminder of ``occ``, sent ``offset`` before it (None: now, whenever that is)."""
        msg = reminder_head(meeting, occ, offset, self.now())
        try:
            items = self.agenda(meeting, occ)
        except (NotesError, EditError) as exc:  # the reminder goes out without the agenda
            log.warning("reminder: %s", exc)
            why = exc.problem if isinstance(exc, NotesError) else "see the bot's log"
            msg.add(f"(The notes file could not be read: {why})")
            return msg
        msg.add(*notes_link(self.store(meeting), occ.date))
        msg.add(Text("Agenda so far:", bold=True))
        agenda_lines(msg, items)
        return msg

    def review_ledger(self) -> Ledger | None:
        """The ledger holding the chair's review decisions (``Context.review_ledger``)."""
        return self.context.review_ledger()

    def decisions(self, meeting: Meeting) -> review.Decisions:
        """The chair's decisions on ``meeting``'s action items (none when the ledger cannot be read)."""
        return self.context.decisions(meeting)

    def all_open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """Every open action item found in past notes, whatever the chair decided."""
        return self.context.all_open_actions(meeting)

    def open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """The open action items as listed (``actions``): those the chair rejected left out."""
        return self.context.open_actions(meeting)

    def action_pings(
        self, meeting: Meeting, occ: Occurrence, mention: Callable[[Person], bool] | None = None
    ) -> tuple[list[tuple[Person, Message]], Message]:
        """One message per resolved owner listing all their open items, and a channel summary
        that mentions the owners ``mention`` says (all by default; the others by name only).
        Only the items the review rules ping (``review.pinged``), numbered as `actions` lists them."""
        items = self.context.open_actions_before(meeting, occ.date)
        decisions = self.decisions(meeting)
        shown = review.listed(meeting, items, decisions)
        return action_pings(
            self.files(meeting), meeting, occ, review.pinged(meeting, shown, decisions), mention, numbered=shown
        )

    def review_candidates(self, meeting: Meeting, occ: Occurrence) -> list[tuple[int, act.ActionItem]]:
        """The candidate action items of ``occ``'s notes (``review.candidates``), numbered."""
        return self.context.review_candidates(meeting, occ)

    def review(self, meeting: Meeting, occ: Occurrence, spelled: Mapping[str, str] | None = None) -> Message | None:
        """The chair's review of ``occ``'s notes: its undecided candidate action items (None:
        nothing to ask); ``spelled``: how the platform types commands, for the hint."""
        decisions = self.decisions(meeting)
        numbered = self.review_candidates(meeting, occ)
        if not any(review.state_of(meeting, it, decisions) == "unreviewed" for _, it in numbered):
            return None
        return review_message(self.files(meeting), meeting, occ, numbered, decisions, spelled=spelled)
