"""Action-item pings at the owner's waking hours: the pure timing (schedule.ping_time) and the
config keys it reads."""

from __future__ import annotations

import datetime as dt

import pytest

from chatbot.config import parse_waking_hours
from chatbot.schedule import ping_time

UTC = dt.timezone.utc
DAY = (dt.time(9), dt.time(18))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_without_a_zone_or_window_it_is_ping_before():
    start = at("2026-01-07T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), None, DAY) == at("2026-01-05T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), "Asia/Tokyo", None) == at("2026-01-05T17:00:00Z")


def test_inside_the_window_nothing_moves():
    # 2026-03-09 17:00 UTC is 10:00 in Los Angeles (PDT since 03-08)
    start = at("2026-03-11T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), "America/Los_Angeles", DAY) == at("2026-03-09T17:00:00Z")


def test_tokyo_night_moves_to_the_nearest_morning():
    # ideal 2026-03-09 17:00 UTC = 02:00 JST on 03-10; 09:00 JST (00:00 UTC) is 7 h later,
    # 18:00 JST the evening before 8 h earlier
    start = at("2026-03-11T17:00:00Z")
    got = ping_time(start, dt.timedelta(days=2), "Asia/Tokyo", DAY)
    assert got == at("2026-03-10T00:00:00Z")
    assert got.astimezone(dt.timezone(dt.timedelta(hours=9))).time() == dt.time(9)


def test_tokyo_late_evening_moves_back_to_the_window_end():
    # ideal 11:00 UTC = 20:00 JST: 18:00 JST (2 h earlier) beats 09:00 next day (13 h later)
    start = at("2026-06-03T11:00:00Z")
    assert ping_time(start, dt.timedelta(days=1), "Asia/Tokyo", DAY) == at("2026-06-02T09:00:00Z")


@pytest.mark.parametrize("ideal, expected", [
    # the morning before the spring-forward Sunday (PST, UTC-8): 07:00 -> 09:00 PST
    ("2026-03-07T15:00:00Z", "2026-03-07T17:00:00Z"),
    # the spring-forward Sunday itself (PDT, UTC-7 from 02:00): 08:00 -> 09:00 PDT
    ("2026-03-08T15:00:00Z", "2026-03-08T16:00:00Z"),
    # Saturday 20:00 PST before the switch: back to 18:00 PST, not on to Sunday 09:00 PDT
    ("2026-03-08T04:00:00Z", "2026-03-08T02:00:00Z"),
    # the fall-back Sunday (PST again from 02:00): 07:00 -> 09:00 PST
    ("2026-11-01T15:00:00Z", "2026-11-01T17:00:00Z"),
    # the day before it (PDT): 08:00 -> 09:00 PDT
    ("2026-10-31T15:00:00Z", "2026-10-31T16:00:00Z"),
])
def test_los_angeles_across_dst(ideal, expected):
    before = dt.timedelta(days=3)
    start = at(ideal) + before
    got = ping_time(start, before, "America/Los_Angeles", DAY)
    assert got == at(expected)
    # always within the local window
    local = got.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles")).time()
    assert dt.time(9) <= local <= dt.time(18)


def test_never_at_or_after_the_start():
    # Los Angeles, meeting at 09:00 PST, ping 2 h before (07:00): 09:00 that day is the start
    # itself, so the evening before (18:00 PST = 02:00 UTC) it is
    start = at("2026-01-07T17:00:00Z")
    got = ping_time(start, dt.timedelta(hours=2), "America/Los_Angeles", DAY)
    assert got == at("2026-01-07T02:00:00Z")
    assert got < start
    # a window that ends after the start is cut at the start
    start = at("2026-01-07T17:30:00Z")  # 09:30 PST
    got = ping_time(start, dt.timedelta(hours=3), "America/Los_Angeles", DAY)  # ideal 06:30
    assert at("2026-01-07T17:00:00Z") <= got < start


def test_a_window_across_midnight():
    night = (dt.time(22), dt.time(6))
    start = at("2026-01-10T12:00:00Z")
    # ideal 12:00 UTC = 21:00 JST: 22:00 JST is an hour later
    assert ping_time(start, dt.timedelta(days=1), "Asia/Tokyo", night) == at("2026-01-09T13:00:00Z")


def test_a_window_edge_in_the_spring_forward_gap_moves_forward():
    gap = (dt.time(2, 30), dt.time(18))  # 02:30 does not exist in Los Angeles on 2026-03-08
    start = at("2026-03-09T17:00:00Z")
    got = ping_time(start, dt.timedelta(days=1, hours=8), "America/Los_Angeles", gap)  # ideal 01:00 PST
    assert got == at("2026-03-08T10:30:00Z")  # 03:30 PDT


@pytest.mark.parametrize("text, expected", [
    ("09:00-18:00", (dt.time(9), dt.time(18))),
    (" 8:30 - 17:45 ", (dt.time(8, 30), dt.time(17, 45))),
    ("22:00-06:00", (dt.time(22), dt.time(6))),
    ("00:00-24:00", (dt.time(0), dt.time(23, 59))),
])
def test_waking_hours_are_parsed(text, expected):
    assert parse_waking_hours(text) == expected


@pytest.mark.parametrize("bad", ["9-18", "25:00-18:00", "09:00-09:00", "09:61-10:00", 9, ""])
def test_bad_waking_hours_are_refused(bad):
    with pytest.raises(ValueError):
        parse_waking_hours(bad)
