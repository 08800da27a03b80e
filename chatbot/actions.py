"""Action items and agenda topics in past notes, as a meeting chair sees them.

Two kinds of entries, told apart by where they are (the rules, with examples from conda's
notes, are in README.md, "Action items"):

* **Topics**: the top-level entries of the agenda sections (``[meetings.actions]
  topic_sections``: "New agenda items", "From previous meetings", "Deferred to next meeting"
  and the names older notes used). Proposing a topic is not a task: topics are never pinged.
  Unticked, undiscussed topics of the last meeting are *deferred* (:func:`deferred_topics`).
* **Action items**: a task, with the owners named in it (or those of the topic it is noted
  under): an entry of an "Action items" section or of a list after an ``Action items:`` line;
  an entry starting ``Action item:``, ``AI:`` or ``TODO``; an entry whose owners commit to
  something (``JRG: will report this``, ``KK will discuss``, ``JRG to create a PR``, ``(JL)
  Get the recipes to converge``), checkbox or not.

An action item is done when its checkbox is ticked, when it carries a done marker (``done``
at the end or start, ``✓``/``✔``/``✅``), or when a later copy of it is done. Copies of one
item across notes are the same item when they have the same owners and their texts are
similar (:func:`similar`), or when the copy says ``(from YYYY-MM-DD)`` and that meeting has
such an item.

Owners are resolved: this file's attendee list -> the roster; failing that the roster by
initials, then the people index learned from every notes file (``chatbot.people``). Owners
that cannot be resolved are kept and reported as unresolved, never dropped.

What is read from each file is cached by path, size, mtime and a content hash, in memory and
(``[meetings.actions] persist_cache``) in an SQLite file in ``[bot] state_dir``, so that a
restarted bot does not parse unchanged files again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import logging
import marshal
import os
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .config import Config, Meeting, Person
from .notes.files import NotesFiles
from .notes.parse import (Attendee, Item, Notes, NotesError, normalize_title, parse_notes, read_regular_file,
                          split_owner)
from .people import PeopleIndex

log = logging.getLogger(__name__)

_FROM = re.compile(r"\s*\(from (\d{4}-\d{2}-\d{2})\)\s*$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Owner:
    token: str  # as written: "JRG", "@jaimergp" or a first name ("Jaime")
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
        if self.shadowed and self.github:
            return f"@{self.github}"
        if not self.person and self.github and not _INITIALS_RX.fullmatch(self.token):
            return f"@{self.github}"  # "Jaime" or "Cheng" written by first name: the handle says who
        return self.label

    def describe(self) -> str:
        if self.person:
            return f"{self.person.initials} ({self.person.name})"
        if self.name:
            return f"{self.token} ({self.name}, not in the roster)"
        if self.github:
            return f"{self.token} (@{self.github}, not in the roster)"
        return f"{self.token} (unknown)"


@dataclass
class ActionItem:
    """An action item or a topic (``kind``) of one notes file."""

    date: dt.date
    path: Path
    line: int  # 1-based
    text: str  # as written after the bullet (and checkbox), owners included
    body: str
    owners: list[Owner] = field(default_factory=list)
    kind: str = "action"  # or "topic"
    checkbox: bool = True  # False: a prose line ("- JRG: will report this")

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

    @cached_property
    def owner_key(self) -> frozenset[str]:
        return _owner_set([o.label for o in self.owners])

    @cached_property
    def tokens(self) -> frozenset[str]:
        return word_set(self.body)

    @property
    def from_date(self) -> dt.date | None:
        m = _FROM.search(self.body)
        if not m:
            return None
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(m.group(1))
        return None

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


# ---------------------------------------------------------------------------------------
# Same item, hand-edited: token Jaccard similarity

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|https?://\S+")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9._+-]*")
STOP_WORDS = frozenset("a an the of to in on for and or is are be we it this that with by at as from".split())
SIMILAR = 0.5  # token Jaccard at or above which two texts with the same owners are one item


def word_set(text: str) -> frozenset[str]:
    """The words of an entry, for comparing copies: links reduced to their text, the
    ``(from …)`` marker, case, punctuation and filler words dropped."""
    t = _LINK.sub(lambda m: m.group(1) or " ", _FROM.sub("", text)).lower()
    return frozenset(w.strip("._+-") for w in _TOKEN.findall(t) if w not in STOP_WORDS and w.strip("._+-"))


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Token Jaccard >= SIMILAR (0.5), for entries with the same owners. Chosen on conda's
    notes: among the 908 pairs of entries with the same owners within three meetings of each
    other, the copies edited by hand score 0.67 ("[Conda capitalization](…)" -> "CEP: conda
    Capitalization", 2022-06-22 -> 07-06) and 0.75 ("Status of sharded repodata
    implementation?" -> "Sharded repodata, status?", 2024-07-31 -> 09-11), while follow-ups and
    other topics of the same person score at most 0.43 ("Slack to Matrix migration is
    happening" -> "Any feedback on Slack/Gitter to Matrix migration?", a new question) and
    889 of the 908 below 0.3 (tests/test_actions.py checks these pairs)."""
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) >= SIMILAR


