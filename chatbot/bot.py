"""The bot's core, independent of any chat platform.

Backends resolve who typed a command (a :class:`~chatbot.identity.Sender`), call
:meth:`Bot.handle` and render the :class:`~chatbot.messages.Message` they get back; the CLI
calls :meth:`Bot.run` with typed arguments; the scheduler asks :meth:`Bot.reminder` and
:meth:`Bot.action_pings` what to post. The commands are declared in :mod:`chatbot.commands`,
their handlers live in :mod:`chatbot.agenda` and :mod:`chatbot.action_commands`, what the bot
says is composed in :mod:`chatbot.compose`, and notes are read and edited only through the
meeting's notes store (:mod:`chatbot.stores`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
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
from .config import Config, Meeting, Person, UnknownMeeting
from .editing import Change, EditHooks, EditSession, editing
from .identity import Identity, Refused, Sender, initials_from_name
from .messages import Message, Text, error
from .notes.edit import EditError
from .notes.files import NotesFiles
from .notes.parse import Item, NotesError
from .schedule import UTC, Occurrence, next_occurrence, occurrences
from .state import Ledger
from .stores import NotesStore, store_for

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

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


class SystemClock:
    """Real time, optionally shifted: ``SystemClock(start=...)`` pretends the bot was started
    at ``start`` and lets time run on from there (set by ``CHATBOT_FAKE_NOW`` for demos and
    end-to-end tests). The scheduler applies the same shift, so reminders fire accordingly."""

    def __init__(self, start: dt.datetime | None = None):
        self.offset = (start - dt.datetime.now(UTC)) if start is not None else dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self.offset


def system_clock() -> dt.datetime:
    return dt.datetime.now(UTC)


class Bot:
    def __init__(self, config: Config, clock: Clock = system_clock, hooks: list[EditHooks] | None = None):
        self.config = config
        self.clock = clock
        self.hooks: list[EditHooks] = list(hooks or [])
        # the ledger the chair's review decisions are kept in: the runner's, else opened on
        # first use in [bot] state_dir (the CLI); None without a config file
        self.ledger: Ledger | None = None
        self._ledger_lock = threading.Lock()
        self._ledger_failed = False

    # -- plumbing ---------------------------------------------------------------------

    def now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock must return an aware datetime")
        return now

    def store(self, meeting: Meeting) -> NotesStore:
        """Where the meeting's notes live (as configured now: the config may be reloaded)."""
        return store_for(self.config, meeting)

    def files(self, meeting: Meeting) -> NotesFiles:
        """The meeting's notes directory (the archive action items are read from)."""
        return NotesFiles(self.config, meeting)

    @contextlib.contextmanager
    def editing(self, meeting: Meeting) -> Iterator[EditSession]:
        """Hold the meeting's notes lock for one command's edits; run the hooks around them."""
        with editing(self.store(meeting), self.hooks) as session:
            yield session

    def next_meeting(self, meeting: Meeting) -> Occurrence:
        occ = next_occurrence(meeting, self.now())
        if occ is None:
            raise EditError(f"{meeting.name} has no upcoming meetings in its schedule")
        return occ

    def held_until(self, meeting: Meeting) -> dt.date:
        """The latest notes date whose meeting has started: today in UTC, or the local date of
        the last meeting that started, if later (a meeting in Auckland starts on its own date
        while UTC is still on the day before)."""
        now = self.now()
        last = None
        for last in occurrences(meeting, now - dt.timedelta(days=2), now + dt.timedelta(microseconds=1)):  # noqa: B007
            pass
        return max(now.date(), last.date) if last else now.date()

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
        (Slack's slash commands: ``{"agenda": "/agenda", "next": "/next"}``)."""
        try:
            meeting = self.config.meeting(meeting_id)
        except UnknownMeeting as exc:
            return error(str(exc))
        allowed = self.config.bot.allowed_places
        if place is not None and allowed and place not in allowed:
            log.info("command from %s refused in %s (not in bot.allowed_places)", sender.platform, place)
            return error(
                "commands are not accepted here; use a direct message to the bot or one of the "
                "channels the maintainers allowed"
            )
        call = commands.Call(self, meeting, sender, allow_unknown, spelled)
        try:
            parsed = commands.parse(text, spelled)
        except Refused as exc:
            return exc.message
        return self._run(call, parsed.command, parsed.args)

    def run(self, words: tuple[str, ...], sender: Sender, meeting_id: str | None = None, **args: Any) -> Message:
        """Run the command ``words`` with typed arguments (the CLI); never raises for bad input
        but an unknown meeting (UnknownMeeting)."""
        meeting = self.config.meeting(meeting_id)
        command = next(c for c in commands.COMMANDS if c.words == words)
        return self._run(commands.Call(self, meeting, sender), command, args)

    def _run(self, call: commands.Call, command: commands.Command, args: Mapping[str, Any]) -> Message:
        try:
            return commands.run(call, command, args)
        except Refused as exc:
            return exc.message
        except (EditError, NotesError) as exc:
            log.info("command %r refused: %s", " ".join(command.words), exc)  # the person is told
            return error(str(exc))

    # -- what the bot says on its own (scheduler, status pages, CLI) -------------------

    def ensure_notes(self, meeting: Meeting, occ: Occurrence, session: EditSession) -> bool:
        """Create the occurrence's notes from the template if missing (inside ``editing``)."""
        return ensure_notes(self, meeting, occ, session)

    def agenda(self, meeting: Meeting, occ: Occurrence) -> list[Item] | None:
        """The occurrence's numbered agenda items; None if it has no notes yet."""
        return read_agenda(self, meeting, occ)

    def zone_lines(self, meeting: Meeting, occ: Occurrence) -> list[str]:
        return zone_lines(meeting, occ)

    def next_message(self, meeting: Meeting, count: int = 1) -> Message:
        now = self.now()
        upcoming = list(occurrences(meeting, now - meeting.duration + dt.timedelta(microseconds=1), limit=count))
        return next_message(meeting, upcoming, now)

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
        """The ledger holding the chair's review decisions (see ``ledger``); None if there is
        none or it cannot be opened (logged once)."""
        with self._ledger_lock:
            if self.ledger is None and not self._ledger_failed and self.config.path is not None:
                path = self.config.resolve(self.config.bot.state_dir) / "chatbot.sqlite3"
                try:
                    self.ledger = Ledger(path)
                except (OSError, sqlite3.Error) as exc:
                    self._ledger_failed = True
                    log.error("cannot open the ledger %s for review decisions: %s", path, exc)
            return self.ledger

    def decisions(self, meeting: Meeting) -> review.Decisions:
        """The chair's decisions on ``meeting``'s action items (none when the ledger cannot be read)."""
        ledger = self.review_ledger()
        if ledger is None:
            return {}
        try:
            return ledger.reviews(meeting.id)
        except sqlite3.Error as exc:
            log.error("cannot read the review decisions of %s: %s; none are applied", meeting.id, exc)
            return {}

    def all_open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """Every open action item found in past notes, whatever the chair decided."""
        occ = next_occurrence(meeting, self.now())
        before = occ.date if occ else self.now().date() + dt.timedelta(days=1)
        return act.open_actions(self.config, meeting, before, today=self.held_until(meeting))

    def open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """The open action items as listed (``actions``): those the chair rejected left out."""
        return review.listed(meeting, self.all_open_actions(meeting), self.decisions(meeting))

    def action_pings(
        self, meeting: Meeting, occ: Occurrence, mention: Callable[[Person], bool] | None = None
    ) -> tuple[list[tuple[Person, Message]], Message]:
        """One message per resolved owner listing all their open items, and a channel summary
        that mentions the owners ``mention`` says (all by default; the others by name only).
        Only the items the review rules ping (``review.pinged``), numbered as `actions` lists them."""
        items = act.open_actions(self.config, meeting, occ.date, today=self.held_until(meeting))
        decisions = self.decisions(meeting)
        shown = review.listed(meeting, items, decisions)
        return action_pings(
            self.files(meeting), meeting, occ, review.pinged(meeting, shown, decisions), mention, numbered=shown
        )

    def review_candidates(self, meeting: Meeting, occ: Occurrence) -> list[tuple[int, act.ActionItem]]:
        """The candidate action items of ``occ``'s notes (``review.candidates``), numbered."""
        items = act.open_actions(self.config, meeting, occ.date + dt.timedelta(days=1), today=self.held_until(meeting))
        return list(enumerate(review.candidates(items, occ.date), 1))

    def review(self, meeting: Meeting, occ: Occurrence) -> Message | None:
        """The chair's review of ``occ``'s notes: its undecided candidate action items (None: nothing to ask)."""
        decisions = self.decisions(meeting)
        numbered = self.review_candidates(meeting, occ)
        if not any(review.state_of(meeting, it, decisions) == "unreviewed" for _, it in numbered):
            return None
        return review_message(self.files(meeting), meeting, occ, numbered, decisions)
