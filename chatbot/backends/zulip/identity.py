"""The Zulip backend's people: the user list (names, ids, time zones), the person behind a
message (roster, GitHub profile field), whether a sender is a bot."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from ...bot import Bot, Sender
from ...config import Person
from ..base import BackendError
from .wire import (
    GITHUB_FIELD_TYPE,
    USER_CACHE_TTL,
)
from .client import ZulipClient
from .platform import zulip_email

log = logging.getLogger("chatbot.backends.zulip")


class ZulipIdentity(ZulipClient):
    """People: the user list, the person behind a message, time zones, whether a sender is a bot."""

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self._me: dict[str, Any] | None = None
        self._users: dict[str, tuple[int, str]] = {}
        self._zones: dict[str, str] = {}  # email -> the user's time zone, as Zulip reports it
        self._listening = False  # prepare() was called: run() will connect
        self._by_id: dict[int, tuple[str, str]] = {}  # user id -> (email, full name)
        self._users_fetched = 0.0
        self._github_field: int | None | bool = False  # False: not looked up yet
        self._github_cache: dict[int, str | None] = {}
        self._is_bot: dict[int, bool] = {}  # sender id -> whether Zulip says it is a bot
        # user id -> their custom profile fields, as GET /users/{id} answered just before (the
        # GitHub login is read from that answer instead of asking for the same user again)
        self._profiles: dict[int, dict[str, Any]] = {}

    def _lookup_user(self, email: str) -> tuple[int, str] | None:
        """(user_id, full_name) of the Zulip user with this email, from a cached user list
        (at most ``USER_CACHE_TTL`` old, so a renamed user's mentions still work)."""
        key = email.lower()
        if self._users_fetched and time.monotonic() - self._users_fetched < USER_CACHE_TTL:
            return self._users.get(key)
        self._users_fetched = time.monotonic()
        try:
            with self._send_lock:
                res = self._client().get_users()
        except Exception as exc:
            log.warning("Zulip: cannot list users for mentions: %s", self._describe(exc))
            return self._users.get(key)  # the last list known is better than none
        if res.get("result") != "success":
            log.warning("Zulip: cannot list users for mentions: %s", res.get("msg"))
            return self._users.get(key)
        users: dict[str, tuple[int, str]] = {}
        zones: dict[str, str] = {}
        by_id: dict[int, tuple[str, str]] = {}
        for u in res.get("members", []):
            zone = u.get("timezone")
            for addr in {u.get("email"), u.get("delivery_email")}:
                if addr:
                    users[addr.lower()] = (int(u["user_id"]), u.get("full_name") or "")
                    if isinstance(zone, str) and zone:
                        zones[addr.lower()] = zone
            if u.get("email"):
                by_id[int(u["user_id"])] = (u["email"], u.get("full_name") or "")
            self._is_bot[int(u["user_id"])] = bool(u.get("is_bot"))
        changed = zones != self._zones
        self._users, self._zones, self._by_id = users, zones, by_id
        if changed and self.people_changed is not None:
            try:
                self.people_changed()  # the runner computes the ping moments again
            except Exception:
                log.exception("Zulip: telling the scheduler about changed time zones failed")
        return users.get(key)

    def timezone_of(self, person: Person) -> str | None:
        """The time zone the person set in Zulip (the user's ``timezone``; empty when unset),
        from the cached user list (``learn_people`` fetches it again when it is stale)."""
        email = zulip_email(person)
        return self._zones.get(email.lower()) or None if email else None

    def learn_people(self) -> None:
        """The user list (names, ids, time zones), fetched again when older than USER_CACHE_TTL.
        Before ``run()`` has connected nothing is asked: connecting reads the list (and tells
        the runner through ``people_changed``)."""
        if self._listening and self._me is None:
            return
        self._lookup_user("")

    def _fetch_user(self, uid: int) -> dict[str, Any] | None:
        """``GET /users/{id}`` (rate limits waited out, connection problems retried): the user,
        or None (logged) when Zulip cannot say. Remembers whether they are a bot."""
        fields = bool(self.settings.github_profile_field)  # one request gives what _github_login needs
        try:
            res = self._request(
                lambda c: (
                    c.get_user_by_id(uid, include_custom_profile_fields=fields) if fields else c.get_user_by_id(uid)
                ),
                f"the lookup of user {uid}",
            )
        except BackendError as exc:
            log.warning("Zulip: %s", exc)
            return None
        user = res.get("user") or {}
        if not user:
            log.warning("Zulip: cannot look up user %s: the answer has no user", uid)
            return None
        self._is_bot[uid] = bool(user.get("is_bot"))
        if fields and isinstance(user.get("profile_data"), dict):
            self._profiles[uid] = user["profile_data"]
        return user

    def _user(self, uid: int) -> tuple[str, str] | None:
        """(email, full name) of a user id: the cached user list, else ``GET /users/{id}``."""
        if uid not in self._by_id:
            user = self._fetch_user(uid)
            if not user or not user.get("email"):
                if user is not None:
                    log.warning("Zulip: user %s has no email", uid)
                return None
            self._by_id[uid] = (user["email"], user.get("full_name") or "")
        return self._by_id[uid]

    def _is_me(self, user_id: Any, name: str) -> bool:
        me = self._me or {}
        if user_id:
            return str(user_id) == str(me.get("user_id"))
        return name.strip().lower() == str(me.get("full_name", "")).strip().lower()

    def _sender_is_bot(self, msg: dict[str, Any]) -> bool:
        """Whether the sender is a bot (``is_bot``, from the user list or ``GET /users/{id}``), so
        two bots cannot talk without end; True too when Zulip cannot say (not answered, logged)."""
        uid = msg.get("sender_id")
        if isinstance(uid, int) and not isinstance(uid, bool) and (uid in self._is_bot or self._fetch_user(uid)):
            return self._is_bot[uid]
        log.warning(
            "Zulip: not answering %s (user %s): Zulip cannot say whether they are a bot", msg.get("sender_email"), uid
        )
        return True

    def _sender(self, msg: dict[str, Any]) -> Sender:
        email = msg.get("sender_email") or ""
        name = msg.get("sender_full_name") or None
        known = self.bot.config.person_by(zulip_email=email)
        sender = Sender("zulip", email, name, person=known, id_field="zulip_email")
        if self.settings.github_profile_field and known is None:
            login = self._github_login(msg.get("sender_id"))
            person = self.bot.config.person_by(github=login) if login else None
            if person is not None:
                log.info("Zulip: %s is %s by their GitHub profile field (%s)", email, person.initials, login)
                return Sender("zulip", email, name, person=person, id_field="zulip_email")
        return sender

    def _github_login(self, user_id: Any) -> str | None:
        """The sender's GitHub user name from their custom profile field of type GitHub."""
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            return None
        if uid in self._github_cache:
            return self._github_cache[uid]
        try:
            with self._send_lock:
                client = self._client()
                if self._github_field is False:
                    res = client.get_realm_profile_fields()
                    field = None
                    for f in res.get("custom_fields", []) if res.get("result") == "success" else []:
                        data = f.get("field_data")
                        try:
                            data = json.loads(data) if isinstance(data, str) and data else (data or {})
                        except ValueError:
                            data = {}
                        if (
                            f.get("type") == GITHUB_FIELD_TYPE
                            and isinstance(data, dict)
                            and data.get("subtype") == "github"
                        ):
                            field = int(f["id"])
                            break
                    if res.get("result") != "success":
                        log.warning("Zulip: cannot read the custom profile fields: %s", res.get("msg"))
                        return None
                    if field is None:
                        log.warning(
                            "Zulip: [zulip] github_profile_field is on but the organization has no "
                            "custom profile field of type GitHub"
                        )
                    self._github_field = field
                if self._github_field is None:
                    return None
                profile = self._profiles.pop(uid, None)  # fetched for this command already
                if profile is None:
                    res = client.get_user_by_id(uid, include_custom_profile_fields=True)
                    if res.get("result") != "success":
                        log.warning("Zulip: cannot look up user %s: %s", uid, res.get("msg"))
                        return None
                    profile = (res.get("user") or {}).get("profile_data") or {}
        except Exception as exc:
            log.warning("Zulip: cannot look up user %s: %s", uid, self._describe(exc))
            return None
        value = profile.get(str(self._github_field)) or {}
        login = value.get("value") if isinstance(value, dict) else None
        login = login.strip().lstrip("@") if isinstance(login, str) and login.strip() else None
        self._github_cache[uid] = login
        return login