# ---------------------------------------------------------------------------------------
# Extraction (pure: no config people, no people index; cached per file)

_INITIALS = r"[A-Z](?:[a-z]?[A-Z]){1,4}"
_INITIALS_RX = re.compile(_INITIALS)
_OWNER_LIST = rf"{_INITIALS}(?:\s*(?:,|/|&|\band\b)\s*{_INITIALS})*"
_NOT_OWNER_WORDS = frozenset({"AI", "TODO", "OK", "YES", "CEP", "PR", "API", "CI", "CDN", "FYI", "TBD", "ARM"})
_MARKER = re.compile(r"^(?:\((?:action[ -]items?|(?-i:AI)|todo)\)|(?:action[ -]items?|(?-i:AI)|todo)"
                     r"(?:\s+for\s+(@?[\w-]+))?\s*[:\-–])\s*(.*)$", re.S | re.I)
_ACTION_LIST_LINE = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?action[ -]items?(?:\*\*|__)?[ \t]*:(?:\*\*|__)?[ \t]*$",
                               re.I | re.M)
# "will be done", "will have a dev room", "Will the API return …?": not someone committing
_NOT_A_COMMIT = (r"(?!(?:also\s+)?(?:be\b(?!\s+\w+ing\b)|have\b|not\b|need\b|likely\b|probably\b|the\b|it\b|this\b|"
                 r"that\b|we\b|you\b|they\b|there\b))")
_COMMIT = re.compile(rf"^(?:(?:ok|yes|sure)[,.!]?\s+(?:i\s+|we\s+|this\s+|that\s+)?(?:will|'ll)\b"
                     rf"|(?:(?:i|we)\s+)?(?:will|'ll|shall|to)\s+{_NOT_A_COMMIT}(?:also\s+)?\w"
                     rf"|(?:is\s+)?(?:looking into|working on|taking care of|following up)\b)", re.I)
_IMPERATIVE = re.compile(r"^(?:\w+ly\s+)?(?:ask|get|open|create|write|draft|call|set up|follow up|ping|reach out|"
                         r"schedule|report|submit|send|contact|look into|investigate|start|prepare|dig out|"
                         r"publish|organi[sz]e|coordinate|reach)\b", re.I)
_WHO_COMMITS = re.compile(rf"^({_OWNER_LIST})\s+(?:will\s+{_NOT_A_COMMIT}|to\s+|(?:is\s+)?looking into\b)")
_NAME_COMMITS = re.compile(rf"^([A-Z][a-z]{{2,}})\s+(?:will\s+{_NOT_A_COMMIT}|to\s+|(?:is\s+)?looking into\b)")
_LATER_COMMIT = re.compile(rf"[.;!]\s+({_OWNER_LIST})\s+will\s+{_NOT_A_COMMIT}")
_NOT_NAMES = frozenset("and also then we they it this that someone everyone nobody who he she you will need "
                       "want plan plans planning going next consensus".split())
_WILL = re.compile(rf"(?:^(?:and\s+|also\s+|then\s+)?|[.;!]\s+)will\s+{_NOT_A_COMMIT}(?:also\s+)?\w", re.I)
_TRAILING_OWNERS = re.compile(rf"\(\s*((?:{_INITIALS})\??(?:\s*[,/&]?\s*(?:{_INITIALS})\??)*)(?:\s*,[^()]*)?\)\s*$")
_DONE = re.compile(r"[✓✔✅]|(?:^|\s)\(?(?:done|DONE|Done)\)?[.!]?\s*$|^(?:done|DONE|Done)\s*[:\-–]")
_NOTHING = frozenset({"", "...", "…", "n/a", "na", "none", "none yet", "tbd", "-", "_no items discussed_",
                      "no items discussed", "*no items discussed*"})


@dataclass(frozen=True)
class Raw:
    """One entry as read from the file, before owners are resolved (what the cache keeps)."""

    kind: str  # "action" | "topic"
    line: int  # 1-based
    text: str
    body: str
    owners: tuple[str, ...]
    checkbox: bool
    done: bool
    # the owners were inherited from the topic the entry is noted under (not written on it)
    inherited: bool = False
    # owners written as a first name ("Jaime to call the vote"): an action only if it is known
    by_name: bool = False
    discussed: bool = False  # topics: notes were taken under it


