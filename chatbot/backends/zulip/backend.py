"""The Zulip backend: the real ``zulip.Client`` event queue, commands by DM or mention, reactions, reminders and pings."""

from __future__ import annotations

import configparser
import datetime as dt
import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any

from ... import __version__, logs
from ...bot import Bot, Sender
from ...commands import top_words
from ...config import ConfigError, Meeting, Person
from ...messages import Message, error
from ..base import Backend, BackendError
from .wire import (
    API_KEY_ENV,
    AUTH_ERRORS,
    CATCH_UP_BATCH,
    CATCH_UP_MAX,
    CATCH_UP_WINDOW,
    CONFIG_FILE_ENV,
    CONFIRM_REACTION,
    DONE_RE,
    EMAIL_ENV,
    FEATURE_CHANNEL,
    FEATURE_INCLUDE_ANCHOR,
    FEATURE_IS_DM,
    FIND_RECENT,
    FIND_SLACK_SECONDS,
    GITHUB_FIELD_TYPE,
    ReplyLimiter,
    SEEN_IDS_KEPT,
    ServerLimits,
    SITE_ENV,
    USER_CACHE_TTL,
    command_in,
    conversation_key,
    is_check,
    listed_items,
    multi_line_refusal,
    split_content,
)
from . import review as zreview
from .render import RedactSecrets, mention_syntax, neutralize, render_zulip, stream_to, topic_name

log = logging.getLogger("chatbot.backends.zulip")


# ---------------------------------------------------------------------------------------
# The backend


_Backoff = logs.Backoff


