"""The people index: who the initials in the notes are, learned from every notes file.

Attendee lists name people as ``JRG | Jaime … | jaimergp`` (tables), ``JRG: Jaime … (@jaimergp)``,
``HV, Axel Obermeier (@h-vetinari)``, ``Daniel Holth (@ dholth)`` or just ``@dholth``. An
owner written ``RA`` in a file whose own attendee list lacks RA is looked up here: the GitHub
handle most recently written next to those initials in any attendee list. The roster
(``[[people]]``) overrides the index (see ``chatbot.actions.resolve_owner``).

First names are learned too (``Jaime to call the vote``, ``Cheng looking into it``): a first
name maps to the handle of the person most recently listed with it, unless another person
with that first name was listed within a year of them: then it is ambiguous and resolves to
nobody (``Travis`` is Travis Hathaway in 2023; Travis Oliphant was last listed in 2021).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .notes.parse import Attendee


@dataclass(frozen=True)
class Known:
    """One person as an attendee list wrote them, and the date of that notes file."""

    initials: str | None
    name: str | None
    github: str | None
    date: dt.date


AMBIGUOUS_WITHIN = dt.timedelta(days=365)
_WORD = re.compile(r"[^\W\d_][\w'-]*")


def first_name(name: str | None) -> str | None:
    m = _WORD.search(name or "")
    return m.group(0).lower() if m else None


class PeopleIndex:
    """initials -> the most recent ``Known`` with a handle; first name -> ``Known`` (or nobody,
    when ambiguous); handle -> name."""

    def __init__(self) -> None:
        self._initials: dict[str, Known] = {}
        self._first: dict[str, dict[str, Known]] = {}
        self._names: dict[str, str] = {}
        # as learn_rows stores them: ((initials, name, github, first name), date)
        self._initials_rows: dict[str, tuple] = {}
        self._first_rows: dict[str, dict[str, tuple]] = {}

    def learn(self, attendees: list[Attendee] | tuple, day: dt.date) -> None:
        """Learn one file's attendees; call oldest file first (a later date wins; the same
        date does too, so the order of the calls decides only between files of one day)."""
        for a in attendees:
            if isinstance(a, Attendee):
                initials, name, github = a.initials, a.name, a.github
            else:  # as cached: (initials, name, github)
                initials, name, github = a
            if not github:
                continue
            gh = github.lstrip("@")
            if name:
                self._names.setdefault(gh.lower(), name)
            if initials:
                key = initials.upper()
                old = self._initials.get(key)
                if old is None or old.date <= day:
                    self._initials[key] = Known(initials, name, gh, day)
            first = first_name(name)
            if first:
                seen = self._first.setdefault(first, {})
                old = seen.get(gh.lower())
                if old is None or old.date <= day:
                    seen[gh.lower()] = Known(initials, name, gh, day)

    def learn_rows(self, rows, day: dt.date) -> None:
        """``learn`` for cached rows (initials, name, github, first name), files oldest first:
        the scan's path, kept to plain dict stores (it runs over every attendee of every file)."""
        ini, firsts, names = self._initials_rows, self._first_rows, self._names
        for row in rows:
            github = row[2]
            if not github:
                continue
            low = github.lower()
            if row[1] and low not in names:
                names[low] = row[1]
            if row[0]:
                ini[row[0].upper()] = (row, day)
            if row[3]:
                seen = firsts.get(row[3])
                if seen is None:
                    seen = firsts[row[3]] = {}
                seen[low] = (row, day)

    def rows(self) -> tuple:
        """What ``from_rows`` needs to rebuild this index (for the persisted scan cache)."""
        known = lambda k: (k.initials, k.name, k.github, k.date.toordinal())  # noqa: E731
        return (
            tuple((key, known(k)) for key, k in self._initials.items()),
            tuple((key, (*row, day.toordinal())) for key, (row, day) in self._initials_rows.items()),
            tuple((first, tuple((low, known(k)) for low, k in seen.items())) for first, seen in self._first.items()),
            tuple(
                (first, tuple((low, (*row, day.toordinal())) for low, (row, day) in seen.items()))
                for first, seen in self._first_rows.items()
            ),
            tuple(self._names.items()),
        )

    @classmethod
    def from_rows(cls, rows: tuple) -> PeopleIndex:
        initials, initials_rows, first, first_rows, names = rows
        index = cls()
        day = dt.date.fromordinal
        index._initials = {key: Known(i, n, g, day(d)) for key, (i, n, g, d) in initials}
        index._initials_rows = {key: ((i, n, g, f), day(d)) for key, (i, n, g, f, d) in initials_rows}
        index._first = {first_: {low: Known(i, n, g, day(d)) for low, (i, n, g, d) in seen} for first_, seen in first}
        index._first_rows = {
            first_: {low: ((i, n, g, f), day(d)) for low, (i, n, g, f, d) in seen} for first_, seen in first_rows
        }
        index._names = dict(names)
        return index

    def by_initials(self, initials: str) -> Known | None:
        key = initials.upper()
        k = self._initials.get(key)
        r = self._initials_rows.get(key)
        if r is not None and (k is None or k.date <= r[1]):
            (ini, name, gh, _), day = r
            return Known(ini, name, gh.lstrip("@"), day)
        return k

    def by_first_name(self, name: str) -> Known | None:
        """The person most recently listed with this first name, unless someone else with
        that first name was listed within a year of them (then it is ambiguous: nobody)."""
        seen = dict(self._first.get(name.lower()) or {})
        for low, ((ini, full, gh, _), day) in (self._first_rows.get(name.lower()) or {}).items():
            if low not in seen or seen[low].date <= day:
                seen[low] = Known(ini, full, gh.lstrip("@"), day)
        if not seen:
            return None
        ranked = sorted(seen.values(), key=lambda k: k.date, reverse=True)
        if len(ranked) > 1 and (ranked[0].date - ranked[1].date) < AMBIGUOUS_WITHIN:
            return None
        return ranked[0]

    def name_of(self, github: str) -> str | None:
        return self._names.get(github.lstrip("@").lower())

    def __len__(self) -> int:
        return len(self._initials.keys() | self._initials_rows.keys())


def attendee_tuple(a: Attendee) -> tuple[str | None, str | None, str | None]:
    return (a.initials, a.name, a.github)
