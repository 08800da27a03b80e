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
restarted bot does not parse unchanged files again. The people index and the last list of
open items are kept there too, under digests of everything they depend on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
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
from typing import NamedTuple

from .config import Config, Meeting, Person
from .notes.files import NotesFiles
from .notes import parse as _parse_module
from .notes.parse import Attendee, Item, Notes, NotesError, normalize_title, parse_notes, read_regular_file, split_owner
from . import action_rules as rules
from . import action_track as track
from . import people as _people_module
from .people import PeopleIndex, first_name

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
    carried: bool = False  # a carried-over copy written as a topic ("- [ ] JRG: x (from DATE)")
    # why it was picked (FORMS): "section", "label", "list", "checkbox", "prose", "carried"
    form: str = "prose"

    @property
    def explicit(self) -> bool:
        """Written as a task on purpose (an Action items section or list, an ``Action item:``
        label, a checkbox, a carried-over copy), not guessed from prose: pinged even before a
        chair has reviewed it."""
        return self.kind == "action" and self.form in EXPLICIT_FORMS

    @property
    def form_label(self) -> str:
        """The form, said to a person judging the item."""
        return FORMS.get(self.form, self.form)

    @cached_property
    def keys(self) -> frozenset[tuple[frozenset[str], str]]:
        """The item's identity with owners as written and as resolved: a carried-over copy
        names resolved owners by their roster initials (``@jaimergp`` -> ``JRG``), and owners
        whose initials the roster gives to someone else by their handle (``JL`` -> ``@leej3``).
        Computed once per item: a warm scan reuses the cached items of every file."""
        text = _key_text(self.body)
        return frozenset(
            (_owner_set(names), text)
            for names in (
                [o.token for o in self.owners],
                [o.label for o in self.owners],
                [o.carried_label for o in self.owners],
            )
        )

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


FORMS = {
    "section": "Action items section",
    "label": "labelled action item",
    "list": "listed under an Action items line",
    "checkbox": "checkbox, owner commits",
    "prose": "prose, owner commits",
    "carried": "carried over",
}
EXPLICIT_FORMS = frozenset({"section", "label", "list", "checkbox", "carried"})


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

_INITIALS = rules._INITIALS
_INITIALS_RX = rules.INITIALS_RX
_NOT_OWNER_WORDS = rules.NOT_OWNER_WORDS
# a line that may be a label alone ("**Action items:**", "- Next steps", "AI (JRG):"), checked
# with rules.label_only; one search over the whole text finds them
_LABEL_LINE = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+)?(?:\[[ xX]\][ \t]+)?(?:\(?[A-Z][A-Za-z/&, ]{1,20}\)?:?[ \t]+)?"
    r"(?:\*\*|__|\*|_)?(?:action[ -]?items?|(?-i:AIs?|ACTIONS?)|to[ -]?dos?|next[ -]steps?|follow[ -]?ups?)\b"
    r"[^\n]{0,48}$",
    re.I | re.M,
)
# section headings that hold action items whatever the config's action_sections say
_ACTION_TITLE = re.compile(r"(?:action items?|next steps|to-?dos?|follow-?ups?|ais?)(?: \(.*\))?")
# every rule for an entry without owners written at its start needs one of these (one C-speed
# search before the others: most entries are notes)
_GATE = re.compile(
    r"will|\bto\b|'ll|’ll|shall|looking into|working on|taking care|following up|preparing|drafting|"
    r"reaching out|owes|\([A-Z]",
    re.I,
)
_DONE = re.compile(r"[✓✔✅]|(?:^|\s)\(?(?:done|DONE|Done)\)?[.!]?\s*$|^(?:done|DONE|Done)\s*[:\-–]")
_NOTHING = frozenset(
    {
        "",
        "...",
        "…",
        "n/a",
        "na",
        "none",
        "none yet",
        "tbd",
        "-",
        "_no items discussed_",
        "no items discussed",
        "*no items discussed*",
    }
)


