"""When meetings happen, and when their reminders fall due.

All math is time-zone aware: a slot's RRULE is expanded in the slot's own wall-clock time
(so "09:00 America/Los_Angeles" stays 09:00 local across DST switches) and only then turned
into an absolute instant. Nothing here reads the clock: callers pass ``now``.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from .config import Meeting, Slot

UTC = dt.UTC


@dataclass(frozen=True, order=True)
class Occurrence:
    """One meeting instance. ``start`` is aware, in the slot's time zone."""

    start: dt.datetime
    meeting_id: str
    slot: int

    @property
    def start_utc(self) -> dt.datetime:
        return self.start.astimezone(UTC)

    @property
    def date(self) -> dt.date:
        return self.start.date()

    def in_zone(self, zone: str) -> dt.datetime:
        return self.start.astimezone(ZoneInfo(zone))


@lru_cache(maxsize=256)
def _rule(slot: Slot) -> rrule:
    start = dt.datetime.combine(slot.start, slot.time)
    return rrulestr(slot.rrule, dtstart=start)


def _localize(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Attach a zone; a wall time inside a spring-forward gap moves forward by the gap."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone)


def _slot_occurrences(meeting: Meeting, index: int, after: dt.datetime) -> Iterator[Occurrence]:
    slot = meeting.slots[index]
    zone = ZoneInfo(slot.timezone)
    cancelled = set(meeting.cancelled)
    # Start a little early in local wall time: offsets never exceed a day.
    local_after = after.astimezone(zone).replace(tzinfo=None) - dt.timedelta(days=2)
    for naive in _rule(slot).xafter(local_after, inc=True):
        when = _localize(naive, zone)
        if when < after or when.date() in cancelled:
            continue
        yield Occurrence(when, meeting.id, index)


def occurrences(
    meeting: Meeting, after: dt.datetime, before: dt.datetime | None = None, limit: int | None = None
) -> Iterator[Occurrence]:
    """Occurrences starting at or after ``after`` (aware), in order, across all slots."""
    if after.tzinfo is None:
        raise ValueError("after must be time-zone aware")
    merged = heapq.merge(
        *(_slot_occurrences(meeting, i, after) for i in range(len(meeting.slots))), key=lambda o: o.start_utc
    )
    count = 0
    last: dt.datetime | None = None
    for occ in merged:
        if before is not None and occ.start >= before:
            return
        if last is not None and occ.start_utc == last:
            continue  # two slots landing on the same instant are one meeting
        last = occ.start_utc
        yield occ
        count += 1
        if limit is not None and count >= limit:
            return


def next_occurrence(meeting: Meeting, now: dt.datetime, *, include_running: bool = True) -> Occurrence | None:
    """The next meeting; with ``include_running`` a meeting in progress still counts."""
    after = now - meeting.duration if include_running else now
    if include_running:
        # a meeting that started exactly `duration` ago has ended
        after += dt.timedelta(microseconds=1)
    return next(occurrences(meeting, after), None)


_TICK = dt.timedelta(microseconds=1)


def current_occurrence(meeting: Meeting, now: dt.datetime) -> Occurrence | None:
    """The meeting in progress at ``now``; else the one that started most recently, if that
    was earlier on the same day (its own zone's date): the notes decisions of "the meeting"
    are written into. None when neither (e.g. the last meeting was yesterday)."""
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    last = None
    # a meeting in progress started less than `duration` ago; one of "today" less than a day ago
    for occ in occurrences(meeting, now - max(meeting.duration, dt.timedelta(days=1)), before=now + _TICK):
        last = occ
    if last is None:
        return None
    if now < last.start + meeting.duration or now.astimezone(last.start.tzinfo).date() == last.date:
        return last
    return None


def occurrence_on(meeting: Meeting, day: dt.date) -> Occurrence | None:
    """The meeting held on a given local date, if any."""
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), UTC)
    for occ in occurrences(meeting, start, before=start + dt.timedelta(days=3)):
        if occ.date == day:
            return occ
    return None


