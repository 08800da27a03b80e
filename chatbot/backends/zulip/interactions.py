"""The Zulip backend acting on its own messages: listings remembered, a ✅ reaction or ``done N``
ticks an item, the listing message edited (or confirmed by a reaction)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ...bot import Bot, Sender
from ...inbox import Answer
from ...listings import Pick, is_review
from ...messages import Message
from ..base import BackendError
from .wire import CONFIRM_REACTION, is_check
from . import review as zreview
from .render import neutralize
from .sending import ZulipSending

log = logging.getLogger("chatbot.backends.zulip")


class ZulipInteractions(ZulipSending):
    """The bot's own messages acted on: ✅ (and a review's 👍/👎) reactions, ``done N``, edits."""

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self._busy = threading.Lock()  # held while a command is being handled
        self._stopping = threading.Event()

    def _tell(self, email: str, content: str, what: str) -> None:
        try:
            self.send_long({"type": "private", "to": [email]}, content, what)
        except BackendError as exc:
            log.error("Zulip: %s", exc)

    def _mark_done(self, listing: dict[str, Any], item: dict[str, Any], who: str, note: str | None = None) -> None:
        """Show the item as done in the bot's message (PATCH /messages/{id}), or with ``note``
        after its line (a review's decision); when Zulip refuses the edit (the organization's
        edit time limit, editing turned off), or the changed text would be longer than Zulip
        keeps (it would cut the message), react ✅ instead."""
        mid = int(listing["message"].split(":", 1)[1])
        lines = listing["content"].split("\n")
        index = item.get("line")
        if isinstance(index, int) and 0 <= index < len(lines) and not lines[index].startswith("~~"):
            done = f"~~{lines[index]}~~ ✅ done"
            lines[index] = f"{lines[index]} {note}" if note else done
            lines[index] += f" ({neutralize(who)})"
            content = "\n".join(lines)
        else:
            content = None
        if content is not None and len(content) > self.limits.message:
            log.info("Zulip: message %s would be longer than Zulip keeps with the item struck through", mid)
        elif content is not None:
            edited: str = content
            try:
                self._request(
                    lambda c: c.update_message({"message_id": mid, "content": edited}), f"the edit of message {mid}"
                )
                self.listings.edited(listing["message"], edited)
                return
            except BackendError as exc:
                log.warning("Zulip: %s; confirming with a reaction instead", exc)
        try:
            self._request(
                lambda c: c.add_reaction({"message_id": mid, **CONFIRM_REACTION}),
                f"the confirmation reaction on message {mid}",
            )
        except BackendError as exc:
            if "REACTION_ALREADY_EXISTS" not in str(exc):
                log.error("Zulip: %s", exc)

    def _act(self, pick: Pick, sender: Sender) -> Message:
        """Act on one listed item through the core (its permission rules); on success the
        listing message shows it (:meth:`_show_picked`)."""
        answer = self.inbox.pick(pick, sender)
        self._show_picked(answer)
        return answer.message

    def _show_picked(self, answer: Answer) -> None:
        """The item a reply or a reaction acted on, shown so in the bot's listing message."""
        pick = answer.picked
        if pick is None or not answer.ok:
            return
        sender = answer.sender
        who = (sender.person.initials if sender.person else (sender.name or sender.user_id)) if sender else None
        note = None if pick.decision == "done" else zreview.NOTES[pick.decision]
        self._mark_done(pick.listing, pick.item, who or "?", note)

    def on_reaction(self, event: dict[str, Any]) -> bool:
        """A ✅ on one of the bot's messages that lists a single action item ticks it (owners,
        editors and admins; anyone else is told why, once per message, by direct message).
        True if it was acted on or answered."""
        me = self._me or {}
        uid = event.get("user_id")
        if uid is None and isinstance(event.get("user"), dict):  # servers before 3.0 (feature level 1)
            uid = event["user"].get("user_id")
        mid = event.get("message_id")
        if (
            event.get("op") != "add"
            or not isinstance(uid, int)
            or not isinstance(mid, int)
            or str(uid) == str(me.get("user_id"))
            or not (is_check(event) or zreview.vote_of(event))
            or self.ledger is None
        ):
            return False
        listing = self.listings.of_message(f"zulip:{mid}")
        if listing is None:
            return False  # not a message of the bot's that lists action items
        user = self._user(uid)
        if user is None:
            return False
        email, name = user
        if self._is_bot.get(uid):
            log.info("Zulip: ignored a reaction by the bot %s (bots are not answered)", email)
            return False
        if not self.limiter.allow(("reaction", uid)):
            log.warning(
                "Zulip: not acting on %s's reaction on message %s: more than %d in a row (one more every %.0f s)",
                email,
                mid,
                self.limiter.burst,
                self.limiter.refill,
            )
            return False
        sender = self._sender({"sender_email": email, "sender_full_name": name, "sender_id": uid})
        items = listing["items"]
        with self._busy:
            if self._stopping.is_set():
                return False
            if is_review(listing):  # the chair's 👍 / 👎
                return zreview.on_reaction(self, listing, event, sender, email)
            if not is_check(event):
                return False
            if len(items) != 1:
                if self.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
                    numbers = ", ".join(str(it["n"]) for it in items if it.get("n") is not None)
                    self._tell(
                        email,
                        f"That message lists {len(items)} action items ({numbers}), so a reaction "
                        "cannot say which one is done: reply `done N` to the bot with the item's "
                        "number.",
                        "the reaction hint",
                    )
                return True
            log.info("Zulip: %s reacted ✅ on message %s (action item %s)", email, mid, items[0]["id"])
            answer = self.inbox.pick(Pick(listing, items[0], "done"), sender)
            self._show_picked(answer)
            if answer.ok and not answer.message.warnings:
                return True
            if answer.ok or self.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
                content = self.render(answer.message)
                if not answer.ok:
                    content = ":warning: Your ✅ did not tick the action item: " + content
                self._tell(email, content, "the answer to a reaction")
            else:
                log.info("Zulip: %s's reaction on message %s refused again (told once already)", email, mid)
        return True
