"""The Zulip backend's commands: a message for the bot (DM or mention) run through the core and
answered where it came from, within the conversation's rate limit."""

from __future__ import annotations

import logging
from typing import Any

from ...commands import top_words
from ...messages import error
from ..base import BackendError
from .wire import (
    DONE_RE,
    command_in,
    conversation_key,
    multi_line_refusal,
)
from .render import mention_syntax, stream_to
from .interactions import ZulipInteractions

log = logging.getLogger("chatbot.backends.zulip")


class ZulipCommands(ZulipInteractions):
    def command_text(self, content: str, require_mention: bool, flags: list[str] | None = None) -> str | None:
        """The command in a message for the bot, or None (``wire.command_in``)."""
        return command_in(content, require_mention, self._is_me, flags)

    def on_message(self, msg: dict[str, Any], flags: list[str] | None) -> bool:
        """Answer the message if it is a command for the bot; True if it was one."""
        me = self._me or {}
        if (
            str(msg.get("sender_id")) == str(me.get("user_id"))
            or (msg.get("sender_email") or "").lower() == str(me.get("email", "")).lower()
        ):
            return False  # our own messages come back through the queue too
        content = msg.get("content") or ""
        kind = msg.get("type")
        if kind == "stream":
            stream = msg.get("display_recipient")
            topic = msg.get("subject") or msg.get("topic") or ""
            text = self.command_text(content, require_mention=True, flags=flags)
            if text is None:
                return False
            place = stream if isinstance(stream, str) else None
            meeting_id = self.meeting_for(place)
            # by id: a renamed stream, or one named like a number, still gets the answer
            stream_id = msg.get("stream_id")
            to = stream_id if isinstance(stream_id, int) else stream_to(str(stream))
            target: dict[str, Any] = {"type": "stream", "to": to, "topic": topic}
            where = f"#{stream} > {topic}"
            mentioned = True
        elif kind in ("private", "direct"):
            people = [r for r in (msg.get("display_recipient") or []) if isinstance(r, dict)]
            others = [r["email"] for r in people if str(r.get("id")) != str(me.get("user_id")) and r.get("email")]
            text = self.command_text(content, require_mention=len(others) > 1, flags=flags)
            if text is None:
                return False
            meeting_id = place = None
            target = {"type": "private", "to": others or [msg.get("sender_email")]}
            where = "a direct message"
            mentioned = len(others) > 1
        else:
            return False
        if self._sender_is_bot(msg):
            log.info(
                "Zulip: ignored a command from the bot %s in %s (bots are not answered)", msg.get("sender_email"), where
            )
            return False
        conversation = (target["type"], str(target["to"]), target.get("topic", ""))
        if not self.limiter.allow(conversation):
            log.warning(
                "Zulip: not running a command of %s in %s: more than %d commands in a row in this "
                "conversation (one more every %.0f s)",
                msg.get("sender_email"),
                where,
                self.limiter.burst,
                self.limiter.refill,
            )
            if self.limiter.first_refusal(conversation):
                notice = error(
                    f"too many commands in this conversation at once: this one was not run, nor will "
                    f"be any more in the next few seconds (at most {self.limiter.burst} in a row, then "
                    f"one every {self.limiter.refill:g} s). Send it again in a minute."
                )
                try:
                    self.send_long(target, ":warning: " + self.render(notice), f"the rate-limit notice in {where}")
                except BackendError as exc:
                    log.error("Zulip: %s", exc)
            return False
        sender = self._sender(msg)
        log.info("Zulip: command from %s in %s: %r", msg.get("sender_email"), where, text[:80])
        lost = multi_line_refusal(content, text)
        text = " ".join(text.split())  # one line ("agenda add" and its text may be on two lines)
        # the answer is part of the command: a stop waits for it too (the edit may have landed)
        with self._busy:
            if self._stopping.is_set():
                return False
            # where a command needs the bot's mention, the help says so: `@**Agenda Bot** agenda add TEXT`
            bot_name = str(me.get("full_name") or "")
            spelled = (
                {w: f"{mention_syntax(bot_name, None)} {w}" for w in top_words() if w != "help"}
                if mentioned and bot_name.strip()
                else None
            )
            allowed = self.bot.config.bot.allowed_places
            listed_in = conversation_key(target, place)
            done = (
                self._done_reply(text, listed_in, sender)
                if not lost and (place is None or not allowed or place in allowed)
                else None
            )
            bare = text.strip().lstrip("/")
            if done is None and DONE_RE.match(bare) and bare.lower().startswith("done"):
                text = "actions " + bare  # `done N` with no list here: N as `actions` numbers them
            if done is not None:
                answer = done
            elif lost:  # never keep the first line and drop the rest, nor run lines together
                answer = error(lost)
            else:
                answer = self.bot.handle(
                    text,
                    sender,
                    meeting_id,
                    allow_unknown=self.settings.allow_unknown_users,
                    place=place,
                    spelled=spelled,
                )
            content = self.render(answer)
            if not answer.ok:
                content = ":warning: " + content
            try:
                sent = self.send_long(target, content, f"the answer in {where}")
            except BackendError as exc:
                log.error("Zulip: %s", exc)
            else:
                if answer.actions:  # an `actions` list: a reaction or `done N` acts on its items
                    try:
                        listed_meeting = self.bot.config.meeting(meeting_id).id
                    except KeyError:
                        listed_meeting = None
                    if listed_meeting:
                        self.remember_listing(sent, answer, listed_meeting, listed_in)
        return True
