"""The chair's review of candidate action items (issue 21).

After a meeting's notes are final, the chair (roster ``chair = true``; without one, the admins)
is sent the action items found in that meeting's notes that nobody has decided on yet, each
with why it was picked (``ActionItem.form_label``), and answers per item: **track** (keep
chasing it) or **reject** (not an action item). The decisions live in the bot's ledger
(``state.Ledger.record_review``), never in the notes, and survive restarts. They change what
is pinged:

* tracked items are pinged;
* rejected items are never pinged again, nor listed as open (pings, summary, ``actions``);
* items nobody decided on are pinged only when they are written as a task on purpose
  (``ActionItem.explicit``: a checkbox, an Action items section or list, a label, a carried
  copy); one guessed from prose waits for the chair (``actions`` lists it, marked).

A decision is kept under the item's meeting, notes date and text (not its line): a line
added above it in the notes does not lose it; an edited text is a new item.

This module holds the rules (pure functions of items and decisions); the commands (``actions
review``/``track``/``reject``) are in :mod:`chatbot.review_commands`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from . import actions as act
from .config import Config, Meeting, Person
from .identity import Identity
from .schedule import Occurrence, occurrences

log = logging.getLogger(__name__)

TRACK = "track"
REJECT = "reject"
DECIDED = {TRACK: "tracked", REJECT: "not an action item"}
Decisions = dict[str, dict[str, str]]  # decision key -> {"item", "decision", "by", "at", "text"}


# ---------------------------------------------------------------------------------------
# The rules (pure)


def decision_key(meeting: Meeting, item: act.ActionItem, day: dt.date | None = None) -> str:
    """Where an item's decision is kept: its meeting, notes date (or ``day``) and text (not its
    line; case, spacing and a ``(from YYYY-MM-DD)`` marker aside)."""
    text = act.item_key([], item.text)[1]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{meeting.id}:{(day or item.date).isoformat()}:{digest}"


def decision_of(meeting: Meeting, item: act.ActionItem, decisions: Decisions) -> dict[str, str] | None:
    """The decision on ``item``; a copy marked ``(from YYYY-MM-DD)`` with the same text has the
    decision made on the item of that meeting."""
    found = decisions.get(decision_key(meeting, item))
    if found is None and item.from_date is not None:
        found = decisions.get(decision_key(meeting, item, item.from_date))
    return found if found and found.get("decision") in DECIDED else None


def state_of(meeting: Meeting, item: act.ActionItem, decisions: Decisions) -> str:
    """``track``, ``reject`` or ``unreviewed``."""
    found = decision_of(meeting, item, decisions)
    return found["decision"] if found else "unreviewed"


def listed(meeting: Meeting, items: list[act.ActionItem], decisions: Decisions) -> list[act.ActionItem]:
    """The open items shown as open anywhere (lists, pings, summary): all but the rejected."""
    return [it for it in items if state_of(meeting, it, decisions) != REJECT]


def pinged(meeting: Meeting, items: list[act.ActionItem], decisions: Decisions) -> list[act.ActionItem]:
    """The items whose owners are pinged: tracked ones, and unreviewed ones written as a task."""
    out = []
    for it in items:
        state = state_of(meeting, it, decisions)
        if state == TRACK or (state == "unreviewed" and it.explicit):
            out.append(it)
    return out


def unconfirmed(meeting: Meeting, items: list[act.ActionItem], decisions: Decisions) -> set[str]:
    """Ids (``actions.item_id``) of the listed items that are not pinged until the chair tracks them."""
    return {act.item_id(it) for it in items if state_of(meeting, it, decisions) == "unreviewed" and not it.explicit}


def candidates(items: list[act.ActionItem], day: dt.date) -> list[act.ActionItem]:
    """The action items the chair is asked about for the meeting of ``day``: those found in its
    notes, except the copies carried over from earlier meetings (asked about there)."""
    return [it for it in items if it.kind == "action" and it.date == day and it.form != "carried"]


def reviewers(config: Config) -> list[Person]:
    """Who reviews: the roster's chairs; without one, the admins (possibly nobody)."""
    return [p for p in config.people if p.chair] or [p for p in config.people if p.admin]


def may_review(who: Identity) -> bool:
    return bool(who.person and (who.person.chair or who.person.admin))


def last_held(meeting: Meeting, now: dt.datetime) -> Occurrence | None:
    """The last occurrence of ``meeting`` that started by ``now``."""
    last = None
    for last in occurrences(meeting, now - dt.timedelta(days=400), now + dt.timedelta(microseconds=1)):  # noqa: B007
        pass
    return last


def review_moment(meeting: Meeting, occ: Occurrence) -> dt.datetime | None:
    """When the review of ``occ`` is due: ``review_after`` after the meeting ends (None: never)."""
    after = meeting.actions.review_after
    return None if after is None else occ.start_utc + meeting.duration + after


def due_review(meeting: Meeting, now: dt.datetime) -> Occurrence | None:
    """The occurrence whose review is due now: the last one held, once its moment has passed
    (until the next one starts: then that one's review is the one to send)."""
    if not meeting.actions.enabled:
        return None
    occ = last_held(meeting, now)
    moment = review_moment(meeting, occ) if occ else None
    return occ if occ is not None and moment is not None and moment <= now else None
