"""The Zulip backend's part of the config (named in ``chatbot.backends.BACKENDS``): the
``[zulip]`` section, ``destinations.zulip_stream`` and ``zulip_topic`` (and the topic it gives
a meeting), the roster's ``zulip_email``; and typed access to them for the rest of this package."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from ...config import Meeting, Person, Platform, Section, part
from .wire import MAX_TOPIC

log = logging.getLogger("chatbot.backends.zulip")


class ZulipSettings(Section):
    zuliprc: Path | None = None
    site: str | None = None
    allow_unknown_users: bool = False
    github_profile_field: bool = False


class ZulipDestinations(Section):
    zulip_stream: str | None = None
    zulip_topic: str = "{name} {date:%Y-%m-%d}"


def zulip_stream(meeting: Meeting) -> str | None:
    """The meeting's ``destinations.zulip_stream``."""
    return part(meeting.destinations, ZulipDestinations).zulip_stream


def zulip_email(person: Person) -> str | None:
    """The person's ``zulip_email`` in the roster."""
    return ZULIP.person_id(person)


def topic_name(meeting: Meeting, date: dt.datetime, limit: int = MAX_TOPIC) -> str:
    """``destinations.zulip_topic`` filled in for a meeting at ``date``, at most ``limit``
    characters (the server's ``max_topic_length``, 60: it cuts longer topics). A long meeting
    name is shortened (with "…") rather than the end of the topic cut, so the date stays in it
    and each meeting keeps its own topic; a pattern whose own words are too long is shortened
    before its last ``{date}``."""
    pattern = part(meeting.destinations, ZulipDestinations).zulip_topic

    def fill(name: str, text: str | None = None) -> str:
        return " ".join((pattern if text is None else text).format(name=name, date=date, meeting=meeting.id).split())

    try:
        topic = fill(meeting.name)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        log.warning(
            "destinations.zulip_topic %r of %s is not a valid pattern (%s); using the meeting name",
            pattern,
            meeting.id,
            exc,
        )
        pattern = "{name} {date:%Y-%m-%d}"
        topic = fill(meeting.name)
    if not topic:
        return " ".join(meeting.name.split())[:limit] or meeting.id
    if len(topic) <= limit:
        return topic
    name = " ".join(meeting.name.split())
    if "{name" in pattern:
        for keep in range(len(name) - 1, 0, -1):
            shorter = fill(name[:keep].rstrip() + "…")
            if len(shorter) <= limit:
                return shorter
    at = pattern.rfind("{date")
    if at > 0:  # the words before the last date are shortened; the date stays
        try:
            head, tail = fill(name[:1] + "…", pattern[:at]), fill(name[:1] + "…", pattern[at:])
        except (KeyError, IndexError, ValueError, AttributeError):
            head, tail = "", ""
        if tail and len(tail) + 2 <= limit:
            return (head[: limit - len(tail) - 2].rstrip() + "… " + tail).lstrip()
    return topic[: limit - 1].rstrip() + "…"  # nothing to keep: the end is cut


def _where(meeting: Meeting, start: dt.datetime) -> str | None:
    stream = zulip_stream(meeting)
    return f"Zulip stream #{stream}, topic '{topic_name(meeting, start)}'" if stream else None


ZULIP = Platform(
    name="zulip",
    backend="chatbot.backends.zulip:ZulipBackend",
    settings=ZulipSettings,
    destinations=ZulipDestinations,
    person_field="zulip_email",
    person_field_is_email=True,
    where=_where,
)
