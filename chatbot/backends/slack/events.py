"""What arrives from Slack: slash command text as typed, signed HTTP requests (checked before bolt sees them), Socket Mode connections kept prompt across reconnects, the ack-first executor, and secrets kept out of the logs."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from collections.abc import Callable, Iterable

from ... import logs
from .wire import HTTP_PATH, SOCKET_PING_INTERVAL, SOCKET_RETIRE_GRACE, SOCKET_WATCH_INTERVAL

log = logging.getLogger("chatbot.backends.slack")


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
_HOOK_URL_RE = re.compile(
    r"""(https?:(?:\\?/){2}[^\s"'<>]*?(?:\\?/)(?:commands|actions|services|workflows)(?:\\?/))"""
    r"""[^\s"'<>,)]+"""
)


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


def _at_eof(sock) -> bool:
    """Whether the peer closed the TCP connection and nothing is left to read (a look at the
    raw socket, under any TLS layer, without taking anything from the reader)."""
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


def _retire(old, logger: logging.Logger) -> None:
    """Close a replaced connection: its write side now (the server answers with its own close,
    after delivering what it had sent), then, after ``SOCKET_RETIRE_GRACE``, for good."""
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


def _prompt_client_class() -> type:
    """slack_sdk's built-in Socket Mode client that switches to a new connection at once
    (retiring the old one in the background) and notices a connection closed without a close
    frame (a watcher thread, every ``SOCKET_WATCH_INTERVAL``)."""
    from slack_sdk.socket_mode.builtin.client import SocketModeClient
    from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

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
                url=self.wss_uri,
                logger=self.logger,
                ping_interval=self.ping_interval,
                trace_enabled=self.trace_enabled,
                all_message_trace_enabled=self.all_message_trace_enabled,
                ping_pong_trace_enabled=self.ping_pong_trace_enabled,
                receive_buffer_size=self.receive_buffer_size,
                proxy=self.proxy,
                proxy_headers=self.proxy_headers,
                on_message_listener=self._on_message,
                on_error_listener=self._on_error,
                on_close_listener=self._on_close,
                ssl_context=self.web_client.ssl,
            )
            session.connect()
            if old_state is not None:
                old_state.terminated = True
            self.current_session = session
            self.current_session_state = ConnectionState()
            self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
            if old_session is not None:
                threading.Thread(
                    target=_retire, args=(old_session, self.logger), name="slack-socket-retire", daemon=True
                ).start()
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
                    if sock is not None and not _at_eof(sock):
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

    return PromptClient


def prompt_socket_mode_handler(
    app, app_token: str, logger: logging.Logger, web_client, accept: Callable[[Any, Any], bool] | None = None
):
    """bolt's Socket Mode handler on slack_sdk's built-in client, with its two stalls removed
    (measured in ``bench/latency.py``, Socket Mode case):

    * Replacing a connection (Slack's ``disconnect`` request, or any reconnect): the built-in
      client closed the old connection before using the new one, and closing waited for the
      old connection's reader to give up its ``recv`` (a 3 s timeout); the thread that runs
      the acks waited with it, so a command arriving then was acked after ~3 s, past Slack's
      limit. Here the new connection is used at once and the old one is retired in the
      background (:func:`_retire`).
    * A connection the server closed without a close frame (TCP FIN or reset): the built-in
      reader takes end-of-file for "no data yet" and only missing pongs revealed it, after
      four ping intervals (~15 s deaf). A watcher looks for end-of-file every
      ``SOCKET_WATCH_INTERVAL`` and reconnects at once (:func:`_prompt_client_class`).

    ``accept(client, request)`` (optional) is asked before bolt runs a request; False: it is
    not run (``accept`` acknowledged it itself).
    """
    from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response

    client_class = _prompt_client_class()

    class PromptHandler(BaseSocketModeHandler):
        def __init__(self):
            self.app = app
            self.app_token = app_token
            self.client = client_class(
                app_token=app_token,
                logger=logger,
                web_client=web_client,
                proxy=web_client.proxy,
                ping_interval=SOCKET_PING_INTERVAL,
            )
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
