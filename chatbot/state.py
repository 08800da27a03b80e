"""The bot's own state: a SQLite ledger, so nothing is sent twice and nothing is handled twice.

Its tables, in ``[bot] state_dir`` (relative to the config file), never in the notes
directory:

* ``sent``: reminders and pings the platform accepted;
* ``intents``: a reminder or ping about to be posted, written *before* the post (with what
  the backend needs to recognise the message on the platform). An intent without a ``sent``
  row after a crash is reconciled against the platform before anything is posted again
  (:class:`chatbot.runner.Reminders`);
* ``listings``: which of the bot's chat messages list which open action items (platform and
  message id -> conversation, meeting, the items' numbers, stable ids and lines, the text as
  sent), so a reaction on a ping or a ``done 2`` reply acts on the item the person saw, also
  after a restart. Kept :data:`LISTINGS_KEPT_FOR`;
* ``lease``: which copy of the bot may act for a platform (:mod:`chatbot.lease`): holder
  (host, machine boot and pid namespace, pid, a random token), since when, until when unless renewed;
* ``reviews``: the chair's decisions on candidate action items (``chatbot.review``): the item's
  key (meeting, notes date, text digest) -> "track" or "reject", who decided and when. Kept
  for good: a rejected item is never pinged again;
* ``handled``: deliveries of commands already acted on (a Socket Mode ``envelope_id``, the
  digest of a signed HTTP request), so a redelivery or replay is answered without acting again.
  Bounded: rows older than :data:`HANDLED_KEPT_FOR` go, and at most :data:`HANDLED_MAX` stay.

A ledger that is damaged (damaged pages, or a file that is not a database at all) must not
silently stop reminders: it is checked when opened (``PRAGMA quick_check``) and whenever
SQLite reports damage; a damaged file is moved aside (``chatbot.sqlite3.damaged-<UTC time>``)
with an ERROR log line, and the bot goes on with a fresh, empty ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Callable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    key TEXT PRIMARY KEY,
    sent_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intents (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handled (
    key TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handled_at ON handled (at);
CREATE TABLE IF NOT EXISTS listings (
    message TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    meeting TEXT NOT NULL,
    items TEXT NOT NULL,
    content TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS listings_conversation ON listings (conversation, at);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    host TEXT NOT NULL,
    node TEXT NOT NULL,
    pid INTEGER NOT NULL,
    what TEXT NOT NULL,
    since REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    key TEXT PRIMARY KEY,
    meeting TEXT NOT NULL,
    item TEXT NOT NULL,
    decision TEXT NOT NULL,
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_meeting ON reviews (meeting);
"""

HANDLED_KEPT_FOR = 24 * 3600.0  # seconds: Slack redelivers within minutes; replays are signed for 5
HANDLED_MAX = 20_000  # rows; older ones are forgotten first
INTENTS_KEPT_FOR = 7 * 24 * 3600.0  # seconds an unconfirmed intent is kept
_PRUNE_EVERY = 200  # inserts
LISTINGS_KEPT_FOR = 90 * 24 * 3600.0  # seconds: pings and lists older than this are not acted on

# SQLite's primary result codes for a damaged database (sqlite3.Error.sqlite_errorcode & 0xff)
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26

T = TypeVar("T")


def _one_line(rows: list) -> str:
    """The first problems ``PRAGMA quick_check`` reports, on one line (a row may hold several)."""
    return "; ".join(" ".join(str(r).split()) for r in rows[:3])


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error says the database file is damaged or not a database (as opposed
    to busy, locked, read-only or a full disk, which a fresh file would not cure)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


