"""The Zulip backend's message intake: each message id handled once, and the direct messages and
mentions sent while the event queue was lost fetched and handled, oldest first."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
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

Found = dict[int, dict[str, Any]]  # message id -> the message, as ``GET /messages`` gave it


@dataclass(frozen=True)
class Halt:
    """Fetching the missed messages ended early: ``_catch_up`` returns ``result`` (False: a
    problem worth retrying, already waited for; True: given up, logged)."""

    result: bool


class ZulipCatchUp(ZulipCommands):
    """Each message id handled once; what was sent while the event queue was lost, caught up."""

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
        found: Found = {}
        cut: int | None = None  # messages after this id were not fetched (too many)
        # is:mentioned has no silent mentions (@_**Bot** sets no flag): those are found among
        # all the messages the bot received (no narrow), keeping stream messages with one
        for operand in ("dm" if level >= FEATURE_IS_DM else "private", "mentioned", None):
            outcome = self._fetch_missed(client, level, operand, since, stop, backoff, found)
            if isinstance(outcome, Halt):
                return outcome.result
            if outcome is not None:
                cut = outcome if cut is None else min(cut, outcome)
        self._handle_missed(found, cut, since, stop)
        return True

    def _fetch_missed(
        self,
        client,
        level: int,
        operand: str | None,
        since: int,
        stop: threading.Event,
        backoff: _Backoff,
        found: Found,
    ) -> Halt | int | None:
        """Add to ``found`` the messages after ``since`` in the narrow ``is:operand`` (None: all
        the bot received, of which the stream messages with a silent mention), in batches.
        The id after which there were too many to fetch, or None when all were fetched."""
        anchor = since
        fetched = 0
        while True:
            if stop.is_set():
                return Halt(False)
            res = client.get_messages(_missed_request(level, operand, anchor))
            if res.get("result") != "success":
                if operand == "dm" and res.get("code") == "BAD_NARROW":
                    operand = "private"  # a server older than it says
                    continue
                return Halt(self._missed_unfetched(res, operand, since, stop, backoff))
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
                return None
            anchor = batch[-1]["id"]
            if fetched >= CATCH_UP_MAX:
                if operand is None:  # a busy stream: the direct messages and mentions are complete
                    log.warning(
                        "Zulip: more than %d messages arrived while the event queue was lost; "
                        "silent mentions (@_**…**) after message %s are not answered",
                        CATCH_UP_MAX,
                        anchor,
                    )
                    return None
                return anchor

    def _missed_unfetched(
        self, res: dict[str, Any], operand: str | None, since: int, stop: threading.Event, backoff: _Backoff
    ) -> bool:
        """``GET /messages`` failed: True when it cannot work (logged: the messages are not
        answered); False when it is worth retrying (rate limit, server trouble: waited for)."""
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

    def _handle_missed(self, found: Found, cut: int | None, since: int, stop: threading.Event) -> None:
        """Handle the fetched messages oldest first, at most ``CATCH_UP_MAX`` and none older
        than ``CATCH_UP_WINDOW``; say what was left unanswered."""
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


def _missed_request(level: int, operand: str | None, anchor: int) -> dict[str, Any]:
    """``GET /messages`` for the messages after ``anchor`` in the narrow ``is:operand``."""
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
    return request
