"""The notes-store seam: the operations the bot performs on one meeting's notes.

Notes of one meeting occurrence are named by its date. Every edit is a
:data:`~chatbot.notes.edit.LineEdit` (a pure function from the parsed notes to their new
lines), so each store applies the same minimal line edits wherever the text lives, and
re-applies them to newer text when a person edited it in between.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path

from ..config import Config, Meeting, notes_store
from ..notes.edit import EditResult, LineEdit
from ..notes.parse import Notes
from ..schedule import Occurrence

log = logging.getLogger(__name__)


class NotesStore(ABC):
    """Where one meeting's notes live."""

    kind: str = "?"

    def __init__(self, config: Config, meeting: Meeting):
        self.config = config
        self.meeting = meeting
        # one per command (or job): a test counts these lines to keep it so
        log.debug("notes store %s of %s opened", self.kind, meeting.id)

    @abstractmethod
    def name(self, day: dt.date) -> str:
        """How people know the notes of ``day`` (a file name, a note's title)."""

    @abstractmethod
    def url(self, day: dt.date, line: int | None = None) -> str | None:
        """A link to the notes of ``day`` (to a 1-based line where the store can), if any."""

    @abstractmethod
    def exists(self, day: dt.date) -> bool:
        """Whether notes for ``day`` exist yet."""

    @abstractmethod
    def read(self, day: dt.date) -> Notes | None:
        """The parsed notes of ``day``, or None if there are none yet (NotesError if they
        cannot be parsed)."""

    @abstractmethod
    def ensure(self, occurrence: Occurrence, text: str | None = None) -> bool:
        """Create the occurrence's notes if missing, with ``text`` (default: the meeting's
        template rendered); True if they were created. Call under :meth:`lock`."""

    @abstractmethod
    def apply(self, day: dt.date, change: LineEdit) -> EditResult:
        """Apply one minimal edit to the notes of ``day``, keeping what others wrote meanwhile.
        Call under :meth:`lock`."""

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Serialize edits of this meeting's notes (across threads and processes)."""

    def related(self, day: dt.date) -> list[tuple[str, str]]:
        """Other links about the notes of ``day`` as (label, url), e.g. the pull request that
        brings a live note into Git."""
        return []

    def path(self, day: dt.date) -> Path | None:
        """The local file holding the notes of ``day``, if the store keeps them in one (used by
        hooks such as Git commits)."""
        return None


def store_class(name: str) -> type[NotesStore]:
    """The ``NotesStore`` class of a declared store (``stores.STORES``), imported on first use:
    HackMD's client is not loaded for a meeting whose notes are files."""
    module, _, attr = notes_store(name).store.partition(":")
    cls = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(cls, type) and issubclass(cls, NotesStore)):
        raise TypeError(f"notes store {name!r}: {module}:{attr} is not a NotesStore, got {cls!r}")
    return cls


def store_for(config: Config, meeting: Meeting) -> NotesStore:
    """The notes store of ``meeting`` as configured (``[meetings.notes] store``)."""
    return store_class(meeting.notes.store)(config, meeting)
