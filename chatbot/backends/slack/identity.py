"""Who is behind a Slack user id: their roster entry (``slack_id``), their Slack name for
mentions and for people not in the roster, and the time zone of their Slack account."""

from __future__ import annotations

import logging
import time

from ...bot import Sender
from ...config import Config, Person
from ..base import BackendError
from .part import Part
from .platform import slack_id
from .render import _SLACK_ID

log = logging.getLogger("chatbot.backends.slack")

Names = dict[str, str | None]  # user id -> Slack name, as one command looked them up
ZONES_MAX_AGE = 300  # seconds: learn_people asks Slack again after this


def slack_sender(config: Config, user_id: str | None, name: str | None = None) -> Sender:
    """The Slack user, resolved to their roster entry by ``slack_id``, as the core gets them."""
    return Sender(
        "slack", user_id, name, person=config.person_by(slack_id=user_id) if user_id else None, id_field="slack_id"
    )


class SlackPeople(Part):
    """The person behind a user id, and the zones Slack reports for roster people."""

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self._zones: dict[str, str] = {}
        self._zones_at = 0.0

    def sender(self, user_id: str | None, user_name: str | None, names: Names | None = None) -> Sender:
        """The Slack user as the core gets them; with ``allow_unknown_users``, someone not in
        the roster is named by their Slack name. ``names``: the Slack names this command looked
        up already (see :meth:`display_name`)."""
        person = self.bot.config.person_by(slack_id=user_id) if user_id else None
        if self.settings.allow_unknown_users and user_id and person is None:
            user_name = self.display_name(user_id, names) or user_name
        return Sender("slack", user_id, user_name, person=person, id_field="slack_id")

    def user_label(self, user_id: str, label: str, names: Names | None = None) -> str:
        """How a ``<@U…>`` mention in command text is written down: the roster's name, else
        the name Slack sent with it, else the person's Slack name (``users.info``), else the id."""
        person = self.bot.config.person_by(slack_id=user_id)
        if person is not None:
            return person.name
        if label:
            return label
        if not _SLACK_ID.match(user_id):
            return user_id
        return self.display_name(user_id, names) or user_id

    def display_name(self, user_id: str, names: Names | None = None) -> str | None:
        """The person's Slack name (``users.info``); once per command: ``names`` keeps what the
        command asked already (the sender who also mentions themselves is one lookup)."""
        if names is not None and user_id in names:
            return names[user_id]
        name = self._ask_name(user_id)
        if names is not None:
            names[user_id] = name
        return name

    def _ask_name(self, user_id: str) -> str | None:
        try:
            data = self.call("users.info", user=user_id)
        except BackendError:
            return None
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        for key in ("display_name", "real_name"):
            if profile.get(key):
                return str(profile[key])
        return user.get("real_name") or user.get("name")

    def timezone_of(self, person: Person) -> str | None:
        """The time zone of the person's Slack account (``users.info`` ``user.tz``), as
        :meth:`learn_people` last read it; for ``[meetings.actions] waking_hours``."""
        return self._zones.get(slack_id(person) or "")

    def learn_people(self) -> None:
        """``users.info`` of each roster person with a ``slack_id``, at most every 5 minutes."""
        zones = self._zones
        if zones and time.monotonic() - self._zones_at < ZONES_MAX_AGE:
            return
        self._zones_at = time.monotonic()
        for person in self.bot.config.people:
            if sid := slack_id(person):
                try:
                    tz = (self.call("users.info", user=sid).get("user") or {}).get("tz")
                except BackendError:
                    continue  # logged by call(); their ping goes at ping_before
                if isinstance(tz, str) and tz:
                    zones[sid] = tz
