"""The Zulip backend's event queue: connect, register, long-poll in a worker thread, re-register
when the server forgot the queue (then catch up), stop promptly."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ...bot import Bot
from ...config import ConfigError
from ..base import BackendError
from .wire import (
    AUTH_ERRORS,
    ServerLimits,
)
from .catchup import ZulipCatchUp
from .client import _Backoff, _retry_after

log = logging.getLogger("chatbot.backends.zulip")


class ZulipEvents(ZulipCatchUp):
    """The top layer: connect, the event queue's register and long poll, stop."""

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self._events_client: Any = None
        self._queue_id: str | None = None

    def prepare(self) -> None:
        """Before the scheduler starts: the credentials are all there (ConfigError naming what
        is missing). No network: the server is asked in ``run()``, with retries."""
        self.credentials()
        self._listening = True

    def connect(self, stop: threading.Event) -> bool:
        """Create the clients and learn who the bot is; retried until it works or ``stop``.
        Wrong credentials raise ConfigError (the operator must act)."""
        creds = self.credentials()
        backoff = _Backoff(1.0, 60.0)
        while not stop.is_set():
            try:
                client = self._client()
                with self._send_lock:
                    res = client.get_profile()
                if res.get("result") == "success":
                    self._me = res
                    self._events_client = self._new_client()
                    self._lookup_user("")  # the user list: mentions, ids and time zones
                    log.info(
                        "Zulip: connected to %s as %s (%s, user id %s)",
                        creds["site"],
                        res.get("full_name"),
                        res.get("email"),
                        res.get("user_id"),
                    )
                    return True
                code = res.get("code")
                if code in AUTH_ERRORS:
                    raise ConfigError(
                        f"Zulip at {creds['site']} refused the credentials for {creds['email']}: "
                        f"{self._clean(str(res.get('msg')))} ({code}). Check the bot's email and "
                        "API key (zuliprc or ZULIP_EMAIL/ZULIP_API_KEY)"
                    )
                if code == "RATE_LIMIT_HIT":
                    stop.wait(_retry_after(res))
                    continue
                problem = f"{creds['site']} answered {res.get('msg')} ({code or res.get('status_code')})"
            except (ConfigError, KeyboardInterrupt):
                raise
            except BackendError as exc:
                problem = str(exc)
                self._send_client = None
            except Exception as exc:
                problem = f"cannot connect to {creds['site']}: {self._describe(exc)}"
                self._send_client = None
            delay = backoff.next()
            log.warning("Zulip: %s; retrying in %.0f s", self._clean(str(problem)), delay)
            stop.wait(delay)
        return False

    def run(self, stop: threading.Event) -> None:
        if not self.connect(stop):
            return
        worker = threading.Thread(target=self._poll_forever, args=(stop,), name="zulip-events", daemon=True)
        worker.start()
        while not stop.wait(0.5):
            if not worker.is_alive():  # never expected: _poll catches everything
                log.error("Zulip: the event thread ended; restarting it")
                worker = threading.Thread(target=self._poll_forever, args=(stop,), name="zulip-events", daemon=True)
                worker.start()
        self._stopping.set()
        # let a command being handled finish (its notes edit and its answer); an idle long poll
        # is simply abandoned
        if self._busy.acquire(timeout=10):
            self._busy.release()

    def close(self) -> None:
        self._stopping.set()
        qid, self._queue_id = self._queue_id, None
        if qid and self._send_client is not None:
            try:
                # one try: the client would otherwise retry an unreachable server for ~10 s,
                # past a supervisor's stop timeout; the server drops idle queues by itself
                self._send_client.retry_on_errors = False
                self._send_client.deregister(qid, timeout=2)
            except Exception as exc:
                log.info("Zulip: could not delete the event queue: %s", self._describe(exc))

    def _poll_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._poll(stop)
            except Exception:
                log.exception("Zulip: unexpected error in the event loop; continuing")
                stop.wait(1)

    def _poll(self, stop: threading.Event) -> None:
        client = self._events_client
        backoff = _Backoff(1.0, 60.0)
        last_event_id = -1
        while not stop.is_set():
            try:
                if self._queue_id is None:
                    # the realm data has the server's limits (max_message_length, max_topic_length)
                    res = client.register(
                        event_types=["message", "reaction"],
                        fetch_event_types=["message", "realm"],
                        apply_markdown=False,
                    )
                    if res.get("result") == "success":
                        self._queue_id, last_event_id = res["queue_id"], int(res.get("last_event_id", -1))
                        self.limits = ServerLimits.from_register(res)
                        if self._seen_max is None and isinstance(res.get("max_message_id"), int):
                            # the first queue: what was sent before it is history, not commands
                            self._seen_max = res["max_message_id"]
                        log.info("Zulip: listening (event queue %s; %s)", self._queue_id, self.limits)
                        backoff.reset()
                    else:
                        self._api_problem("register", res, stop, backoff)
                    continue
                if self._catch_up_pending:
                    # after the new queue exists: what is sent from now on arrives through it
                    if self._catch_up(client, stop, backoff):
                        self._catch_up_pending = False
                        backoff.reset()
                    continue
                res = client.get_events(queue_id=self._queue_id, last_event_id=last_event_id)
            except Exception as exc:
                delay = backoff.next()
                log.warning("Zulip: connection problem (%s); retrying in %.0f s", self._describe(exc), delay)
                stop.wait(delay)
                continue
            if stop.is_set():
                return
            if res.get("result") != "success":
                if res.get("code") == "BAD_EVENT_QUEUE_ID":
                    log.warning("Zulip: the event queue %s expired; registering a new one", self._queue_id)
                    self._queue_id = None
                    self._catch_up_pending = True
                    continue
                self._api_problem("events", res, stop, backoff)
                continue
            backoff.reset()
            for event in res.get("events", []):
                try:
                    last_event_id = max(last_event_id, int(event["id"]))
                except (KeyError, TypeError, ValueError):
                    pass
                if event.get("type") == "message":
                    self._dispatch(event.get("message") or {}, event.get("flags"))
                elif event.get("type") == "reaction":
                    try:
                        self.on_reaction(event)
                    except Exception:
                        log.exception("Zulip: handling a reaction on message %s failed", event.get("message_id"))
