"""Notes stores: where a meeting's notes live (a directory of Markdown files, optionally in
Git; or a live HackMD note). The bot reads and edits notes only through
:class:`~chatbot.stores.base.NotesStore`; :func:`store_for` picks the one a meeting's config
asks for."""

from __future__ import annotations

import importlib

from ..config import NOTES_STORES, Config, Meeting
from .base import NotesStore
from .files import FilesStore


def weekly_enabled(meeting: Meeting) -> bool:
    """Whether the bot runs the weekly notes pipeline (publish, sync, nudge) for ``meeting``:
    its notes live in HackMD and reach Git through a pull request."""
    return meeting.notes.store == "hackmd" and bool(meeting.github.repo)


def store_for(config: Config, meeting: Meeting) -> NotesStore:
    """The notes store of ``meeting`` as configured (``config.NOTES_STORES``; a store's module
    is imported when a meeting first uses it: HackMD's client is not loaded for files)."""
    module, _, name = NOTES_STORES[meeting.notes.store].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(config, meeting)


__all__ = ["NotesStore", "FilesStore", "store_for", "weekly_enabled"]
