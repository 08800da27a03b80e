"""Slack's wire facts: the environment variables, endpoints, limits and error codes the backend relies on."""

from __future__ import annotations

import logging
from typing import Any


log = logging.getLogger("chatbot.backends.slack")


BOT_TOKEN_ENV = "SLACK_BOT_TOKEN"
APP_TOKEN_ENV = "SLACK_APP_TOKEN"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"
HTTP_PATH = "/slack/events"
DEFAULT_API_URL = "https://slack.com/api/"
WORK_THREADS = 2  # commands worked on at once: edits of a notes file take turns anyway, and fewer
# threads leave the GIL to the acks during a burst (see bench/README.md)
SOCKET_PING_INTERVAL = 3.0  # seconds; a silently dead connection is noticed after ~4 missed pongs
SOCKET_WATCH_INTERVAL = 0.2  # seconds between checks for a connection the server closed (EOF)
SOCKET_RETIRE_GRACE = 0.3  # seconds an old connection may take to close by itself after a replacement

METADATA_EVENT = "chatbot_post"  # message metadata event_type: {"key": the runner's ledger key}
FIND_SLACK_SECONDS = 120  # look this much before an intent's time (clock skew between bot and Slack)
FIND_PAGES = 5  # pages of conversations.history searched after a crash


# Refusals of a token that worked before: revoked, app uninstalled, account deactivated.
REVOKED_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
# apps.connections.open: the app-level token is refused, or Socket Mode was turned off
APP_TOKEN_REFUSED = REVOKED_ERRORS | {"link_disabled", "not_allowed_token_type"}
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def _metadata(key: str | None, part: int = 0, of: int = 1) -> dict[str, Any]:
    """The message metadata of a post marked with a ledger key: ``{"key": key}`` on its last
    part (the post is made), ``{"part_of": key, "part": n}`` on the earlier ones (begun)."""
    if not key:
        return {}
    payload: dict[str, Any] = {"key": key} if part in (0, of) else {"part_of": key, "part": part}
    return {"metadata": {"event_type": METADATA_EVENT, "event_payload": payload}}


# Errors that mean the token itself is wrong: retrying cannot help, the operator must act.
AUTH_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
    "missing_scope",
    "no_permission",
    "invalid_token",
}


# ---------------------------------------------------------------------------------------
