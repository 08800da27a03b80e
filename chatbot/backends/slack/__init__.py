"""The Slack backend: slash commands and reminders through slack-bolt and slack_sdk.

Two ways to receive slash commands (``[slack] mode``):

* ``socket`` (default): Socket Mode over a websocket the bot opens itself, so no public URL
  is needed. Needs ``SLACK_BOT_TOKEN`` (``xoxb-…``) and ``SLACK_APP_TOKEN`` (``xapp-…``).
* ``http``: Slack POSTs each command to ``http://HOST:PORT/slack/events`` (``[slack] host``,
  ``port``); every request's signature is checked with ``SLACK_SIGNING_SECRET`` and requests
  with a missing, wrong or stale (> 5 minutes) signature are refused with 401. The same
  server serves the read-only status pages and calendar feeds (:mod:`chatbot.web`) on every
  other path.

Commands are acknowledged at once (Slack allows 3 seconds), then answered privately to the
caller (an ephemeral message through the command's ``response_url``) and, for changes, with a
short public note in the meeting's channel. Reminders are posted with ``chat.postMessage``
in Slack *mrkdwn*; times are ``<!date^…>`` tokens so every reader sees their own local time.

Reminders, action-item pings and ``/actions`` answers are Block Kit messages (``blocks``, with
the same mrkdwn as fallback ``text``): every line the core marked as an open action item
(``Message.actions``) gets **Done** and **Next meeting** buttons, the reminder an **Add agenda
item** button that opens a modal (``views.open`` with the click's ``trigger_id``). Clicks
arrive as ``block_actions`` (Socket Mode envelopes of type ``interactive``, or signed HTTP
POSTs with a ``payload`` field, through the same de-duplication as commands), run the core's
``actions done-item`` / ``actions carry`` and update the clicked message in place through the
click's ``response_url`` (``replace_original``; ``chat.update`` if that fails). The modal's
``view_submission`` runs ``agenda add`` and answers in its ack (``response_action: errors``
shown in the modal, or ``update`` with the answer).

Everything user-typed is escaped (``&``, ``<``, ``>``) and mass mentions are defused, so nobody
can make the bot ping ``@channel`` or inject links. Command text arrives in Slack's own escaped
form, with ``<@U…>``/``<#C…|name>``/``<!here>``/``<url|label>`` entities; :func:`readable_text`
turns it back into what the person saw before the core stores it. Messages longer than Slack
keeps (40,000 characters) are sent as several messages, split at line breaks and never inside
an entity (:func:`split_text`); only an answer through a ``response_url``, which takes at most
5 messages, is shortened after that (:func:`fit_text`). Secrets come only
from the environment and are scrubbed from log output.

``[slack] api_url`` points the Web API client (and with it Socket Mode's
``apps.connections.open``) at another base URL, e.g. a proxy or a test server.
"""

from typing import TYPE_CHECKING

from .. import lazy_exports

if TYPE_CHECKING:
    from .wire import (
        APP_TOKEN_ENV,
        APP_TOKEN_REFUSED,
        AUTH_ERRORS,
        BOT_TOKEN_ENV,
        DEFAULT_API_URL,
        FIND_PAGES,
        FIND_SLACK_SECONDS,
        HTTP_PATH,
        METADATA_EVENT,
        REVOKED_ERRORS,
        SIGNING_SECRET_ENV,
        SOCKET_PING_INTERVAL,
        SOCKET_RETIRE_GRACE,
        SOCKET_WATCH_INTERVAL,
        TRANSIENT_ERRORS,
        WORK_THREADS,
        _metadata,
    )
    from .render import (
        ACTION_ADD,
        ACTION_CARRY,
        ACTION_DONE,
        AGENDA_BLOCK,
        AGENDA_INPUT,
        AGENDA_VIEW,
        FORM_SECONDS,
        MAX_BLOCKS,
        MAX_INPUT,
        MAX_RESPONSES,
        MAX_SECTION_TEXT,
        MAX_TEXT,
        MRKDWN,
        MrkdwnRenderer,
        SHORTENED,
        _ATOM,
        _LONG_TAIL,
        _SLACK_ID,
        _bold,
        _button,
        _context,
        _cut,
        _cut_at_space,
        _cut_to,
        _form_view,
        _link,
        _section,
        _sections,
        _units,
        agenda_button,
        blocks_text,
        date_token,
        escape,
        fit_text,
        item_value,
        mark_item,
        render_blocks,
        render_mrkdwn,
        render_segment,
        render_segments,
        safe_text,
        split_text,
    )
    from .events import (
        AckPriority,
        RedactSecrets,
        SIGNATURE_MAX_AGE,
        SLACK_SECRET_PATTERNS,
        _DropNoise,
        _HOOK_URL_RE,
        _HoldingExecutor,
        _SECRET_FIELD_RE,
        _TOKEN_RE,
        _UNESCAPES,
        _WIRE,
        _ack_only,
        _checked_requests,
        _install_redaction,
        _refuse,
        _signature_ok,
        prompt_socket_mode_handler,
        readable_text,
        unescape,
    )
    from .review import ACTION_REJECT, ACTION_TRACK, review_blocks
    from .api import SlackApi
    from .commands import SlackCommands
    from .identity import SlackPeople
    from .intake import SlackIntake
    from .interactive import SlackInteractions
    from .sending import SlackPoster
    from .backend import SlackBackend, slack_sender

