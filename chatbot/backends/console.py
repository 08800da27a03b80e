"""The local console backend: commands from stdin, everything the bot would post on stdout.

No account needed; it is the default of ``chatbot run``. Commands are typed as on Slack
(``/agenda add …``, ``/agenda list``, ``/next``, ``/help``); the console user's initials come
from ``[console] user`` in the config (or ``--as``).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from typing import TextIO

from ..bot import Bot, Sender
from ..inbox import Incoming
from ..commands import top_words
from pydantic import Field

from ..config import Meeting, Platform, Section, part
from ..messages import Message, render_plain
from ..terminal import for_terminal
from .base import Backend, wait_for_stop

_EOF = object()
log = logging.getLogger(__name__)


class ConsoleSettings(Section):
    user: str = Field(default="ME", description="initials used for commands typed at the console")


class ConsoleDestinations(Section):
    console: bool = True  # reminders are printed at the console


def _where(meeting: Meeting, start: object) -> str | None:
    return "the console" if part(meeting.destinations, ConsoleDestinations).console else None


# its part of the config: [console] and destinations.console (named in backends.BACKENDS)
CONSOLE = Platform(
    name="console",
    backend="chatbot.backends.console:ConsoleBackend",
    settings=ConsoleSettings,
    destinations=ConsoleDestinations,
    where=_where,
)


class ConsoleBackend(Backend):
    name = "console"

    def __init__(
        self,
        bot: Bot,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        user: str | None = None,
        stay: bool = False,
    ):
        super().__init__(bot)
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.user = user or CONSOLE.settings_of(bot.config).user
        self.stay = stay
        self._out = threading.Lock()

    def wants(self, meeting: Meeting) -> bool:
        return part(meeting.destinations, ConsoleDestinations).console

    def render(self, message: Message) -> str:
        return render_plain(message)

    def say(self, text: str) -> None:
        text = for_terminal(text)  # notes are written by others: no escape sequences reach the terminal
        with self._out:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def post(self, meeting: Meeting, message: Message) -> None:
        self.say(f"[{meeting.id}] " + self.render(message).replace("\n", "\n" + " " * (len(meeting.id) + 3)))

    def _prompt(self) -> None:
        if self.stdin.isatty():
            with self._out:
                self.stdout.write("> ")
                self.stdout.flush()

    def _lines(self):
        """Lines of standard input as text; bytes that are not valid in its encoding become
        U+FFFD instead of ending the input (and every command after them)."""
        raw = getattr(self.stdin, "buffer", None)
        if raw is None:  # already text (a StringIO in tests)
            yield from self.stdin
            return
        encoding = getattr(self.stdin, "encoding", None) or "utf-8"
        for line in raw:
            yield line.decode(encoding, errors="replace")

    def _reader(self, lines: queue.Queue[object]) -> None:
        try:
            for line in self._lines():
                lines.put(line)
        except Exception:  # standard input itself failed: the commands read so far still run
            log.exception("reading standard input failed")
        finally:
            lines.put(_EOF)

    def run(self, stop: threading.Event) -> None:
        if self.stdin.isatty():
            words = ", ".join("/" + w for w in top_words())
            self.say(
                f"Type commands as in chat ({words}), e.g. /agenda add Release plans "
                f"(you are {self.user}; Ctrl-D to quit)."
            )
        # stdin is read in a daemon thread so that a signal (SIGTERM) stops the bot at once
        lines: queue.Queue[object] = queue.Queue()
        threading.Thread(target=self._reader, args=(lines,), name="console-stdin", daemon=True).start()
        self._prompt()
        sender = Sender("console", initials=self.user)
        while not stop.is_set():
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is _EOF:
                if self.stay:
                    wait_for_stop(stop)
                return
            text = str(line).strip()
            if text:
                answer = self.inbox.take(Incoming(text, sender))
                self.say(("error: " if not answer.ok else "") + self.render(answer.message))
            self._prompt()
