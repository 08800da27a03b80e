"""A fake Slack for end-to-end tests, speaking Slack's real wire protocols on 127.0.0.1.

* **Web API** (``http://127.0.0.1:PORT/api/METHOD``): ``auth.test``, ``apps.connections.open``,
  ``chat.postMessage`` (with message ``metadata``), ``chat.postEphemeral``, ``conversations.open``,
  ``conversations.history`` (newest first, ``oldest``, ``limit``/``cursor``, metadata with
  ``include_all_metadata``), ``users.info`` with Slack's JSON shapes. Tokens are checked like Slack does (``not_authed`` without one,
  ``invalid_auth`` for a wrong one, ``not_allowed_token_type`` for the wrong kind); unknown
  channels give ``channel_not_found``. :meth:`FakeSlack.rate_limit` makes the next N calls of a
  method answer ``429`` with ``Retry-After``; :meth:`FakeSlack.fail` makes them answer
  ``ok: false`` with a given error. Like Slack, ``chat.postMessage`` keeps only the first
  40,000 characters of a longer ``text`` (:meth:`FakeSlack.shown` is what people then see).
  :meth:`FakeSlack.on_next` runs a test's callback at the next call of a method, just before
  or just after the fake acts on it (a test kills the bot there). :meth:`FakeSlack.revoke`
  revokes a token, as an admin or Slack does.
* **response_url** (``/commands/…`` for a slash command, ``/actions/…`` for a click): where
  ``respond()`` posts. A slash command's answer is an ephemeral message (kept in
  :attr:`FakeSlack.ephemeral`) unless ``response_type`` is ``in_channel``; a click's
  ``replace_original: true`` replaces the clicked message (ephemeral or not) in place,
  ``delete_original`` deletes it, anything else is a new ephemeral message to the clicker.
* **Block Kit** (``blocks`` of ``chat.postMessage``, ``chat.update``, response URLs, views):
  checked minimally as Slack does (:func:`block_errors`: known block types, at most 50 blocks
  in a message and 100 in a modal, unique ``block_id`` ≤ 255, text objects 1–3,000
  characters, buttons with plain-text labels ≤ 75, ``action_id`` ≤ 255 unique in a block,
  ``value`` ≤ 2,000); a broken payload is refused with ``invalid_blocks``.
* **Interactivity**: :meth:`FakeSlack.click` presses a button of a kept message as a person
  does: a ``block_actions`` payload (with ``message`` for a posted message, ``container``
  with ``is_ephemeral`` and no ``message`` for an ephemeral one, a fresh ``trigger_id`` and
  ``response_url``), delivered as a Socket Mode envelope of type ``interactive`` or as a
  signed HTTP POST with the JSON in a ``payload`` form field. ``views.open`` takes a
  ``trigger_id`` at most 3 seconds old and only once (``expired_trigger_id``,
  ``trigger_exchanged``, ``invalid_trigger_id``) and keeps the modal (:attr:`FakeSlack.views`);
  :meth:`FakeSlack.submit_view` submits it (``view_submission``) and applies the app's answer
  (``response_action`` ``errors`` / ``update`` / ``clear``, or closed); ``views.update``
  replaces an open modal (``not_found`` once closed). ``chat.update``
  edits a message the bot posted (``message_not_found``, ``cant_update_message``).
* **Socket Mode**: ``apps.connections.open`` hands out a single-use ``ws://`` URL to a real
  websocket server (the ``websockets`` package) that says ``hello``, delivers
  ``slash_commands`` envelopes and records each acknowledgement by ``envelope_id``. It can drop
  the connection or ask the client to refresh it, as Slack does, and deliver an envelope again
  (:meth:`FakeSlack.redeliver`, same ``envelope_id``, higher ``retry_attempt``).
* **Slash command text** is what Slack sends, not what people typed: Slack escapes ``&``, ``<``
  and ``>`` (:func:`slack_escape`) and sends mentions, channels and links as ``<…>`` entities
  (``<@U123>``, ``<@U123|name>``, ``<#C123|general>``, ``<!channel>``, ``<!subteam^S123|@team>``,
  ``<https://x.example|label>``); tests build the wire text with them.
* **HTTP mode**: :func:`signed_post` sends a slash command the way Slack does
  (``application/x-www-form-urlencoded`` with ``X-Slack-Signature`` v0 HMAC-SHA256 and
  ``X-Slack-Request-Timestamp``), optionally forged or stale.

Every request is recorded with its headers (:attr:`FakeSlack.requests`) so tests can assert
on what the bot sent and with which token.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

HOST = "127.0.0.1"
MAX_TEXT = 40_000  # Slack truncates a message's text after this many characters


def slack_escape(typed: str) -> str:
    """Text a person typed, as Slack sends it to apps (slash command ``text``, events): its
    three control characters escaped. Entities (``<@U123>`` …) are Slack's own and come on top."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Recorded:
    """One HTTP request the fake received."""

    method: str  # Web API method ("chat.postMessage"), or "response_url"
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    status: int = 200
    error: str | None = None
    at: float = field(default_factory=time.monotonic)
    shown: str | None = None  # chat.postMessage: the text as Slack keeps it (cut at MAX_TEXT)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return self.params.get("token")

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    sent_at: float = field(default_factory=time.monotonic)
    attempts: int = 0  # redeliveries so far (Slack's retry_attempt)


