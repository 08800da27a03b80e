"""Schedule math: slots, DST, cancelled dates, reminder times. Fixed clocks only."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from chatbot.config import Meeting
from chatbot.runner import ReminderTrigger
from chatbot.schedule import classify, next_occurrence, next_reminder, occurrence_on, occurrences, reminders

UTC = dt.UTC


def meeting(slots, **kw) -> Meeting:
    return Meeting.model_validate({"id": "m", "name": "M", "slots": slots, **kw})


def at(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).astimezone(UTC)


def utc_list(m, after, n):
    return [o.start_utc.strftime("%Y-%m-%d %H:%M") for o in occurrences(m, at(after), limit=n)]


def test_alternating_slots_merge_in_order():
    m = meeting(
        [
            {"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE", "start": "2026-01-07", "time": "17:00", "timezone": "UTC"},
            {"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE", "start": "2026-01-14", "time": "14:00", "timezone": "UTC"},
        ],
        cancelled=["2026-01-21"],
    )
    assert utc_list(m, "2026-01-01T00:00Z", 5) == [
        "2026-01-07 17:00",
        "2026-01-14 14:00",
        "2026-01-28 14:00",
        "2026-02-04 17:00",
        "2026-02-11 14:00",
    ]


def test_los_angeles_morning_meeting_keeps_wall_time_across_both_switches():
    m = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=MO", "start": "2026-01-05", "time": "09:00", "timezone": "America/Los_Angeles"}]
    )
    # DST starts 2026-03-08, ends 2026-11-01
    assert utc_list(m, "2026-03-01T00:00Z", 2) == ["2026-03-02 17:00", "2026-03-09 16:00"]
    assert utc_list(m, "2026-10-25T00:00Z", 2) == ["2026-10-26 16:00", "2026-11-02 17:00"]
    for o in occurrences(m, at("2026-01-01T00:00Z"), limit=60):
        assert (o.start.hour, o.start.minute) == (9, 0)


def test_berlin_and_kolkata():
    berlin = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=TH", "start": "2026-03-19", "time": "18:00", "timezone": "Europe/Berlin"}]
    )
    # Europe switches on 2026-03-29
    assert utc_list(berlin, "2026-03-18T00:00Z", 3) == ["2026-03-19 17:00", "2026-03-26 17:00", "2026-04-02 16:00"]
    kolkata = meeting(
        [{"rrule": "FREQ=MONTHLY;BYDAY=1TU", "start": "2026-01-01", "time": "21:30", "timezone": "Asia/Kolkata"}]
    )
    assert utc_list(kolkata, "2026-03-01T00:00Z", 3) == ["2026-03-03 16:00", "2026-04-07 16:00", "2026-05-05 16:00"]


def test_wall_time_inside_the_spring_forward_gap_moves_forward():
    m = meeting([{"rrule": "FREQ=DAILY", "start": "2026-03-07", "time": "02:30", "timezone": "America/Los_Angeles"}])
    occ = list(occurrences(m, at("2026-03-07T00:00Z"), limit=3))
    assert [o.start.strftime("%m-%d %H:%M %Z") for o in occ] == [
        "03-07 02:30 PST",
        "03-08 03:30 PDT",
        "03-09 02:30 PDT",
    ]


def test_reminders_are_absolute_offsets_across_dst():
    m = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=MO", "start": "2026-01-05", "time": "09:00", "timezone": "America/Los_Angeles"}],
        reminders=["24h", "15m"],
    )
    due = [(r.due.strftime("%Y-%m-%d %H:%M"), r.offset) for r in _take(reminders(m, at("2026-03-06T00:00Z")), 4)]
    assert due == [
        ("2026-03-08 16:00", dt.timedelta(hours=24)),  # exactly 24 h before 2026-03-09 16:00 UTC
        ("2026-03-09 15:45", dt.timedelta(minutes=15)),
        ("2026-03-15 16:00", dt.timedelta(hours=24)),
        ("2026-03-16 15:45", dt.timedelta(minutes=15)),
    ]


def _take(it, n):
    out = []
    for x in it:
        out.append(x)
        if len(out) == n:
            break
    return out


def test_reminder_order_when_offsets_exceed_the_gap_between_meetings():
    m = meeting(
        [{"rrule": "FREQ=DAILY", "start": "2026-01-01", "time": "10:00", "timezone": "UTC"}], reminders=["2d", "1h"]
    )
    got = [r.due.strftime("%d %H") for r in _take(reminders(m, at("2026-01-05T00:00Z")), 6)]
    assert got == sorted(got) and got[:4] == ["05 09", "05 10", "06 09", "06 10"]


def test_apscheduler_trigger_fires_at_each_reminder():
    m = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=WE", "start": "2026-01-07", "time": "17:00", "timezone": "UTC"}],
        reminders=["24h", "15m"],
    )
    trig = ReminderTrigger(m)
    now = at("2026-01-06T12:00Z")
    first = trig.get_next_fire_time(None, now)
    assert first == at("2026-01-06T17:00Z")
    second = trig.get_next_fire_time(first, first)
    assert second == at("2026-01-07T16:45Z")
    assert trig.get_next_fire_time(second, second) == at("2026-01-13T17:00Z")


def test_classify_judges_each_reminder_once():
    m = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=WE", "start": "2026-01-07", "time": "17:00", "timezone": "UTC"}],
        reminders=["24h", "15m"],
    )
    offsets = m.reminders
    grace = dt.timedelta(minutes=10)
    day_before, quarter = itertools.islice(reminders(m, at("2026-01-01T00:00Z")), 2)
    assert classify(day_before, at("2026-01-06T16:00Z"), grace, offsets) == "future"
    assert classify(day_before, at("2026-01-06T17:00Z"), grace, offsets) == "due"
    assert classify(day_before, at("2026-01-06T16:59:59.5Z"), grace, offsets) == "due"  # timers fire early
    assert classify(day_before, at("2026-01-06T17:11Z"), grace, offsets) == "late"
    # down from the day before until the 15-minute reminder: the 24 h one is stale
    assert classify(day_before, at("2026-01-07T16:46Z"), dt.timedelta(days=2), offsets) == "superseded"
    assert classify(quarter, at("2026-01-07T16:46Z"), grace, offsets) == "due"
    assert classify(quarter, at("2026-01-07T17:00Z"), grace, offsets) == "started"


def test_next_occurrence_counts_a_running_meeting_until_it_ends():
    m = meeting(
        [{"rrule": "FREQ=WEEKLY;BYDAY=WE", "start": "2026-01-07", "time": "17:00", "timezone": "UTC"}], duration="1h"
    )
    assert next_occurrence(m, at("2026-01-07T17:30Z")).start_utc == at("2026-01-07T17:00Z")
    assert next_occurrence(m, at("2026-01-07T18:00Z")).start_utc == at("2026-01-14T17:00Z")
    assert next_occurrence(m, at("2026-01-07T17:30Z"), include_running=False).start_utc == at("2026-01-14T17:00Z")


def test_finite_rules_end():
    m = meeting([{"rrule": "FREQ=WEEKLY;COUNT=2", "start": "2026-01-07", "time": "17:00", "timezone": "UTC"}])
    assert next_occurrence(m, at("2026-02-01T00:00Z")) is None
    assert next_reminder(m, at("2026-02-01T00:00Z")) is None


def test_occurrence_on_a_local_date():
    m = meeting([{"rrule": "FREQ=WEEKLY;BYDAY=TH", "start": "2026-01-01", "time": "08:00", "timezone": "Asia/Tokyo"}])
    occ = occurrence_on(m, dt.date(2026, 1, 8))
    assert occ.start == dt.datetime(2026, 1, 8, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert occ.start_utc.date() == dt.date(2026, 1, 7)
    assert occurrence_on(m, dt.date(2026, 1, 9)) is None


def test_naive_after_is_refused():
    m = meeting([{"rrule": "FREQ=DAILY", "start": "2026-01-01", "time": "10:00"}])
    with pytest.raises(ValueError):
        next(occurrences(m, dt.datetime(2026, 1, 1)))


def test_until_in_utc_as_calendars_write_it():
    """RFC 5545 writes UNTIL in UTC ('Z') for a zoned start; the slot takes it as that instant."""
    ny = {
        "rrule": "FREQ=WEEKLY;UNTIL=20260318T160000Z",
        "start": "2026-02-25",
        "time": "12:00",
        "timezone": "America/New_York",
    }  # 12:00 EDT on 03-18 (after the 03-08 switch) is 16:00Z
    m = meeting([ny])
    assert [o.date.isoformat() for o in occurrences(m, at("2026-01-01T00:00:00Z"))] == [
        "2026-02-25",
        "2026-03-04",
        "2026-03-11",
        "2026-03-18",
    ]
    m = meeting([{**ny, "rrule": "FREQ=WEEKLY;UNTIL=20260318T155959Z"}])  # a second before: not held
    assert [o.date.isoformat() for o in occurrences(m, at("2026-01-01T00:00:00Z"))][-1] == "2026-03-11"


def test_rrule_written_loosely_is_read_and_garbage_is_named():
    from pydantic import ValidationError

    loose = meeting([{"rrule": " RRULE:FREQ=WEEKLY; BYDAY=WE; ", "start": "2026-01-07", "time": "17:00"}])
    assert loose.slots[0].rrule == "FREQ=WEEKLY;BYDAY=WE"
    assert len(list(occurrences(loose, at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")))) == 4
    with pytest.raises(ValidationError) as exc:
        meeting([{"rrule": "FREQ=WEEKLY;WE", "start": "2026-01-07", "time": "17:00"}])
    assert "'WE' is not KEY=VALUE" in str(exc.value)


def test_until_in_utc_goes_back_to_the_calendar_feed_unchanged():
    from chatbot.calendar import _recur

    ny = meeting(
        [
            {
                "rrule": "FREQ=WEEKLY;UNTIL=20260318T160000Z",
                "start": "2026-02-25",
                "time": "12:00",
                "timezone": "America/New_York",
            }
        ]
    )
    assert _recur(ny.slots[0]).to_ical() == b"FREQ=WEEKLY;UNTIL=20260318T160000Z"