# what this package offers, imported on first use (``from chatbot.backends.slack import X``):
# loading a config imports the declaration in ``platform.py``, which imports this package
# first; the backend's modules wait until the backend runs
_LAZY = {
    "APP_TOKEN_ENV": ("wire", "APP_TOKEN_ENV"),
    "APP_TOKEN_REFUSED": ("wire", "APP_TOKEN_REFUSED"),
    "AUTH_ERRORS": ("wire", "AUTH_ERRORS"),
    "BOT_TOKEN_ENV": ("wire", "BOT_TOKEN_ENV"),
    "DEFAULT_API_URL": ("wire", "DEFAULT_API_URL"),
    "FIND_PAGES": ("wire", "FIND_PAGES"),
    "FIND_SLACK_SECONDS": ("wire", "FIND_SLACK_SECONDS"),
    "HTTP_PATH": ("wire", "HTTP_PATH"),
    "METADATA_EVENT": ("wire", "METADATA_EVENT"),
    "REVOKED_ERRORS": ("wire", "REVOKED_ERRORS"),
    "SIGNING_SECRET_ENV": ("wire", "SIGNING_SECRET_ENV"),
    "SOCKET_PING_INTERVAL": ("wire", "SOCKET_PING_INTERVAL"),
    "SOCKET_RETIRE_GRACE": ("wire", "SOCKET_RETIRE_GRACE"),
    "SOCKET_WATCH_INTERVAL": ("wire", "SOCKET_WATCH_INTERVAL"),
    "TRANSIENT_ERRORS": ("wire", "TRANSIENT_ERRORS"),
    "WORK_THREADS": ("wire", "WORK_THREADS"),
    "_metadata": ("wire", "_metadata"),
    "ACTION_ADD": ("render", "ACTION_ADD"),
    "ACTION_CARRY": ("render", "ACTION_CARRY"),
    "ACTION_DONE": ("render", "ACTION_DONE"),
    "AGENDA_BLOCK": ("render", "AGENDA_BLOCK"),
    "AGENDA_INPUT": ("render", "AGENDA_INPUT"),
    "AGENDA_VIEW": ("render", "AGENDA_VIEW"),
    "FORM_SECONDS": ("render", "FORM_SECONDS"),
    "MAX_BLOCKS": ("render", "MAX_BLOCKS"),
    "MAX_INPUT": ("render", "MAX_INPUT"),
    "MAX_RESPONSES": ("render", "MAX_RESPONSES"),
    "MAX_SECTION_TEXT": ("render", "MAX_SECTION_TEXT"),
    "MAX_TEXT": ("render", "MAX_TEXT"),
    "MRKDWN": ("render", "MRKDWN"),
    "MrkdwnRenderer": ("render", "MrkdwnRenderer"),
    "SHORTENED": ("render", "SHORTENED"),
    "_ATOM": ("render", "_ATOM"),
    "_LONG_TAIL": ("render", "_LONG_TAIL"),
    "_SLACK_ID": ("render", "_SLACK_ID"),
    "_bold": ("render", "_bold"),
    "_button": ("render", "_button"),
    "_context": ("render", "_context"),
    "_cut": ("render", "_cut"),
    "_cut_at_space": ("render", "_cut_at_space"),
    "_cut_to": ("render", "_cut_to"),
    "_form_view": ("render", "_form_view"),
    "_link": ("render", "_link"),
    "_section": ("render", "_section"),
    "_sections": ("render", "_sections"),
    "_units": ("render", "_units"),
    "agenda_button": ("render", "agenda_button"),
    "blocks_text": ("render", "blocks_text"),
    "date_token": ("render", "date_token"),
    "escape": ("render", "escape"),
    "fit_text": ("render", "fit_text"),
    "item_value": ("render", "item_value"),
    "mark_item": ("render", "mark_item"),
    "render_blocks": ("render", "render_blocks"),
    "render_mrkdwn": ("render", "render_mrkdwn"),
    "render_segment": ("render", "render_segment"),
    "render_segments": ("render", "render_segments"),
    "safe_text": ("render", "safe_text"),
    "split_text": ("render", "split_text"),
    "AckPriority": ("events", "AckPriority"),
    "RedactSecrets": ("events", "RedactSecrets"),
    "SIGNATURE_MAX_AGE": ("events", "SIGNATURE_MAX_AGE"),
    "SLACK_SECRET_PATTERNS": ("events", "SLACK_SECRET_PATTERNS"),
    "_DropNoise": ("events", "_DropNoise"),
    "_HOOK_URL_RE": ("events", "_HOOK_URL_RE"),
    "_HoldingExecutor": ("events", "_HoldingExecutor"),
    "_SECRET_FIELD_RE": ("events", "_SECRET_FIELD_RE"),
    "_TOKEN_RE": ("events", "_TOKEN_RE"),
    "_UNESCAPES": ("events", "_UNESCAPES"),
    "_WIRE": ("events", "_WIRE"),
    "_ack_only": ("events", "_ack_only"),
    "_checked_requests": ("events", "_checked_requests"),
    "_install_redaction": ("events", "_install_redaction"),
    "_refuse": ("events", "_refuse"),
    "_signature_ok": ("events", "_signature_ok"),
    "prompt_socket_mode_handler": ("events", "prompt_socket_mode_handler"),
    "readable_text": ("events", "readable_text"),
    "unescape": ("events", "unescape"),
    "ACTION_REJECT": ("review", "ACTION_REJECT"),
    "ACTION_TRACK": ("review", "ACTION_TRACK"),
    "review_blocks": ("review", "review_blocks"),
    "SlackApi": ("api", "SlackApi"),
    "SlackCommands": ("commands", "SlackCommands"),
    "SlackPeople": ("identity", "SlackPeople"),
    "SlackIntake": ("intake", "SlackIntake"),
    "SlackInteractions": ("interactive", "SlackInteractions"),
    "SlackPoster": ("sending", "SlackPoster"),
    "SlackBackend": ("backend", "SlackBackend"),
    "slack_sender": ("backend", "slack_sender"),
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = list(_LAZY)
