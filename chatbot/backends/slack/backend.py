"""The Slack backend: commands, interactions, reminders and pings through slack-bolt and slack_sdk.

:class:`SlackBackend` is what the runner builds; each concern is a small part of it:
:class:`~.api.SlackApi` (secrets, the Web API), :class:`~.intake.SlackIntake` (bolt, Socket
Mode, HTTP mode, redeliveries), :class:`~.commands.SlackCommands` (slash commands),
:class:`~.identity.SlackPeople` (the person behind a user id, zones),
:class:`~.sending.SlackPoster` (rendering, posts, direct messages, crash checks) and
:class:`~.interactive.SlackInteractions` (buttons and the agenda modal)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from ...bot import Bot
from ...config import ConfigError, Meeting, Person
from ...messages import Message
from ..base import Backend
from .api import SlackApi
from .commands import SlackCommands
from .identity import SlackPeople, slack_sender
from .intake import SlackIntake
from .platform import SLACK, SlackSettings, slack_channel, slack_id
from .interactive import SlackInteractions
from .sending import SlackPoster
from .wire import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV

__all__ = ["SlackBackend", "slack_sender"]

log = logging.getLogger("chatbot.backends.slack")


class SlackBackend(Backend):
    """The :class:`Backend` contract for Slack, answered by its parts."""

    name = "slack"

    def __init__(self, bot: Bot, env: Mapping[str, str] | None = None):
        # no network here: the constructor is also used by `chatbot remind --dry-run`
        super().__init__(bot)
        self.env = os.environ if env is None else env
        self.api = SlackApi(self)
        self.people = SlackPeople(self)
        self.poster = SlackPoster(self)
        self.slash = SlackCommands(self)
        self.buttons = SlackInteractions(self)
        self.intake = SlackIntake(self)

    @property
    def settings(self) -> SlackSettings:
        return SLACK.settings_of(self.bot.config)  # live: the config may be reloaded while running

    @property
    def bot_user_id(self) -> str | None:
        return self.api.bot_user_id

    @property
    def api_url(self) -> str:
        return self.api.api_url

    @property
    def client(self):
        """The Web API client (created on first use; needs SLACK_BOT_TOKEN)."""
        return self.api.client

    def call(self, method: str, **params: Any) -> dict:
        """A Web API call; failures are logged and raised as BackendError (:meth:`.api.SlackApi.call`)."""
        return self.api.call(method, **params)

    # -- where meetings are -----------------------------------------------------------

    def wants(self, meeting: Meeting) -> bool:
        return bool(slack_channel(meeting))

    def meeting_for(self, place: str | None) -> str | None:
        if not place:
            return None
        for m in self.bot.config.meetings:
            if slack_channel(m) == place:
                return m.id
        return None

    # -- sending (SlackPoster) --------------------------------------------------------

    def render(self, message: Message, prefix: str = "") -> str:
        """The message as mrkdwn, whole (``render_parts``: as it is posted)."""
        return self.poster.render(message, prefix)

    def render_parts(self, message: Message, prefix: str = "", most: int | None = None) -> list[str]:
        """The message as the messages it is posted as (:meth:`.sending.SlackPoster.render_parts`)."""
        return self.poster.render_parts(message, prefix, most)

    def blocks(
        self, message: Message, meeting_id: str | None, prefix: str = "", listing: str | None = None
    ) -> dict[str, Any]:
        """``{"blocks": [...]}`` for a message people act on, else nothing (the text alone)."""
        return self.poster.blocks(message, meeting_id, prefix, listing)

    def post(self, meeting: Meeting, message: Message) -> None:
        self.post_once(meeting, message, None)

    def post_once(self, meeting: Meeting, message: Message, key: str | None) -> None:
        """``post``, with the runner's ledger key in the message's metadata (see :meth:`find_sent`)."""
        self.poster.post_once(meeting, message, key)

    def spelled(self) -> dict[str, str]:
        return self.slash.spelled()

    def reaches_directly(self, person: Person) -> bool:
        return bool(slack_id(person))

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        self.poster.send_direct(meeting, person, message, key)

    def find_sent(
        self, meeting: Meeting, key: str, since: dt.datetime, data: dict, person: Person | None = None
    ) -> bool | None:
        """Whether the post marked ``key`` was made (:meth:`.sending.SlackPoster.find_sent`):
        True, False, or None when Slack cannot tell; BackendError when it cannot be asked now."""
        return self.poster.find_sent(meeting, key, since, person)

    # -- people (SlackPeople) ---------------------------------------------------------

    def timezone_of(self, person: Person) -> str | None:
        """The time zone of the person's Slack account, as ``learn_people`` last read it."""
        return self.people.timezone_of(person)

    def learn_people(self) -> None:
        """``users.info`` of each roster person with a ``slack_id``, at most every 5 minutes."""
        self.people.learn_people()

    # -- slash commands (SlackCommands) -----------------------------------------------

    def commands(self) -> dict[str, str]:
        """Slash command name -> the core command it runs."""
        return self.slash.commands()

    def command_text(self, command: str, text: str) -> str:
        """What the bot core gets for a slash command: '/agenda add x' -> 'agenda add x'."""
        return self.slash.command_text(command, text)

    # -- running (SlackApi, SlackIntake) ----------------------------------------------

    def prepare(self) -> None:
        """Before the scheduler starts: the secrets the mode needs are all set and look right
        (ConfigError naming what is missing). No network: Slack is asked in ``run()``."""
        mode = self.settings.mode
        needed = [BOT_TOKEN_ENV, APP_TOKEN_ENV] if mode == "socket" else [BOT_TOKEN_ENV, SIGNING_SECRET_ENV]
        self.api.require(*needed)
        app_token = self.api.env(APP_TOKEN_ENV) if mode == "socket" else None
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError(
                f"{APP_TOKEN_ENV} must be an app-level token starting with 'xapp-' "
                "(Basic Information > App-Level Tokens, scope connections:write)"
            )

    @property
    def serves_http(self) -> bool:
        return self.settings.mode == "http"

    def run(self, stop: threading.Event) -> None:
        self.prepare()  # again: run() may be called without the runner
        mode = self.settings.mode
        app_token = self.api.env(APP_TOKEN_ENV) if mode == "socket" else None
        if not self.api.authenticate(stop):
            return
        app = self.intake.build_app()
        if mode == "socket":
            self.intake.run_socket(app, app_token or "", stop)
        else:
            self.intake.run_http(app, stop)

    def close(self) -> None:
        """In order: nothing more arrives and acknowledged commands finish, then submitted
        agenda forms, then the channel notes they all queued go out."""
        self.intake.close()
        self.buttons.close()
        self.poster.close()
