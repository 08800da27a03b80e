"""The Zulip backend's message intake: each message id handled once, and the direct messages and
mentions sent while the event queue was lost fetched and handled, oldest first."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from ...bot import Bot
from .wire import (
    AUTH_ERRORS,
    CATCH_UP_BATCH,
    CATCH_UP_MAX,
    CATCH_UP_WINDOW,
    FEATURE_INCLUDE_ANCHOR,
    FEATURE_IS_DM,
    SEEN_IDS_KEPT,
)
from .client import _Backoff
from .commands import ZulipCommands

log = logging.getLogger("chatbot.backends.zulip")


class ZulipCatchUp(ZulipCommands):
    def __init__(self, bot: Bot):
        super().__init__(bot)
        # catching up after a lost queue (all used by the event thread only)
        self._seen_max: int | None = None  # highest message id seen while a queue was live
        self._seen_ids: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._catch_up_pending = False

    def _dispatch(self, msg: dict[str, Any], flags: list[str] | None) -> bool:
        """``on_message`` once per message id (the new queue may deliver a message the catch-up
        already handled); True if it was a command for the bot."""
        mid = msg.get("id")
        if isinstance(mid, int) and not isinstance(mid, bool):
            if mid in self._seen_ids:
                log.debug("Zulip: message %s was handled already", mid)
                return False
            self._remember(mid)
        try:
            return bool(self.on_message(msg, flags))
        except Exception:
            log.exception("Zulip: handling message %s failed", mid)
            return True

    def _remember(self, mid: int) -> None:
        self._seen_ids.add(mid)
        self._seen_order.append(mid)
        while len(self._seen_order) > SEEN_IDS_KEPT:
            self._seen_ids.discard(self._seen_order.popleft())
        if self._seen_max is None or mid > self._seen_max:
            self._seen_max = mid

    def _catch_up(self, client, stop: threading.Event, backoff: _Backoff) -> bool:
        """Handle the direct messages and mentions sent while the event queue was lost (newer
        than the highest message id seen before), oldest first. False: a problem worth
        retrying (already waited for); True: done, or given up (logged)."""
        since = self._seen_max
        if since is None:
            log.warning(
                "Zulip: the event queue was lost before the bot knew the newest message; "
                "messages sent meanwhile cannot be caught up"
            )
            return True
        level = int(getattr(client, "feature_level", 0) or 0)
        found: dict[int, dict[str, Any]] = {}
        cut: int | None = None  # messages after this id were not fetched (too many)
        # is:mentioned has no silent mentions (@_**Bot** sets no flag): those are found among
        # all the messages the bot received (no narrow), keeping stream messages with one
        for operand in ("dm" if level >= FEATURE_IS_DM else "private", "mentioned", None):
            anchor = since
            fetched = 0
            while True:
                if stop.is_set():
                    return False
                narrow = [{"operator": "is", "operand": operand}] if operand else []
                request: dict[str, Any] = {
                    "narrow": narrow,
                    "num_before": 0,
                    "num_after": CATCH_UP_BATCH,
                    "apply_markdown": False,
                    "client_gravatar": False,
                }
                if level >= FEATURE_INCLUDE_ANCHOR:
                    request.update(anchor=anchor, include_anchor=False)
                else:  # older servers always include the anchor
                    request["anchor"] = anchor + 1
                res = client.get_messages(request)
                if res.get("result") != "success":
                    if operand == "dm" and res.get("code") == "BAD_NARROW":
                        operand = "private"  # a server older than it says
                        continue
                    code = res.get("code")
                    if (
                        res.get("result") == "error"
                        and code not in AUTH_ERRORS
                        and code != "RATE_LIMIT_HIT"
                        and res.get("status_code") != 429
                    ):
                        log.error(
                            "Zulip: cannot fetch the messages sent while the event queue was lost "
                            "(is:%s after message %s): %s (%s); they are not answered",
                            operand,
                            since,
                            self._clean(str(res.get("msg"))),
                            code,
                        )
                        return True
                    self._api_problem("fetching the messages sent while the event queue was lost", res, stop, backoff)
                    return False
                batch = sorted(
                    (
                        m
                        for m in res.get("messages") or []
                        if isinstance(m, dict) and isinstance(m.get("id"), int) and m["id"] > anchor
                    ),
                    key=lambda m: m["id"],
                )
                for m in batch:
                    if operand is None and not (m.get("type") == "stream" and "@_**" in (m.get("content") or "")):
                        continue  # only silent mentions are looked for here
                    found.setdefault(m["id"], m)
                fetched += len(batch)
                if res.get("found_newest") or not batch:
                    break
                anchor = batch[-1]["id"]
                if fetched >= CATCH_UP_MAX:
                    if operand is None:  # a busy stream: the direct messages and mentions are complete
                        log.warning(
                            "Zulip: more than %d messages arrived while the event queue was lost; "
                            "silent mentions (@_**…**) after message %s are not answered",
                            CATCH_UP_MAX,
                            anchor,
                        )
                        break
                    cut = anchor if cut is None else min(cut, anchor)
                    break
        messages = [found[mid] for mid in sorted(found)]
        late = [m for m in messages if cut is not None and m["id"] > cut]
        messages = [m for m in messages if cut is None or m["id"] <= cut]
        late += messages[CATCH_UP_MAX:]
        messages = messages[:CATCH_UP_MAX]
        oldest = time.time() - CATCH_UP_WINDOW
        old = [m for m in messages if isinstance(m.get("timestamp"), (int, float)) and m["timestamp"] < oldest]
        old_ids = {m["id"] for m in old}
        handled = 0
        for m in messages:
            if stop.is_set():
                break
            if m["id"] in old_ids:
                self._remember(m["id"])
                continue
            handled += self._dispatch(m, m.get("flags"))
        log.info("Zulip: caught up %d message(s) sent while the event queue was lost", handled)
        if old:
            log.warning(
                "Zulip: %d message(s) sent while the event queue was lost are older than %d h and were "
                "not answered (ids %s to %s)",
                len(old),
                CATCH_UP_WINDOW / 3600,
                old[0]["id"],
                old[-1]["id"],
            )
        if cut is not None or late:
            log.warning(
                "Zulip: more than %d messages were sent to the bot while the event queue was lost; those "
                "after message %s were not answered",
                CATCH_UP_MAX,
                messages[-1]["id"] if messages else since,
            )
        return True