def _question(text: str) -> bool:
    """The entry's first sentence asks something ("Will the API return SHA-256?")."""
    first = re.split(r"(?<=[.!?])\s", _LINK.sub("link", text), maxsplit=1)[0]
    return first.rstrip().endswith("?")


def _placeholder(text: str) -> bool:
    return text.strip().lower() in _NOTHING


def _ancestor_owners(it: Item) -> tuple[str, ...]:
    p = it.parent
    while p is not None:
        owners, _ = split_owner(p.text)
        owners = [o for o in owners if o not in _NOT_OWNER_WORDS]
        if owners:
            return tuple(owners)
        p = p.parent
    return ()


def _is_discussion(child: Item) -> bool:
    """A note under a topic that shows it was discussed: not a bare link or placeholder."""
    words = _LINK.sub(" ", child.text)
    return len(_TOKEN.findall(words.lower())) >= 3


def _marker_owners(rest: str, forwho: str | None, it: Item) -> tuple[tuple[str, ...], bool, bool]:
    """Owners of an ``Action item:``/``TODO`` entry: (owners, inherited, by_name)."""
    if forwho:
        return ((forwho if forwho.startswith("@") or _INITIALS_RX.fullmatch(forwho) else forwho),), False, \
            not forwho.startswith("@") and not _INITIALS_RX.fullmatch(forwho)
    owners, _ = split_owner(rest)
    if owners:
        return tuple(owners), False, False
    m = _WHO_COMMITS.match(rest)
    if m:
        return tuple(o for o in re.split(r"\s*(?:,|/|&|\band\b)\s*", m.group(1)) if o), False, False
    m = _NAME_COMMITS.match(rest)
    if m:
        return (m.group(1),), False, True
    m = _TRAILING_OWNERS.search(rest)
    if m:
        return tuple(o.strip("? ") for o in re.split(r"[\s,/&]+", m.group(1)) if o.strip("? ")), False, False
    inherited = _ancestor_owners(it)
    return inherited, bool(inherited), False


def _classify(it: Item, in_topics: bool, in_actions: bool, listed: bool) -> Raw | None:
    text = it.text
    if _placeholder(text):
        return None
    checkbox = it.checked is not None
    done = bool(it.checked) if checkbox else bool(_DONE.search(text))
    line = it.line + 1
    owners_l, body = split_owner(text)
    owners = tuple(o for o in owners_l if o not in _NOT_OWNER_WORDS)
    top = it.parent is None
    if top and in_topics:
        discussed = any(_is_discussion(c) for c in it.children)
        return Raw("topic", line, text, body, owners, checkbox, done, discussed=discussed)
    # a labelled entry: "Action item: …", "AI: …", "TODO for @x: …", "(TODO) … (SA, next two weeks)"
    m = _MARKER.match(text)
    if m and m.group(2).strip():  # (a bare "Action items:" heads a list: its entries are the items)
        rest = m.group(2).strip()
        own, inherited, by_name = _marker_owners(rest, m.group(1), it)
        return Raw("action", line, text, rest or body, own, checkbox, done, inherited, by_name)
    if (in_actions and top) or listed:
        own = owners
        if not own:
            t = _TRAILING_OWNERS.search(text)
            if t:
                own = tuple(o.strip("? ") for o in re.split(r"[\s,/&]+", t.group(1)) if o.strip("? "))
            else:
                w = _WHO_COMMITS.match(text)
                own = tuple(o for o in re.split(r"\s*(?:,|/|&|\band\b)\s*", w.group(1)) if o) if w else ()
        return Raw("action", line, text, body, own, checkbox, done)
    # owners who commit: "JRG: will report this", "(CHL) will draft", "JRG: start the doc"
    if owners and (_COMMIT.match(body) or _IMPERATIVE.match(body) and not body.rstrip().endswith(":")) \
            and not _question(body):
        return Raw("action", line, text, body, owners, checkbox, done)
    # "KK will discuss", "WV/JL will meet", "JRG to create a PR", "RA looking into it"
    w = _WHO_COMMITS.match(text)
    if w:
        own = tuple(o for o in re.split(r"\s*(?:,|/|&|\band\b)\s*", w.group(1)) if o and o not in _NOT_OWNER_WORDS)
        if own:
            return Raw("action", line, text, text, own, checkbox, done)
    # "Travis will write a blog post", "Cheng looking into it": a known first name
    w = _NAME_COMMITS.match(text)
    if w and w.group(1).lower() not in _NOT_NAMES:
        return Raw("action", line, text, text, (w.group(1),), checkbox, done, by_name=True)
    # "Next steps: CEP, probably. DPC will reach out to …"
    w = _LATER_COMMIT.search(text)
    if w:
        own = tuple(o for o in re.split(r"\s*(?:,|/|&|\band\b)\s*", w.group(1)) if o and o not in _NOT_OWNER_WORDS)
        if own:
            return Raw("action", line, text, text, own, checkbox, done)
    # "Will draft an application" noted under "(DPC) Governance update": the topic owner's
    if not owners and it.parent is not None and _WILL.search(text) and not _question(text):
        inherited_owners = _ancestor_owners(it)
        if inherited_owners:
            return Raw("action", line, text, text, inherited_owners, checkbox, done, inherited=True)
    return None


