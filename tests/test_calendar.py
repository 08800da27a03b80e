"""The iCalendar feed: built with icalendar, parsed back, expanded by an independent
implementation (recurring-ical-events) and compared with the bot's own schedule."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import recurring_ical_events
from icalendar import Calendar

from chatbot.calendar import converter_url, meeting_ics
from chatbot.config import load_config
from chatbot.schedule import occurrences

from conftest import write_config

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

CONFIG = """
[bot]
default_meeting = "dst"

[web]
public_url = "https://meet.example.org/bot"

[[meetings]]
id = "dst"
name = "Packaging & <Friends> Call"
call_link = "https://zoom.example/j/42"
duration = "45m"
cancelled = [2026-03-18, 2026-04-02]

# 09:00 in Los Angeles, every Wednesday: 17:00 UTC until 2026-03-08, then 16:00 UTC
[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-02-02             # a Monday: the first meeting is Wednesday 2026-02-04
time = 09:00:00
timezone = "America/Los_Angeles"

# every other Thursday 17:00 in Berlin (DST on 2026-03-29)
[[meetings.slots]]
rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"
start = 2026-02-05
time = 17:00:00
timezone = "Europe/Berlin"

# a series that ends, in a zone without DST (UNTIL given as a local date)
[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=FR;UNTIL=20260320"
start = 2026-02-06
time = 12:00:00
timezone = "Asia/Kolkata"

# 02:30 on Sundays in New York: does not exist on 2026-03-08 (moves to 03:30 EDT)
[[meetings.slots]]
rrule = "FREQ=MONTHLY;BYDAY=2SU"
start = 2026-02-08
time = 02:30:00
timezone = "America/New_York"

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-dst.md"
url = "https://github.com/example/meetings/blob/main/{filename}"

[[people]]
initials = "JRG"
name = "Jaime"
"""


@pytest.fixture
def config(tmp_path: Path):
    return load_config(write_config(tmp_path, CONFIG))


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def ics_starts(data: bytes, a: dt.datetime, b: dt.datetime) -> list[dt.datetime]:
    events = recurring_ical_events.of(parse(data)).between(a, b)
    return sorted(ev["DTSTART"].dt.astimezone(UTC) for ev in events)


def test_occurrences_from_the_ics_equal_the_schedule_across_dst(config):
    meeting = config.meeting("dst")
    data = meeting_ics(config, meeting, NOW)
    a, b = dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 6, 1, tzinfo=UTC)
    expected = [o.start_utc for o in occurrences(meeting, a, before=b)]
    assert len(expected) > 25
    assert ics_starts(data, a, b) == expected

    la = [t for t in expected if t.weekday() == 2]
    assert dt.datetime(2026, 3, 4, 17, 0, tzinfo=UTC) in la  # 09:00 PST
    assert dt.datetime(2026, 3, 11, 16, 0, tzinfo=UTC) in la  # 09:00 PDT, after the switch
    assert dt.datetime(2026, 3, 18, 16, 0, tzinfo=UTC) not in la  # cancelled
    assert la[0] == dt.datetime(2026, 2, 4, 17, 0, tzinfo=UTC)  # not the Monday "start"
    berlin = [t for t in expected if t.weekday() == 3]
    assert dt.datetime(2026, 3, 19, 16, 0, tzinfo=UTC) in berlin  # 17:00 CET
    assert dt.datetime(2026, 4, 2, 15, 0, tzinfo=UTC) not in berlin  # 17:00 CEST, but cancelled
    assert dt.datetime(2026, 4, 16, 15, 0, tzinfo=UTC) in berlin  # 17:00 CEST
    kolkata = [t for t in expected if t.weekday() == 4]
    assert kolkata[-1] == dt.datetime(2026, 3, 13, 6, 30, tzinfo=UTC)  # UNTIL 2026-03-20 00:00 local
    assert dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC) in expected  # 02:30 EST does not exist: 03:30 EDT


def test_event_properties(config):
    meeting = config.meeting("dst")
    cal = parse(meeting_ics(config, meeting, NOW))
    assert cal["VERSION"] == "2.0" and cal["X-WR-CALNAME"] == "Packaging & <Friends> Call"
    tzids = {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")}
    assert tzids == {"America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "America/New_York"}
    events = cal.walk("VEVENT")
    assert len(events) == 4
    la = events[0]
    assert la["DTSTART"].params["TZID"] == "America/Los_Angeles"
    assert la["DTSTART"].dt.replace(tzinfo=None) == dt.datetime(2026, 2, 4, 9, 0)
    assert la["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=WE"
    assert la["DURATION"].dt == dt.timedelta(minutes=45)
    assert [d.dt.replace(tzinfo=None) for d in la["EXDATE"].dts] == [dt.datetime(2026, 3, 18, 9, 0)]
    assert str(la["LOCATION"]) == str(la["URL"]) == "https://zoom.example/j/42"
    assert str(la["SUMMARY"]) == "Packaging & <Friends> Call"
    desc = str(la["DESCRIPTION"])
    assert "Join: https://zoom.example/j/42" in desc
    assert (
        "Notes of the next meeting (2026-02-04): https://github.com/example/meetings/blob/main/20260204-dst.md" in desc
    )
    assert "https://meet.example.org/bot/meetings/dst" in desc
    assert len({str(ev["UID"]) for ev in events}) == 4
    kolkata = events[2]
    assert kolkata["RRULE"]["UNTIL"][0] == dt.datetime(2026, 3, 19, 18, 30, tzinfo=UTC)  # UTC, as RFC 5545 requires
    berlin = events[1]
    assert "EXDATE" in berlin and "EXDATE" not in events[3]


def test_ics_is_stable_but_for_the_timestamp(config):
    meeting = config.meeting("dst")
    one = meeting_ics(config, meeting, NOW).replace(b"\r\n ", b"")
    two = meeting_ics(config, meeting, NOW + dt.timedelta(minutes=5)).replace(b"\r\n ", b"")
    diff = [(x, y) for x, y in zip(one.splitlines(), two.splitlines()) if x != y]
    assert diff and all(x.startswith(b"DTSTAMP:") for x, _ in diff)


def test_cli_writes_a_file_that_parses(tmp_path, config):
    out = tmp_path / "meeting.ics"
    env = dict(os.environ, CHATBOT_FAKE_NOW="2026-02-01T12:00:00Z")
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot", "ics", "-c", str(config.path), "--meeting", "dst", "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 recurring event(s)" in proc.stderr
    a, b = dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC)
    assert ics_starts(out.read_bytes(), a, b) == [o.start_utc for o in occurrences(config.meeting("dst"), a, before=b)]
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot", "ics", "-c", str(config.path), "--meeting", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no meeting 'nope'" in proc.stderr


def test_converter_url():
    at = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert converter_url(at, "Eco & co") == (
        "https://www.timeanddate.com/worldclock/fixedtime.html?iso=20260311T1600&p1=1440&msg=Eco%20%26%20co"
    )


def test_next_and_reminders_link_a_time_zone_converter(tmp_path):
    from chatbot.bot import Bot
    from chatbot.messages import Link, render_plain
    from chatbot.schedule import next_occurrence

    from conftest import BASE_CONFIG, FixedClock

    cfg = load_config(write_config(tmp_path, BASE_CONFIG))
    bot = Bot(cfg, FixedClock(dt.datetime(2026, 1, 5, tzinfo=UTC)))
    want = (
        "https://www.timeanddate.com/worldclock/fixedtime.html?iso=20260107T1700&p1=1440"
        "&msg=Conda%20Ecosystem%20Meeting"
    )
    meeting = cfg.meeting("eco")
    for msg in (
        bot.next_message(meeting),
        bot.reminder(meeting, next_occurrence(meeting, bot.now()), dt.timedelta(hours=24)),
    ):
        links = [s for line in msg.lines for s in line if isinstance(s, Link)]
        assert Link(want, "other time zones") in links, render_plain(msg)


def _one_slot_config(tmp_path: Path, slot: str, extra: str = "") -> tuple:
    cfg = load_config(
        write_config(
            tmp_path,
            f"""
[[meetings]]
id = "m"
name = "M"
{extra}
{slot}
""",
        )
    )
    return cfg, cfg.meeting("m")


@pytest.mark.parametrize(
    "rrule,start,time,zone,cancelled",
    [
        # the first meeting is on the switch day, at a wall time that does not exist that day
        ("FREQ=WEEKLY;BYDAY=SU", "2026-03-02", "02:30", "America/New_York", "2027-03-14"),  # next year's gap
        ("FREQ=WEEKLY;BYDAY=SU", "2026-03-29", "02:30", "Europe/Berlin", "2026-04-05"),
        ("FREQ=YEARLY;BYMONTH=10;BYDAY=1SU", "2026-10-01", "02:15", "Australia/Lord_Howe", "2027-10-03"),  # 30-min gap
    ],
)
def test_a_first_meeting_inside_a_dst_gap_does_not_shift_the_whole_series(
    tmp_path, rrule, start, time, zone, cancelled
):
    cfg, meeting = _one_slot_config(
        tmp_path,
        f"""
[[meetings.slots]]
rrule = "{rrule}"
start = {start}
time = "{time}"
timezone = "{zone}"
""",
        f"cancelled = [{cancelled}]",
    )
    data = meeting_ics(cfg, meeting, NOW)
    a, b = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC)
    expected = [o.start_utc for o in occurrences(meeting, a, before=b)]
    assert ics_starts(data, a, b) == expected
    # DTSTART keeps the rule's wall time (RFC 5545 reads it with the offset before the gap)
    [event] = parse(data).walk("VEVENT")
    assert event["DTSTART"].dt.strftime("%H:%M") == time
    assert [d.dt.strftime("%Y-%m-%d %H:%M") for d in event["EXDATE"].dts] == [f"{cancelled} {time}"]
    assert dt.date.fromisoformat(cancelled) not in [o.date for o in occurrences(meeting, a, before=b)]


def test_two_slots_at_the_same_instant_are_one_event_in_the_calendar_as_in_the_schedule(tmp_path):
    # 17:00 UTC and 17:00 London are the same instant in winter (one meeting), an hour apart in
    # summer (two); 23:30 UTC on Tuesday is 08:30 Wednesday in Tokyo: when the Tuesday is
    # cancelled, the Tokyo slot's meeting (its own date is not cancelled) still takes place
    cfg, meeting = _one_slot_config(
        tmp_path,
        """
[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-01-07
time = "17:00"
timezone = "UTC"

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-01-07
time = "17:00"
timezone = "Europe/London"

[[meetings.slots]]
rrule = "FREQ=MONTHLY;BYDAY=1TU"
start = 2026-01-01
time = "23:30"
timezone = "UTC"

[[meetings.slots]]
rrule = "FREQ=MONTHLY;BYDAY=1WE"
start = 2026-01-01
time = "08:30"
timezone = "Asia/Tokyo"
""",
        "cancelled = [2026-03-03, 2026-01-14]",
    )
    data = meeting_ics(cfg, meeting, NOW)
    a, b = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC)
    expected = [o.start_utc for o in occurrences(meeting, a, before=b)]
    assert len(expected) == len(set(expected))
    assert dt.datetime(2026, 1, 21, 17, 0, tzinfo=UTC) in expected  # one of the two coinciding slots
    assert dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC) in expected  # London in summer: its own meeting
    assert dt.datetime(2026, 3, 3, 23, 30, tzinfo=UTC) in expected  # 2026-03-04 in Tokyo is not cancelled
    assert dt.datetime(2026, 1, 14, 17, 0, tzinfo=UTC) not in expected  # cancelled in both slots
    assert ics_starts(data, a, b) == expected


def test_names_and_links_with_commas_semicolons_and_newlines_are_escaped(tmp_path):
    cfg = load_config(
        write_config(
            tmp_path,
            r"""
[[meetings]]
id = "m"
name = "Build, Test; Release\\Deploy\nCall"
call_link = "https://zoom.example/j/1?pwd=a,b;c"

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-02-02
time = "17:00"
timezone = "Europe/Berlin"
""",
        )
    )
    meeting = cfg.meeting("m")
    name = "Build, Test; Release\\Deploy\nCall"
    assert meeting.name == name
    data = meeting_ics(cfg, meeting, NOW)
    lines = data.decode().replace("\r\n ", "").split("\r\n")
    escaped = r"Build\, Test\; Release\\Deploy\nCall"  # RFC 5545 TEXT
    assert f"NAME:{escaped}" in lines and f"X-WR-CALNAME:{escaped}" in lines and f"SUMMARY:{escaped}" in lines
    assert r"LOCATION:https://zoom.example/j/1?pwd=a\,b\;c" in lines
    assert "URL:https://zoom.example/j/1?pwd=a,b;c" in lines  # a URI value is not escaped
    [event] = parse(data).walk("VEVENT")
    assert (
        str(event["SUMMARY"]) == name
    )  # the escaped form above reads back as the name and str(event["LOCATION"]) == "https://zoom.example/j/1?pwd=a,b;c"


def test_a_call_link_with_a_line_break_does_not_break_the_feed(tmp_path):
    # e.g. a TOML multi-line string that ends with a newline
    cfg = load_config(
        write_config(
            tmp_path,
            '''
[[meetings]]
id = "m"
name = "M"
call_link = """https://zoom.example/j/1
"""

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-02-02
time = "17:00"
''',
        )
    )
    [event] = parse(meeting_ics(cfg, cfg.meeting("m"), NOW)).walk("VEVENT")
    assert str(event["LOCATION"]) == "https://zoom.example/j/1"
    assert str(event["URL"]) == "https://zoom.example/j/1"
    assert str(event["DESCRIPTION"]).startswith("Join: https://zoom.example/j/1")


@pytest.mark.parametrize(
    "zone",
    [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Africa/Casablanca",
        "America/Sao_Paulo",
        "Europe/Dublin",
        "Pacific/Chatham",
    ],
)
def test_the_vtimezone_itself_gives_the_offsets_of_the_iana_zone(tmp_path, zone):
    """Calendar apps that do not know the TZID (or trust the file) use the VTIMEZONE: it must
    say what the IANA zone says, at every instant of the next two years (Morocco's Ramadan
    switches, spring-forward at the exact instant, 30-minute and 45-minute offsets, a zone
    that abolished DST, Dublin's negative DST)."""
    from zoneinfo import ZoneInfo

    cfg, meeting = _one_slot_config(
        tmp_path,
        f"""
[[meetings.slots]]
rrule = "FREQ=WEEKLY"
start = 2026-01-07
time = "17:00"
timezone = "{zone}"
""",
    )
    [vtz] = parse(meeting_ics(cfg, meeting, NOW)).walk("VTIMEZONE")
    assert str(vtz["TZID"]) == zone
    # RFC 5545 3.6.5: each onset (DTSTART, RDATEs) is a local time in TZOFFSETFROM
    onsets = []
    for part in vtz.subcomponents:
        assert "RRULE" not in part  # not read here
        before, after = part["TZOFFSETFROM"].td, part["TZOFFSETTO"].td
        rdates = part.get("RDATE", [])
        walls = [part["DTSTART"].dt] + [d.dt for r in (rdates if isinstance(rdates, list) else [rdates]) for d in r.dts]
        onsets += [((w - before).replace(tzinfo=UTC), after) for w in walls]
    onsets.sort()

    def offset(when):  # by the VTIMEZONE, not by the IANA zone of that name
        return [off for at, off in onsets if at <= when][-1]

    iana = ZoneInfo(zone)
    day, end, wrong = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2028, 1, 1, tzinfo=UTC), []
    while day < end:
        nxt = day + dt.timedelta(days=1)
        switch = day.astimezone(iana).utcoffset() != nxt.astimezone(iana).utcoffset()
        # every 6 hours, and every quarter of an hour on a day the zone switches
        for t in (day + dt.timedelta(minutes=m) for m in range(0, 24 * 60, 15 if switch else 360)):
            if offset(t) != t.astimezone(iana).utcoffset():
                wrong.append(t)
        day = nxt
    assert wrong == [], [(t.isoformat(), offset(t), t.astimezone(iana).utcoffset()) for t in wrong[:4]]
