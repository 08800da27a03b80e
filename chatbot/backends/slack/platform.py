"""The Slack backend's part of the config (named in ``chatbot.backends.BACKENDS``): the
``[slack]`` section, ``destinations.slack_channel`` and the roster's ``slack_id``; and typed
access to them for the rest of this package."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator

from ...config import Meeting, Person, Platform, Section, part


class SlackSettings(Section):
    mode: Literal["socket", "http"] = "socket"
    api_url: str | None = Field(default=None, description="Slack Web API base URL, for a proxy or a test server")
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    command: str = "/agenda"
    next_command: str = "/next"
    actions_command: str | None = Field(
        default="/actions", description="slash command for action items; empty to not register it"
    )
    public_confirmation: bool = True
    allow_unknown_users: bool = False


class SlackDestinations(Section):
    slack_channel: str | None = None

    @field_validator("slack_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        # commands arrive with the channel's id: a name here would never match, and commands
        # from the channel would silently go to the default meeting
        if value is not None and not re.fullmatch(r"[CGD][A-Z0-9]+", value):
            raise ValueError(
                f"{value!r} is not a Slack channel id; use the id (like 'C0123ABCD'): in Slack, "
                "open the channel's details (click its name); the id is at the bottom"
            )
        return value


def slack_channel(meeting: Meeting) -> str | None:
    """The meeting's ``destinations.slack_channel``."""
    return part(meeting.destinations, SlackDestinations).slack_channel


def slack_id(person: Person) -> str | None:
    """The person's ``slack_id`` in the roster."""
    return SLACK.person_id(person)


def _where(meeting: Meeting, start: dt.datetime) -> str | None:
    channel = slack_channel(meeting)
    return f"Slack channel {channel}" if channel else None


SLACK = Platform(
    name="slack",
    backend="chatbot.backends.slack:SlackBackend",
    settings=SlackSettings,
    destinations=SlackDestinations,
    person_field="slack_id",
    where=_where,
)