@dataclass(frozen=True, order=True)
class DueReminder:
    due: dt.datetime  # aware, UTC
    occurrence: Occurrence
    offset: dt.timedelta


def reminders(meeting: Meeting, after: dt.datetime, offsets: list[dt.timedelta] | None = None) -> Iterator[DueReminder]:
    """Reminders due at or after ``after``, in order of due time (``offsets`` defaults to
    the meeting's reminder offsets)."""
    offsets = meeting.reminders if offsets is None else offsets
    if not offsets:
        return
    biggest = max(offsets)
    pending: list[DueReminder] = []
    occ_iter = occurrences(meeting, after)
    horizon: dt.datetime | None = None
    for occ in occ_iter:
        for offset in offsets:
            due = occ.start_utc - offset
            if due >= after:
                heapq.heappush(pending, DueReminder(due, occ, offset))
        horizon = occ.start_utc - biggest
        # everything due before the next occurrence's earliest reminder is final
        while pending and pending[0].due <= horizon:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


def next_reminder(
    meeting: Meeting, after: dt.datetime, offsets: list[dt.timedelta] | None = None
) -> DueReminder | None:
    return next(reminders(meeting, after, offsets), None)


Verdict = Literal["future", "due", "started", "superseded", "late"]


def classify(r: DueReminder, now: dt.datetime, grace: dt.timedelta, offsets: list[dt.timedelta]) -> Verdict:
    """What to do about one reminder (or ping round) at ``now``, the one place this is judged:

    - ``future``: not due yet (due within the next second counts as due: timers fire early);
    - ``started``: the meeting has started: never say "starts in 15 minutes" after that;
    - ``superseded``: a later reminder of the same occurrence is due too (after a downtime
      longer than the gap between them): "starts in 1 h" ten minutes before is stale;
    - ``late``: due longer ago than ``grace`` (missed while the bot was down);
    - ``due``: send it now (unless it was sent already: that is the ledger's business).
    """
    soon = now + dt.timedelta(seconds=1)
    if r.due > soon:
        return "future"
    if r.occurrence.start_utc <= now:
        return "started"
    if any(o < r.offset and r.occurrence.start_utc - o <= soon for o in offsets):
        return "superseded"
    if now - r.due > grace:
        return "late"
    return "due"


def ping_time(
    start: dt.datetime, before: dt.timedelta, zone: str | None, hours: tuple[dt.time, dt.time] | None
) -> dt.datetime:
    """When one person's action-item ping about a meeting starting at ``start`` goes out (UTC):
    ``before`` the start, moved to the nearest moment inside their local ``hours`` window
    (``(09:00, 18:00)``; an end before the start crosses midnight) in ``zone``, the earlier one
    on a tie, and always before the start. Without a zone or a window: ``start - before``.
    Wall times are the zone's on each day (DST-correct); a window edge in a spring-forward gap
    moves forward by the gap."""
    ideal = (start - before).astimezone(UTC)
    if zone is None or hours is None:
        return ideal
    tz = ZoneInfo(zone)
    limit = start.astimezone(UTC) - dt.timedelta(seconds=1)
    first, last = hours
    base = ideal.astimezone(tz).date()
    best: dt.datetime | None = None
    for shift in range(-2, 3):
        day = base + dt.timedelta(days=shift)
        lo = _localize(dt.datetime.combine(day, first), tz).astimezone(UTC)
        end_day = day if last > first else day + dt.timedelta(days=1)
        hi = min(_localize(dt.datetime.combine(end_day, last), tz).astimezone(UTC), limit)
        if lo > hi:
            continue
        candidate = min(max(ideal, lo), hi)
        if best is None or (abs(candidate - ideal), candidate) < (abs(best - ideal), best):
            best = candidate
    return best if best is not None else ideal


def day_shift(local: dt.datetime, reference: dt.date) -> int:
    return (local.date() - reference).days
