"""Every command the bot understands, declared once.

A :class:`Command` says its words (``agenda add``), aliases, typed arguments, a one-line
help, who may run it and its handler. Everything else is derived from :data:`COMMANDS`:
parsing chat text (:func:`parse`), the help, the hints after a mistyped command,
:func:`looks_like_command`, the words each platform spells (Slack's slash commands, Zulip's
mention) and the CLI's ``agenda``/``actions`` sub-commands, which call the handlers with typed
arguments (:meth:`Bot.run`).

To add a command: write its handler (``handler(call, **args) -> Message``, raising
:class:`~chatbot.identity.Refused` to refuse) and declare it below.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from collections.abc import Callable, Mapping

from . import action_add, action_commands, agenda, review
from .config import Meeting
from .identity import Identity, Refused, Sender, identify
from .messages import Message, Text, UserText, error, reply

if TYPE_CHECKING:
    from .bot import Bot

log = logging.getLogger(__name__)

# who may run a command: anyone; "member": someone the roster knows (or, with
# allow_unknown_users, anyone with a display name: their initials are made from it);
# "roster": someone the roster knows
Who = Literal["anyone", "member", "roster"]


@dataclass(frozen=True)
class Arg:
    name: str  # as shown in usages: TEXT, N
    kind: type  # str: the rest of the line; int: a positive whole number
    help: str
    invalid: str = ""  # the answer to a missing or malformed value (core spelling)
    param: str = ""  # the handler's parameter (default: the name in lower case)

    @property
    def key(self) -> str:
        return self.param or self.name.lower()


@dataclass(frozen=True)
class Option:
    """A CLI-only option of a command (``--date``), passed to its handler as a keyword
    argument when given; chat text never sets it."""

    flag: str  # "--date"
    kind: type  # dt.date: YYYY-MM-DD
    help: str
    param: str  # the handler's parameter

    @property
    def key(self) -> str:
        return self.param


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("agenda", "add")
    help: str
    handler: Callable[..., Message]
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()  # other spellings of the last word
    who: Who = "anyone"
    cli: bool = True  # offered as a CLI sub-command (under its first word)
    help_note: str = ""  # shown after the help in the CLI
    hidden: bool = False  # run by buttons and reactions (Bot.run), never typed: no help, no CLI, no parsing
    options: tuple[Option, ...] = ()  # CLI only

    @property
    def usage(self) -> str:
        return " ".join(self.words + tuple(a.name for a in self.args))


@dataclass
class Call:
    """One command being run: for whom, about which meeting, and how the platform spells
    commands (for hints)."""

    bot: Bot
    meeting: Meeting
    sender: Sender
    allow_unknown: bool = False
    spelled: Mapping[str, str] | None = None
    who: Who = "anyone"
    _identity: Identity | None = field(default=None, repr=False)

    def identity(self) -> Identity:
        """The person running the command (Refused for someone the bot does not know)."""
        if self._identity is None:
            self._identity = identify(self.bot.config, self.sender, self.allow_unknown and self.who == "member")
        return self._identity


def help_command(call: Call) -> Message:
    msg = reply(Text(f"{call.meeting.name} bot", bold=True), " — commands:")
    for c in HELP_ORDER:
        msg.add(f"• `{spell(c.usage, call.spelled)}`: {c.help}")
    return msg


def _next(call: Call) -> Message:
    return call.bot.next_message(call.meeting)


N_AGENDA = Arg(
    "N",
    int,
    "the item's number in the agenda list",
    "say which item to remove by its number, e.g. `agenda remove 2` (see `agenda list`)",
    "number",
)
N_ACTION = Arg(
    "N",
    int,
    "the item's number in the actions list",
    "say which item by its number, e.g. `actions done 2` (see `actions`)",
    "number",
)
N_REVIEW = Arg(
    "N",
    int,
    "the item's number in `actions review`",
    "say which item by its number, e.g. `actions track 2` (see `actions review`)",
    "number",
)

COMMANDS: tuple[Command, ...] = (
    Command(
        ("agenda", "add"),
        "add an item to the next meeting's agenda",
        agenda.add,
        (Arg("TEXT", str, "the agenda item"),),
        who="member",
    ),
    Command(("agenda", "list"), "show the next meeting's agenda", agenda.list_, aliases=("ls", "show")),
    Command(
        ("agenda", "remove"),
        "remove item N (your own items; admins: any)",
        agenda.remove,
        (N_AGENDA,),
        aliases=("rm", "delete"),
        who="roster",
        help_note="Only its owner or an admin may (with [bot] editors set: only an editor or an admin).",
    ),
    Command(("next",), "when the next meeting is, in several time zones", _next, cli=False),
    Command(
        ("actions",),
        "open action items from past meetings",
        action_commands.list_all,
        aliases=("list", "all"),
        cli=False,
    ),
    Command(("actions", "mine"), "your open action items", action_commands.mine, who="member"),
    Command(
        ("actions", "done"),
        "tick action item N (as numbered by `actions`) in its notes file",
        action_commands.done,
        (N_ACTION,),
        who="roster",
        help_note="Only an owner or an admin may (with [bot] editors set: only an editor or an admin).",
    ),
    Command(
        ("actions", "add"),
        "write an action item into the notes of the meeting in progress (or held earlier today)",
        action_add.add,
        (
            Arg(
                "OWNER: TEXT",
                str,
                "who owns it (initials or @github-handle), a colon, and what is to be done",
                param="text",
            ),
        ),
        who="member",
        options=(
            Option(
                "--date",
                dt.date,
                "the meeting date (YYYY-MM-DD) of a meeting held earlier, whose notes exist "
                "(default: the meeting in progress or held earlier today)",
                "day",
            ),
        ),
        help_note="OWNER: initials the roster or the notes' attendee list knows, or a GitHub @handle "
        "(several: 'JRG, JL: …'). The item goes into the notes' Action items section (added at the end "
        "if there is none).",
    ),
    Command(
        ("actions", "review"),
        "the last meeting's candidate action items, for the chair to track or reject",
        review.review_list,
        cli=False,  # the CLI's `actions review` has options of its own (cli.cmd_review)
    ),
    Command(
        ("actions", "track"),
        "chair: keep chasing candidate N of `actions review` (its owners are pinged)",
        review.track,
        (N_REVIEW,),
        who="roster",
        cli=False,
    ),
    Command(
        ("actions", "reject"),
        "chair: candidate N of `actions review` is not an action item (never pinged)",
        review.reject,
        (N_REVIEW,),
        who="roster",
        cli=False,
    ),
    Command(("help",), "this help", help_command, cli=False),
    Command(
        ("actions", "done-item"),
        "tick the action item a button or reaction names",
        action_commands.done_item,
        (Arg("ITEM", str, "the item's id (action_commands.item_id)", param="item"),),
        who="roster",
        cli=False,
        hidden=True,
    ),
    Command(
        ("actions", "carry"),
        "carry an action item into the next meeting's notes",
        action_commands.carry,
        (Arg("ITEM", str, "the item's id (action_commands.item_id)", param="item"),),
        who="roster",
        cli=False,
        hidden=True,
    ),
)
COMMANDS += tuple(
    Command(
        ("actions", f"{word}-item"),
        f"{word} the candidate action item a button, reaction or reply names",
        handler,
        (Arg("ITEM", str, "the item's id (actions.item_id)", param="item"),),
        who="roster",
        cli=False,
        hidden=True,
    )
    for word, handler in (("track", review.track_item), ("reject", review.reject_item))
)
HELP_ORDER = tuple(c for c in COMMANDS if not c.hidden)
WORD_ALIASES = {"action": "actions"}  # other spellings of a first word


def top_words() -> tuple[str, ...]:
    """The first words of the commands, in declaration order (``agenda``, ``next``, …)."""
    return tuple(dict.fromkeys(c.words[0] for c in COMMANDS))


def subcommands(word: str) -> list[Command]:
    return [c for c in COMMANDS if c.words[0] == word and len(c.words) == 2 and not c.hidden]


def looks_like_command(text: str) -> bool:
    """Whether ``text`` starts with one of the bot's command words (``/`` optional)."""
    first = (text or "").strip().lstrip("/").split(maxsplit=1)
    return bool(first) and first[0].lower() in set(top_words()) | set(WORD_ALIASES)


