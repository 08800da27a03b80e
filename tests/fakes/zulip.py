"""A fake Zulip server for tests: the REST endpoints the real ``zulip`` client uses, on 127.0.0.1.

It speaks Zulip's wire protocol (``/api/v1/...``, form-encoded parameters with JSON values,
HTTP basic auth with email:api_key, ``{"result": "success", "msg": "", ...}`` answers and
``{"result": "error", "code": ..., "msg": ...}`` errors), so the bot's real ``zulip.Client``
is pointed at it by ``site`` and nothing is monkeypatched.

What tests can do with it:

- :meth:`FakeZulip.send_stream` / :meth:`FakeZulip.send_private`: a user posts a message; it is
  delivered as a ``message`` event to every event queue (like Zulip, also the sender's own
  messages, so the bot's replies come back to it too).
- :meth:`FakeZulip.expire_queues`: the server forgets all event queues (the next
  ``GET /events`` answers ``BAD_EVENT_QUEUE_ID``).
- :meth:`FakeZulip.go_down` / :meth:`FakeZulip.come_back`: a server restart (connections cut,
  then refused, then the same port again; queues kept, as Zulip does, unless told otherwise).
- :meth:`FakeZulip.fail_next`: answer the next N requests to an endpoint with 429
  (``Retry-After`` header and ``retry-after`` JSON field, code ``RATE_LIMIT_HIT``), another
  status, or a dropped connection.
- ``POST /register`` answers the server's limits in its realm data (``fetch_event_types`` with
  ``realm``, or none given): :attr:`FakeZulip.max_message_length` (10,000) and
  :attr:`FakeZulip.max_topic_length` (60), in code points, and ``event_queue_longpoll_timeout_seconds``.
- ``POST /messages`` cuts content over ``max_message_length`` characters as the server does
  (ending ``[message truncated]``) and topics over ``max_topic_length`` (ending ``...``), and reads a stream's ``to`` like the server does: JSON first, so ``2026`` is
  a stream id (unknown ids answer ``STREAM_DOES_NOT_EXIST``) and ``"2026"`` the stream named so.
- ``GET /messages`` (message history) like the server's ``get_messages_backend``: ``anchor``
  (``newest``, ``oldest``, ``first_unread`` or an id), ``num_before``/``num_after`` (at most
  5000 together), ``include_anchor`` (ignored below feature level 155, as older servers did),
  ``apply_markdown``, and the JSON ``narrow`` with the operator ``is`` and the operands ``dm``
  (feature level 177 and up; ``BAD_NARROW`` below), ``private`` and ``mentioned`` (possibly
  negated), and the operators ``stream`` (``channel`` from feature level 250), ``topic``,
  ``sender`` and ``pm-with`` (``dm`` from 177), for the requesting user; the answer has ``messages`` (shaped like message events,
  each with its ``flags``), ``anchor``, ``found_anchor``, ``found_oldest``, ``found_newest``
  and ``history_limited``. Other narrow operators answer ``BAD_NARROW`` (not implemented here).
- :meth:`FakeZulip.on_next_send`: a test's callback runs at the next ``POST /messages``, just
  before or just after the message is stored (a test kills the bot there);
  :meth:`FakeZulip.revoke`: the bot's API key stops working (401 ``INVALID_API_KEY``).
- :meth:`FakeZulip.react`: a user adds (or removes) an emoji reaction on a message; every event
  queue registered for ``reaction`` events whose user has the message gets a ``reaction`` event
  (``op`` ``add``/``remove``, ``user_id``, the deprecated ``user`` object, ``message_id``,
  ``emoji_name``, ``emoji_code``, ``reaction_type``), and the message's ``reactions`` change.
- ``POST /messages/{id}/reactions`` (``emoji_name`` required; ``emoji_code`` and
  ``reaction_type`` optional, the code looked up from the name as the server does for the few
  names known here; unknown names answer ``BAD_REQUEST``, a reaction the user already has
  ``REACTION_ALREADY_EXISTS``) and ``DELETE /messages/{id}/reactions`` (``REACTION_DOES_NOT_EXIST``).
- ``PATCH /messages/{id}`` with ``content``: only the sender edits a message's content, within
  :attr:`FakeZulip.edit_limit_seconds` of sending (None: no limit) and only while
  :attr:`FakeZulip.allow_message_editing`; each edit keeps the old text in
  :attr:`FakeZulip.edits` and sends ``update_message`` events.
- Flags: ``mentioned`` only for a mention Zulip would render (not in inline code, a fenced
  block other than ``quote``/``spoiler``, or an indented code block; not with another name).
- Users have a ``timezone`` (``GET /users``, ``/users/{id}``, ``/users/me``), empty when unset.
- :meth:`FakeZulip.hold` / :meth:`FakeZulip.release`: requests to an endpoint wait until
  released (a test can then act "between" two requests of the bot, without timing).
- :attr:`FakeZulip.requests` records every request (and the JSON it was answered with); :meth:`FakeZulip.sent_messages` the
  messages the bot posted (as stored, i.e. only successful ones).

Long polls wait at most ``poll_timeout`` seconds and then answer a ``heartbeat`` event
(the real server does the same after about a minute).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API = "/api/v1/"


@dataclass
class User:
    user_id: int
    email: str
    full_name: str
    api_key: str | None = None
    is_bot: bool = False
    github: str | None = None  # value of the custom profile field of type GitHub
    timezone: str = ""  # the IANA zone the user set in their settings ("" when unset)


@dataclass
class Queue:
    queue_id: str
    user_id: int
    event_types: list[str] | None
    apply_markdown: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    next_event_id: int = 0


@dataclass
class Request:
    method: str
    endpoint: str  # path below /api/v1/, e.g. "messages", "users/me"
    params: dict[str, Any]  # query + form parameters, JSON values decoded where possible
    auth_email: str | None
    status: int = 0
    at: float = field(default_factory=time.monotonic)
    answer: dict[str, Any] | None = None  # the JSON body of the answer


@dataclass
class Failure:
    status: int | None  # None: drop the connection without an answer
    retry_after: float
    count: int


GITHUB_FIELD_ID = 3
LARGER_THAN_MAX_MESSAGE_ID = 10000000000000000  # the server's anchor for "newest"
MAX_MESSAGES_PER_FETCH = 5000
MAX_MESSAGE_LENGTH = 10000  # settings.MAX_MESSAGE_LENGTH: longer messages are cut, not refused
TRUNCATED = "\n[message truncated]"
MAX_TOPIC_LENGTH = 60  # MAX_TOPIC_NAME_LENGTH: longer topics are cut (truncate_topic), ending "..."
TOPIC_TRUNCATED = "..."
LONGPOLL_TIMEOUT = 90  # settings.EVENT_QUEUE_LONGPOLL_TIMEOUT_SECONDS
# Markdown that Zulip renders without mentions in it: fenced code blocks other than ```quote and
# ```spoiler (whose content is Markdown), indented code blocks, inline code (zerver/lib/markdown)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(\w*)[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"(?<!\\)(`+)(.+?)(?<!`)\1(?!`)", re.S)


def _without_code(content: str) -> str:
    """The message as Zulip's Markdown processor sees it for mentions: code removed."""
    text = _FENCE.sub(lambda m: m.group(0) if m.group(2).lower() in ("quote", "spoiler") else "", content)
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = block.split("\n")
        while lines and (lines[0].startswith("    ") or lines[0].startswith("\t")):
            lines.pop(0)
        blocks.append("\n".join(lines))
    return _INLINE_CODE.sub("", "\n\n".join(blocks))


