"""Loading and validating the bot's TOML configuration.

The config file is the one place where a community describes its meetings: when they happen
(one or more recurrence *slots*), where reminders go, where the notes live, and who is who.
Everything here is platform-neutral. A chat backend declares its own part of the file (its
section such as ``[slack]``, its keys of ``[meetings.destinations]`` and of ``[[people]]``) in
a :class:`Platform` in its own package, named in ``chatbot.backends.BACKENDS``; a notes store
declares its ``[meetings.NAME]`` section in a :class:`Store`, named in ``chatbot.stores.STORES``.
The loader adds every declared part to the models (:func:`schema`), so one file still validates
whole at start.

A malformed file raises :class:`ConfigError` with one message that names the file, the key
and what is wrong, e.g. ``config/chatbot.toml: meetings[0].slots[1].timezone: unknown time
zone 'Europe/Berln'``.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from types import GenericAlias
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from .backends import BACKENDS
from .stores import STORES

DEFAULT_CONFIG = Path("config/chatbot.toml")
CONFIG_ENV = "CHATBOT_CONFIG"
# Deployment settings that override the file (a container image sets them, so the same config
# file works inside and outside it): where the ledger lives, and the status pages' address.
STATE_DIR_ENV = "CHATBOT_STATE_DIR"  # a directory; relative: to the current directory
WEB_ENV = "CHATBOT_WEB"  # HOST:PORT: serve the status pages from `chatbot run` there


class UnknownMeeting(KeyError):
    """A meeting id that the config does not have; the message names the ones it has."""

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


# ---------------------------------------------------------------------------------------
# Small value types


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected an IANA time zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'America/Los_Angeles')") from None
    return value


TimeZoneName = Annotated[str, BeforeValidator(_zone)]

_DURATION_RE = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


MAX_DURATION = dt.timedelta(weeks=52_000)  # a thousand years: longer overflows date arithmetic near year 1


def parse_duration(value: Any) -> dt.timedelta:
    """'24h', '15m', '1d', '8w', '2d12h', '1h30m' or a number of minutes, at most
    :data:`MAX_DURATION` (a longer one overflows date arithmetic: ValueError, never OverflowError)."""
    if isinstance(value, dt.timedelta):
        delta = value
    elif isinstance(value, int) and not isinstance(value, bool):
        delta = _bounded(minutes=value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)) and any(m.groups()):
        w, d, h, mins = (int(x) if x else 0 for x in m.groups())
        delta = _bounded(weeks=w, days=d, hours=h, minutes=mins)
    else:
        raise ValueError(f"expected a duration like '24h', '15m' or '2d', got {value!r}")
    if abs(delta) > MAX_DURATION:
        raise ValueError(_too_long())
    return delta


def _seconds_or_duration(value: Any) -> dt.timedelta:
    """A duration that may also be a number of seconds ('30s')."""
    if isinstance(value, str) and (m := re.fullmatch(r"\s*(\d{1,6})\s*s\s*", value)):
        return dt.timedelta(seconds=int(m.group(1)))
    return parse_duration(value)


def _too_long() -> str:
    return f"the duration is too long (at most {MAX_DURATION.days // 7:,} weeks, about a thousand years)"


def _bounded(**parts: int) -> dt.timedelta:
    try:
        return dt.timedelta(**parts)
    except OverflowError:
        raise ValueError(_too_long()) from None


Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]


def _duration_or_none(value):
    """A duration, or ``"none"`` (TOML has no null) for: never."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "never", "off")):
        return None
    return parse_duration(value)


OptionalDuration = Annotated[dt.timedelta | None, BeforeValidator(_duration_or_none)]

