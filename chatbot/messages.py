"""Platform-neutral messages.

The core never writes Slack mrkdwn or Zulip Markdown. It builds a :class:`Message` out of
segments that say *what* a piece of text is (bot text, text a user typed, a moment in time,
a link, a person) and each backend renders them its own way: escaping user text, turning a
:class:`Time` into ``<!date^…>`` or ``<time:…>``, a :class:`Mention` into a real mention.

:func:`render_plain` is the rendering for terminals and logs (the console backend, the CLI).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol, TYPE_CHECKING
from collections.abc import Callable, Mapping

from .config import Person

if TYPE_CHECKING:
    from .schedule import Occurrence

UTC = dt.UTC


@dataclass(frozen=True)
class Text:
    """Text the bot wrote itself."""

    text: str
    bold: bool = False


@dataclass(frozen=True)
class UserText:
    """Text a person typed (agenda items, names): backends must neutralize markup and mentions."""

    text: str


@dataclass(frozen=True)
class Time:
    """A moment; chat platforms render it in each reader's own time zone."""

    at: dt.datetime  # aware
    fallback: str  # how to show it where the platform cannot (already in words)


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class Mention:
    """A person to notify; backends use the roster's platform id, or fall back to the name."""

    person: Person


Segment = Text | UserText | Time | Link | Mention
Line = tuple[Segment, ...]
Kind = Literal["reply", "error", "reminder", "notice"]


@dataclass
class Message:
    lines: list[Line] = field(default_factory=list)
    kind: Kind = "reply"
    # The reply is for the person who asked (privately where the platform can); this short
    # note is for everyone in the meeting's channel ("JRG added an agenda item").
    announcement: Message | None = None
    # The meeting occurrence the message is about (a reminder, a ping, a nudge): platforms
    # that file messages by meeting (Zulip topics) use it.
    about: Occurrence | None = None
    # The change was made but not all of it went through (not committed or pushed to Git, a
    # copy not ticked): each reason. Chat shows them as "⚠" lines; the CLI exits non-zero.
    warnings: list[str] = field(default_factory=list)
    # Lines that show one open action item: line index -> the item's stable id
    # (chatbot.action_commands.item_id). Platforms with buttons offer "Done" / "Next meeting"
    # on those lines; every other renderer ignores this and shows the line as it is.
    actions: dict[int, str] = field(default_factory=dict)
    # Lines that show a candidate action item the chair is asked about (chatbot.review): line
    # index -> the item's stable id. Platforms offer "Track" / "Not an action item" there.
    reviews: dict[int, str] = field(default_factory=dict)

    def add(self, *segments: Segment | str, action: str | None = None, review: str | None = None) -> Message:
        """Append a line; ``action`` names the open action item it shows (see ``actions``),
        ``review`` the candidate the chair decides on (see ``reviews``)."""
        self.lines.append(tuple(Text(s) if isinstance(s, str) else s for s in segments))
        if action is not None:
            self.actions[len(self.lines) - 1] = action
        if review is not None:
            self.reviews[len(self.lines) - 1] = review
        return self

    @property
    def ok(self) -> bool:
        return self.kind != "error"


def error(text: str, *more: Segment | str) -> Message:
    return Message(kind="error").add(text, *more)


def reply(*segments: Segment | str) -> Message:
    return Message().add(*segments)


def format_utc(at: dt.datetime) -> str:
    return at.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC")


_MASS = re.compile(r"(?i)@(channel|here|everyone|all|stream|topic)\b")


def plain_user_text(text: str) -> str:
    """User text for plain output: mass mentions are shown but defused (a zero-width space)."""
    return _MASS.sub(lambda m: "@\u200b" + m.group(1), text)


class Renderer(Protocol):
    """How one platform shows each kind of segment: one method per kind, so a new kind of
    segment is a type error in every renderer, never silently dropped."""

    def text(self, seg: Text) -> str: ...

    def user_text(self, seg: UserText) -> str: ...

    def time(self, seg: Time) -> str: ...

    def link(self, seg: Link) -> str: ...

    def mention(self, seg: Mention) -> str: ...


def render_segment(renderer: Renderer, seg: Segment) -> str:
    if isinstance(seg, Text):
        return renderer.text(seg)
    if isinstance(seg, UserText):
        return renderer.user_text(seg)
    if isinstance(seg, Time):
        return renderer.time(seg)
    if isinstance(seg, Link):
        return renderer.link(seg)
    if isinstance(seg, Mention):
        return renderer.mention(seg)
    raise TypeError(f"no rendering for a {type(seg).__name__} segment")


def render(renderer: Renderer, message: Message) -> str:
    """The message's lines, each segment rendered by ``renderer``."""
    return "\n".join("".join(render_segment(renderer, seg) for seg in line) for line in message.lines)


class PlainRenderer:
    """Terminals and logs."""

    def text(self, seg: Text) -> str:
        return f"*{seg.text}*" if seg.bold else seg.text

    def user_text(self, seg: UserText) -> str:
        return plain_user_text(seg.text)

    def time(self, seg: Time) -> str:
        return seg.fallback

    def link(self, seg: Link) -> str:
        return f"{seg.label} <{seg.url}>" if seg.label and seg.label != seg.url else seg.url

    def mention(self, seg: Mention) -> str:
        return f"@{seg.person.initials}"


PLAIN = PlainRenderer()


def render_plain(message: Message) -> str:
    return render(PLAIN, message)


def _cut_after_space(line: str, limit: int) -> str:
    return line[: (line.rfind(" ", 0, limit) + 1 or limit)]


def split_long(
    text: str,
    limit: int,
    length: Callable[[str], int] = len,
    cut: Callable[[str, int], str] = _cut_after_space,
) -> list[str]:
    """``text`` as parts of at most ``limit`` (as ``length`` counts), for platforms that keep
    only so much of one message: split between lines, a single longer line cut by
    ``cut(line, limit)`` (default: after the last space that fits, else at the limit).
    Nothing is dropped: joined with newlines, the parts are the text."""
    pieces: list[str] = []
    for line in text.split("\n"):
        while length(line) > limit:
            head = cut(line, limit) or line[:limit]
            pieces.append(head)
            line = line[len(head) :]
        pieces.append(line)
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        if current is not None and length(current) + 1 + length(piece) <= limit:
            current += "\n" + piece
        else:
            if current is not None:
                chunks.append(current)
            current = piece
    chunks.append(current or "")
    return chunks


def spell(usage: str, spelled: Mapping[str, str] | None) -> str:
    """A command as people type it on this platform: ``agenda add TEXT`` -> ``/agenda add TEXT``
    with ``spelled = {"agenda": "/agenda"}``; ``help`` -> ``/agenda help``."""
    word, _, rest = usage.partition(" ")
    if spelled and word == "help" and "agenda" in spelled:
        return f"{spelled['agenda']} help"  # e.g. Slack: '/agenda help'
    if spelled and word in spelled:
        return f"{spelled[word]} {rest}".strip()
    return usage
