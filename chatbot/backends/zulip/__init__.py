"""The Zulip backend: commands by direct message or @-mention, reminders to a stream and topic.

Zulip has no custom slash commands for bots, so people talk to the bot in one of two ways:

* a direct message to the bot: ``agenda add Release plans``, ``/agenda list``, ``next``, ``help``;
* a stream message that mentions it: ``@**Agenda Bot** agenda add Release plans``.

The bot answers where the command came from (the same stream and topic, or a direct message).
A command typed in a meeting's stream (``destinations.zulip_stream``) acts on that meeting;
anywhere else on the config's default meeting.

Events come through the real ``zulip`` client's event queue (``register`` + ``get_events``
long-polling) in a worker thread, so ``run()`` returns promptly when asked to stop. The queue
survives faults: ``BAD_EVENT_QUEUE_ID`` (the server forgot the queue) re-registers; dropped
connections and server errors back off and retry; ``RATE_LIMIT_HIT``/429 answers are retried
after the delay the server asks for, for sends too. Direct messages and mentions sent while the
queue was lost are fetched (``GET /messages``, narrows ``is:dm`` and ``is:mentioned``, from the
highest message id seen) once a new queue is registered, and handled oldest first through the
same path; every message id is handled at most once, so one that the new queue also delivers is
not answered twice. At the first start of the process nothing older is fetched.

Rendering: Zulip Markdown. Times are global times (``<time:2026-01-07T17:00:00Z>``) so every
reader sees their own zone. Text that people typed can never mention anyone: Zulip only
recognizes ``@**…**``, ``@_**…**`` and ``@*group*`` when the ``@`` starts the text or follows
whitespace or one of ``'"({[/<``; a zero-width space is put before every ``@`` in user text, so
``@**all**``, ``@**everyone**``, ``@**channel**``, ``@**topic**``, user and group mentions stay
plain text; mention syntax in the bot's own text (which may quote a command word someone typed)
is defused the same way. The bot's own mentions are ``@**Full Name|user_id**``.

Credentials: ``[zulip] zuliprc`` (a path relative to the config file; the file a Zulip admin
downloads for a bot), else ``$ZULIP_CONFIG``, else the environment variables ``ZULIP_SITE``,
``ZULIP_EMAIL`` and ``ZULIP_API_KEY``; ``[zulip] site`` overrides the site. The API key is
scrubbed from all log output. Nothing touches the network before ``run()`` or ``post()``.
"""

from typing import TYPE_CHECKING

from .. import lazy_exports

if TYPE_CHECKING:
    from .wire import (
        AGENDA_ADD_RE,
        API_KEY_ENV,
        AUTH_ERRORS,
        CATCH_UP_BATCH,
        CATCH_UP_MAX,
        CATCH_UP_WINDOW,
        CHECK_CODES,
        CHECK_NAMES,
        CODE_SPAN_RE,
        CONFIG_FILE_ENV,
        CONFIRM_REACTION,
        DONE_RE,
        EMAIL_ENV,
        FEATURE_CHANNEL,
        FEATURE_INCLUDE_ANCHOR,
        FEATURE_IS_DM,
        FENCE_RE,
        FIND_RECENT,
        FIND_SLACK_SECONDS,
        GITHUB_FIELD_TYPE,
        MAX_CONTENT,
        MAX_TOPIC,
        MENTION_RE,
        MENTION_START_RE,
        NUMBERED_RE,
        QUOTE_HEADER_RE,
        REPLY_BURST,
        REPLY_REFILL,
        ReplyLimiter,
        SEEN_IDS_KEPT,
        ServerLimits,
        SITE_ENV,
        USER_CACHE_TTL,
        ZWSP,
        blocks_after,
        command_in,
        conversation_key,
        is_check,
        listed_items,
        multi_line_refusal,
        split_content,
        without_indented_code,
        without_quotes,
    )
    from .render import (
        RedactSecrets,
        ZulipRenderer,
        _link,
        defuse_mentions,
        global_time,
        mention_syntax,
        neutralize,
        render_zulip,
        stream_to,
    )
    from .platform import ZULIP, ZulipDestinations, ZulipSettings, topic_name, zulip_email, zulip_stream
    from .backend import ZulipBackend, _Backoff, _retry_after

