"""The bot's own record of the live notes it created or found (``hackmd-notes.json`` in the
state directory): per meeting and date, the HackMD note's id and link, the weekly branch and
pull request, and the content last synced into Git (the base of a three-way merge)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..notes.edit import atomic_write

_lock = threading.Lock()


class NoteRecords:
    def __init__(self, path: Path):
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # a damaged record is only a cache of what the PR and HackMD also say: start over
            # (the locator finds notes by the PR's HACKMDID= line or the note's title)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, meeting_id: str, day: dt.date) -> dict[str, Any] | None:
        with _lock:
            entry = self._load().get(meeting_id, {}).get(day.isoformat())
        return dict(entry) if isinstance(entry, dict) else None

    def update(self, meeting_id: str, day: dt.date, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the record of (meeting, day) and write it atomically (one
        writer at a time, across threads and the bot's processes)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _lock, FileLock(str(self.path.with_name(f".{self.path.name}.lock")), timeout=30):
            data = self._load()
            entry = data.setdefault(meeting_id, {}).setdefault(day.isoformat(), {})
            entry.update(fields)
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
            return dict(entry)
