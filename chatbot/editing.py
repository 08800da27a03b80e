"""Editing sessions: the notes lock held for one command, and the hooks around every edit
(e.g. committing the change to Git, :mod:`chatbot.gitsync`)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterator

from .config import Meeting, Person
from .messages import Message

if TYPE_CHECKING:
    from .identity import Identity
    from .stores.base import NotesStore

log = logging.getLogger(__name__)


@dataclass
class Change:
    """One edit the bot made to a meeting's notes (for hooks such as committing it to Git)."""

    path: Path | None  # the local file, where the store keeps one
    summary: str  # e.g. "agenda: add 'Release plans' for 2026-01-07 (JRG)"
    person: Person | None = None


class EditHooks:
    """Extension points around every edit; ``before_edit`` runs under the notes lock before
    the notes are read (e.g. ``git pull``), ``after_edit`` after the change was written (e.g.
    ``git commit``/``push``) and may return a warning for the person who asked."""

    def before_edit(self, meeting: Meeting) -> None:
        pass

    def after_edit(self, meeting: Meeting, changes: list[Change]) -> str | None:
        return None


@dataclass
class EditSession:
    store: NotesStore | None = None  # the notes store the session holds the lock of (one per command)
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def record(self, path: Path | None, summary: str, who: Identity | None = None) -> None:
        self.changes.append(Change(path, summary, who.person if who else None))

    def warn(self, message: Message) -> Message:
        """``message`` with this session's warnings added."""
        for w in self.warnings:
            message.add("⚠ ", w)
            message.warnings.append(w)  # done, but not published: the CLI exits non-zero
        return message


@contextlib.contextmanager
def editing(store: NotesStore, hooks: list[EditHooks]) -> Iterator[EditSession]:
    """Hold the meeting's notes lock for one command's edits; run the hooks around them."""
    meeting = store.meeting
    session = EditSession(store)
    with store.lock():
        for hook in hooks:
            hook.before_edit(meeting)
        yield session
        if session.changes:
            for hook in hooks:
                try:
                    warning = hook.after_edit(meeting, session.changes)
                except Exception as exc:  # a hook never loses the edit that was made
                    log.exception("after-edit hook %s failed", type(hook).__name__)
                    warning = f"the change was saved, but {type(hook).__name__} failed: {exc}"
                if warning:
                    session.warnings.append(warning)
