"""The bot's own state: a SQLite ledger of what was sent, so nothing is sent twice.

A reminder or ping is recorded right after the platform accepted it; on restart the ledger
says which ones are done. The database lives in ``[bot] state_dir`` (relative to the
config file), never in the notes directory.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    key TEXT PRIMARY KEY,
    sent_at TEXT NOT NULL
)
"""


class Ledger:
    def __init__(self, path: Path | str = ":memory:"):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(SCHEMA)

    def was_sent(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM sent WHERE key = ?", (key,)).fetchone() is not None

    def mark_sent(self, key: str, when: dt.datetime | None = None) -> None:
        stamp = (when or dt.datetime.now(dt.timezone.utc)).isoformat()
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO sent (key, sent_at) VALUES (?, ?)", (key, stamp))

    def close(self) -> None:
        with self._lock:
            self._db.close()
