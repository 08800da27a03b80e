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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING

from . import actions as act
from .config import Config, Meeting, Person
from .identity import Identity, Refused
from .messages import Message, UserText, reply
from .schedule import Occurrence, occurrence_on, occurrences

if TYPE_CHECKING:
    from .commands import Call

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


# ---------------------------------------------------------------------------------------
# The commands: `actions review`, `actions track N`, `actions reject N` (and by id, for
# buttons, reactions and replies to the review message)


def _reviewed_meeting(call: Call, day: dt.date | None = None) -> Occurrence:
    """The meeting under review: the last one held, or the one on ``day`` (the CLI's ``--date``)."""
    if day is not None:
        found = occurrence_on(call.meeting, day)
        if found is None:
            raise Refused(f"{call.meeting.name} did not meet on {day.isoformat()}")
        return found
    occ = last_held(call.meeting, call.bot.now())
    if occ is None:
        raise Refused(f"{call.meeting.name} has not met yet: there is nothing to review")
    return occ


def numbered_candidates(call: Call, occ: Occurrence) -> list[tuple[int, act.ActionItem]]:
    """The candidates of ``occ``'s notes, numbered as the review message and `actions review` show them."""
    return call.bot.review_candidates(call.meeting, occ)


def _check_may_review(call: Call) -> Identity:
    who = call.identity()
    if not may_review(who):
        names = ", ".join(p.initials for p in reviewers(call.bot.config)) or "nobody (no chair or admin in the roster)"
        raise Refused(f"only the chair or an admin decides which action items are tracked (reviewers: {names})")
    return who


def review_list(call: Call, day: dt.date | None = None) -> Message:
    """The candidates of the last meeting's notes, numbered, with each one's decision so far."""
    occ = _reviewed_meeting(call, day)
    from .compose import review_message  # compose uses this module's rules

    decisions = call.bot.decisions(call.meeting)
    numbered = numbered_candidates(call, occ)
    msg = review_message(call.bot.files(call.meeting), call.meeting, occ, numbered, decisions, pending_only=False)
    msg.kind = "reply"
    return msg


def _record(call: Call, item: act.ActionItem, decision: str, label: str) -> Message:
    who = _check_may_review(call)
    ledger = call.bot.review_ledger()
    if ledger is None:
        raise Refused("the bot's state directory cannot be used, so decisions cannot be kept; see the bot's log")
    ledger.record_review(
        decision_key(call.meeting, item),
        call.meeting.id,
        act.item_id(item),
        decision,
        who.initials,
        item.text,
        when=call.bot.now(),
    )
    log.info("review: %s decided %s on %s line %d (%s)", who.initials, decision, item.path.name, item.line, item.form)
    what = "Tracked" if decision == TRACK else "Not an action item"
    effect = "its owners are pinged" if decision == TRACK else "never pinged nor listed as open again"
    return reply(f"{what} ({label}; {effect}): ", UserText(item.text))


def _decide_number(call: Call, number: int, decision: str, day: dt.date | None) -> Message:
    occ = _reviewed_meeting(call, day)
    numbered = numbered_candidates(call, occ)
    found = next((it for n, it in numbered if n == number), None)
    if found is None:
        have = f"; there are {len(numbered)}" if numbered else ""
        raise Refused(f"the notes of {occ.date.isoformat()} have no candidate action item {number}{have}")
    return _record(call, found, decision, f"item {number} of {occ.date.isoformat()}")


def _decide_id(call: Call, ident: str, decision: str) -> Message:
    """By :func:`actions.item_id`; a line that moved (same date and text) is still found."""
    date, _, rest = ident.partition(":")
    digest = rest.rpartition(":")[2]
    items = call.bot.all_open_actions(call.meeting)
    found = next((it for it in items if act.item_id(it) == ident), None) or next(
        (it for it in items if act.item_id(it).startswith(date + ":") and act.item_id(it).endswith(":" + digest)),
        None,
    )
    if found is None:
        raise Refused("that action item is done already or its text changed in the notes (see `actions review`)")
    return _record(call, found, decision, f"from {found.date.isoformat()}")


def track(call: Call, number: int, day: dt.date | None = None) -> Message:
    return _decide_number(call, number, TRACK, day)


def reject(call: Call, number: int, day: dt.date | None = None) -> Message:
    return _decide_number(call, number, REJECT, day)


def track_item(call: Call, item: str) -> Message:
    return _decide_id(call, item, TRACK)


def reject_item(call: Call, item: str) -> Message:
    return _decide_id(call, item, REJECT)
