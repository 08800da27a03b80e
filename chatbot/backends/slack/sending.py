"""What the bot sends to Slack: messages rendered as mrkdwn (several posts for a long one, Block
Kit buttons on messages people act on), posts to a channel and direct messages marked with the
runner's ledger key (so a crash never doubles one: :meth:`SlackPoster.find_sent`), and the
short public notes of changes, queued in order."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...config import Meeting, Person, UnknownMeeting
from ...messages import Message, UserText
from ..base import BackendError
from .part import Part
from .platform import slack_channel, slack_id
from .render import _sections, agenda_button, fit_text, render_blocks, render_mrkdwn, split_text
from .review import review_blocks
from .wire import FIND_PAGES, FIND_SLACK_SECONDS, METADATA_EVENT, TRANSIENT_ERRORS, _metadata

log = logging.getLogger("chatbot.backends.slack")


class SlackPoster(Part):
    """Rendering and sending: posts, direct messages, long texts, the marks crash checks find."""

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self._public: ThreadPoolExecutor | None = None  # channel notes, one at a time, in order
        self._public_lock = threading.Lock()

    # -- rendering --------------------------------------------------------------------

    def render(self, message: Message, prefix: str = "") -> str:
        """The message as mrkdwn, whole (``render_parts``: as it is posted)."""
        return prefix + render_mrkdwn(message)

    def render_parts(self, message: Message, prefix: str = "", most: int | None = None) -> list[str]:
        """The message as the messages it is posted as: split at line breaks where it is longer
        than Slack keeps; with ``most``, the last allowed part is shortened (a last line the bot
        wrote itself, such as the notes link, stays)."""
        parts = split_text(self.render(message, prefix))
        if most is not None and len(parts) > most:
            last = message.lines[-1] if message.lines else ()
            rest = "\n".join(parts[most - 1 :])
            parts = parts[: most - 1] + [fit_text(rest, keep_last=not any(isinstance(s, UserText) for s in last))]
        return parts

    def blocks(
        self, message: Message, meeting_id: str | None, prefix: str = "", listing: str | None = None
    ) -> dict[str, Any]:
        """``{"blocks": [...]}`` for a message people act on (a reminder, a message listing
        open action items, the chair's review), else nothing: the text alone (which stays, as the fallback)."""
        if not (message.actions or message.reviews or message.kind == "reminder"):
            return {}
        try:
            meeting = self.bot.config.meeting(meeting_id)
        except UnknownMeeting:
            return {}
        if message.reviews:
            return {"blocks": review_blocks(message, meeting.id, prefix)}
        return {"blocks": render_blocks(message, meeting.id, prefix, listing)}

    # -- posts and direct messages ----------------------------------------------------

    def post_parts(self, channel: str, message: Message, key: str | None = None, meeting_id: str | None = None) -> None:
        """Post the message, in several parts if it is long; the ledger key goes on the last
        part, the earlier ones are marked as its parts: after a crash between parts the message
        is posted again whole, saying it may be a repeat (never lost, never silently doubled).
        With ``meeting_id``, a message people act on is posted with its Block Kit buttons
        (:meth:`blocks`); a reminder in several parts has its button under the last one."""
        parts = self.render_parts(message)
        blocks = self.blocks(message, meeting_id) if meeting_id else {}
        for n, part in enumerate(parts, 1):
            extra = {}
            if blocks and len(parts) == 1:
                extra = blocks
            elif blocks and n == len(parts) and message.kind == "reminder":
                extra = {"blocks": _sections(part.split("\n")) + [agenda_button(meeting_id or "")]}
            self.call(
                "chat.postMessage",
                channel=channel,
                text=part,
                unfurl_links=False,
                unfurl_media=False,
                **extra,
                **_metadata(key, n, len(parts)),
            )

    def post_once(self, meeting: Meeting, message: Message, key: str | None) -> None:
        """A post to the meeting's channel, with the runner's ledger key in the message's
        metadata (invisible to people; ``conversations.history`` returns it), so after a crash
        :meth:`find_sent` can tell whether this very post was made."""
        channel = slack_channel(meeting)
        if not channel:
            raise BackendError(f"meeting {meeting.id!r} has no destinations.slack_channel")
        self.post_parts(channel, message, key, meeting.id)
        log.info("posted to Slack channel %s for %s", channel, meeting.id)

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        dm = self.dm_channel(meeting, person)
        if dm is None:
            raise BackendError(f"{person.initials} has no slack_id in the roster: no direct message")
        self.post_parts(dm, message, key, meeting.id)
        log.info("sent a Slack direct message to %s (%s)", person.initials, slack_id(person))

    def dm_channel(self, meeting: Meeting, person: Person | None) -> str | None:
        """The direct message channel with ``person`` (None: the post is for the channel)."""
        if person is None or not slack_id(person):
            return None
        opened = self.call("conversations.open", users=slack_id(person))
        dm = (opened.get("channel") or {}).get("id")
        if not dm:
            raise BackendError("Slack API conversations.open returned no channel")
        return dm

    # -- after a crash: was it sent? --------------------------------------------------

    def find_sent(self, meeting: Meeting, key: str, since: dt.datetime, person: Person | None = None) -> bool | None:
        """Whether the post marked ``key`` is in its channel (``conversations.history`` since
        shortly before the intent was recorded, with metadata). BackendError when Slack cannot
        be asked now (the runner tries again later rather than guess); None when it cannot
        tell: it never can (e.g. the app lacks the ``channels:history`` scope), or only some
        parts of a long post are there. The runner then posts, saying it may be a repeat."""
        try:
            return self._find_sent(meeting, key, since, person)
        except BackendError as exc:
            code = getattr(exc, "code", None)
            if code is None or code in TRANSIENT_ERRORS:
                raise
            log.warning(
                "Slack: cannot look for a post made before a crash (%s); add the scopes channels:history, "
                "groups:history and im:history to the app so a crash never doubles a reminder",
                code,
            )
            return None

    def _find_sent(self, meeting: Meeting, key: str, since: dt.datetime, person: Person | None) -> bool | None:
        channel = self.dm_channel(meeting, person) or slack_channel(meeting)
        if not channel:
            return False
        oldest = f"{since.timestamp() - FIND_SLACK_SECONDS:.6f}"
        cursor = None
        begun = False  # an earlier part of the post is there, not its last
        for _ in range(FIND_PAGES):
            params: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200, "include_all_metadata": True}
            if cursor:
                params["cursor"] = cursor
            data_ = self.call("conversations.history", **params)
            for m in data_.get("messages") or []:
                meta = m.get("metadata") or {}
                payload = (meta.get("event_payload") or {}) if meta.get("event_type") == METADATA_EVENT else {}
                if payload.get("key") == key:
                    return True
                begun = begun or payload.get("part_of") == key
            cursor = (data_.get("response_metadata") or {}).get("next_cursor")
            if not (data_.get("has_more") and cursor):
                break
        else:
            log.warning(
                "Slack: %s has more than %d pages of messages since %s; not searched further",
                channel,
                FIND_PAGES,
                since.isoformat(timespec="seconds"),
            )
        if begun:
            log.warning("Slack: only the first parts of a long post reached %s before the bot stopped", channel)
            return None
        return False

    # -- public notes of changes ------------------------------------------------------

    def public_note(self, message: Message, meeting_id: str | None, channel: str | None) -> None:
        """A change's short public note in the meeting's channel (``public_confirmation``)."""
        if not (message.ok and message.announcement is not None and self.settings.public_confirmation):
            return
        try:
            meeting = self.bot.config.meeting(meeting_id)
        except UnknownMeeting:
            return
        target = slack_channel(meeting) or channel
        if target:
            # on a queue of its own: a channel post that is rate limited (waiting out a
            # Retry-After) must not hold a worker, and with it other people's private answers
            self._public_queue().submit(self._post_public, target, message.announcement)

    def _public_queue(self) -> ThreadPoolExecutor:
        with self._public_lock:
            if self._public is None:
                # one thread: the channel notes go out one at a time, in the order they were made
                self._public = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-public")
            return self._public

    def _post_public(self, target: str, message: Message) -> None:
        try:
            self.post_parts(target, message)
        except BackendError:
            pass  # logged by call()
        except Exception:
            log.exception("Slack: posting a channel note failed")

    def close(self) -> None:
        """The queued channel notes go out."""
        with self._public_lock:
            public, self._public = self._public, None
        if public is not None:
            public.shutdown(wait=True)
