"""Zulip: the chair's review of candidate action items (``chatbot.review``).

A message that asks about candidates (``Message.reviews``: the review direct message, an
``actions review`` answer) is remembered in the ledger's listings under the conversation
``review:<conversation>``, apart from the lists that ``done N`` acts on. The chair answers:

* ``track N`` or ``reject N`` (also ``actions track N``) in that conversation: item N of the
  newest such message there, by its stable id (numbers shown then may have changed since);
  where no such message is, ``actions track N`` as the core numbers them (both found by the
  core's inbox and listings, :mod:`chatbot.listings`);
* 👍 (track) or 👎 (reject) on such a message when it asks about a single item (with several,
  the reaction cannot say which one: the chair is told to answer ``track N``).

A decision goes through the core (only the chair or an admin); the message's line then shows
it (an edit; a ✅ reaction where Zulip refuses edits).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...listings import DECIDE_RE, REVIEW_PREFIX, Pick, is_review, review_items

if TYPE_CHECKING:
    from ...identity import Sender

# the backend's interactions part (its module imports this one: no import back, not even for types)
ZulipInteractions = Any

log = logging.getLogger("chatbot.backends.zulip")

__all__ = ["DECIDE_RE", "REVIEW_PREFIX", "is_review", "on_reaction", "review_items", "vote_of"]

# 👍 tracks, 👎 rejects: by Unicode code point where the reaction is a Unicode emoji, else by name
VOTES = {"1f44d": "track", "1f44e": "reject"}
VOTE_NAMES = {"+1": "track", "thumbs_up": "track", "like": "track", "-1": "reject", "thumbs_down": "reject"}
NOTES = {"track": "→ ✅ tracked", "reject": "→ 🚫 not an action item"}


def vote_of(event: dict[str, Any]) -> str | None:
    """``track`` for a 👍 reaction, ``reject`` for a 👎, else None."""
    if event.get("reaction_type", "unicode_emoji") == "unicode_emoji" and event.get("emoji_code") in VOTES:
        return VOTES[event["emoji_code"]]
    return VOTE_NAMES.get(str(event.get("emoji_name") or "").lower())


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
    answer = backend._act(Pick(listing, items[0], decision), sender)
    if answer.ok:
        return True
    if backend.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
        backend._tell(email, ":warning: Your reaction did not decide: " + backend.render(answer), "the review answer")
    return True
