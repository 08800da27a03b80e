"""Slack: the chair's review of candidate action items (``chatbot.review``).

The review message has, under each undecided candidate (``Message.reviews``), a **Track** and
a **Not an action item** button. A click decides through the core (``actions track-item`` /
``reject-item``: only the chair or an admin) and the message is updated in place: the buttons
become a line saying the decision and who made it. A redelivered click is acknowledged and not
acted on again (the backend's delivery keys, as for every interaction).
"""

from __future__ import annotations

import logging
from typing import Any

from ...messages import Message
from .part import run_click
from .render import (
    MAX_BLOCKS,
    _button,
    _buttoned,
    blocks_with_buttons,
    item_value,
    mark_item,
    render_segments,
)

SlackBackend = Any  # the backend (its module imports this one: no import back, not even for types)

log = logging.getLogger(__name__)

ACTION_TRACK = "chatbot_review_track"  # button: keep chasing the candidate
ACTION_REJECT = "chatbot_review_reject"  # button: the candidate is not an action item
REVIEW_BUTTONS = (ACTION_TRACK, ACTION_REJECT)


def review_blocks(message: Message, meeting_id: str, prefix: str = "") -> list[dict[str, Any]]:
    """The review message as Block Kit: its lines in sections, each candidate's line followed by
    its two buttons. Past Slack's 50 blocks, the first candidates get buttons and a note says
    how to answer the others."""
    lines = [render_segments(line) for line in message.lines]
    if prefix and lines:
        lines[0] = prefix + lines[0]
    marked = sorted(i for i in message.reviews if 0 <= i < len(lines))

    def buttons(i: int, line: str) -> list[dict[str, Any]]:
        value = item_value(meeting_id, message.reviews[i])
        track = _button("Track", ACTION_TRACK, value, "primary")
        return _buttoned(
            line, f"review:{i}", f"rev:{i}", [track, _button("Not an action item", ACTION_REJECT, value, "danger")]
        )

    blocks = blocks_with_buttons(
        lines,
        marked,
        buttons,
        lambda n: (
            f"Buttons are on the first {n} items; answer the others with `/actions track N` or `/actions reject N`."
        ),
        [],
    )
    return blocks[:MAX_BLOCKS]


def on_review_button(backend: SlackBackend, body: dict, action: dict, respond) -> None:
    """Track / Not an action item clicked (a bolt lazy listener, after the ack)."""
    try:
        _decide(backend, body, action, respond)
    except Exception as exc:  # the bot keeps running; the person is told
        log.error("Slack button %s failed: %s: %s", action.get("action_id"), type(exc).__name__, exc, exc_info=True)
        try:
            respond(
                text=":warning: something went wrong on the bot's side; see its log",
                response_type="ephemeral",
                replace_original=False,
            )
        except Exception:
            pass


def _decide(backend: SlackBackend, body: dict, action: dict, respond) -> None:
    track = action.get("action_id") == ACTION_TRACK
    words = ("actions", "track-item" if track else "reject-item")
    click = run_click(backend, body, action, words, "actions review", "review button", respond)
    if click is None:
        return
    message, by = click.message, click.by
    note = f"{'✅ Tracked' if track else '🚫 Not an action item'} — by {by}"
    original = body.get("message") or {}
    blocks = None
    if isinstance(original.get("blocks"), list):
        blocks = mark_item(original["blocks"], str(action.get("block_id") or ""), note)
    if blocks is None:  # nothing to update in place: say it in a message of its own
        respond(text=backend.render(message), response_type="ephemeral", replace_original=False)
    else:
        backend.buttons.replace(body, body.get("container") or {}, respond, blocks)