_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_waking_hours(value: Any) -> tuple[dt.time, dt.time]:
    """'09:00-18:00': a local window (start, end); an end before the start crosses midnight
    ('22:00-06:00'). '24:00' is the end of the day."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, dt.time) for v in value):
        return (value[0], value[1])
    m = _HOURS_RE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"expected local hours like '09:00-18:00', got {value!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"{value!r}: hours are 00-23 and minutes 00-59")
    start, end = dt.time(h1, m1), dt.time(h2, m2)
    if start == end:
        raise ValueError(f"{value!r}: the window is empty (start and end are the same)")
    return (start, end)


WakingHours = Annotated[tuple[dt.time, dt.time], BeforeValidator(parse_waking_hours)]


def format_duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins else ""]
    return " ".join(p for p in parts if p) or "0 min"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(_Model):
    """A table of the config as a chat platform declares it (its ``[NAME]`` settings, its keys
    of ``[meetings.destinations]``) or a notes store does (its ``[meetings.NAME]`` settings):
    unknown keys are errors, and the loaded values frozen."""


# ---------------------------------------------------------------------------------------
# Meetings


_UNTIL_UTC = re.compile(r"(?i)(\bUNTIL\s*=\s*)(\d{8}T\d{6})Z")


class Slot(_Model):
    """One recurrence: an RFC 5545 RRULE, from a start date, at a wall-clock time in a zone."""

    rrule: str = Field(description="RFC 5545 recurrence rule, e.g. 'FREQ=WEEKLY;INTERVAL=2;BYDAY=WE'")
    start: dt.date
    time: dt.time
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _until_in_local_time(cls, data: Any) -> Any:
        """``UNTIL=…Z`` (UTC, as RFC 5545 and every calendar export write it) becomes the
        slot's own wall time, the frame the rule is evaluated in."""
        if not isinstance(data, dict) or not isinstance(data.get("rrule"), str):
            return data
        m = _UNTIL_UTC.search(data["rrule"])
        if not m:
            return data
        try:
            zone = ZoneInfo(str(data.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            return data  # the timezone key reports its own error
        try:
            utc = dt.datetime.strptime(m.group(2), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        except ValueError:
            return data  # not a date: the rrule check says so
        local = utc.astimezone(zone).strftime("%Y%m%dT%H%M%S")
        return {**data, "rrule": data["rrule"][: m.start()] + m.group(1) + local + data["rrule"][m.end() :]}

    @field_validator("rrule")
    @classmethod
    def _check_rrule(cls, value: str) -> str:
        text = value.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        parts = [p.strip() for p in text.split(";") if p.strip()]  # a trailing ';' or spaces are fine
        for part in parts:
            if "=" not in part:
                raise ValueError(f"{part!r} is not KEY=VALUE; write the rule like 'FREQ=WEEKLY;INTERVAL=2;BYDAY=WE'")
            key, _, val = part.partition("=")
            # dateutil takes INTERVAL=0 (and then loops forever) and INTERVAL=-1 (and crashes)
            if key.strip().upper() == "INTERVAL" and not (val.strip().isdigit() and int(val) >= 1):
                raise ValueError(f"INTERVAL must be a whole number of 1 or more, got {val.strip()!r}")
        text = ";".join(parts)
        if "DTSTART" in text.upper():
            raise ValueError("put the first date in 'start', not DTSTART inside the rule")
        try:
            rrulestr(text, dtstart=dt.datetime(2000, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a valid RFC 5545 RRULE ({exc})") from None
        return text

    @field_validator("time", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            h, m = value.strip().split(":")
            return dt.time(int(h), int(m))
        if not isinstance(value, (str, dt.time)):
            # pydantic would read a number as seconds after midnight: 17 -> 00:00:17
            raise ValueError(f'expected a wall-clock time such as 17:00:00 or "17:00", got {value!r}')
        return value


class NotesSettings(_Model):
    directory: Path = Path("notes")
    filename: str = "%Y%m%d-meeting.md"
    template: Path | None = None
    agenda_section: str = "New agenda items"
    actions_section: str | None = "From previous meetings"
    url: str | None = Field(
        default=None,
        description="public URL of a notes file; '{filename}' and '{path}' are replaced",
    )
    line_anchor: str | None = Field(default=None, description="appended to the URL to point at a line, e.g. '#L{line}'")
    store: str = Field(
        default="files",
        description="where the next meeting's notes live: 'files' (the directory, optionally in Git) or "
        "another declared notes store (chatbot.stores.STORES; its own settings are [meetings.NAME])",
    )

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value not in STORES:
            raise ValueError(f"unknown notes store {value!r}; choose one of {', '.join(STORES)}")
        return value

    @field_validator("filename")
    @classmethod
    def _check_filename(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith("."):
            raise ValueError("must be a plain file name pattern such as '%Y%m%d-meeting.md' (no directories)")
        # the name is made from the meeting's start: what the pattern writes must be a plain
        # name too ('%D' and '%x' write '01/07/26'; strftime ends the name at a NUL)
        for written in (dt.datetime(2026, 1, 7, 17, tzinfo=dt.UTC).strftime(value), value):
            if "/" in written or "\\" in written or written in (".", ".."):
                raise ValueError(
                    f"must be a plain file name pattern such as '%Y%m%d-meeting.md' (no directories); "
                    f"it writes {written!r}"
                )
            if any(ord(c) < 32 or ord(c) == 127 for c in written):
                raise ValueError("must not contain a control character (such as a NUL, a tab or '%n')")
        sample = dt.date(2026, 1, 7).strftime(value)
        if sample == dt.date(2026, 1, 8).strftime(value):
            raise ValueError("must contain the date (e.g. '%Y%m%d') so each meeting gets its own file")
        return value


class Destinations(_Model):
    """Where a meeting's reminders go (``[meetings.destinations]``): every key is a chat
    platform's, declared by its backend (:class:`Platform` ``destinations``)."""


class ActionSettings(_Model):
    """Open action items: where to look for them, when to ping their owners."""

    enabled: bool = True
    lookback: Duration = dt.timedelta(weeks=8)
    max_meetings: int | None = Field(default=None, ge=1)
    ping_before: Duration | None = dt.timedelta(days=2)
    ping: Literal["dm", "channel"] = "dm"
    # who the channel summary mentions: only owners whose own ping could not be delivered
    # ("unreached"), every owner ("all", a second notification for most), or nobody ("none")
    summary_mentions: Literal["unreached", "all", "none"] = "unreached"
    # each owner's ping goes out within these local hours of theirs ("09:00-18:00"), as close
    # to ping_before as that allows and before the meeting starts; none: at ping_before
    waking_hours: WakingHours | None = None
    carry_over: bool = True
    # agenda sections whose top-level entries are topics (not action items); the first three
    # are the conda template's, the others the names older conda notes used
    topic_sections: list[str] = [
        "New agenda items",
        "From previous meetings",
        "Deferred to next meeting",
        "Outstanding items from the previous meeting",
        "Deferred agenda items",
        "Defer to next meeting",
        "Your new agenda items",
    ]
    # sections whose top-level entries are action items
    action_sections: list[str] = ["Action items", "Current action items", "Previous action items", "TODO"]
    review_after: OptionalDuration = Field(
        default=dt.timedelta(hours=2),
        description="send the chair the candidate action items of a meeting's notes this long after the "
        "meeting ends (with the weekly notes PR: once the notes are synced, and not before); none: no "
        "review message (decisions only through `chatbot actions review`)",
    )
    parallel_from: int = Field(
        default=400,
        ge=0,
        description="when at least this many notes files have nothing cached (a first start, a new "
        "release), read them in worker processes, one per CPU; 0: always in the bot's own process",
    )
    persist_cache: bool = Field(
        default=True,
        description="keep what was read from each notes file in "
        "[bot] state_dir, so a restarted bot does not read unchanged files again",
    )


class GitSettings(_Model):
    """Commit (and optionally push) every change the bot makes to a meeting's notes, when the
    notes directory is inside a Git work tree (see ``chatbot.gitsync``)."""

    enabled: bool = False
    push: bool = False
    remote: str = "origin"
    branch: str | None = Field(default=None, description="branch to push to (default: the checked-out branch)")
    pull: bool = False  # ``git pull --rebase`` before each edit, to see what humans merged
    retries: int = Field(default=3, ge=0, le=20, description="pull --rebase and push again this often when rejected")
    committer_name: str = "chatbot"
    committer_email: str = "chatbot@localhost"
    timeout: Duration = dt.timedelta(minutes=1)
    push_retry: Annotated[dt.timedelta, BeforeValidator(_seconds_or_duration)] = Field(
        default=dt.timedelta(minutes=5),
        description="how often `chatbot run` tries again to push commits a push left behind (0: only with the next change)",
    )

    @field_validator("push_retry")
    @classmethod
    def _not_negative(cls, value: dt.timedelta) -> dt.timedelta:
        if value < dt.timedelta(0):
            raise ValueError("push_retry must not be negative")
        return value


class GitHubSettings(_Model):
    """The weekly notes pull request of the Conda workflow: publish before the meeting, sync
    the live note back after it, nudge the chair while it is unmerged. The token comes from
    ``GITHUB_TOKEN``."""

    repo: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="owner/name of the repository holding the notes",
    )
    api_url: str = Field(default="https://api.github.com", description="GitHub REST API base URL")
    base: str = Field(default="main", description="the branch pull requests go into")
    branch: str = Field(default="%Y-%m-%d-meeting-notes", description="strftime pattern of the weekly branch")
    remote: str = "origin"
    publish_before: OptionalDuration = Field(
        default=dt.timedelta(days=5),
        description="publish the notes (branch, HackMD note, PR) this long "
        "before the meeting; none: only `chatbot notes publish`",
    )
    sync_after: OptionalDuration = Field(
        default=dt.timedelta(hours=2),
        description="bring the HackMD note into the PR this long after the "
        "meeting ends; none: only `chatbot notes sync`",
    )
    nudge_after: OptionalDuration = Field(
        default=dt.timedelta(days=7),
        description="tell the chair once when the PR is still open this long after the meeting; none: never",
    )
    labels: list[str] = []
    title: str = Field(default="{name} notes {date:%Y-%m-%d}", description="the pull request's title")


class Meeting(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    slots: list[Slot] = Field(min_length=1)
    cancelled: list[dt.date] = []
    duration: Duration = dt.timedelta(hours=1)
    call_link: str | None = None
    timezones: list[TimeZoneName] = ["UTC"]
    reminders: list[Duration] = [dt.timedelta(hours=24), dt.timedelta(minutes=15)]
    notes: NotesSettings = NotesSettings()
    destinations: Destinations = Destinations()
    actions: ActionSettings = ActionSettings()
    git: GitSettings = GitSettings()
    github: GitHubSettings = GitHubSettings()
    # and each notes store's section (``[meetings.hackmd]``): Store.settings

    @field_validator("reminders")
    @classmethod
    def _positive(cls, value: list[dt.timedelta]) -> list[dt.timedelta]:
        for delta in value:
            if delta <= dt.timedelta(0):
                raise ValueError("reminder offsets must be positive durations before the meeting")
        return value


# ---------------------------------------------------------------------------------------
# People and platforms


class Person(_Model):
    initials: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,7}$")
    name: str
    github: str | None = None
    # and each chat platform's key for the person (``slack_id``, ``zulip_email``): Platform.person_field
    timezone: TimeZoneName | None = Field(
        default=None,
        description="the person's IANA time zone: their action-item "
        "ping goes out within [meetings.actions] waking_hours there (default: "
        "the zone their chat platform reports, where it does)",
    )
    email: str | None = Field(default=None, description="Git author email for the person's changes")
    admin: bool = False
    chair: bool = Field(
        default=False,
        description="reviews the candidate action items after each meeting ([meetings.actions] review_after; "
        "without a chair the admins do), and is told when a held meeting's notes pull request is left unsynced "
        "or unmerged",
    )

    @field_validator("github")
    @classmethod
    def _strip_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") if value else value

    def contact_email(self) -> str | None:
        """``email``, else the email address a chat platform knows the person by, if any."""
        return self.email or next(
            (e for p in platforms() if p.person_field_is_email and (e := p.person_id(self))), None
        )


class WebSettings(_Model):
    """The read-only status page and calendar feed (``chatbot serve``, and ``chatbot run`` with
    ``enabled``)."""

    enabled: bool = Field(default=False, description="also serve the pages from `chatbot run`, in the same process")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="where the status pages are reachable, for links")


# Names a template may never see, whatever the allow-list says: the bot's own secrets and
# anything named like a credential.
_SECRET_NAME = re.compile(
    r"(?i)(TOKEN|SECRET|PASSW|PWD|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|SIGNING|CERT)"
    r"|^(SLACK|ZULIP|HACKMD|GITHUB|GH|AWS|AZURE|GOOGLE|GCP)_"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _template_env_name(value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(f"expected an environment variable name such as 'MEETING_ROOM', got {value!r}")
    if _SECRET_NAME.search(value):
        raise ValueError(
            f"{value!r} looks like a secret; templates are never given secrets "
            "(a template can be changed by anyone who can change the notes repository)"
        )
    return value


class TemplateSettings(_Model):
    env: list[Annotated[str, BeforeValidator(_template_env_name)]] = Field(
        default=[], description="environment variables a notes template may read as env.NAME (never secrets)"
    )


class BotSettings(_Model):
    default_meeting: str | None = None
    state_dir: Path = Path("state")
    max_item_length: int = Field(default=1000, ge=10, le=100_000)
    reminder_grace: Duration = dt.timedelta(minutes=10)
    allowed_places: list[str] = Field(
        default=[],
        description="channels (Slack ids) / streams (Zulip names) where commands are accepted; "
        "empty: everywhere. Direct messages are always accepted.",
    )
    editors: list[str] = Field(
        default=[],
        description="initials of the people who may remove agenda items or tick action items; "
        "empty: each item's owners (and admins)",
    )


class Config(_Model):
    bot: BotSettings = BotSettings()
    meetings: list[Meeting] = Field(min_length=1)
    people: list[Person] = []
    # and each chat platform's section (``[slack]``): Platform.settings
    web: WebSettings = WebSettings()
    templates: TemplateSettings = TemplateSettings()

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        ids = [m.id for m in self.meetings]
        for i, mid in enumerate(ids):
            if mid in ids[:i]:
                raise ValueError(f"meetings[{i}].id: duplicate meeting id {mid!r}")
        if self.bot.default_meeting is not None and self.bot.default_meeting not in ids:
            raise ValueError(
                f"bot.default_meeting: no meeting with id {self.bot.default_meeting!r} (have {', '.join(ids)})"
            )
        seen: dict[str, int] = {}
        for i, person in enumerate(self.people):
            key = person.initials.upper()
            if key in seen:
                raise ValueError(f"people[{i}].initials: {person.initials!r} is already used by people[{seen[key]}]")
            seen[key] = i
        return self

    # -- lookups -------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    def resolve(self, p: Path) -> Path:
        """Paths in the config are relative to the config file."""
        return p if p.is_absolute() else (self.base_dir / p)

    def meeting(self, meeting_id: str | None = None) -> Meeting:
        if meeting_id is None:
            meeting_id = self.bot.default_meeting or self.meetings[0].id
        for m in self.meetings:
            if m.id == meeting_id:
                return m
        raise UnknownMeeting(f"no meeting {meeting_id!r}; configured: {', '.join(m.id for m in self.meetings)}")

    def person_by(self, **kw: str) -> Person | None:
        ((field, value),) = kw.items()
        if value is None:
            return None
        # initials, GitHub handles and email addresses are matched ignoring case
        folded = field in ("initials", "github") or any(p.person_field == field for p in _email_platforms())
        for p in self.people:
            have = getattr(p, field)
            if have is None:
                continue
            if folded:
                if have.lower() == str(value).lower():
                    return p
            elif have == value:
                return p
        return None


# ---------------------------------------------------------------------------------------
# Chat platforms: each backend declares its part of the config (chatbot.backends.BACKENDS)

SettingsT = TypeVar("SettingsT", bound=BaseModel)
PartT = TypeVar("PartT", bound=BaseModel)
ModelT = TypeVar("ModelT", bound=BaseModel)
DeclT = TypeVar("DeclT")


@dataclass(frozen=True)
class Platform(Generic[SettingsT]):
    """What a chat backend adds to the config, declared in its own package (``platform.py``)
    and named by its line in ``chatbot.backends.BACKENDS``. The loader adds every declared
    platform's parts to the models (:func:`schema`), so a file is still validated whole at
    load, and the TOML is what it would be had this module declared them."""

    name: str  # its key in BACKENDS: `--backend NAME`, and its section `[NAME]`
    backend: str  # "module:Class" of its Backend, imported when it runs
    settings: type[SettingsT]  # the `[NAME]` section (a Section)
    destinations: type[Section] | None = None  # its keys of `[meetings.destinations]` (a Section)
    person_field: str | None = None  # its `[[people]]` key naming a person on it (a user id, an email)
    person_field_is_email: bool = False  # an email: matched ignoring case; the Git author's when `email` is unset
    where: Callable[[Meeting, dt.datetime], str | None] | None = None  # `check-config`: where a reminder goes

    def settings_of(self, config: Config) -> SettingsT:
        """The platform's section of ``config``."""
        return part(getattr(config, self.name, None) or config, self.settings)

    def person_id(self, person: Person) -> str | None:
        """The person's ``person_field``: who they are on the platform (None: not on it)."""
        value = getattr(person, self.person_field, None) if self.person_field else None
        return value if isinstance(value, str) else None


def part(model: BaseModel, kind: type[PartT]) -> PartT:
    """``model`` seen as the part a platform or a notes store declared, typed
    (``part(meeting.destinations, SlackDestinations)``); a model loaded without that declaration
    raises TypeError."""
    if isinstance(model, kind):
        return model
    raise TypeError(
        f"{type(model).__name__} has no {kind.__name__}: its platform or store was not declared when it was loaded"
    )


def platforms() -> tuple[Platform[Any], ...]:
    """The declared platforms, in ``backends.BACKENDS`` order."""
    return tuple(_declared(name, target) for name, target in BACKENDS.items())


def platform(name: str) -> Platform[Any]:
    """One declared platform; ValueError naming the declared ones if ``name`` is not."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _declared(name, BACKENDS[name])


def _declared(name: str, target: str) -> Platform[Any]:
    return _declaration(Platform, "backends.BACKENDS", name, target)


@functools.cache
def _declaration(kind: type[DeclT], registry: str, name: str, target: str) -> DeclT:
    """The declaration ``target`` ("module:NAME", the line ``name`` of ``registry``) names,
    imported on first use: the core reads it, and never imports the client library of a
    platform or store (backends and stores import theirs when they run)."""
    module, _, attr = target.partition(":")
    found = getattr(importlib.import_module(module), attr, None)
    if not isinstance(found, kind) or getattr(found, "name", None) != name:
        raise TypeError(f"{registry}[{name!r}] = {target!r}: expected a {kind.__name__} named {name!r}, got {found!r}")
    return found


def _email_platforms() -> tuple[Platform[Any], ...]:
    return tuple(p for p in platforms() if p.person_field_is_email)


# ---------------------------------------------------------------------------------------
# Notes stores: each declares its part of the config (chatbot.stores.STORES)


@dataclass(frozen=True)
class Store(Generic[SettingsT]):
    """What a notes store adds to the config, declared in its own module and named by its line
    in ``chatbot.stores.STORES``. The loader adds every declared store's section to the meeting
    model (:func:`schema`), so a file is still validated whole at load."""

    name: str  # its key in STORES: `[meetings.notes] store = "NAME"`, and its section `[meetings.NAME]`
    store: str  # "module:Class" of its NotesStore, imported when a meeting first uses it
    settings: type[SettingsT] | None = None  # the `[meetings.NAME]` section (a Section), if it has one
    # `check-config`: the lines saying where a meeting's notes live, given the next meeting's start
    check: Callable[[Config, Meeting, dt.datetime], list[str]] | None = None

    def settings_of(self, meeting: Meeting) -> SettingsT:
        """The store's ``[meetings.NAME]`` section of ``meeting``."""
        if self.settings is None:
            raise TypeError(f"notes store {self.name!r} declares no settings")
        return part(getattr(meeting, self.name, None) or meeting, self.settings)


def notes_stores() -> tuple[Store[Any], ...]:
    """The declared notes stores, in ``stores.STORES`` order."""
    return tuple(_declared_store(name, target) for name, target in STORES.items())


def notes_store(name: str) -> Store[Any]:
    """One declared notes store; ValueError naming the declared ones if ``name`` is not."""
    if name not in STORES:
        raise ValueError(f"unknown notes store {name!r}; choose one of {', '.join(STORES)}")
    return _declared_store(name, STORES[name])


def _declared_store(name: str, target: str) -> Store[Any]:
    return _declaration(Store, "stores.STORES", name, target)


# ---------------------------------------------------------------------------------------
# The models a file is loaded with


@dataclass(frozen=True)
class Schema:
    """The models a config is loaded with: the core's, each with every declared platform's part
    (``config.slack``, ``meeting.destinations.slack_channel``, ``person.slack_id``) and every
    declared notes store's section (``meeting.hackmd``)."""

    config: type[Config]
    meeting: type[Meeting]
    destinations: type[Destinations]
    person: type[Person]


def schema() -> Schema:
    """The models for the platforms and stores declared now (built once for each set of declarations)."""
    return _schema(platforms(), notes_stores())


@functools.cache
def _schema(declared: tuple[Platform[Any], ...], stores: tuple[Store[Any], ...]) -> Schema:
    _check_names(declared, stores)
    destinations = _extend(Destinations, tuple(p.destinations for p in declared if p.destinations), {})
    person = _extend(Person, (), {p.person_field: (str | None, None) for p in declared if p.person_field})
    notes = {s.name: (s.settings, s.settings()) for s in stores if s.settings}
    meeting = _extend(Meeting, (), {"destinations": (destinations, destinations()), **notes})
    sections = {p.name: (p.settings, p.settings()) for p in declared}
    listed = {
        "meetings": (GenericAlias(list, meeting), Field(min_length=1)),
        "people": (GenericAlias(list, person), []),
    }
    config = _extend(Config, (), {**listed, **sections})
    return Schema(config=config, meeting=meeting, destinations=destinations, person=person)


def _check_names(declared: tuple[Platform[Any], ...], stores: tuple[Store[Any], ...]) -> None:
    """No platform or store takes a key the core or another one has (it would silently replace it)."""
    for where, core, names in (
        ("a config section", Config, [(f"platform {p.name!r}", p.name) for p in declared]),
        ("a [[people]] key", Person, [(f"platform {p.name!r}", p.person_field) for p in declared if p.person_field]),
        (
            "a [meetings.destinations] key",
            Destinations,
            [(f"platform {p.name!r}", key) for p in declared if p.destinations for key in p.destinations.model_fields],
        ),
        ("a [meetings] section", Meeting, [(f"notes store {s.name!r}", s.name) for s in stores if s.settings]),
    ):
        taken: dict[str, str] = {key: "the core" for key in core.model_fields}
        for who, key in names:
            if key in taken:
                raise TypeError(f"{who} declares {where} {key!r} that {taken[key]} has")
            taken[key] = who
    for p in declared:
        if not issubclass(p.settings, Section) or (p.destinations and not issubclass(p.destinations, Section)):
            raise TypeError(f"platform {p.name!r}: its settings and destinations must be config.Section models")
    for s in stores:
        if s.settings is not None and not issubclass(s.settings, Section):
            raise TypeError(f"notes store {s.name!r}: its settings must be a config.Section model")


def _extend(base: type[ModelT], parts: tuple[type[BaseModel], ...], fields: dict[str, Any]) -> type[ModelT]:
    """``base`` with the platforms' ``parts`` (mixed in) and ``fields`` (added or narrowed)."""
    bases: tuple[type[BaseModel], ...] = (base, *parts)
    model = create_model(base.__name__, __base__=bases, __module__=base.__module__, **fields)
    if not issubclass(model, base):
        raise TypeError(f"{model!r} is not a {base.__name__}")
    return model


# ---------------------------------------------------------------------------------------
# Loading


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return DEFAULT_CONFIG


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys are allowed at ``loc`` (a pydantic error location) under ``root``, if known."""

    def model_in(annotation: Any) -> type[BaseModel] | None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        for arg in get_args(annotation):  # list[Meeting], Meeting | None, Annotated[...]
            found = model_in(arg)
            if found is not None:
                return found
        return None

    model: type[BaseModel] | None = root
    for key in loc:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(key) if model is not None else None
        model = model_in(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _explain(error: dict[str, Any], root: type[BaseModel]) -> str:
    kind = error.get("type", "")
    msg = error.get("msg", "invalid value")
    if kind == "extra_forbidden":
        loc = tuple(error.get("loc", ()))
        model = _model_at(root, loc[:-1]) if loc else None
        close = get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6) if model else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key ({hint}check the spelling; see the config reference in README.md)"
    if kind == "missing":
        return "required key is missing"
    if kind.startswith(("date_", "time_")):
        example = "a date such as 2026-01-07" if kind.startswith("date_") else "a time such as 17:00:00"
        detail = msg.split(", ", 1)[1] if ", " in msg else ""
        msg = f"expected {example}" + (f" ({detail})" if detail else "")
    msg = re.sub(r"^Value error, ", "", msg)
    if "input" in error and not isinstance(error["input"], (dict, list)) and repr(error["input"]) not in msg:
        return f"{msg} (got {error['input']!r})"
    return msg


def _environment_overrides(p: Path, data: Any) -> Any:
    """``$CHATBOT_STATE_DIR`` and ``$CHATBOT_WEB`` over the file's ``[bot] state_dir`` and ``[web]``."""
    if not isinstance(data, dict):
        return data
    state = os.environ.get(STATE_DIR_ENV)
    web = os.environ.get(WEB_ENV)
    if state and isinstance(data.get("bot", {}), dict):
        data = {**data, "bot": {**data.get("bot", {}), "state_dir": str(Path(state).absolute())}}
    if web:
        host, sep, port = web.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"${WEB_ENV}: expected HOST:PORT such as 0.0.0.0:8080, got {web!r}")
        section = data.get("web") or {}
        if isinstance(section, dict):
            data = {**data, "web": {**section, "enabled": True, "host": host.strip("[]"), "port": int(port)}}
    return data


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; raise ConfigError naming file, key and problem."""
    p = Path(path) if path is not None else default_config_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (pass --config PATH or set {CONFIG_ENV})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    data = _environment_overrides(p, data)
    model = schema().config
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            text = _explain(dict(err), model)
            # model-level checks put the key in the message itself
            if err["loc"] == () and re.match(r"^[\w\[\].]+: ", text):
                problems.append(f"{p}: {text}")
            else:
                problems.append(f"{p}: {_loc(err['loc'])}: {text}")
        # every problem, one per line: fixing them one run at a time is no way to learn a config
        raise ConfigError("\n".join(problems)) from None
    config._path = p.resolve()
    for i, meeting in enumerate(config.meetings):
        tpl = meeting.notes.template
        if tpl is not None and not config.resolve(tpl).is_file():
            raise ConfigError(f"{p}: meetings[{i}].notes.template: template file not found: {config.resolve(tpl)}")
    return config
