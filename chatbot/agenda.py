"""The agenda of the next meeting: adding, listing and removing items, and creating the
notes (from the template, with open action items carried over) when they are missing."""

from __future__ import annotations

import logging
import re
from . import actions as act
from . import review
from .compose import agenda_lines, notes_link, quote
from .config import Meeting
from .context import Call, Context
from .editing import EditSession
from .identity import Refused, may_edit
from .messages import Message, Text, UserText, reply
from .notes.edit import adding, agenda_items, apply_to_text, clean_item_text, removing
from .notes.parse import Item, NotesError, parse_notes
from .schedule import Occurrence

log = logging.getLogger(__name__)


def ensure_notes(ctx: Context, meeting: Meeting, occ: Occurrence, session: EditSession) -> bool:
    """Create the occurrence's notes from the template (with open action items carried over)
    if missing; True if created. Call inside ``ctx.editing``."""
    store = session.store or ctx.store(meeting)
    if store.exists(occ.date):
        return False
    # the whole text at once (one write; one request where the notes live in a web service)
    text, carried = prepared_text(ctx, meeting, occ)
    created = store.ensure(occ, text)
    if created:
        log.info("created notes %s from the template", store.name(occ.date))
        extra = f" with {carried} open action item(s) and deferred topic(s) carried over" if carried else ""
        session.record(store.path(occ.date), f"notes: create {store.name(occ.date)} from the template{extra}")
    return created


def carried_lines(ctx: Context, meeting: Meeting, occ: Occurrence) -> list[str]:
    """What new notes of ``occ`` get in their ``actions_section``: the open action items that
    are pinged (``review.pinged``: not those the chair rejected, nor prose nobody confirmed),
    then the topics the last meeting did not reach (deferred, ``(from YYYY-MM-DD)``)."""
    if not (meeting.actions.enabled and meeting.actions.carry_over and meeting.notes.actions_section):
        return []
    held = ctx.held_until(meeting)
    items = act.open_actions(ctx.config, meeting, occ.date, today=held)
    decisions = ctx.decisions(meeting)  # carried as they are pinged: a carried copy is a task (review.py)
    items = review.pinged(meeting, review.listed(meeting, items, decisions), decisions)
    lines = [act.carried_line(item) for item in items]
    lines += [act.carried_topic_line(t) for t in act.deferred_topics(ctx.config, meeting, occ.date, today=held)]
    return list(dict.fromkeys(lines))


def prepared_text(ctx: Context, meeting: Meeting, occ: Occurrence) -> tuple[str, int]:
    """New notes of ``occ``: the template rendered, with :func:`carried_lines` added to the
    ``actions_section`` (when the template has one) by the same line edits as later ones;
    and how many lines were carried."""
    text = ctx.files(meeting).checked_render(occ)
    section = meeting.notes.actions_section
    if not section or parse_notes(text).section(section) is None:
        return text, 0
    lines = carried_lines(ctx, meeting, occ)
    for line in lines:
        text, _ = apply_to_text(text, adding(section, line), "the rendered template")
    return text, len(lines)


def deferred(ctx: Context, meeting: Meeting, occ: Occurrence) -> list[act.ActionItem]:
    """The topics the last meeting before ``occ`` did not reach."""
    if not meeting.actions.enabled:
        return []
    return act.deferred_topics(ctx.config, meeting, occ.date, today=ctx.held_until(meeting))


def read_agenda(ctx: Context, meeting: Meeting, occ: Occurrence) -> list[Item] | None:
    """The numbered agenda items of the occurrence's notes; None if there are no notes yet."""
    notes = ctx.store(meeting).read(occ.date)
    if notes is None:
        return None
    section = notes.section(meeting.notes.agenda_section)
    if section is None:
        raise NotesError(notes.path, f"has no '{meeting.notes.agenda_section}' section")
    return agenda_items(notes, section)


def add(call: Call, text: str) -> Message:
    ctx, meeting, who = call.ctx, call.meeting, call.identity()
    body = clean_item_text(text, ctx.config.bot.max_item_length)
    line = f"- [ ] {who.initials}: {body}"
    occ = ctx.next_meeting(meeting)
    store = ctx.store(meeting)
    with ctx.editing(meeting, store) as session:
        ensure_notes(ctx, meeting, occ, session)
        result = store.apply(occ.date, adding(meeting.notes.agenda_section, line))
        session.record(
            store.path(occ.date), f"agenda: add {quote(body)} for {occ.date.isoformat()} ({who.initials})", who
        )
    log.info("agenda add by %s to %s line %d", who.initials, store.name(occ.date), result.line)
    msg = reply(
        f"Added to the agenda of {meeting.name} on {occ.date.isoformat()} as item {result.number}: ",
        UserText(f"{who.initials}: {body}"),
    )
    msg.add(*notes_link(store, occ.date))
    msg.announcement = reply(f"{who.initials} added an agenda item for {occ.date.isoformat()}: ", UserText(body))
    return session.warn(msg)


def list_(call: Call) -> Message:
    ctx, meeting = call.ctx, call.meeting
    occ = ctx.next_meeting(meeting)
    items = read_agenda(ctx, meeting, occ)
    msg = reply(Text(f"Agenda for {meeting.name} on {occ.date.isoformat()}", bold=True))
    agenda_lines(msg, items)
    topics = deferred(ctx, meeting, occ)
    if topics:
        msg.add(
            Text("Deferred from earlier meetings", bold=True), f" ({meeting.notes.actions_section or 'carried over'}):"
        )
        for t in topics:
            msg.add("• ", UserText(act.carried_topic_line(t)[len("- [ ] ") :]))
    msg.add(*notes_link(ctx.store(meeting), occ.date))
    return msg


def remove(call: Call, number: int) -> Message:
    ctx, meeting, who = call.ctx, call.meeting, call.identity()
    config = ctx.config
    occ = ctx.next_meeting(meeting)
    store = ctx.store(meeting)
    if not store.exists(occ.date):
        raise Refused(f"there is no agenda for {occ.date.isoformat()} yet")

    def allowed(item: Item) -> str | None:
        owners = [o.upper() for o in item.owners]
        if item.text.startswith(f"{who.initials}:"):
            # as agenda add wrote it: also for initials the notes parser does not read as
            # owners (the roster allows 'J', 'ABCDEF', 'Jl2'; owners are 2-5 capitals)
            owners.append(who.initials.upper())
        if may_edit(config, who, owners):
            return None
        if config.bot.editors:
            return f"only {', '.join(config.bot.editors)} (and admins) can remove agenda items"
        return (
            f"item {number} belongs to {', '.join(item.owners) or 'nobody in particular'}; "
            "only its owner or an admin can remove it"
        )

    with ctx.editing(meeting, store) as session:
        result = store.apply(occ.date, removing(meeting.notes.agenda_section, number, allowed))
        text = re.sub(r"^\s*([-*+]|\d+[.)])\s+(\[[ xX]\]\s*)?", "", result.text)
        session.record(
            store.path(occ.date), f"agenda: remove {quote(text)} from {occ.date.isoformat()} ({who.initials})", who
        )
    log.info("agenda remove %d by %s from %s", number, who.initials, store.name(occ.date))
    msg = reply(f"Removed item {number} from the agenda of {occ.date.isoformat()}: ", UserText(text))
    msg.announcement = reply(f"{who.initials} removed an agenda item for {occ.date.isoformat()}: ", UserText(text))
    return session.warn(msg)
