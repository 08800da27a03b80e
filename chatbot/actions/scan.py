"""A scan: every notes file of a meeting listed in one pass with its stat, the people index
learned from them all (kept under a digest of the listing), and the files' entries with their
owners resolved, read through the cache on first need."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import marshal
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, Meeting
from ..notes.files import NotesFiles
from ..notes.parse import Notes, NotesError
from ..people import PeopleIndex
from .cache import CACHE_FORMAT, ScanStore, _facts, _index_cache, _resolved, _sections_key, scan_store
from .classify import _FileView, _resolve_raws
from .model import ActionItem, FileFacts
from .parse import _section_names, extract


def _entries(
    facts: FileFacts, path: Path, day: dt.date, config: Config, people: PeopleIndex | None, version: int, topics: bool
):
    hit = _resolved.get(path)
    if hit is None or hit[0] is not facts or hit[1] != day or hit[2] is not config or hit[3] != version:
        view = _FileView(facts)
        acts = [(a, done) for a, done, _ in _resolve_raws(facts.actions, view, path, day, config, people, version)]
        hit = _resolved[path] = [facts, day, config, version, acts, None, view]
    if topics and hit[5] is None:
        hit[5] = _resolve_raws(facts.topics, hit[6], path, day, config, people, version)
    return hit[4], (hit[5] if topics else None)


def items_in_file(
    notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None, people: PeopleIndex | None = None
) -> list[tuple[ActionItem, bool]]:
    """Every action item of one parsed file, with whether it is done (not cached)."""
    return entries_in_file(notes, day, config, meeting, people)[0]


def topics_in_file(
    notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None, people: PeopleIndex | None = None
) -> list[tuple[ActionItem, bool]]:
    """Every topic of one parsed file, with whether it is ticked (not cached)."""
    return [(t, done) for t, done, _ in entries_in_file(notes, day, config, meeting, people)[1]]


def entries_in_file(
    notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None, people: PeopleIndex | None = None
):
    """(action items with done, topics with (ticked, discussed)) of one parsed file."""
    meeting = meeting or config.meeting()
    topics, acts = _section_names(meeting)
    facts = _facts(extract(notes, topics, acts), notes)
    view = _FileView(facts)
    path = notes.path or Path("")
    version = -next(_versions)  # owners resolved with this index are not shared with scans
    actions = [(a, done) for a, done, _ in _resolve_raws(facts.actions, view, path, day, config, people, version)]
    return actions, _resolve_raws(facts.topics, view, path, day, config, people, version)


@dataclass
class _Scan:
    files: list[tuple[dt.date, Path]]
    people: PeopleIndex
    version: int
    stats: dict[Path, os.stat_result]  # every notes file of the meeting
    config: Config
    meeting: Meeting
    days: dict[Path, dt.date] = field(default_factory=dict)
    errors: list[str] | None = None
    facts: dict[Path, FileFacts | None] = field(default_factory=dict)
    _store: ScanStore | None = None
    _sections: str = ""
    digest: str = ""  # of every notes file's path and stat (and the section names)

    def facts_of(self, path: Path) -> FileFacts | None:
        """What the file says (read through the cache on first need), None if unreadable
        (reported in ``errors``)."""
        if path in self.facts:
            return self.facts[path]
        st = self.stats.get(path)
        facts = None
        if st is not None:
            if self._store is None:
                self._store, self._sections = scan_store(self.config, self.meeting), _sections_key(self.meeting)
            try:
                facts = self._store.get(path, st, self._sections)
            except NotesError as exc:
                if self.errors is not None:
                    self.errors.append(str(exc))
        self.facts[path] = facts
        return facts

    def path_on(self, day: dt.date) -> Path | None:
        by_day = self.__dict__.get("_by_day")
        if by_day is None:
            by_day = self.__dict__["_by_day"] = {d: p for p, d in self.days.items()}
        return by_day.get(day)

    def _facts(self, path: Path) -> FileFacts:
        facts = self.facts_of(path)
        if facts is None:
            raise NotesError(path, "could not be read")
        return facts

    def actions(self, day: dt.date, path: Path) -> list[tuple[ActionItem, bool]]:
        return _entries(self._facts(path), path, day, self.config, self.people, self.version, False)[0]

    def topics(self, day: dt.date, path: Path) -> list[tuple[ActionItem, bool, bool]]:
        return _entries(self._facts(path), path, day, self.config, self.people, self.version, True)[1]

    def has_marked_topics(self, path: Path) -> bool:
        facts = self.facts_of(path)
        return facts is not None and any("(from " in r.body for r in facts.topics)

    def entries(self, day: dt.date, path: Path):
        """(action items, topics) of one file of the scan, resolved (cached)."""
        return self.actions(day, path), self.topics(day, path)


_versions = itertools.count(1)
_paths: dict[str, Path] = {}  # one Path object per notes file: made once, not per scan
_FILENAME_PARTS = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})"}


def _listing(config: Config, meeting: Meeting) -> list[tuple[dt.date, Path, os.stat_result]]:
    """NotesFiles.existing() with each file's stat, in one pass over the directory: file
    names matched by a regex when the pattern is made of %Y, %m, %d and plain characters
    (strptime per file was a tenth of a warm scan), else by strptime as there."""
    files = NotesFiles(config, meeting)
    pattern = meeting.notes.filename
    parts = re.split(r"(%.)", pattern)
    rx = None
    if (
        all(p in _FILENAME_PARTS or "%" not in p for p in parts)
        and all(k in pattern for k in _FILENAME_PARTS)
        and not any(pattern.count(k) > 1 for k in _FILENAME_PARTS)
    ):
        rx = re.compile("".join(_FILENAME_PARTS.get(p) or re.escape(p) for p in parts) + r"\Z")
    out: list[tuple[dt.date, Path, os.stat_result]] = []
    try:
        entries = list(os.scandir(files.directory))
    except OSError:
        return out
    for e in entries:
        name = e.name
        if name.startswith("."):
            continue
        try:
            if rx is not None:
                m = rx.match(name)
                if m is None:
                    continue
                day = dt.date(int(m["Y"]), int(m["m"]), int(m["d"]))
            else:
                day = dt.datetime.strptime(name, pattern).date()
            if not e.is_file():
                continue
            st = e.stat()
        except (ValueError, OSError):
            continue
        path = _paths.get(e.path)
        if path is None:
            path = _paths[e.path] = Path(e.path)
        out.append((day, path, st))
    out.sort(key=lambda t: (t[0], t[1]))
    return out


def _listing_digest(listing: list[tuple[dt.date, Path, os.stat_result]], sections: str) -> str:
    h = hashlib.blake2b(sections.encode(), digest_size=16)
    h.update(
        "\0".join(
            f"{p}\x1f{st.st_size}\x1f{st.st_mtime_ns}\x1f{st.st_ino}\x1f{st.st_ctime_ns}" for _, p, st in listing
        ).encode("utf-8", "surrogateescape")
    )
    return h.hexdigest()


def _people_index(
    config: Config,
    meeting: Meeting,
    listing: list[tuple[dt.date, Path, os.stat_result]],
    errors: list[str] | None,
    scan_facts: dict[Path, FileFacts | None],
) -> tuple[PeopleIndex, int, str]:
    """The people index learned from every notes file of the meeting (oldest first). It is
    kept, in memory and in the persisted cache, under a digest of every file's path and stat:
    while no file changed, a restarted bot does not even decode the files' cached facts."""
    store = scan_store(config, meeting)
    sections = _sections_key(meeting)
    digest = _listing_digest(listing, sections)
    key = (str(NotesFiles(config, meeting).directory), id(config))
    hit = _index_cache.get(key)
    if hit and hit[0] == digest:
        return hit[1], hit[2], digest
    index = None
    saved = store.load_derived("people:" + str(NotesFiles(config, meeting).directory))
    if saved is not None:
        with contextlib.suppress(ValueError, EOFError, TypeError):
            version, saved_digest, rows = marshal.loads(saved)
            if version == CACHE_FORMAT and saved_digest == digest:
                index = PeopleIndex.from_rows(rows)
    if index is None:
        store.preload()
        store.prefetch([(p, st) for _, p, st in listing], sections, meeting.actions.parallel_from)
        index = PeopleIndex()
        learn = index.learn_rows
        get = store.get
        for day, path, st in listing:
            try:
                facts = get(path, st, sections)
            except NotesError as exc:
                if errors is not None:
                    errors.append(str(exc))
                facts = None
            scan_facts[path] = facts
            if facts is not None and facts.attendees:
                learn(facts.attendees, day)
        store.flush()
        store.save_derived(
            "people:" + str(NotesFiles(config, meeting).directory), marshal.dumps((CACHE_FORMAT, digest, index.rows()))
        )
    version = next(_versions)
    if len(_index_cache) > 16:  # a reloaded config is a new key
        _index_cache.clear()
    _index_cache[key] = (digest, index, version)
    return index, version, digest


def _scan(config: Config, meeting: Meeting, before: dt.date, today: dt.date | None, errors: list[str] | None) -> _Scan:
    settings = meeting.actions
    last = min(before - dt.timedelta(days=1), today) if today else before - dt.timedelta(days=1)
    listing = _listing(config, meeting)
    facts: dict[Path, FileFacts | None] = {}
    people, version, digest = _people_index(config, meeting, listing, errors, facts)
    files = [(d, p) for d, p, _ in listing if d <= last]
    oldest = (today or before) - settings.lookback
    files = [(d, p) for d, p in files if d >= oldest]
    if settings.max_meetings:
        files = files[-settings.max_meetings :]
    return _Scan(
        files,
        people,
        version,
        {p: st for _, p, st in listing},
        config,
        meeting,
        {p: d for d, p, _ in listing},
        errors,
        facts,
        digest=digest,
    )
