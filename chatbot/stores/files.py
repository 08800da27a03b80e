"""The ``files`` notes store: a directory of Markdown files (optionally in Git, through the
edit hooks in :mod:`chatbot.gitsync`), and its declaration (``FILES``, named in
``chatbot.stores.STORES``): it has no section of its own (``[meetings.notes]`` is the core's)."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..config import Config, Meeting, Store
from ..notes.edit import EditResult, LineEdit, apply_to_file
from ..notes.files import NotesFiles
from ..notes.parse import Notes, read_notes
from ..schedule import Occurrence
from .base import NotesStore


class FilesStore(NotesStore):
    kind = "files"

    def __init__(self, config: Config, meeting: Meeting):
        super().__init__(config, meeting)
        self.files = NotesFiles(config, meeting)

    def path(self, day: dt.date) -> Path:
        return self.files.path_for(day)

    def name(self, day: dt.date) -> str:
        return self.path(day).name

    def url(self, day: dt.date, line: int | None = None) -> str | None:
        return self.files.url_at(self.path(day), line)

    def exists(self, day: dt.date) -> bool:
        return self.path(day).exists()

    def read(self, day: dt.date) -> Notes | None:
        path = self.path(day)
        return read_notes(path) if path.exists() else None

    def ensure(self, occurrence: Occurrence, text: str | None = None) -> bool:
        return self.files.ensure(occurrence, text)[1]

    def apply(self, day: dt.date, change: LineEdit) -> EditResult:
        return apply_to_file(self.path(day), change)

    def lock(self) -> AbstractContextManager[None]:
        return self.files.lock()


def template_name(config: Config, meeting: Meeting) -> str:
    """check-config: the template new notes are made from."""
    return str(config.resolve(meeting.notes.template)) if meeting.notes.template else "the built-in template"


def _check(config: Config, meeting: Meeting, start: dt.datetime) -> list[str]:
    files = NotesFiles(config, meeting)
    exists = "exists" if files.path_for(start).exists() else "not created yet"
    return [
        f"notes store: Markdown files in {files.directory}, named {meeting.notes.filename} "
        f"(next: {files.path_for(start).name}, {exists}); new ones from {template_name(config, meeting)}; "
        f"agenda items under '{meeting.notes.agenda_section}'"
    ]


FILES: Store[Any] = Store(name="files", store="chatbot.stores.files:FilesStore", check=_check)
