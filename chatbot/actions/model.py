"""The records of ``chatbot.actions``: an owner, an action item (or topic) as a chair sees it,
an entry as read from a file before owners are resolved (:class:`Raw`), a line reporting
something done (:class:`Evidence`) and what one file says (:class:`FileFacts`); the forms an
item is picked by and the names that identify an item."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from ..config import Person
from .words import _FROM, INITIALS_RX as _INITIALS_RX, word_set

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


def item_id(item: ActionItem) -> str:
    """A stable name for an open action item (its notes date, line and text), for buttons and
    reactions that act on it later: numbers change as items are done, this does not; a changed
    line no longer matches (the person is told to look again)."""
    digest = hashlib.sha1(item.text.encode("utf-8")).hexdigest()[:10]
    return f"{item.date.isoformat()}:{item.line}:{digest}"


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


class Evidence(NamedTuple):
    """A line reporting something done (what the scan cache keeps per file)."""

    line: int  # 1-based
    owners: tuple[str, ...]  # written on it or on the entry it is noted under (upper case)
    stems: tuple[str, ...]
    urls: tuple[str, ...]
    worded: bool  # says done in words ("merged", "opened", "done"); else only ticked


class FileFacts(NamedTuple):
    """What one notes file says: its entries (action items first, then topics, each in line
    order) and its attendees as (initials, name, github, first name)."""

    actions: tuple[Raw, ...]
    topics: tuple[Raw, ...]
    attendees: tuple[tuple[str | None, str | None, str | None, str | None], ...]
    evidence: tuple[Evidence, ...] = ()  # lines that report something done
