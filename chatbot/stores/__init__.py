"""Notes stores: where a meeting's notes live (a directory of Markdown files, optionally in
Git; or a live HackMD note). The bot reads and edits notes only through
:class:`~chatbot.stores.base.NotesStore`; :func:`~chatbot.stores.base.store_for` picks the one a
meeting's config asks for.

``STORES`` is the one registry: a store's name (``[meetings.notes] store = "NAME"``, its
config section ``[meetings.NAME]``) -> its declaration, a ``config.Store`` ("module:NAME"),
which names its ``NotesStore`` class and its settings. This module imports nothing, so the
config loader can read it; ``base.store_for`` imports a store when a meeting first uses it.
"""

from __future__ import annotations

STORES: dict[str, str] = {
    "files": "chatbot.stores.files:FILES",
    "hackmd": "chatbot.stores.hackmd_config:HACKMD",
}
