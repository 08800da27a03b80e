"""``actions add OWNER: text`` (also ``action add``): an action item decided in the meeting,
written into that meeting's notes as an explicit item (``- [ ] JRG: text`` in the notes'
Action items section, see :mod:`chatbot.notes.action_edit`), so the next meeting's pings
need no guessing.

The notes are those of the meeting in progress, else of the one held earlier the same day
(:func:`chatbot.schedule.current_occurrence`); with neither, the command is refused. OWNER is
initials the roster or the notes' attendee list knows, or a GitHub ``@handle`` (several:
``JRG, JL: text``). The edit is the same as ``agenda add``'s: one minimal line edit through the
meeting's notes store, under its lock, with the edit hooks (Git commits) around it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from . import actions as act
from .agenda import ensure_notes
from .compose import notes_link, quote
from .config import Config, Meeting
from .context import Call
from .identity import Refused
from .messages import Message, Time, UserText, format_utc, reply
from .notes.action_edit import adding_action
from .notes.edit import clean_item_text
from .notes.parse import Attendee, split_owner
from .schedule import Occurrence, current_occurrence, next_occurrence, occurrence_on

log = logging.getLogger(__name__)

USAGE = "actions add OWNER: TEXT"
EXAMPLE = "actions add JRG: open an issue about the release"
MAX_OWNERS = 5
_OWNERS_TEXT = re.compile(r"^\s*(@?[\w.-]+(?:\s*[,&/]\s*@?[\w.-]+){0,20})\s*:(.*)$", re.S)
_HANDLE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_INITIALS = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")
# what would make the line something else than one list entry's text
_BREAKING = (
    (re.compile(r"^#"), "a heading"),
    (re.compile(r"^>"), "a quote"),
    (re.compile(r"^(?:[-*+]|\d{1,9}[.)])(?:\s|$)"), "a list entry"),
    (re.compile(r"^\[[ xX]\]"), "a checkbox"),
    (re.compile(r"^(?:```|~~~)"), "a code block"),
)


def split_owners(call: Call, text: str) -> tuple[list[str], str]:
    """``"JRG, JL: open a PR"`` -> (["JRG", "JL"], " open a PR"); Refused without owners."""
    m = _OWNERS_TEXT.match(text or "")
    if m is None:
        raise Refused(f"who owns it? Write the owner's initials or GitHub handle first, e.g. {call.spell(EXAMPLE)}")
    owners = [o for o in re.split(r"\s*[,&/]\s*", m.group(1)) if o]
    if len(owners) > MAX_OWNERS:
        raise Refused(f"an action item has at most {MAX_OWNERS} owners; split it into several")
    return owners, m.group(2)


def checked_text(call: Call, body: str) -> str:
    """The action item's text as one safe Markdown line; Refused for empty, multi-line, too
    long or structure-breaking text."""
    stripped = (body or "").strip()
    if not stripped:
        raise Refused(f"the action item has no text; write what is to be done, e.g. {call.spell(EXAMPLE)}")
    if re.search(r"[\r\n\u2028\u2029]", stripped):
        raise Refused(
            f"an action item is one line in the notes; send one {call.spell('actions add')} per item, each on one line"
        )
    limit = call.ctx.config.bot.max_item_length
    length = len(re.sub(r"\s+", " ", stripped))
    if length > limit:
        raise Refused(
            f"the action item is {length} characters long; the limit is {limit}. Shorten it or link to an issue"
        )
    for rx, what in _BREAKING:
        if rx.match(stripped):
            raise Refused(
                f"the text starts like {what} in Markdown, which would break the notes' structure; "
                "start it with a word, e.g. " + call.spell(EXAMPLE)
            )
    return clean_item_text(stripped, limit)


def owner_label(call: Call, token: str, attendees: list[Attendee], config: Config) -> tuple[str, act.Owner]:
    """How the notes name the owner ``token`` (initials as the attendee list or roster write
    them, or ``@handle``) and who it is; Refused for someone nobody knows."""
    if token.startswith("@"):
        if not _HANDLE.fullmatch(token):
            raise Refused("'", UserText(token), "' is not a GitHub handle")
        return token, act.resolve_owner(token, attendees, config)
    if not _INITIALS.fullmatch(token):
        raise Refused("'", UserText(token), "' is neither initials nor a GitHub @handle")
    owner = act.resolve_owner(token.upper(), attendees, config)
    att = next((a for a in attendees if a.initials and a.initials.upper() == token.upper()), None)
    if att is None and owner.person is None:
        raise Refused(
            "who is '",
            UserText(token),
            "'? Neither the roster nor the notes' attendee list knows those initials. "
            f"Add them to the attendees, or name the owner by GitHub handle, e.g. {call.spell('actions add @handle: TEXT')}",
        )
    written = att.initials if att and att.initials else (owner.person.initials if owner.person else token.upper())
    if split_owner(f"{written}: x")[0] != [written]:
        # initials the notes cannot read as an owner ('J', 'ABCDEFG'): the handle says who
        if not owner.github:
            raise Refused(
                f"the initials {written} cannot be read as an owner in the notes; name the owner by GitHub handle"
            )
        written = f"@{owner.github}"
    return written, owner


def meeting_now(call: Call, meeting: Meeting) -> Occurrence:
    """The meeting in progress, or held earlier today; Refused when there is none."""
    now = call.ctx.now()
    occ = current_occurrence(meeting, now)
    if occ is not None:
        return occ
    nxt = next_occurrence(meeting, now)
    later = ("; the next one starts ", Time(nxt.start_utc, format_utc(nxt.start))) if nxt else ()
    raise Refused(
        f"no {meeting.name} is in progress or was held earlier today, so there are no notes to write "
        "the action item into",
        *later,
        f". To put something on the next meeting's agenda: {call.spell('agenda add TEXT')}",
    )


def _after_sync(meeting: Meeting, occ: Occurrence, now: dt.datetime) -> str | None:
    """With notes in HackMD brought into Git by the weekly pull request: the scheduled sync of
    this meeting's note is past, so this change reaches Git only by another sync."""
    gh = meeting.github
    if meeting.notes.store != "hackmd" or not gh.repo or gh.sync_after is None:
        return None
    if now < occ.start_utc + meeting.duration + gh.sync_after:
        return None
    return (
        "the note was due to be brought into its pull request already; to bring this change there "
        f"too: `chatbot notes sync --date {occ.date.isoformat()}`"
    )


