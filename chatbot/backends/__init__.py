"""Chat platform adapters. Each backend turns platform events into ``Bot.handle`` calls and
renders ``Message`` objects in the platform's own markup; nothing outside this package
imports a chat platform's client library."""

from __future__ import annotations

import importlib

from .base import Backend

BACKENDS = {
    "console": "chatbot.backends.console:ConsoleBackend",
    "slack": "chatbot.backends.slack:SlackBackend",
    "zulip": "chatbot.backends.zulip:ZulipBackend",
}


def backend_class(name: str) -> type[Backend]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
