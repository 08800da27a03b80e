"""Open action items: found in past notes, owners resolved, deduplicated across meetings.

An open action item is an unchecked checkbox (any bullet, any depth) in the notes of a
meeting that already happened, whose text names owners (``JRG: …``, ``(JRG) …``,
``JRG, BZ: …``, ``JRG/BZ: …``, ``@handle …``). Placeholders and owner-only headers with no
text are not items. The same item carried over through several notes files counts once,
as its newest copy; if the newest copy is ticked, it is done.

Owners are resolved: initials -> the attendee list of the same file -> GitHub handle ->
the config's roster; failing that, the roster by initials. Owners that cannot be resolved
are kept and reported as unresolved, never dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .config import Config, Meeting, Person
from .notes.files import NotesFiles
from .notes.parse import Attendee, Notes, read_notes, split_owner

_FROM = re.compile(r"\s*\(from \d{4}-\d{2}-\d{2}\)\s*$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Owner:
    token: str  # as written: "JRG" or "@jaimergp"
    name: str | None = None
    github: str | None = None
    person: Person | None = None
    # the roster has someone else with these initials (the file names another GitHub user)
    shadowed: bool = False

    @property
    def resolved(self) -> bool:
        return self.person is not None

    @property
    def label(self) -> str:
        if self.person:
            return self.person.initials
        return self.token

    @property
    def carried_label(self) -> str:
        """How a carried-over copy names this owner: in notes whose attendee list is still
        empty, initials the roster gives to someone else would become that person's."""
        return f"@{self.github}" if self.shadowed and self.github else self.label

    def describe(self) -> str:
        if self.person:
            return f"{self.person.initials} ({self.person.name})"
        if self.name:
            return f"{self.token} ({self.name}, not in the roster)"
        return f"{self.token} (unknown)"


@dataclass
class ActionItem:
    date: dt.date
    path: Path
    line: int  # 1-based
    text: str  # as written after the checkbox, owners included
    body: str
    owners: list[Owner] = field(default_factory=list)

    @cached_property
    def keys(self) -> frozenset[tuple[frozenset[str], str]]:
        """The item's identity with owners as written and as resolved: a carried-over copy
        names resolved owners by their roster initials (``@jaimergp`` -> ``JRG``), and owners
        whose initials the roster gives to someone else by their handle (``JL`` -> ``@leej3``).
        Computed once per item: a warm scan reuses the cached items of every file."""
        text = _key_text(self.body)
        return frozenset((_owner_set(names), text) for names in (
            [o.token for o in self.owners], [o.label for o in self.owners],
            [o.carried_label for o in self.owners]))

    def owned_by(self, who: str) -> bool:
        w = who.lstrip("@").lower()
        for o in self.owners:
            if o.token.lstrip("@").lower() == w and not o.shadowed:  # a shadowed JL is not the roster's JL
                return True
            if o.person and (o.person.initials.lower() == w or (o.person.github or "").lower() == w):
                return True
            if o.github and o.github.lower() == w:
                return True
        return False


def _key_text(body: str) -> str:
    text = _FROM.sub("", body).lower()
    return _SPACES.sub(" ", text).strip().rstrip(".:;!")


def _owner_set(owners: list[str]) -> frozenset[str]:
    return frozenset(o.upper() for o in owners)


def item_key(owners: list[str], body: str) -> tuple[frozenset[str], str]:
    """One of an item's identity keys (``ActionItem.keys`` holds three, sharing the text)."""
    return _owner_set(owners), _key_text(body)


def resolve_owner(token: str, attendees: list[Attendee], config: Config) -> Owner:
    if token.startswith("@"):
        handle = token[1:]
        person = config.person_by(github=handle)
        return Owner(token, person.name if person else None, handle, person)
    att = next((a for a in attendees if a.initials and a.initials.upper() == token.upper()), None)
    person = None
    if att and att.github:
        person = config.person_by(github=att.github)
    shadowed = False
    if person is None:
        person = config.person_by(initials=token)
        if person and att and att.github and person.github and person.github.lower() != att.github.lower():
            # the file says these initials are someone else (initials collide: JL is both
            # @jezdez and @leej3 in conda's notes): not the roster's person
            person, shadowed = None, True
    return Owner(token, (att.name if att else None) or (person.name if person else None),
                 (att.github if att else None) or (person.github if person else None), person, shadowed)


_cache: dict[Path, tuple[tuple[int, ...], dt.date, Config, list[tuple[ActionItem, bool]]]] = {}


