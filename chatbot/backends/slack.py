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

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Iterable, Mapping

from ..bot import Bot, Sender
from ..config import Config, ConfigError, Meeting, Person, UnknownMeeting
from .. import logs, messages
from ..messages import Link, Mention, Message, Text, Time, UserText, error, plain_user_text, render_plain
from .base import Backend, BackendError, wait_for_stop

log = logging.getLogger(__name__)

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


def _metadata(key: str | None) -> dict[str, Any]:
    return {"metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": key}}} if key else {}


# Errors that mean the token itself is wrong: retrying cannot help, the operator must act.
AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
               "not_allowed_token_type", "missing_scope", "no_permission", "invalid_token"}


# ---------------------------------------------------------------------------------------
# Rendering: Message -> Slack mrkdwn


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_text(text: str) -> str:
    """Escaped, with ``@channel``/``@here``/``@everyone`` defused (a zero-width space)."""
    return plain_user_text(escape(text))


def date_token(at: dt.datetime, fallback: str) -> str:
    """``<!date^UNIX^{date_short_pretty} at {time}|fallback>``: shown in each reader's zone."""
    if at.tzinfo is None:
        raise ValueError("Time segments must be timezone-aware")
    unix = int(at.timestamp())
    fb = safe_text(fallback).replace("|", "/")
    return f"<!date^{unix}^{{date_short_pretty}} at {{time}}|{fb}>"


def _link(url: str, label: str) -> str:
    target = escape(url.strip()).replace("|", "%7C").replace(" ", "%20")
    if not label or label == url:
        return f"<{target}>"
    return f"<{target}|{safe_text(label)}>"


def _bold(text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    return f"{lead}*{safe_text(core)}*{trail}"


_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class MrkdwnRenderer:
    """Slack mrkdwn: user text escaped, times as ``<!date^…>``, people as ``<@U…>``."""

    def text(self, seg: Text) -> str:
        # bot text can quote what a user typed (e.g. "unknown command 'x'"): escape it too
        return _bold(seg.text) if seg.bold else safe_text(seg.text)

    def user_text(self, seg: UserText) -> str:
        return safe_text(seg.text)

    def time(self, seg: Time) -> str:
        return date_token(seg.at, seg.fallback)

    def link(self, seg: Link) -> str:
        return _link(seg.url, seg.label)

    def mention(self, seg: Mention) -> str:
        sid = seg.person.slack_id
        if sid and _SLACK_ID.match(sid):
            return f"<@{sid}>"
        return safe_text(seg.person.name)


MRKDWN = MrkdwnRenderer()


def render_segment(seg: Any) -> str:
    return messages.render_segment(MRKDWN, seg)


def render_segments(line: Iterable[Any]) -> str:
    """One line of a message as mrkdwn."""
    return "".join(render_segment(s) for s in line)


def render_mrkdwn(message: Message) -> str:
    """The message as Slack mrkdwn text. Never contains ``<!channel>``/``<!here>`` or a raw
    ``<`` from user text."""
    return messages.render(MRKDWN, message)


MAX_TEXT = 40_000  # Slack keeps this many characters of a message's text and cuts the rest
_LONG_TAIL = 1_000  # a last line up to this long (e.g. the notes link) is kept after a cut
SHORTENED = f"_… (shortened: a Slack message holds at most {MAX_TEXT:,} characters)_"
_ATOM = re.compile(r"<[^<>\n]*>|&(?:amp|lt|gt);|.", re.S)  # never cut inside these


def _units(text: str) -> int:
    """Length as Slack may count it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str, budget: int) -> str:
    out, used = [], 0
    for m in _ATOM.finditer(line):
        n = _units(m.group())
        if used + n > budget:
            break
        out.append(m.group())
        used += n
    return "".join(out)


def fit_text(text: str, limit: int = MAX_TEXT, keep_last: bool = False) -> str:
    """Mrkdwn text Slack will show whole. Slack cuts a longer message wherever the limit falls
    (inside a link, an escape or a date token); this keeps the first lines that fit (the
    next one cut between entities, with "…"), says that it shortened the text and, with
    ``keep_last``, keeps a short last line (the notes link under an agenda)."""
    if _units(text) <= limit:
        return text
    lines = text.split("\n")
    last = lines.pop() if keep_last and len(lines) > 1 and _units(lines[-1]) <= _LONG_TAIL else None
    tail = [SHORTENED] + ([last] if last is not None else [])
    budget = limit - sum(_units(t) + 1 for t in tail)
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = _units(line) + (1 if kept else 0)
        if used + cost > budget:
            room = budget - used - (1 if kept else 0) - 1  # the "…"
            if room > 200 or not kept:
                kept.append(_cut(line, max(room, 0)) + "…")
            break
        kept.append(line)
        used += cost
    return "\n".join(kept + tail)


MAX_RESPONSES = 5  # a response_url takes up to 5 messages (within 30 minutes)


def _cut_at_space(line: str, budget: int) -> str:
    """The longest prefix of ``line`` within ``budget`` units, never inside an entity; ending
    after a space if one falls in its second half."""
    out, used, space = [], 0, 0
    for m in _ATOM.finditer(line):
        n = _units(m.group())
        if used + n > budget:
            break
        out.append(m.group())
        used += n
        if m.group() == " ":
            space = len(out)
    if space > len(out) // 2:
        out = out[:space]
    return "".join(out) or line[:1]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Mrkdwn text as messages Slack shows whole (each within ``limit``), split at line
    breaks; a single longer line is split between entities (after a space where it can be).
    Nothing is dropped: the parts, joined with newlines, are the text (except inside such a line)."""
    if _units(text) <= limit:
        return [text]
    pieces: list[str] = []
    for line in text.split("\n"):
        while _units(line) > limit:
            head = _cut_at_space(line, limit)
            pieces.append(head)
            line = line[len(head):]
        pieces.append(line)
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        if current is not None and _units(current) + 1 + _units(piece) <= limit:
            current += "\n" + piece
        else:
            if current is not None:
                chunks.append(current)
            current = piece
    chunks.append(current or "")
    return chunks


# ---------------------------------------------------------------------------------------
# Block Kit: reminders, action-item pings and /actions answers with buttons

MAX_BLOCKS = 50  # Slack refuses a message with more blocks
MAX_SECTION_TEXT = 3_000  # a section's text
ACTION_DONE = "chatbot_done"  # button: tick the action item in the notes
ACTION_CARRY = "chatbot_carry"  # button: carry the action item into the next meeting's notes
ACTION_ADD = "chatbot_agenda_add"  # button: open the "Add agenda item" modal
AGENDA_VIEW = "chatbot_agenda_add"  # the modal's callback_id
AGENDA_BLOCK = "agenda_item"  # its input block, and the element's action_id
AGENDA_INPUT = "text"
MAX_INPUT = 3_000  # plain_text_input max_length at most


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut_to(text, MAX_SECTION_TEXT)}]}
    if block_id:
        block["block_id"] = block_id
    return block


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": label, "emoji": True},
                              "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _cut_to(text: str, limit: int) -> str:
    """Mrkdwn cut to ``limit`` UTF-16 units, between entities, with "…"."""
    return text if _units(text) <= limit else _cut(text, limit - 1) + "…"


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines of mrkdwn as few sections as fit Slack's 3,000 characters each."""
    out: list[dict[str, Any]] = []
    chunk: list[str] = []
    used = 0
    for line in lines:
        line = _cut_to(line, MAX_SECTION_TEXT)
        cost = _units(line) + (1 if chunk else 0)
        if chunk and used + cost > MAX_SECTION_TEXT:
            out.append(_section("\n".join(chunk)))
            chunk, used = [], 0
            cost = _units(line)
        chunk.append(line)
        used += cost
    if chunk and "\n".join(chunk).strip():
        out.append(_section("\n".join(chunk)))
    return [b for b in out if b["text"]["text"].strip()]