class ZulipBackend(Backend):
    name = "zulip"

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self._creds: dict[str, str | None] | None = None
        self._send_client: Any = None  # zulip.Client
        self._events_client: Any = None
        self._send_lock = threading.Lock()
        self._busy = threading.Lock()  # held while a command is being handled
        self._me: dict[str, Any] | None = None
        self._users: dict[str, tuple[int, str]] = {}
        self._zones: dict[str, str] = {}  # email -> the user's time zone, as Zulip reports it
        self._listening = False  # prepare() was called: run() will connect
        self._by_id: dict[int, tuple[str, str]] = {}  # user id -> (email, full name)
        self._users_fetched = 0.0
        self._github_field: int | None | bool = False  # False: not looked up yet
        self._github_cache: dict[int, str | None] = {}
        self._queue_id: str | None = None
        # catching up after a lost queue (all used by the event thread only)
        self._seen_max: int | None = None  # highest message id seen while a queue was live
        self._seen_ids: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._catch_up_pending = False
        self._stopping = threading.Event()
        self._redaction: RedactSecrets | None = None
        self._is_bot: dict[int, bool] = {}  # sender id -> whether Zulip says it is a bot
        self.limiter = ReplyLimiter()
        self.limits = ServerLimits()  # what the server keeps, as its register answer says

    # -- configuration ------------------------------------------------------------------

    @property
    def settings(self):
        return self.bot.config.zulip  # the config may be reloaded while running

    def credentials(self) -> dict[str, str | None]:
        """email, api_key, site and config_file; ConfigError naming what is missing."""
        if self._creds is not None:
            return self._creds
        cfg = self.bot.config
        rc_path: str | None = None
        if self.settings.zuliprc is not None:
            rc_path = str(cfg.resolve(self.settings.zuliprc))
            where = f"[zulip] zuliprc = {str(self.settings.zuliprc)!r}"
        elif os.environ.get(CONFIG_FILE_ENV):
            rc_path = os.path.abspath(os.path.expanduser(os.environ[CONFIG_FILE_ENV]))
            where = f"${CONFIG_FILE_ENV}"
        creds: dict[str, str | None] = {"email": None, "api_key": None, "site": None, "config_file": None}
        if rc_path is not None:
            parser = configparser.ConfigParser()
            try:
                with open(rc_path, encoding="utf-8") as fh:
                    parser.read_file(fh, rc_path)
            except FileNotFoundError:
                raise ConfigError(
                    f"{where}: the zuliprc file {rc_path} does not exist (download it from Zulip: "
                    "Personal settings > Bots > your bot > download zuliprc)"
                ) from None
            except (OSError, configparser.Error, UnicodeDecodeError) as exc:
                raise ConfigError(f"{where}: cannot read the zuliprc file {rc_path}: {type(exc).__name__}") from None
            api: Any = parser["api"] if parser.has_section("api") else {}
            creds.update(email=api.get("email"), api_key=api.get("key"), site=api.get("site"), config_file=rc_path)
            missing = [k for k, v in (("email", creds["email"]), ("key", creds["api_key"])) if not v]
            if self.settings.site:
                creds["site"] = self.settings.site
            if not creds["site"]:
                missing.append("site")
            if missing:
                raise ConfigError(
                    f"the zuliprc file {rc_path} lacks {', '.join(missing)} in its [api] section "
                    "(or set [zulip] site in the config for the site)"
                )
        else:
            creds.update(
                email=os.environ.get(EMAIL_ENV) or None,
                api_key=os.environ.get(API_KEY_ENV) or None,
                site=self.settings.site or os.environ.get(SITE_ENV) or None,
            )
            missing = [
                name
                for name, key in ((SITE_ENV, "site"), (EMAIL_ENV, "email"), (API_KEY_ENV, "api_key"))
                if not creds[key]
            ]
            if missing:
                where = str(cfg.path or "the config file")
                raise ConfigError(
                    f"Zulip credentials missing: set {', '.join(missing)} in the environment, "
                    f"or point [zulip] zuliprc in {where} at the bot's zuliprc file"
                )
        self._creds = creds
        self._install_redaction([creds["api_key"] or ""])
        return creds

    def _install_redaction(self, secrets: list[str]) -> None:
        if self._redaction is not None:
            return
        self._redaction = logs.redact_in_logs(*secrets)

    def _clean(self, text: str) -> str:
        return self._redaction.clean(text) if self._redaction else text

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return self._clean(f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text)

    def _new_client(self):
        import zulip  # imported here: only the Zulip backend needs it

        c = self.credentials()
        try:
            return zulip.Client(
                email=c["email"],
                api_key=c["api_key"],
                site=c["site"],
                config_file=c["config_file"],
                client=f"chatbot/{__version__}",
            )
        except (zulip.ConfigNotFoundError, zulip.MissingURLError) as exc:
            raise ConfigError(f"Zulip client configuration: {self._clean(str(exc))}") from None
        except AssertionError:
            # the client asserts that /server_settings answered with a version
            raise BackendError(
                f"{c['site']} did not answer like a Zulip server (no version in /api/v1/server_settings)"
            ) from None
        except Exception as exc:
            raise BackendError(f"cannot connect to Zulip at {c['site']}: {self._describe(exc)}") from None

    def _client(self):
        """The client for sends and lookups (created on first use)."""
        if self._send_client is None:
            self._send_client = self._new_client()
        return self._send_client

    # -- places -------------------------------------------------------------------------

    def meeting_for(self, place: str | None) -> str | None:
        if not place:
            return None
        for m in self.bot.config.meetings:
            stream = m.destinations.zulip_stream
            if stream and stream.strip().lower() == place.strip().lower():
                return m.id
        return None

    def wants(self, meeting: Meeting) -> bool:
        return bool(meeting.destinations.zulip_stream)

    # -- rendering ----------------------------------------------------------------------

    def render(self, message: Message) -> str:
        return render_zulip(message, self._lookup_user if self._send_client is not None else None)

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
        return self._zones.get(person.zulip_email.lower()) or None if person.zulip_email else None

    def learn_people(self) -> None:
        """The user list (names, ids, time zones), fetched again when older than USER_CACHE_TTL.
        Before ``run()`` has connected nothing is asked: connecting reads the list (and tells
        the runner through ``people_changed``)."""
        if self._listening and self._me is None:
            return
        self._lookup_user("")

    def topic_for(self, meeting: Meeting, message: Message) -> str:
        """``destinations.zulip_topic`` with ``{name}`` and ``{date}``: the start of the meeting
        the message is about (``message.about``), else of the next meeting."""
        if message.about is not None:
            return topic_name(meeting, message.about.start, self.limits.topic)
        try:
            date = self.bot.next_meeting(meeting).start
        except Exception:
            date = self.bot.now()
        return topic_name(meeting, date, self.limits.topic)

    # -- sending ------------------------------------------------------------------------

    def send(self, request: dict[str, Any], what: str) -> dict[str, Any]:
        """Send one message; rate limits are waited out (as the server asks), connection
        problems retried with back-off; BackendError when it cannot be sent."""
        return self._request(lambda client: client.send_message(request), what)

    def _request(self, call, what: str) -> dict[str, Any]:
        """One API call (``call(client)``) made like a send: rate limits waited out, connection
        problems retried with back-off; BackendError when the server refuses it."""
        backoff = _Backoff(1.0, 16.0)
        failures = 0
        rate_limited = 0
        while True:
            try:
                with self._send_lock:
                    res = call(self._client())
            except ConfigError:
                raise
            except Exception as exc:
                failures += 1
                if failures >= 5:
                    raise BackendError(f"cannot send {what}: {self._describe(exc)}") from None
                delay = backoff.next()
                log.warning("Zulip: sending %s failed (%s); retrying in %.0f s", what, self._describe(exc), delay)
                time.sleep(delay)
                continue
            if res.get("result") == "success":
                return res
            code = res.get("code")
            if code == "RATE_LIMIT_HIT" or res.get("status_code") == 429:
                rate_limited += 1
                if rate_limited > 10:
                    raise BackendError(f"cannot send {what}: still rate limited after {rate_limited - 1} waits")
                delay = _retry_after(res)
                log.warning("Zulip: rate limited while sending %s; retrying in %.1f s", what, delay)
                time.sleep(delay)
                continue
            if res.get("result") == "http-error":
                failures += 1
                if failures >= 5:
                    raise BackendError(f"cannot send {what}: HTTP {res.get('status_code')} from the server")
                delay = backoff.next()
                log.warning("Zulip: sending %s got HTTP %s; retrying in %.0f s", what, res.get("status_code"), delay)
                time.sleep(delay)
                continue
            if code in AUTH_ERRORS:
                self._refuse_key(code, f"sending {what}")
                raise BackendError(f"Zulip refused the bot's credentials ({code}: {self._clean(str(res.get('msg')))})")
            raise BackendError(f"Zulip refused {what}: {self._clean(str(res.get('msg')))} ({code or 'no code'})")

    def send_long(self, request: dict[str, Any], content: str, what: str) -> list[tuple[int | None, str, int]]:
        """Send ``content`` to where ``request`` says, as several messages when it is longer
        than Zulip keeps (it would cut it), in order. Each part's (message id, text, index of
        its first line in ``content``)."""
        parts = split_content(content, self.limits.message)
        sent = []
        line = 0
        for n, part in enumerate(parts, 1):
            if not part.strip():  # only blank lines, which Zulip refuses as empty: nothing lost
                line += part.count("\n") + 1
                continue
            res = self.send(
                {**request, "content": part}, what if len(parts) == 1 else f"{what} (part {n} of {len(parts)})"
            )
            mid = res.get("id")
            sent.append((mid if isinstance(mid, int) else None, part, line))
            line += part.count("\n") + 1
        return sent

    # -- acting on the bot's own messages: reactions, `done N` -----------------------------

    def remember_listing(
        self, sent: list[tuple[int | None, str, int]], message: Message, meeting_id: str, conversation: str
    ) -> None:
        """Remember which of the sent messages list which action items (the ledger's listings),
        so a ✅ on one, or `done N` in the conversation, acts on them, also after a restart."""
        items = listed_items(message)
        if message.reviews:  # the chair's review: answered by `track N` or 👍 / 👎 (review.py)
            items, conversation = zreview.review_items(message), zreview.REVIEW_PREFIX + conversation
        if not items or self.ledger is None:
            return
        stamp = time.time()  # one answer's messages share it: `done N` looks at all of them
        for mid, part, first in sent:
            lines = part.count("\n") + 1
            mine = [{**it, "line": it["line"] - first} for it in items if first <= it["line"] < first + lines]
            if mid is None or not mine:
                continue
            try:
                self.ledger.remember_listing(f"zulip:{mid}", conversation, meeting_id, mine, part, now=stamp)
            except Exception as exc:  # a full disk: the message went out, reactions on it will not work
                log.error(
                    "Zulip: cannot remember the action items listed in message %s (%s); a reaction on it "
                    "will not tick them",
                    mid,
                    exc,
                )

    def _tell(self, email: str, content: str, what: str) -> None:
        try:
            self.send_long({"type": "private", "to": [email]}, content, what)
        except BackendError as exc:
            log.error("Zulip: %s", exc)

    def _mark_done(self, listing: dict[str, Any], item: dict[str, Any], who: str, note: str | None = None) -> None:
        """Show the item as done in the bot's message (PATCH /messages/{id}), or with ``note``
        after its line (a review's decision); when Zulip refuses the edit (the organization's
        edit time limit, editing turned off), or the changed text would be longer than Zulip
        keeps (it would cut the message), react ✅ instead."""
        mid = int(listing["message"].split(":", 1)[1])
        lines = listing["content"].split("\n")
        index = item.get("line")
        if isinstance(index, int) and 0 <= index < len(lines) and not lines[index].startswith("~~"):
            done = f"~~{lines[index]}~~ ✅ done"
            lines[index] = f"{lines[index]} {note}" if note else done
            lines[index] += f" ({neutralize(who)})"
            content = "\n".join(lines)
        else:
            content = None
        if content is not None and len(content) > self.limits.message:
            log.info("Zulip: message %s would be longer than Zulip keeps with the item struck through", mid)
        elif content is not None:
            edited: str = content
            try:
                self._request(
                    lambda c: c.update_message({"message_id": mid, "content": edited}), f"the edit of message {mid}"
                )
                if self.ledger is not None:
                    self.ledger.update_listing(listing["message"], edited)
                return
            except BackendError as exc:
                log.warning("Zulip: %s; confirming with a reaction instead", exc)
        try:
            self._request(
                lambda c: c.add_reaction({"message_id": mid, **CONFIRM_REACTION}),
                f"the confirmation reaction on message {mid}",
            )
        except BackendError as exc:
            if "REACTION_ALREADY_EXISTS" not in str(exc):
                log.error("Zulip: %s", exc)

    def _tick_listed(self, listing: dict[str, Any], item: dict[str, Any], sender: Sender) -> Message:
        """Tick one listed item through the core (its permission rules); on success the listing
        message shows it done."""
        try:
            answer = self.bot.run(("actions", "done-item"), sender, listing["meeting"], item=item["id"])
        except KeyError:  # UnknownMeeting: the meeting left the config
            return error(f"the meeting {listing['meeting']!r} of that message is no longer configured")
        if answer.ok:
            who = sender.person.initials if sender.person else (sender.name or sender.user_id or "?")
            self._mark_done(listing, item, who)
        return answer

    def _fetch_user(self, uid: int) -> dict[str, Any] | None:
        """``GET /users/{id}`` (rate limits waited out, connection problems retried): the user,
        or None (logged) when Zulip cannot say. Remembers whether they are a bot."""
        try:
            res = self._request(lambda c: c.get_user_by_id(uid), f"the lookup of user {uid}")
        except BackendError as exc:
            log.warning("Zulip: %s", exc)
            return None
        user = res.get("user") or {}
        if not user:
            log.warning("Zulip: cannot look up user %s: the answer has no user", uid)
            return None
        self._is_bot[uid] = bool(user.get("is_bot"))
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

    def on_reaction(self, event: dict[str, Any]) -> bool:
        """A ✅ on one of the bot's messages that lists a single action item ticks it (owners,
        editors and admins; anyone else is told why, once per message, by direct message).
        True if it was acted on or answered."""
        me = self._me or {}
        uid = event.get("user_id")
        if uid is None and isinstance(event.get("user"), dict):  # servers before 3.0 (feature level 1)
            uid = event["user"].get("user_id")
        mid = event.get("message_id")
        if (
            event.get("op") != "add"
            or not isinstance(uid, int)
            or not isinstance(mid, int)
            or str(uid) == str(me.get("user_id"))
            or not (is_check(event) or zreview.vote_of(event))
            or self.ledger is None
        ):
            return False
        try:
            listing = self.ledger.listing(f"zulip:{mid}")
        except Exception as exc:
            log.error("Zulip: cannot read which items message %s lists (%s)", mid, exc)
            return False
        if listing is None:
            return False  # not a message of the bot's that lists action items
        user = self._user(uid)
        if user is None:
            return False
        email, name = user
        if self._is_bot.get(uid):
            log.info("Zulip: ignored a reaction by the bot %s (bots are not answered)", email)
            return False
        if not self.limiter.allow(("reaction", uid)):
            log.warning(
                "Zulip: not acting on %s's reaction on message %s: more than %d in a row (one more every %.0f s)",
                email,
                mid,
                self.limiter.burst,
                self.limiter.refill,
            )
            return False
        sender = self._sender({"sender_email": email, "sender_full_name": name, "sender_id": uid})
        items = listing["items"]
        with self._busy:
            if self._stopping.is_set():
                return False
            if zreview.is_review(listing):  # the chair's 👍 / 👎
                return zreview.on_reaction(self, listing, event, sender, email)
            if not is_check(event):
                return False
            if len(items) != 1:
                if self.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
                    numbers = ", ".join(str(it["n"]) for it in items if it.get("n") is not None)
                    self._tell(
                        email,
                        f"That message lists {len(items)} action items ({numbers}), so a reaction "
                        "cannot say which one is done: reply `done N` to the bot with the item's "
                        "number.",
                        "the reaction hint",
                    )
                return True
            log.info("Zulip: %s reacted ✅ on message %s (action item %s)", email, mid, items[0]["id"])
            answer = self._tick_listed(listing, items[0], sender)
            if answer.ok and not answer.warnings:
                return True
            if answer.ok or self.first_delivery(f"zulip:reaction-told:{mid}:{uid}"):
                content = self.render(answer)
                if not answer.ok:
                    content = ":warning: Your ✅ did not tick the action item: " + content
                self._tell(email, content, "the answer to a reaction")
            else:
                log.info("Zulip: %s's reaction on message %s refused again (told once already)", email, mid)
        return True

    def _done_reply(self, text: str, conversation: str, sender: Sender) -> Message | None:
        """``done N`` (or ``actions done N``) in a conversation where the bot listed action items:
        item N of the newest such list, by its stable id (numbers shown then may have changed
        since). None: not such a reply (the core handles the text)."""
        m = DONE_RE.match(text.strip())
        if not m or self.ledger is None:
            return None
        try:
            listings = self.ledger.latest_listings(conversation)  # a long list came as several messages
        except Exception as exc:
            log.error("Zulip: cannot read the action items listed in this conversation (%s)", exc)
            return None
        number = int(m.group(1))
        for listing in listings:
            item = next((it for it in listing.get("items", []) if it.get("n") == number), None)
            if item is not None:
                return self._tick_listed(listing, item, sender)
        return None

    def post(self, meeting: Meeting, message: Message) -> None:
        stream = meeting.destinations.zulip_stream
        if not stream:
            raise BackendError(f"meeting {meeting.id!r} has no destinations.zulip_stream")
        self._client()
        topic = self.topic_for(meeting, message)
        content = self.render(message)
        target = {"type": "stream", "to": stream_to(stream), "topic": topic}
        sent = self.send_long(target, content, f"the {meeting.id} message to #{stream} > {topic}")
        log.info("Zulip: posted to #%s > %s", stream, topic)
        self.remember_listing(sent, message, meeting.id, conversation_key(target, stream))

    def reaches_directly(self, person: Person) -> bool:
        return bool(person.zulip_email)

    def send_direct(self, meeting: Meeting, person: Person, message: Message, key: str | None = None) -> None:
        if not person.zulip_email:
            raise BackendError(f"{person.initials} has no zulip_email in the roster: no direct message")
        self._client()
        target = {"type": "private", "to": [person.zulip_email]}
        sent = self.send_long(target, self.render(message), f"the {meeting.id} direct message to {person.initials}")
        log.info("Zulip: sent a direct message to %s", person.initials)
        self.remember_listing(sent, message, meeting.id, conversation_key(target))

    def intent_data(self, meeting: Meeting, message: Message) -> dict[str, Any]:
        """What :meth:`find_sent` needs to recognise the post after a crash: its content exactly
        as it will be sent, and its topic."""
        self._client()  # as post() does: mentions are rendered with the server's user ids
        return {"text": self.render(message), "topic": self.topic_for(meeting, message)}

    def find_sent(
        self, meeting: Meeting, key: str, since: dt.datetime, data: dict[str, Any], person: Person | None = None
    ) -> bool | None:
        """After a crash: whether the post recorded as an intent at ``since`` (``data["text"]``:
        its content) is on the server: the bot's own recent messages in the meeting's topic (or
        its direct messages with ``person``), ``GET /messages`` with a narrow. Zulip keeps no
        metadata on messages, so the content must match exactly. BackendError when the server
        cannot be asked now; None when it never can (the runner then posts)."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        creds = self.credentials()
        client = self._client()
        level = int(getattr(client, "feature_level", 0) or 0)
        me = {"operator": "sender", "operand": creds["email"]}
        if person is not None and person.zulip_email:  # the runner passes a person for a direct message
            where = f"the direct messages with {person.initials}"
            narrow = [{"operator": "dm" if level >= FEATURE_IS_DM else "pm-with", "operand": [person.zulip_email]}, me]
        else:
            stream = meeting.destinations.zulip_stream
            if not stream:
                return False
            topic = data.get("topic")
            if not isinstance(topic, str) or not topic:
                return None
            where = f"#{stream} > {topic}"
            narrow = [
                {"operator": "channel" if level >= FEATURE_CHANNEL else "stream", "operand": stream},
                {"operator": "topic", "operand": topic},
                me,
            ]
        with self._send_lock:
            res = client.get_messages(
                {
                    "anchor": "newest",
                    "num_before": FIND_RECENT,
                    "num_after": 0,
                    "narrow": narrow,
                    "apply_markdown": False,
                    "client_gravatar": True,
                }
            )
        if res.get("result") != "success":
            code = res.get("code")
            if (
                code == "RATE_LIMIT_HIT"
                or res.get("result") == "http-error"
                or res.get("status_code") in (429, 500, 502, 503, 504)
            ):
                raise BackendError(f"cannot look for the post in {where}: {self._clean(str(res.get('msg')))}")
            log.warning(
                "Zulip: cannot look for a post made before a crash in %s: %s (%s)",
                where,
                self._clean(str(res.get("msg"))),
                code,
            )
            return None
        oldest = since.timestamp() - FIND_SLACK_SECONDS
        want = text.strip()
        for m in res.get("messages") or []:
            if (
                isinstance(m, dict)
                and (m.get("timestamp") or 0) >= oldest
                and str(m.get("content") or "").strip() == want
            ):
                return True
        return False

    # -- receiving ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Before the scheduler starts: the credentials are all there (ConfigError naming what
        is missing). No network: the server is asked in ``run()``, with retries."""
        self.credentials()
        self._listening = True

    def connect(self, stop: threading.Event) -> bool:
        """Create the clients and learn who the bot is; retried until it works or ``stop``.
        Wrong credentials raise ConfigError (the operator must act)."""
        creds = self.credentials()
        backoff = _Backoff(1.0, 60.0)
        while not stop.is_set():
            try:
                client = self._client()
                with self._send_lock:
                    res = client.get_profile()
                if res.get("result") == "success":
                    self._me = res
                    self._events_client = self._new_client()
                    self._lookup_user("")  # the user list: mentions, ids and time zones
                    log.info(
                        "Zulip: connected to %s as %s (%s, user id %s)",
                        creds["site"],
                        res.get("full_name"),
                        res.get("email"),
                        res.get("user_id"),
                    )
                    return True
                code = res.get("code")
                if code in AUTH_ERRORS:
                    raise ConfigError(
                        f"Zulip at {creds['site']} refused the credentials for {creds['email']}: "
                        f"{self._clean(str(res.get('msg')))} ({code}). Check the bot's email and "
                        "API key (zuliprc or ZULIP_EMAIL/ZULIP_API_KEY)"
                    )
                if code == "RATE_LIMIT_HIT":
                    stop.wait(_retry_after(res))
                    continue
                problem = f"{creds['site']} answered {res.get('msg')} ({code or res.get('status_code')})"
            except (ConfigError, KeyboardInterrupt):
                raise
            except BackendError as exc:
                problem = str(exc)
                self._send_client = None
            except Exception as exc:
                problem = f"cannot connect to {creds['site']}: {self._describe(exc)}"
                self._send_client = None
            delay = backoff.next()
            log.warning("Zulip: %s; retrying in %.0f s", self._clean(str(problem)), delay)
            stop.wait(delay)
        return False

    def run(self, stop: threading.Event) -> None:
        if not self.connect(stop):
            return
        worker = threading.Thread(target=self._poll_forever, args=(stop,), name="zulip-events", daemon=True)
        worker.start()
        while not stop.wait(0.5):
            if not worker.is_alive():  # never expected: _poll catches everything
                log.error("Zulip: the event thread ended; restarting it")
                worker = threading.Thread(target=self._poll_forever, args=(stop,), name="zulip-events", daemon=True)
                worker.start()
        self._stopping.set()
        # let a command being handled finish (its notes edit and its answer); an idle long poll
        # is simply abandoned
        if self._busy.acquire(timeout=10):
            self._busy.release()

    def close(self) -> None:
        self._stopping.set()
        qid, self._queue_id = self._queue_id, None
        if qid and self._send_client is not None:
            try:
                # one try: the client would otherwise retry an unreachable server for ~10 s,
                # past a supervisor's stop timeout; the server drops idle queues by itself
                self._send_client.retry_on_errors = False
                self._send_client.deregister(qid, timeout=2)
            except Exception as exc:
                log.info("Zulip: could not delete the event queue: %s", self._describe(exc))

    def _poll_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._poll(stop)
            except Exception:
                log.exception("Zulip: unexpected error in the event loop; continuing")
                stop.wait(1)

    def _poll(self, stop: threading.Event) -> None:
        client = self._events_client
        backoff = _Backoff(1.0, 60.0)
        last_event_id = -1
        while not stop.is_set():
            try:
                if self._queue_id is None:
                    # the realm data has the server's limits (max_message_length, max_topic_length)
                    res = client.register(
                        event_types=["message", "reaction"],
                        fetch_event_types=["message", "realm"],
                        apply_markdown=False,
                    )
                    if res.get("result") == "success":
                        self._queue_id, last_event_id = res["queue_id"], int(res.get("last_event_id", -1))
                        self.limits = ServerLimits.from_register(res)
                        if self._seen_max is None and isinstance(res.get("max_message_id"), int):
                            # the first queue: what was sent before it is history, not commands
                            self._seen_max = res["max_message_id"]
                        log.info("Zulip: listening (event queue %s; %s)", self._queue_id, self.limits)
                        backoff.reset()
                    else:
                        self._api_problem("register", res, stop, backoff)
                    continue
                if self._catch_up_pending:
                    # after the new queue exists: what is sent from now on arrives through it
                    if self._catch_up(client, stop, backoff):
                        self._catch_up_pending = False
                        backoff.reset()
                    continue
                res = client.get_events(queue_id=self._queue_id, last_event_id=last_event_id)
            except Exception as exc:
                delay = backoff.next()
                log.warning("Zulip: connection problem (%s); retrying in %.0f s", self._describe(exc), delay)
                stop.wait(delay)
                continue
            if stop.is_set():
                return
            if res.get("result") != "success":
                if res.get("code") == "BAD_EVENT_QUEUE_ID":
                    log.warning("Zulip: the event queue %s expired; registering a new one", self._queue_id)
                    self._queue_id = None
                    self._catch_up_pending = True
                    continue
                self._api_problem("events", res, stop, backoff)
                continue
            backoff.reset()
            for event in res.get("events", []):
                try:
                    last_event_id = max(last_event_id, int(event["id"]))
                except (KeyError, TypeError, ValueError):
                    pass
                if event.get("type") == "message":
                    self._dispatch(event.get("message") or {}, event.get("flags"))
                elif event.get("type") == "reaction":
                    try:
                        self.on_reaction(event)
                    except Exception:
                        log.exception("Zulip: handling a reaction on message %s failed", event.get("message_id"))

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

    def _refuse_key(self, code: str, what: str) -> None:
        """The server refused the bot's key while running (regenerated, the bot deactivated):
        nothing works until the key is replaced, so say which credential, once, and stop (the
        process exits non-zero) rather than retry every minute."""
        creds = self._creds or {}
        credential = f"the API key in {creds['config_file']}" if creds.get("config_file") else API_KEY_ENV
        message = (
            f"Zulip refused the bot's credentials ({code}) on {what}: {credential} (for "
            f"{creds.get('email') or '?'}) no longer works; put the bot's current API key there and restart"
        )
        self.refused(API_KEY_ENV if not creds.get("config_file") else "zuliprc", message, fatal=True)

    def _api_problem(self, what: str, res: dict[str, Any], stop: threading.Event, backoff: _Backoff) -> None:
        code = res.get("code")
        if code in AUTH_ERRORS:
            self._refuse_key(code, what)  # stops the bot (the runner's stop event)
            stop.wait(backoff.next())
            return
        if code == "RATE_LIMIT_HIT" or res.get("status_code") == 429:
            delay = _retry_after(res)
            log.warning("Zulip: rate limited on %s; retrying in %.1f s", what, delay)
        else:
            delay = backoff.next()
            log.warning(
                "Zulip: %s failed: %s (%s); retrying in %.0f s",
                what,
                self._clean(str(res.get("msg"))),
                code or res.get("status_code"),
                delay,
            )
        stop.wait(delay)

    # -- commands -----------------------------------------------------------------------

    def _is_me(self, user_id: Any, name: str) -> bool:
        me = self._me or {}
        if user_id:
            return str(user_id) == str(me.get("user_id"))
        return name.strip().lower() == str(me.get("full_name", "")).strip().lower()

    def command_text(self, content: str, require_mention: bool, flags: list[str] | None = None) -> str | None:
        """The command in a message for the bot, or None (``wire.command_in``)."""
        return command_in(content, require_mention, self._is_me, flags)

    def on_message(self, msg: dict[str, Any], flags: list[str] | None) -> bool:
        """Answer the message if it is a command for the bot; True if it was one."""
        me = self._me or {}
        if (
            str(msg.get("sender_id")) == str(me.get("user_id"))
            or (msg.get("sender_email") or "").lower() == str(me.get("email", "")).lower()
        ):
            return False  # our own messages come back through the queue too
        content = msg.get("content") or ""
        kind = msg.get("type")
        if kind == "stream":
            stream = msg.get("display_recipient")
            topic = msg.get("subject") or msg.get("topic") or ""
            text = self.command_text(content, require_mention=True, flags=flags)
            if text is None:
                return False
            place = stream if isinstance(stream, str) else None
            meeting_id = self.meeting_for(place)
            # by id: a renamed stream, or one named like a number, still gets the answer
            stream_id = msg.get("stream_id")
            to = stream_id if isinstance(stream_id, int) else stream_to(str(stream))
            target: dict[str, Any] = {"type": "stream", "to": to, "topic": topic}
            where = f"#{stream} > {topic}"
            mentioned = True
        elif kind in ("private", "direct"):
            people = [r for r in (msg.get("display_recipient") or []) if isinstance(r, dict)]
            others = [r["email"] for r in people if str(r.get("id")) != str(me.get("user_id")) and r.get("email")]
            text = self.command_text(content, require_mention=len(others) > 1, flags=flags)
            if text is None:
                return False
            meeting_id = place = None
            target = {"type": "private", "to": others or [msg.get("sender_email")]}
            where = "a direct message"
            mentioned = len(others) > 1
        else:
            return False
        if self._sender_is_bot(msg):
            log.info(
                "Zulip: ignored a command from the bot %s in %s (bots are not answered)", msg.get("sender_email"), where
            )
            return False
        conversation = (target["type"], str(target["to"]), target.get("topic", ""))
        if not self.limiter.allow(conversation):
            log.warning(
                "Zulip: not running a command of %s in %s: more than %d commands in a row in this "
                "conversation (one more every %.0f s)",
                msg.get("sender_email"),
                where,
                self.limiter.burst,
                self.limiter.refill,
            )
            if self.limiter.first_refusal(conversation):
                notice = error(
                    f"too many commands in this conversation at once: this one was not run, nor will "
                    f"be any more in the next few seconds (at most {self.limiter.burst} in a row, then "
                    f"one every {self.limiter.refill:g} s). Send it again in a minute."
                )
                try:
                    self.send_long(target, ":warning: " + self.render(notice), f"the rate-limit notice in {where}")
                except BackendError as exc:
                    log.error("Zulip: %s", exc)
            return False
        sender = self._sender(msg)
        log.info("Zulip: command from %s in %s: %r", msg.get("sender_email"), where, text[:80])
        lost = multi_line_refusal(content, text)
        text = " ".join(text.split())  # one line ("agenda add" and its text may be on two lines)
        # the answer is part of the command: a stop waits for it too (the edit may have landed)
        with self._busy:
            if self._stopping.is_set():
                return False
            # where a command needs the bot's mention, the help says so: `@**Agenda Bot** agenda add TEXT`
            bot_name = str(me.get("full_name") or "")
            spelled = (
                {w: f"{mention_syntax(bot_name, None)} {w}" for w in top_words() if w != "help"}
                if mentioned and bot_name.strip()
                else None
            )
            allowed = self.bot.config.bot.allowed_places
            listed_in = conversation_key(target, place)
            done = (
                self._done_reply(text, listed_in, sender)
                if not lost and (place is None or not allowed or place in allowed)
                else None
            )
            if done is None and not lost:  # `track N` / `reject N` answering the chair's review
                done = zreview.reply(self, text, listed_in, sender)
            bare = text.strip().lstrip("/")
            if done is None and DONE_RE.match(bare) and bare.lower().startswith("done"):
                text = "actions " + bare  # `done N` with no list here: N as `actions` numbers them
            if done is None and zreview.DECIDE_RE.match(bare) and bare.lower().startswith(("track", "reject")):
                text = "actions " + bare  # `track N` with no review here: N as `actions review` numbers them
            if done is not None:
                answer = done
            elif lost:  # never keep the first line and drop the rest, nor run lines together
                answer = error(lost)
            else:
                answer = self.bot.handle(
                    text,
                    sender,
                    meeting_id,
                    allow_unknown=self.settings.allow_unknown_users,
                    place=place,
                    spelled=spelled,
                )
            content = self.render(answer)
            if not answer.ok:
                content = ":warning: " + content
            try:
                sent = self.send_long(target, content, f"the answer in {where}")
            except BackendError as exc:
                log.error("Zulip: %s", exc)
            else:
                if answer.actions or answer.reviews:  # a list: a reaction or `done N` acts on its items
                    try:
                        listed_meeting = self.bot.config.meeting(meeting_id).id
                    except KeyError:
                        listed_meeting = None
                    if listed_meeting:
                        self.remember_listing(sent, answer, listed_meeting, listed_in)
        return True

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
                res = client.get_user_by_id(uid, include_custom_profile_fields=True)
        except Exception as exc:
            log.warning("Zulip: cannot look up user %s: %s", uid, self._describe(exc))
            return None
        if res.get("result") != "success":
            log.warning("Zulip: cannot look up user %s: %s", uid, res.get("msg"))
            return None
        value = ((res.get("user") or {}).get("profile_data") or {}).get(str(self._github_field)) or {}
        login = value.get("value") if isinstance(value, dict) else None
        login = login.strip().lstrip("@") if isinstance(login, str) and login.strip() else None
        self._github_cache[uid] = login
        return login


def _retry_after(res: dict[str, Any]) -> float:
    try:
        delay = float(res.get("retry-after", 1.0))
    except (TypeError, ValueError):
        delay = 1.0
    return min(max(delay, 0.1), 120.0)
