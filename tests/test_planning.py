"""chatbot.planning, the pure half of the runner: what falls due when, on fixed moments (no
clock, no scheduler, no backend). A meeting at 09:00 Los Angeles time crosses the spring-forward
switch (2026-03-08): 17:00 UTC before it, 16:00 UTC after."""

from __future__ import annotations

import datetime as dt

import pytest

from chatbot import planning
from chatbot.config import load_config
from chatbot.schedule import occurrences

from conftest import write_config

CONFIG = """
[bot]
default_meeting = "la"
reminder_grace = "10m"

[[meetings]]
id = "la"
name = "LA Meeting"
reminders = ["24h", "15m"]

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=TU"
start = 2026-03-03
time = 09:00:00
timezone = "America/Los_Angeles"

[meetings.actions]
ping_before = "1d"
{waking}

[meetings.notes]
directory = "notes"

[[people]]
initials = "TK"
name = "Tokyo"
timezone = "Asia/Tokyo"

[[people]]
initials = "LA"
name = "Los Angeles"
timezone = "America/Los_Angeles"

[[people]]
initials = "NZ"
name = "No zone"
"""

GRACE = dt.timedelta(minutes=10)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _meeting(tmp_path, waking='waking_hours = "09:00-18:00"'):
    config = load_config(write_config(tmp_path, CONFIG.format(waking=waking)))
    return config, config.meeting("la")


def _occ(meeting, day: str):
    return next(o for o in occurrences(meeting, at(day + "T00:00:00Z")))


def _roster_zone(person):
    return person.timezone


def test_reminders_follow_the_meetings_zone_across_the_spring_forward(tmp_path):
    _, la = _meeting(tmp_path)
    # before the switch: 09:00 PST is 17:00 UTC; the 15 min reminder is due at 16:45 UTC
    (r,) = planning.due_reminders(la, at("2026-03-03T16:46:00Z"), GRACE)
    assert (r.offset, r.due) == (dt.timedelta(minutes=15), at("2026-03-03T16:45:00Z"))
    # after it: 09:00 PDT is 16:00 UTC, so the 24 h reminder is due at 16:00 UTC the day before
    (r,) = planning.due_reminders(la, at("2026-03-09T16:05:00Z"), GRACE)
    assert (r.offset, r.occurrence.start_utc) == (dt.timedelta(hours=24), at("2026-03-10T16:00:00Z"))
    # an hour late by the old offset is nothing due (the grace is 10 min)
    assert planning.due_reminders(la, at("2026-03-09T17:05:00Z"), GRACE) == []


def test_a_reminder_is_due_only_within_the_grace_and_before_a_later_one(tmp_path):
    _, la = _meeting(tmp_path)
    assert planning.due_reminders(la, at("2026-03-10T15:44:58Z"), GRACE) == []  # not yet (a second early is due)
    assert [r.offset for r in planning.due_reminders(la, at("2026-03-10T15:54:59Z"), GRACE)] == [
        dt.timedelta(minutes=15)
    ]
    assert planning.due_reminders(la, at("2026-03-10T15:55:01Z"), GRACE) == []  # past the grace
    # the 24 h offset alone, as the ping rounds are asked: due at its own moment
    (r,) = planning.due_reminders(la, at("2026-03-09T16:00:00Z"), GRACE, [dt.timedelta(days=1)])
    assert r.due == at("2026-03-09T16:00:00Z")


def test_what_a_start_missed_says_why(tmp_path):
    _, la = _meeting(tmp_path)
    # 10 min before the 2026-03-10 16:00 UTC meeting: the 15 min reminder is due (not missed),
    # the 24 h one is superseded by it, the ping round of the day before is late
    now = at("2026-03-10T15:50:00Z")
    kinds = {(m.kind, m.reminder.offset): m for m in planning.missed(la, now, GRACE)}
    assert set(kinds) == {("reminder", dt.timedelta(hours=24)), ("summary", dt.timedelta(days=1))}
    assert kinds["reminder", dt.timedelta(hours=24)].verdict == "superseded"
    assert kinds["reminder", dt.timedelta(hours=24)].why(now, GRACE) == "a later one of the same meeting is due instead"
    summary = kinds["summary", dt.timedelta(days=1)]
    assert summary.verdict == "late" and summary.why(now, GRACE).startswith("23 h 50 min late")
    assert summary.what == "action-item summary"  # with waking hours only the summary is at ping_before
    # once the meeting started, its 15 min reminder was missed because of that
    started = at("2026-03-10T16:30:00Z")
    (m,) = planning.missed(la, started, GRACE)
    assert m.reminder.offset == dt.timedelta(minutes=15) and m.why(started, GRACE) == "the meeting had already started"