def _listed_items(notes: Notes) -> set[int]:
    """Items (by line) of a list that follows an ``Action items:`` line, or nested under an
    item that says only ``Action items:``: each entry of that list is an action item."""
    out: set[int] = set()
    text = notes.text
    if "ction item" not in text and "ction Item" not in text and "CTION ITEM" not in text:
        return out
    marks = set()
    for m in _ACTION_LIST_LINE.finditer(text):
        marks.add(text.count("\n", 0, m.start()))
    if not marks:
        return out
    by_line = {it.line: it for it in notes.items}
    for mark in marks:
        it = by_line.get(mark)
        if it is not None:  # "- Action items:" with the entries nested under it
            out.update(c.line for c in it.children)
            continue
        # a paragraph line: the list starting on the next non-blank line, its entries
        i = mark + 1
        while i < len(notes.lines) and not notes.lines[i].strip():
            i += 1
        first = by_line.get(i)
        if first is None:
            continue
        sibling: Item | None = first
        while sibling is not None:
            out.add(sibling.line)
            nxt = sibling.end
            while nxt < len(notes.lines) and not notes.lines[nxt].strip():
                nxt += 1
            cand = by_line.get(nxt)
            sibling = cand if cand is not None and cand.parent is first.parent and cand.indent == first.indent else None
    return out


def extract(notes: Notes, topic_sections: frozenset[str], action_sections: frozenset[str]) -> list[Raw]:
    """Every topic and action item of one parsed file, in line order."""
    listed = _listed_items(notes)
    out = []
    for it in notes.items:
        sec = it.section
        title = normalize_title(sec.title) if sec is not None else ""
        if title.startswith("attendees"):
            continue
        raw = _classify(it, title in topic_sections, title in action_sections, it.line in listed)
        if raw is not None:
            out.append(raw)
    return out


def _section_names(meeting: Meeting) -> tuple[frozenset[str], frozenset[str]]:
    s = meeting.actions
    return (frozenset(normalize_title(t) for t in s.topic_sections),
            frozenset(normalize_title(t) for t in s.action_sections))


# ---------------------------------------------------------------------------------------
# Owner resolution


def resolve_owner(token: str, attendees: list[Attendee], config: Config,
                  people: PeopleIndex | None = None) -> Owner:
    if token.startswith("@"):
        handle = token[1:]
        person = config.person_by(github=handle)
        return Owner(token, person.name if person else (people.name_of(handle) if people else None), handle, person)
    if not _INITIALS_RX.fullmatch(token):  # a first name: "Jaime", "Cheng"
        att = next((a for a in attendees if a.name and a.name.split()[0].lower() == token.lower() and a.github), None)
        known = None if att else (people.by_first_name(token) if people else None)
        github = att.github if att else (known.github if known else None)
        name = att.name if att else (known.name if known else None)
        person = config.person_by(github=github) if github else None
        return Owner(token, name, github, person)
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
    github = (att.github if att else None) or (person.github if person else None)
    name = (att.name if att else None) or (person.name if person else None)
    if person is None and not shadowed and not github and people is not None:
        # the file's own list lacks them: the people index (the roster already had its say)
        known = people.by_initials(token)
        if known:
            github, name = known.github, name or known.name
            person = config.person_by(github=github) if github else None
    return Owner(token, name, github, person, shadowed)


def _name_known(token: str, attendees: list[Attendee], people: PeopleIndex | None, config: Config) -> bool:
    if any(a.name and a.name.split()[0].lower() == token.lower() for a in attendees):
        return True
    if any(p.name.split()[0].lower() == token.lower() for p in config.people if p.name):
        return True
    return bool(people and people.by_first_name(token))


# ---------------------------------------------------------------------------------------
# The per-file cache: in memory, and persisted in SQLite in [bot] state_dir

CACHE_FORMAT = 1


@dataclass
class FileFacts:
    raws: list[Raw]
    attendees: list[tuple[str | None, str | None, str | None]]


def _encode(facts: FileFacts) -> bytes:
    return marshal.dumps((CACHE_FORMAT, [(r.kind, r.line, r.text, r.body, r.owners, r.checkbox, r.done, r.inherited,
                                           r.by_name, r.discussed) for r in facts.raws], facts.attendees))


