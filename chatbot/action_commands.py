"""The ``actions`` commands: open action items from past notes, listed, one's own, ticked."""

from __future__ import annotations

import logging

from . import actions as act
from .agenda import ensure_notes
from .compose import actions_message, quote
from .context import Call
from .identity import Refused, may_edit
from .messages import Message, UserText, reply
from .notes.edit import EditError, adding, apply_to_file, checking
from .notes.files import NotesFiles
from .notes.parse import NotesError
from .review import unconfirmed

log = logging.getLogger(__name__)


def _enabled(call: Call) -> None:
    if not call.meeting.actions.enabled:
        raise Refused(f"action items are turned off for {call.meeting.name} ([meetings.actions] enabled = false)")


def list_all(call: Call) -> Message:
    _enabled(call)
    items = call.ctx.open_actions(call.meeting)
    return actions_message(
        NotesFiles(call.ctx.config, call.meeting),
        items,
        f"Open action items ({call.meeting.name})",
        unconfirmed=_unconfirmed(call, items),
    )


def _unconfirmed(call: Call, items: list[act.ActionItem]) -> set[str]:
    """The listed items not pinged until the chair tracks them (marked in the list)."""
    return unconfirmed(call.meeting, items, call.ctx.decisions(call.meeting))


def mine(call: Call) -> Message:
    _enabled(call)
    items = call.ctx.open_actions(call.meeting)
    who = call.identity()
    theirs = [
        it
        for it in items
        if it.owned_by(who.initials) or (who.person and who.person.github and it.owned_by(who.person.github))
    ]
    return actions_message(
        NotesFiles(call.ctx.config, call.meeting),
        theirs,
        f"Your open action items, {who.initials}",
        items,
        unconfirmed=_unconfirmed(call, theirs),
    )


item_id = act.item_id  # where buttons and reactions have always found it


def _by_id(call: Call, ident: str) -> tuple[int, act.ActionItem]:
    items = call.ctx.open_actions(call.meeting)
    for n, item in enumerate(items, 1):
        if item_id(item) == ident:
            return n, item
    raise Refused("that action item is done already or its line changed in the notes; list them again (`actions`)")


def _check_may_tick(call: Call, item: act.ActionItem, label: str) -> None:
    ctx, who = call.ctx, call.identity()
    owns = item.owned_by(who.initials) or bool(who.person and who.person.github and item.owned_by(who.person.github))
    if not may_edit(ctx.config, who, [who.initials.upper()] if owns else []):
        if ctx.config.bot.editors:
            raise Refused(f"only {', '.join(ctx.config.bot.editors)} (and admins) can tick action items")
        raise Refused(
            f"{label} belongs to {', '.join(o.label for o in item.owners)}; only an owner or an admin can tick it"
        )


def done(call: Call, number: int) -> Message:
    """Tick open action item ``number`` (as ``actions`` numbers them)."""
    _enabled(call)
    items = call.ctx.open_actions(call.meeting)
    n = number
    if not 1 <= n <= len(items):
        raise Refused(f"there is no open action item {n}" + (f"; there are {len(items)}" if items else ""))
    return _tick(call, items[n - 1], f"action item {n}")


def done_item(call: Call, item: str) -> Message:
    """Tick the open action item named by :func:`item_id` (a button, a reaction)."""
    _enabled(call)
    n, found = _by_id(call, item)
    return _tick(call, found, f"action item {n}")


def carry(call: Call, item: str) -> Message:
    """Carry the open action item named by :func:`item_id` into the next meeting's notes now
    (the ``Next meeting`` button), unless a copy is there already."""
    _enabled(call)
    ctx, meeting = call.ctx, call.meeting
    n, found = _by_id(call, item)
    _check_may_tick(call, found, f"action item {n}")
    who = call.identity()
    section = meeting.notes.actions_section
    if not section:
        raise Refused(f"{meeting.name} has no section to carry action items into ([meetings.notes] actions_section)")
    occ = ctx.next_meeting(meeting)
    store = ctx.store(meeting)
    with ctx.editing(meeting, store) as session:
        ensure_notes(ctx, meeting, occ, session)  # the next notes may not exist yet
        notes = store.read(occ.date)
        line = act.carried_line(found)
        if notes is not None and any(line.split("] ", 1)[-1] in it.text for it in notes.items):
            return reply(f"Already on the notes of {occ.date.isoformat()}: ", UserText(found.text))
        store.apply(occ.date, adding(section, line))
        session.record(
            store.path(occ.date), f"actions: carry {quote(found.text)} to {occ.date.isoformat()} ({who.initials})", who
        )
    msg = reply(f"Carried to the notes of {occ.date.isoformat()}: ", UserText(found.text))
    return session.warn(msg)


def _tick(call: Call, item: act.ActionItem, label: str) -> Message:
    ctx, meeting = call.ctx, call.meeting
    _check_may_tick(call, item, label)
    who = call.identity()
    # action items are found in the meeting's notes files (the archive), so they are ticked there
    with ctx.editing(meeting) as session:
        apply_to_file(item.path, act.done_edit(item))  # a checkbox, or a prose item ticked in place
        session.record(
            item.path, f"actions: done {quote(item.text)} from {item.date.isoformat()} ({who.initials})", who
        )
        for copy in act.later_copies(ctx.config, meeting, item):  # carried into upcoming notes
            try:
                apply_to_file(copy.path, checking(copy.line, copy.text))
            except (EditError, NotesError) as exc:  # the item itself is ticked; say what is left
                session.warnings.append(f"the copy in {copy.path.name} line {copy.line} is still open: {exc}")
                continue
            session.record(copy.path, f"actions: done {quote(copy.text)} (carried over) ({who.initials})", who)
    log.info("action item ticked by %s: %s line %d", who.initials, item.path.name, item.line)
    msg = reply(f"Ticked in {item.path.name}: ", UserText(item.text))
    msg.announcement = reply(f"{who.initials} completed an action item: ", UserText(item.text))
    return session.warn(msg)
