"""The Zulip backend's sending: places and topics, rendering, long answers split, stream posts
and direct messages, finding a post made before a crash."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from ...bot import Bot
from ...config import Meeting, Person
from ...messages import Message
from ..base import BackendError
from .wire import (
    FEATURE_CHANNEL,
    FEATURE_IS_DM,
    FIND_RECENT,
    FIND_SLACK_SECONDS,
    ServerLimits,
    conversation_key,
    split_content,
)
from .platform import topic_name, zulip_email, zulip_stream
from .render import render_zulip, stream_to
from .identity import ZulipIdentity

log = logging.getLogger("chatbot.backends.zulip")


class ZulipSending(ZulipIdentity):
    """Places, topics, rendering and sending: answers split, stream posts, DMs, listings remembered."""

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self.limits = ServerLimits()  # what the server keeps, as its register answer says

    def meeting_for(self, place: str | None) -> str | None:
        if not place:
            return None
        for m in self.bot.config.meetings:
            stream = zulip_stream(m)
            if stream and stream.strip().lower() == place.strip().lower():
                return m.id
        return None

    def wants(self, meeting: Meeting) -> bool:
        return bool(zulip_stream(meeting))

    def render(self, message: Message) -> str:
        return render_zulip(message, self._lookup_user if self._send_client is not None else None)

    def topic_for(self, meeting: Meeting, message: Message) -> str:
        """``destinations.zulip_topic`` with ``{name}`` and ``{date}``: the start of the meeting
        the message is about (``message.about``), else of the next meeting."""
        if message.about is not None:
            return topic_name(meeting, message.about.start, self.limits.topic)
        try:
            date = self.bot.next_meeting(meeting).start
        except Exception:
            date = self.bot.now()
        return topic_name(meeting, date, self.limits.topic)

    def send(self, request: dict[str, Any], what: str) -> dict[str, Any]:
        """Send one message; rate limits are waited out (as the server asks), connection
        problems retried with back-off; BackendError when it cannot be sent."""
        return self._request(lambda client: client.send_message(request), what)

    def send_long(self, request: dict[str, Any], content: str, what: str) -> list[tuple[int | None, str, int]]:
        """Send ``content`` to where ``request`` says, as several messages when it is longer
        than Zulip keeps (it would cut it), in order. Each part's (message id, text, index of
        its first line in ``content``)."""
        parts = split_content(content, self.limits.message)
        sent = []
        line = 0
        for n, part in enumerate(parts, 1):
            if not part.strip():  # only blank lines, which Zulip refuses as empty: nothing lost
                line += part.count("\n") + 1
                continue
            res = self.send(
                {**request, "content": part}, what if len(parts) == 1 else f"{what} (part {n} of {len(parts)})"
            )
            mid = res.get("id")
            sent.append((mid if isinstance(mid, int) else None, part, line))
            line += part.count("\n") + 1
        return sent

    def post(self, meeting: Meeting, message: Message) -> None:
        stream = zulip_stream(meeting)
        if not stream:
            raise BackendError(f"meeting {meeting.id!r} has no destinations.zulip_stream")
        self._client()
        topic = self.topic_for(meeting, message)
        content = self.render(message)
        target = {"type": "stream", "to": stream_to(stream), "topic": topic}
        sent = self.send_long(target, content, f"the {meeting.id} message to #{stream} > {topic}")
        log.info("Zulip: posted to #%s > %s", stream, topic)
        self.remember_listing(sent, message, meeting.id, conversation_key(target, stream))

    def reaches_directly(self, person: Person) -> bool:
        return bool(zulip_email(person))

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        email = zulip_email(person)
        if not email:
            raise BackendError(f"{person.initials} has no zulip_email in the roster: no direct message")
        self._client()
        target = {"type": "private", "to": [email]}
        sent = self.send_long(target, self.render(message), f"the {meeting.id} direct message to {person.initials}")
        log.info("Zulip: sent a direct message to %s", person.initials)
        self.remember_listing(sent, message, meeting.id, conversation_key(target))

    def intent_data(self, meeting: Meeting, message: Message) -> dict[str, Any]:
        """What :meth:`find_sent` needs to recognise the post after a crash: its content exactly
        as it will be sent, and its topic."""
        self._client()  # as post() does: mentions are rendered with the server's user ids
        return {"text": self.render(message), "topic": self.topic_for(meeting, message)}

    def find_sent(
        self, meeting: Meeting, key: str, since: dt.datetime, data: dict[str, Any], person: Person | None = None
    ) -> bool | None:
        """After a crash: whether the post recorded as an intent at ``since`` (``data["text"]``:
        its content) is on the server: the bot's own recent messages in the meeting's topic (or
        its direct messages with ``person``), ``GET /messages`` with a narrow. Zulip keeps no
        metadata on messages, so the content must match exactly. BackendError when the server
        cannot be asked now; None when it never can (the runner then posts)."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        creds = self.credentials()
        client = self._client()
        level = int(getattr(client, "feature_level", 0) or 0)
        me = {"operator": "sender", "operand": creds["email"]}
        if person is not None and zulip_email(person):  # the runner passes a person for a direct message
            where = f"the direct messages with {person.initials}"
            narrow = [{"operator": "dm" if level >= FEATURE_IS_DM else "pm-with", "operand": [zulip_email(person)]}, me]
        else:
            stream = zulip_stream(meeting)
            if not stream:
                return False
            topic = data.get("topic")
            if not isinstance(topic, str) or not topic:
                return None
            where = f"#{stream} > {topic}"
            narrow = [
                {"operator": "channel" if level >= FEATURE_CHANNEL else "stream", "operand": stream},
                {"operator": "topic", "operand": topic},
                me,
            ]
        with self._send_lock:
            res = client.get_messages(
                {
                    "anchor": "newest",
                    "num_before": FIND_RECENT,
                    "num_after": 0,
                    "narrow": narrow,
                    "apply_markdown": False,
                    "client_gravatar": True,
                }
            )
        if res.get("result") != "success":
            code = res.get("code")
            if (
                code == "RATE_LIMIT_HIT"
                or res.get("result") == "http-error"
                or res.get("status_code") in (429, 500, 502, 503, 504)
            ):
                raise BackendError(f"cannot look for the post in {where}: {self._clean(str(res.get('msg')))}")
            log.warning(
                "Zulip: cannot look for a post made before a crash in %s: %s (%s)",
                where,
                self._clean(str(res.get("msg"))),
                code,
            )
            return None
        oldest = since.timestamp() - FIND_SLACK_SECONDS
        want = text.strip()
        for m in res.get("messages") or []:
            if (
                isinstance(m, dict)
                and (m.get("timestamp") or 0) >= oldest
                and str(m.get("content") or "").strip() == want
            ):
                return True
        return False

    def remember_listing(
        self, sent: list[tuple[int | None, str, int]], message: Message, meeting_id: str, conversation: str
    ) -> None:
        """Remember which of the sent messages list which items (the core's listings), so a ✅
        on one, or `done N` in the conversation, acts on them, also after a restart."""
        ids = [(f"zulip:{mid}" if mid is not None else None, part, first) for mid, part, first in sent]
        self.listings.remember(ids, message, meeting_id, conversation)