class Raw(NamedTuple):
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
    # owners read from prose ("JRG will open", "Jaime to call the vote", "RFC to start"), not
    # written in an owner's place: an action item only if each is a known person
    guessed: bool = False
    discussed: bool = False  # topics: notes were taken under it
    form: str = "prose"  # actions: why it was picked (ActionItem.form)


def _placeholder(text: str) -> bool:
    """Nothing written yet: ``...``, ``N/A``, ``_No items discussed_``, ``()``."""
    return not text or (len(text) <= 24 and (text.strip().lower() in _NOTHING or not any(c.isalnum() for c in text)))


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


def _may_label(text: str) -> bool:
    return any(h in text for h in rules.LABEL_HINTS)


def _owners_in(text: str, written: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The owners an entry names: written at its start (``JRG: …``, ``(JRG) …``), at its end
    (``… (SA, next two weeks)``), or in prose (``JRG will …``, guessed). (owners, guessed)"""
    if written:
        return written, False
    trailing = rules.trailing_owners(text)
    if trailing:
        return trailing, True  # "Vote ends … (AoE)": a known person, or nobody
    guess = rules.who_commits(text)
    if guess is not None:
        return guess.owners, True
    return (), False


_NAME_COLON = re.compile(r"^([A-Z][a-z]{2,}):\s+(.*)$", re.S)


def _labelled(
    it: Item, text: str, written: tuple[str, ...], lab: rules.Label, checkbox: bool, done: bool, named: bool
) -> Raw:
    """``Action item: JRG to call the vote``, ``AI (JRG): send the minutes``, ``(JRG) Note to
    self: check …``: the owners on the label, the entry, its text, else its topic's."""
    rest = lab.rest
    own, guessed = lab.owners or written, named and not lab.owners
    inherited = False
    if not own:
        rest_owners, rest_body = split_owner(rest)
        own = tuple(o for o in rest_owners if o not in _NOT_OWNER_WORDS)
        if own:
            rest = rest_body
        else:
            own, guessed = _owners_in(rest, ())
            lead = _LEAD_OWNERS.match(rest)  # "AI: JRG send the minutes"
            if not own and lead and rules.task_verb(lead.group(2)):
                own, guessed = tuple(o for o in rules.OWNER_SPLIT.split(lead.group(1)) if o), True
    if not own:
        own = _ancestor_owners(it)
        inherited = bool(own)
    return Raw("action", it.line + 1, text, rest, own, checkbox, done, inherited, guessed, form="label")


def _classify(it: Item, in_topics: bool, in_actions: bool, listed: tuple[str, ...] | None) -> Raw | None:
    """One entry: a topic, an action item (with why: ``Raw.form``), or neither. ``listed``: the
    entry is in a list under a label line, with the owners that line names."""
    text = it.text
    if _placeholder(text):
        return None
    checkbox = it.checked is not None
    top = it.parent is None
    line = it.line + 1
    lab = rules.label(text) if _may_label(text) else None
    if lab is not None and not lab.rest:
        return None  # a label alone heads a list: its entries are the action items
    if in_topics and top and lab is None and listed is None:
        owners_l, body = split_owner(text)
        return Raw(
            "topic",
            line,
            text,
            body,
            tuple(o for o in owners_l if o not in _NOT_OWNER_WORDS),
            checkbox,
            bool(it.checked),
            discussed=any(_is_discussion(c) for c in it.children),
        )
    owners_l, body = split_owner(text)
    written = tuple(o for o in owners_l if o not in _NOT_OWNER_WORDS)
    named = False
    if lab is None and not written and text[:1].isupper():
        n = _NAME_COLON.match(text)  # "Dasha: Planning to attend": a first name, if a known one
        if n and n.group(1).lower() not in rules.NOT_NAMES:
            written, body, named = (n.group(1),), n.group(2), True
    if lab is None and written and body is not text and _may_label(body):
        lab = rules.label(body)  # "JRG: Action item: …", "(JRG) Note to self: check …"
        if lab is not None and not lab.rest:
            return None
    done = bool(it.checked) if checkbox else bool(_DONE.search(text))
    form = "checkbox" if checkbox else "prose"
    if lab is not None:
        return _labelled(it, text, written, lab, checkbox, done, named)
    if listed is not None or (in_actions and top):
        own, guessed = _owners_in(text, written)
        guessed = guessed or named
        inherited = False
        if not own:
            own, inherited = listed or _ancestor_owners(it), not listed
            inherited = inherited and bool(own)
        return Raw(
            "action",
            line,
            text,
            body,
            own,
            checkbox,
            done,
            inherited,
            guessed,
            form="list" if listed is not None else "section",
        )
    if not written and not _GATE.search(text):
        return None  # every rule below needs owners or a commitment: most entries are notes
    if written:
        if rules.commits(body):  # "JRG: will report this", "JRG: To check governance.", "(JRG) Open the issue"
            return Raw("action", line, text, body, written, checkbox, done, guessed=named, form=form)
        guess = rules.who_commits(body)  # "CHL: Sounds good. JRG will draft it."
        if guess is not None:
            return Raw("action", line, text, body, guess.owners, checkbox, done, guessed=True, form=form)
        return None  # an owner's comment in the discussion
    guess = rules.who_commits(text)  # "KK will discuss", "Jaime to call the vote", "RA looking into it"
    if guess is not None:
        return Raw("action", line, text, text, guess.owners, checkbox, done, guessed=True, form=form)
    trailing = rules.trailing_owners(text)  # "Write the CEP (SA, next two weeks)"
    if trailing and rules.commits(_TRAILING_PAREN.sub("", text)):
        return Raw(
            "action", line, text, _TRAILING_PAREN.sub("", text), trailing, checkbox, done, guessed=True, form=form
        )
    if it.parent is not None and rules.will_commit(text):  # "Will open an issue" under "(DPC) Governance"
        inherited_owners = _ancestor_owners(it)
        if inherited_owners:
            return Raw("action", line, text, text, inherited_owners, checkbox, done, inherited=True, form=form)
    return None


_LEAD_OWNERS = re.compile(rf"^({rules._OWNER_LIST})\s+([a-z]+)\b")
_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*\.?$")


def _listed_items(notes: Notes) -> dict[int, tuple[str, ...]]:
    """Items (by line) of a list that follows a label line (``Action items:``, ``**Next
    steps**``, ``AI (JRG):``), or nested under an item that is only such a label: each entry of
    that list is an action item. The value: the owners the label names."""
    out: dict[int, tuple[str, ...]] = {}
    text = notes.text
    if not _may_label(text):
        return out
    marks: dict[int, tuple[str, ...]] = {}
    for m in _LABEL_LINE.finditer(text):
        line_text = m.group(0).strip()
        line_text = _BULLET.sub("", line_text)
        owners_l, body = split_owner(line_text)
        lab = rules.label_only(body)
        if lab is None:
            continue
        owners = lab.owners or tuple(o for o in owners_l if o not in _NOT_OWNER_WORDS)
        marks[text.count("\n", 0, m.start())] = owners
    if not marks:
        return out
    by_line = {it.line: it for it in notes.items}
    for mark, owners in marks.items():
        it = by_line.get(mark)
        if it is not None:  # "- Action items:" with the entries nested under it
            if it.children:
                out.update((c.line, owners) for c in it.children)
                continue
            if it.parent is None:
                continue
        # a paragraph line (or an item without children): the list starting on the next
        # non-blank line, its entries
        i = mark + 1
        while i < len(notes.lines) and not notes.lines[i].strip():
            i += 1
        first = by_line.get(i)
        if first is None or (it is not None and first.indent < it.indent):
            continue
        sibling: Item | None = first
        while sibling is not None:
            out[sibling.line] = owners
            nxt = sibling.end
            while nxt < len(notes.lines) and not notes.lines[nxt].strip():
                nxt += 1
            cand = by_line.get(nxt)
            sibling = cand if cand is not None and cand.parent is first.parent and cand.indent == first.indent else None
    return out


_BULLET = re.compile(r"^(?:[-*+]|\d+[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")


def extract(notes: Notes, topic_sections: frozenset[str], action_sections: frozenset[str]) -> list[Raw]:
    """Every topic and action item of one parsed file, in line order."""
    listed = _listed_items(notes)
    out = []
    kinds: dict[int, tuple[bool, bool, bool]] = {}  # section heading line -> (attendees, topics, actions)
    for it in notes.items:
        sec = it.section
        key = sec.start if sec is not None else -1
        kind = kinds.get(key)
        if kind is None:
            title = normalize_title(sec.title) if sec is not None else ""
            kind = kinds[key] = (
                title.startswith("attendees"),
                title in topic_sections,
                title in action_sections or bool(_ACTION_TITLE.fullmatch(title)),
            )
        if kind[0]:
            continue
        raw = _classify(it, kind[1], kind[2], listed.get(it.line))
        if raw is not None:
            out.append(raw)
    return out


def _section_names(meeting: Meeting) -> tuple[frozenset[str], frozenset[str]]:
    s = meeting.actions
    return (
        frozenset(normalize_title(t) for t in s.topic_sections),
        frozenset(normalize_title(t) for t in s.action_sections),
    )


# ---------------------------------------------------------------------------------------
# Owner resolution


def resolve_owner(token: str, attendees: list[Attendee], config: Config, people: PeopleIndex | None = None) -> Owner:
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


# ---------------------------------------------------------------------------------------
# The per-file cache: in memory, and persisted in SQLite in [bot] state_dir

CACHE_FORMAT = 4


class FileFacts(NamedTuple):
    """What one notes file says: its entries (action items first, then topics, each in line
    order) and its attendees as (initials, name, github, first name)."""

    actions: tuple[Raw, ...]
    topics: tuple[Raw, ...]
    attendees: tuple[tuple[str | None, str | None, str | None, str | None], ...]
    evidence: tuple[track.Evidence, ...] = ()  # lines that report something done


def _facts(raws: list[Raw], notes: Notes) -> FileFacts:
    return FileFacts(
        tuple(r for r in raws if r.kind == "action"),
        tuple(r for r in raws if r.kind == "topic"),
        tuple((a.initials, a.name, a.github, first_name(a.name)) for a in notes.attendees()),
        track.evidence(notes.text, notes.lines, notes.items, _attendee_lines(notes)),
    )


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
            tuple(map(make, actions)), tuple(map(make, topics)), attendees, tuple(map(track.Evidence._make, evidence))
        )
    except (ValueError, EOFError, TypeError):
        return None


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
        key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
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


