"""The open action items a chair chases: the newest copy of each item of the scanned notes,
not done there nor reported done later, or the last answer when nothing it depends on
changed."""

from __future__ import annotations

import contextlib
import datetime as dt
import marshal
from pathlib import Path

from ..config import Config, Meeting
from ..notes.files import NotesFiles
from ..notes.parse import NotesError
from .cache import CACHE_FORMAT, _memo, _memo_key, _no_gc, scan_store
from .model import ActionItem
from .scan import _paths, _Scan, _scan
from .track import Reports, _carried_actions, _Latest


def open_actions(
    config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None, errors: list[str] | None = None
) -> list[ActionItem]:
    """Open action items (never topics) in notes of meetings before ``before`` (the next
    meeting's date) that have happened by ``today``, newest copy of each, ordered by date
    and line. Only items with an owner are listed: they are the ones a chair can chase.
    Unparseable files are skipped and reported in ``errors``."""
    with _no_gc():
        return _open_actions(config, meeting, before, today, errors)


def _from_memo(scan: _Scan, rows: tuple) -> list[ActionItem] | None:
    """The open items a previous scan with the same inputs found, looked up again in their
    files' cached entries; None if one is not where it was (then the scan runs)."""
    out = []
    for path_s, line, text, carried in rows:
        path = _paths.get(path_s) or Path(path_s)
        day = scan.days.get(path)
        if day is None:
            return None
        try:
            found = _carried_actions(scan, day, path) if carried else scan.actions(day, path)
        except NotesError:
            return None
        item = next((it for it, done in found if it.line == line and it.text == text and not done), None)
        if item is None:
            return None
        out.append(item)
    return out


def _open_actions(
    config: Config, meeting: Meeting, before: dt.date, today: dt.date | None, errors: list[str] | None
) -> list[ActionItem]:
    """The scan, or, when none of its inputs changed since the last one (in this process or,
    through the persisted cache, before a restart), that scan's answer."""
    scan_errors: list[str] = []
    scan = _scan(config, meeting, before, today, scan_errors)
    key = _memo_key(scan.digest, config, meeting, before, today)
    name = "open:" + str(NotesFiles(config, meeting).directory)
    store = scan_store(config, meeting)
    hit = _memo.get(name)
    if hit is None or hit[0] != key:
        saved = store.load_derived(name)
        hit = None
        if saved is not None:
            with contextlib.suppress(ValueError, EOFError, TypeError):
                version, saved_key, rows, saved_errors = marshal.loads(saved)
                if version == CACHE_FORMAT and saved_key == key:
                    hit = (key, rows, saved_errors)
    if hit is not None:
        items = _from_memo(scan, hit[1])
        if items is not None:
            _memo[name] = hit
            if errors is not None:
                errors.extend(hit[2])
            return items
    items = _scan_open(scan)
    scan_errors = list(dict.fromkeys(scan_errors))
    if errors is not None:
        errors.extend(scan_errors)
    rows = tuple((str(it.path), it.line, it.text, it.kind == "action" and it.carried) for it in items)
    _memo[name] = (key, rows, tuple(scan_errors))
    store.save_derived(name, marshal.dumps((CACHE_FORMAT, key, rows, tuple(scan_errors))))
    return items


def _scan_open(scan: _Scan) -> list[ActionItem]:
    if len(scan.files) > 64:  # one read of the persisted cache rather than a query per file
        scan_store(scan.config, scan.meeting).preload()
    latest = _Latest()
    for fileno, (day, path) in enumerate(scan.files):  # oldest first: newer copies replace older ones
        try:
            found_here = scan.actions(day, path)
        except NotesError:  # reported by the scan
            continue
        for item, done in found_here:
            latest.add(item, done, fileno)
        if scan.has_marked_topics(path):
            for topic, done in _carried_actions(scan, day, path):
                latest.add(topic, done, fileno)
    found = [item for item, done, _ in latest.latest.values() if not done and item.owners]
    if found:
        reports = _reports(scan, found)
        found = [a for a in found if reports.done_after(a.date, a.body, _owner_names(a)) is None]
    return sorted(found, key=lambda a: (a.date, a.line))


def _owner_names(item: ActionItem) -> list[str]:
    return [o.token for o in item.owners] + [o.label for o in item.owners]


def _reports(scan: _Scan, items: list[ActionItem]) -> Reports:
    """What the notes after the oldest of ``items`` report done (``track.Reports``)."""
    first = min(a.date for a in items)
    files = ((d, f.evidence) for d, p in scan.files if d > first and (f := scan.facts_of(p)) is not None)
    return Reports(((a.body, _owner_names(a)) for a in items), files)
