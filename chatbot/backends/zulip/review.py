"""Zulip: the chair's review of candidate action items (``chatbot.review``).

A message that asks about candidates (``Message.reviews``: the review direct message, an
``actions review`` answer) is remembered in the ledger's listings under the conversation
``review:<conversation>``, apart from the lists that ``done N`` acts on. The chair answers:

* ``track N`` or ``reject N`` (also ``actions track N``) in that conversation: item N of the
  newest such message there, by its stable id (numbers shown then may have changed since);
  where no such message is, ``actions track N`` as the core numbers them;
* 👍 (track) or 👎 (reject) on such a message when it asks about a single item (with several,
  the reaction cannot say which one: the chair is told to answer ``track N``).

A decision goes through the core (only the chair or an admin); the message's line then shows
it (an edit; a ✅ reaction where Zulip refuses edits).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from ...messages import Message, Text, error
from .wire import NUMBERED_RE

if TYPE_CHECKING:
    from ...identity import Sender

# the backend's interactions part (its module imports this one: no import back, not even for types)
ZulipInteractions = Any

log = logging.getLogger("chatbot.backends.zulip")

REVIEW_PREFIX = "review:"
DECIDE_RE = re.compile(r"^/?(?:actions?\s+)?(track|reject)\s+(\d{1,6})\s*$", re.I)
# 👍 tracks, 👎 rejects: by Unicode code point where the reaction is a Unicode emoji, else by name
VOTES = {"1f44d": "track", "1f44e": "reject"}
VOTE_NAMES = {"+1": "track", "thumbs_up": "track", "like": "track", "-1": "reject", "thumbs_down": "reject"}
NOTES = {"track": "→ ✅ tracked", "reject": "→ 🚫 not an action item"}


def vote_of(event: dict[str, Any]) -> str | None:
    """``track`` for a 👍 reaction, ``reject`` for a 👎, else None."""
    if event.get("reaction_type", "unicode_emoji") == "unicode_emoji" and event.get("emoji_code") in VOTES:
        return VOTES[event["emoji_code"]]
    return VOTE_NAMES.get(str(event.get("emoji_name") or "").lower())


def review_items(message: Message) -> list[dict[str, Any]]:
    """The candidates a message asks about, as ``listed_items`` says the items a list shows."""
    out = []
    for index, item in sorted(message.reviews.items()):
        first = message.lines[index][0] if message.lines[index] else None
        m = NUMBERED_RE.match(first.text) if isinstance(first, Text) else None
        out.append({"n": int(m.group(1)) if m else None, "id": item, "line": index})
    return out


def is_review(listing: dict[str, Any]) -> bool:
    return str(listing.get("conversation", "")).startswith(REVIEW_PREFIX)


def _decide(backend: ZulipInteractions, listing: dict[str, Any], item: dict[str, Any], decision: str, sender: Sender):
    try:
        answer = backend.bot.run(("actions", f"{decision}-item"), sender, listing["meeting"], item=item["id"])
    except KeyError:  # UnknownMeeting: the meeting left the config
        return error(f"the meeting {listing['meeting']!r} of that message is no longer configured")
    if answer.ok:
        who = sender.person.initials if sender.person else (sender.name or sender.user_id or "?")
        backend._mark_done(listing, item, who, NOTES[decision])
    return answer


def reply(backend: ZulipInteractions, text: str, conversation: str, sender: Sender) -> Message | None:
    """``track N`` / ``reject N`` answering the newest review message in ``conversation``; None:
    not such a reply, or no review message here (the core handles the text)."""
    m = DECIDE_RE.match(text.strip())
    if not m or backend.ledger is None:
        return None
    try:
        listing = backend.ledger.latest_listing(REVIEW_PREFIX + conversation)
    except Exception as exc:
        log.error("Zulip: cannot read the review messages of this conversation (%s)", exc)
        return None
    number = int(m.group(2))
    item = next((it for it in (listing or {}).get("items", []) if it.get("n") == number), None)
    if listing is None or item is None:
        return None
    log.info("Zulip: %s answers the review: %s %d", sender.user_id, m.group(1).lower(), number)
    return _decide(backend, listing, item, m.group(1).lower(), sender)


def on_reaction(
    backend: ZulipInteractions, listing: dict[str, Any], event: dict[str, Any], sender: Sender, email: str
) -> bool:
    """👍 / 👎 on a review message; True if it was acted on or answered."""
    decision = vote_of(event)
    if decision is None:
        return False
    mid, uid = event.get("message_id"), event.get("user_id")
    items = listing["items"]
    if len(items) != 1:
        if backend.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
            backend._tell(
                email,
                f"That message asks about {len(items)} items, so a reaction cannot say which one you mean: "
                "reply `track N` or `reject N` with the item's number.",
                "the review reaction hint",
            )
        return True
    log.info("Zulip: %s reacted %s on review message %s (item %s)", email, decision, mid, items[0]["id"])
    answer = _decide(backend, listing, items[0], decision, sender)
    if answer.ok:
        return True
    if backend.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
        backend._tell(email, ":warning: Your reaction did not decide: " + backend.render(answer), "the review answer")
    return True
