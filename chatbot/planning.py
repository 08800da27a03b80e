"""Planning: what falls due when. Reminder moments, each owner's action-item ping moment
(``ping_before`` moved into their waking hours), the ping rounds and what a start missed, given
a meeting's config, a moment and the people. Pure: no clock is read, nothing is sent, no
scheduler; where a person's time zone comes from is the caller's (``zone_of``). The runner's
jobs (:mod:`chatbot.runner`) fire what this says is due, once (the outbox's ledger keys)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from . import review
from .config import Meeting, Person, format_duration
from .schedule import DueReminder, Occurrence, classify, occurrences, ping_time, reminders
from .stores.hackmd_config import weekly_enabled

# the earliest a ping can be moved before ping_before by waking_hours (the nearest window that
# ends before the meeting starts is at most a day and a bit earlier)
PING_EARLIEST = dt.timedelta(days=2)
# a ping is due until this long after the moment the scheduler fired at (its clock's resolution)
_SOON = dt.timedelta(seconds=1)
# at most this many occurrences are looked at for the next ping moment
_MAX_LOOKAHEAD = 50

ZoneOf = Callable[[Person], "str | None"]


def due_reminders(
    meeting: Meeting, now: dt.datetime, grace: dt.timedelta, offsets: list[dt.timedelta] | None = None
) -> list[DueReminder]:
    """The reminders (or, with ``offsets``, e.g. ping rounds) due at ``now``: within ``grace``
    of their moment, the meeting not started, not superseded by a later one
    (:func:`chatbot.schedule.classify`). Whether each was sent already is the caller's."""
    out = []
    offsets = meeting.reminders if offsets is None else offsets
    for r in reminders(meeting, now - grace, offsets):
        verdict = classify(r, now, grace, offsets)
        if verdict == "future":
            break
        if verdict == "due":
            out.append(r)
    return out


@dataclass(frozen=True)
class Missed:
    """A reminder or ping round that fell due before ``now`` and will not be sent."""

    kind: str  # the ledger key's kind: "reminder" or "summary"
    what: str  # for the log: "reminder", "action-item summary", "action-item pings"
    reminder: DueReminder
    verdict: str  # classify's: "started", "late" or "superseded"

    def why(self, now: dt.datetime, grace: dt.timedelta) -> str:
        if self.verdict == "started":
            return "the meeting had already started"
        if self.verdict == "late":
            return f"{format_duration(now - self.reminder.due)} late, more than reminder_grace {format_duration(grace)}"
        return "a later one of the same meeting is due instead"


def round_kinds(meeting: Meeting) -> list[tuple[str, str, list[dt.timedelta]]]:
    """The meeting's kinds of rounds at fixed offsets: (ledger kind, what, offsets)."""
    kinds = [("reminder", "reminder", meeting.reminders)]
    if meeting.actions.enabled and meeting.actions.ping_before:
        # with waking hours only the summary is due at ping_before (each owner's ping has its own moment)
        kinds.append(
            (
                "summary",
                "action-item summary" if meeting.actions.waking_hours else "action-item pings",
                [meeting.actions.ping_before],
            )
        )
    return kinds


def missed(meeting: Meeting, now: dt.datetime, grace: dt.timedelta) -> Iterator[Missed]:
    """The reminders and ping rounds that fell due in the last day (or the longest offset)
    before ``now`` and are no longer due: too late, superseded, or the meeting started."""
    for kind, what, offsets in round_kinds(meeting):
        if not offsets:
            continue
        for r in reminders(meeting, now - max(max(offsets), dt.timedelta(days=1)), offsets):
            verdict = classify(r, now, grace, offsets)
            if verdict == "future":
                break
            if verdict != "due":
                yield Missed(kind, what, r, verdict)


# -- action-item pings, each at its owner's own moment ----------------------------------


def pings_enabled(meeting: Meeting) -> bool:
    return bool(meeting.actions.enabled and meeting.actions.ping_before)


def pings_in_waking_hours(meeting: Meeting) -> bool:
    """Whether the meeting's pings move into each owner's waking hours (their zones matter)."""
    return bool(pings_enabled(meeting) and meeting.actions.waking_hours)


def ping_recheck(grace: dt.timedelta) -> dt.timedelta:
    """How often the ping moments are computed again at the latest (a zone learned later)."""
    return max(min(grace / 2, dt.timedelta(minutes=5)), dt.timedelta(seconds=30))


def ping_moment(meeting: Meeting, occ: Occurrence, person: Person | None, zone_of: ZoneOf) -> dt.datetime:
    """When ``person``'s ping about ``occ`` is due (None: the channel summary, at ping_before);
    ``zone_of`` is asked only where the meeting has waking hours."""
    before = meeting.actions.ping_before
    assert before is not None
    hours = meeting.actions.waking_hours
    zone = zone_of(person) if person is not None and hours is not None else None
    return ping_time(occ.start_utc, before, zone, meeting.actions.waking_hours)


def ping_round(meeting: Meeting, occ: Occurrence) -> DueReminder:
    """The ping round about ``occ`` (at ping_before): what the ledger's keys are made of."""
    before = meeting.actions.ping_before
    assert before is not None
    return DueReminder(occ.start_utc - before, occ, before)


def ping_occurrences(meeting: Meeting, after: dt.datetime, until: dt.datetime) -> Iterator[Occurrence]:
    """Meetings starting after ``after`` whose pings may be due by ``until``."""
    before = meeting.actions.ping_before or dt.timedelta(0)
    for occ in occurrences(meeting, after + dt.timedelta(microseconds=1)):
        if occ.start_utc - before - PING_EARLIEST > until:
            return
        yield occ


def ping_due(moment: dt.datetime, occ: Occurrence, now: dt.datetime, grace: dt.timedelta) -> bool:
    """A ping (or summary) whose moment is ``moment`` is due at ``now``: its moment came (within
    ``grace``) and the meeting has not started."""
    return moment <= now + _SOON and occ.start_utc > now and now - moment <= grace


def next_ping_moment(
    meeting: Meeting, after: dt.datetime, people: Iterable[Person], zone_of: ZoneOf
) -> dt.datetime | None:
    """The next moment at or after ``after`` when a ping or the summary of ``meeting`` falls due."""
    if not pings_enabled(meeting):
        return None
    before = meeting.actions.ping_before
    assert before is not None
    best: dt.datetime | None = None
    everyone: list[Person | None] = [None, *people]
    for n, occ in enumerate(occurrences(meeting, after + dt.timedelta(microseconds=1))):
        if best is not None and occ.start_utc - before - PING_EARLIEST > best:
            break
        if n > _MAX_LOOKAHEAD:
            break
        for person in everyone:
            moment = ping_moment(meeting, occ, person, zone_of)
            if moment >= after and (best is None or moment < best):
                best = moment
    return best


# -- the chair's review --------------------------------------------------------------------


def review_due(meeting: Meeting, now: dt.datetime) -> Occurrence | None:
    """The meeting whose review is due at ``now`` (``review_after`` after its end, until the
    next one starts: :func:`chatbot.review.due_review`)."""
    return review.due_review(meeting, now)


def review_waits_for_sync(meeting: Meeting) -> bool:
    """With the weekly notes PR synced by the bot, the review is sent once the notes were
    synced (they are final then)."""
    return weekly_enabled(meeting) and meeting.github.sync_after is not None
