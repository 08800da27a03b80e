"""The inbound seam: every command a person sends, from any platform, taken the same way.

A backend turns what it received (a Slack slash command, a Zulip message, a console line, a
button, a reaction) into an :class:`Incoming` (text, who sent it, where, in which conversation,
whether it was for the bot, the platform's delivery id) and gives it to its :class:`Inbox`, which
does each step once, in this order:

1. not for the bot (``addressed`` false): nothing to do;
2. a delivery seen before (``delivery``, through the backend's ``first_delivery``): not again;
3. the conversation's rate (``conversation``, a :class:`RateLimiter`): past it, the command is
   not run and the conversation is told once;
4. the text the platform could not read as one command (``unreadable``): said so;
5. the meeting, and the place (``[bot] allowed_places``; direct messages always);
6. a reply to a listing in this conversation (``done N``, ``track N``): the item shown as N then
   (:mod:`chatbot.listings`);
7. parse (:func:`commands.parse`) and run (:func:`commands.run`); refusals become answers.

The result is an :class:`Answer`: the message, the kind of answer (for logs and for how the
platform shows it) and the items it lists (for ``done N``, reactions and buttons). The backend
renders and sends it. Nothing here knows a platform.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import commands
from .config import UnknownMeeting
from .context import Call, Context
from .identity import Refused, Sender
from .listings import Item, Listings, Pick, as_typed, listed_items, review_items
from .messages import Message, error
from .notes.edit import EditError
from .notes.parse import NotesError

log = logging.getLogger(__name__)

# Commands per conversation (a stream's topic, a direct-message group): this many at once, then
# one more every RATE_REFILL seconds. Another bot (or a script) that is not flagged as a bot
# cannot make the bot talk without end; people never type that fast.
RATE_BURST = 30
RATE_REFILL = 1.0  # seconds

Kind = Literal[
    "ok",  # the command ran
    "bad input",  # no command, wrong arguments, an unknown meeting, text the platform could not read
    "refused",  # the command may not run for this person, or refused what it was asked
    "notes error",  # the notes could not be read or edited (EditError, NotesError)
    "not here",  # commands are not accepted in this place
    "rate limited",  # too many commands in this conversation: not run
    "redelivered",  # the platform delivered it again: acted on once already
    "not addressed",  # not a command for the bot
]


@dataclass(frozen=True)
class Incoming:
    """One message for the bot, as the backend received it."""

    text: str  # the command as typed (the platform's markup undone)
    sender: Sender | Callable[[], Sender]  # who, or how to find out (asked only when the command may run)
    meeting_id: str | None = None  # the meeting of the place it came from (None: the default)
    place: str | None = None  # the channel or stream (None: a direct message, the console)
    conversation: str | None = None  # where answers go, for the rate limit and `done N` (None: neither)
    addressed: bool = True  # for the bot (a direct message, a mention, a slash command)
    delivery: str | None = None  # the platform's id of this delivery, to act on it once
    unreadable: str | None = None  # why the platform could not read the text as one command
    allow_unknown: bool = False  # people not in the roster may run "member" commands
    spelled: Mapping[str, str] | None = None  # how people type the core commands here (for hints)


@dataclass
class Answer:
    """What the bot says to an :class:`Incoming`, and what it listed."""

    message: Message
    kind: Kind
    command: tuple[str, ...] | None = None  # the words of the command that ran (None: none ran)
    sender: Sender | None = None  # whom it ran for
    picked: Pick | None = None  # the listed item a reply acted on (the platform may show it done)
    quiet: bool = False  # nothing to say (a redelivery, a repeated rate-limit refusal)
    listed: list[Item] = field(default_factory=list)  # the open action items the message lists
    reviewed: list[Item] = field(default_factory=list)  # the candidates it asks the chair about

    def __post_init__(self) -> None:
        self.listed = self.listed or listed_items(self.message)
        self.reviewed = self.reviewed or review_items(self.message)

    @property
    def ok(self) -> bool:
        return self.message.ok


class RateLimiter:
    """A token bucket per conversation: ``burst`` commands at once, then one per ``refill`` s."""

    def __init__(self, burst: int = RATE_BURST, refill: float = RATE_REFILL, clock=time.monotonic):
        self.burst, self.refill, self.clock = burst, refill, clock
        self._buckets: dict[Any, tuple[float, float]] = {}
        self._told: set[Any] = set()  # conversations told about the limit since their last command ran

    def first_refusal(self, key: Any) -> bool:
        """True once per run of refused commands: the conversation is told, once, why."""
        if key in self._told:
            return False
        self._told.add(key)
        return True

    def allow(self, key: Any) -> bool:
        now = self.clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.refill)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        if allowed:
            self._told.discard(key)
        if len(self._buckets) > 10000:  # forget conversations whose bucket is full again
            full = [k for k, (n, a) in self._buckets.items() if n + (now - a) / self.refill >= self.burst]
            for k in full:
                del self._buckets[k]
                self._told.discard(k)
        return allowed

    def refusal(self, key: Any) -> Answer:
        """The answer to a command past the rate: said once per run of refusals."""
        notice = error(
            f"too many commands in this conversation at once: this one was not run, nor will "
            f"be any more in the next few seconds (at most {self.burst} in a row, then "
            f"one every {self.refill:g} s). Send it again in a minute."
        )
        return Answer(notice, "rate limited", quiet=not self.first_refusal(key))


class Inbox:
    """The steps every incoming command goes through (see the module's doc), once.

    ``first_delivery`` says whether a delivery id is new (the backend's, ledger-backed);
    ``limiter`` keeps the rate per conversation; ``listings`` what the bot's messages listed."""

    def __init__(
        self,
        context: Context,
        first_delivery: Callable[[str], bool] | None = None,
        limiter: RateLimiter | None = None,
        listings: Listings | None = None,
    ):
        self.context = context
        self.first_delivery = first_delivery
        self.limiter = limiter
        self.listings = listings

    def take(self, incoming: Incoming) -> Answer:
        """The answer to ``incoming``; never raises for bad input (the bot's own faults do)."""
        if not incoming.addressed:
            return Answer(Message(), "not addressed", quiet=True)
        if incoming.delivery and self.first_delivery and not self.first_delivery(incoming.delivery):
            log.info("delivery %s was handled already: not acted on again", incoming.delivery)
            return Answer(Message(), "redelivered", quiet=True)
        conversation = incoming.conversation
        if conversation is not None and self.limiter is not None and not self.limiter.allow(conversation):
            log.warning(
                "not running a command in %s: more than %d commands in a row in this conversation "
                "(one more every %.0f s)",
                conversation,
                self.limiter.burst,
                self.limiter.refill,
            )
            return self.limiter.refusal(conversation)
        sender = incoming.sender if isinstance(incoming.sender, Sender) else incoming.sender()
        if incoming.unreadable:  # never keep the first line and drop the rest, nor run lines together
            return Answer(error(incoming.unreadable), "bad input")
        config = self.context.config
        try:
            meeting = config.meeting(incoming.meeting_id)
        except UnknownMeeting as exc:
            return Answer(error(str(exc)), "bad input")
        allowed = config.bot.allowed_places
        if incoming.place is not None and allowed and incoming.place not in allowed:
            log.info("command from %s refused in %s (not in bot.allowed_places)", sender.platform, incoming.place)
            return Answer(
                error(
                    "commands are not accepted here; use a direct message to the bot or one of the "
                    "channels the maintainers allowed"
                ),
                "not here",
            )
        text = incoming.text
        if conversation is not None:  # `done N` / `track N` answering a list in this conversation
            pick = self.listings.reply(text, conversation) if self.listings is not None else None
            if pick is not None:
                log.info(
                    "%s answers message %s: %s item %s",
                    sender.user_id,
                    pick.listing["message"],
                    *pick.words[1:],
                    pick.item["id"],
                )
                return self.pick(pick, sender)
            text = as_typed(text)
        call = Call(self.context, meeting, sender, incoming.allow_unknown, incoming.spelled)
        try:
            parsed = commands.parse(text, incoming.spelled)
        except Refused as exc:
            return Answer(exc.message, "bad input")
        return self.run(call, parsed.command, parsed.args)

    def run(self, call: Call, command: commands.Command, args: Mapping[str, Any]) -> Answer:
        """Run a parsed command for ``call``; refusals and notes problems become the answer."""
        try:
            message = commands.run(call, command, args)
        except Refused as exc:
            return Answer(exc.message, "refused", command.words, call.sender)
        except (EditError, NotesError) as exc:
            log.info("command %r refused: %s", " ".join(command.words), exc)  # the person is told
            return Answer(error(str(exc)), "notes error", command.words, call.sender)
        return Answer(message, "ok" if message.ok else "refused", command.words, call.sender)

    def run_words(self, words: tuple[str, ...], sender: Sender, meeting_id: str | None = None, **args: Any) -> Answer:
        """Run the command ``words`` with typed arguments (the CLI, a button); UnknownMeeting
        for a meeting the config does not have."""
        meeting = self.context.config.meeting(meeting_id)
        command = next(c for c in commands.COMMANDS if c.words == words)
        return self.run(Call(self.context, meeting, sender), command, args)

    def on_item(self, words: tuple[str, ...], sender: Sender, meeting_id: str | None, item: str) -> Answer:
        """A command on one item by its stable id (a button, a reaction, ``done N`` on a list):
        the command's permission rules; a meeting that left the config is said so."""
        try:
            return self.run_words(words, sender, meeting_id, item=item)
        except UnknownMeeting:
            gone = error(f"the meeting {meeting_id!r} of that message is no longer configured")
            return Answer(gone, "bad input", sender=sender)

    def pick(self, pick: Pick, sender: Sender) -> Answer:
        """Act on a listed item (``done N``, a reaction): its command by id, the pick kept in
        the answer so the platform can show the item done."""
        answer = self.on_item(pick.words, sender, pick.listing["meeting"], pick.item["id"])
        answer.picked = pick
        return answer
