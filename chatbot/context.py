"""What a command handler is given: a :class:`Context` (the config, the clock, the meeting's
notes store and editing session, the ledger of the chair's review decisions, the open action
items) and a :class:`Call` (the meeting, who asked, how the platform spells commands).

This module sits below the handlers (:mod:`chatbot.agenda`, :mod:`chatbot.action_commands`,
:mod:`chatbot.action_add`, :mod:`chatbot.review_commands`), the registry
(:mod:`chatbot.commands`) and :class:`chatbot.bot.Bot`, which builds one context and hands it
to every command: handlers never import the bot or the registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from . import actions as act
from . import review
from .config import Config, Meeting
from .editing import EditHooks, EditSession, editing
from .identity import Identity, Sender, identify
from .messages import spell
from .notes.edit import EditError
from .notes.files import NotesFiles
from .schedule import UTC, Occurrence, next_occurrence, occurrences
from .state import Ledger
from .stores.base import NotesStore, store_for

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# who may run a command: anyone; "member": someone the roster knows (or, with
# allow_unknown_users, anyone with a display name: their initials are made from it);
# "roster": someone the roster knows
Who = Literal["anyone", "member", "roster"]


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


class Context:
    """The bot's state as the handlers see it: the config (replaced on reload), the clock, the
    edit hooks and the ledger. One per :class:`~chatbot.bot.Bot`, shared by every command."""

    def __init__(self, config: Config, clock: Clock = system_clock, hooks: list[EditHooks] | None = None):
        self.config = config
        self.clock = clock
        self.hooks: list[EditHooks] = list(hooks or [])
        # the ledger the chair's review decisions are kept in: the runner's, else opened on
        # first use in [bot] state_dir (the CLI); None without a config file
        self.ledger: Ledger | None = None
        self._ledger_lock = threading.Lock()
        self._ledger_failed = False

    # -- time -------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock must return an aware datetime")
        return now

    def next_meeting(self, meeting: Meeting) -> Occurrence:
        occ = next_occurrence(meeting, self.now())
        if occ is None:
            raise EditError(f"{meeting.name} has no upcoming meetings in its schedule")
        return occ

    def upcoming(self, meeting: Meeting, count: int = 1) -> list[Occurrence]:
        """The next ``count`` occurrences, the one in progress first."""
        now = self.now()
        return list(occurrences(meeting, now - meeting.duration + dt.timedelta(microseconds=1), limit=count))

    def held_until(self, meeting: Meeting) -> dt.date:
        """The latest notes date whose meeting has started: today in UTC, or the local date of
        the last meeting that started, if later (a meeting in Auckland starts on its own date
        while UTC is still on the day before)."""
        now = self.now()
        last = None
        for last in occurrences(meeting, now - dt.timedelta(days=2), now + dt.timedelta(microseconds=1)):  # noqa: B007
            pass
        return max(now.date(), last.date) if last else now.date()

    # -- notes ------------------------------------------------------------------------

    def store(self, meeting: Meeting) -> NotesStore:
        """Where the meeting's notes live (as configured now: the config may be reloaded)."""
        return store_for(self.config, meeting)

    def files(self, meeting: Meeting) -> NotesFiles:
        """The meeting's notes directory (the archive action items are read from)."""
        return NotesFiles(self.config, meeting)

    @contextlib.contextmanager
    def editing(self, meeting: Meeting, store: NotesStore | None = None) -> Iterator[EditSession]:
        """Hold the meeting's notes lock for one command's edits; run the hooks around them.
        ``store``: the meeting's store the command already has (``session.store``; else one is
        opened here), so one command opens it once."""
        with editing(store or self.store(meeting), self.hooks) as session:
            yield session

    # -- action items and the chair's decisions ----------------------------------------

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

    def open_actions_before(self, meeting: Meeting, day: dt.date) -> list[act.ActionItem]:
        """Every open action item found in notes dated before ``day``."""
        return act.open_actions(self.config, meeting, day, today=self.held_until(meeting))

    def all_open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """Every open action item found in past notes, whatever the chair decided."""
        occ = next_occurrence(meeting, self.now())
        return self.open_actions_before(meeting, occ.date if occ else self.now().date() + dt.timedelta(days=1))

    def open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        """The open action items as listed (``actions``): those the chair rejected left out."""
        return review.listed(meeting, self.all_open_actions(meeting), self.decisions(meeting))

    def review_candidates(self, meeting: Meeting, occ: Occurrence) -> list[tuple[int, act.ActionItem]]:
        """The candidate action items of ``occ``'s notes (``review.candidates``), numbered."""
        items = self.open_actions_before(meeting, occ.date + dt.timedelta(days=1))
        return list(enumerate(review.candidates(items, occ.date), 1))


@dataclass
class Call:
    """One command being run: with what (the context), for whom, about which meeting, and how
    the platform spells commands (for hints)."""

    ctx: Context
    meeting: Meeting
    sender: Sender
    allow_unknown: bool = False
    spelled: Mapping[str, str] | None = None
    who: Who = "anyone"
    _identity: Identity | None = field(default=None, repr=False)

    def identity(self) -> Identity:
        """The person running the command (Refused for someone the bot does not know)."""
        if self._identity is None:
            self._identity = identify(self.ctx.config, self.sender, self.allow_unknown and self.who == "member")
        return self._identity

    def spell(self, usage: str) -> str:
        """``usage`` quoted as people type it on this platform (for hints)."""
        return f"`{spell(usage, self.spelled)}`"
