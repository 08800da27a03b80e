"""Message composition: what the bot says about meetings, agendas and action items, as
platform-neutral :class:`~chatbot.messages.Message` objects (no command handling, no edits)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from . import actions as act
from .calendar import converter_url
from .config import Meeting, Person, format_duration
from .messages import Link, Mention, Message, Text, Time, UserText, format_utc, reply, spell
from .notes.files import NotesFiles
from .notes.parse import Item
from .review import DECIDED, decision_of, state_of
from .schedule import Occurrence

if TYPE_CHECKING:
    from .stores.base import NotesStore


MAYBE_REPEATED = "(this may be a repeat: the bot restarted while sending it)"


def maybe_repeated(message: Message) -> Message:
    """``message`` with a last line saying it may have been posted already: after a crash
    between the post and its confirmation in the ledger, where the platform cannot be asked
    (the console; a Slack app without the history scopes). Never silently twice."""
    copy = dataclasses.replace(message, lines=list(message.lines), actions=dict(message.actions))
    return copy.add(Text(MAYBE_REPEATED))


def quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return "'" + short.replace("'", "’") + "'"


def zone_lines(meeting: Meeting, occ: Occurrence) -> list[str]:
    ref = occ.start_utc.date()
    out = []
    for zone in meeting.timezones:
        local = occ.start.astimezone(ZoneInfo(zone))
        shift = (local.date() - ref).days
        note = f" ({'+' if shift > 0 else '−'}{abs(shift)} day)" if shift else ""
        out.append(f"{zone}: {local.strftime('%a %H:%M')}{note}")
    return out


def notes_ref(store: NotesStore, day: dt.date, line: int | None = None) -> Link | Text:
    """A link to a meeting's notes (to a line, where the store can), or their name."""
    name = store.name(day)
    label = name if line is None else f"{name}:{line}"
    url = store.url(day, line)
    return Link(url, label) if url else Text(label)


def file_ref(files: NotesFiles, path: Path, line: int | None = None) -> Link | Text:
    """A link to a notes file of the meeting's archive (to a line, where the URL pattern has an
    anchor), or its name."""
    label = path.name if line is None else f"{path.name}:{line}"
    url = files.url_at(path, line)
    return Link(url, label) if url else Text(label)


def notes_link(store: NotesStore, day: dt.date) -> tuple[str | Link | Text, ...]:
    """``Notes: <link>`` and the store's related links (`` · pull request #12``)."""
    out: list[str | Link | Text] = ["Notes: ", notes_ref(store, day)]
    for label, url in store.related(day):
        out += [" · ", Link(url, label)]
    return tuple(out)


def agenda_lines(msg: Message, items: list[Item] | None) -> None:
    if not items:
        msg.add("No items yet. Add one with `agenda add TEXT`.")
        return
    for n, it in enumerate(items, 1):
        mark = "✓ " if it.checked else ""
        msg.add(f"{n}. {mark}", UserText(it.text))


def next_message(meeting: Meeting, upcoming: list[Occurrence], now: dt.datetime) -> Message:
    if not upcoming:
        return reply(f"{meeting.name} has no upcoming meetings in its schedule.")
    msg = Message()
    for occ in upcoming:
        status = " (in progress)" if occ.start_utc <= now else ""
        msg.add(Text(meeting.name, bold=True), " — ", Time(occ.start_utc, format_utc(occ.start)), status)
        for zl in zone_lines(meeting, occ):
            msg.add(f"• {zl}")
        msg.add("• ", Link(converter_url(occ.start, meeting.name), "other time zones"))
    if meeting.call_link:
        msg.add("Join: ", Link(meeting.call_link, "call link"))
    return msg


def reminder_head(meeting: Meeting, occ: Occurrence, offset: dt.timedelta | None, now: dt.datetime) -> Message:
    """A reminder's time, zones and call link (the agenda follows); ``offset`` is how long
    before the meeting it is meant to go out (None: now, whenever that is)."""
    msg = Message(kind="reminder", about=occ)
    left = occ.start_utc - now
    if offset is None or left < offset * 0.9:
        # posted by hand, or sent late (after a restart): say what is true, not "15 min";
        # to the minute, or to the hour when over a day away
        step = dt.timedelta(hours=1) if left >= dt.timedelta(days=1) else dt.timedelta(minutes=1)
        offset = max(step, round(left / step) * step)
    msg.add(
        Text(meeting.name, bold=True),
        f" starts in {format_duration(offset)}: ",
        Time(occ.start_utc, format_utc(occ.start)),
    )
    for zl in zone_lines(meeting, occ):
        msg.add(f"• {zl}")
    msg.add("• ", Link(converter_url(occ.start, meeting.name), "other time zones"))
    if meeting.call_link:
        msg.add("Join: ", Link(meeting.call_link, meeting.call_link))
    return msg


