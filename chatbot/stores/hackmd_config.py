"""The HackMD store's part of the config (named in ``chatbot.stores.STORES``): the
``[meetings.hackmd]`` section, its check-config lines (with the weekly notes pull request's),
and typed access for the store and the pipeline. The config loader imports this module, so it
imports no HTTP client: the store (:mod:`chatbot.stores.hackmd`) and the pipeline
(:mod:`chatbot.stores.weekly`) import theirs when a meeting uses them.

The weekly notes pull request's ``[meetings.github]`` stays a core section (``config.GitHubSettings``):
the planner (the chair's review waits for the sync), ``actions add`` and the runner read it too.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Literal

from pydantic import Field

from ..config import Config, Meeting, Section, Store, format_duration
from .files import template_name

# as hackmd_client.TOKEN_ENV and github_client.TOKEN_ENV (those modules import requests)
TOKEN_ENV = "HACKMD_TOKEN"
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"


class HackMDSettings(Section):
    """The live notes of the next meeting are a HackMD note (``notes.store = "hackmd"``); the
    token comes from ``HACKMD_TOKEN``."""

    api_url: str = Field(default="https://api.hackmd.io/v1", description="HackMD API base URL")
    site_url: str = Field(default="https://hackmd.io", description="where notes are read, for links")
    team: str | None = Field(default=None, description="team path the notes belong to (default: the token's user)")
    read_permission: Literal["owner", "signed_in", "guest"] = "guest"
    write_permission: Literal["owner", "signed_in", "guest"] = "signed_in"


def hackmd_settings(meeting: Meeting) -> HackMDSettings:
    """The meeting's ``[meetings.hackmd]``."""
    return HACKMD.settings_of(meeting)


def weekly_enabled(meeting: Meeting) -> bool:
    """Whether the bot runs the weekly notes pipeline (publish, sync, nudge) for ``meeting``:
    its notes live in HackMD and reach Git through a pull request."""
    return meeting.notes.store == HACKMD.name and bool(meeting.github.repo)


def _check(config: Config, meeting: Meeting, start: dt.datetime) -> list[str]:
    hm = hackmd_settings(meeting)
    token = "set" if os.environ.get(TOKEN_ENV) else "NOT SET: agenda commands will fail"
    where = f"team {hm.team}" if hm.team else "the token's own notes"
    directory = config.resolve(meeting.notes.directory).resolve()
    return [
        f"notes store: a live HackMD note per meeting ({where}, API {hm.api_url}), created from "
        f"{template_name(config, meeting)}; agenda items under '{meeting.notes.agenda_section}'; "
        f"{TOKEN_ENV} {token} (needs: read and write notes of the team); past notes (action items) in "
        f"{directory}, named {meeting.notes.filename}",
        _check_weekly(meeting, start),
    ]


def _check_weekly(meeting: Meeting, start: dt.datetime) -> str:
    """check-config: the weekly notes pull request of a meeting whose notes are in HackMD."""
    gh = meeting.github
    if not gh.repo:
        return (
            "weekly notes PR: off ([meetings.github] repo not set; the HackMD note is not published to Git by the bot)"
        )
    gtoken = "set" if os.environ.get(GITHUB_TOKEN_ENV) else "NOT SET: publish and sync will fail"

    def timing(d: dt.timedelta | None, what: str) -> str:
        return f"{format_duration(d)} {what}" if d is not None else "only by hand"

    return (
        f"weekly notes PR: {gh.repo}, branch {start.strftime(gh.branch)} "
        f"(pattern {gh.branch}) into {gh.base}; publish {timing(gh.publish_before, 'before')}, "
        f"sync {timing(gh.sync_after, 'after the end')}, nudge the chair "
        f"{timing(gh.nudge_after, 'after the end')}; {GITHUB_TOKEN_ENV} {gtoken} (needs: pull requests "
        f"read/write; the branch is pushed with the clone's own Git credentials)"
    )


HACKMD = Store(name="hackmd", store="chatbot.stores.hackmd:HackMDStore", settings=HackMDSettings, check=_check)