# what this package offers, imported on first use (``from chatbot.backends.zulip import X``):
# loading a config imports the declaration in ``platform.py``, which imports this package
# first; the backend's modules wait until the backend runs
_LAZY = {
    "AGENDA_ADD_RE": ("wire", "AGENDA_ADD_RE"),
    "API_KEY_ENV": ("wire", "API_KEY_ENV"),
    "AUTH_ERRORS": ("wire", "AUTH_ERRORS"),
    "CATCH_UP_BATCH": ("wire", "CATCH_UP_BATCH"),
    "CATCH_UP_MAX": ("wire", "CATCH_UP_MAX"),
    "CATCH_UP_WINDOW": ("wire", "CATCH_UP_WINDOW"),
    "CHECK_CODES": ("wire", "CHECK_CODES"),
    "CHECK_NAMES": ("wire", "CHECK_NAMES"),
    "CODE_SPAN_RE": ("wire", "CODE_SPAN_RE"),
    "CONFIG_FILE_ENV": ("wire", "CONFIG_FILE_ENV"),
    "CONFIRM_REACTION": ("wire", "CONFIRM_REACTION"),
    "DONE_RE": ("wire", "DONE_RE"),
    "EMAIL_ENV": ("wire", "EMAIL_ENV"),
    "FEATURE_CHANNEL": ("wire", "FEATURE_CHANNEL"),
    "FEATURE_INCLUDE_ANCHOR": ("wire", "FEATURE_INCLUDE_ANCHOR"),
    "FEATURE_IS_DM": ("wire", "FEATURE_IS_DM"),
    "FENCE_RE": ("wire", "FENCE_RE"),
    "FIND_RECENT": ("wire", "FIND_RECENT"),
    "FIND_SLACK_SECONDS": ("wire", "FIND_SLACK_SECONDS"),
    "GITHUB_FIELD_TYPE": ("wire", "GITHUB_FIELD_TYPE"),
    "MAX_CONTENT": ("wire", "MAX_CONTENT"),
    "MAX_TOPIC": ("wire", "MAX_TOPIC"),
    "MENTION_RE": ("wire", "MENTION_RE"),
    "MENTION_START_RE": ("wire", "MENTION_START_RE"),
    "NUMBERED_RE": ("wire", "NUMBERED_RE"),
    "QUOTE_HEADER_RE": ("wire", "QUOTE_HEADER_RE"),
    "REPLY_BURST": ("wire", "REPLY_BURST"),
    "REPLY_REFILL": ("wire", "REPLY_REFILL"),
    "ReplyLimiter": ("wire", "ReplyLimiter"),
    "SEEN_IDS_KEPT": ("wire", "SEEN_IDS_KEPT"),
    "ServerLimits": ("wire", "ServerLimits"),
    "SITE_ENV": ("wire", "SITE_ENV"),
    "USER_CACHE_TTL": ("wire", "USER_CACHE_TTL"),
    "ZWSP": ("wire", "ZWSP"),
    "blocks_after": ("wire", "blocks_after"),
    "command_in": ("wire", "command_in"),
    "conversation_key": ("wire", "conversation_key"),
    "is_check": ("wire", "is_check"),
    "listed_items": ("wire", "listed_items"),
    "multi_line_refusal": ("wire", "multi_line_refusal"),
    "split_content": ("wire", "split_content"),
    "without_indented_code": ("wire", "without_indented_code"),
    "without_quotes": ("wire", "without_quotes"),
    "RedactSecrets": ("render", "RedactSecrets"),
    "ZulipRenderer": ("render", "ZulipRenderer"),
    "_link": ("render", "_link"),
    "defuse_mentions": ("render", "defuse_mentions"),
    "global_time": ("render", "global_time"),
    "mention_syntax": ("render", "mention_syntax"),
    "neutralize": ("render", "neutralize"),
    "render_zulip": ("render", "render_zulip"),
    "stream_to": ("render", "stream_to"),
    "ZULIP": ("platform", "ZULIP"),
    "ZulipDestinations": ("platform", "ZulipDestinations"),
    "ZulipSettings": ("platform", "ZulipSettings"),
    "topic_name": ("platform", "topic_name"),
    "zulip_email": ("platform", "zulip_email"),
    "zulip_stream": ("platform", "zulip_stream"),
    "ZulipBackend": ("backend", "ZulipBackend"),
    "_Backoff": ("backend", "_Backoff"),
    "_retry_after": ("backend", "_retry_after"),
}


__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = list(_LAZY)
