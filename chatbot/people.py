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

    def by_initials(self, initials: str) -> Known | None:
        return self._initials.get(initials.upper())

    def by_first_name(self, name: str) -> Known | None:
        """The person most recently listed with this first name, unless someone else with
        that first name was listed within a year of them (then it is ambiguous: nobody)."""
        seen = self._first.get(name.lower())
        if not seen:
            return None
        ranked = sorted(seen.values(), key=lambda k: k.date, reverse=True)
        if len(ranked) > 1 and (ranked[0].date - ranked[1].date) < AMBIGUOUS_WITHIN:
            return None
        return ranked[0]

    def name_of(self, github: str) -> str | None:
        return self._names.get(github.lstrip("@").lower())

    def __len__(self) -> int:
        return len(self._initials)


def attendee_tuple(a: Attendee) -> tuple[str | None, str | None, str | None]:
    return (a.initials, a.name, a.github)