def item_value(meeting_id: str | None, item: str, listing: str | None = None) -> str:
    """A Done / Next meeting button's value: which meeting and item (and, for an ephemeral
    /actions answer, the command that listed it, to show the list again after the click)."""
    data: dict[str, Any] = {"m": meeting_id or "", "i": item}
    if listing:
        data["l"] = listing
    return json.dumps(data, separators=(",", ":"))


def agenda_button(meeting_id: str) -> dict[str, Any]:
    """The reminder's **Add agenda item** button (its value names the meeting)."""
    return {"type": "actions", "block_id": "agenda", "elements": [
        _button("Add agenda item", ACTION_ADD, json.dumps({"m": meeting_id}, separators=(",", ":")))]}


FORM_SECONDS = 2.0  # of the 3 seconds Slack waits for a form's answer


def _form_view(mrkdwn: str) -> dict[str, Any]:
    """The agenda form after its submission: the answer, and a Close button."""
    return {"type": "modal", "title": {"type": "plain_text", "text": "Add agenda item"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [_section(_cut_to(mrkdwn, MAX_SECTION_TEXT) or " ")]}


def render_blocks(message: Message, meeting_id: str | None, prefix: str = "",
                  listing: str | None = None, max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """The message as Block Kit: its lines in sections; under each line that shows an open
    action item (``message.actions``) a **Done** and a **Next meeting** button; under a
    reminder an **Add agenda item** button. When the items would need more than Slack's 50
    blocks, the first ones get buttons and a note says how to tick the others."""
    lines = [render_segments(line) for line in message.lines]
    if prefix and lines:
        lines[0] = prefix + lines[0]
    reminder = message.kind == "reminder" and bool(meeting_id)
    marked = sorted(i for i in message.actions if 0 <= i < len(lines))

    def build(with_buttons: int) -> list[dict[str, Any]]:
        buttons = set(marked[:with_buttons])
        blocks: list[dict[str, Any]] = []
        plain: list[str] = []
        for i, line in enumerate(lines):
            if i not in buttons:
                plain.append(line)
                continue
            blocks += _sections(plain)
            plain = []
            value = item_value(meeting_id, message.actions[i], listing)
            blocks.append(_section(_cut_to(line, MAX_SECTION_TEXT) or " ", f"item:{i}"))
            blocks.append({"type": "actions", "block_id": f"act:{i}", "elements": [
                _button("Done", ACTION_DONE, value, "primary"), _button("Next meeting", ACTION_CARRY, value)]})
        blocks += _sections(plain)
        if with_buttons < len(marked):
            blocks.append(_context(f"Buttons are on the first {with_buttons} items; tick the others with "
                                   "`/actions done N`."))
        if reminder:
            blocks.append(agenda_button(meeting_id or ""))
        return blocks

    n = len(marked)
    blocks = build(n)
    while len(blocks) > max_blocks and n > 0:
        n = max(0, min(n - 1, n - (len(blocks) - max_blocks + 1) // 2))
        blocks = build(n)
    if len(blocks) > max_blocks:  # even without buttons (a message of very long lines): shorten
        keep = blocks[:max_blocks - 2] + [_context(SHORTENED.strip("_"))]
        blocks = keep + [b for b in blocks[-1:] if reminder]
    return blocks


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """The fallback text of a Block Kit message: its sections' and contexts' text, in order."""
    out = []
    for b in blocks:
        if b.get("type") == "section" and isinstance(b.get("text"), dict):
            out.append(str(b["text"].get("text", "")))
        elif b.get("type") == "context":
            out += [str(e.get("text", "")) for e in b.get("elements") or [] if isinstance(e, dict) and "text" in e]
    return fit_text("\n".join(out))


def mark_item(blocks: list[dict[str, Any]], block_id: str, note: str) -> list[dict[str, Any]] | None:
    """The blocks of a message whose buttons under ``block_id`` became ``note`` (a context
    line: done, by whom); None when that block is not in them (the message changed)."""
    out, found = [], False
    for b in blocks:
        if isinstance(b, dict) and b.get("block_id") == block_id and b.get("type") == "actions":
            out.append(_context(note, "done:" + block_id.partition(":")[2]))
            found = True
        else:
            out.append(b)
    return out if found else None


# ---------------------------------------------------------------------------------------
# Slash command text: Slack's wire format -> what the person typed


_WIRE = re.compile(r"<([^<>\s|][^<>]*)>|&(amp|lt|gt);")  # an entity starts right after '<'
_UNESCAPES = {"amp": "&", "lt": "<", "gt": ">"}


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` (once: ``&amp;lt;`` is ``&lt;``)."""
    return re.sub(r"&(amp|lt|gt);", lambda m: _UNESCAPES[m.group(1)], text)


def readable_text(text: str, user: Callable[[str, str], str] | None = None) -> str:
    """Slash command text as Slack sends it, turned back into what the person typed and saw:
    ``&amp;``/``&lt;``/``&gt;`` unescaped; ``<@U123|name>`` -> ``@name`` (``user(id, label)``
    names the person), ``<#C123|general>`` -> ``#general``, ``<!channel>`` -> ``@channel``
    (which every renderer defuses), ``<!subteam^S1|@team>`` -> ``@team``, ``<!date^…|text>``
    -> ``text``, ``<https://x|label>`` -> ``label (https://x)``. Nothing of Slack's markup is
    left, so the text cannot become a live mention or a disguised link again."""

    def entity(m: re.Match) -> str:
        if m.group(2):
            return _UNESCAPES[m.group(2)]
        target, _, label = m.group(1).partition("|")
        target, label = unescape(target).strip(), unescape(label).strip()
        if target.startswith("@"):
            uid = target[1:]
            name = user(uid, label) if user else (label or uid)
            return "@" + (name or label or uid).lstrip("@")
        if target.startswith("#"):
            return "#" + (label or target[1:]).lstrip("#")
        if target.startswith("!"):
            word, _, arg = target[1:].partition("^")
            if word == "subteam":
                return "@" + (label or arg).lstrip("@")
            if word == "date":
                return label or arg.partition("^")[0]
            return "@" + (label or word).lstrip("@")  # channel, here, everyone
        if not label or label == target:
            return target
        if label in (target.partition(":")[2], target.partition("://")[2]):
            return label  # <mailto:a@b.org|a@b.org>, <http://x.org|x.org>: what was typed
        return f"{label} ({target})"

    return _WIRE.sub(entity, text)


# ---------------------------------------------------------------------------------------
# Secrets never reach the logs


_TOKEN_RE = re.compile(r"\b(xox[a-z]-|xapp-)[A-Za-z0-9-]+")
# A slash command's response_url lets whoever has it answer in the workspace for 30 minutes,
# and its legacy verification token ("token") proves requests came from Slack: both are
# secrets. Redacted by key (form, JSON and Python-repr spellings: debug logs print payloads
# in all three) and, wherever else such a URL shows up (the webhook client logs the URL it
# posts to), by shape: everything after /commands/, /actions/, /services/ or /workflows/.
_SECRET_FIELD_RE = re.compile(r"""(?<![\w-])(["']?(?:response_url|token)["']?\s*[:=]\s*["']?)([^"'&\s,}]+)""")
_HOOK_URL_RE = re.compile(r"""(https?:(?:\\?/){2}[^\s"'<>]*?(?:\\?/)(?:commands|actions|services|workflows)(?:\\?/))"""
                          r"""[^\s"'<>,)]+""")


SLACK_SECRET_PATTERNS = (_TOKEN_RE, _HOOK_URL_RE, _SECRET_FIELD_RE)


class RedactSecrets(logs.RedactSecrets):
    """The configured secrets, anything shaped like a Slack token, response URLs and the
    legacy verification token."""

    def __init__(self, secrets: list[str]):
        super().__init__(secrets, SLACK_SECRET_PATTERNS)


class _DropNoise(logging.Filter):
    """bolt warns that SLACK_BOT_TOKEN from the environment is unused because we hand it a
    ready client (built from that same variable); that is expected here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


def _install_redaction(secrets: list[str]) -> logs.RedactSecrets:
    return logs.redact_in_logs(*secrets, patterns=SLACK_SECRET_PATTERNS)


# ---------------------------------------------------------------------------------------
# HTTP mode server


def _ack_only(ack) -> None:
    ack()  # Slack gives up after 3 seconds; the work follows in SlackBackend._on_command


class AckPriority:
    """Acks first. Slack waits at most 3 seconds for a command's ack but nobody waits on the
    millisecond for its answer, so the work behind an ack (notes edit, answer, channel note)
    holds back while other commands are still being acknowledged: it starts once no ack has
    been in flight for ``settle`` seconds, and never later than ``max_wait`` seconds after
    it was queued (so under a steady stream of commands nothing starves).

    ``wrap`` counts the requests of a WSGI application; ``executor`` runs the work."""

    def __init__(self, threads: int, max_wait: float = 1.0, settle: float = 0.02):
        self.max_wait = max_wait
        self.settle = settle
        self._busy = 0
        self._last = float("-inf")
        self._cond = threading.Condition()
        self.executor = _HoldingExecutor(self, max_workers=threads, thread_name_prefix="slack-work")

    def wrap(self, app: Callable) -> Callable[[dict, Callable], Iterable[bytes]]:
        def counted(environ: dict, start_response: Callable) -> Iterable[bytes]:
            with self._cond:
                self._busy += 1
            try:
                return app(environ, start_response)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._last = time.monotonic()
                    self._cond.notify_all()

        return counted

    def wait_quiet(self, queued_at: float) -> None:
        """Block until no ack is in flight (and none ended in the last ``settle`` seconds),
        or until ``queued_at + max_wait``."""
        deadline = queued_at + self.max_wait
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                if self._busy:
                    self._cond.wait(deadline - now)
                elif now - self._last < self.settle:
                    self._cond.wait(min(self.settle - (now - self._last), deadline - now))
                else:
                    return


class _HoldingExecutor(ThreadPoolExecutor):
    def __init__(self, acks: AckPriority, **kwargs: Any):
        super().__init__(**kwargs)
        self._acks = acks

    def submit(self, fn, /, *args, **kwargs):
        queued_at = time.monotonic()

        def held():
            self._acks.wait_quiet(queued_at)
            return fn(*args, **kwargs)

        return super().submit(held)


def prompt_socket_mode_handler(app, app_token: str, logger: logging.Logger, web_client,
                               accept: Callable[[Any, Any], bool] | None = None):
    """bolt's Socket Mode handler on slack_sdk's built-in client, with its two stalls removed
    (measured in ``bench/latency.py``, Socket Mode case):

    * Replacing a connection (Slack's ``disconnect`` request, or any reconnect): the built-in
      client closed the old connection before using the new one, and closing waited for the
      old connection's reader to give up its ``recv`` (a 3 s timeout); the thread that runs
      the acks waited with it, so a command arriving then was acked after ~3 s, past Slack's
      limit. Here the new connection is used at once and the old one is retired in the
      background: its write side is shut (the server answers with its own close, after
      delivering what it had sent), then, after ``SOCKET_RETIRE_GRACE``, it is shut for good.
    * A connection the server closed without a close frame (TCP FIN or reset): the built-in
      reader takes end-of-file for "no data yet" and only missing pongs revealed it, after
      four ping intervals (~15 s deaf). A watcher looks for end-of-file every
      ``SOCKET_WATCH_INTERVAL`` and reconnects at once.

    ``accept(client, request)`` (optional) is asked before bolt runs a request; False: it is
    not run (``accept`` acknowledged it itself).
    """
    from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
    from slack_sdk.socket_mode.builtin.client import SocketModeClient
    from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

    def at_eof(sock) -> bool:
        """Whether the peer closed the TCP connection and nothing is left to read (a look at
        the raw socket, under any TLS layer, without taking anything from the reader)."""
        try:
            fd = sock.fileno()
            if fd < 0:
                return True
            with socket.fromfd(fd, sock.family, sock.type) as raw:
                raw.setblocking(False)
                return raw.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def retire(old) -> None:
        sock = getattr(old, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            time.sleep(SOCKET_RETIRE_GRACE)
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes its reader if the server did not close
            except OSError:
                pass
        try:
            old.close()
        except Exception as exc:
            logger.debug("closing a replaced Socket Mode connection: %s", exc)

    class PromptClient(SocketModeClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._watcher_stop = threading.Event()
            threading.Thread(target=self._watch, name="slack-socket-watch", daemon=True).start()

        def connect(self) -> None:  # the built-in connect(), retiring the old connection in the background
            old_session, old_state = self.current_session, self.current_session_state
            if self.wss_uri is None:
                self.wss_uri = self.issue_new_wss_url()
            session = Connection(
                url=self.wss_uri, logger=self.logger, ping_interval=self.ping_interval,
                trace_enabled=self.trace_enabled, all_message_trace_enabled=self.all_message_trace_enabled,
                ping_pong_trace_enabled=self.ping_pong_trace_enabled, receive_buffer_size=self.receive_buffer_size,
                proxy=self.proxy, proxy_headers=self.proxy_headers, on_message_listener=self._on_message,
                on_error_listener=self._on_error, on_close_listener=self._on_close, ssl_context=self.web_client.ssl)
            session.connect()
            if old_state is not None:
                old_state.terminated = True
            self.current_session = session
            self.current_session_state = ConnectionState()
            self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
            if old_session is not None:
                threading.Thread(target=retire, args=(old_session,), name="slack-socket-retire", daemon=True).start()
            if not self.current_app_monitor_started:
                self.current_app_monitor_started = True
                self.current_app_monitor.start()
            self.logger.info(f"A new session has been established (session id: {self.session_id()})")

        def _watch(self) -> None:
            while not self._watcher_stop.wait(SOCKET_WATCH_INTERVAL):
                session = self.current_session
                if self.closed or session is None or not self.auto_reconnect_enabled:
                    continue
                try:
                    sock = session.sock
                    if sock is not None and not at_eof(sock):
                        continue
                    if sock is not None:
                        self.logger.info("Slack closed the Socket Mode connection; reconnecting")
                        session.disconnect()
                    self.connect_to_new_endpoint()
                except Exception as exc:  # the built-in monitor tries again too
                    self.logger.warning("reconnecting to Slack failed: %s: %s", type(exc).__name__, exc)

        def close(self) -> None:
            self._watcher_stop.set()
            super().close()

    class PromptHandler(BaseSocketModeHandler):
        def __init__(self):
            self.app = app
            self.app_token = app_token
            self.client = PromptClient(app_token=app_token, logger=logger, web_client=web_client,
                                       proxy=web_client.proxy, ping_interval=SOCKET_PING_INTERVAL)
            self.client.socket_mode_request_listeners.append(self.handle)

        def handle(self, client, req) -> None:  # as bolt's built-in handler
            if accept is not None and not accept(client, req):
                return
            start = time.time()
            send_response(client, req, run_bolt_app(self.app, req), start)

    return PromptHandler()


def _refuse(start_response: Callable, status: str, why: str) -> Iterable[bytes]:
    log.info("refused a request to %s: %s", HTTP_PATH, why)
    body = b'{"error": "invalid request"}'
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


SIGNATURE_MAX_AGE = 5 * 60  # seconds, as Slack documents (and bolt checks)


def _signature_ok(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 request signature over the raw bytes (slack_sdk's verifier decodes the body
    as UTF-8 first and raises on anything else)."""
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode("ascii", "replace") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def _checked_requests(app: Callable, signing_secret: Callable[[], str]) -> Callable:
    """Requests to the slash command endpoint as bolt may see them. The server has already
    refused bodies over the size limit (413) and read the rest whole; here a request is
    refused unless its signature is valid (401: missing, wrong, stale, or a timestamp that is
    not a number), and then unless its body is UTF-8 text (and JSON, when it says it is JSON)
    (400). Bolt would have answered such bodies with a 500 and logged a traceback."""
    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(start_response, "400 Bad Request", "Content-Length is not a number")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        ts = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        sig = environ.get("HTTP_X_SLACK_SIGNATURE")
        if ts is None or sig is None:
            return _refuse(start_response, "401 Unauthorized", "no signature")
        try:
            int(ts)
        except ValueError:
            return _refuse(start_response, "401 Unauthorized", "X-Slack-Request-Timestamp is not a number")
        if not _signature_ok(signing_secret(), body, ts, sig):
            return _refuse(start_response, "401 Unauthorized", "wrong or stale signature")
        try:
            text = body.decode("utf-8")
            if "json" in (environ.get("CONTENT_TYPE") or "").lower():
                json.loads(text)
            else:  # a click or a form submission: its JSON comes in the form field "payload"
                payload = urllib.parse.parse_qs(text).get("payload")
                if payload is not None and not isinstance(json.loads(payload[-1]), dict):
                    raise ValueError("payload is not a JSON object")
        except (UnicodeDecodeError, ValueError):
            return _refuse(start_response, "400 Bad Request", "a signed body that is not UTF-8 text or not JSON")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return guarded


# ---------------------------------------------------------------------------------------
# The backend



def slack_sender(config: Config, user_id: str | None, name: str | None = None) -> Sender:
    """The Slack user, resolved to their roster entry by ``slack_id``, as the core gets them."""
    return Sender("slack", user_id, name, person=config.person_by(slack_id=user_id) if user_id else None,
                  id_field="slack_id")

class SlackBackend(Backend):
    name = "slack"

    def __init__(self, bot: Bot, env: Mapping[str, str] | None = None):
        # no network here: the constructor is also used by `chatbot remind --dry-run`
        super().__init__(bot)
        self.env = os.environ if env is None else env
        self._client = None
        self._app = None
        self._socket_handler = None
        self._http_server: Any = None
        self._http_thread: threading.Thread | None = None
        self._work: ThreadPoolExecutor | None = None
        self._public: ThreadPoolExecutor | None = None  # channel notes, one at a time, in order
        self._public_lock = threading.Lock()
        self._forms: ThreadPoolExecutor | None = None  # agenda form submissions (see _on_agenda_view)
        self._acks: AckPriority | None = None
        self._redaction: RedactSecrets | None = None
        self._client_lock = threading.Lock()
        self.bot_user_id: str | None = None
        self._bot_token_refused: str | None = None

    @property
    def settings(self):
        return self.bot.config.slack  # live: the config may be reloaded while running

    # -- Backend API ------------------------------------------------------------------

    def wants(self, meeting: Meeting) -> bool:
        return bool(meeting.destinations.slack_channel)

    def meeting_for(self, place: str | None) -> str | None:
        if not place:
            return None
        for m in self.bot.config.meetings:
            if m.destinations.slack_channel == place:
                return m.id
        return None

    def render(self, message: Message, prefix: str = "") -> str:
        """The message as mrkdwn, whole (``render_parts``: as it is posted)."""
        return prefix + render_mrkdwn(message)

    def render_parts(self, message: Message, prefix: str = "", most: int | None = None) -> list[str]:
        """The message as the messages it is posted as: split at line breaks where it is longer
        than Slack keeps; with ``most``, the last allowed part is shortened (a last line the bot
        wrote itself, such as the notes link, stays)."""
        parts = split_text(self.render(message, prefix))
        if most is not None and len(parts) > most:
            last = message.lines[-1] if message.lines else ()
            rest = "\n".join(parts[most - 1:])
            parts = parts[: most - 1] + [fit_text(rest, keep_last=not any(isinstance(s, UserText) for s in last))]
        return parts

    def _post_parts(self, channel: str, message: Message, key: str | None = None,
                    meeting_id: str | None = None) -> None:
        """Post the message, in several parts if it is long; the ledger key goes on the last
        part, so a crash between parts counts as not sent (posted again whole, never lost).
        With ``meeting_id``, a message people act on is posted with its Block Kit buttons
        (:meth:`blocks`); a reminder in several parts has its button under the last one."""
        parts = self.render_parts(message)
        blocks = self.blocks(message, meeting_id) if meeting_id else {}
        for n, part in enumerate(parts, 1):
            extra = {}
            if blocks and len(parts) == 1:
                extra = blocks
            elif blocks and n == len(parts) and message.kind == "reminder":
                extra = {"blocks": _sections(part.split("\n")) + [agenda_button(meeting_id or "")]}
            self.call("chat.postMessage", channel=channel, text=part, unfurl_links=False, unfurl_media=False,
                      **extra, **_metadata(key if n == len(parts) else None))

    def blocks(self, message: Message, meeting_id: str | None, prefix: str = "",
               listing: str | None = None) -> dict[str, Any]:
        """``{"blocks": [...]}`` for a message people act on (a reminder, a message listing
        open action items), else nothing: the text alone (which stays, as the fallback)."""
        if not (message.actions or message.kind == "reminder"):
            return {}
        try:
            meeting = self.bot.config.meeting(meeting_id)
        except UnknownMeeting:
            return {}
        return {"blocks": render_blocks(message, meeting.id, prefix, listing)}

    def post(self, meeting: Meeting, message: Message) -> None:
        self.post_once(meeting, message, None)

    def post_once(self, meeting: Meeting, message: Message, key: str | None) -> None:
        """``post``, with the runner's ledger key in the message's metadata (invisible to
        people; ``conversations.history`` returns it), so after a crash :meth:`find_sent` can
        tell whether this very post was made."""
        channel = meeting.destinations.slack_channel
        if not channel:
            raise BackendError(f"meeting {meeting.id!r} has no destinations.slack_channel")
        self._post_parts(channel, message, key, meeting.id)
        log.info("posted to Slack channel %s for %s", channel, meeting.id)

    def notify(self, meeting: Meeting, person: Person, message: Message) -> None:
        self.notify_once(meeting, person, message, None)

    def notify_once(self, meeting: Meeting, person: Person, message: Message, key: str | None) -> None:
        """An action-item ping: a direct message when the meeting says ``actions.ping = "dm"``
        and the person has a ``slack_id``, else a post in the meeting's channel."""
        dm = self._dm_channel(meeting, person)
        if dm is None:
            self.post_once(meeting, message, key)
            return
        self._post_parts(dm, message, key, meeting.id)
        log.info("sent a Slack direct message to %s (%s)", person.initials, person.slack_id)

    def _dm_channel(self, meeting: Meeting, person: Person | None) -> str | None:
        if person is None or not (meeting.actions.ping == "dm" and person.slack_id):
            return None
        opened = self.call("conversations.open", users=person.slack_id)
        dm = (opened.get("channel") or {}).get("id")
        if not dm:
            raise BackendError("Slack API conversations.open returned no channel")
        return dm

    def find_sent(self, meeting: Meeting, key: str, since: dt.datetime, data: dict,
                  person: Person | None = None) -> bool | None:
        """Whether the post marked ``key`` is in its channel (``conversations.history`` since
        shortly before the intent was recorded, with metadata). BackendError when Slack cannot
        be asked now (the runner tries again later rather than guess); None when it never
        can (e.g. the app lacks the ``channels:history`` scope): the runner posts."""
        try:
            return self._find_sent(meeting, key, since, person)
        except BackendError as exc:
            code = getattr(exc, "code", None)
            if code is None or code in TRANSIENT_ERRORS:
                raise
            log.warning("Slack: cannot look for a post made before a crash (%s); add the scopes channels:history, "
                        "groups:history and im:history to the app so a crash never doubles a reminder", code)
            return None

    def _find_sent(self, meeting: Meeting, key: str, since: dt.datetime, person: Person | None) -> bool:
        channel = self._dm_channel(meeting, person) or meeting.destinations.slack_channel
        if not channel:
            return False
        oldest = f"{since.timestamp() - FIND_SLACK_SECONDS:.6f}"
        cursor = None
        for _ in range(FIND_PAGES):
            params: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200, "include_all_metadata": True}
            if cursor:
                params["cursor"] = cursor
            data_ = self.call("conversations.history", **params)
            for m in data_.get("messages") or []:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                    return True
            cursor = (data_.get("response_metadata") or {}).get("next_cursor")
            if not (data_.get("has_more") and cursor):
                return False
        log.warning("Slack: %s has more than %d pages of messages since %s; not searched further",
                    channel, FIND_PAGES, since.isoformat(timespec="seconds"))
        return False

    def prepare(self) -> None:
        """Before the scheduler starts: the secrets the mode needs are all set and look right
        (ConfigError naming what is missing). No network: Slack is asked in ``run()``."""
        mode = self.settings.mode
        needed = [BOT_TOKEN_ENV, APP_TOKEN_ENV] if mode == "socket" else [BOT_TOKEN_ENV, SIGNING_SECRET_ENV]
        self._require(*needed)
        app_token = self._env(APP_TOKEN_ENV) if mode == "socket" else None
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError(f"{APP_TOKEN_ENV} must be an app-level token starting with 'xapp-' "
                              "(Basic Information > App-Level Tokens, scope connections:write)")

    def run(self, stop: threading.Event) -> None:
        self.prepare()  # again: run() may be called without the runner
        mode = self.settings.mode
        app_token = self._env(APP_TOKEN_ENV) if mode == "socket" else None
        if not self._authenticate(stop):
            return
        app = self._build_app()
        if mode == "socket":
            self._run_socket(app, app_token or "", stop)
        else:
            self._run_http(app, stop)

    def close(self) -> None:
        handler, self._socket_handler = self._socket_handler, None
        if handler is not None:
            try:
                # wake the receiving thread at once instead of after its 3 s read timeout
                session = getattr(handler.client, "current_session", None)
                sock = getattr(session, "sock", None)
                handler.client.current_session_state.terminated = True
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                pass
            try:
                handler.close()
            except Exception as exc:  # closing a broken socket must not hide the real problem
                log.debug("closing the Socket Mode client: %s", exc)
        server, self._http_server = self._http_server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        work, self._work = self._work, None
        if work is not None:  # acknowledged commands finish their edits before the bot exits
            work.shutdown(wait=True)
        with self._public_lock:
            forms, self._forms = self._forms, None
        if forms is not None:  # so do submitted agenda forms (their channel notes queue below)
            forms.shutdown(wait=True)
        with self._public_lock:
            public, self._public = self._public, None
        if public is not None:  # and their channel notes go out
            public.shutdown(wait=True)

    # -- secrets and the Web API client -------------------------------------------------

    def _env(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    def _require(self, *names: str) -> None:
        missing = [n for n in names if not self._env(n)]
        if missing:
            mode = self.settings.mode
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                f"the Slack backend in {mode} mode needs {', '.join(names)} in the environment "
                "(see the Slack section of README.md)")
        self._protect([self._env(n) for n in (BOT_TOKEN_ENV, APP_TOKEN_ENV, SIGNING_SECRET_ENV)])

    def _protect(self, secrets: list[str]) -> None:
        if self._redaction is None:
            self._redaction = _install_redaction(secrets)
        else:
            self._redaction.secrets = sorted(set(self._redaction.secrets) | {s for s in secrets if s})

    @property
    def api_url(self) -> str:
        url = self.settings.api_url or DEFAULT_API_URL
        return url if url.endswith("/") else url + "/"

    @property
    def client(self):
        """The Web API client (created on first use; needs SLACK_BOT_TOKEN)."""
        with self._client_lock:
            if self._client is None:
                from slack_sdk import WebClient
                from slack_sdk.http_retry.builtin_handlers import (
                    ConnectionErrorRetryHandler,
                    RateLimitErrorRetryHandler,
                )

                self._require(BOT_TOKEN_ENV)
                self._client = WebClient(
                    token=self._env(BOT_TOKEN_ENV),
                    base_url=self.api_url,
                    timeout=30,
                    logger=logging.getLogger("chatbot.slack.web"),
                    retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                    RateLimitErrorRetryHandler(max_retry_count=5)],
                )
            return self._client

    def call(self, method: str, **params: Any) -> dict:
        """Call a Web API method; rate limits are retried by the client after Retry-After.
        Any failure is logged with the method name and raised as BackendError."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        if self._bot_token_refused:  # Slack said the token is no good: do not keep asking
            log.info("Slack API %s not called: %s was refused earlier (see /healthz)", method, BOT_TOKEN_ENV)
            error = BackendError(f"Slack API {method} not called: {self._bot_token_refused}")
            error.code = "token_refused"  # type: ignore[attr-defined]
            raise error
        func = getattr(self.client, method.replace(".", "_"))
        try:
            return func(**params).data
        except SlackApiError as exc:
            err = (exc.response.get("error") if exc.response is not None else None) or "unknown_error"
            status = getattr(exc.response, "status_code", "?")
            if err in REVOKED_ERRORS:
                self._refuse_bot_token(err, method)
            log.error("Slack API %s failed: %s (HTTP %s)", method, err, status)
            error = BackendError(f"Slack API {method} failed: {err}")
            error.code = err  # type: ignore[attr-defined]
            raise error from None
        except (SlackClientError, OSError) as exc:
            log.error("Slack API %s failed: cannot reach %s (%s)", method, self.api_url, exc)
            raise BackendError(f"Slack API {method} failed: {exc}") from None

    def _refuse_bot_token(self, err: str, method: str) -> None:
        """The bot token was refused while running (revoked, the app uninstalled, the account
        deactivated): no post can work until it is replaced and the bot restarted. Said once;
        ``/healthz`` reports it; in Socket Mode (no /healthz) the bot stops and exits non-zero.
        In HTTP mode it keeps serving (slash commands are still answered through their
        response_url, which needs no token) and ``/healthz`` says what is wrong."""
        message = (f"{BOT_TOKEN_ENV} was refused by Slack ({err}) on {method}: reminders, pings and channel notes "
                   "cannot be posted; put a valid Bot User OAuth Token (xoxb-…) in the environment and restart")
        self._bot_token_refused = message
        self.refused(BOT_TOKEN_ENV, message, fatal=self.settings.mode == "socket")

    def _refuse_app_token(self, err: str) -> None:
        message = (f"{APP_TOKEN_ENV} was refused by Slack ({err}) on apps.connections.open: no slash command can "
                   "arrive; generate a new app-level token (xapp-…, scope connections:write) or turn Socket Mode "
                   "back on, put it in the environment and restart")
        self.refused(APP_TOKEN_ENV, message, fatal=True)

    def _app_token_client(self):
        """The Web API client Socket Mode opens connections with (``apps.connections.open`` with
        the app-level token): a refused token stops the bot instead of being retried forever."""
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError
        from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

        backend = self

        class AppTokenClient(WebClient):
            def apps_connections_open(self, *, app_token: str, **kwargs: Any):
                if backend.fatal:  # stopping: do not ask again
                    raise BackendError(backend.fatal)
                try:
                    return super().apps_connections_open(app_token=app_token, **kwargs)
                except SlackApiError as exc:
                    err = (exc.response.get("error") if exc.response is not None else None) or "unknown_error"
                    if err in APP_TOKEN_REFUSED:
                        backend._refuse_app_token(err)
                    raise

        return AppTokenClient(base_url=self.api_url, timeout=30, logger=logging.getLogger("chatbot.slack.web"),
                              retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                              RateLimitErrorRetryHandler(max_retry_count=5)])

    def _authenticate(self, stop: threading.Event) -> bool:
        """auth.test until it works: a refused token stops the bot with a clear message, an
        unreachable Slack is retried (with backoff) until ``stop``."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        delay = 1.0
        while not stop.is_set():
            try:
                resp = self.client.auth_test()
                self.bot_user_id = resp.get("user_id")
                log.info("Slack: authenticated as %s in workspace %s", resp.get("user"), resp.get("team"))
                return True
            except SlackApiError as exc:
                err = exc.response.get("error") if exc.response is not None else "unknown_error"
                if err in AUTH_ERRORS:
                    raise ConfigError(f"{BOT_TOKEN_ENV} was refused by Slack ({err}); use the app's "
                                      "Bot User OAuth Token (xoxb-…) from OAuth & Permissions") from None
                log.warning("Slack API auth.test failed: %s; retrying in %.0f s", err, delay)
            except (SlackClientError, OSError) as exc:
                log.warning("cannot reach Slack at %s (%s); retrying in %.0f s", self.api_url, exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
        return False

    # -- bolt ---------------------------------------------------------------------------

    def _build_app(self):
        from slack_bolt import App

        http = self.settings.mode == "http"
        bolt_log = logging.getLogger("chatbot.slack.bolt")
        if not any(isinstance(f, _DropNoise) for f in bolt_log.filters):
            bolt_log.addFilter(_DropNoise())
        # The ack is the whole synchronous part: it runs in the request's own thread (HTTP) or
        # the websocket's listener (Socket Mode) and the answer goes out at once; the command's
        # work (notes edit, reply, channel note) is a bolt "lazy" listener on our own pool, so
        # a burst of commands never queues acks behind other commands' work, and close() can
        # let in-flight work finish. In HTTP mode that work also waits for a burst's acks to
        # be out (AckPriority, at most 1 s).
        self._acks = AckPriority(WORK_THREADS)
        self._work = self._acks.executor
        from slack_bolt.error import BoltError

        try:
            app = App(
                client=self.client,
                signing_secret=self._env(SIGNING_SECRET_ENV) if http else "unused-in-socket-mode",
                request_verification_enabled=http,
                # bolt's own auth.test, now rather than inside the first command's 3-second ack
                # (_authenticate already checked the token, with clearer messages and retries)
                token_verification_enabled=True,
                process_before_response=True,  # ack in the request; the work is the lazy listener
                raise_error_for_unhandled_request=False,
                listener_executor=self._work,
                logger=bolt_log,
            )
        except BoltError as exc:
            raise BackendError(f"Slack API auth.test failed while starting: {exc}") from None
        if http:
            app.use(self._once_per_request)  # after bolt's signature check: only signed requests count
        # which names are ours is asked per command: a reloaded config may rename them
        app.command(re.compile(r"^/"), matchers=[self._is_ours])(ack=_ack_only, lazy=[self._on_command])
        app.command(re.compile(r"^/"))(self._on_unknown_command)  # after the known ones
        # buttons: Done / Next meeting work after the ack (like commands); Add agenda item must
        # open its modal within the click's 3 seconds, and the modal's submission is answered
        # in its ack (errors are shown in the modal)
        for button in (ACTION_DONE, ACTION_CARRY):
            app.action(button)(ack=_ack_only, lazy=[self._on_item_button])
        app.action(ACTION_ADD)(self._on_add_button)
        app.view(AGENDA_VIEW)(self._on_agenda_view)
        app.error(self._on_error)
        self._app = app
        return app

    def _once_per_request(self, req, next) -> Any:  # noqa: A002 (bolt passes it by this name)
        """HTTP mode: a signed request seen before (Slack's retry with ``X-Slack-Retry-Num``,
        or the same bytes replayed within the 5-minute signature window) is acknowledged and
        not acted on again. The key is the digest of the body: each command's body is unique
        (its ``trigger_id`` and ``response_url``), and a retry repeats it byte for byte."""
        from slack_bolt.response import BoltResponse

        raw = req.raw_body if isinstance(req.raw_body, str) else str(req.raw_body or "")
        key = "slack-http:" + hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
        if self.first_delivery(key):
            return next()
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        log.info("Slack sent a request again (%s); it was handled already: acknowledged, not acted on",
                 f"X-Slack-Retry-Num {retry}" if retry else "same body")
        return BoltResponse(status=200, body="")

    def _is_ours(self, command: dict) -> bool:
        return (command.get("command") or "") in self.commands()

    def _on_unknown_command(self, ack, command: dict) -> None:
        """A slash command the app's manifest has but the config does not name (renamed in
        one place only): answer, rather than let Slack show the user "dispatch_failed"."""
        name = command.get("command") or "?"
        log.warning("Slack sent %s, which [slack] command/next_command/actions_command do not name", name)
        known = ", ".join(sorted(self.commands()))
        ack(text=f":warning: this bot does not handle {escape(name)}; it answers {escape(known)}. "
                 "(For the admin: the slash command names in the Slack app and in the bot's [slack] "
                 "settings differ.)", response_type="ephemeral")

    def _on_error(self, error: Exception, body: dict) -> None:
        what = body.get("command") if isinstance(body, dict) else None
        log.error("Slack request %s failed: %s: %s", what or "?", type(error).__name__, error,
                  exc_info=(type(error), error, error.__traceback__))

    def commands(self) -> dict[str, str]:
        """Slash command name -> the core command it runs."""
        s = self.settings
        out = {}
        for name, core in ((s.command, "agenda"), (s.next_command, "next"), (s.actions_command, "actions")):
            name = (name or "").strip()
            if name:
                out.setdefault(name if name.startswith("/") else "/" + name, core)
        return out

    def command_text(self, command: str, text: str) -> str:
        """What the bot core gets for a slash command: '/agenda add x' -> 'agenda add x'."""
        core = self.commands().get(command, "agenda")
        if core == "next":
            return "next"
        return f"{core} {(text or '').strip()}".strip()

    def _on_command(self, command: dict, respond) -> None:
        """A slash command's work, after Slack has its ack (bolt lazy listener)."""
        try:
            self._work_on(command, respond)
        except Exception as exc:  # bolt would log only a one-liner; the bot keeps running
            log.error("Slack command %s failed: %s: %s", command.get("command") or "?", type(exc).__name__, exc,
                      exc_info=True)
            try:
                respond(text=":warning: something went wrong on the bot's side; see its log",
                        response_type="ephemeral")
            except Exception:
                pass

    def _sender(self, user_id: str | None, user_name: str | None) -> Sender:
        """The Slack user as the core gets them; with ``allow_unknown_users``, someone not in
        the roster is named by their Slack name."""
        if self.settings.allow_unknown_users and user_id and self.bot.config.person_by(slack_id=user_id) is None:
            user_name = self._display_name(user_id) or user_name
        return slack_sender(self.bot.config, user_id, user_name)

    def _spelled(self) -> dict[str, str]:
        return {core: slash for slash, core in reversed(list(self.commands().items()))}

    def _work_on(self, command: dict, respond) -> None:
        name = command.get("command") or ""
        user_id = command.get("user_id")
        channel = command.get("channel_id")
        meeting_id = self.meeting_for(channel)
        allow = self.settings.allow_unknown_users
        # direct-message channels (D…) are always allowed; others may be limited by
        # [bot] allowed_places
        place = channel if channel and not channel.startswith("D") else None
        typed = readable_text(command.get("text") or "", self._user_label)
        core_text = self.command_text(name, typed)
        message = self.bot.handle(core_text, self._sender(user_id, command.get("user_name")), meeting_id,
                                  allow_unknown=allow, place=place, spelled=self._spelled())
        log.info("slack %s from %s in %s: %s", name, user_id, channel, message.kind)
        prefix = "" if message.ok else ":warning: "
        # an action-item list gets buttons; after a click the list is shown again (it is
        # ephemeral: Slack does not send it back with the click)
        listing = core_text if core_text.split() in (["actions"], ["actions", "mine"]) else None
        try:
            parts = self.render_parts(message, prefix, most=MAX_RESPONSES)
            blocks = self.blocks(message, meeting_id, prefix, listing) if len(parts) == 1 else {}
            for text in parts:
                resp = respond(text=text, response_type="ephemeral", **blocks)
                status = getattr(resp, "status_code", 200)
                if status >= 300:
                    log.error("Slack response_url answered HTTP %s for %s", status, name)
        except Exception as exc:  # the answer is lost, but the bot keeps running
            log.error("Slack response_url failed for %s: %s", name, exc)
        self._public_note(message, meeting_id, channel)

    def _public_note(self, message: Message, meeting_id: str | None, channel: str | None) -> None:
        """A change's short public note in the meeting's channel (``public_confirmation``)."""
        if not (message.ok and message.announcement is not None and self.settings.public_confirmation):
            return
        try:
            meeting = self.bot.config.meeting(meeting_id)
        except UnknownMeeting:
            return
        target = meeting.destinations.slack_channel or channel
        if target:
            # on a queue of its own: a channel post that is rate limited (waiting out a
            # Retry-After) must not hold a worker, and with it other people's private answers
            self._public_queue().submit(self._post_public, target, message.announcement)

    def _public_queue(self) -> ThreadPoolExecutor:
        with self._public_lock:
            if self._public is None:
                # one thread: the channel notes go out one at a time, in the order they were made
                self._public = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-public")
            return self._public

    def _post_public(self, target: str, message: Message) -> None:
        try:
            self._post_parts(target, message)
        except BackendError:
            pass  # logged by call()
        except Exception:
            log.exception("Slack: posting a channel note failed")

    # -- buttons and the agenda modal ----------------------------------------------------

    def _on_item_button(self, body: dict, action: dict, respond) -> None:
        """Done / Next meeting on an action item (bolt lazy listener, after the ack)."""
        try:
            self._item_button(body, action, respond)
        except Exception as exc:  # the bot keeps running; the person is told
            log.error("Slack button %s failed: %s: %s", action.get("action_id"), type(exc).__name__, exc,
                      exc_info=True)
            try:
                respond(text=":warning: something went wrong on the bot's side; see its log",
                        response_type="ephemeral", replace_original=False)
            except Exception:
                pass

    def _item_button(self, body: dict, action: dict, respond) -> None:
        try:
            value = json.loads(action.get("value") or "{}")
            if not isinstance(value, dict):
                raise ValueError("not an object")
        except ValueError:
            value = {}
        meeting_id, ident, listing = value.get("m") or None, value.get("i"), value.get("l")
        user = body.get("user") or {}
        user_id = user.get("id")
        sender = self._sender(user_id, user.get("username") or user.get("name"))
        done = action.get("action_id") == ACTION_DONE
        if not isinstance(ident, str) or not ident:
            message = error("this button names no action item; list them again (`actions`)")
        else:
            try:
                message = self.bot.run(("actions", "done-item" if done else "carry"), sender, meeting_id, item=ident)
            except UnknownMeeting as exc:
                message = error(str(exc))
        container = body.get("container") or {}
        log.info("slack button %s from %s on %s: %s", action.get("action_id"), user_id, ident, message.kind)
        if not message.ok:
            respond(text=":warning: " + self.render(message), response_type="ephemeral", replace_original=False)
            return
        by = f"<@{user_id}>" if user_id and _SLACK_ID.match(user_id) else safe_text(sender.name or "?")
        head = message.lines[0][0] if message.lines and message.lines[0] else Text("Done")
        what = head.text.strip().rstrip(":") if isinstance(head, Text) else "Done"
        mark = "✅" if done else "➡️"
        item_text = "".join(s.text for s in message.lines[0][1:] if isinstance(s, (Text, UserText)))
        warned = "".join(f"\n⚠ {safe_text(w)}" for w in message.warnings)
        note = f"{mark} {safe_text(what)} — by {by}{warned}"
        original = body.get("message") or {}
        blocks = None
        if isinstance(original.get("blocks"), list):
            blocks = mark_item(original["blocks"], str(action.get("block_id") or ""), note)
        if blocks is None and listing:  # an ephemeral /actions answer: the list again, as it is now
            again = self.bot.handle(listing, sender, meeting_id, allow_unknown=self.settings.allow_unknown_users,
                                    spelled=self._spelled())
            said = f"{mark} {safe_text(what)}: {safe_text(item_text)} — by {by}{warned}"
            blocks = [_context(said)] + render_blocks(again, meeting_id, listing=listing,
                                                             max_blocks=MAX_BLOCKS - 1)
        if blocks is None:  # nothing to update in place: say it in a message of its own
            respond(text=self.render(message), response_type="ephemeral", replace_original=False)
        else:
            self._replace(body, container, respond, blocks)
        self._public_note(message, meeting_id, container.get("channel_id"))

    def _replace(self, body: dict, container: dict, respond, blocks: list[dict[str, Any]]) -> None:
        """Update the clicked message in place: through the click's ``response_url`` (works for
        ephemeral messages too), else ``chat.update`` (messages the bot posted)."""
        text = blocks_text(blocks)
        if body.get("response_url"):
            try:
                resp = respond(text=text, blocks=blocks, replace_original=True)
                if getattr(resp, "status_code", 200) < 300:
                    return
                log.error("Slack response_url answered HTTP %s to a message update", resp.status_code)
            except Exception as exc:
                log.error("Slack response_url failed to update a message: %s", exc)
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if channel and ts and not container.get("is_ephemeral"):
            try:
                self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)
            except BackendError:
                pass  # logged by call()

    def agenda_view(self, meeting: Meeting, channel: str | None) -> dict[str, Any]:
        """The "Add agenda item" modal: one text field; the meeting goes in private_metadata."""
        try:
            when = f" on {self.bot.next_meeting(meeting).date.isoformat()}"
        except Exception:
            when = ""
        label = f"Agenda item for {meeting.name}{when}"
        return {
            "type": "modal", "callback_id": AGENDA_VIEW,
            "title": {"type": "plain_text", "text": "Add agenda item"},
            "submit": {"type": "plain_text", "text": "Add"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps({"m": meeting.id, "c": channel or ""}, separators=(",", ":")),
            "blocks": [{"type": "input", "block_id": AGENDA_BLOCK,
                        "label": {"type": "plain_text", "text": label[:2000]},
                        "element": {"type": "plain_text_input", "action_id": AGENDA_INPUT,
                                    "max_length": min(MAX_INPUT, self.bot.config.bot.max_item_length),
                                    "placeholder": {"type": "plain_text", "text": "What should the meeting discuss?"}}}],
        }

    def _on_add_button(self, ack, body: dict, action: dict, respond) -> None:
        """Add agenda item: open the modal now (the click's trigger_id is valid 3 seconds)."""
        ack()
        try:
            value = json.loads(action.get("value") or "{}")
            meeting = self.bot.config.meeting(value.get("m") if isinstance(value, dict) else None)
        except (ValueError, UnknownMeeting) as exc:
            respond(text=f":warning: {escape(str(exc))}", response_type="ephemeral", replace_original=False)
            return
        channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
        try:
            self.call("views.open", trigger_id=body.get("trigger_id"), view=self.agenda_view(meeting, channel))
        except BackendError:
            agenda = next((slash for slash, core in self.commands().items() if core == "agenda"), "/agenda")
            respond(text=f":warning: the form could not be opened; type `{escape(agenda)} add TEXT` instead",
                    response_type="ephemeral", replace_original=False)

    def _on_agenda_view(self, ack, body: dict, view: dict) -> None:
        """The modal's submission: the same as ``/agenda add TEXT``; a refusal is shown in the
        modal (``response_action: errors``), success replaces it with the answer."""
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            if not isinstance(meta, dict):
                raise ValueError("not an object")
        except ValueError:
            meta = {}
        values = ((view.get("state") or {}).get("values") or {}).get(AGENDA_BLOCK) or {}
        text = str((values.get(AGENDA_INPUT) or {}).get("value") or "")
        user = body.get("user") or {}

        def add() -> Message:
            message = self.bot.handle(f"agenda add {text}", self._sender(user.get("id"), user.get("username") or
                                                                         user.get("name")),
                                      meta.get("m") or None, allow_unknown=self.settings.allow_unknown_users,
                                      spelled=self._spelled())
            log.info("slack agenda form from %s: %s", user.get("id"), message.kind)
            if message.ok:
                self._public_note(message, meta.get("m") or None, meta.get("c") or None)  # (queued)
            return message

        with self._public_lock:
            if self._forms is None:
                self._forms = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="slack-form")
            work = self._forms.submit(add)
        try:
            message = work.result(timeout=FORM_SECONDS)
        except FutureTimeout:
            # Slack shows its own error after 3 seconds, and the person would submit again (a
            # second item): answer now, show the result when the edit is done (views.update)
            ack(response_action="update", view=_form_view(
                "Adding your item… the notes are busy; this form shows the result in a moment."))
            view_id = str(view.get("id") or "")
            work.add_done_callback(lambda done: self._form_done(done, view_id))
            return
        except Exception as exc:
            log.error("Slack agenda form failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            message = error("something went wrong on the bot's side; see its log")
        if not message.ok:
            ack(response_action="errors", errors={AGENDA_BLOCK: _cut_to(render_plain(message), 2000)})
            return
        ack(response_action="update", view=_form_view(self.render(message)))

    def _form_done(self, done: Any, view_id: str) -> None:
        """A form answered "adding…": its result, into the modal (if still open)."""
        try:
            message = done.result()
        except Exception as exc:
            log.error("Slack agenda form failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            message = error("something went wrong on the bot's side; see its log")
        shown = self.render(message, "" if message.ok else ":warning: ")
        try:
            self.call("views.update", view_id=view_id, view=_form_view(shown))
        except BackendError:  # logged by call(); e.g. the person closed the form
            pass

    def _user_label(self, user_id: str, label: str) -> str:
        """How a ``<@U…>`` mention in command text is written down: the roster's name, else
        the name Slack sent with it, else the person's Slack name (``users.info``), else the id."""
        person = self.bot.config.person_by(slack_id=user_id)
        if person is not None:
            return person.name
        if label:
            return label
        if not _SLACK_ID.match(user_id):
            return user_id
        return self._display_name(user_id) or user_id

    def _display_name(self, user_id: str) -> str | None:
        try:
            data = self.call("users.info", user=user_id)
        except BackendError:
            return None
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        for key in ("display_name", "real_name"):
            if profile.get(key):
                return str(profile[key])
        return user.get("real_name") or user.get("name")

    def timezone_of(self, person: Person) -> str | None:
        """The time zone of the person's Slack account (``users.info`` ``user.tz``), as
        ``learn_people`` last read it; for ``[meetings.actions] waking_hours``."""
        return self.__dict__.get("_zones", {}).get(person.slack_id or "")

    def learn_people(self) -> None:
        """``users.info`` of each roster person with a ``slack_id``, at most every 5 minutes."""
        zones: dict[str, str] = self.__dict__.setdefault("_zones", {})
        if zones and time.monotonic() - self.__dict__.get("_zones_at", 0.0) < 300:
            return
        self.__dict__["_zones_at"] = time.monotonic()
        for person in self.bot.config.people:
            if person.slack_id:
                try:
                    tz = (self.call("users.info", user=person.slack_id).get("user") or {}).get("tz")
                except BackendError:
                    continue  # logged by call(); their ping goes at ping_before
                if isinstance(tz, str) and tz:
                    zones[person.slack_id] = tz

    # -- transports -------------------------------------------------------------------

    def _run_socket(self, app, app_token: str, stop: threading.Event) -> None:
        from slack_sdk.errors import SlackApiError, SlackClientError

        def first(client, req) -> bool:
            """An envelope Slack delivers again (same ``envelope_id``: our ack did not reach it
            in time, or a reconnect) is acknowledged and not acted on again."""
            if self.first_delivery(f"slack-envelope:{req.envelope_id}"):
                return True
            log.info("Slack delivered envelope %s again (retry %s, %s); it was handled already: "
                     "acknowledged, not acted on", req.envelope_id, req.retry_attempt, req.retry_reason or "-")
            from slack_sdk.socket_mode.response import SocketModeResponse

            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return False

        handler = prompt_socket_mode_handler(app, app_token, logging.getLogger("chatbot.slack.socket"), self._app_token_client(),
                                             first)
        self._socket_handler = handler
        delay = 1.0
        while not stop.is_set():
            try:
                handler.connect()
                log.info("Slack: connected in Socket Mode; waiting for slash commands")
                break
            except SlackApiError as exc:
                err = exc.response.get("error") if exc.response is not None else "unknown_error"
                if err in AUTH_ERRORS or err in APP_TOKEN_REFUSED:
                    raise ConfigError(f"{APP_TOKEN_ENV} was refused by Slack ({err}); use an app-level token "
                                      "(xapp-…) with the connections:write scope") from None
                log.warning("Slack API apps.connections.open failed: %s; retrying in %.0f s", err, delay)
            except (SlackClientError, OSError) as exc:
                log.warning("cannot open a Socket Mode connection (%s); retrying in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
        wait_for_stop(stop)

    def _run_http(self, app, stop: threading.Event) -> None:
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        from .. import web

        bolt = _checked_requests(SlackRequestHandler(app, path=HTTP_PATH), lambda: self._env(SIGNING_SECRET_ENV))
        wsgi = web.by_path({HTTP_PATH: self._acks.wrap(bolt) if self._acks else bolt}, web.make_app(self.bot))
        host, port = self.settings.host, self.settings.port
        try:
            # body size limit, read timeouts and a bound on connections: see web.Limits
            server = web.make_wsgi_server(host, port, wsgi, log_level=logging.DEBUG)
        except OSError as exc:
            raise ConfigError(f"slack.host/slack.port: cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
        self._http_server = server
        self._http_thread = threading.Thread(target=server.serve_forever, name="slack-http", daemon=True)
        self._http_thread.start()
        log.info("Slack: listening for slash commands on http://%s:%d%s (status pages and calendars at /)",
                 host, server.server_port, HTTP_PATH)
        wait_for_stop(stop)
