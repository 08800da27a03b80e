"""The outbox: every reminder, ping and notice is posted once.

It owns the ledger keys, the intent recorded before a post and reconciled with the platform
after a crash (``find``), the confirmation after it, retries while a post is still due, and
the posts this process sent but could not record (a full disk). The runner's jobs decide
*what* is due (:func:`chatbot.schedule.classify`); the outbox decides whether it still has to
go out and sends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any
from collections.abc import Callable

from .backends.base import Backend
from .compose import maybe_repeated, ping_directly
from .config import Meeting
from .schedule import DueReminder
from .state import Ledger

log = logging.getLogger(__name__)

UTC = dt.UTC


class Outbox:
    def __init__(
        self, backend: Backend, ledger: Ledger, grace: Callable[[], dt.timedelta], schedule_retry: Callable[..., Any]
    ):
        self.backend = backend
        self.ledger = ledger
        self.grace = grace  # the config's reminder_grace, read live (the config may be reloaded)
        self.schedule_retry = schedule_retry  # APScheduler's add_job (a one-shot job at run_date)
        self.unrecorded: set[str] = set()  # sent, but the ledger could not record it (disk full)
        self.stopping = False  # no retries are scheduled once the runner is stopping
        # whether this copy of the bot may post (it holds the lease, chatbot.lease); asked before each post
        self.holds: Callable[[], bool] = lambda: True

    def key(self, kind: str, meeting: Meeting, r: DueReminder, who: str = "") -> str:
        """The ledger key of one reminder or ping. It names the platform: one process per
        platform may share the config and the state directory, and what Slack was sent
        still has to go to Zulip."""
        return (
            f"{kind}:{self.backend.name}:{meeting.id}:{r.occurrence.start_utc.isoformat()}:"
            f"{int(r.offset.total_seconds())}:{who}"
        )

    def was_sent(self, key: str) -> bool:
        if key in self.unrecorded:
            return True
        kind, _platform, rest = key.split(":", 2)
        # keys written before they named the platform: do not send those again after an upgrade
        return self.ledger.was_sent(key) or self.ledger.was_sent(f"{kind}:{rest}")

    def retry_delay(self) -> dt.timedelta:
        """How long after a failed send to try again: a tenth of the grace period (5 s to
        1 min), so a platform outage shorter than the grace period delays a reminder but
        does not lose it."""
        tenth = self.grace() / 10
        return min(max(tenth, dt.timedelta(seconds=5)), dt.timedelta(minutes=1))

    def retry_later(self, what: str, exc: Exception, retry, retry_id: str, doing: str = "sending") -> None:
        if retry is None or self.stopping:  # a one-shot run (`chatbot remind --due`), or stopping:
            log.error("%s %s failed (%s: %s)", doing, what, type(exc).__name__, exc)  # the next run tries again
            return
        delay = self.retry_delay()
        log.error(
            "%s %s failed (%s: %s); trying again in %d s while it is still due",
            doing,
            what,
            type(exc).__name__,
            exc,
            delay.total_seconds(),
        )
        # one pending retry per job: fire() / fire_pings() send whatever is still due
        # then (within the grace period, never after the meeting started) and not yet sent
        self.schedule_retry(
            retry,
            "date",
            run_date=dt.datetime.now(UTC) + delay,
            id=retry_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def posted_before(self, key: str, what: str, find, retry, retry_id: str) -> bool | None:
        """After a crash: was the post whose intent is recorded (and never confirmed) made? The
        platform is asked (``find(since, data) -> True/False/None``). True: it was, record it and
        post nothing. False: post. None (the backend cannot tell): post it marked as a possible
        repeat, never silently twice. Raises when the platform cannot be asked now (the caller
        tries again later)."""
        try:
            pending = self.ledger.intent(key)
        except sqlite3.Error as exc:
            log.error("cannot read the ledger's intents (%s); %s is posted marked as a possible repeat", exc, what)
            return None
        if pending is None:
            return False
        since, data = pending
        found = find(since, data) if find is not None else None
        if found:
            log.warning(
                "%s was posted before the bot stopped (found on the platform, intent of %s); not posting it again",
                what,
                since.isoformat(timespec="seconds"),
            )
            return True
        if found is None:
            log.warning(
                "%s may have been posted just before the bot stopped (intent of %s without a "
                "confirmation) and the platform cannot say whether it was; posting it with a note that it may be a "
                "repeat",
                what,
                since.isoformat(timespec="seconds"),
            )
        else:
            log.info(
                "%s: the intent of %s found no post on the platform; posting it",
                what,
                since.isoformat(timespec="seconds"),
            )
        return found

    def send(self, key: str, what: str, send, retry, retry_id: str, find=None, intent=None) -> bool:
        """Send once: skip what the ledger says was sent; reconcile an intent left by a crash
        with the platform (``find``); record the intent (``intent``: what identifies the post
        on the platform) before sending and the confirmation after."""
        if self.was_sent(key):
            return True
        if not self._may_post(what):
            return False
        try:
            before = self.posted_before(key, what, find, retry, retry_id)
            if before:
                return self.record_sent(key, what, verb="recorded as sent")
        except Exception as exc:  # the platform cannot be asked now: never guess, try again later
            self.retry_later(what, exc, retry, retry_id, doing="checking whether the platform already has")
            return False
        repeat = before is None  # it may be on the platform already: the post says so
        try:
            data = intent(repeat) if callable(intent) else (intent or {})
            try:
                self.ledger.record_intent(key, data)
            except sqlite3.Error as exc:  # a full disk: the send goes out anyway, unprotected
                log.error(
                    "cannot record the intent to send %s in the ledger (%s); a crash right after the post "
                    "may post it again",
                    what,
                    exc,
                )
            send(repeat)
        except Exception as exc:  # the bot keeps running; the backend logged the details
            self.retry_later(what, exc, retry, retry_id)
            return False
        return self.record_sent(key, what)

    def _may_post(self, what: str) -> bool:
        """False when another copy of the bot took the lease over (this one was paused)."""
        try:
            if self.holds():
                return True
        except sqlite3.Error as exc:  # the ledger cannot be read: what is due goes out (as without a lease)
            log.warning("cannot read the lease (%s); sending %s", exc, what)
            return True
        log.error("not sending %s: another copy of the bot took the lease over; it sends what is due", what)
        return False

    def record_sent(self, key: str, what: str, verb: str = "sent") -> bool:
        try:
            self.ledger.mark_sent(key)
        except sqlite3.Error as exc:  # e.g. the disk is full: what is still due must go out anyway
            self.unrecorded.add(key)  # this process does not send it again (retries, reloads)
            log.error(
                "sent %s, but could not record it in the ledger (%s); a restart within the grace "
                "period may send it again",
                what,
                exc,
            )
            return True
        log.info("%s %s", verb, what)
        return True

    def prepared(self, meeting: Meeting, message, key: str, person=None, direct: bool | None = None):
        """(send, find, intent) for one post: the backend marks the post with ``key`` where the
        platform keeps such a mark (Slack's message metadata) and can look for it after a crash.
        ``send(repeat)`` and ``intent(repeat)``: with ``repeat`` the message carries a note that
        it may have been posted already (:func:`chatbot.compose.maybe_repeated`). ``direct``
        (with ``person``): a direct message (True) or the meeting's channel (False), whatever
        the ping rule says (the chair's review)."""
        b = self.backend

        def variant(repeat: bool):
            return maybe_repeated(message) if repeat else message

        if person is not None and direct is not None:

            def send(repeat: bool = False) -> None:
                if direct:
                    b.send_direct(meeting, person, variant(repeat), key)
                else:
                    b.post_once(meeting, variant(repeat), key)

        elif person is None:
            marked = getattr(b, "post_once", None)

            def send(repeat: bool = False) -> None:
                if marked:
                    marked(meeting, variant(repeat), key)
                else:
                    b.post(meeting, variant(repeat))

        else:
            marked_to = getattr(b, "notify_once", None)

            def send(repeat: bool = False) -> None:
                if marked_to:
                    marked_to(meeting, person, variant(repeat), key)
                else:
                    b.notify(meeting, person, variant(repeat))

        find_sent = getattr(b, "find_sent", None)
        # where to look after a crash: where the ping went (the direct messages, or the channel)
        reaches = getattr(b, "reaches_directly", None)
        if direct is None:
            direct = person is not None and reaches is not None and ping_directly(meeting, reaches(person))
        where = person if direct else None
        find = (lambda since, data: find_sent(meeting, key, since, data, where)) if find_sent else None
        describe = getattr(b, "intent_data", None)
        render = getattr(b, "render", None)

        def intent(repeat: bool = False) -> dict:
            shown = variant(repeat)
            return describe(meeting, shown) if describe else ({"text": render(shown)} if render else {})

        return send, find, intent
