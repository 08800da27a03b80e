"""Message -> Zulip Markdown: mentions only of roster people, ``<time:…>`` times, topic names within Zulip's limit."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from ... import logs
from ...messages import Link, Mention, Message, Text, Time, UserText, render
from ...schedule import UTC
from .platform import zulip_email
from .wire import MENTION_START_RE, ZWSP

log = logging.getLogger("chatbot.backends.zulip")


# Rendering: Message -> Zulip Markdown


def neutralize(text: str) -> str:
    """User text that cannot mention anyone: a zero-width space before every ``@``.

    Zulip's mention syntax (``@**Name**``, ``@**Name|id**``, silent ``@_**Name**``, wildcards
    ``@**all**``/``@**everyone**``/``@**stream**``/``@**channel**``/``@**topic**``, groups
    ``@*group*``) only counts when the ``@`` is at the start or after whitespace or one of
    ``'"({[/<`` (``BEFORE_MENTION_ALLOWED_REGEX`` in the server's ``zerver/lib/mention.py``);
    U+200B is none of these, neither for the server's Python regex nor the web app's.
    Backslash escapes do not work for ``@`` in Zulip Markdown (the backslash is shown)."""
    return text.replace("@", ZWSP + "@")


def defuse_mentions(text: str) -> str:
    """Bot text that may quote what someone typed (``unknown command '@**all**'``): mention
    syntax is defused with a zero-width space, everything else (e-mail addresses) is kept."""
    return MENTION_START_RE.sub(ZWSP + "@", text)


def stream_to(name: str) -> str:
    """The ``to`` of a stream message for a stream *name*. The server reads ``to`` as JSON
    first, so a name like ``2026`` would be taken for a stream id (and ``true`` refused):
    such names are sent JSON-encoded, which the server reads back as the name."""
    try:
        json.loads(name)
    except ValueError:
        return name
    return json.dumps(name)


def global_time(at: dt.datetime) -> str:
    """Zulip's global time syntax: every reader sees it in their own time zone."""
    if at.tzinfo is None:
        raise ValueError("Time segments must be timezone-aware")
    return f"<time:{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}>"


def _link(url: str, label: str) -> str:
    target = url.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    if not label or label == url:
        return target
    text = re.sub(r"([\[\]\\])", r"\\\1", label)
    return f"[{neutralize(text)}]({target})"


def mention_syntax(full_name: str, user_id: int | None) -> str:
    """``@**Name|id**``: Zulip takes it only with the user's name exactly as it is, ``|`` included
    (names may have one; the id is what follows the last). A name without an id (the roster's)
    loses its ``|`` so it cannot become the id syntax."""
    name = full_name.replace("*", "").strip()
    if user_id is not None:
        return f"@**{name}|{user_id}**" if name else f"@**|{user_id}**"
    return f"@**{name.replace('|', '').strip() or '?'}**"


class ZulipRenderer:
    """Zulip Markdown: mentions only of roster people, times as ``<time:…>``.
    ``lookup(email) -> (user_id, full_name) | None`` resolves roster people to Zulip users."""

    def __init__(self, lookup=None):
        self.lookup = lookup

    def text(self, seg: Text) -> str:
        # bot text, but it may quote what someone typed (an unknown command word)
        text = defuse_mentions(seg.text)
        return f"**{text}**" if seg.bold else text

    def user_text(self, seg: UserText) -> str:
        return neutralize(seg.text)

    def time(self, seg: Time) -> str:
        return global_time(seg.at)

    def link(self, seg: Link) -> str:
        return _link(seg.url, seg.label)

    def mention(self, seg: Mention) -> str:
        email = zulip_email(seg.person)
        found = self.lookup(email) if (self.lookup and email) else None
        if found:
            return mention_syntax(found[1] or seg.person.name, found[0])
        return mention_syntax(seg.person.name, None)


def render_zulip(message: Message, lookup=None) -> str:
    """The message in Zulip Markdown (may be longer than Zulip keeps: ZulipBackend.send_long
    splits it into several messages)."""
    return render(ZulipRenderer(lookup), message)


# ---------------------------------------------------------------------------------------
# Secrets never reach the logs


RedactSecrets = logs.RedactSecrets  # where tests and older code found it