class Ledger:
    def __init__(self, path: Path | str = ":memory:"):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._inserts = 0
        self.recovered: list[Path] = []  # where damaged files were moved (for tests and logs)
        self._db = self._open(check=True)

    # -- opening, checking, recovering ---------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript("BEGIN;" + SCHEMA + "COMMIT;")  # one transaction: atomic, and a small WAL
        return db

    def _open(self, check: bool) -> sqlite3.Connection:
        try:
            db = self._connect()
            if check and self.path != ":memory:":
                rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
                if rows != ["ok"]:
                    db.close()
                    return self._recover("PRAGMA quick_check: " + _one_line(rows))
            return db
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise  # not writable, disk full…: a fresh file would not help; the caller says so
            return self._recover(str(exc))

    def _recover(self, why: str) -> sqlite3.Connection:
        """Move the damaged file (and its -wal/-shm) aside and open a fresh ledger."""
        path = Path(self.path)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        self.recovered.append(aside)
        log.error(
            "the ledger %s is damaged (%s); moved it aside to %s and started a fresh one. Reminders and "
            "pings go on; what was sent before is forgotten, so one still within reminder_grace may be "
            "posted again",
            path,
            why,
            aside.name,
        )
        return self._connect()

    def _run(self, what: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``what`` on the database; damage found on the way is recovered from (once)."""
        with self._lock:
            try:
                return what(self._db)
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc) or self.path == ":memory:":
                    raise
                try:
                    self._db.close()
                except sqlite3.Error:
                    pass
                self._db = self._recover(str(exc))
                return what(self._db)

    def read(self, what: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``what`` (queries only) on the database."""
        return self._run(what)

    def write(self, what: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``what`` in one write transaction (``BEGIN IMMEDIATE``): another process sharing
        the file waits until it is committed (the lease is read and taken this way)."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = what(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result

        return self._run(transaction)

    def check(self) -> None:
        """``PRAGMA quick_check`` now; a damaged file is moved aside and replaced."""

        def quick(db: sqlite3.Connection) -> None:
            rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
            if rows != ["ok"]:
                raise sqlite3.DatabaseError("database disk image is malformed (" + _one_line(rows) + ")")

        if self.path != ":memory:":
            self._run(quick)

    # -- sent ---------------------------------------------------------------------------

    def was_sent(self, key: str) -> bool:
        return self._run(lambda db: db.execute("SELECT 1 FROM sent WHERE key = ?", (key,)).fetchone() is not None)

    def mark_sent(self, key: str, when: dt.datetime | None = None) -> None:
        stamp = (when or dt.datetime.now(dt.UTC)).isoformat()

        def mark(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR IGNORE INTO sent (key, sent_at) VALUES (?, ?)", (key, stamp))
                db.execute("DELETE FROM intents WHERE key = ?", (key,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._run(mark)

    # -- intents ------------------------------------------------------------------------

    def record_intent(self, key: str, data: dict[str, Any], when: dt.datetime | None = None) -> None:
        """Written (and synced) before a post: if the bot dies after the post but before
        ``mark_sent``, the restart finds the intent and asks the platform."""
        stamp = (when or dt.datetime.now(dt.UTC)).isoformat()
        self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO intents (key, at, data) VALUES (?, ?, ?)",
                (key, stamp, json.dumps(data, sort_keys=True)),
            )
        )

    def intent(self, key: str) -> tuple[dt.datetime, dict[str, Any]] | None:
        """The unconfirmed intent recorded for ``key`` (when, and its data), if any."""
        row = self._run(lambda db: db.execute("SELECT at, data FROM intents WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        try:
            data = json.loads(row[1])
        except ValueError:
            data = {}
        return dt.datetime.fromisoformat(row[0]), data if isinstance(data, dict) else {}

    def drop_intent(self, key: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM intents WHERE key = ?", (key,)))

    # -- handled deliveries -------------------------------------------------------------

    def claim(self, key: str, now: float | None = None) -> bool:
        """Record that the delivery ``key`` is being acted on. True the first time; False if it
        was claimed before (a redelivery or a replay: answer it, do not act again)."""
        stamp = time.time() if now is None else now

        def insert(db: sqlite3.Connection) -> bool:
            cur = db.execute("INSERT OR IGNORE INTO handled (key, at) VALUES (?, ?)", (key, stamp))
            return cur.rowcount == 1

        first = self._run(insert)
        if first:
            self._inserts += 1
            if self._inserts % _PRUNE_EVERY == 0:
                self.prune(stamp)
        return first

    def prune(self, now: float | None = None) -> None:
        stamp = time.time() if now is None else now

        # an intent never confirmed (a post that failed until it was no longer due) is of no
        # use after its reminder_grace; a week is far beyond any
        old_intents = dt.datetime.fromtimestamp(stamp - INTENTS_KEPT_FOR, dt.UTC).isoformat()

        def prune(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM handled WHERE at < ?", (stamp - HANDLED_KEPT_FOR,))
            db.execute(
                "DELETE FROM handled WHERE key IN (SELECT key FROM handled ORDER BY at DESC LIMIT -1 OFFSET ?)",
                (HANDLED_MAX,),
            )
            db.execute("DELETE FROM intents WHERE at < ?", (old_intents,))

        self._run(prune)

    # -- messages that list action items ------------------------------------------------

    def remember_listing(
        self,
        message: str,
        conversation: str,
        meeting: str,
        items: list[dict[str, Any]],
        content: str,
        now: float | None = None,
    ) -> None:
        """``message`` (``zulip:1234``) lists ``items`` (each ``{"n", "id", "line"}``) of ``meeting``
        in ``conversation`` (``zulip:dm:a@b.org``); ``content`` is the text as sent."""
        stamp = time.time() if now is None else now

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO listings (message, conversation, meeting, items, content, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (message, conversation, meeting, json.dumps(items), content, stamp),
            )
            db.execute("DELETE FROM listings WHERE at < ?", (stamp - LISTINGS_KEPT_FOR,))

        self._run(insert)

    @staticmethod
    def _listing(row) -> dict[str, Any] | None:
        if row is None:
            return None
        try:
            items = json.loads(row[3])
        except ValueError:
            items = []
        return {
            "message": row[0],
            "conversation": row[1],
            "meeting": row[2],
            "items": items if isinstance(items, list) else [],
            "content": row[4],
            "at": row[5],
        }

    def listing(self, message: str) -> dict[str, Any] | None:
        """What ``remember_listing`` recorded for ``message``, or None."""
        return self._listing(
            self._run(
                lambda db: db.execute(
                    "SELECT message, conversation, meeting, items, content, at FROM listings WHERE message = ?",
                    (message,),
                ).fetchone()
            )
        )

    def latest_listing(self, conversation: str) -> dict[str, Any] | None:
        """The newest message listing action items in ``conversation``, or None."""
        return self._listing(
            self._run(
                lambda db: db.execute(
                    "SELECT message, conversation, meeting, items, content, at FROM listings WHERE conversation = ? "
                    "ORDER BY at DESC, rowid DESC LIMIT 1",
                    (conversation,),
                ).fetchone()
            )
        )

    def latest_listings(self, conversation: str) -> list[dict[str, Any]]:
        """The messages of the newest answer listing action items in ``conversation``, first to
        last: a long answer comes as several messages, remembered with one time stamp."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT message, conversation, meeting, items, content, at FROM listings WHERE conversation = ? "
                "AND at = (SELECT MAX(at) FROM listings WHERE conversation = ?) ORDER BY rowid",
                (conversation, conversation),
            ).fetchall()
        )
        return [listing for listing in map(self._listing, rows) if listing is not None]

    def update_listing(self, message: str, content: str) -> None:
        """The message's text after the bot edited it (a ticked item shown as done)."""
        self._run(lambda db: db.execute("UPDATE listings SET content = ? WHERE message = ?", (content, message)))

    # -- the chair's review of action items -----------------------------------------------

    def record_review(
        self, key: str, meeting: str, item: str, decision: str, by: str, text: str, when: dt.datetime | None = None
    ) -> None:
        """The decision on the item ``key`` (a later one replaces it: the chair changed their mind)."""
        stamp = (when or dt.datetime.now(dt.UTC)).isoformat()
        self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO reviews (key, meeting, item, decision, by, at, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, meeting, item, decision, by, stamp, text),
            )
        )

    def reviews(self, meeting: str) -> dict[str, dict[str, str]]:
        """Every decision on ``meeting``'s items: key -> {"item", "decision", "by", "at", "text"}."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT key, item, decision, by, at, text FROM reviews WHERE meeting = ?", (meeting,)
            ).fetchall()
        )
        return {r[0]: {"item": r[1], "decision": r[2], "by": r[3], "at": r[4], "text": r[5]} for r in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
