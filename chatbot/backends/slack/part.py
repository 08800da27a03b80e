"""What every part of :class:`~.backend.SlackBackend` shares: the backend it belongs to (its bot,
its live settings, the Web API), so each concern can live in a small class of its own."""

from __future__ import annotations

import json
import logging
from typing import Any, NamedTuple

from ...bot import Bot, Sender
from ...messages import Message, error
from .render import _SLACK_ID, safe_text

log = logging.getLogger("chatbot.backends.slack")

# the backend the part belongs to: typed loosely, since the backend module imports every part
# (naming its class here would make an import circle, if only for the type checker)
SlackBackend = Any


class Part:
    """One concern of the Slack backend; the others are reached through :attr:`backend`."""

    def __init__(self, backend: SlackBackend):
        self.backend = backend

    @property
    def bot(self) -> Bot:
        return self.backend.bot

    @property
    def settings(self):
        return self.backend.settings  # live: the config may be reloaded while running

    def call(self, method: str, **params: Any) -> dict:
        """A Web API call (:meth:`.api.SlackApi.call`)."""
        return self.backend.api.call(method, **params)


class Click(NamedTuple):
    """A button on an item, clicked and acted on."""

    value: dict  # what the bot put in the button ({} if not a JSON object)
    sender: Sender
    by: str  # who clicked, as the updated message names them
    message: Message  # the command's answer


def json_object(text: str | None) -> dict:
    """The JSON object a button's value or a modal's metadata holds (written by the bot, sent
    back by the click); ``{}`` for anything else."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def run_click(
    backend: SlackBackend, body: dict, action: dict, words: tuple[str, str], list_again: str, what: str, respond
) -> Click | None:
    """A click on a button that names an item (``{"m": meeting, "i": item id, …}``): the
    person resolved, the command ``words`` run with ``item=ID`` (its permission rules), the
    click logged; a refusal is told privately (then None)."""
    value = json_object(action.get("value"))
    meeting_id, ident = value.get("m") or None, value.get("i")
    user = body.get("user") or {}
    user_id = user.get("id")
    sender = backend.people.sender(user_id, user.get("username") or user.get("name"))
    if not isinstance(ident, str) or not ident:
        message, kind = error(f"this button names no action item; list them again (`{list_again}`)"), "bad input"
    else:
        answer = backend.inbox.on_item(words, sender, meeting_id, ident)
        message, kind = answer.message, answer.kind
    log.info("slack %s %s from %s on %s: %s", what, action.get("action_id"), user_id, ident, kind)
    if not message.ok:
        respond(text=":warning: " + backend.render(message), response_type="ephemeral", replace_original=False)
        return None
    by = f"<@{user_id}>" if user_id and _SLACK_ID.match(user_id) else safe_text(sender.name or "?")
    return Click(value, sender, by, message)
