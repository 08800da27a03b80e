"""What every part of :class:`~.backend.SlackBackend` shares: the backend it belongs to (its bot,
its live settings, the Web API), so each concern can live in a small class of its own."""

from __future__ import annotations

from typing import Any

from ...bot import Bot

# the backend the part belongs to: typed loosely, since the backend module imports every part
# (naming its class here would make an import circle, if only for the type checker)
SlackBackend = Any


class Part:
    """One concern of the Slack backend; the others are reached through :attr:`backend`."""

    def __init__(self, backend: SlackBackend):
        self.backend = backend

    @property
    def bot(self) -> Bot:
        return self.backend.bot

    @property
    def settings(self):
        return self.backend.settings  # live: the config may be reloaded while running

    def call(self, method: str, **params: Any) -> dict:
        """A Web API call (:meth:`.api.SlackApi.call`)."""
        return self.backend.api.call(method, **params)
