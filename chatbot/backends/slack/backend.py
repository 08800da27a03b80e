"""The Slack backend: commands, interactions, reminders and pings through slack-bolt and slack_sdk."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from collections.abc import Mapping

from ... import logs
from ...bot import Bot, Sender
from ...config import Config, ConfigError, Meeting, Person, UnknownMeeting
from ...messages import Message, Text, UserText, error, render_plain
from ..base import Backend, BackendError, wait_for_stop
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
    _SLACK_ID,
    _context,
    _cut_to,
    _form_view,
    _sections,
    agenda_button,
    blocks_text,
    escape,
    fit_text,
    mark_item,
    render_blocks,
    render_mrkdwn,
    safe_text,
    split_text,
)
from .review import REVIEW_BUTTONS, on_review_button, review_blocks
from .events import (
    AckPriority,
    _DropNoise,
    _ack_only,
    _checked_requests,
    _install_redaction,
    prompt_socket_mode_handler,
    readable_text,
)

log = logging.getLogger("chatbot.backends.slack")


# The backend


def slack_sender(config: Config, user_id: str | None, name: str | None = None) -> Sender:
    """The Slack user, resolved to their roster entry by ``slack_id``, as the core gets them."""
    return Sender(
        "slack", user_id, name, person=config.person_by(slack_id=user_id) if user_id else None, id_field="slack_id"
    )


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
        self._redaction: logs.RedactSecrets | None = None
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
            rest = "\n".join(parts[most - 1 :])
            parts = parts[: most - 1] + [fit_text(rest, keep_last=not any(isinstance(s, UserText) for s in last))]
        return parts

    def _post_parts(
        self, channel: str, message: Message, key: str | None = None, meeting_id: str | None = None
    ) -> None:
        """Post the message, in several parts if it is long; the ledger key goes on the last
        part, the earlier ones are marked as its parts: after a crash between parts the message
        is posted again whole, saying it may be a repeat (never lost, never silently doubled).
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
            self.call(
                "chat.postMessage",
                channel=channel,
                text=part,
                unfurl_links=False,
                unfurl_media=False,
                **extra,
                **_metadata(key, n, len(parts)),
            )

    def blocks(
        self, message: Message, meeting_id: str | None, prefix: str = "", listing: str | None = None
    ) -> dict[str, Any]:
        """``{"blocks": [...]}`` for a message people act on (a reminder, a message listing
        open action items), else nothing: the text alone (which stays, as the fallback)."""
        if not (message.actions or message.reviews or message.kind == "reminder"):
            return {}
        try:
            meeting = self.bot.config.meeting(meeting_id)
        except UnknownMeeting:
            return {}
        if message.reviews:
            return {"blocks": review_blocks(message, meeting.id, prefix)}
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

    def reaches_directly(self, person: Person) -> bool:
        return bool(person.slack_id)

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        dm = self._dm_channel(meeting, person)
        if dm is None:
            raise BackendError(f"{person.initials} has no slack_id in the roster: no direct message")
        self._post_parts(dm, message, key, meeting.id)
        log.info("sent a Slack direct message to %s (%s)", person.initials, person.slack_id)

    def _dm_channel(self, meeting: Meeting, person: Person | None) -> str | None:
        """The direct message channel with ``person`` (None: the post is for the channel)."""
        if person is None or not person.slack_id:
            return None
        opened = self.call("conversations.open", users=person.slack_id)
        dm = (opened.get("channel") or {}).get("id")
        if not dm:
            raise BackendError("Slack API conversations.open returned no channel")
        return dm

    def find_sent(
        self, meeting: Meeting, key: str, since: dt.datetime, data: dict, person: Person | None = None
    ) -> bool | None:
        """Whether the post marked ``key`` is in its channel (``conversations.history`` since
        shortly before the intent was recorded, with metadata). BackendError when Slack cannot
        be asked now (the runner tries again later rather than guess); None when it cannot
        tell: it never can (e.g. the app lacks the ``channels:history`` scope), or only some
        parts of a long post are there. The runner then posts, saying it may be a repeat."""
        try:
            return self._find_sent(meeting, key, since, person)
        except BackendError as exc:
            code = getattr(exc, "code", None)
            if code is None or code in TRANSIENT_ERRORS:
                raise
            log.warning(
                "Slack: cannot look for a post made before a crash (%s); add the scopes channels:history, "
                "groups:history and im:history to the app so a crash never doubles a reminder",
                code,
            )
            return None

    def _find_sent(self, meeting: Meeting, key: str, since: dt.datetime, person: Person | None) -> bool | None:
        channel = self._dm_channel(meeting, person) or meeting.destinations.slack_channel
        if not channel:
            return False
        oldest = f"{since.timestamp() - FIND_SLACK_SECONDS:.6f}"
        cursor = None
        begun = False  # an earlier part of the post is there, not its last
        for _ in range(FIND_PAGES):
            params: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200, "include_all_metadata": True}
            if cursor:
                params["cursor"] = cursor
            data_ = self.call("conversations.history", **params)
            for m in data_.get("messages") or []:
                meta = m.get("metadata") or {}
                payload = (meta.get("event_payload") or {}) if meta.get("event_type") == METADATA_EVENT else {}
                if payload.get("key") == key:
                    return True
                begun = begun or payload.get("part_of") == key
            cursor = (data_.get("response_metadata") or {}).get("next_cursor")
            if not (data_.get("has_more") and cursor):
                break
        else:
            log.warning(
                "Slack: %s has more than %d pages of messages since %s; not searched further",
                channel,
                FIND_PAGES,
                since.isoformat(timespec="seconds"),
            )
        if begun:
            log.warning("Slack: only the first parts of a long post reached %s before the bot stopped", channel)
            return None
        return False

    def prepare(self) -> None:
        """Before the scheduler starts: the secrets the mode needs are all set and look right
        (ConfigError naming what is missing). No network: Slack is asked in ``run()``."""
        mode = self.settings.mode
        needed = [BOT_TOKEN_ENV, APP_TOKEN_ENV] if mode == "socket" else [BOT_TOKEN_ENV, SIGNING_SECRET_ENV]
        self._require(*needed)
        app_token = self._env(APP_TOKEN_ENV) if mode == "socket" else None
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError(
                f"{APP_TOKEN_ENV} must be an app-level token starting with 'xapp-' "
                "(Basic Information > App-Level Tokens, scope connections:write)"
            )

    @property
    def serves_http(self) -> bool:
        return self.settings.mode == "http"

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
                "(see the Slack section of README.md)"
            )
        self._protect([self._env(n) for n in (BOT_TOKEN_ENV, APP_TOKEN_ENV, SIGNING_SECRET_ENV)])

    def _protect(self, secrets: list[str]) -> None:
        self._redaction = _install_redaction(secrets)  # the process's one filter: adds to what it hides

    @property
    def api_url(self) -> str:
        url = self.settings.api_url or DEFAULT_API_URL
        return url if url.endswith("/") else url + "/"

    def _web_client_options(self) -> dict[str, Any]:
        """What every Web API client of the bot shares: the API URL, timeout, log and retries."""
        from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

        return {
            "base_url": self.api_url,
            "timeout": 30,
            "logger": logging.getLogger("chatbot.slack.web"),
            "retry_handlers": [
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=5),
            ],
        }

    @property
    def client(self):
        """The Web API client (created on first use; needs SLACK_BOT_TOKEN)."""
        with self._client_lock:
            if self._client is None:
                from slack_sdk import WebClient

                self._require(BOT_TOKEN_ENV)
                self._client = WebClient(token=self._env(BOT_TOKEN_ENV), **self._web_client_options())
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
        message = (
            f"{BOT_TOKEN_ENV} was refused by Slack ({err}) on {method}: reminders, pings and channel notes "
            "cannot be posted; put a valid Bot User OAuth Token (xoxb-…) in the environment and restart"
        )
        self._bot_token_refused = message
        self.refused(BOT_TOKEN_ENV, message, fatal=self.settings.mode == "socket")

    def _refuse_app_token(self, err: str) -> None:
        message = (
            f"{APP_TOKEN_ENV} was refused by Slack ({err}) on apps.connections.open: no slash command can "
            "arrive; generate a new app-level token (xapp-…, scope connections:write) or turn Socket Mode "
            "back on, put it in the environment and restart"
        )
        self.refused(APP_TOKEN_ENV, message, fatal=True)

    def _app_token_client(self):
        """The Web API client Socket Mode opens connections with (``apps.connections.open`` with
        the app-level token): a refused token stops the bot instead of being retried forever."""
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

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

        return AppTokenClient(**self._web_client_options())

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
                    raise ConfigError(
                        f"{BOT_TOKEN_ENV} was refused by Slack ({err}); use the app's "
                        "Bot User OAuth Token (xoxb-…) from OAuth & Permissions"
                    ) from None
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
        for button in REVIEW_BUTTONS:  # the chair's review: Track / Not an action item
            app.action(button)(ack=_ack_only, lazy=[self._on_review_button])
        app.action(ACTION_ADD)(self._on_add_button)
        app.view(AGENDA_VIEW)(self._on_agenda_view)
        app.error(self._on_error)
        self._app = app
        return app

    def _once_per_request(self, req, next) -> Any:
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
        log.info(
            "Slack sent a request again (%s); it was handled already: acknowledged, not acted on",
            f"X-Slack-Retry-Num {retry}" if retry else "same body",
        )
        return BoltResponse(status=200, body="")

    def _is_ours(self, command: dict) -> bool:
        return (command.get("command") or "") in self.commands()

    def _on_unknown_command(self, ack, command: dict) -> None:
        """A slash command the app's manifest has but the config does not name (renamed in
        one place only): answer, rather than let Slack show the user "dispatch_failed"."""
        name = command.get("command") or "?"
        log.warning("Slack sent %s, which [slack] command/next_command/actions_command do not name", name)
        known = ", ".join(sorted(self.commands()))
        ack(
            text=f":warning: this bot does not handle {escape(name)}; it answers {escape(known)}. "
            "(For the admin: the slash command names in the Slack app and in the bot's [slack] "
            "settings differ.)",
            response_type="ephemeral",
        )

    def _on_error(self, error: Exception, body: dict) -> None:
        what = body.get("command") if isinstance(body, dict) else None
        log.error(
            "Slack request %s failed: %s: %s",
            what or "?",
            type(error).__name__,
            error,
            exc_info=(type(error), error, error.__traceback__),
        )

    def commands(self) -> dict[str, str]:
        """Slash command name -> the core command it runs."""
        s = self.settings
        out: dict[str, str] = {}
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
            log.error(
                "Slack command %s failed: %s: %s", command.get("command") or "?", type(exc).__name__, exc, exc_info=True
            )
            try:
                respond(text=":warning: something went wrong on the bot's side; see its log", response_type="ephemeral")
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
        message = self.bot.handle(
            core_text,
            self._sender(user_id, command.get("user_name")),
            meeting_id,
            allow_unknown=allow,
            place=place,
            spelled=self._spelled(),
        )
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
            log.error("Slack button %s failed: %s: %s", action.get("action_id"), type(exc).__name__, exc, exc_info=True)
            try:
                respond(
                    text=":warning: something went wrong on the bot's side; see its log",
                    response_type="ephemeral",
                    replace_original=False,
                )
            except Exception:
                pass

    def _on_review_button(self, body: dict, action: dict, respond) -> None:
        """Track / Not an action item on the chair's review (``review.on_review_button``)."""
        on_review_button(self, body, action, respond)

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
            again = self.bot.handle(
                listing, sender, meeting_id, allow_unknown=self.settings.allow_unknown_users, spelled=self._spelled()
            )
            said = f"{mark} {safe_text(what)}: {safe_text(item_text)} — by {by}{warned}"
            blocks = [_context(said)] + render_blocks(again, meeting_id, listing=listing, max_blocks=MAX_BLOCKS - 1)
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
            "type": "modal",
            "callback_id": AGENDA_VIEW,
            "title": {"type": "plain_text", "text": "Add agenda item"},
            "submit": {"type": "plain_text", "text": "Add"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps({"m": meeting.id, "c": channel or ""}, separators=(",", ":")),
            "blocks": [
                {
                    "type": "input",
                    "block_id": AGENDA_BLOCK,
                    "label": {"type": "plain_text", "text": label[:2000]},
                    "element": {
                        "type": "plain_text_input",
                        "action_id": AGENDA_INPUT,
                        "max_length": min(MAX_INPUT, self.bot.config.bot.max_item_length),
                        "placeholder": {"type": "plain_text", "text": "What should the meeting discuss?"},
                    },
                }
            ],
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
            respond(
                text=f":warning: the form could not be opened; type `{escape(agenda)} add TEXT` instead",
                response_type="ephemeral",
                replace_original=False,
            )

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
            message = self.bot.handle(
                f"agenda add {text}",
                self._sender(user.get("id"), user.get("username") or user.get("name")),
                meta.get("m") or None,
                allow_unknown=self.settings.allow_unknown_users,
                spelled=self._spelled(),
            )
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
            ack(
                response_action="update",
                view=_form_view("Adding your item… the notes are busy; this form shows the result in a moment."),
            )
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
            log.info(
                "Slack delivered envelope %s again (retry %s, %s); it was handled already: acknowledged, not acted on",
                req.envelope_id,
                req.retry_attempt,
                req.retry_reason or "-",
            )
            from slack_sdk.socket_mode.response import SocketModeResponse

            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return False

        handler = prompt_socket_mode_handler(
            app, app_token, logging.getLogger("chatbot.slack.socket"), self._app_token_client(), first
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

    def _run_http(self, app, stop: threading.Event) -> None:
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        from ... import web

        bolt = _checked_requests(SlackRequestHandler(app, path=HTTP_PATH), lambda: self._env(SIGNING_SECRET_ENV))
        # the status pages, as the runner composed them (without the runner: composed here)
        pages = self.pages if self.pages is not None else web.make_app(self.bot)
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