# ---------------------------------------------------------------------------------------
# Resolving a file's entries

# resolved owners: (config, index version, token, this file's attendee for it) -> Owner
_owners: dict[tuple, Owner] = {}


class _FileView:
    """One file's attendees, looked up by initials and by first name."""

    __slots__ = ("by_initials", "by_first", "attendees", "facts", "written")

    def __init__(self, facts: FileFacts):
        self.facts = facts
        self.by_initials: dict[str, tuple] = {}
        self.by_first: dict[str, tuple] = {}
        for a in facts.attendees:
            if a[0]:
                self.by_initials.setdefault(a[0].upper(), a)
            if a[3] and a[2]:
                self.by_first.setdefault(a[3], a)
        self.attendees = facts.attendees
        # initials the file writes in an owner's place ("(WV) Calling for a vote"): known people
        self.written = {o.upper() for r in (*facts.topics, *facts.actions) if not r.guessed for o in r.owners}


def _owner(token: str, view: _FileView, config: Config, people: PeopleIndex | None, version: int) -> Owner:
    if token.startswith("@"):
        att = None
    elif _INITIALS_RX.fullmatch(token):
        att = view.by_initials.get(token.upper())
    else:
        att = view.by_first.get(token.lower())
    key = (id(config), version, token, att)
    o = _owners.get(key)
    if o is None:
        if len(_owners) > 50_000:  # each change of the archive makes a new index version: bounded
            _owners.clear()
        attendees = [Attendee(att[1], att[0], att[2])] if att else []
        o = _owners[key] = resolve_owner(token, attendees, config, people)
    return o