def _decode(blob: bytes) -> FileFacts | None:
    try:
        version, raws, attendees = marshal.loads(blob)
        if version != CACHE_FORMAT:
            return None
        return FileFacts([Raw(*r) for r in raws], [tuple(a) for a in attendees])
    except (ValueError, EOFError, TypeError):
        return None


class ScanStore:
    """What was read from each notes file, keyed by path, size, mtime_ns (and inode and
    ctime_ns: a tick keeps the size, and two writes can share a coarse mtime) and a content
    hash: a file whose stat changed but whose bytes did not (a ``git checkout``, a copy) is
    not parsed again. ``path=None`` keeps it in memory only."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        # path -> (stat key, hash, sections key, facts)
        self._mem: dict[str, tuple[tuple[int, ...], bytes, str, FileFacts]] = {}
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple] = []
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, stat BLOB, hash BLOB, "
                                 "sections TEXT, facts BLOB)")
                self._load()
            except (sqlite3.Error, OSError) as exc:
                log.warning("the notes scan cache %s cannot be used (%s); scanning without it", path, exc)
                self._db = None

    def _load(self) -> None:
        assert self._db is not None
        for p, stat, digest, sections, blob in self._db.execute("SELECT path, stat, hash, sections, facts FROM files"):
            facts = _decode(blob)
            if facts is None:
                continue
            try:
                key = tuple(marshal.loads(stat))
            except (ValueError, EOFError, TypeError):
                continue
            self._mem[p] = (key, digest, sections, facts)

    def get(self, path: Path, st: os.stat_result, sections: str) -> FileFacts:
        key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        name = str(path)
        hit = self._mem.get(name)
        if hit and hit[0] == key and hit[2] == sections:
            return hit[3]
        data = _read_bytes(path)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if hit and hit[1] == digest and hit[2] == sections:
            facts = hit[3]
        else:
            facts = _facts_of(data, path, sections)
        with self._lock:
            self._mem[name] = (key, digest, sections, facts)
            if self._db is not None:
                self._pending.append((name, marshal.dumps(key), digest, sections, _encode(facts)))
        return facts

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows or self._db is None:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk: the scan is right, only slower next time
            log.warning("could not save the notes scan cache %s: %s", self.path, exc)
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def clear_memory(self) -> None:
        self._mem.clear()

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None


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
    raws = extract(notes, topics, acts)
    attendees = [(a.initials, a.name, a.github) for a in notes.attendees()] if (raws or _has_attendees(notes)) else []
    return FileFacts(raws, attendees)


def _has_attendees(notes: Notes) -> bool:
    return any(h.title.lower().lstrip(": ").startswith("attendees") for h in notes.headings)


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


# resolved entries per file: (path) -> (facts, day, config, index version, resolved)
_resolved: dict[Path, tuple[FileFacts, dt.date, Config, int, list[tuple[ActionItem, bool]],
                            list[tuple[ActionItem, bool, bool]]]] = {}


def _sections_key(meeting: Meeting) -> str:
    topics, acts = _section_names(meeting)
    key = "\x1f".join(sorted(topics)) + "\x1e" + "\x1f".join(sorted(acts))
    _SECTIONS_CACHE.setdefault(key, (topics, acts))
    return key


def _resolve(facts: FileFacts, path: Path, day: dt.date, config: Config, people: PeopleIndex | None
             ) -> tuple[list[tuple[ActionItem, bool]], list[tuple[ActionItem, bool, bool]]]:
    attendees = [Attendee(n, i, g) for i, n, g in facts.attendees]
    owners_of: dict[str, Owner] = {}

    def owner(t: str) -> Owner:
        o = owners_of.get(t)
        if o is None:
            o = owners_of[t] = resolve_owner(t, attendees, config, people)
        return o

    actions: list[tuple[ActionItem, bool]] = []
    topics: list[tuple[ActionItem, bool, bool]] = []
    for r in facts.raws:
        if r.by_name and not all(_name_known(t, attendees, people, config) for t in r.owners
                                 if not t.startswith("@") and not _INITIALS_RX.fullmatch(t)):
            continue  # "Planning to have a vote": not a person
        item = ActionItem(day, path, r.line, r.text, r.body, [owner(t) for t in r.owners], r.kind, r.checkbox)
        if r.kind == "topic":
            topics.append((item, r.done, r.discussed))
        else:
            actions.append((item, r.done))
    return actions, topics


def _file_entries(path: Path, day: dt.date, config: Config, meeting: Meeting | None = None,
                  people: PeopleIndex | None = None, version: int = 0):
    meeting = meeting or config.meeting()
    store = scan_store(config, meeting)
    facts = store.get(path, path.stat(), _sections_key(meeting))
    hit = _resolved.get(path)
    if hit and hit[0] is facts and hit[1] == day and hit[2] is config and hit[3] == version:
        return hit[4], hit[5]
    actions, topics = _resolve(facts, path, day, config, people)
    _resolved[path] = (facts, day, config, version, actions, topics)
    return actions, topics


def _file_items(path: Path, day: dt.date, config: Config) -> list[tuple[ActionItem, bool]]:
    """The action items of one notes file (cached), with whether each is done."""
    return _file_entries(path, day, config)[0]


def items_in_file(notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None,
                  people: PeopleIndex | None = None) -> list[tuple[ActionItem, bool]]:
    """Every action item of one parsed file, with whether it is done (not cached)."""
    return entries_in_file(notes, day, config, meeting, people)[0]


def topics_in_file(notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None,
                   people: PeopleIndex | None = None) -> list[tuple[ActionItem, bool]]:
    """Every topic of one parsed file, with whether it is ticked (not cached)."""
    return [(t, done) for t, done, _ in entries_in_file(notes, day, config, meeting, people)[1]]


def entries_in_file(notes: Notes, day: dt.date, config: Config, meeting: Meeting | None = None,
                    people: PeopleIndex | None = None):
    meeting = meeting or config.meeting()
    topics, acts = _section_names(meeting)
    raws = extract(notes, topics, acts)
    facts = FileFacts(raws, [(a.initials, a.name, a.github) for a in notes.attendees()])
    return _resolve(facts, notes.path or Path(""), day, config, people)


# ---------------------------------------------------------------------------------------
# Scans


@dataclass
class _Scan:
    files: list[tuple[dt.date, Path]]
    people: PeopleIndex
    version: int
    facts: dict[Path, FileFacts]
    config: Config
    meeting: Meeting
    days: dict[Path, dt.date] = field(default_factory=dict)

    def path_on(self, day: dt.date) -> Path | None:
        by_day = self.__dict__.get("_by_day")
        if by_day is None:
            by_day = self.__dict__["_by_day"] = {d: p for p, d in self.days.items()}
        return by_day.get(day)

    def entries(self, day: dt.date, path: Path):
        """(action items, topics) of one file of the scan, resolved (cached)."""
        facts = self.facts.get(path)
        if facts is None:
            raise NotesError(path, "could not be read")
        hit = _resolved.get(path)
        if hit and hit[0] is facts and hit[1] == day and hit[2] is self.config and hit[3] == self.version:
            return hit[4], hit[5]
        actions, topics = _resolve(facts, path, day, self.config, self.people)
        _resolved[path] = (facts, day, self.config, self.version, actions, topics)
        return actions, topics


_index_cache: dict[tuple[str, int], tuple[tuple, PeopleIndex, int]] = {}
_versions = itertools.count(1)


def _people_index(config: Config, meeting: Meeting, all_files: list[tuple[dt.date, Path]],
                  errors: list[str] | None) -> tuple[PeopleIndex, int, dict[Path, FileFacts]]:
    """What every notes file of the meeting says (cached), and the people index learned
    from them (oldest first), rebuilt only when some file changed."""
    store = scan_store(config, meeting)
    sections = _sections_key(meeting)
    stamp = []
    facts_list = []
    by_path: dict[Path, FileFacts] = {}
    stat = os.stat
    for day, path in all_files:
        try:
            facts = store.get(path, stat(path), sections)
        except (NotesError, OSError) as exc:
            if errors is not None:
                errors.append(str(exc))
            continue
        stamp.append(id(facts))
        facts_list.append((day, facts))
        by_path[path] = facts
    store.flush()
    key = (str(NotesFiles(config, meeting).directory), id(config))
    token = tuple(stamp)
    hit = _index_cache.get(key)
    if hit and hit[0] == token:
        return hit[1], hit[2], by_path
    index = PeopleIndex()
    for day, facts in facts_list:
        index.learn(facts.attendees, day)
    version = next(_versions)
    _index_cache[key] = (token, index, version)
    return index, version, by_path


def _scan(config: Config, meeting: Meeting, before: dt.date, today: dt.date | None,
          errors: list[str] | None) -> _Scan:
    settings = meeting.actions
    last = min(before - dt.timedelta(days=1), today) if today else before - dt.timedelta(days=1)
    all_files = NotesFiles(config, meeting).existing()
    people, version, facts = _people_index(config, meeting, all_files, errors)
    files = [(d, p) for d, p in all_files if d <= last]
    oldest = (today or before) - settings.lookback
    files = [(d, p) for d, p in files if d >= oldest]
    if settings.max_meetings:
        files = files[-settings.max_meetings:]
    return _Scan(files, people, version, facts, config, meeting, {p: d for d, p in all_files})


MATCH_WINDOW = 6  # a hand-edited copy is looked for among the items of the 6 notes before it


class _Latest:
    """The newest copy of each item seen so far (files oldest first)."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[ActionItem, bool, int]] = {}  # id -> (item, done, file number)
        self.keys_of: dict[int, set] = {}
        self.owner_of: dict[tuple, int] = {}
        self.by_owner: dict[frozenset[str], set[int]] = {}
        self.by_date: dict[dt.date, list[int]] = {}
        self.n = 0

    def add(self, item: ActionItem, done: bool, fileno: int) -> None:
        own = item.keys
        keys = set(own)
        replaced: set[int] = set()
        for k in own:
            old = self.owner_of.get(k)
            if old is not None and old in self.latest:
                replaced.add(old)
        if not replaced and item.owners:
            replaced |= self._similar(item, fileno)
        for old in replaced:
            keys |= self.keys_of[old]
            self._drop(old)
        n = self.n
        self.n += 1
        self.latest[n] = (item, done, fileno)
        self.keys_of[n] = keys
        for k in keys:
            self.owner_of[k] = n
        self.by_owner.setdefault(item.owner_key, set()).add(n)

    def _similar(self, item: ActionItem, fileno: int) -> set[int]:
        """Hand-edited copies: same owners, similar words, within MATCH_WINDOW files; or the
        item of the meeting its ``(from YYYY-MM-DD)`` names, with the same owners."""
        same = self.by_owner.get(item.owner_key)
        if not same:
            return set()
        src = item.from_date
        best, best_score = None, 0.0
        for n in same:
            other, _, f = self.latest[n]
            if fileno - f > MATCH_WINDOW and other.date != src:
                continue
            a, b = item.tokens, other.tokens
            if not a or not b:
                continue
            inter = len(a & b)
            score = inter / (len(a) + len(b) - inter)
            need = MARKED_SIMILAR if src is not None and other.date == src else SIMILAR
            if score >= need and score > best_score:
                best, best_score = n, score
        return {best} if best is not None else set()

    def _drop(self, n: int) -> None:
        item = self.latest.pop(n)[0]
        group = self.by_owner.get(item.owner_key)
        if group:
            group.discard(n)


