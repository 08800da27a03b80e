"""The chair's review commands (issue 21): ``actions review`` lists the last meeting's
candidate action items, ``actions track N`` / ``actions reject N`` decide on one (and by id,
for buttons, reactions and replies to the review message). The rules they apply are in
:mod:`chatbot.review`; the decisions are kept in the ledger (``Context.review_ledger``)."""

from __future__ import annotations

import datetime as dt
import logging

from . import actions as act
from .compose import review_message
from .context import Call
from .identity import Identity, Refused
from .messages import Message, UserText, reply
from .review import REJECT, TRACK, decision_key, last_held, may_review, reviewers
from .schedule import Occurrence, occurrence_on

log = logging.getLogger(__name__)

__all__ = ["REJECT", "TRACK", "reject", "reject_item", "review_list", "track", "track_item"]


def _reviewed_meeting(call: Call, day: dt.date | None = None) -> Occurrence:
    """The meeting under review: the last one held, or the one on ``day`` (the CLI's ``--date``)."""
    if day is not None:
        found = occurrence_on(call.meeting, day)
        if found is None:
            raise Refused(f"{call.meeting.name} did not meet on {day.isoformat()}")
        return found
    occ = last_held(call.meeting, call.ctx.now())
    if occ is None:
        raise Refused(f"{call.meeting.name} has not met yet: there is nothing to review")
    return occ


def numbered_candidates(call: Call, occ: Occurrence) -> list[tuple[int, act.ActionItem]]:
    """The candidates of ``occ``'s notes, numbered as the review message and `actions review` show them."""
    return call.ctx.review_candidates(call.meeting, occ)


def _check_may_review(call: Call) -> Identity:
    who = call.identity()
    if not may_review(who):
        names = ", ".join(p.initials for p in reviewers(call.ctx.config)) or "nobody (no chair or admin in the roster)"
        raise Refused(f"only the chair or an admin decides which action items are tracked (reviewers: {names})")
    return who


def review_list(call: Call, day: dt.date | None = None) -> Message:
    """The candidates of the last meeting's notes, numbered, with each one's decision so far."""
    occ = _reviewed_meeting(call, day)
    decisions = call.ctx.decisions(call.meeting)
    numbered = numbered_candidates(call, occ)
    msg = review_message(
        call.ctx.files(call.meeting), call.meeting, occ, numbered, decisions, pending_only=False, spelled=call.spelled
    )
    msg.kind = "reply"
    return msg


def _record(call: Call, item: act.ActionItem, decision: str, label: str) -> Message:
    who = _check_may_review(call)
    ledger = call.ctx.review_ledger()
    if ledger is None:
        raise Refused("the bot's state directory cannot be used, so decisions cannot be kept; see the bot's log")
    ledger.record_review(
        decision_key(call.meeting, item),
        call.meeting.id,
        act.item_id(item),
        decision,
        who.initials,
        item.text,
        when=call.ctx.now(),
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
    items = call.ctx.all_open_actions(call.meeting)
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