def _known_view(token: str, view: _FileView, people: PeopleIndex | None, config: Config) -> bool:
    """Someone this file's attendees, the roster or the people index knows by these initials,
    handle or first name (an owner read from prose must be one)."""
    if token.startswith("@"):
        return True
    if _INITIALS_RX.fullmatch(token):
        up = token.upper()
        return (
            up in view.by_initials
            or up in view.written
            or config.person_by(initials=token) is not None
            or bool(people and people.by_initials(token))
        )
    t = token.lower()
    if any(a[3] == t for a in view.attendees):
        return True
    if any(p.name.split()[0].lower() == t for p in config.people if p.name):
        return True
    return bool(people and people.by_first_name(token))


def _resolve_raws(
    raws: tuple[Raw, ...],
    view: _FileView,
    path: Path,
    day: dt.date,
    config: Config,
    people: PeopleIndex | None,
    version: int,
) -> list[tuple[ActionItem, bool, bool]]:
    out = []
    for r in raws:
        if r.guessed and not all(_known_view(t, view, people, config) for t in r.owners):
            if r.form not in ("section", "label", "list"):
                continue  # "RFC to start today", "Happy to give a demo": not a person
            # "Anaconda to build the launcher" in an Action items list: a task, nobody's
            r = r._replace(owners=tuple(t for t in r.owners if _known_view(t, view, people, config)))
        item = ActionItem(
            day,
            path,
            r.line,
            r.text,
            r.body,
            [_owner(t, view, config, people, version) for t in r.owners],
            r.kind,
            r.checkbox,
            form=r.form if r.kind == "action" else "topic",
        )
        out.append((item, r.done, r.discussed))
    return out


