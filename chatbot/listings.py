"""Which of the bot's chat messages list which items, for every platform: the open action items
an answer lists (``Message.actions``: ``done N``, a ✅ reaction, Slack's Done button) and the
candidates the chair's review asks about (``Message.reviews``: ``track N``/``reject N``, 👍/👎,
Slack's Track button).

An item is remembered by its stable id (``action_commands.item_id``) with the number the answer
showed, so ``done 3`` ticks the item that was number 3 then, even if the numbers changed since.
Platforms that keep conversations (Zulip) store what they sent in the ledger's ``listings``
(:class:`Listings`); Slack puts the id in each button, from the same :func:`listed_items`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from .messages import Message, Text
from .state import Ledger

log = logging.getLogger(__name__)

NUMBERED_RE = re.compile(r"^(\d+)\.\s")  # a listed line's number, as compose writes it
DONE_RE = re.compile(r"^/?(?:actions?\s+)?done\s+(\d{1,6})\s*$", re.I)
DECIDE_RE = re.compile(r"^/?(?:actions?\s+)?(track|reject)\s+(\d{1,6})\s*$", re.I)
REVIEW_PREFIX = "review:"  # the review messages of a conversation are remembered apart

Item = dict[str, Any]  # {"n": number shown or None, "id": stable id, "line": its line in the text}
Listing = dict[str, Any]  # as the ledger keeps it: message, conversation, meeting, items, content, at


def _numbered(message: Message, marked: dict[int, str]) -> list[Item]:
    out = []
    for index, item in sorted(marked.items()):
        first = message.lines[index][0] if message.lines[index] else None
        m = NUMBERED_RE.match(first.text) if isinstance(first, Text) else None
        out.append({"n": int(m.group(1)) if m else None, "id": item, "line": index})
    return out


def listed_items(message: Message) -> list[Item]:
    """The open action items a message lists: ``{"n": number or None, "id": stable id, "line":
    its line in the rendered text}`` (a rendered message has one line per message line)."""
    return _numbered(message, message.actions)


def review_items(message: Message) -> list[Item]:
    """The candidates a message asks about, as :func:`listed_items` says the items a list shows."""
    return _numbered(message, message.reviews)


def is_review(listing: Listing) -> bool:
    return str(listing.get("conversation", "")).startswith(REVIEW_PREFIX)


@dataclass(frozen=True)
class Pick:
    """An item of a remembered listing that a reply or a reaction acts on, and how."""

    listing: Listing
    item: Item
    decision: str  # "done", "track" or "reject"

    @property
    def words(self) -> tuple[str, str]:
        """The core command that acts on one item by id."""
        return ("actions", f"{self.decision}-item")


def as_typed(text: str) -> str:
    """``done N`` / ``track N`` / ``reject N`` where no listing answers it: N as ``actions`` (or
    ``actions review``) numbers the items now."""
    bare = text.strip().lstrip("/")
    if DONE_RE.match(bare) and bare.lower().startswith("done"):
        return "actions " + bare
    if DECIDE_RE.match(bare) and bare.lower().startswith(("track", "reject")):
        return "actions " + bare
    return text


class Listings:
    """The ledger's ``listings``: which message (``zulip:1234``) lists which items, in which
    conversation (``zulip:dm:a@b.org``). Problems reading or writing it are logged: the answer
    went out, only acting on it later does not work."""

    def __init__(self, ledger: Ledger | None):
        self.ledger = ledger

    def remember(self, sent: list[tuple[str | None, str, int]], message: Message, meeting_id: str, conversation: str):
        """Remember which of the sent messages (each: its id, its text, the index of its first
        line in the whole answer) list which items, so a reaction on one, or ``done N`` in the
        conversation, acts on them, also after a restart."""
        items = listed_items(message)
        if message.reviews:  # the chair's review: answered by `track N` or 👍 / 👎
            items, conversation = review_items(message), REVIEW_PREFIX + conversation
        if not items or self.ledger is None:
            return
        stamp = time.time()  # one answer's messages share it: `done N` looks at all of them
        for mid, part, first in sent:
            lines = part.count("\n") + 1
            mine = [{**it, "line": it["line"] - first} for it in items if first <= it["line"] < first + lines]
            if mid is None or not mine:
                continue
            try:
                self.ledger.remember_listing(mid, conversation, meeting_id, mine, part, now=stamp)
            except Exception as exc:  # a full disk: the message went out, reactions on it will not work
                log.error(
                    "cannot remember the action items listed in message %s (%s); a reaction on it will not tick them",
                    mid,
                    exc,
                )

    def of_message(self, message: str) -> Listing | None:
        """What was remembered for the bot's message ``message``; None: it lists nothing (or the
        ledger cannot say: logged)."""
        if self.ledger is None:
            return None
        try:
            return self.ledger.listing(message)
        except Exception as exc:
            log.error("cannot read which items message %s lists (%s)", message, exc)
            return None

    def edited(self, message: str, content: str) -> None:
        """The message's text after the bot edited it (an item shown as done)."""
        if self.ledger is not None:
            self.ledger.update_listing(message, content)

    def reply(self, text: str, conversation: str) -> Pick | None:
        """``done N`` on the newest answer listing action items in ``conversation`` (all of its
        messages), ``track N``/``reject N`` on the newest review message there: the item shown
        as N then. None: not such a reply, or nothing numbered N was listed here."""
        if self.ledger is None:
            return None
        text = text.strip()
        done, decide = DONE_RE.match(text), DECIDE_RE.match(text)
        try:
            if done:
                number, decision = int(done.group(1)), "done"
                listings = self.ledger.latest_listings(conversation)  # a long list came as several messages
            elif decide:
                number, decision = int(decide.group(2)), decide.group(1).lower()
                latest = self.ledger.latest_listing(REVIEW_PREFIX + conversation)
                listings = [latest] if latest else []
            else:
                return None
        except Exception as exc:
            log.error("cannot read the items listed in conversation %s (%s)", conversation, exc)
            return None
        for listing in listings:
            item = next((it for it in listing.get("items", []) if it.get("n") == number), None)
            if item is not None:
                return Pick(listing, item, decision)
        return None