def test_each_owners_ping_moves_into_their_waking_hours_across_dst(tmp_path):
    config, la = _meeting(tmp_path)
    tk, la_person, nz = config.people
    # the 2026-03-10 meeting (16:00 UTC, PDT): ping_before 1 d is 2026-03-09 16:00 UTC, 09:00 in LA
    # (inside) and 01:00 in Tokyo: moved back to 18:00 JST (09:00 UTC, 7 h earlier), nearer than
    # 09:00 JST (8 h later)
    occ = _occ(la, "2026-03-10")
    assert planning.ping_moment(la, occ, la_person, _roster_zone) == at("2026-03-09T16:00:00Z")
    assert planning.ping_moment(la, occ, tk, _roster_zone) == at("2026-03-09T09:00:00Z")
    assert planning.ping_moment(la, occ, nz, _roster_zone) == at("2026-03-09T16:00:00Z")  # no zone
    assert planning.ping_moment(la, occ, None, _roster_zone) == at("2026-03-09T16:00:00Z")  # the summary
    # a week earlier (PST) the same ping is at 17:00 UTC, still 09:00 in LA
    before = _occ(la, "2026-03-03")
    assert planning.ping_moment(la, before, la_person, _roster_zone) == at("2026-03-02T17:00:00Z")


def test_without_waking_hours_no_zone_is_asked(tmp_path):
    config, la = _meeting(tmp_path, waking="")
    asked = []

    def zone_of(person):
        asked.append(person.initials)
        return "Asia/Tokyo"

    occ = _occ(la, "2026-03-10")
    assert {planning.ping_moment(la, occ, p, zone_of) for p in config.people} == {at("2026-03-09T16:00:00Z")}
    assert planning.next_ping_moment(la, at("2026-03-09T00:00:00Z"), config.people, zone_of) == at(
        "2026-03-09T16:00:00Z"
    )
    assert asked == []
    assert not planning.pings_in_waking_hours(la) and planning.pings_enabled(la)


def test_the_next_ping_moment_is_the_earliest_of_everyones(tmp_path):
    config, la = _meeting(tmp_path)
    after = at("2026-03-04T00:00:00Z")  # after the 03-03 meeting: Tokyo's evening comes first
    assert planning.next_ping_moment(la, after, config.people, _roster_zone) == at("2026-03-09T09:00:00Z")
    # then LA's morning and the summary
    after_tk = at("2026-03-09T09:00:01Z")
    assert planning.next_ping_moment(la, after_tk, config.people, _roster_zone) == at("2026-03-09T16:00:00Z")
    # the moment itself counts ("at or after")
    assert planning.next_ping_moment(la, at("2026-03-09T16:00:00Z"), config.people, _roster_zone) == at(
        "2026-03-09T16:00:00Z"
    )
    # past all of them: the next meeting's (2026-03-17), Tokyo's first again
    after_all = at("2026-03-09T16:00:01Z")
    assert planning.next_ping_moment(la, after_all, config.people, _roster_zone) == at("2026-03-16T09:00:00Z")


def test_a_ping_is_due_within_the_grace_and_never_after_the_start(tmp_path):
    _, la = _meeting(tmp_path)
    occ = _occ(la, "2026-03-10")  # starts 16:00 UTC
    moment = at("2026-03-10T00:00:00Z")
    assert planning.ping_due(moment, occ, at("2026-03-09T23:59:59Z"), GRACE)  # the scheduler's second early
    assert not planning.ping_due(moment, occ, at("2026-03-09T23:59:58Z"), GRACE)
    assert planning.ping_due(moment, occ, at("2026-03-10T00:10:00Z"), GRACE)
    assert not planning.ping_due(moment, occ, at("2026-03-10T00:10:01Z"), GRACE)  # past the grace
    late_moment = at("2026-03-10T15:59:00Z")
    assert not planning.ping_due(late_moment, occ, at("2026-03-10T16:00:00Z"), GRACE)  # the meeting started
    r = planning.ping_round(la, occ)
    assert (r.due, r.offset) == (at("2026-03-09T16:00:00Z"), dt.timedelta(days=1))


def test_ping_occurrences_stop_where_no_ping_can_be_due(tmp_path):
    _, la = _meeting(tmp_path)
    now = at("2026-03-09T16:00:00Z")
    # pings move at most PING_EARLIEST before ping_before: only the next meeting can have one due
    assert [o.start_utc for o in planning.ping_occurrences(la, now, now)] == [at("2026-03-10T16:00:00Z")]


@pytest.mark.parametrize(
    "grace, recheck",
    [
        (dt.timedelta(minutes=10), dt.timedelta(minutes=5)),
        (dt.timedelta(minutes=4), dt.timedelta(minutes=2)),
        (dt.timedelta(seconds=10), dt.timedelta(seconds=30)),
    ],
)
def test_the_ping_recheck_is_half_the_grace_within_bounds(grace, recheck):
    assert planning.ping_recheck(grace) == recheck


def test_the_review_is_due_after_the_meeting_and_waits_for_no_sync_without_the_weekly_pr(tmp_path):
    text = CONFIG.format(waking="").replace('ping_before = "1d"', 'ping_before = "1d"\nreview_after = "2h"')
    config = load_config(write_config(tmp_path, text))
    la = config.meeting("la")
    # the 2026-03-10 meeting is 16:00-17:00 UTC: its review is due from 19:00 UTC
    assert planning.review_due(la, at("2026-03-10T18:59:00Z")) is None
    occ = planning.review_due(la, at("2026-03-10T19:00:00Z"))
    assert occ is not None and occ.start_utc == at("2026-03-10T16:00:00Z")
    assert not planning.review_waits_for_sync(la)