# resolved entries per file: path -> (facts, day, config, index version, actions, topics or None)
_resolved: dict[Path, list] = {}


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


# ---------------------------------------------------------------------------------------
# Scans


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


_index_cache: dict[tuple[str, int], tuple[str, PeopleIndex, int]] = {}
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


def open_actions(
    config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None, errors: list[str] | None = None
) -> list[ActionItem]:
    """Open action items (never topics) in notes of meetings before ``before`` (the next
    meeting's date) that have happened by ``today``, newest copy of each, ordered by date
    and line. Only items with an owner are listed: they are the ones a chair can chase.
    Unparseable files are skipped and reported in ``errors``."""
    with _no_gc():
        return _open_actions(config, meeting, before, today, errors)


_CODE_DIGEST = hashlib.blake2b(
    b"".join(
        Path(f).read_bytes()
        for f in (__file__, _parse_module.__file__, _people_module.__file__, rules.__file__, track.__file__)
    ),
    digest_size=16,
).hexdigest()
_memo: dict[str, tuple[str, tuple, tuple]] = {}


def _memo_key(scan: _Scan, config: Config, meeting: Meeting, before: dt.date, today: dt.date | None) -> str:
    """Everything the list of open items depends on: every notes file (path and stat), the
    roster, the meeting's settings, the dates, and this code."""
    people = tuple((p.initials, p.name, p.github) for p in config.people)
    inputs = (
        scan.digest,
        people,
        meeting.actions.model_dump(mode="json"),
        meeting.notes.filename,
        str(NotesFiles(config, meeting).directory),
        before,
        today,
        _CODE_DIGEST,
    )
    return hashlib.blake2b(repr(inputs).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


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
    key = _memo_key(scan, config, meeting, before, today)
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


def _reports(scan: _Scan, items: list[ActionItem]) -> track.Reports:
    """What the notes after the oldest of ``items`` report done (``action_track``)."""
    first = min(a.date for a in items)
    files = ((d, f.evidence) for d, p in scan.files if d > first and (f := scan.facts_of(p)) is not None)
    return track.Reports(((a.body, _owner_names(a)) for a in items), files)


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
    topics, they are copies of the action item of the meeting their marker names. A deferred
    topic carried the same way stays a topic: it is a copy of a topic of that meeting."""
    if not scan.has_marked_topics(path):
        return []
    memo = scan.__dict__.setdefault("_carried", {})
    if path in memo:
        return memo[path]
    memo[path] = []  # (a marker naming its own file's date cannot loop)
    out = []
    for topic, done, _ in scan.topics(day, path):
        src = topic.from_date
        if src is None or src >= day:
            continue
        src_path = scan.path_on(src)
        if src_path is None:
            continue
        try:
            actions = scan.actions(src, src_path)
            src_carried = _carried_actions(scan, src, src_path)
            carried_lines = {c.line for c, _ in src_carried}
            src_topics = [t for t, _, _ in scan.topics(src, src_path) if t.line not in carried_lines]
        except NotesError:
            continue
        if any(
            t.keys & topic.keys or (t.owner_key == topic.owner_key and similar(t.tokens, topic.tokens))
            for t in src_topics
        ):
            continue  # a deferred topic, carried over
        if any(_is_copy(topic, a) for a, _ in actions) or any(_is_copy(topic, c) for c, _ in src_carried):
            copy = ActionItem(
                topic.date,
                topic.path,
                topic.line,
                topic.text,
                topic.body,
                topic.owners,
                "action",
                topic.checkbox,
                carried=True,
                form="carried",
            )
            out.append((copy, done))
    memo[path] = out
    return out


def deferred_topics(
    config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None, errors: list[str] | None = None
) -> list[ActionItem]:
    """Topics of the last meeting held before ``before`` that were neither ticked nor
    discussed there (an unticked topic with notes under it was discussed; one in a
    "Deferred to next meeting" section is deferred whatever is under it), and that no later
    notes tick, under the same or hand-edited wording (same owners, :func:`similar`)."""
    scan = _scan(config, meeting, before, today, errors)
    if not scan.files:
        return []
    day, path = scan.files[-1]
    try:
        topics = scan.topics(day, path)
    except NotesError:
        return []
    deferred_titles = {"deferred to next meeting", "defer to next meeting", "deferred agenda items"}
    try:
        notes_sections = {t.line: t for t, _, _ in topics}
        deferred_lines = _lines_in_sections(path, deferred_titles, notes_sections)
    except (NotesError, OSError):
        deferred_lines = set()
    carried = {t.line for t, _ in _carried_actions(scan, day, path)}
    candidates = [
        t
        for t, done, discussed in topics
        if t.checkbox and not done and (not discussed or t.line in deferred_lines) and t.line not in carried
    ]
    if not candidates:
        return []
    # ticked later (in this file or any later one, e.g. notes written ahead) under any wording
    ticked: list[ActionItem] = [t for t, done, _ in topics if done]
    for d, p in NotesFiles(config, meeting).existing():
        if d <= day:
            continue
        try:
            later = scan.topics(d, p)
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


def done_edit(item: ActionItem):
    """The minimal edit that marks ``item`` done where it is written: its checkbox ticked, or,
    for a prose item, its line turned into a ticked checkbox in place (``- JRG: will x`` ->
    ``- [x] JRG: will x``). A ``LineEdit`` for ``apply_to_file``/``apply_to_text``."""
    from .notes.edit import checking, ticking_prose

    return checking(item.line, item.text) if item.checkbox else ticking_prose(item.line, item.text)


def mark_done(item: ActionItem):
    """:func:`done_edit` applied to the item's notes file (call it under the notes' lock)."""
    from .notes.edit import apply_to_file

    return apply_to_file(item.path, done_edit(item))


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


def item_id(item: ActionItem) -> str:
    """A stable name for an open action item (its notes date, line and text), for buttons and
    reactions that act on it later: numbers change as items are done, this does not; a changed
    line no longer matches (the person is told to look again)."""
    digest = hashlib.sha1(item.text.encode("utf-8")).hexdigest()[:10]
    return f"{item.date.isoformat()}:{item.line}:{digest}"


def carried_topic_line(topic: ActionItem) -> str:
    """``- [ ] XX: text (from YYYY-MM-DD)`` for the next notes' "From previous meetings": the
    date of the meeting it was first proposed for, when it was carried before."""
    body = _FROM.sub("", topic.body)
    since = topic.from_date or topic.date
    owners = ", ".join(o.carried_label for o in topic.owners)
    return (
        f"- [ ] {owners}: {body} (from {since.isoformat()})" if owners else f"- [ ] {body} (from {since.isoformat()})"
    )
