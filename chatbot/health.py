"""What ``/healthz`` reports: problems the bot cannot fix by itself (a credential the platform
refused at run time). Backends record them here; :func:`chatbot.web.respond` answers ``/healthz``
with ``503`` and the list while there is any, and says ``standby`` (``200``) while another copy
of the bot holds the lease and this one waits to take over. Never holds a secret: problems name the
environment variable (``SLACK_BOT_TOKEN``), never its value."""

from __future__ import annotations

import threading
from typing import Any


class Health:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}
        # why this copy waits and does nothing (another copy holds the lease): healthy, idle
        self.standby: str | None = None

    def fail(self, what: str, why: str) -> None:
        with self._lock:
            self._problems[what] = why

    def clear(self, what: str) -> None:
        with self._lock:
            self._problems.pop(what, None)

    @property
    def problems(self) -> list[str]:
        with self._lock:
            return list(self._problems.values())

    @property
    def ok(self) -> bool:
        return not self.problems


def health_of(bot: Any) -> Health:
    """The bot's health record (made on first use: the core need not know about it)."""
    health = getattr(bot, "health", None)
    if not isinstance(health, Health):
        health = Health()
        bot.health = health
    return health
