"""The ``files`` notes store: a directory of Markdown files (optionally in Git, through the
edit hooks in :mod:`chatbot.gitsync`)."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from pathlib import Path

from ..config import Config, Meeting
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