def spell(usage: str, spelled: Mapping[str, str] | None) -> str:
    """A command as people type it on this platform: ``agenda add TEXT`` -> ``/agenda add TEXT``
    with ``spelled = {"agenda": "/agenda"}``; ``help`` -> ``/agenda help``."""
    word, _, rest = usage.partition(" ")
    if spelled and word == "help" and "agenda" in spelled:
        return f"{spelled['agenda']} help"  # e.g. Slack: '/agenda help'
    if spelled and word in spelled:
        return f"{spelled[word]} {rest}".strip()
    return usage


def usages(spelled: Mapping[str, str] | None, *usages_: str) -> str:
    """The usages quoted and joined ("`x`, `y` or `z`"), each in the platform's spelling."""
    quoted = [f"`{spell(u, spelled)}`" for u in usages_]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


@dataclass
class Parsed:
    command: Command
    args: dict[str, Any]


def _typed(command: Command, rest: str) -> dict[str, Any]:
    if not command.args:
        return {}
    (arg,) = command.args  # every command takes at most one argument, the rest of the line
    if arg.kind is int:
        if not re.fullmatch(r"\d{1,6}", rest.strip()):
            raise Refused(arg.invalid or f"`{command.usage}`: {arg.name} must be a number")
        return {arg.key: int(rest.strip())}
    return {arg.key: rest}


