"""The Zulip backend's commands: a message for the bot (DM or mention) given to the core's inbox
(:mod:`chatbot.inbox`: rate, place, `done N`, parse, run) and answered where it came from."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ...commands import top_words
from ...inbox import Answer, Incoming
from ..base import BackendError
from .wire import (
    command_in,
    conversation_key,
    multi_line_refusal,
)
from .render import mention_syntax, stream_to
from .interactions import ZulipInteractions

log = logging.getLogger("chatbot.backends.zulip")


@dataclass
class Addressed:
    """A message for the bot: the command's text as typed, and where it came from."""

    text: str
    target: dict[str, Any]  # where the answer goes (a send request without its content)
    where: str  # for log lines: `#stream > topic`, `a direct message`
    place: str | None  # the stream's name (None: a direct message)
    meeting_id: str | None  # the stream's meeting
    mentioned: bool  # the bot had to be mentioned here

    @property
    def listed_in(self) -> str:
        """The conversation's key for the action items listed in it (``done N`` looks there)."""
        return conversation_key(self.target, self.place)


class ZulipCommands(ZulipInteractions):
    """A message for the bot: who it is addressed to, its Incoming for the inbox, the answer sent."""

    def command_text(self, content: str, require_mention: bool, flags: list[str] | None = None) -> str | None:
        """The command in a message for the bot, or None (``wire.command_in``)."""
        return command_in(content, require_mention, self._is_me, flags)

    def on_message(self, msg: dict[str, Any], flags: list[str] | None) -> bool:
        """Answer the message if it is a command for the bot; True if it was one (and ran)."""
        if self._is_own(msg):
            return False  # our own messages come back through the queue too
        cmd = self._addressed(msg, flags)
        if cmd is None:
            return False
        if self._sender_is_bot(msg):
            log.info(
                "Zulip: ignored a command from the bot %s in %s (bots are not answered)",
                msg.get("sender_email"),
                cmd.where,
            )
            return False
        incoming = Incoming(
            " ".join(cmd.text.split()),  # one line ("agenda add" and its text may be on two lines)
            lambda: self._sender(msg),  # asked only when the conversation's rate lets it run
            cmd.meeting_id,
            cmd.place,
            conversation=cmd.listed_in,
            unreadable=multi_line_refusal(msg.get("content") or "", cmd.text),
            allow_unknown=self.settings.allow_unknown_users,
            spelled=self._spelled(cmd),
        )
        # the answer is part of the command: a stop waits for it too (the edit may have landed)
        with self._busy:
            if self._stopping.is_set():
                return False
            answer = self.inbox.take(incoming)
            if answer.kind == "rate limited":
                if not answer.quiet:
                    self._send_answer(cmd, answer)
                return False
            log.info(
                "Zulip: command from %s in %s: %r: %s", msg.get("sender_email"), cmd.where, cmd.text[:80], answer.kind
            )
            self._show_picked(answer)
            self._send_answer(cmd, answer)
        return True

    def _is_own(self, msg: dict[str, Any]) -> bool:
        me = self._me or {}
        return (
            str(msg.get("sender_id")) == str(me.get("user_id"))
            or (msg.get("sender_email") or "").lower() == str(me.get("email", "")).lower()
        )

    def _addressed(self, msg: dict[str, Any], flags: list[str] | None) -> Addressed | None:
        """The command in a stream message that mentions the bot, or in a direct message (in a
        group DM only with a mention), and where to answer it; None: not a command for the bot."""
        me = self._me or {}
        content = msg.get("content") or ""
        kind = msg.get("type")
        if kind == "stream":
            stream = msg.get("display_recipient")
            topic = msg.get("subject") or msg.get("topic") or ""
            text = self.command_text(content, require_mention=True, flags=flags)
            if text is None:
                return None
            place = stream if isinstance(stream, str) else None
            # by id: a renamed stream, or one named like a number, still gets the answer
            stream_id = msg.get("stream_id")
            to = stream_id if isinstance(stream_id, int) else stream_to(str(stream))
            target: dict[str, Any] = {"type": "stream", "to": to, "topic": topic}
            return Addressed(text, target, f"#{stream} > {topic}", place, self.meeting_for(place), True)
        if kind in ("private", "direct"):
            people = [r for r in (msg.get("display_recipient") or []) if isinstance(r, dict)]
            others = [r["email"] for r in people if str(r.get("id")) != str(me.get("user_id")) and r.get("email")]
            text = self.command_text(content, require_mention=len(others) > 1, flags=flags)
            if text is None:
                return None
            target = {"type": "private", "to": others or [msg.get("sender_email")]}
            return Addressed(text, target, "a direct message", None, None, len(others) > 1)
        return None

    def _spelled(self, cmd: Addressed) -> dict[str, str] | None:
        """Where a command needs the bot's mention, the help says so: `@**Agenda Bot** agenda add TEXT`."""
        bot_name = str((self._me or {}).get("full_name") or "")
        if not (cmd.mentioned and bot_name.strip()):
            return None
        return {w: f"{mention_syntax(bot_name, None)} {w}" for w in top_words() if w != "help"}

    def _send_answer(self, cmd: Addressed, answer: Answer) -> None:
        """Send the answer where the command came from; an `actions` list is remembered, so a
        reaction or `done N` acts on its items."""
        content = self.render(answer.message)
        if not answer.ok:
            content = ":warning: " + content
        try:
            sent = self.send_long(cmd.target, content, f"the answer in {cmd.where}")
        except BackendError as exc:
            log.error("Zulip: %s", exc)
            return
        if answer.listed or answer.reviewed:  # a list: a reaction or `done N` acts on its items
            try:
                listed_meeting = self.bot.config.meeting(cmd.meeting_id).id
            except KeyError:
                listed_meeting = None
            if listed_meeting:
                self.remember_listing(sent, answer.message, listed_meeting, cmd.listed_in)
