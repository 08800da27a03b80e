"""The Slack Web API as the backend uses it: the secrets from the environment (checked, kept out
of the logs), the bot-token client, calls that log and raise :class:`BackendError`, a refused
token reported once, and ``auth.test`` until Slack answers."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ... import logs
from ...config import ConfigError
from ..base import BackendError
from .events import _install_redaction
from .part import Part
from .wire import (
    APP_TOKEN_ENV,
    APP_TOKEN_REFUSED,
    AUTH_ERRORS,
    BOT_TOKEN_ENV,
    DEFAULT_API_URL,
    REVOKED_ERRORS,
    SIGNING_SECRET_ENV,
)

log = logging.getLogger("chatbot.backends.slack")


class SlackApi(Part):
    """Secrets and the Web API client. No network until a call (``chatbot remind --dry-run``
    builds the backend too)."""

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self._client = None
        self._client_lock = threading.Lock()
        self._redaction: logs.RedactSecrets | None = None
        self.bot_user_id: str | None = None
        self._bot_token_refused: str | None = None

    # -- secrets ----------------------------------------------------------------------

    def env(self, name: str) -> str:
        return (self.backend.env.get(name) or "").strip()

    def require(self, *names: str) -> None:
        missing = [n for n in names if not self.env(n)]
        if missing:
            mode = self.settings.mode
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                f"the Slack backend in {mode} mode needs {', '.join(names)} in the environment "
                "(see the Slack section of README.md)"
            )
        self._protect([self.env(n) for n in (BOT_TOKEN_ENV, APP_TOKEN_ENV, SIGNING_SECRET_ENV)])

    def _protect(self, secrets: list[str]) -> None:
        self._redaction = _install_redaction(secrets)  # the process's one filter: adds to what it hides

    # -- the client -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        url = self.settings.api_url or DEFAULT_API_URL
        return url if url.endswith("/") else url + "/"

    def web_client_options(self) -> dict[str, Any]:
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

                self.require(BOT_TOKEN_ENV)
                self._client = WebClient(token=self.env(BOT_TOKEN_ENV), **self.web_client_options())
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

    # -- refused tokens ---------------------------------------------------------------

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
        self.backend.refused(BOT_TOKEN_ENV, message, fatal=self.settings.mode == "socket")

    def refuse_app_token(self, err: str) -> None:
        message = (
            f"{APP_TOKEN_ENV} was refused by Slack ({err}) on apps.connections.open: no slash command can "
            "arrive; generate a new app-level token (xapp-…, scope connections:write) or turn Socket Mode "
            "back on, put it in the environment and restart"
        )
        self.backend.refused(APP_TOKEN_ENV, message, fatal=True)

    def app_token_client(self):
        """The Web API client Socket Mode opens connections with (``apps.connections.open`` with
        the app-level token): a refused token stops the bot instead of being retried forever."""
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        api, backend = self, self.backend

        class AppTokenClient(WebClient):
            def apps_connections_open(self, *, app_token: str, **kwargs: Any):
                if backend.fatal:  # stopping: do not ask again
                    raise BackendError(backend.fatal)
                try:
                    return super().apps_connections_open(app_token=app_token, **kwargs)
                except SlackApiError as exc:
                    err = (exc.response.get("error") if exc.response is not None else None) or "unknown_error"
                    if err in APP_TOKEN_REFUSED:
                        api.refuse_app_token(err)
                    raise

        return AppTokenClient(**self.web_client_options())

    def authenticate(self, stop: threading.Event) -> bool:
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