def parse(text: str, spelled: Mapping[str, str] | None = None) -> Parsed:
    """The command in chat text and its typed arguments; Refused (with hints in the
    platform's spelling) for text that is no command."""
    words = re.sub(r"^/", "", (text or "").strip())
    first, _, rest = words.partition(" ")
    first = WORD_ALIASES.get(first.lower(), first.lower())
    rest = rest.strip()
    help_ = next(c for c in COMMANDS if c.words == ("help",))
    if first in ("", "help"):
        return Parsed(help_, {})
    subs = subcommands(first)
    bare = next((c for c in COMMANDS if c.words == (first,)), None)
    if not subs and bare is None:
        raise Refused("unknown command '", UserText(first), f"'. Try {usages(spelled, 'help')}.")
    if not subs:
        return Parsed(bare, _typed(bare, rest)) if bare else Parsed(help_, {})
    sub, _, arg = rest.partition(" ")
    sub = sub.lower()
    if not sub:
        return Parsed(bare, {}) if bare else Parsed(help_, {})
    for c in subs:
        if sub == c.words[1] or sub in c.aliases:
            return Parsed(c, _typed(c, arg))
    if bare and sub in bare.aliases:
        return Parsed(bare, {})
    if sub == "help":
        return Parsed(help_, {})
    # the typed word is user text: each platform defuses mentions and markup in it
    listed = [c.usage for c in ([bare] if bare else []) + subs]
    if bare is None:
        listed.append("help")
        raise Refused(f"unknown {first} command '", UserText(sub), f"'. Try {usages(spelled, *listed)}.")
    raise Refused(f"unknown {first} command '", UserText(sub), f"'. Try {usages(spelled, *listed)}.")


def run(call: Call, command: Command, args: Mapping[str, Any]) -> Message:
    """Run a parsed command; refusals become error messages (never raises for bad input)."""
    call.who = command.who
    if command.who != "anyone":
        call.identity()
    return command.handler(call, **args)


__all__ = [
    "Arg",
    "Option",
    "Call",
    "Command",
    "COMMANDS",
    "Parsed",
    "error",
    "looks_like_command",
    "parse",
    "run",
    "spell",
    "top_words",
    "usages",
]
