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