def open_actions(config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None,
                 errors: list[str] | None = None) -> list[ActionItem]:
    """Open action items (never topics) in notes of meetings before ``before`` (the next
    meeting's date) that have happened by ``today``, newest copy of each, ordered by date
    and line. Only items with an owner are listed: they are the ones a chair can chase.
    Unparseable files are skipped and reported in ``errors``."""
    scan = _scan(config, meeting, before, today, errors)
    latest = _Latest()
    for fileno, (day, path) in enumerate(scan.files):  # oldest first: newer copies replace older ones
        try:
            found_here = scan.entries(day, path)[0]
        except NotesError:  # reported by the scan
            continue
        for item, done in found_here:
            latest.add(item, done, fileno)
        for topic, done in _carried_actions(scan, day, path):
            latest.add(topic, done, fileno)
    found = [item for item, done, _ in latest.latest.values() if not done and item.owners]
    return sorted(found, key=lambda a: (a.date, a.line))


MARKED_SIMILAR = 0.25  # a copy whose "(from DATE)" names the meeting of the other needs fewer shared words


def _is_copy(a: ActionItem, b: ActionItem) -> bool:
    """``a`` is a copy of ``b``: the same key, or the same owners and similar words (fewer
    suffice when ``a``'s ``(from DATE)`` marker names ``b``'s meeting)."""
    if a.keys & b.keys:
        return True
    if not a.owners or a.owner_key != b.owner_key or not a.tokens or not b.tokens:
        return False
    inter = len(a.tokens & b.tokens)
    score = inter / (len(a.tokens) + len(b.tokens) - inter)
    return score >= (MARKED_SIMILAR if a.from_date == b.date else SIMILAR)


