"""How events reach the bot: the bolt app (acks first, the work on our own pool), Socket Mode
(redelivered envelopes acknowledged, not acted on again; connection retries) or HTTP mode (the
signed endpoint beside the status pages; replayed requests acknowledged, not acted on again)."""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...config import ConfigError
from ..base import BackendError, wait_for_stop
from .events import AckPriority, _ack_only, _checked_requests, _DropNoise, prompt_socket_mode_handler
from .part import Part
from .render import ACTION_ADD, ACTION_CARRY, ACTION_DONE, AGENDA_VIEW
from .review import REVIEW_BUTTONS
from .wire import APP_TOKEN_ENV, APP_TOKEN_REFUSED, AUTH_ERRORS, HTTP_PATH, SIGNING_SECRET_ENV, WORK_THREADS

log = logging.getLogger("chatbot.backends.slack")


class SlackIntake(Part):
    """The bolt app and the transport that feeds it; :meth:`close` stops both and lets
    acknowledged work finish."""

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self._app = None
        self._socket_handler = None
        self._http_server: Any = None
        self._http_thread: threading.Thread | None = None
        self._work: ThreadPoolExecutor | None = None
        self._acks: AckPriority | None = None

    def build_app(self):
        from slack_bolt import App
        from slack_bolt.error import BoltError

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
        api = self.backend.api
        try:
            app = App(
                client=api.client,
                signing_secret=api.env(SIGNING_SECRET_ENV) if http else "unused-in-socket-mode",
                request_verification_enabled=http,
                # bolt's own auth.test, now rather than inside the first command's 3-second ack
                # (SlackApi.authenticate already checked the token, with clearer messages and retries)
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
        self._listen(app)
        self._app = app
        return app

    def _listen(self, app) -> None:
        """Which listener answers what."""
        slash, buttons = self.backend.slash, self.backend.buttons
        # which names are ours is asked per command: a reloaded config may rename them
        app.command(re.compile(r"^/"), matchers=[slash.is_ours])(ack=_ack_only, lazy=[slash.on_command])
        app.command(re.compile(r"^/"))(slash.on_unknown_command)  # after the known ones
        # buttons: Done / Next meeting work after the ack (like commands); Add agenda item must
        # open its modal within the click's 3 seconds, and the modal's submission is answered
        # in its ack (errors are shown in the modal)
        for button in (ACTION_DONE, ACTION_CARRY):
            app.action(button)(ack=_ack_only, lazy=[buttons.on_item_button])
        for button in REVIEW_BUTTONS:  # the chair's review: Track / Not an action item
            app.action(button)(ack=_ack_only, lazy=[buttons.on_review_button])
        app.action(ACTION_ADD)(buttons.on_add_button)
        app.view(AGENDA_VIEW)(buttons.on_agenda_view)
        app.error(self._on_error)

    def _once_per_request(self, req, next) -> Any:
        """HTTP mode: a signed request seen before (Slack's retry with ``X-Slack-Retry-Num``,
        or the same bytes replayed within the 5-minute signature window) is acknowledged and
        not acted on again. The key is the digest of the body: each command's body is unique
        (its ``trigger_id`` and ``response_url``), and a retry repeats it byte for byte."""
        from slack_bolt.response import BoltResponse

        raw = req.raw_body if isinstance(req.raw_body, str) else str(req.raw_body or "")
        key = "slack-http:" + hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
        if self.backend.first_delivery(key):
            return next()
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        log.info(
            "Slack sent a request again (%s); it was handled already: acknowledged, not acted on",
            f"X-Slack-Retry-Num {retry}" if retry else "same body",
        )
        return BoltResponse(status=200, body="")

    def _on_error(self, error: Exception, body: dict) -> None:
        what = body.get("command") if isinstance(body, dict) else None
        log.error(
            "Slack request %s failed: %s: %s",
            what or "?",
            type(error).__name__,
            error,
            exc_info=(type(error), error, error.__traceback__),
        )

    # -- Socket Mode ------------------------------------------------------------------

    def _first_envelope(self, client, req) -> bool:
        """An envelope Slack delivers again (same ``envelope_id``: our ack did not reach it
        in time, or a reconnect) is acknowledged and not acted on again."""
        if self.backend.first_delivery(f"slack-envelope:{req.envelope_id}"):
            return True
        log.info(
            "Slack delivered envelope %s again (retry %s, %s); it was handled already: acknowledged, not acted on",
            req.envelope_id,
            req.retry_attempt,
            req.retry_reason or "-",
        )
        from slack_sdk.socket_mode.response import SocketModeResponse

        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        return False

    def run_socket(self, app, app_token: str, stop: threading.Event) -> None:
        from slack_sdk.errors import SlackApiError, SlackClientError

        handler = prompt_socket_mode_handler(
            app,
            app_token,
            logging.getLogger("chatbot.slack.socket"),
            self.backend.api.app_token_client(),
            self._first_envelope,
        )
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
                    raise ConfigError(
                        f"{APP_TOKEN_ENV} was refused by Slack ({err}); use an app-level token "
                        "(xapp-…) with the connections:write scope"
                    ) from None
                log.warning("Slack API apps.connections.open failed: %s; retrying in %.0f s", err, delay)
            except (SlackClientError, OSError) as exc:
                log.warning("cannot open a Socket Mode connection (%s); retrying in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
        wait_for_stop(stop)

    # -- HTTP mode --------------------------------------------------------------------

    def run_http(self, app, stop: threading.Event) -> None:
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        from ... import web

        api = self.backend.api
        bolt = _checked_requests(SlackRequestHandler(app, path=HTTP_PATH), lambda: api.env(SIGNING_SECRET_ENV))
        # the status pages, as the runner composed them (without the runner: composed here)
        pages = self.backend.pages if self.backend.pages is not None else web.make_app(self.bot)
        wsgi = web.by_path({HTTP_PATH: self._acks.wrap(bolt) if self._acks else bolt}, pages)
        host, port = self.settings.host, self.settings.port
        try:
            # body size limit, read timeouts and a bound on connections: see web.Limits
            server = web.make_wsgi_server(host, port, wsgi, log_level=logging.DEBUG)
        except OSError as exc:
            raise ConfigError(f"slack.host/slack.port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._http_server = server
        self._http_thread = threading.Thread(target=server.serve_forever, name="slack-http", daemon=True)
        self._http_thread.start()
        log.info(
            "Slack: listening for slash commands on http://%s:%d%s (status pages and calendars at /)",
            host,
            server.server_port,
            HTTP_PATH,
        )
        wait_for_stop(stop)

    # -- stopping ---------------------------------------------------------------------

    def close(self) -> None:
        """Nothing more arrives (the socket or the server is closed); acknowledged commands
        finish their edits before the bot exits."""
        self._close_socket()
        server, self._http_server = self._http_server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        work, self._work = self._work, None
        if work is not None:
            work.shutdown(wait=True)

    def _close_socket(self) -> None:
        handler, self._socket_handler = self._socket_handler, None
        if handler is None:
            return
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
