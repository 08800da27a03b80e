"""An RFC 5545 iCalendar feed of a meeting series, made with the ``icalendar`` package.

One VEVENT per slot: DTSTART in the slot's own zone (TZID, with a VTIMEZONE) so calendar
apps keep "09:00 America/Los_Angeles" at 09:00 across DST switches, exactly as
:mod:`chatbot.schedule` does; the slot's RRULE; cancelled dates as EXDATE; DURATION; the
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

from icalendar import Calendar, Event, vRecur

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


def status_url(config: Config, meeting: Meeting) -> str | None:
    base = config.web.public_url
    return f"{base.rstrip('/')}/meetings/{meeting.id}" if base else None


def meeting_calendar(config: Config, meeting: Meeting, now: dt.datetime) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", meeting.name)
    cal.add("name", meeting.name)
    cal.add("refresh-interval", dt.timedelta(hours=12), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")

    files = NotesFiles(config, meeting)
    page = status_url(config, meeting)

    host = re.sub(r"[^a-z0-9.-]", "", (config.web.public_url or "").split("://")[-1].split("/")[0].lower())
    earliest = None
    for index, slot in enumerate(meeting.slots):
        start = _first_start(slot)
        if start is None:
            continue
        earliest = min(earliest, start.date()) if earliest else start.date()
        ev = Event()
        ev.add("uid", f"{meeting.id}-slot{index}@{host or 'chatbot'}")
        ev.add("dtstamp", now.astimezone(UTC).replace(microsecond=0))
        ev.add("summary", meeting.name)
        # a UTC slot is written as ...Z; any other zone as TZID=Zone/Name with a VTIMEZONE
        ev.add("dtstart", start.astimezone(UTC) if slot.timezone in ("UTC", "Etc/UTC") else start)
        ev.add("duration", meeting.duration)
        ev.add("rrule", _recur(slot))
        exdates = _exdates(meeting, slot)
        if exdates:
            ev.add("exdate", [d.astimezone(UTC) if slot.timezone in ("UTC", "Etc/UTC") else d for d in exdates])
        if meeting.call_link:
            ev.add("location", meeting.call_link)
            ev.add("url", meeting.call_link)
        description = [f"Join: {meeting.call_link}"] if meeting.call_link else []
        occ = next(_slot_occurrences(meeting, index, now - meeting.duration), None)
        notes_url = files.url_for(files.path_for(occ)) if occ else None
        if notes_url:
            description.append(f"Notes of the next meeting ({occ.date.isoformat()}): {notes_url}")
        if page:
            description.append(f"Agenda, notes and action items: {page}")
        if description:
            ev.add("description", "\n".join(description))
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    if earliest is not None:
        last = max(dt.date(2038, 1, 1), now.date() + dt.timedelta(days=366 * 10))
        cal.add_missing_timezones(first_date=earliest - dt.timedelta(days=366), last_date=last)
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
