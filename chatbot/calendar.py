"""An RFC 5545 iCalendar feed of a meeting series, made with the ``icalendar`` package.

One VEVENT per slot: DTSTART in the slot's own zone (TZID, with a VTIMEZONE) so calendar
apps keep "09:00 America/Los_Angeles" at 09:00 across DST switches, exactly as
:mod:`chatbot.schedule` does; the slot's RRULE; cancelled dates (and meetings an earlier
slot already holds at the same instant) as EXDATE; DURATION; the
call link as LOCATION and URL; the call link, the next meeting's notes and the status page
in DESCRIPTION.

:func:`meeting_ics` is a pure function (config, meeting, now -> bytes) so any HTTP server can
serve it; ``chatbot ics`` writes it to a file and ``chatbot serve`` at
``/calendar/<meeting>.ics``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vRecur, vText

from .config import Config, Meeting, Slot
from .notes.files import NotesFiles
from .schedule import UTC, _localize, _rule, _slot_occurrences

PRODID = "-//chatbot//meeting calendar//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"


class CalendarError(Exception):
    pass


def converter_url(start: dt.datetime, title: str | None = None) -> str:
    """A time-zone converter page for one moment (timeanddate.com's fixed-time page)."""
    from urllib.parse import quote

    utc = start.astimezone(UTC)
    url = f"https://www.timeanddate.com/worldclock/fixedtime.html?iso={utc:%Y%m%dT%H%M}&p1=1440"
    if title:
        url += "&msg=" + quote(title)
    return url


def _wall(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The rule's wall time in ``zone``, as written (not moved out of a DST gap): a
    DTSTART or EXDATE inside a gap is read by RFC 5545 with the offset before the gap, the
    same instant :func:`chatbot.schedule._localize` gives, and a DTSTART moved to 03:30
    would move every later meeting of the series to 03:30 too."""
    return naive.replace(tzinfo=zone, fold=0)


def _first_start(slot: Slot) -> dt.datetime | None:
    """The slot's first real occurrence (local, aware): RFC 5545 counts DTSTART as an
    instance, dateutil does not when DTSTART does not match the rule, so start there."""
    naive = _rule(slot).after(dt.datetime.combine(slot.start, slot.time), inc=True)
    return _wall(naive, ZoneInfo(slot.timezone)) if naive else None


def _recur(slot: Slot) -> vRecur:
    """The slot's RRULE; a floating/date UNTIL becomes UTC as RFC 5545 requires with TZID."""
    parts = []
    for part in slot.rrule.split(";"):
        key, _, value = part.partition("=")
        if key.strip().upper() == "UNTIL" and not value.upper().endswith("Z"):
            m = re.fullmatch(r"(\d{8})(?:T(\d{6}))?", value.strip())
            if not m:
                raise CalendarError(f"cannot translate UNTIL={value} to iCalendar")
            naive = dt.datetime.strptime(m.group(1) + (m.group(2) or "000000"), "%Y%m%d%H%M%S")
            value = _localize(naive, ZoneInfo(slot.timezone)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        parts.append(f"{key}={value}")
    return vRecur.from_ical(";".join(parts))


def _exdates(meeting: Meeting, slot: Slot) -> list[dt.datetime]:
    zone = ZoneInfo(slot.timezone)
    out = []
    for day in sorted(set(meeting.cancelled)):
        lo = dt.datetime.combine(day, dt.time())
        for naive in _rule(slot).between(lo - dt.timedelta(seconds=1), lo + dt.timedelta(days=1)):
            if _localize(naive, zone).date() == day:
                out.append(_wall(naive, zone))
    return out


# Meetings two slots share are looked for from a year ago to five years ahead (the feed is
# fetched again every 12 hours), and at most this many meetings of a slot.
SHARED_PAST = dt.timedelta(days=366)
SHARED_AHEAD = dt.timedelta(days=5 * 366)
SHARED_MAX = 5000


def _held(meeting: Meeting, slot: Slot, since: dt.datetime, until: dt.datetime):
    """(the rule's wall time, the UTC instant) of each meeting of ``slot`` that is not
    cancelled, starting in [since, until)."""
    zone = ZoneInfo(slot.timezone)
    cancelled = set(meeting.cancelled)
    local_since = since.astimezone(zone).replace(tzinfo=None) - dt.timedelta(days=2)
    for n, naive in enumerate(_rule(slot).xafter(local_since, inc=True)):
        when = _localize(naive, zone)
        if when >= until or n >= SHARED_MAX:
            return
        if when >= since and when.date() not in cancelled:
            yield naive, when.astimezone(UTC)


def _duplicates(meeting: Meeting, index: int, now: dt.datetime) -> list[dt.datetime]:
    """Meetings of slot ``index`` at the same instant as a meeting of an earlier slot: the
    bot holds one meeting there (the earlier slot's, see
    :func:`chatbot.schedule.occurrences`), so the calendar must not show two."""
    if index == 0:
        return []
    day = dt.datetime.combine(now.astimezone(UTC).date(), dt.time(), UTC)  # the same feed all day
    since, until = day - SHARED_PAST, day + SHARED_AHEAD
    taken = {utc for slot in meeting.slots[:index] for _, utc in _held(meeting, slot, since, until)}
    zone = ZoneInfo(meeting.slots[index].timezone)
    return [_wall(naive, zone) for naive, utc in _held(meeting, meeting.slots[index], since, until) if utc in taken]


def _vtimezone(name: str, first: dt.date, last: dt.date) -> Timezone:
    """The VTIMEZONE of an IANA zone from ``first`` to ``last``: every transition zoneinfo
    knows, to the second, with its onset written as a local time in the offset *before* it
    (RFC 5545 3.6.5). icalendar's own (``add_missing_timezones``) writes a spring-forward onset
    in the offset after it, an hour late, and steps over switches less than 64 days apart
    (Morocco's Ramadan time)."""
    zone = ZoneInfo(name)

    def state(t: dt.datetime) -> tuple[dt.timedelta, str, bool]:
        local = t.astimezone(zone)
        return (
            local.utcoffset() or dt.timedelta(0),
            local.tzname() or "",
            (local.dst() or dt.timedelta(0)) > dt.timedelta(0),
        )

    t = dt.datetime.combine(first, dt.time(), UTC)
    end = dt.datetime.combine(last, dt.time(), UTC)
    cur = state(t)
    # (offset from, offset to, name, daylight) -> onsets, local in the offset before
    onsets: dict[tuple[dt.timedelta, dt.timedelta, str, bool], list[dt.datetime]] = {
        (cur[0], cur[0], cur[1], cur[2]): [(t + cur[0]).replace(tzinfo=None)]
    }
    while t < end:
        nxt = t + dt.timedelta(days=1)  # zones switch at most once a day
        then = state(nxt)
        if then != cur:
            lo, hi = t, nxt
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + dt.timedelta(seconds=(hi - lo).total_seconds() // 2)
                lo, hi = (mid, hi) if state(mid) == cur else (lo, mid)
            onsets.setdefault((cur[0], *then), []).append((hi + cur[0]).replace(tzinfo=None))
        t, cur = nxt, then
    tz = Timezone()
    tz.add("tzid", name)
    tz.add("comment", f"{name} from {first} to {last} (IANA time zone database)")
    for (before, after, tzname, daylight), starts in onsets.items():
        part = TimezoneDaylight() if daylight else TimezoneStandard()
        part.add("dtstart", starts[0])
        if starts[1:]:
            part.add("rdate", starts[1:])
        part.add("tzname", tzname)
        part.add("tzoffsetfrom", before)
        part.add("tzoffsetto", after)
        tz.add_component(part)
    return tz


def status_url(config: Config, meeting: Meeting) -> str | None:
    base = config.web.public_url
    return f"{base.rstrip('/')}/meetings/{meeting.id}" if base else None


def meeting_calendar(config: Config, meeting: Meeting, now: dt.datetime) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # TEXT values (RFC 7986 NAME), escaped like SUMMARY: icalendar does not know their type
    # and would write a comma or semicolon as is, and fail on a newline
    cal.add("x-wr-calname", vText(meeting.name))
    cal.add("name", vText(meeting.name))
    cal.add("refresh-interval", dt.timedelta(hours=12), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")

    files = NotesFiles(config, meeting)
    page = status_url(config, meeting)

    host = re.sub(r"[^a-z0-9.-]", "", (config.web.public_url or "").split("://")[-1].split("/")[0].lower())
    earliest = None
    zones: set[str] = set()
    link = (meeting.call_link or "").strip()
    for index, slot in enumerate(meeting.slots):
        start = _first_start(slot)
        if start is None:
            continue
        earliest = min(earliest, start.date()) if earliest else start.date()
        if slot.timezone not in ("UTC", "Etc/UTC"):
            zones.add(slot.timezone)
        ev = Event()
        ev.add("uid", f"{meeting.id}-slot{index}@{host or 'chatbot'}")
        ev.add("dtstamp", now.astimezone(UTC).replace(microsecond=0))
        ev.add("summary", meeting.name)
        # a UTC slot is written as ...Z; any other zone as TZID=Zone/Name with a VTIMEZONE
        ev.add("dtstart", start.astimezone(UTC) if slot.timezone in ("UTC", "Etc/UTC") else start)
        ev.add("duration", meeting.duration)
        ev.add("rrule", _recur(slot))
        exdates = sorted(_exdates(meeting, slot) + _duplicates(meeting, index, now))
        if exdates:
            ev.add("exdate", [d.astimezone(UTC) if slot.timezone in ("UTC", "Etc/UTC") else d for d in exdates])
        if link:
            ev.add("location", link)
            if not re.search(r"\s", link):  # a URI value cannot hold a line break (icalendar refuses it)
                ev.add("url", link)
        description = [f"Join: {link}"] if link else []
        occ = next(_slot_occurrences(meeting, index, now - meeting.duration), None)
        notes_url = files.url_for(files.path_for(occ)) if occ else None
        if notes_url and occ is not None:
            description.append(f"Notes of the next meeting ({occ.date.isoformat()}): {notes_url}")
        if page:
            description.append(f"Agenda, notes and action items: {page}")
        if description:
            ev.add("description", "\n".join(description))
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    if earliest is not None:
        first = earliest - dt.timedelta(days=366)
        last = max(dt.date(2038, 1, 1), now.date() + dt.timedelta(days=366 * 10))
        cal.subcomponents[:0] = [_vtimezone(zone, first, last) for zone in sorted(zones)]
        cal.add_missing_timezones(first_date=first, last_date=last)  # none should be left
    return cal


def meeting_ics(config: Config, meeting: Meeting, now: dt.datetime) -> bytes:
    """The meeting's iCalendar file, validated by parsing it back."""
    data = meeting_calendar(config, meeting, now).to_ical()
    back = Calendar.from_ical(data)
    expected = sum(1 for slot in meeting.slots if _first_start(slot) is not None)
    if len(back.walk("VEVENT")) != expected or back.get_missing_tzids():
        raise CalendarError(f"the calendar of {meeting.id} did not survive a round trip")
    return data


def write_ics(config: Config, meeting: Meeting, now: dt.datetime, output: Path | None) -> bytes:
    data = meeting_ics(config, meeting, now)
    if output is not None:
        output.write_bytes(data)
    return data
