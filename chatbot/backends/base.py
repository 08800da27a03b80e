"""What every chat backend provides to the runner."""

from __future__ import annotations

import importlib
import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..bot import Bot
from ..config import Meeting, Person, platform
from ..compose import ping_directly
from ..messages import Message
from ..health import health_of
from ..inbox import Inbox, RateLimiter
from ..listings import Listings
from ..state import Ledger

log = logging.getLogger(__name__)


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set. In short waits: a signal (SIGTERM) that the kernel delivers
    to another thread only runs its Python handler when the main thread wakes up, and an
    untimed wait never does, so the bot would not stop."""
    while not stop.wait(0.5):
        pass


class BackendError(Exception):
    """The platform could not be reached or refused us; the message says why (never a secret)."""


SEEN_IN_MEMORY = 5000  # deliveries remembered without a ledger (in-process use, tests)


class Backend(ABC):
    name: str = "?"
    # set by the runner: called when the backend learned something new about people (their
    # time zones), so the ping moments are computed again; it must return at once
    # the status pages and calendars as a WSGI app, composed by the runner and handed to a
    # backend that serves HTTP anyway (Slack's HTTP mode), which mounts it beside its endpoint
    pages: Callable[..., Any] | None = None

    @property
    def serves_http(self) -> bool:
        """Whether this backend listens for HTTP itself (and can serve :attr:`pages`)."""
        return False

    people_changed: Callable[[], None] | None = None

    def __init__(self, bot: Bot):
        self.bot = bot
        # the runner's ledger: deliveries handled are remembered there, across restarts
        self.ledger: Ledger | None = None
        self._deliveries: set[str] = set()
        self._deliveries_order: deque[str] = deque()
        self._seen_lock = threading.Lock()
        self.health = health_of(bot)
        # set when a credential was refused and the bot cannot go on: the runner stops and
        # exits non-zero with this message
        self.fatal: str | None = None
        self._stop: threading.Event | None = None
        self._refused_seen: set[str] = set()
        # commands per conversation (platforms that give an Incoming a conversation)
        self.limiter = RateLimiter()

    @property
    def listings(self) -> Listings:
        """What the bot's messages on this platform list (in the runner's ledger)."""
        return Listings(self.ledger)

    @property
    def inbox(self) -> Inbox:
        """Where this backend's incoming commands go (:mod:`chatbot.inbox`): the bot's context,
        with this backend's deliveries, rate limiter and listings (as they are now: the runner
        sets the ledger after the backend is built)."""
        return Inbox(self.bot.context, self.first_delivery, self.limiter, self.listings)

    def refused(self, credential: str, message: str, fatal: bool) -> None:
        """The platform refused ``credential`` (an environment variable's name, or where the
        key came from; never its value) while running: say so once, loudly; report it on
        ``/healthz``; with ``fatal`` (nothing works without it, or nothing else can report it)
        stop the bot so that it exits non-zero."""
        first = credential not in self._refused_seen
        self._refused_seen.add(credential)
        self.health.fail(credential, message)
        if first:
            log.error("%s", message)
        if fatal and self.fatal is None:
            self.fatal = message
            if self._stop is not None:
                self._stop.set()

    def first_delivery(self, key: str) -> bool:
        """True the first time a delivery (a command's envelope, a signed request) is seen;
        False for a redelivery or a replay of one already acted on, which must be answered
        without acting again. Remembered in the ledger (bounded, survives a restart), else in
        memory."""
        if self.ledger is not None:
            try:
                return self.ledger.claim(key)
            except sqlite3.Error as exc:  # e.g. a full disk: this process still remembers
                log.error("cannot record a handled delivery in the ledger (%s); remembering it in memory", exc)
        with self._seen_lock:
            if key in self._deliveries:
                return False
            self._deliveries.add(key)
            self._deliveries_order.append(key)
            while len(self._deliveries_order) > SEEN_IN_MEMORY:
                self._deliveries.discard(self._deliveries_order.popleft())
            return True

    def meeting_for(self, place: str | None) -> str | None:
        """The meeting a command belongs to, given where it was typed (channel, stream…)."""
        return None

    def wants(self, meeting: Meeting) -> bool:
        """Whether this meeting has a destination on this platform."""
        return True

    @abstractmethod
    def render(self, message: Message) -> str:
        """The message in the platform's markup (what ``chatbot remind --dry-run`` prints)."""

    @abstractmethod
    def post(self, meeting: Meeting, message: Message) -> None:
        """Post a message (a reminder) to the meeting's destination on this platform."""

    def notify(self, meeting: Meeting, person: Person, message: Message) -> None:
        """Tell one person something (an action-item ping), where the core says (see
        :meth:`notify_once`)."""
        self.notify_once(meeting, person, message, None)

    def notify_once(self, meeting: Meeting, person: Person, message: Message, key: str | None) -> None:
        """An action-item ping, routed by the core's rule (:func:`chatbot.compose.ping_directly`):
        a direct message when the meeting asks for them and this platform can reach the person,
        else the meeting's destination (the message starts with a mention of them). ``key``: the
        runner's ledger key, for platforms that mark their posts."""
        if ping_directly(meeting, self.reaches_directly(person)):
            self.send_direct(meeting, person, message, key)
        else:
            self.post_once(meeting, message, key)

    def post_once(self, meeting: Meeting, message: Message, key: str | None) -> None:
        """``post``, marked with ``key`` where the platform keeps such marks."""
        self.post(meeting, message)

    def reaches_directly(self, person: Person) -> bool:
        """Whether this platform can send ``person`` a direct message (they have an id here)."""
        return False

    def spelled(self) -> Mapping[str, str] | None:
        """How people type the core's commands here, for hints in what the bot sends on its
        own (Slack: ``{"actions": "/actions"}``); None: as the core writes them."""
        return None

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        """A direct message to ``person`` (about ``meeting``); only asked when
        :meth:`reaches_directly` says it can."""
        raise BackendError(f"the {self.name} backend cannot send direct messages")

    def timezone_of(self, person: Person) -> str | None:
        """The IANA time zone the platform reports for this person (their profile's), or None.
        Answered from what the backend already knows (no network: see ``learn_people``); the
        runner uses it for ``waking_hours`` when the roster gives the person no ``timezone``."""
        return None

    def learn_people(self) -> None:
        """Look up what the platform says about people (their time zones) now, if what the
        backend knows is stale; may use the network. Problems are logged, never raised."""
        return None

    def prepare(self) -> None:
        """Check credentials and settings before anything starts (raise BackendError with a
        clear message); called once by the runner before the scheduler starts."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Receive and answer commands until ``stop`` is set (or the input ends)."""

    def close(self) -> None:
        """Release connections; called once after ``run`` returns."""


def backend_class(name: str) -> type[Backend]:
    """The ``Backend`` class of the backend declared as ``name`` in ``backends.BACKENDS``
    (imported now); ValueError naming the declared ones if there is none."""
    module, _, attr = platform(name).backend.partition(":")
    found = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(found, type) and issubclass(found, Backend)):
        raise TypeError(f"platform {name!r}: {module}:{attr} is not a Backend class")
    return found
