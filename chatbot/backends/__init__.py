"""Chat platform adapters. Each backend turns platform events into ``Bot.handle`` calls and
renders ``Message`` objects in the platform's own markup; nothing outside this package
imports a chat platform's client library.

``BACKENDS`` is the one registry: a backend's name (``--backend NAME``, its config section
``[NAME]``) -> its declaration, a ``config.Platform`` in its own package ("module:NAME"),
which names its ``Backend`` class and its part of the config. This module imports nothing, so
the config loader can read it; ``base.backend_class`` imports a backend when it runs.
"""

from __future__ import annotations

BACKENDS: dict[str, str] = {
    "console": "chatbot.backends.console:CONSOLE",
    "slack": "chatbot.backends.slack.platform:SLACK",
    "zulip": "chatbot.backends.zulip.platform:ZULIP",
}


def lazy_exports(package: str, names: dict[str, tuple[str, str]]):
    """A package's module ``__getattr__`` for ``names`` (name -> (its module in the package, its
    name there)), importing that module on first use: ``from chatbot.backends.slack import
    SlackBackend`` imports the backend then, while loading a config imports only the package's
    ``platform.py``."""

    def __getattr__(name: str):
        import importlib
        import sys

        try:
            module, attr = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f".{module}", package), attr)
        sys.modules[package].__dict__[name] = value
        return value

    return __getattr__