def _carried_actions(scan: _Scan, day: dt.date, path: Path) -> list[tuple[ActionItem, bool]]:
    """Action items carried over as top-level entries of an agenda section (the bot writes
    ``- [ ] JRG: open a PR (from 2026-01-07)`` into "From previous meetings"): by structure
    topics, they are copies of the action item of the meeting their marker names."""
    out = []
    for topic, done, _ in scan.entries(day, path)[1]:
        src = topic.from_date
        if src is None or src >= day:
            continue
        src_path = scan.path_on(src)
        if src_path is None:
            continue
        try:
            actions = scan.entries(src, src_path)[0]
        except NotesError:
            continue
        if any(_is_copy(topic, a) for a, _ in actions) or any(
                _is_copy(topic, t) for t, _ in _carried_actions(scan, src, src_path)):
            copy = ActionItem(topic.date, topic.path, topic.line, topic.text, topic.body, topic.owners, "action",
                              topic.checkbox)
            out.append((copy, done))
    return out


def deferred_topics(config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None,
                    errors: list[str] | None = None) -> list[ActionItem]:
    """Topics of the last meeting held before ``before`` that were neither ticked nor
    discussed there (an unticked topic with notes under it was discussed; one in a
    "Deferred to next meeting" section is deferred whatever is under it), and that no later
    notes tick, under the same or hand-edited wording (same owners, :func:`similar`)."""
    scan = _scan(config, meeting, before, today, errors)
    if not scan.files:
        return []
    day, path = scan.files[-1]
    try:
        topics = scan.entries(day, path)[1]
    except NotesError:
        return []
    deferred_titles = {"deferred to next meeting", "defer to next meeting", "deferred agenda items"}
    try:
        notes_sections = {t.line: t for t, _, _ in topics}
        deferred_lines = _lines_in_sections(path, deferred_titles, notes_sections)
    except (NotesError, OSError):
        deferred_lines = set()
    carried = {t.line for t, _ in _carried_actions(scan, day, path)}
    candidates = [t for t, done, discussed in topics
                  if t.checkbox and not done and (not discussed or t.line in deferred_lines) and t.line not in carried]
    if not candidates:
        return []
    # ticked later (in this file or any later one, e.g. notes written ahead) under any wording
    ticked: list[ActionItem] = [t for t, done, _ in topics if done]
    for d, p in NotesFiles(config, meeting).existing():
        if d <= day:
            continue
        try:
            later = scan.entries(d, p)[1]
        except NotesError:
            continue
        ticked += [t for t, done, _ in later if done]
    out = []
    for t in candidates:
        if any(t.keys & o.keys or (t.owner_key == o.owner_key and similar(t.tokens, o.tokens)) for o in ticked):
            continue
        out.append(t)
    return out


