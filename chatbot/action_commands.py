"""The ``actions`` commands: open action items from past notes, listed, one's own, ticked."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import actions as act
from .compose import actions_message, quote
from .identity import Refused, may_edit
from .messages import Message, UserText, reply
from .notes.edit import EditError, apply_to_file, checking
from .notes.files import NotesFiles
from .notes.parse import NotesError

if TYPE_CHECKING:
    from .commands import Call

log = logging.getLogger(__name__)


def _enabled(call: "Call") -> None:
    if not call.meeting.actions.enabled:
        raise Refused(f"action items are turned off for {call.meeting.name} ([meetings.actions] enabled = false)")


def list_all(call: "Call") -> Message:
    _enabled(call)
    items = call.bot.open_actions(call.meeting)
    return actions_message(NotesFiles(call.bot.config, call.meeting), items,
                           f"Open action items ({call.meeting.name})")


def mine(call: "Call") -> Message:
    _enabled(call)
    items = call.bot.open_actions(call.meeting)
    who = call.identity()
    theirs = [it for it in items if it.owned_by(who.initials)
              or (who.person and who.person.github and it.owned_by(who.person.github))]
    return actions_message(NotesFiles(call.bot.config, call.meeting), theirs,
                           f"Your open action items, {who.initials}", items)


def done(call: "Call", number: int) -> Message:
    _enabled(call)
    bot, meeting = call.bot, call.meeting
    items = bot.open_actions(meeting)
    who = call.identity()
    n = number
    if not 1 <= n <= len(items):
        raise Refused(f"there is no open action item {n}" + (f"; there are {len(items)}" if items else ""))
    item = items[n - 1]
    owns = item.owned_by(who.initials) or bool(who.person and who.person.github
                                                and item.owned_by(who.person.github))
    if not may_edit(bot.config, who, [who.initials.upper()] if owns else []):
        if bot.config.bot.editors:
            raise Refused(f"only {', '.join(bot.config.bot.editors)} (and admins) can tick action items")
        raise Refused(f"action item {n} belongs to {', '.join(o.label for o in item.owners)}; "
                      "only an owner or an admin can tick it")
    # action items are found in the meeting's notes files (the archive), so they are ticked there
    with bot.editing(meeting) as session:
        apply_to_file(item.path, checking(item.line, item.text))
        session.record(item.path, f"actions: done {quote(item.text)} from {item.date.isoformat()} "
                                  f"({who.initials})", who)
        for copy in act.later_copies(bot.config, meeting, item):  # carried into upcoming notes
            try:
                apply_to_file(copy.path, checking(copy.line, copy.text))
            except (EditError, NotesError) as exc:  # the item itself is ticked; say what is left
                session.warnings.append(f"the copy in {copy.path.name} line {copy.line} is still open: {exc}")
                continue
            session.record(copy.path, f"actions: done {quote(copy.text)} (carried over) "
                                      f"({who.initials})", who)
    log.info("action item ticked by %s: %s line %d", who.initials, item.path.name, item.line)
    msg = reply(f"Ticked in {item.path.name}: ", UserText(item.text))
    msg.public = reply(f"{who.initials} completed an action item: ", UserText(item.text))
    return session.warn(msg)
