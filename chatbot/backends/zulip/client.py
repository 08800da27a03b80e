"""The Zulip backend's connection to the server: credentials, the real ``zulip.Client``, API calls
made like a send (rate limits waited out, connection problems retried), refused keys."""

from __future__ import annotations

import configparser
import logging
import os
import threading
import time
from typing import Any

from ... import __version__, logs
from ...bot import Bot
from ...config import ConfigError
from ..base import Backend, BackendError
from .wire import (
    API_KEY_ENV,
    AUTH_ERRORS,
    CONFIG_FILE_ENV,
    EMAIL_ENV,
    SITE_ENV,
)
from .platform import ZULIP, ZulipSettings
from .render import RedactSecrets

log = logging.getLogger("chatbot.backends.zulip")

_Backoff = logs.Backoff


class ZulipClient(Backend):
    """The bottom layer: credentials, the ``zulip.Client``, API calls made like a send, refused keys."""

    name = "zulip"

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self._creds: dict[str, str | None] | None = None
        self._send_client: Any = None  # zulip.Client
        self._send_lock = threading.Lock()
        self._redaction: RedactSecrets | None = None

    @property
    def settings(self) -> ZulipSettings:
        return ZULIP.settings_of(self.bot.config)  # the config may be reloaded while running

    def credentials(self) -> dict[str, str | None]:
        """email, api_key, site and config_file; ConfigError naming what is missing."""
        if self._creds is not None:
            return self._creds
        cfg = self.bot.config
        rc_path: str | None = None
        if self.settings.zuliprc is not None:
            rc_path = str(cfg.resolve(self.settings.zuliprc))
            where = f"[zulip] zuliprc = {str(self.settings.zuliprc)!r}"
        elif os.environ.get(CONFIG_FILE_ENV):
            rc_path = os.path.abspath(os.path.expanduser(os.environ[CONFIG_FILE_ENV]))
            where = f"${CONFIG_FILE_ENV}"
        creds: dict[str, str | None] = {"email": None, "api_key": None, "site": None, "config_file": None}
        if rc_path is not None:
            parser = configparser.ConfigParser()
            try:
                with open(rc_path, encoding="utf-8") as fh:
                    parser.read_file(fh, rc_path)
            except FileNotFoundError:
                raise ConfigError(
                    f"{where}: the zuliprc file {rc_path} does not exist (download it from Zulip: "
                    "Personal settings > Bots > your bot > download zuliprc)"
                ) from None
            except (OSError, configparser.Error, UnicodeDecodeError) as exc:
                raise ConfigError(f"{where}: cannot read the zuliprc file {rc_path}: {type(exc).__name__}") from None
            api: Any = parser["api"] if parser.has_section("api") else {}
            creds.update(email=api.get("email"), api_key=api.get("key"), site=api.get("site"), config_file=rc_path)
            missing = [k for k, v in (("email", creds["email"]), ("key", creds["api_key"])) if not v]
            if self.settings.site:
                creds["site"] = self.settings.site
            if not creds["site"]:
                missing.append("site")
            if missing:
                raise ConfigError(
                    f"the zuliprc file {rc_path} lacks {', '.join(missing)} in its [api] section "
                    "(or set [zulip] site in the config for the site)"
                )
        else:
            creds.update(
                email=os.environ.get(EMAIL_ENV) or None,
                api_key=os.environ.get(API_KEY_ENV) or None,
                site=self.settings.site or os.environ.get(SITE_ENV) or None,
            )
            missing = [
                name
                for name, key in ((SITE_ENV, "site"), (EMAIL_ENV, "email"), (API_KEY_ENV, "api_key"))
                if not creds[key]
            ]
            if missing:
                where = str(cfg.path or "the config file")
                raise ConfigError(
                    f"Zulip credentials missing: set {', '.join(missing)} in the environment, "
                    f"or point [zulip] zuliprc in {where} at the bot's zuliprc file"
                )
        self._creds = creds
        self._install_redaction([creds["api_key"] or ""])
        return creds

    def _install_redaction(self, secrets: list[str]) -> None:
        if self._redaction is not None:
            return
        self._redaction = logs.redact_in_logs(*secrets)

    def _clean(self, text: str) -> str:
        return self._redaction.clean(text) if self._redaction else text

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return self._clean(f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text)

    def _new_client(self):
        import zulip  # imported here: only the Zulip backend needs it

        c = self.credentials()
        try:
            return zulip.Client(
                email=c["email"],
                api_key=c["api_key"],
                site=c["site"],
                config_file=c["config_file"],
                client=f"chatbot/{__version__}",
            )
        except (zulip.ConfigNotFoundError, zulip.MissingURLError) as exc:
            raise ConfigError(f"Zulip client configuration: {self._clean(str(exc))}") from None
        except AssertionError:
            # the client asserts that /server_settings answered with a version
            raise BackendError(
                f"{c['site']} did not answer like a Zulip server (no version in /api/v1/server_settings)"
            ) from None
        except Exception as exc:
            raise BackendError(f"cannot connect to Zulip at {c['site']}: {self._describe(exc)}") from None

    def _client(self):
        """The client for sends and lookups (created on first use)."""
        if self._send_client is None:
            self._send_client = self._new_client()
        return self._send_client

    def _request(self, call, what: str) -> dict[str, Any]:
        """One API call (``call(client)``) made like a send: rate limits waited out, connection
        problems retried with back-off; BackendError when the server refuses it."""
        backoff = _Backoff(1.0, 16.0)
        failures = 0
        rate_limited = 0
        while True:
            try:
                with self._send_lock:
                    res = call(self._client())
            except ConfigError:
                raise
            except Exception as exc:
                failures += 1
                if failures >= 5:
                    raise BackendError(f"cannot send {what}: {self._describe(exc)}") from None
                delay = backoff.next()
                log.warning("Zulip: sending %s failed (%s); retrying in %.0f s", what, self._describe(exc), delay)
                time.sleep(delay)
                continue
            if res.get("result") == "success":
                return res
            code = res.get("code")
            if code == "RATE_LIMIT_HIT" or res.get("status_code") == 429:
                rate_limited += 1
                if rate_limited > 10:
                    raise BackendError(f"cannot send {what}: still rate limited after {rate_limited - 1} waits")
                delay = _retry_after(res)
                log.warning("Zulip: rate limited while sending %s; retrying in %.1f s", what, delay)
                time.sleep(delay)
                continue
            if res.get("result") == "http-error":
                failures += 1
                if failures >= 5:
                    raise BackendError(f"cannot send {what}: HTTP {res.get('status_code')} from the server")
                delay = backoff.next()
                log.warning("Zulip: sending %s got HTTP %s; retrying in %.0f s", what, res.get("status_code"), delay)
                time.sleep(delay)
                continue
            if code in AUTH_ERRORS:
                self._refuse_key(code, f"sending {what}")
                raise BackendError(f"Zulip refused the bot's credentials ({code}: {self._clean(str(res.get('msg')))})")
            raise BackendError(f"Zulip refused {what}: {self._clean(str(res.get('msg')))} ({code or 'no code'})")

    def _refuse_key(self, code: str, what: str) -> None:
        """The server refused the bot's key while running (regenerated, the bot deactivated):
        nothing works until the key is replaced, so say which credential, once, and stop (the
        process exits non-zero) rather than retry every minute."""
        creds = self._creds or {}
        credential = f"the API key in {creds['config_file']}" if creds.get("config_file") else API_KEY_ENV
        message = (
            f"Zulip refused the bot's credentials ({code}) on {what}: {credential} (for "
            f"{creds.get('email') or '?'}) no longer works; put the bot's current API key there and restart"
        )
        self.refused(API_KEY_ENV if not creds.get("config_file") else "zuliprc", message, fatal=True)

    def _api_problem(self, what: str, res: dict[str, Any], stop: threading.Event, backoff: _Backoff) -> None:
        code = res.get("code")
        if code in AUTH_ERRORS:
            self._refuse_key(code, what)  # stops the bot (the runner's stop event)
            stop.wait(backoff.next())
            return
        if code == "RATE_LIMIT_HIT" or res.get("status_code") == 429:
            delay = _retry_after(res)
            log.warning("Zulip: rate limited on %s; retrying in %.1f s", what, delay)
        else:
            delay = backoff.next()
            log.warning(
                "Zulip: %s failed: %s (%s); retrying in %.0f s",
                what,
                self._clean(str(res.get("msg"))),
                code or res.get("status_code"),
                delay,
            )
        stop.wait(delay)


def _retry_after(res: dict[str, Any]) -> float:
    try:
        delay = float(res.get("retry-after", 1.0))
    except (TypeError, ValueError):
        delay = 1.0
    return min(max(delay, 0.1), 120.0)
