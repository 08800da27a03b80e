"""What is read from each notes file, cached by path, size, mtime and a content hash, in memory
and (``[meetings.actions] persist_cache``) in an SQLite file in ``[bot] state_dir``, so that a
restarted bot does not parse unchanged files again; the in-memory caches of resolved entries
and people indexes, and the memo of the last list of open items (kept under a digest of
everything it depends on, this package's code included)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import logging
import marshal
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from ..config import Config, Meeting
from ..notes import parse as _parse_module
from ..notes.files import NotesFiles
from ..notes.parse import Notes, NotesError, normalize_title, parse_notes, read_regular_file
from .. import people as _people_module
from ..people import PeopleIndex, first_name
from .classify import _owners
from .model import Evidence, FileFacts, Raw
from .parse import _section_names, evidence, extract
from .workers import cpus, in_workers

log = logging.getLogger("chatbot.actions")

CACHE_FORMAT = 4


def _facts(raws: list[Raw], notes: Notes) -> FileFacts:
    return FileFacts(
        tuple(r for r in raws if r.kind == "action"),
        tuple(r for r in raws if r.kind == "topic"),
        tuple((a.initials, a.name, a.github, first_name(a.name)) for a in notes.attendees()),
        evidence(notes.text, notes.lines, notes.items, _attendee_lines(notes), _new_topics(raws, notes)),
    )


_CARRIED_OVER = ("previous", "outstanding", "last meeting", "carried")


def _new_topics(raws: list[Raw], notes: Notes) -> set[int]:
    """Lines (0-based) of this meeting's own topics: ticked, they were discussed, not done (a
    ticked copy in "From previous meetings" still reports its item done)."""
    topics = {r.line - 1 for r in raws if r.kind == "topic"}
    if not topics:
        return topics
    carried = {
        it.line
        for it in notes.items
        if it.line in topics and it.section is not None and any(w in it.section.title.lower() for w in _CARRIED_OVER)
    }
    return topics - carried


def _attendee_lines(notes: Notes) -> set[int]:
    return {
        it.line
        for it in notes.items
        if it.section is not None and normalize_title(it.section.title).startswith("attendees")
    }


def _encode(facts: FileFacts) -> bytes:
    return marshal.dumps(
        (
            CACHE_FORMAT,
            tuple(tuple(r) for r in facts.actions),
            tuple(tuple(r) for r in facts.topics),
            facts.attendees,
            tuple(tuple(e) for e in facts.evidence),
        )
    )


def _decode(blob: bytes) -> FileFacts | None:
    try:
        version, actions, topics, attendees, evidence = marshal.loads(blob)
        if version != CACHE_FORMAT:
            return None
        make = Raw._make
        return FileFacts(
            tuple(map(make, actions)), tuple(map(make, topics)), attendees, tuple(map(Evidence._make, evidence))
        )
    except (ValueError, EOFError, TypeError):
        return None


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What a file's cached facts are kept under, besides its content hash."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class ScanStore:
    """What was read from each notes file, keyed by path, size, mtime_ns (and inode and
    ctime_ns: a tick keeps the size, and two writes can share a coarse mtime) and a content
    hash: a file whose stat changed but whose bytes did not (a ``git checkout``, a copy) is
    not parsed again. ``path=None`` keeps it in memory only.

    The SQLite file is the bot's own, like the reminder ledger beside it; a damaged or
    foreign one is ignored (and rewritten), never trusted over the notes."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        # path -> (stat key, hash, sections key, facts, or their encoded bytes until first use)
        self._mem: dict[str, tuple[tuple[int, int, int, int], bytes, str, FileFacts | bytes]] = {}
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple] = []
        self._all = False  # every row of the database is in _mem
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                if self._db.execute("PRAGMA user_version").fetchone()[0] != CACHE_FORMAT:
                    self._db.execute("DROP TABLE IF EXISTS files")
                    self._db.execute(f"PRAGMA user_version = {CACHE_FORMAT}")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                    "mtime INTEGER, ino INTEGER, ctime INTEGER, hash BLOB, sections TEXT, facts BLOB)"
                )
                self._db.execute("CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, value BLOB)")
            except (sqlite3.Error, OSError) as exc:
                log.warning("the notes scan cache %s cannot be used (%s); scanning without it", path, exc)
                self._close_db()

    def preload(self) -> None:
        """Read every row at once (a scan about to visit every file); otherwise rows are read
        one by one when first asked for, and decoded then (a restart that reuses the last
        answer visits a few files)."""
        if self._db is None or self._all:
            return
        mem = self._mem
        with self._lock, _no_gc():
            try:
                rows = self._db.execute("SELECT * FROM files").fetchall()
            except sqlite3.Error:
                return
            for p, size, mtime, ino, ctime, digest, sections, blob in rows:
                if isinstance(blob, bytes) and p not in mem:
                    mem[p] = ((size, mtime, ino, ctime), digest, sections, blob)
            self._all = True

    def _row(self, name: str):
        if self._db is None or self._all:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT * FROM files WHERE path = ?", (name,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or not isinstance(row[7], bytes):
            return None
        _, size, mtime, ino, ctime, digest, sections, blob = row
        hit = self._mem[name] = ((size, mtime, ino, ctime), digest, sections, blob)
        return hit

    def get(self, path: Path, st: os.stat_result, sections: str) -> FileFacts:
        key = _stat_key(st)
        name = str(path)
        hit = self._mem.get(name)
        if hit is None:
            hit = self._row(name)
        if hit is not None and isinstance(hit[3], bytes):
            decoded = _decode(hit[3])
            if decoded is None:  # damaged: parsed again below
                del self._mem[name]
                hit = None
            else:
                hit = self._mem[name] = (hit[0], hit[1], hit[2], decoded)
        if hit is not None and hit[0] == key and hit[2] == sections and isinstance(hit[3], FileFacts):
            return hit[3]
        data = _read_bytes(path)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if hit is not None and hit[1] == digest and hit[2] == sections and isinstance(hit[3], FileFacts):
            facts = hit[3]
        else:
            facts = _facts_of(data, path, sections)
        with self._lock:
            self._mem[name] = (key, digest, sections, facts)
            if self._db is not None:
                self._pending.append((name, *key, digest, sections, _encode(facts)))
        return facts

    def prefetch(self, files: list[tuple[Path, os.stat_result]], sections: str, least: int) -> int:
        """Read the files that have nothing cached for their stat in worker processes (one per
        CPU), when there are at least ``least`` of them (0: never) and more than one CPU; the
        number read there. ``get`` then finds them cached; errors are left to it."""
        if least <= 0 or len(files) < least or (workers := cpus()) < 2:
            return 0
        mem = self._mem
        jobs, keys = [], {}
        for path, st in files:
            name = str(path)
            key = _stat_key(st)
            hit = mem.get(name)
            if hit is not None and hit[0] == key and hit[2] == sections:
                continue
            keys[name] = key
            jobs.append((name, hit[1] if hit is not None and hit[2] == sections else None))
        if len(jobs) < least:
            return 0
        rows = in_workers(_read_chunk, jobs, (sections, _SECTIONS_CACHE[sections]), min(workers, 8))
        if rows is None:
            return 0
        done = 0
        with self._lock:
            for name, digest, blob, error in rows:
                if digest is None or error is not None:
                    continue  # unreadable: ``get`` reads it again and reports why
                if blob is None:  # the same bytes as cached: the cached facts, under the new stat
                    old = mem[name]
                    blob = old[3] if isinstance(old[3], bytes) else _encode(old[3])
                mem[name] = (keys[name], digest, sections, blob)
                if self._db is not None:
                    self._pending.append((name, *keys[name], digest, sections, blob))
                done += 1
        return done

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
            if not rows or self._db is None:
                return
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk: the scan is right, only slower next time
                log.warning("could not save the notes scan cache %s: %s", self.path, exc)
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")

    def load_derived(self, key: str) -> bytes | None:
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM derived WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row and isinstance(row[0], bytes) else None

    def save_derived(self, key: str, value: bytes) -> None:
        if self._db is None:
            return
        try:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO derived VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            log.warning("could not save the notes scan cache %s: %s", self.path, exc)

    def _close_db(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._close_db()


@contextlib.contextmanager
def _no_gc():
    """Collections paused while a scan builds tens of thousands of small objects that all
    stay alive: each automatic collection would walk every one of them again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # what the scan built goes straight to the oldest generation (freeze, then unfreeze
            # into it): re-enabling would otherwise start with a young collection over all of
            # it. Any cyclic garbage among it is collected by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _read_bytes(path: Path) -> bytes:
    try:
        return read_regular_file(path)  # a FIFO swapped in since the listing never blocks
    except FileNotFoundError:
        raise NotesError(path, "notes file not found") from None
    except OSError as exc:
        raise NotesError(path, f"cannot read notes file: {exc.strerror}") from None


_SECTIONS_CACHE: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def _facts_of(data: bytes, path: Path, sections: str) -> FileFacts:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotesError(path, f"not UTF-8 text (byte {exc.start})") from None
    notes = parse_notes(text, path)
    topics, acts = _SECTIONS_CACHE[sections]
    facts = _facts(extract(notes, topics, acts), notes)
    for it in notes.items:  # parent <-> children cycles: freed now by reference counting, not by a
        it.parent = None  # garbage collection walking ten thousand parse trees after the scan
    return facts


def _read_chunk(
    jobs: Sequence[tuple[str, bytes | None]], sections: str, names: tuple[frozenset[str], frozenset[str]]
) -> list[tuple[str, bytes | None, bytes | None, str | None]]:
    """In a worker: for each (path, the content hash cached for it or None): (path, hash,
    encoded facts or None when the hash is the cached one, the error that made it unreadable)."""
    _SECTIONS_CACHE.setdefault(sections, names)
    out: list[tuple[str, bytes | None, bytes | None, str | None]] = []
    for name, old in jobs:
        path = Path(name)
        try:
            data = _read_bytes(path)
            digest = hashlib.blake2b(data, digest_size=16).digest()
            blob = None if digest == old else _encode(_facts_of(data, path, sections))
        except NotesError as exc:
            out.append((name, None, None, str(exc)))
            continue
        out.append((name, digest, blob, None))
    return out


_stores: dict[str, ScanStore] = {}
_stores_lock = threading.Lock()
CACHE_NAME = "notes-scan.sqlite3"


def scan_store(config: Config, meeting: Meeting) -> ScanStore:
    """The scan cache for a config: one per state directory (and one in memory for configs
    that do not persist it)."""
    if meeting.actions.persist_cache:
        path: Path | None = config.resolve(config.bot.state_dir) / CACHE_NAME
        key = str(path)
    else:
        path, key = None, ""
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ScanStore(path)
        return store


def reset_caches() -> None:
    """Forget everything cached in this process (as a restart would); the persisted cache
    stays on disk."""
    with _stores_lock:
        for s in _stores.values():
            s.close()
        _stores.clear()
    _resolved.clear()
    _owners.clear()
    _index_cache.clear()
    _memo.clear()


def _sections_key(meeting: Meeting) -> str:
    topics, acts = _section_names(meeting)
    # the code that reads the files is part of the key: a release with other rules reads them again
    key = "\x1f".join(sorted(topics)) + "\x1e" + "\x1f".join(sorted(acts)) + "\x1e" + _CODE_DIGEST
    _SECTIONS_CACHE.setdefault(key, (topics, acts))
    return key


# resolved entries per file: path -> (facts, day, config, index version, actions, topics or None)
_resolved: dict[Path, list] = {}
# the people index per (notes directory, config): (listing digest, index, version)
_index_cache: dict[tuple[str, int], tuple[str, PeopleIndex, int]] = {}

# the code that decides what is read: every module of this package, the notes parser, the people index
_CODE_FILES = (
    *sorted(Path(__file__).parent.glob("*.py")),
    Path(_parse_module.__file__),
    Path(_people_module.__file__),
)
_CODE_DIGEST = hashlib.blake2b(b"".join(f.read_bytes() for f in _CODE_FILES), digest_size=16).hexdigest()
_memo: dict[str, tuple[str, tuple, tuple]] = {}


def _memo_key(digest: str, config: Config, meeting: Meeting, before: dt.date, today: dt.date | None) -> str:
    """Everything the list of open items depends on: every notes file (path and stat), the
    roster, the meeting's settings, the dates, and this code."""
    people = tuple((p.initials, p.name, p.github) for p in config.people)
    inputs = (
        digest,
        people,
        meeting.actions.model_dump(mode="json"),
        meeting.notes.filename,
        str(NotesFiles(config, meeting).directory),
        before,
        today,
        _CODE_DIGEST,
    )
    return hashlib.blake2b(repr(inputs).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