def _truncate(text: str, limit: int, marker: str) -> str:
    """The server's truncate_content: at most ``limit`` code points (Python ``len``), the end
    replaced by ``marker``."""
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


WILDCARDS = ("all", "everyone", "stream", "channel")  # stream wildcard mentions
# emoji names the fake knows (Zulip's names, tools/setup/emoji/emoji_names.py) -> code point
EMOJI = {
    "check": "2705",
    "all_good": "2705",
    "approved": "2705",
    "check_mark": "2714",
    "checkbox": "2611",
    "+1": "1f44d",
    "thumbs_up": "1f44d",
    "-1": "1f44e",
    "thumbs_down": "1f44e",
    "octopus": "1f419",
    "tada": "1f389",
    "eyes": "1f440",
}


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeZulip:
    def __init__(
        self,
        bot_email: str = "agenda-bot@zulip.example",
        bot_key: str = "fake-api-key-0123456789",
        bot_name: str = "Agenda Bot",
        poll_timeout: float = 0.5,
        version: str = "9.2",
        feature_level: int = 300,
    ):
        self.poll_timeout = poll_timeout
        # the server's limits, as POST /register reports them (realm data) and as it applies them
        self.max_message_length = MAX_MESSAGE_LENGTH
        self.max_topic_length = MAX_TOPIC_LENGTH
        self.version = version
        self.feature_level = feature_level
        self.lock = threading.Condition()
        self.users: dict[int, User] = {}
        self.queues: dict[str, Queue] = {}
        self.messages: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.failures: dict[tuple[str, str], Failure] = {}
        self.streams: dict[str, int] = {}
        self.allow_message_editing = True
        self.edit_limit_seconds: float | None = None
        self.edits: list[dict[str, Any]] = []  # {"message_id", "old", "new", "by"}
        self.holds: dict[tuple[str, str], threading.Event] = {}
        self.hooks: dict[tuple[str, str], Any] = {}
        self._ids = itertools.count(100)
        self._msg_ids = itertools.count(1000)
        self._queue_ids = itertools.count(1)
        self._closing = False
        self.bot = self.add_user(bot_email, bot_name, api_key=bot_key, is_bot=True)
        self._conns: set[socket.socket] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self._port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeZulip:
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-zulip", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            self._closing = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def go_down(self) -> None:
        """Like the server process stopping: open connections are cut and new ones refused
        (connection refused) until :meth:`come_back`."""
        with self.lock:
            self._closing = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def come_back(self, forget_queues: bool = False) -> None:
        """The server is up again on the same port. Zulip keeps event queues across a restart
        (Tornado saves them); ``forget_queues`` is a restart that lost them."""
        with self.lock:
            self._closing = False
            if forget_queues:
                self.queues.clear()
        self.server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        self.server.daemon_threads = True
        self.start()

    def __enter__(self) -> FakeZulip:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the organization -----------------------------------------------------------------

    def add_user(
        self,
        email: str,
        full_name: str,
        api_key: str | None = None,
        is_bot: bool = False,
        github: str | None = None,
        timezone: str = "",
    ) -> User:
        with self.lock:
            user = User(next(self._ids), email, full_name, api_key, is_bot, github, timezone)
            self.users[user.user_id] = user
            return user

    def user_by_email(self, email: str) -> User | None:
        for u in self.users.values():
            if u.email.lower() == email.lower():
                return u
        return None

    def stream_id(self, name: str) -> int:
        if name not in self.streams:
            self.streams[name] = next(self._ids)
        return self.streams[name]

    # -- what users do --------------------------------------------------------------------

    def send_stream(
        self, sender: User, stream: str, topic: str, content: str, timestamp: int | None = None
    ) -> dict[str, Any]:
        with self.lock:
            msg = {
                "type": "stream",
                "display_recipient": stream,
                "stream_id": self.stream_id(stream),
                "subject": topic,
                "topic_links": [],
            }
            return self._store(sender, msg, content, timestamp)

    def send_private(
        self, sender: User, content: str, to: list[User] | None = None, timestamp: int | None = None
    ) -> dict[str, Any]:
        recipients = [sender] + [u for u in (to or [self.bot]) if u.user_id != sender.user_id]
        with self.lock:
            msg = {
                "type": "private",
                "subject": "",
                "display_recipient": [
                    {"id": u.user_id, "email": u.email, "full_name": u.full_name, "is_mirror_dummy": False}
                    for u in sorted(recipients, key=lambda u: u.user_id)
                ],
            }
            return self._store(sender, msg, content, timestamp)

    def _store(self, sender: User, msg: dict[str, Any], content: str, timestamp: int | None = None) -> dict[str, Any]:
        msg.update(
            {
                "id": next(self._msg_ids),
                "sender_id": sender.user_id,
                "sender_email": sender.email,
                "sender_full_name": sender.full_name,
                "sender_realm_str": "zulip",
                "content": content,
                "content_type": "text/x-markdown",
                "timestamp": int(time.time()) if timestamp is None else timestamp,
                "client": "test",
                "is_me_message": False,
                "reactions": [],
                "submessages": [],
                "avatar_url": None,
                "recipient_id": 1,
            }
        )
        self.messages.append(msg)
        for q in self.queues.values():
            if q.event_types is not None and "message" not in q.event_types:
                continue
            receiver = self.users[q.user_id]
            if not self._received(receiver, msg):
                continue
            self._push(
                q,
                {
                    "type": "message",
                    "message": self._shaped(msg, q.apply_markdown),
                    "flags": self._flags(receiver, msg),
                },
            )
        self.lock.notify_all()
        return msg

    def message(self, message_id: int) -> dict[str, Any] | None:
        with self.lock:
            return next((m for m in self.messages if m["id"] == message_id), None)

    def react(
        self,
        user: User,
        message_id: int,
        emoji_name: str,
        emoji_code: str | None = None,
        reaction_type: str = "unicode_emoji",
        op: str = "add",
    ) -> None:
        """``user`` adds (``op="add"``) or removes an emoji reaction, as the web app does."""
        with self.lock:
            msg = self.message(message_id)
            if msg is None or not self._received(user, msg):
                raise KeyError(f"user {user.user_id} has no message {message_id}")
            code = emoji_code or EMOJI.get(emoji_name, emoji_name)
            reaction = {
                "emoji_name": emoji_name,
                "emoji_code": code,
                "reaction_type": reaction_type,
                "user_id": user.user_id,
            }
            if op == "add":
                msg["reactions"].append(reaction)
            else:
                msg["reactions"] = [
                    r for r in msg["reactions"] if not (r["user_id"] == user.user_id and r["emoji_code"] == code)
                ]
            for q in self.queues.values():
                if q.event_types is not None and "reaction" not in q.event_types:
                    continue
                if not self._received(self.users[q.user_id], msg):
                    continue
                self._push(
                    q,
                    {
                        "type": "reaction",
                        "op": op,
                        "user_id": user.user_id,
                        "user": {"user_id": user.user_id, "email": user.email, "full_name": user.full_name},
                        "message_id": message_id,
                        "emoji_name": emoji_name,
                        "emoji_code": code,
                        "reaction_type": reaction_type,
                    },
                )
            self.lock.notify_all()

    def _message_route(self, h, record: Request, user: User, method: str, endpoint: str, params: dict[str, Any]):
        """``PATCH /messages/{id}``, ``POST``/``DELETE /messages/{id}/reactions``; None: not one."""
        m = re.fullmatch(r"messages/(\d+)(/reactions)?", endpoint)
        if not m or (method, bool(m.group(2))) not in {("PATCH", False), ("POST", True), ("DELETE", True)}:
            return None
        mid = int(m.group(1))
        msg = self.message(mid)
        if msg is None or not self._received(user, msg):
            return self._answer(h, record, 400, {"result": "error", "msg": "Invalid message(s)", "code": "BAD_REQUEST"})
        if method == "PATCH":
            return self._edit(h, record, user, msg, params)
        name = params.get("emoji_name")
        if not isinstance(name, str) or not name:
            return self._answer(
                h,
                record,
                400,
                {
                    "result": "error",
                    "msg": "Missing 'emoji_name' argument",
                    "code": "BAD_REQUEST",
                    "var_name": "emoji_name",
                },
            )
        kind = params.get("reaction_type") or "unicode_emoji"
        code = params.get("emoji_code")
        code = str(code) if code not in (None, "") else EMOJI.get(name)
        if code is None:
            return self._answer(
                h, record, 400, {"result": "error", "msg": f"Emoji '{name}' does not exist", "code": "BAD_REQUEST"}
            )
        has = any(
            r["user_id"] == user.user_id and r["emoji_code"] == code and r["reaction_type"] == kind
            for r in msg["reactions"]
        )
        if method == "POST" and has:
            return self._answer(
                h,
                record,
                400,
                {"result": "error", "msg": "Reaction already exists.", "code": "REACTION_ALREADY_EXISTS"},
            )
        if method == "DELETE" and not has:
            return self._answer(
                h, record, 400, {"result": "error", "msg": "Reaction doesn't exist.", "code": "REACTION_DOES_NOT_EXIST"}
            )
        self.react(user, mid, name, code, kind, "add" if method == "POST" else "remove")
        return self._ok(h, record)

    def _edit(self, h, record: Request, user: User, msg: dict[str, Any], params: dict[str, Any]):
        """As zerver/views/message_edit.py: the sender edits the content, within the limits."""
        content = params.get("content")
        if content is None:
            return self._answer(h, record, 400, {"result": "error", "msg": "Nothing to change", "code": "BAD_REQUEST"})
        if not self.allow_message_editing:
            return self._answer(
                h,
                record,
                400,
                {"result": "error", "msg": "Your organization has turned off message editing", "code": "BAD_REQUEST"},
            )
        if msg["sender_id"] != user.user_id:
            return self._answer(
                h,
                record,
                400,
                {"result": "error", "msg": "You don't have permission to edit this message", "code": "BAD_REQUEST"},
            )
        if self.edit_limit_seconds is not None and time.time() - msg["timestamp"] > self.edit_limit_seconds:
            return self._answer(
                h,
                record,
                400,
                {
                    "result": "error",
                    "msg": "The time limit for editing this message's content has passed",
                    "code": "BAD_REQUEST",
                },
            )
        content = _truncate(str(content).rstrip().lstrip("\n"), self.max_message_length, TRUNCATED)
        with self.lock:
            old = msg["content"]
            msg["content"] = content
            msg["last_edit_timestamp"] = int(time.time())
            self.edits.append({"message_id": msg["id"], "old": old, "new": content, "by": user.user_id})
            for q in self.queues.values():
                if q.event_types is not None and "update_message" not in q.event_types:
                    continue
                if not self._received(self.users[q.user_id], msg):
                    continue
                self._push(
                    q,
                    {
                        "type": "update_message",
                        "user_id": user.user_id,
                        "message_id": msg["id"],
                        "message_ids": [msg["id"]],
                        "orig_content": old,
                        "content": content,
                        "edit_timestamp": msg["last_edit_timestamp"],
                        "rendering_only": False,
                        "flags": [],
                    },
                )
            self.lock.notify_all()
        return self._ok(h, record)

    @staticmethod
    def _received(user: User, msg: dict[str, Any]) -> bool:
        """Whether ``user`` has the message (no subscriptions here: every stream message)."""
        return msg["type"] != "private" or user.user_id in [r["id"] for r in msg["display_recipient"]]

    @staticmethod
    def _flags(user: User, msg: dict[str, Any]) -> list[str]:
        """The user's flags on a message: ``read`` for their own, ``mentioned`` for a mention of
        them (``@**Name**`` in any case, ``@**|id**``, and ``@**Name|id**`` only with their current
        name as it is, as zerver/lib/markdown checks it; a silent ``@_**…**`` is not one, nor is a
        mention in a code block or inline code, which Zulip renders as code), and
        ``wildcard_mentioned`` for ``@**all**`` and the like in a stream."""
        content = _without_code(msg["content"])  # no mention is rendered in code
        flags = ["read"] if msg["sender_id"] == user.user_id else []
        name, uid = re.escape(user.full_name), str(user.user_id)
        if re.search(r"@\*\*(?i:" + name + r")\*\*|@\*\*(?:" + name + r")?\|" + uid + r"\*\*", content):
            flags.append("mentioned")
        elif msg["type"] == "stream" and re.search(r"@\*\*(?:" + "|".join(WILDCARDS) + r")\*\*", content, re.I):
            flags.append("wildcard_mentioned")
        return flags

    @staticmethod
    def _shaped(msg: dict[str, Any], apply_markdown: bool) -> dict[str, Any]:
        out = dict(msg)
        out["reactions"] = [dict(r) for r in msg["reactions"]]  # as they are now, not as they change
        if apply_markdown:
            out["content"] = "<p>" + msg["content"].replace("&", "&amp;").replace("<", "&lt;") + "</p>"
            out["content_type"] = "text/html"
        return out

    def _push(self, q: Queue, event: dict[str, Any]) -> None:
        event["id"] = q.next_event_id
        q.next_event_id += 1
        q.events.append(event)

    def expire_queues(self) -> list[str]:
        """Forget all event queues, like a server restart or a long-idle client."""
        with self.lock:
            gone = list(self.queues)
            self.queues.clear()
            self.lock.notify_all()
            return gone

    def hold(self, method: str, endpoint: str) -> None:
        """Requests to ``endpoint`` wait (already recorded in :attr:`requests`) until
        :meth:`release`, then are answered with the state of that moment."""
        with self.lock:
            self.holds[(method.upper(), endpoint)] = threading.Event()

    def release(self, method: str, endpoint: str) -> None:
        with self.lock:
            gate = self.holds.pop((method.upper(), endpoint), None)
        if gate is not None:
            gate.set()

    def revoke(self, user: User | None = None) -> str:
        """The user's API key stops working (regenerated by an admin, the bot deactivated):
        every later request with it is answered 401 ``INVALID_API_KEY``. Returns the old key."""
        who = user or self.bot
        with self.lock:
            old, who.api_key = who.api_key, f"regenerated-{who.user_id}-{time.monotonic_ns()}"
            self.lock.notify_all()
        return old

    def on_next_send(self, callback, when: str = "after") -> None:
        """Run ``callback(request)`` once at the next ``POST /messages``: ``"after"`` the message
        is stored but before the answer, ``"before"`` instead of storing it (the request is then
        dropped unanswered). A test kills the bot from there."""
        with self.lock:
            self.hooks[(when, "messages")] = callback

    def fail_next(
        self, method: str, endpoint: str, count: int = 1, status: int | None = 429, retry_after: float = 0.3
    ) -> None:
        with self.lock:
            self.failures[(method.upper(), endpoint)] = Failure(status, retry_after, count)

    # -- what tests look at ---------------------------------------------------------------

    def sent_messages(self, by: User | None = None) -> list[dict[str, Any]]:
        who = (by or self.bot).user_id
        with self.lock:
            return [m for m in self.messages if m["sender_id"] == who]

    def requests_to(self, method: str, endpoint: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method.upper() and r.endpoint == endpoint]

    def wait_for(self, predicate, timeout: float = 15.0, interval: float = 0.05):
        """Poll ``predicate()`` until it returns something truthy; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}"
                )
            time.sleep(interval)

    # -- HTTP ---------------------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                with fake.lock:
                    closing = fake._closing
                    if not closing:
                        fake._conns.add(self.connection)
                if closing:  # accepted just before go_down(): cut like the others, never served
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            def finish(self):
                with fake.lock:
                    fake._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:  # the connection was cut by go_down()
                    pass

            def do_GET(self):
                fake._serve(self, "GET")

            def do_POST(self):
                fake._serve(self, "POST")

            def do_DELETE(self):
                fake._serve(self, "DELETE")

            def do_PATCH(self):
                fake._serve(self, "PATCH")

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        raw = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if body and "application/x-www-form-urlencoded" in (h.headers.get("Content-Type") or ""):
            raw.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        params = {k: _decode(v) for k, v in raw.items()}
        if "content" in raw:
            params["content"] = raw["content"]  # always the text, even if it looks like JSON
        if "topic" in raw:
            params["topic"] = raw["topic"]
        endpoint = url.path[len(API) :] if url.path.startswith(API) else url.path
        email = None
        auth = h.headers.get("Authorization") or ""
        user = None
        if auth.startswith("Basic "):
            try:
                email, _, key = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except ValueError:
                email, key = None, None
            candidate = self.user_by_email(email) if email else None
            if candidate and candidate.api_key and candidate.api_key == key:
                user = candidate
        record = Request(method, endpoint, params, email)
        with self.lock:
            self.requests.append(record)
            gate = self.holds.get((method, endpoint))
        if gate is not None:
            gate.wait(60)
        with self.lock:
            failure = self.failures.get((method, endpoint))
            if failure and failure.count > 0:
                failure.count -= 1
            else:
                failure = None
        if failure is not None:
            if failure.status is None:
                record.status = -1
                h.close_connection = True
                h.connection.shutdown(2)
                return
            if failure.status == 429:
                return self._answer(
                    h,
                    record,
                    429,
                    {
                        "result": "error",
                        "msg": "API usage exceeded rate limit",
                        "retry-after": failure.retry_after,
                        "code": "RATE_LIMIT_HIT",
                    },
                    {"Retry-After": str(failure.retry_after)},
                )
            return self._answer(
                h, record, failure.status, {"result": "error", "msg": "Internal server error", "code": "BAD_REQUEST"}
            )
        if not url.path.startswith(API):
            return self._answer(h, record, 404, {"result": "error", "msg": "Not found", "code": "BAD_REQUEST"})
        if endpoint == "server_settings" and method == "GET":
            return self._ok(
                h,
                record,
                zulip_version=self.version,
                zulip_feature_level=self.feature_level,
                realm_uri=self.site,
                realm_url=self.site,
                realm_name="Fake Zulip",
                push_notifications_enabled=False,
                authentication_methods={"password": True},
            )
        if user is None:
            if not auth:
                return self._answer(
                    h,
                    record,
                    401,
                    {"result": "error", "msg": "Missing 'Authorization' header.", "code": "UNAUTHORIZED"},
                    {"WWW-Authenticate": 'Basic realm="zulip"'},
                )
            return self._answer(
                h,
                record,
                401,
                {"result": "error", "msg": "Invalid API key", "code": "INVALID_API_KEY"},
                {"WWW-Authenticate": 'Basic realm="zulip"'},
            )
        route = (method, endpoint)
        if route == ("POST", "register"):
            return self._register(h, record, user, params)
        if route == ("GET", "events"):
            return self._events(h, record, user, params)
        if route == ("DELETE", "events"):
            with self.lock:
                q = self.queues.get(str(params.get("queue_id")))
                if q is None or q.user_id != user.user_id:
                    return self._bad_queue(h, record, params.get("queue_id"))
                del self.queues[q.queue_id]
            return self._ok(h, record)
        if route == ("POST", "messages"):
            with self.lock:
                before = self.hooks.pop(("before", "messages"), None)
            if before is not None:  # a test crashes the client before the server acts
                record.status = -1
                before(record)
                h.close_connection = True
                return
            return self._send(h, record, user, params)
        if endpoint.startswith("messages/"):
            done = self._message_route(h, record, user, method, endpoint, params)
            if done is not None or record.answer is not None:
                return done
        if route == ("GET", "messages"):
            return self._get_messages(h, record, user, params)
        if route == ("GET", "users/me"):
            return self._ok(h, record, **self._user_json(user, False))
        if route == ("GET", "users"):
            custom = bool(params.get("include_custom_profile_fields"))
            return self._ok(h, record, members=[self._user_json(u, custom) for u in self.users.values()])
        if method == "GET" and endpoint.startswith("users/"):
            key = urllib.parse.unquote(endpoint[len("users/") :])
            found = self.users.get(int(key)) if key.isdigit() else self.user_by_email(key)
            if found is None:
                return self._answer(h, record, 400, {"result": "error", "msg": "No such user", "code": "BAD_REQUEST"})
            return self._ok(h, record, user=self._user_json(found, bool(params.get("include_custom_profile_fields"))))
        if route == ("GET", "realm/profile_fields"):
            return self._ok(
                h,
                record,
                custom_fields=[
                    {"id": 1, "name": "Pronouns", "type": 1, "hint": "", "field_data": "", "order": 1},
                    {
                        "id": GITHUB_FIELD_ID,
                        "name": "GitHub",
                        "type": 7,
                        "hint": "",
                        "field_data": json.dumps({"subtype": "github"}),
                        "order": 2,
                    },
                ],
            )
        return self._answer(
            h, record, 404, {"result": "error", "msg": f"Unknown endpoint {endpoint}", "code": "BAD_REQUEST"}
        )

    def _user_json(self, u: User, custom: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user_id": u.user_id,
            "email": u.email,
            "delivery_email": u.email,
            "full_name": u.full_name,
            "is_bot": u.is_bot,
            "is_active": True,
            "is_admin": False,
            "role": 400,
            "timezone": u.timezone,
            "avatar_url": None,
        }
        if custom:
            out["profile_data"] = (
                {str(GITHUB_FIELD_ID): {"value": u.github, "rendered_value": None}} if u.github else {}
            )
        return out

    def _register(self, h, record: Request, user: User, params: dict[str, Any]) -> None:
        event_types = params.get("event_types")
        apply_markdown = params.get("apply_markdown", False) is True
        # the initial data is fetched for fetch_event_types (default: event_types; all if neither)
        fetch = params.get("fetch_event_types", event_types)
        with self.lock:
            qid = f"{int(time.time())}:{next(self._queue_ids)}"
            self.queues[qid] = Queue(qid, user.user_id, event_types, apply_markdown)
            max_id = max((m["id"] for m in self.messages if self._received(user, m)), default=-1)
        data: dict[str, Any] = {}
        if fetch is None or "message" in fetch:
            data["max_message_id"] = max_id
        if fetch is None or "realm" in fetch:  # "realm" data: the server's limits (code points)
            data.update(
                max_message_length=self.max_message_length,
                max_topic_length=self.max_topic_length,
                max_stream_name_length=60,
                event_queue_longpoll_timeout_seconds=LONGPOLL_TIMEOUT,
                realm_name="Fake Zulip",
            )
        return self._ok(
            h,
            record,
            queue_id=qid,
            last_event_id=-1,
            zulip_version=self.version,
            zulip_feature_level=self.feature_level,
            **data,
        )

    def _bad_queue(self, h, record: Request, qid: Any) -> None:
        return self._answer(
            h,
            record,
            400,
            {"result": "error", "msg": f"Bad event queue ID: {qid}", "code": "BAD_EVENT_QUEUE_ID", "queue_id": qid},
        )

    def _events(self, h, record: Request, user: User, params: dict[str, Any]) -> None:
        qid = str(params.get("queue_id"))
        try:
            last = int(params.get("last_event_id", -1))
        except (TypeError, ValueError):
            return self._answer(
                h, record, 400, {"result": "error", "msg": "Invalid last_event_id", "code": "BAD_REQUEST"}
            )
        dont_block = params.get("dont_block") is True
        deadline = time.monotonic() + self.poll_timeout
        with self.lock:
            while True:
                q = self.queues.get(qid)
                if q is None or q.user_id != user.user_id:
                    break
                q.events = [e for e in q.events if e["id"] > last]  # acknowledged: dropped
                if q.events or dont_block or self._closing:
                    events = list(q.events)
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self._push(q, {"type": "heartbeat"})
                    events = list(q.events)
                    break
                self.lock.wait(left)
        if q is None or q.user_id != user.user_id:
            return self._bad_queue(h, record, qid)
        return self._ok(h, record, events=events, queue_id=qid)

    def _send(self, h, record: Request, user: User, params: dict[str, Any]) -> None:
        kind = params.get("type")
        content = params.get("content")
        if not isinstance(content, str) or not content.strip():
            return self._answer(
                h, record, 400, {"result": "error", "msg": "Message must not be empty", "code": "BAD_REQUEST"}
            )
        # the server's normalize_body: trailing whitespace and leading newlines go, and a message
        # over MAX_MESSAGE_LENGTH is silently cut (truncate_content), ending "[message truncated]"
        content = _truncate(content.rstrip().lstrip("\n"), self.max_message_length, TRUNCATED)
        if kind == "stream" or kind == "channel":
            # like the server's extract_stream_indicator: ``to`` is read as JSON first, so a
            # number is a stream id and a JSON string a name; anything else is a raw name
            to = params.get("to")
            if isinstance(to, list) and len(to) == 1:
                to = to[0]
            topic = params.get("topic", params.get("subject"))
            if "to" not in params or to == "":
                return self._answer(
                    h, record, 400, {"result": "error", "msg": "Missing channel", "code": "BAD_REQUEST"}
                )
            if to is None or isinstance(to, bool) or not isinstance(to, (str, int)):
                return self._answer(
                    h, record, 400, {"result": "error", "msg": "Invalid data type for channel", "code": "BAD_REQUEST"}
                )
            if isinstance(to, int) and to not in self.streams.values():
                return self._answer(
                    h,
                    record,
                    400,
                    {
                        "result": "error",
                        "code": "STREAM_DOES_NOT_EXIST",
                        "msg": f"Channel with ID '{to}' does not exist",
                        "stream_id": to,
                    },
                )
            if not isinstance(topic, str) or not topic.strip():
                return self._answer(
                    h,
                    record,
                    400,
                    {"result": "error", "msg": "Topics are required in this organization.", "code": "BAD_REQUEST"},
                )
            # check_message: the topic is stripped and a longer one cut (truncate_topic), not refused
            topic = _truncate(topic.strip(), self.max_topic_length, TOPIC_TRUNCATED)
            name = to if isinstance(to, str) else next(n for n, i in self.streams.items() if i == to)
            msg = self.send_stream(user, name, topic, content)
        elif kind in ("private", "direct"):
            to = params.get("to")
            if isinstance(to, str):
                to = [t.strip() for t in to.split(",") if t.strip()]
            if not isinstance(to, list) or not to:
                return self._answer(
                    h, record, 400, {"result": "error", "msg": "Missing recipients", "code": "BAD_REQUEST"}
                )
            recipients = []
            for t in to:
                r = self.users.get(t) if isinstance(t, int) else self.user_by_email(str(t))
                if r is None:
                    return self._answer(
                        h, record, 400, {"result": "error", "msg": f"Invalid email '{t}'", "code": "BAD_REQUEST"}
                    )
                recipients.append(r)
            msg = self.send_private(user, content, to=recipients)
        else:
            return self._answer(
                h, record, 400, {"result": "error", "msg": "Invalid message type", "code": "BAD_REQUEST"}
            )
        with self.lock:
            after = self.hooks.pop(("after", "messages"), None)
        if after is not None:  # stored, not yet answered: a test crashes the client here
            after(record)
        try:
            return self._ok(h, record, id=msg["id"])
        except OSError:
            return None  # the client is gone

    def _get_messages(self, h, record: Request, user: User, params: dict[str, Any]) -> None:
        """``GET /messages`` as zerver/views/message_fetch.py and zerver/lib/narrow.py do it."""

        def bad(msg: str, code: str = "BAD_REQUEST") -> None:
            return self._answer(h, record, 400, {"result": "error", "msg": msg, "code": code})

        if "message_ids" in params:
            return bad("the fake does not implement message_ids")
        counts = {}
        for name in ("num_before", "num_after"):
            value = params.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return bad(f"{name} is not a non-negative integer")
            counts[name] = value
        num_before, num_after = counts["num_before"], counts["num_after"]
        include_anchor = params.get("include_anchor", True)
        if not isinstance(include_anchor, bool):
            return bad("include_anchor is not a boolean")
        if self.feature_level < 155:
            include_anchor = True  # older servers did not know the parameter
        apply_markdown = params.get("apply_markdown", True)
        if not isinstance(apply_markdown, bool):
            return bad("apply_markdown is not a boolean")
        if num_before + num_after > MAX_MESSAGES_PER_FETCH:
            return bad(f"Too many messages requested (maximum {MAX_MESSAGES_PER_FETCH}).")
        if num_before > 0 and num_after > 0 and not include_anchor:
            return bad("The anchor can only be excluded at an end of the range")
        terms = params.get("narrow")
        if terms is None or terms == "":
            terms = []
        if not isinstance(terms, list):
            return bad("narrow is not a list")
        narrow: list[tuple[str, Any, bool]] = []
        for term in terms:
            if isinstance(term, dict):
                operator, operand, negated = term.get("operator"), term.get("operand"), term.get("negated", False)
            elif isinstance(term, list) and len(term) == 2:  # the legacy [operator, operand] form
                (operator, operand), negated = term, False
            else:
                return bad("elem is not a dict")
            operators = (
                {"is", "stream", "topic", "sender", "pm-with"}
                | ({"dm"} if self.feature_level >= 177 else set())
                | ({"channel"} if self.feature_level >= 250 else set())
            )
            if operator not in operators:
                return bad(f"Invalid narrow operator: unknown operator {operator}", "BAD_NARROW")
            if operator == "is":
                known = {"private", "mentioned"} | ({"dm"} if self.feature_level >= 177 else set())
                if operand not in known:
                    return bad(f"Invalid narrow operator: unknown 'is' operand {operand}", "BAD_NARROW")
            narrow.append((operator, operand, bool(negated)))

        def people(operand: Any) -> set[str]:
            items = operand if isinstance(operand, list) else str(operand).split(",")
            out = set()
            for it in items:
                u = self.users.get(it) if isinstance(it, int) else self.user_by_email(str(it).strip())
                out.add(u.email.lower() if u else str(it).strip().lower())
            return out

        def matches(msg: dict[str, Any], flags: list[str]) -> bool:
            for operator, operand, negated in narrow:
                if operator == "is" and operand in ("dm", "private"):
                    hit = msg["type"] == "private"
                elif operator == "is":
                    hit = "mentioned" in flags or "wildcard_mentioned" in flags
                elif operator in ("stream", "channel"):
                    hit = msg["type"] == "stream" and (
                        msg["stream_id"] == operand
                        if isinstance(operand, int)
                        else str(msg["display_recipient"]).lower() == str(operand).lower()
                    )
                elif operator == "topic":
                    hit = msg["type"] == "stream" and msg["subject"].lower() == str(operand).lower()
                elif operator == "sender":
                    hit = (
                        msg["sender_id"] == operand
                        if isinstance(operand, int)
                        else msg["sender_email"].lower() == str(operand).lower()
                    )
                else:  # dm / pm-with: the conversation with exactly these people (and the user)
                    if msg["type"] != "private":
                        hit = False
                    else:
                        others = {r["email"].lower() for r in msg["display_recipient"]} - {user.email.lower()}
                        hit = others == people(operand) - {user.email.lower()}
                if hit == negated:
                    return False
            return True

        with self.lock:
            rows = [
                (m, flags)
                for m in self.messages
                if self._received(user, m)
                for flags in [self._flags(user, m)]
                if matches(m, flags)
            ]
        value = params.get("anchor")
        if params.get("use_first_unread_anchor") is True:
            value = "first_unread"
        if value is None:
            return bad("Missing 'anchor' argument.")
        if value == "oldest":
            anchor = 0
        elif value == "newest":
            anchor = LARGER_THAN_MAX_MESSAGE_ID
        elif value == "first_unread":
            anchor = next((m["id"] for m, flags in rows if "read" not in flags), LARGER_THAN_MAX_MESSAGE_ID)
        elif isinstance(value, int) and not isinstance(value, bool):
            anchor = min(max(value, 0), LARGER_THAN_MAX_MESSAGE_ID)
        else:
            return bad("Invalid anchor")
        anchored_to_left = anchor == 0
        anchored_to_right = anchor >= LARGER_THAN_MAX_MESSAGE_ID
        if anchored_to_right:
            num_after = 0
            before, at, after = rows, [], []
        else:
            before = [r for r in rows if r[0]["id"] < anchor]
            at = [r for r in rows if r[0]["id"] == anchor]
            after = [r for r in rows if r[0]["id"] > anchor]
        if not include_anchor:
            at = []
        # the server queries num_before rows below and num_after above the anchor (none on a
        # side whose count is 0), plus the anchor row
        before = before[-num_before:] if num_before else []
        after = after[:num_after] if num_after else []
        messages = [{**self._shaped(m, apply_markdown), "flags": flags} for m, flags in [*before, *at, *after]]
        return self._ok(
            h,
            record,
            messages=messages,
            anchor=anchor,
            found_anchor=len(at) == 1,
            found_oldest=anchored_to_left or len(before) < num_before,
            found_newest=anchored_to_right or len(after) < num_after,
            history_limited=False,
        )

    def _ok(self, h, record: Request, **data: Any) -> None:
        return self._answer(h, record, 200, {"result": "success", "msg": "", **data})

    def _answer(
        self, h, record: Request, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        record.status = status
        record.answer = data
        body = json.dumps(data).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