def meeting_on(call: Call, meeting: Meeting, day: dt.date) -> Occurrence:
    """The meeting held on ``day`` (the CLI's ``--date``); Refused if none was, or it has not
    started yet."""
    occ = occurrence_on(meeting, day)
    if occ is None:
        raise Refused(f"{meeting.name} has no meeting on {day.isoformat()}")
    if occ.start_utc > call.ctx.now():
        raise Refused(
            f"the meeting of {day.isoformat()} has not started yet; action items are decisions of a meeting held. "
            f"To put something on its agenda: {call.spell('agenda add TEXT')}"
        )
    return occ


def add(call: Call, text: str, day: dt.date | None = None) -> Message:
    """Write ``OWNER: text`` as an open action item into the current meeting's notes (or, with
    ``day``, into the existing notes of the meeting held that day)."""
    ctx, meeting, who = call.ctx, call.meeting, call.identity()
    if not meeting.actions.enabled:
        raise Refused(f"action items are turned off for {meeting.name} ([meetings.actions] enabled = false)")
    tokens, rest = split_owners(call, text)
    body = checked_text(call, rest)
    occ = meeting_now(call, meeting) if day is None else meeting_on(call, meeting, day)
    store = ctx.store(meeting)
    with ctx.editing(meeting, store) as session:
        notes = store.read(occ.date)  # owners are checked before notes are made for them
        attendees = notes.attendees() if notes is not None else []
        owners = [owner_label(call, t, attendees, ctx.config) for t in tokens]
        if day is None:
            ensure_notes(ctx, meeting, occ, session)
        elif notes is None:  # a past meeting's notes are not made up after the fact
            raise Refused(f"there are no notes of {meeting.name} on {day.isoformat()}")
        names = ", ".join(dict.fromkeys(w for w, _ in owners))
        line = f"- [ ] {names}: {body}"
        result = store.apply(occ.date, adding_action(line, meeting.actions.action_sections))
        session.record(
            store.path(occ.date),
            f"actions: add {quote(f'{names}: {body}')} to {occ.date.isoformat()} ({who.initials})",
            who,
        )
        late = _after_sync(meeting, occ, ctx.now())
        if late:
            session.warnings.append(late)
    log.info("action add by %s to %s line %d (%s)", who.initials, store.name(occ.date), result.line, result.place)
    msg = reply(
        f"Added an action item to the notes of {meeting.name} on {occ.date.isoformat()}, "
        f"{result.place} (line {result.line}): ",
        UserText(f"{names}: {body}"),
    )
    unknown = [w for w, o in owners if o.person is None]
    if unknown:
        msg.add(UserText(", ".join(unknown)), " not in the roster: the bot cannot ping them about it.")
    msg.add(*notes_link(store, occ.date))
    msg.announcement = reply(f"{who.initials} noted an action item for ", UserText(names), ": ", UserText(body))
    return session.warn(msg)
