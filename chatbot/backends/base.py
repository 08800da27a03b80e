"""What every chat backend provides to the runner."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from ..bot import Bot
from ..config import Meeting, Person
from ..messages import Message


class BackendError(Exception):
    """The platform could not be reached or refused us; the message says why (never a secret)."""


class Backend(ABC):
    name: str = "?"

    def __init__(self, bot: Bot):
        self.bot = bot

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
        """Tell one person something (an action-item ping). Backends that can send direct
        messages override this when ``meeting.actions.ping == "dm"``; by default the message,
        which starts with a mention of the person, goes to the meeting's destination."""
        self.post(meeting, message)

    def prepare(self) -> None:
        """Check credentials and settings before anything starts (raise BackendError with a
        clear message); called once by the runner before the scheduler starts."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Receive and answer commands until ``stop`` is set (or the input ends)."""

    def close(self) -> None:
        """Release connections; called once after ``run`` returns."""