def _lines_in_sections(path: Path, titles: set[str], topics: dict[int, ActionItem]) -> set[int]:
    if not topics:
        return set()
    from .notes.parse import read_notes
    notes = read_notes(path)
    out = set()
    for s in notes.sections():
        if normalize_title(s.title) in titles:
            out |= {line for line in topics if s.start < line - 1 < s.end}
    return out


def later_copies(config: Config, meeting: Meeting, item: ActionItem) -> list[ActionItem]:
    """Unticked checkbox copies of ``item`` in notes dated after it (carried over into notes
    already written for the next meetings): ticking the item ticks those too, or the newest
    copy would bring it back once its meeting has passed. Copies are the same item by the
    rules of :func:`open_actions` (same key, or same owners and similar words)."""
    out = []
    scan = _scan(config, meeting, dt.date.max, None, None)
    for day, path in sorted((d, p) for p, d in scan.days.items()):
        if day <= item.date:
            continue
        try:
            actions, topics = scan.entries(day, path)
        except NotesError:  # an unparseable file is never written; the scan reports it elsewhere
            continue
        copies = [a for a, done in actions if not done] + [t for t, done, _ in topics if not done and t.from_date]
        out += [other for other in copies if other.checkbox and _is_copy(other, item)]
    return out


def mark_done(item: ActionItem):
    """Tick ``item`` in its notes file: its checkbox, or, for a prose item, the line turned
    into a ticked checkbox in place (``- JRG: will x`` -> ``- [x] JRG: will x``). Call it
    inside the bot's editing session, as ``set_checked`` is."""
    from .notes.edit import set_checked, tick_prose
    if item.checkbox:
        return set_checked(item.path, item.line, item.text)
    return tick_prose(item.path, item.line, item.text)


def by_owner(items: list[ActionItem]) -> tuple[dict[str, tuple[Person, list[ActionItem]]], dict[str, list[ActionItem]]]:
    """Group items by resolved person (initials -> (person, items)) and unresolved token.
    Topics are left out: nobody is pinged for proposing a topic."""
    resolved: dict[str, tuple[Person, list[ActionItem]]] = {}
    unresolved: dict[str, list[ActionItem]] = {}
    for item in items:
        if item.kind != "action":
            continue
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


def carried_topic_line(topic: ActionItem) -> str:
    """``- [ ] XX: text (from YYYY-MM-DD)`` for the next notes' "From previous meetings": the
    date of the meeting it was first proposed for, when it was carried before."""
    body = _FROM.sub("", topic.body)
    since = topic.from_date or topic.date
    owners = ", ".join(o.carried_label for o in topic.owners)
    return f"- [ ] {owners}: {body} (from {since.isoformat()})" if owners else f"- [ ] {body} (from {since.isoformat()})"
