"""The Zulip backend: the real ``zulip.Client`` event queue, commands by DM or mention, reactions, reminders and pings.

``ZulipBackend`` is the class the runner builds. It is made of one layer per concern, each in
its own module and each using only the layers below it:

* ``client.ZulipClient``: credentials, the ``zulip.Client``, API calls with retries, refused keys;
* ``identity.ZulipIdentity``: the user list, the person behind a message, time zones, bots;
* ``sending.ZulipSending``: places, topics, rendering, sending (long answers split), posts, DMs;
* ``interactions.ZulipInteractions``: listings, ✅ reactions, ``done N``, edits of the bot's messages;
* ``commands.ZulipCommands``: a message for the bot run through the core and answered;
* ``catchup.ZulipCatchUp``: each message handled once, catching up after a lost event queue;
* ``events.ZulipEvents``: connecting, the event queue's long poll, stopping.
"""

from __future__ import annotations

from .client import _Backoff, _retry_after
from .events import ZulipEvents

__all__ = ["ZulipBackend", "_Backoff", "_retry_after"]


class ZulipBackend(ZulipEvents):
    """The Zulip platform behind the ``Backend`` contract (``chatbot/backends/base.py``)."""

    name = "zulip"