# -- Block Kit, checked minimally (https://docs.slack.dev/reference/block-kit/blocks) ---------

BLOCK_TYPES = {"section", "actions", "context", "divider", "header", "input", "image", "rich_text", "markdown"}
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100


def _text_errors(obj: Any, where: str, limit: int = 3000, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in (("plain_text",) if plain else ("plain_text", "mrkdwn")):
        return [f"{where}: must be a {'plain_text' if plain else 'text'} object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}/text: must be a non-empty string"]
    if len(text) > limit:
        return [f"{where}/text: must be less than {limit + 1} characters"]
    return []


def _element_errors(el: Any, where: str) -> list[str]:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [f"{where}: must be an element object"]
    errs = []
    aid = el.get("action_id")
    if aid is not None and (not isinstance(aid, str) or not aid or len(aid) > 255):
        errs.append(f"{where}/action_id: must be 1-255 characters")
    if el["type"] == "button":
        errs += _text_errors(el.get("text"), f"{where}/text", 75, plain=True)
        if "value" in el and (not isinstance(el["value"], str) or len(el["value"]) > 2000):
            errs.append(f"{where}/value: must be a string of at most 2000 characters")
        if "style" in el and el["style"] not in ("primary", "danger"):
            errs.append(f"{where}/style: must be primary or danger")
    elif el["type"] == "plain_text_input":
        if not aid:
            errs.append(f"{where}/action_id: required")
        if "max_length" in el and not (isinstance(el["max_length"], int) and 1 <= el["max_length"] <= 3000):
            errs.append(f"{where}/max_length: must be 1-3000")
    return errs


def block_errors(blocks: Any, limit: int = MAX_MESSAGE_BLOCKS, modal: bool = False) -> list[str]:
    """What Slack would refuse in ``blocks`` (empty: fine)."""
    if not isinstance(blocks, list):
        return ["blocks: must be an array"]
    errs = []
    if len(blocks) > limit:
        errs.append(f"blocks: no more than {limit} items allowed")
    ids: set[str] = set()
    for i, b in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(b, dict) or b.get("type") not in BLOCK_TYPES:
            errs.append(f"{where}/type: unsupported block type {b.get('type') if isinstance(b, dict) else b!r}")
            continue
        bid = b.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or not bid or len(bid) > 255:
                errs.append(f"{where}/block_id: must be 1-255 characters")
            elif bid in ids:
                errs.append(f"{where}/block_id: duplicate block_id {bid}")
            else:
                ids.add(bid)
        kind = b["type"]
        if kind == "section":
            if "text" not in b and "fields" not in b:
                errs.append(f"{where}: must have text or fields")
            if "text" in b:
                errs += _text_errors(b["text"], f"{where}/text")
            if "accessory" in b:
                errs += _element_errors(b["accessory"], f"{where}/accessory")
        elif kind == "actions":
            els = b.get("elements")
            if not isinstance(els, list) or not 1 <= len(els) <= 25:
                errs.append(f"{where}/elements: must have 1-25 elements")
                continue
            seen: set[str] = set()
            for j, el in enumerate(els):
                errs += _element_errors(el, f"{where}/elements/{j}")
                aid = el.get("action_id") if isinstance(el, dict) else None
                if aid in seen:
                    errs.append(f"{where}/elements/{j}/action_id: duplicate action_id {aid}")
                seen.add(aid)
        elif kind == "context":
            els = b.get("elements")
            if not isinstance(els, list) or not 1 <= len(els) <= 10:
                errs.append(f"{where}/elements: must have 1-10 elements")
                continue
            for j, el in enumerate(els):
                if not (isinstance(el, dict) and el.get("type") == "image"):
                    errs += _text_errors(el, f"{where}/elements/{j}")
        elif kind == "header":
            errs += _text_errors(b.get("text"), f"{where}/text", 150, plain=True)
        elif kind == "input":
            if not modal:
                errs.append(f"{where}/type: input blocks are for modals")
            errs += _text_errors(b.get("label"), f"{where}/label", 2000, plain=True)
            errs += _element_errors(b.get("element"), f"{where}/element")
    return errs


def _json_field(value: Any) -> Any:
    """Form-encoded Web API calls send arrays and objects as JSON text."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _form_or_json(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type:
        data = json.loads(body.decode("utf-8"))
        return data if isinstance(data, dict) else {"_json": data}
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}


class FakeSlack:
    """Start with ``with FakeSlack(bot_token=..., app_token=...) as slack:``."""

    def __init__(
        self,
        bot_token: str,
        app_token: str | None = None,
        *,
        team_id: str = "T0FAKE",
        app_id: str = "A0FAKE",
        bot_user_id: str = "U0BOT",
        channels: dict[str, str] | None = None,
        users: dict[str, dict] | None = None,
    ):
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.channels = dict(channels or {"C0CONDAECO": "conda-ecosystem", "C0GENERAL": "general"})
        self.users = dict(users or {})
        self.requests: list[Recorded] = []
        self.responses: list[Recorded] = []  # what arrived at response_url
        self.envelopes: list[Envelope] = []
        self.acks: dict[str, dict] = {}  # envelope_id -> the ack message
        self.ws_messages: list[dict] = []  # everything else the client sent on the websocket
        self.ws_connections = 0  # websocket handshakes accepted
        self.tickets_issued = 0
        self._tickets: set[str] = set()
        self._rate_limits: dict[str, list[int]] = {}
        self._failures: dict[str, list[tuple[str, int]]] = {}
        self._hooks: dict[tuple[str, str], list[Callable[[Recorded], None]]] = {}
        self._revoked: dict[str, str] = {}  # token -> the error Slack answers it with
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages kept, oldest first
        # ephemeral messages (slash command answers, refusals of clicks), each with "channel",
        # "user", "ts", "text", "blocks"
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the modal as opened (and answered)
        self._triggers: dict[str, tuple[float, str]] = {}  # trigger_id -> (issued at, user)
        self._urls: dict[str, dict[str, Any]] = {}  # response_url path -> what it answers
        self._url_failures: list[tuple[int, str]] = []
        self._live: list[ServerConnection] = []
        self._ts = itertools.count(1)
        self._lock = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._ws = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                fake._handle_http(self)

            do_GET = do_POST

        self._http = ThreadingHTTPServer((HOST, 0), Handler)
        self._http.daemon_threads = True
        self._ws = serve(self._ws_handler, HOST, 0, process_request=self._ws_check_ticket, compression=None)
        for target, name in ((self._http.serve_forever, "fake-slack-http"), (self._ws.serve_forever, "fake-slack-ws")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        if self._ws is not None:
            self._ws.shutdown()
            self._ws = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "start() the fake first"
        return self._http.server_address[1]

    @property
    def ws_port(self) -> int:
        assert self._ws is not None, "start() the fake first"
        return self._ws.socket.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -- switches ---------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1, status: int = 200) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(error, status)] * times)

    def fail_response_urls(self, times: int = 1, status: int = 404, error: str = "expired_url") -> None:
        """Answer the next ``times`` posts to any response URL with ``status`` and ``error``
        (as Slack does for one past its 30 minutes or 5 uses), without acting on them."""
        with self._lock:
            self._url_failures.extend([(status, error)] * times)

    def revoke(self, which: str = "bot", error: str | None = None) -> None:
        """Revoke a token, as a workspace admin (or Slack) does: every later call with it is
        answered ``ok: false`` with ``error`` (``token_revoked`` for the bot token and
        ``invalid_auth`` for the app-level one, by default); revoking the app-level token
        also closes its Socket Mode connections."""
        token = self.bot_token if which == "bot" else self.app_token
        with self._lock:
            self._revoked[token] = error or ("token_revoked" if which == "bot" else "invalid_auth")
        if which != "bot" and self.live_connections:
            self.drop_connections()

    def on_next(self, method: str, callback: Callable[[Recorded], None], when: str = "after") -> None:
        """Run ``callback(request)`` once, at the next call of ``method``: ``when="after"`` the
        fake has acted on it (a message is stored) but not yet answered; ``"before"`` it has
        not acted, and the request is then dropped unanswered (the connection closes). A
        test kills the bot from there to crash it exactly around the post."""
        with self._lock:
            self._hooks.setdefault((method, when), []).append(callback)

    def _hook(self, method: str, when: str):
        with self._lock:
            hooks = self._hooks.get((method, when))
            return hooks.pop(0) if hooks else None

    # -- queries ----------------------------------------------------------------------

    def calls(self, method: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages successfully posted with chat.postMessage (their parameters)."""
        return [
            r.params
            for r in self.calls("chat.postMessage")
            if r.ok and (channel is None or r.params.get("channel") == channel)
        ]

    def shown(self, channel: str | None = None) -> list[str]:
        """The text of those messages as Slack keeps and shows it (cut after MAX_TEXT)."""
        return [
            r.shown or ""
            for r in self.calls("chat.postMessage")
            if r.ok and (channel is None or r.params.get("channel") == channel)
        ]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
                self._lock.wait(min(left, 0.1))

    def _notify(self) -> None:
        with self._lock:
            self._lock.notify_all()

    # -- the Web API ------------------------------------------------------------------

    def _handle_http(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            params.update(_form_or_json(body, headers.get("content-type", "")))
        except (ValueError, UnicodeDecodeError):
            self._send(h, 400, {"ok": False, "error": "invalid_json"})
            return
        if url.path.startswith(("/commands/", "/actions/")):
            rec = Recorded("response_url", url.path, headers, params)
            status, answer = self._response_url(url.path, params)
            rec.status = status
            rec.error = None if status == 200 else answer
            with self._lock:
                self.requests.append(rec)
                if status == 200:
                    self.responses.append(rec)
                self._lock.notify_all()
            self._send(h, status, None, text=answer)
            return
        if not url.path.startswith("/api/"):
            self._send(h, 404, None, text="not found")
            return
        method = url.path[len("/api/") :]
        rec = Recorded(method, url.path, headers, params)
        before = self._hook(method, "before")
        if before is not None:
            rec.status = -1
            with self._lock:
                self.requests.append(rec)
                self._lock.notify_all()
            before(rec)
            h.close_connection = True
            return
        status, payload, extra = self._api(method, rec)
        rec.status = status
        rec.error = None if payload.get("ok") else payload.get("error")
        if method == "chat.postMessage" and payload.get("ok"):
            rec.shown = payload["message"]["text"]
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()
        after = self._hook(method, "after")
        if after is not None:
            after(rec)
        try:
            self._send(h, status, payload, extra)
        except OSError:
            pass  # the client is gone (a test killed it)

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        payload: dict | None,
        headers: dict[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        data = (json.dumps(payload) if payload is not None else (text or "")).encode("utf-8")
        h.send_response(status)
        h.send_header(
            "Content-Type", "application/json; charset=utf-8" if payload is not None else "text/plain; charset=utf-8"
        )
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _api(self, method: str, rec: Recorded) -> tuple[int, dict, dict]:
        with self._lock:
            limits = self._rate_limits.get(method)
            if limits:
                retry_after = limits.pop(0)
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
            failures = self._failures.get(method)
            if failures:
                err, status = failures.pop(0)
                return status, {"ok": False, "error": err}, {}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        token = rec.token
        want = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        with self._lock:
            revoked = self._revoked.get(token)
        if revoked:
            return 200, {"ok": False, "error": revoked}, {}
        if token != want:
            if method == "apps.connections.open" and token == self.bot_token:
                return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return 200, handler(rec.params), {"X-OAuth-Scopes": "commands,chat:write,chat:write.public,im:write,users:read"}

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _api_auth_test(self, params: dict) -> dict:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "chatbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "B0BOT",
            "is_enterprise_install": False,
        }

    def _api_apps_connections_open(self, params: dict) -> dict:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
            self.tickets_issued += 1
        return {"ok": True, "url": f"ws://{HOST}:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _channel_ok(self, channel: Any) -> bool:
        if not isinstance(channel, str) or not channel:
            return False
        return channel in self.channels or channel.lstrip("#") in self.channels.values() or channel.startswith("D0")

    def _api_chat_postMessage(self, params: dict) -> dict:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not self._channel_ok(channel):
            return {"ok": False, "error": "channel_not_found"}
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return {"ok": False, "error": "no_text"}
        blocks = None
        if params.get("blocks") is not None:
            try:
                blocks = _json_field(params["blocks"])
            except ValueError:
                return {"ok": False, "error": "invalid_blocks_format"}
            errors = block_errors(blocks)
            if errors:
                return {
                    "ok": False,
                    "error": "invalid_blocks",
                    "errors": errors,
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
                }
        metadata = params.get("metadata")
        if isinstance(metadata, str):  # form-encoded calls send it as JSON text
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return {"ok": False, "error": "invalid_metadata_format"}
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_schema"}
        ts = self._next_ts()
        text = str(params.get("text", ""))[:MAX_TEXT]  # Slack cuts longer text, wherever that falls
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": "B0BOT",
            "text": text,
            "ts": ts,
            "team": self.team_id,
        }
        if blocks is not None:
            message["blocks"] = blocks
        kept = dict(message, metadata=metadata) if metadata else dict(message)
        with self._lock:
            self.history.setdefault(channel, []).append(kept)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _api_chat_update(self, params: dict) -> dict:
        """Edit a message the bot posted (its channel and ``ts``)."""
        channel, ts = params.get("channel"), params.get("ts")
        if not self._channel_ok(channel):
            return {"ok": False, "error": "channel_not_found"}
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return {"ok": False, "error": "no_text"}
        blocks = None
        if params.get("blocks") is not None:
            try:
                blocks = _json_field(params["blocks"])
            except ValueError:
                return {"ok": False, "error": "invalid_blocks_format"}
            errors = block_errors(blocks)
            if errors:
                return {"ok": False, "error": "invalid_blocks", "errors": errors}
        with self._lock:
            kept = next((m for m in self.history.get(channel, []) if m["ts"] == ts), None)
            if kept is None:
                return {"ok": False, "error": "message_not_found"}
            if kept.get("user") != self.bot_user_id:
                return {"ok": False, "error": "cant_update_message"}
            kept["text"] = str(params.get("text") or "")[:MAX_TEXT]
            if blocks is not None:
                kept["blocks"] = blocks
            kept["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            message = {k: v for k, v in kept.items() if k != "metadata"}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _api_views_open(self, params: dict) -> dict:
        """Open a modal for the person whose click (or command) issued ``trigger_id``."""
        tid = params.get("trigger_id")
        try:
            view = _json_field(params.get("view"))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            issued = self._triggers.get(tid) if isinstance(tid, str) else None
            if issued is None:
                return {"ok": False, "error": "invalid_trigger_id"}
            at, user = issued
            if at is None:
                return {"ok": False, "error": "trigger_exchanged"}
            if time.monotonic() - at > 3.0:
                return {"ok": False, "error": "expired_trigger_id"}
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        errors = _text_errors(view.get("title"), "view/title", 24, plain=True)
        for key in ("submit", "close"):
            if key in view:
                errors += _text_errors(view[key], f"view/{key}", 24, plain=True)
        errors += block_errors(view.get("blocks"), MAX_VIEW_BLOCKS, modal=True)
        if len(str(view.get("private_metadata") or "")) > 3000:
            errors.append("view/private_metadata: must be at most 3000 characters")
        if (
            any(b.get("type") == "input" for b in view.get("blocks") or [] if isinstance(b, dict))
            and "submit" not in view
        ):
            errors.append("view/submit: required when the view has input blocks")
        if errors:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": errors}}
        view_id = "V" + uuid.uuid4().hex[:10].upper()
        opened = dict(
            view,
            id=view_id,
            team_id=self.team_id,
            state={"values": {}},
            hash=uuid.uuid4().hex[:16],
            root_view_id=view_id,
            app_id=self.app_id,
            bot_id="B0BOT",
            user=user,
            closed=False,
            errors=None,
        )
        with self._lock:
            self._triggers[tid] = (None, user)  # type: ignore[assignment]  # used up
            self.views[view_id] = opened
            self._lock.notify_all()
        return {"ok": True, "view": {k: v for k, v in opened.items() if k not in ("user", "closed", "errors")}}

    def _api_views_update(self, params: dict) -> dict:
        """Replace an open modal (by ``view_id``), checked like ``views.open``."""
        try:
            view = _json_field(params.get("view"))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            kept = self.views.get(params.get("view_id") or "")
            if kept is None or kept.get("closed"):
                return {"ok": False, "error": "not_found"}
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        errors = _text_errors(view.get("title"), "view/title", 24, plain=True)
        errors += block_errors(view.get("blocks"), MAX_VIEW_BLOCKS, modal=True)
        if errors:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": errors}}
        with self._lock:
            for key in ("submit", "private_metadata", "callback_id"):
                kept.pop(key, None)
            kept.update(view, errors=None)
            self._lock.notify_all()
            shown = {k: v for k, v in kept.items() if k not in ("user", "closed", "errors")}
        return {"ok": True, "view": shown}

    def _api_conversations_history(self, params: dict) -> dict:
        """Newest first, from ``oldest`` (exclusive), ``limit`` per page (at most 999) with a
        ``cursor``; ``metadata`` only with ``include_all_metadata``, as Slack does."""
        channel = params.get("channel")
        if not self._channel_ok(channel):
            return {"ok": False, "error": "channel_not_found"}
        try:
            oldest = float(params.get("oldest") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 999)
            start = int(params.get("cursor") or 0)
        except (TypeError, ValueError):
            return {"ok": False, "error": "invalid_arguments"}
        with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = [m for m in reversed(self.history.get(channel, [])) if float(m["ts"]) > oldest]
        page = found[start : start + limit]
        if not with_meta:
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _api_chat_postEphemeral(self, params: dict) -> dict:
        if not self._channel_ok(params.get("channel")):
            return {"ok": False, "error": "channel_not_found"}
        if params.get("user") not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_conversations_open(self, params: dict) -> dict:
        users = params.get("users") or ""
        if isinstance(users, list):
            users = ",".join(users)
        first = users.split(",")[0] if users else ""
        if first not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + first[1:]}}

    def _api_users_info(self, params: dict) -> dict:
        uid = params.get("user")
        info = self.users.get(uid)
        if info is None:
            return {"ok": False, "error": "user_not_found"}
        name = info.get("name", uid.lower())
        real = info.get("real_name", name)
        return {
            "ok": True,
            "user": {
                "id": uid,
                "team_id": self.team_id,
                "name": name,
                "real_name": real,
                "deleted": False,
                "is_bot": False,
                "tz": info.get("tz", "UTC"),
                "profile": {"display_name": info.get("display_name", ""), "real_name": real},
            },
        }

    # -- response_url -----------------------------------------------------------------

    def _response_url(self, path: str, params: dict) -> tuple[int, str]:
        """A response URL's semantics (the request is recorded either way)."""
        if "blocks" in params:
            try:
                params["blocks"] = _json_field(params["blocks"])
            except ValueError:
                return 400, "invalid_blocks_format"
            if block_errors(params["blocks"]):
                return 400, "invalid_blocks"
        if not (params.get("text") or params.get("blocks") or params.get("delete_original")):
            return 400, "no_text"
        with self._lock:
            if self._url_failures:
                return self._url_failures.pop(0)
            ctx = self._urls.get(path)
            if ctx is None:
                return 404, "expired_url"  # not one the fake handed out (or a forged one)
            ctx["uses"] = ctx.get("uses", 0) + 1
            if ctx["uses"] > 5:  # at most 5 times, as Slack allows
                return 404, "used_url"
            target = ctx.get("message")
            if ctx["kind"] == "action" and target is not None and str(params.get("replace_original")).lower() == "true":
                target["text"] = str(params.get("text") or "")[:MAX_TEXT]
                if "blocks" in params:
                    target["blocks"] = params["blocks"]
                else:
                    target.pop("blocks", None)
                target["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
                return 200, "ok"
            if ctx["kind"] == "action" and target is not None and str(params.get("delete_original")).lower() == "true":
                for kept in [self.ephemeral] + list(self.history.values()):
                    if target in kept:
                        kept.remove(target)
                return 200, "ok"
            message = {
                "type": "message",
                "user": self.bot_user_id,
                "bot_id": "B0BOT",
                "ts": self._next_ts(),
                "text": str(params.get("text") or "")[:MAX_TEXT],
                "team": self.team_id,
            }
            if "blocks" in params:
                message["blocks"] = params["blocks"]
            if params.get("response_type") == "in_channel":
                self.history.setdefault(ctx["channel"], []).append(message)
            else:
                self.ephemeral.append(dict(message, channel=ctx["channel"], user=ctx["user"]))
        return 200, "ok"

    def _register_url(self, kind: str, channel: str, user: str, message: dict | None = None) -> str:
        url = (
            self.response_url()
            if kind == "command"
            else f"{self.base_url}/actions/{self.team_id}/{next(self._ts)}/{uuid.uuid4().hex[:24]}"
        )
        with self._lock:
            self._urls[urllib.parse.urlsplit(url).path] = {
                "kind": kind,
                "channel": channel,
                "user": user,
                "message": message,
            }
        return url

    def _trigger(self, user: str) -> str:
        tid = f"{next(self._ts)}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}"
        with self._lock:
            self._triggers[tid] = (time.monotonic(), user)
        return tid

    def response_url(self, n: int | None = None) -> str:
        return f"{self.base_url}/commands/{self.team_id}/{n or next(self._ts)}/{uuid.uuid4().hex[:24]}"

    def slash_command_payload(
        self, command: str, text: str, *, user_id: str, user_name: str = "someone", channel_id: str = "C0CONDAECO"
    ) -> dict[str, str]:
        """A slash command exactly as Slack sends it (all values are strings)."""
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake-workspace",
            "channel_id": channel_id,
            "channel_name": self.channels.get(channel_id, "directmessage"),
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._register_url("command", channel_id, user_id),
            "trigger_id": self._trigger(user_id),
        }

    # -- Socket Mode ------------------------------------------------------------------

    def _ws_check_ticket(self, connection: ServerConnection, request):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            if ticket not in self._tickets:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid ticket\n")
            self._tickets.discard(ticket)  # single use, as on Slack
        return None

    def _ws_handler(self, conn: ServerConnection) -> None:
        with self._lock:
            self.ws_connections += 1
            self._live.append(conn)
            self._lock.notify_all()
        try:
            conn.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._live),
                        "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            for raw in conn:
                try:
                    msg = json.loads(raw)
                except (TypeError, ValueError):
                    msg = {"_raw": raw}
                with self._lock:
                    if isinstance(msg, dict) and msg.get("envelope_id"):
                        self.acks[msg["envelope_id"]] = msg
                    else:
                        self.ws_messages.append(msg)
                    self._lock.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._live:
                    self._live.remove(conn)
                self._lock.notify_all()

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def wait_connected(self, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until ``count`` websocket connections were accepted in total and one is live."""
        self.wait_for(lambda: self.ws_connections >= count and self._live, timeout, f"Socket Mode connection #{count}")

    def send_envelope(self, type_: str, payload: dict[str, Any]) -> str:
        with self._lock:
            if not self._live:
                raise AssertionError("no live Socket Mode connection to send to")
            conn = self._live[-1]
            env = Envelope(uuid.uuid4().hex, type_, payload)
            self.envelopes.append(env)
        conn.send(
            json.dumps(
                {
                    "envelope_id": env.envelope_id,
                    "type": type_,
                    "payload": payload,
                    "accepts_response_payload": type_ in ("slash_commands", "interactive"),
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
        )
        return env.envelope_id

    def redeliver(self, envelope_id: str, retry_reason: str = "timeout") -> None:
        """Deliver an envelope again, as Slack does when it got no ack in time (or around a
        reconnect): the same ``envelope_id`` and payload, ``retry_attempt`` one higher, on the
        newest live connection (which may belong to a restarted client)."""
        with self._lock:
            if not self._live:
                raise AssertionError("no live Socket Mode connection to redeliver on")
            conn = self._live[-1]
            env = next(e for e in self.envelopes if e.envelope_id == envelope_id)
            env.attempts += 1
            self.acks.pop(envelope_id, None)  # the new delivery gets its own ack
            attempt = env.attempts
        conn.send(
            json.dumps(
                {
                    "envelope_id": env.envelope_id,
                    "type": env.type,
                    "payload": env.payload,
                    "accepts_response_payload": env.type in ("slash_commands", "interactive"),
                    "retry_attempt": attempt,
                    "retry_reason": retry_reason,
                }
            )
        )

    def send_slash_command(
        self, command: str, text: str, *, user_id: str, user_name: str = "someone", channel_id: str = "C0CONDAECO"
    ) -> tuple[str, dict[str, str]]:
        """Deliver a slash command over Socket Mode; returns (envelope_id, payload)."""
        payload = self.slash_command_payload(command, text, user_id=user_id, user_name=user_name, channel_id=channel_id)
        return self.send_envelope("slash_commands", payload), payload

    # -- interactivity ----------------------------------------------------------------

    def find(self, ts: str) -> tuple[str, dict[str, Any], bool]:
        """(channel, message, ephemeral) of the message with ``ts``."""
        with self._lock:
            for channel, msgs in self.history.items():
                for m in msgs:
                    if m["ts"] == ts:
                        return channel, m, False
            for m in self.ephemeral:
                if m["ts"] == ts:
                    return m["channel"], m, True
        raise AssertionError(f"no message {ts}")

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The buttons of a message: (block_id, element), in order."""
        return [
            (b.get("block_id", ""), el)
            for b in message.get("blocks") or []
            if b.get("type") == "actions"
            for el in b.get("elements") or []
            if el.get("type") == "button"
        ]

    def click_payload(
        self, ts: str, action_id: str, *, user_id: str, user_name: str = "someone", nth: int = 0
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of a person pressing the ``nth`` button ``action_id``
        of message ``ts``, as Slack sends it (a fresh trigger_id and response_url)."""
        channel, message, ephemeral = self.find(ts)
        block_id, button = [b for b in self.buttons(message) if b[1].get("action_id") == action_id][nth]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral},
            "trigger_id": self._trigger(user_id),
            "team": {"id": self.team_id, "domain": "fake-workspace"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self.channels.get(channel, "directmessage")},
            "state": {"values": {}},
            "response_url": self._register_url("action", channel, user_id, message),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "style": button.get("style"),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if not ephemeral:  # Slack sends the message back only when it is not ephemeral
            with self._lock:
                payload["message"] = json.loads(json.dumps({k: v for k, v in message.items() if k != "metadata"}))
        return payload

    def click(
        self,
        ts: str,
        action_id: str,
        *,
        user_id: str,
        user_name: str = "someone",
        nth: int = 0,
        http: tuple[str, str] | None = None,
    ) -> tuple[str | tuple[int, str], dict[str, Any]]:
        """Press a button: over Socket Mode (returns the envelope id) or, with ``http=(url,
        secret)``, as a signed POST (returns (status, body)); and the payload."""
        payload = self.click_payload(ts, action_id, user_id=user_id, user_name=user_name, nth=nth)
        return self.deliver_interaction(payload, http), payload

    def deliver_interaction(self, payload: dict[str, Any], http: tuple[str, str] | None = None):
        if http is None:
            return self.send_envelope("interactive", payload)
        url, secret = http
        return signed_post(url, secret, {"payload": json.dumps(payload)})

    def submission_payload(self, view_id: str, values: dict[str, dict[str, str]]) -> dict[str, Any]:
        """A ``view_submission`` payload: the open modal ``view_id`` with ``values``
        (``{block_id: {action_id: text}}``) typed into its plain-text inputs."""
        with self._lock:
            view = self.views[view_id]
            state = {
                "values": {
                    b: {a: {"type": "plain_text_input", "value": v} for a, v in acts.items()}
                    for b, acts in values.items()
                }
            }
            sent = {k: v for k, v in view.items() if k not in ("user", "closed", "errors")}
            sent = json.loads(json.dumps(dict(sent, state=state)))
            user = view["user"]
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake-workspace"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "deprecated-verification-token",
            "trigger_id": self._trigger(user),
            "view": sent,
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def submit_view(
        self,
        view_id: str,
        values: dict[str, dict[str, str]],
        http: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Submit the modal as a person does and apply the app's answer to it, as Slack does:
        ``errors`` stay on the modal (their keys must be its input blocks), ``update``
        replaces it (checked like views.open), anything else closes it. Returns the answer."""
        payload = self.submission_payload(view_id, values)
        delivered = self.deliver_interaction(payload, http)
        if http is None:
            ack = self.wait_ack(delivered, timeout)
            answer = ack.get("payload") or {}
        else:
            status, body = delivered
            assert status == 200, (status, body)
            answer = json.loads(body) if body.strip() else {}
        with self._lock:
            view = self.views[view_id]
            action = answer.get("response_action")
            if action == "errors":
                inputs = {b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"}
                errors = answer.get("errors") or {}
                assert errors and set(errors) <= inputs, f"errors for blocks the modal does not have: {errors}"
                view["errors"] = errors
            elif action == "update":
                new = answer.get("view") or {}
                problems = block_errors(new.get("blocks"), MAX_VIEW_BLOCKS, modal=True) + _text_errors(
                    new.get("title"), "view/title", 24, plain=True
                )
                assert not problems, problems
                view.update(new, errors=None)
            else:
                view["closed"] = True
            self._lock.notify_all()
        return answer

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict:
        return self.wait_for(lambda: self.acks.get(envelope_id), timeout, f"ack of envelope {envelope_id}")

    def wait_response(self, response_url: str, timeout: float = 10.0) -> dict:
        path = urllib.parse.urlsplit(response_url).path
        rec = self.wait_for(
            lambda: next((r for r in self.responses if r.path == path), None), timeout, f"an answer at {path}"
        )
        return rec.params

    def request_refresh(self) -> None:
        """Ask the client to reconnect, as Slack does before it rotates a connection."""
        with self._lock:
            conns = list(self._live)
        for conn in conns:
            conn.send(
                json.dumps({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake-slack"}})
            )

    def drop_connections(self, abrupt: bool = False) -> None:
        """Close every live websocket from the server side: a close frame then TCP close, or
        with ``abrupt`` just the TCP connection (as when the network goes away)."""
        with self._lock:
            conns = list(self._live)
        for conn in conns:
            if abrupt:
                try:
                    conn.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                continue
            threading.Thread(target=conn.close, kwargs={"code": 1001, "reason": "going away"}, daemon=True).start()
        self.wait_for(lambda: not any(c in self._live for c in conns), 15, "the connections to close")


# ---------------------------------------------------------------------------------------
# HTTP mode: signed requests, as Slack sends them


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_request(
    secret: str | None,
    form: dict[str, str],
    *,
    timestamp: int | str | None = None,
    signature: str | None = None,
    retry_num: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a slash command as Slack sends it in HTTP mode. A retry (Slack
    sends one when the app did not answer in 3 s) repeats the body, signed anew, with
    ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``."""
    body = urllib.parse.urlencode(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if secret is not None:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers["X-Slack-Request-Timestamp"] = ts
        headers["X-Slack-Signature"] = signature or slack_signature(secret, ts, body)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return body, headers


def signed_post(
    url: str,
    secret: str | None,
    form: dict[str, str],
    *,
    timestamp: int | str | None = None,
    signature: str | None = None,
    timeout: float = 10.0,
    retry_num: int | None = None,
) -> tuple[int, str]:
    """POST a slash command to the bot in HTTP mode; returns (status, body).

    ``secret=None`` sends no signature headers at all; ``signature`` overrides the computed one
    (a forgery); ``timestamp`` lets a test send a stale (or garbled) request; ``retry_num``
    makes it one of Slack's retries."""
    body, headers = signed_request(secret, form, timestamp=timestamp, signature=signature, retry_num=retry_num)
    return post_raw(url, body, headers, timeout=timeout)


def post_raw(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    """POST exactly these bytes and headers (e.g. replay a captured request); (status, body)."""
    host = urllib.parse.urlsplit(url).hostname
    if host != HOST:
        raise ValueError(f"the fake only talks to {HOST}, not {host}")
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