def _file_items(path: Path, day: dt.date, config: Config) -> list[tuple[ActionItem, bool]]:
    """items_in_file of one notes file, cached by path, mtime and size (and the date and
    config they were resolved with): a warm scan only stats the files. Only the items are
    kept, not the parse tree; a big archive's trees would slow down every garbage collection.
    The inode and ctime are part of the stamp too: a tick keeps the size, and with coarse file
    timestamps two writes in a row can share an mtime; the bot's own edits rename a new file
    (a new inode) into place, and setting an mtime back moves the ctime."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
    hit = _cache.get(path)
    if hit and hit[0] == stamp and hit[1] == day and hit[2] is config:
        return hit[3]
    items = items_in_file(read_notes(path), day, config)
    _cache[path] = (stamp, day, config, items)
    return items


def items_in_file(notes: Notes, day: dt.date, config: Config) -> list[tuple[ActionItem, bool]]:
    """Every owned checkbox item of one file, with whether it is checked."""
    attendees = None  # parsed on first need: many files have no owned checkbox
    out = []
    for it in notes.items:
        if not it.is_checkbox or it.is_placeholder:
            continue
        tokens, body = split_owner(it.text)  # == it.owners, it.body, in one pass
        if not tokens or not body:
            continue
        if attendees is None:
            attendees = notes.attendees()
        owners = [resolve_owner(t, attendees, config) for t in tokens]
        out.append((ActionItem(day, notes.path, it.line + 1, it.text, body, owners), bool(it.checked)))
    return out


def open_actions(config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None,
                 errors: list[str] | None = None) -> list[ActionItem]:
    """Open items in notes of meetings before ``before`` (the next meeting's date) that have
    happened by ``today``, newest copy of each, ordered by date and line. Unparseable files are
    skipped and reported in ``errors``."""
    settings = meeting.actions
    last = min(before - dt.timedelta(days=1), today) if today else before - dt.timedelta(days=1)
    files = [(d, p) for d, p in NotesFiles(config, meeting).existing() if d <= last]
    oldest = (today or before) - settings.lookback
    files = [(d, p) for d, p in files if d >= oldest]
    if settings.max_meetings:
        files = files[-settings.max_meetings:]
    # An item replaces every earlier one it shares a key with (owners as written or as
    # resolved) and takes over their keys, so a later copy in either form replaces it too.
    latest: dict[int, tuple[ActionItem, bool]] = {}
    keys_of: dict[int, set[tuple[frozenset[str], str]]] = {}
    owner_of: dict[tuple[frozenset[str], str], int] = {}
    for day, path in files:  # oldest first: newer copies replace older ones
        try:
            found_here = _file_items(path, day, config)
        except Exception as exc:  # NotesError or an OS error: report, keep scanning
            if errors is not None:
                errors.append(str(exc))
            continue
        for item, checked in found_here:
            n = len(keys_of)
            own = item.keys
            keys = set(own)
            for k in own:
                old = owner_of.get(k)
                if old is not None and old in latest:
                    del latest[old]
                    keys |= keys_of[old]
            latest[n] = (item, checked)
            keys_of[n] = keys
            for k in keys:
                owner_of[k] = n
    found = [item for item, checked in latest.values() if not checked]
    return sorted(found, key=lambda a: (a.date, a.line))


def later_copies(config: Config, meeting: Meeting, item: ActionItem) -> list[ActionItem]:
    """Unticked copies of ``item`` in notes dated after it (carried over into notes already
    written for the next meetings): ticking the item ticks those too, or the newest copy would
    bring it back once its meeting has passed."""
    out = []
    for day, path in NotesFiles(config, meeting).existing():
        if day <= item.date:
            continue
        try:
            found = _file_items(path, day, config)
        except Exception:  # an unparseable file is never written; the scan reports it elsewhere
            continue
        out += [other for other, checked in found if not checked and other.keys & item.keys]
    return out


def by_owner(items: list[ActionItem]) -> tuple[dict[str, tuple[Person, list[ActionItem]]], dict[str, list[ActionItem]]]:
    """Group items by resolved person (initials -> (person, items)) and unresolved token."""
    resolved: dict[str, tuple[Person, list[ActionItem]]] = {}
    unresolved: dict[str, list[ActionItem]] = {}
    for item in items:
        for o in item.owners:
            if o.person:
                resolved.setdefault(o.person.initials, (o.person, []))[1].append(item)
            else:
                unresolved.setdefault(o.token, []).append(item)
    return resolved, unresolved


def carried_line(item: ActionItem) -> str:
    owners = ", ".join(o.carried_label for o in item.owners)
    body = _FROM.sub("", item.body)
    return f"- [ ] {owners}: {body} (from {item.date.isoformat()})"