def actions_message(
    files: NotesFiles,
    items: list[act.ActionItem],
    title: str,
    numbered: list[act.ActionItem] | None = None,
    unconfirmed: set[str] | None = None,
) -> Message:
    """The open items, numbered; those in ``unconfirmed`` (item ids) are marked: guessed from
    prose, not pinged until the chair tracks them (``chatbot.review``)."""
    msg = reply(Text(title, bold=True))
    if not items:
        msg.add("No open action items. 🎉")
        return msg

    numbering = {id(it): n for n, it in enumerate(numbered or items, 1)}
    for it in items:
        owners = ", ".join(o.label for o in it.owners)
        msg.add(
            f"{numbering[id(it)]}. [{it.date.isoformat()}] ",
            UserText(f"{owners}: {it.body}"),
            " — ",
            file_ref(files, it.path, it.line),
            f" ({it.form_label}, unconfirmed)"
            if unconfirmed and act.item_id(it) in unconfirmed
            else f" ({it.form_label})",
            action=act.item_id(it),
        )
    unresolved = sorted({o.describe() for it in items for o in it.owners if not o.resolved})
    if unresolved:
        msg.add("Unresolved owners (add them to the roster): ", UserText("; ".join(unresolved)))
    return msg


def ping_directly(meeting: Meeting, reachable: bool) -> bool:
    """Where an owner's action-item ping goes: by direct message when the meeting asks for them
    (``[meetings.actions] ping = "dm"``) and the platform can reach the person; otherwise in
    the meeting's channel, where it starts with a mention of them."""
    return meeting.actions.ping == "dm" and reachable


def action_pings(
    files: NotesFiles,
    meeting: Meeting,
    occ: Occurrence,
    items: list[act.ActionItem],
    mention: Callable[[Person], bool] | None = None,
    numbered: list[act.ActionItem] | None = None,
) -> tuple[list[tuple[Person, Message]], Message]:
    """One message per resolved owner listing all their open items, and a channel summary
    that mentions the owners ``mention`` says (all by default; the others by name only).
    Items are numbered by their place in ``numbered`` (default: ``items``), as `actions` does."""

    resolved, unresolved = act.by_owner(items)
    numbering = {id(it): n for n, it in enumerate(numbered or items, 1)}
    pings = []
    for initials in sorted(resolved):
        person, theirs = resolved[initials]
        msg = Message(kind="notice", about=occ).add(
            Mention(person),
            f" you have {len(theirs)} open action item(s) before {meeting.name} on ",
            Time(occ.start_utc, format_utc(occ.start)),
            ":",
        )
        for it in theirs:  # numbered as `actions` numbers them: `actions done N` (Zulip: `done N`)
            msg.add(
                f"{numbering[id(it)]}. [{it.date.isoformat()}] ",
                UserText(it.body),
                " — ",
                file_ref(files, it.path, it.line),
                action=act.item_id(it),
            )
        pings.append((person, msg))
    summary = Message(kind="notice", about=occ).add(
        Text(f"Open action items before {meeting.name}", bold=True), f" ({occ.date.isoformat()}): {len(items)}"
    )
    for initials in sorted(resolved):
        person, theirs = resolved[initials]
        summary.add(
            "• ", Mention(person) if mention is None or mention(person) else Text(person.name), f": {len(theirs)}"
        )
    for token in sorted(unresolved):
        summary.add("• ", UserText(token), f": {len(unresolved[token])} (unresolved: not in the roster)")
    return pings, summary


def review_message(
    files: NotesFiles,
    meeting: Meeting,
    occ: Occurrence,
    numbered: list[tuple[int, act.ActionItem]],
    decisions: dict[str, dict[str, str]],
    pending_only: bool = True,
    spelled: Mapping[str, str] | None = None,
) -> Message:
    """The chair's review (``chatbot.review``): the candidate action items of ``occ``'s notes,
    numbered, each with its owners and why it was picked; the lines of undecided ones are
    marked (``Message.reviews``) for buttons and reactions. ``pending_only``: only those.
    ``spelled``: how the platform types commands (Slack: ``/actions``), for the hint."""
    msg = Message(kind="notice", about=occ).add(
        Text(f"Action items of {meeting.name} on {occ.date.isoformat()}", bold=True),
        ": track them, or say they are not action items?",
    )
    shown = 0
    for n, it in numbered:
        state = state_of(meeting, it, decisions)
        if pending_only and state != "unreviewed":
            continue
        shown += 1
        owners = ", ".join(o.label for o in it.owners)
        segments: list = [f"{n}. ", UserText(f"{owners}: {it.body}"), f" — {it.form_label} — "]
        segments.append(file_ref(files, it.path, it.line))
        decided = decision_of(meeting, it, decisions)
        if decided:
            segments.append(f" — {DECIDED[state]} ({decided['by']})")
        msg.add(*segments, review=act.item_id(it) if state == "unreviewed" else None)
    if not shown:
        msg.add("No candidate action items in these notes." if not numbered else "Every item is decided.")
        return msg
    track, reject = spell("actions track N", spelled), spell("actions reject N", spelled)
    msg.add(f"Answer per item: `{track}` (keep chasing it) or `{reject}` (not an action item: never pinged again).")
    msg.add("Items left unanswered are pinged only if written as a task (a checkbox, an Action items section).")
    return msg
