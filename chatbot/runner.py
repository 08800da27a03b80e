"""Running the bot: scheduled jobs (reminders, action-item pings) plus one backend, until a
signal stops it."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from . import planning, review
from .backends.base import Backend, BackendError
from .bot import Bot
from .config import ConfigError, Meeting, Person, format_duration, load_config
from .gitsync import GitSync, hooks_for, push_retry_every, retry_pushes
from .health import health_of
from .schedule import UTC, DueReminder, Occurrence, next_reminder
from .messages import Mention, Message, Text, UserText
from .lease import Keeper, Lease
from .outbox import Outbox
from .state import Ledger
from .stores.hackmd_config import weekly_enabled

log = logging.getLogger(__name__)

PIPELINE_EVERY_MINUTES = 10
REVIEW_EVERY_MINUTES = 5  # the chair's review is judged this often (and at start)


class ReminderTrigger(BaseTrigger):
    """APScheduler trigger that fires at each reminder time of one meeting (or at the
    given offsets before each occurrence)."""

    def __init__(self, meeting: Meeting, offsets: list[dt.timedelta] | None = None):
        self.meeting = meeting
        self.offsets = offsets

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        after = now
        if previous_fire_time is not None:
            after = max(now, previous_fire_time + dt.timedelta(microseconds=1))
        due = next_reminder(self.meeting, after.astimezone(UTC), self.offsets)
        return due.due if due else None

    def __str__(self) -> str:
        return f"reminders[{self.meeting.id}]"


class ShiftedTrigger(ReminderTrigger):
    """A ReminderTrigger in the bot's clock (which may be shifted from real time)."""

    def __init__(self, meeting: Meeting, offset: dt.timedelta, offsets: list[dt.timedelta] | None = None):
        super().__init__(meeting, offsets)
        self.offset = offset

    def get_next_fire_time(self, previous_fire_time, now):
        prev = previous_fire_time + self.offset if previous_fire_time else None
        fire = super().get_next_fire_time(prev, now + self.offset)
        return fire - self.offset if fire else None


class PingTrigger(BaseTrigger):
    """Fires at each moment one of the meeting's action-item pings falls due: ``ping_before``
    the meeting (the channel summary, and everyone without a time zone) and each person's own
    moment inside their waking hours (:func:`chatbot.planning.ping_moment`). It also fires every
    ``recheck`` at the latest, so a zone the platform reports later is still honoured."""

    def __init__(self, reminders: Reminders, meeting: Meeting, offset: dt.timedelta, recheck: dt.timedelta):
        self.reminders = reminders
        self.meeting = meeting
        self.offset = offset
        self.recheck = recheck

    def get_next_fire_time(self, previous_fire_time, now):
        after = now + self.offset
        if previous_fire_time is not None:
            after = max(after, previous_fire_time + self.offset + dt.timedelta(microseconds=1))
        due = self.reminders.next_ping_moment(self.meeting, after.astimezone(UTC))
        fire = min(due, after + self.recheck) if due is not None else after + self.recheck
        return fire - self.offset

    def __str__(self) -> str:
        return f"pings[{self.meeting.id}]"


def default_ledger(bot: Bot) -> Ledger:
    directory = bot.config.resolve(bot.config.bot.state_dir)
    try:
        return Ledger(directory / "chatbot.sqlite3")
    except (OSError, sqlite3.Error) as exc:  # not writable (a container's volume), not a directory
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"{bot.config.path}: bot.state_dir: cannot use {directory} for the bot's ledger "
            f"of sent reminders ({reason})"
        ) from None


class Zones:
    """People's time zones for ``waking_hours``: the roster's, else what the platform reports
    (learned from it, checked; an unknown zone is said once and ignored)."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._bad_zones: set[tuple[str, str]] = set()  # (initials, zone) the platform gave, unknown here

    def learn(self, meetings: Iterable[Meeting]) -> None:
        """Where one of ``meetings`` pings within waking hours: what the platform says about
        people (their time zones), refreshed if stale."""
        if any(planning.pings_in_waking_hours(m) for m in meetings):
            try:
                learn = getattr(self.backend, "learn_people", None)
                if learn is not None:
                    learn()
            except Exception as exc:  # only the waking hours suffer: zones fall back to the roster's
                log.warning("cannot look up people's time zones on %s: %s", self.backend.name, exc)

    def zone_of(self, person: Person) -> str | None:
        """The person's time zone for ``waking_hours``: the roster's, else the platform's."""
        if person.timezone:
            return person.timezone
        try:
            lookup = getattr(self.backend, "timezone_of", None)
            zone = lookup(person) if lookup is not None else None
        except Exception as exc:  # a lookup problem only costs the waking hours
            log.warning(
                "cannot learn %s's time zone from %s (%s); pinging at ping_before",
                person.initials,
                self.backend.name,
                exc,
            )
            return None
        if not zone:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            if (person.initials, zone) not in self._bad_zones:  # said once, not at every recheck
                self._bad_zones.add((person.initials, zone))
                log.warning(
                    "%s reports the unknown time zone %r for %s; pinging at ping_before",
                    self.backend.name,
                    zone,
                    person.initials,
                )
            return None
        return zone


class Reminders:
    """Fires every meeting's reminders, action-item pings, the chair's review and the notes
    pipeline: APScheduler jobs at the moments :mod:`chatbot.planning` says, each message posted
    once (the ledger remembers what was sent, across restarts)."""

    def __init__(self, bot: Bot, backend: Backend, ledger: Ledger | None = None):
        self.bot = bot
        self.backend = backend
        self.ledger = ledger if ledger is not None else default_ledger(bot)
        if getattr(backend, "ledger", None) is None:  # what the backend remembers goes there too
            backend.ledger = self.ledger
        bot.ledger = self.ledger  # the chair's review decisions are kept there too
        backend.people_changed = self.people_changed
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()
        self.outbox = Outbox(backend, self.ledger, lambda: self.bot.config.bot.reminder_grace, self.scheduler.add_job)
        self.zones = Zones(backend)
        self._stopping = False

    def start(self) -> None:
        try:
            self.ledger.prune()  # old handled deliveries and unconfirmed intents
        except sqlite3.Error as exc:
            log.warning("cannot prune the ledger: %s", exc)
        self.learn_people()
        self.schedule()
        self.scheduler.start()
        self._log_jobs("scheduled")
        try:
            self.log_missed()
        except Exception:  # only a log line: it never stops the start
            log.exception("cannot list the reminders missed while the bot was down")
        self.catch_up()

    def _log_jobs(self, verb: str) -> None:
        log_jobs(self.scheduler, getattr(self.bot.clock, "offset", dt.timedelta(0)), verb)

    def log_missed(self) -> None:
        """At start: log the reminders and ping rounds that fell due while the bot was down
        (in the last day, or the longest offset) and will not be sent: too late, or the
        meeting already started."""
        log_missed(self.bot, self.backend, self.outbox)

    def catch_up(self) -> None:
        """Send what fell due while the bot was down, still within the grace period."""
        for meeting in self.bot.config.meetings:
            if self.backend.wants(meeting):
                for job in (self.fire, self.fire_pings, self.fire_pipeline, self.fire_review):
                    try:
                        job(meeting.id)
                    except Exception:  # one meeting's problem stops neither the start nor the others
                        log.exception("catching up on %s for %s failed", job.__name__, meeting.id)

    def reschedule(self) -> None:
        """After a config reload: replace every job; the ledger prevents duplicates."""
        self.scheduler.remove_all_jobs()
        self.learn_people()
        self.schedule()
        self._log_jobs("rescheduled")
        self.catch_up()

    def schedule(self) -> None:
        offset = getattr(self.bot.clock, "offset", dt.timedelta(0))
        grace = max(int(self.bot.config.bot.reminder_grace.total_seconds()), 1)

        def add(func: Callable, trigger, job_id: str, meeting: Meeting, **trigger_args) -> None:
            self.scheduler.add_job(
                func,
                trigger,
                args=[meeting.id],
                id=job_id,
                coalesce=True,
                misfire_grace_time=grace,
                max_instances=1,
                **trigger_args,
            )

        for meeting in self.bot.config.meetings:
            if not self.backend.wants(meeting):
                continue
            if meeting.reminders:
                add(self.fire, ShiftedTrigger(meeting, offset), f"reminders:{meeting.id}", meeting)
            if planning.pings_enabled(meeting):
                add(self.fire_pings, self._ping_trigger(meeting), f"pings:{meeting.id}", meeting)
            if meeting.actions.enabled and meeting.actions.review_after is not None:
                if not review.reviewers(self.bot.config):
                    log.warning(
                        "nobody reviews the action items of %s (no chair or admin in the roster): items "
                        "guessed from prose are not pinged",
                        meeting.id,
                    )
                add(self.fire_review, "interval", f"review:{meeting.id}", meeting, minutes=REVIEW_EVERY_MINUTES)
            if weekly_enabled(meeting):
                # publish, sync and nudge are judged every few minutes (each done once, see
                # weekly.due_steps): a missed moment is caught up on the next tick
                add(self.fire_pipeline, "interval", f"pipeline:{meeting.id}", meeting, minutes=PIPELINE_EVERY_MINUTES)
        if every := push_retry_every(self.bot):  # commits a failed push left behind
            self.scheduler.add_job(
                retry_pushes,
                "interval",
                seconds=max(every.total_seconds(), 1),
                args=[self.bot],
                id="git-push-retry",
                coalesce=True,
                max_instances=1,
            )

    def due(
        self,
        meeting: Meeting,
        now: dt.datetime,
        offsets: list[dt.timedelta] | None = None,
        kind: str | None = "reminder",
    ) -> list[DueReminder]:
        """Reminders due now (within the grace period) and, with ``kind``, not yet sent."""
        due = planning.due_reminders(meeting, now, self.bot.config.bot.reminder_grace, offsets)
        return [r for r in due if kind is None or not self.was_sent(self.key(kind, meeting, r))]

    # what sending once means lives in the outbox; these names are where the jobs use it
    def key(self, kind: str, meeting: Meeting, r: DueReminder, who: str = "") -> str:
        return self.outbox.key(kind, meeting, r, who)

    def was_sent(self, key: str) -> bool:
        return self.outbox.was_sent(key)

    def retry_delay(self) -> dt.timedelta:
        return self.outbox.retry_delay()

    def fire(self, meeting_id: str, retry: bool = True) -> list[bool]:
        """Post the meeting's reminders that are due and not yet sent; whether each went out.
        With ``retry`` a failed one is tried again later by the scheduler."""
        meeting = self.bot.config.meeting(meeting_id)
        results = []
        with self._lock:
            for r in self.due(meeting, self.bot.now()):
                message = self.bot.reminder(meeting, r.occurrence, r.offset)
                key = self.key("reminder", meeting, r)
                send, find, intent = self.outbox.prepared(meeting, message, key)
                results.append(
                    self.outbox.send(
                        key,
                        f"the {r.offset} reminder for {meeting.id} at {r.occurrence.start_utc.isoformat()}",
                        send,
                        (lambda: self.fire(meeting_id)) if retry else None,
                        f"retry:reminders:{meeting_id}",
                        find,
                        intent,
                    )
                )
        return results

    # -- action-item pings, each at its owner's own moment ----------------------------------

    def _ping_trigger(self, meeting: Meeting) -> PingTrigger:
        offset = getattr(self.bot.clock, "offset", dt.timedelta(0))
        return PingTrigger(self, meeting, offset, planning.ping_recheck(self.bot.config.bot.reminder_grace))

    def people_changed(self) -> None:
        """The backend learned new time zones (e.g. once connected): the ping moments are
        computed again, soon, in the scheduler's thread (this returns at once)."""
        if self.scheduler.running:
            self.scheduler.add_job(
                self._recompute_pings,
                "date",
                run_date=dt.datetime.now(UTC),
                id="people-changed",
                replace_existing=True,
                misfire_grace_time=None,
            )

    def _recompute_pings(self) -> None:
        for meeting in self.bot.config.meetings:
            job = self.scheduler.get_job(f"pings:{meeting.id}")
            if job is None:
                continue
            job.reschedule(self._ping_trigger(meeting))
            try:
                self.fire_pings(meeting.id)  # a moment that moved into the recent past
            except Exception:
                log.exception("sending the pings of %s after the time zones changed failed", meeting.id)
        self._log_jobs("after the time zones changed:")

    def learn_people(self) -> None:
        """Where some meeting pings within waking hours: what the platform says about people
        (their time zones), refreshed if stale, before the moments are computed."""
        self.zones.learn(m for m in self.bot.config.meetings if self.backend.wants(m))

    def ping_moment(self, meeting: Meeting, occ: Occurrence, person: Person | None) -> dt.datetime:
        """When ``person``'s ping about ``occ`` is due (None: the channel summary, at ping_before)."""
        return planning.ping_moment(meeting, occ, person, self.zones.zone_of)

    def next_ping_moment(self, meeting: Meeting, after: dt.datetime) -> dt.datetime | None:
        """The next moment at or after ``after`` when a ping or the summary of ``meeting`` falls due."""
        return planning.next_ping_moment(meeting, after, self.bot.config.people, self.zones.zone_of)

    def fire_pings(self, meeting_id: str, retry: bool = True) -> list[bool]:
        """The action-item pings and summary that are due and not yet sent; whether each went out.
        Each owner's ping is due at their own moment (``waking_hours`` in their zone), the
        channel summary at ``ping_before``; each is sent once (the ledger's keys are per round
        and person), within ``reminder_grace`` of its moment and never after the meeting started."""
        meeting = self.bot.config.meeting(meeting_id)
        results: list[bool] = []
        if not planning.pings_enabled(meeting):
            return results
        if meeting.actions.waking_hours and next(
            planning.ping_occurrences(meeting, self.bot.now(), self.bot.now()), None
        ):
            self.learn_people()
        with self._lock:
            now = self.bot.now()
            for occ in list(planning.ping_occurrences(meeting, now, now + dt.timedelta(seconds=1))):
                results += self._fire_ping_round(meeting_id, meeting, occ, now, retry)
        return results

    def _fire_ping_round(
        self, meeting_id: str, meeting: Meeting, occ: Occurrence, now: dt.datetime, retry: bool
    ) -> list[bool]:
        """The pings about ``occ`` due at ``now`` and not yet sent, then its summary if due."""
        grace = self.bot.config.bot.reminder_grace
        r = planning.ping_round(meeting, occ)  # the round: the ledger's keys
        summary_key = self.key("summary", meeting, r)
        moments = {p.initials: self.ping_moment(meeting, occ, p) for p in self.bot.config.people}
        summary_due = planning.ping_due(r.due, occ, now, grace) and not self.was_sent(summary_key)
        if not summary_due and not any(
            planning.ping_due(m, occ, now, grace) and not self.was_sent(self.key("ping", meeting, r, i))
            for i, m in moments.items()
        ):
            return []
        pings, _ = self.bot.action_pings(meeting, occ)
        again = (lambda: self.fire_pings(meeting_id)) if retry else None
        retry_id = f"retry:pings:{meeting_id}"
        results: list[bool] = []
        reached: set[str] = set()
        for person, message in pings:
            key = self.key("ping", meeting, r, person.initials)
            moment = moments.get(person.initials) or self.ping_moment(meeting, occ, person)
            if not self.was_sent(key) and not planning.ping_due(moment, occ, now, grace):
                if moment > now:  # their own ping comes later, in their waking hours
                    reached.add(person.initials)
                continue
            send, find, intent = self.outbox.prepared(meeting, message, key, person)
            ok = self.outbox.send(
                key, f"action-item ping to {person.initials} for {meeting.id}", send, again, retry_id, find, intent
            )
            results.append(ok)
            if ok:
                reached.add(person.initials)
        if not summary_due:
            return results
        # the summary mentions only who could not be reached by their own ping (by
        # default): nobody is notified twice about the same items
        _, summary = self.bot.action_pings(
            meeting, occ, mention=_summary_mentions(meeting.actions.summary_mentions, reached)
        )
        send, find, intent = self.outbox.prepared(meeting, summary, summary_key)
        results.append(
            self.outbox.send(summary_key, f"action-item summary for {meeting.id}", send, again, retry_id, find, intent)
        )
        return results

    def fire_review(self, meeting_id: str) -> list[bool]:
        """The chair's review of the last meeting's candidate action items, once it is due
        (``review_after`` after the meeting; with the weekly notes PR, once the notes were
        synced) and if there is something to ask; sent once to each reviewer (ledger keys)."""
        meeting = self.bot.config.meeting(meeting_id)
        with self._lock:
            occ = planning.review_due(meeting, self.bot.now())
            if occ is None:
                return []
            if planning.review_waits_for_sync(meeting):
                synced = f"pipeline-sync:{self.backend.name}:{meeting.id}:{occ.date.isoformat()}"
                if not self.was_sent(synced):
                    return []  # the notes are final once synced
            return send_review(self.bot, self.backend, self.outbox, meeting, occ)

    def fire_pipeline(self, meeting_id: str) -> None:
        """The weekly notes pipeline's steps that are due (publish, sync, nudge), each once."""
        meeting = self.bot.config.meeting(meeting_id)
        if weekly_enabled(meeting):
            run_pipeline(self.bot, self.backend, self.outbox, meeting)

    def stop(self) -> None:
        # No job may add a retry once the shutdown began: APScheduler's shutdown(wait=True)
        # holds the job store lock while it waits for running jobs, and add_job needs that
        # lock (a stop from inside a send, e.g. a refused token, deadlocked here). Jobs add
        # retries under self._lock: once it was free with _stopping set, none will.
        self._stopping = True
        self.outbox.stopping = True
        with self._lock:
            pass
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.ledger.close()


def log_jobs(scheduler: BackgroundScheduler, offset: dt.timedelta, verb: str) -> None:
    """One line per scheduled job: when it runs next, in the bot's clock (``offset`` from real time)."""
    for job in scheduler.get_jobs():
        nxt = job.next_run_time
        log.info(
            "%s %s, next at %s",
            verb,
            job.id,
            (nxt + offset).astimezone(UTC).isoformat(timespec="seconds") if nxt else "never",
        )


def log_missed(bot: Bot, backend: Backend, outbox: Outbox) -> None:
    """The reminders and ping rounds of ``backend``'s meetings that fell due in the last day
    (or the longest offset) and will not be sent, one warning each (what was sent is not)."""
    now = bot.now()
    grace = bot.config.bot.reminder_grace
    for meeting in bot.config.meetings:
        if not backend.wants(meeting):
            continue
        for m in planning.missed(meeting, now, grace):
            if outbox.was_sent(outbox.key(m.kind, meeting, m.reminder)):
                continue
            log.warning(
                "not sent: the %s %s for %s at %s, due at %s (%s)",
                format_duration(m.reminder.offset),
                m.what,
                meeting.id,
                m.reminder.occurrence.start_utc.isoformat(),
                m.reminder.due.isoformat(),
                m.why(now, grace),
            )


def run_pipeline(bot: Bot, backend: Backend, outbox: Outbox, meeting: Meeting) -> None:
    """The weekly notes pipeline's steps of ``meeting`` that are due (publish, sync, nudge),
    each done once (ledger keys); a failed step is tried again on the next tick while due."""
    from .stores import weekly  # HackMD and GitHub clients: loaded only where the pipeline runs

    pipe = weekly.Weekly(bot, meeting)
    for step, occ in weekly.due_steps(meeting, bot.now()):
        key = f"pipeline-{step}:{backend.name}:{meeting.id}:{occ.date.isoformat()}"
        if outbox.was_sent(key):
            continue
        what = f"the notes pipeline's {step} of {meeting.id} {occ.date.isoformat()}"
        try:
            if step == "publish":
                pipe.publish(occ.date)
            elif step == "sync":
                result = pipe.sync(occ.date)
                if not result.ok:  # reported on the pull request; tell the meeting's channel too
                    message = Message(kind="notice").add(
                        Text(f"{meeting.name} notes", bold=True), ": ", UserText(result.summary)
                    )
                    send, find, intent = outbox.prepared(meeting, message, key + ":conflict")
                    outbox.send(key + ":conflict", what + " (conflict)", send, None, "", find, intent)
            else:
                _nudge(bot, outbox, pipe, meeting, occ, key, what)
                continue
        except weekly.Failure as exc:  # tried again on the next tick while the step is due
            log.error("%s failed: %s", what, exc)
            continue
        outbox.record_sent(key, what, verb="done:")


def _nudge(bot: Bot, outbox: Outbox, pipe, meeting: Meeting, occ, key: str, what: str) -> None:
    pr = pipe.pull_request(occ.date)
    synced = pipe.synced_since_meeting(occ.date)
    if pr is None or pr.state != "open":  # merged (or closed): nothing to chase
        outbox.record_sent(key, what, verb="not needed:")
        return
    message = pipe.nudge_message(occ.date, pr, synced)
    chairs = [p for p in bot.config.people if p.chair]
    for person in chairs:
        k = f"{key}:{person.initials}"
        send, find, intent = outbox.prepared(meeting, message, k, person)
        outbox.send(k, f"{what} to {person.initials}", send, None, "", find, intent)
    if not chairs:  # nobody is the chair: the meeting's channel is told
        send, find, intent = outbox.prepared(meeting, message, key + ":channel")
        outbox.send(key + ":channel", what, send, None, "", find, intent)
    outbox.record_sent(key, what, verb="sent")


def send_review(bot: Bot, backend: Backend, outbox: Outbox, meeting: Meeting, occ: Occurrence) -> list[bool]:
    """The review message to each reviewer not sent it yet: by direct message where the
    platform reaches them, else in the meeting's channel, mentioning them. Nothing when every
    candidate is decided (or there is none)."""
    people = review.reviewers(bot.config)
    keys = {p.initials: f"review:{backend.name}:{meeting.id}:{occ.start_utc.isoformat()}:{p.initials}" for p in people}
    waiting = [p for p in people if not outbox.was_sent(keys[p.initials])]
    if not waiting:
        return []
    results: list[bool] = []
    for person in waiting:
        message = bot.review(meeting, occ, backend.spelled())
        if message is None:
            log.debug("no candidate action items to review for %s %s", meeting.id, occ.date)
            return results
        direct = backend.reaches_directly(person)
        if not direct:
            message.lines[0] = (Mention(person), Text(" "), *message.lines[0])
        send, find, intent = outbox.prepared(meeting, message, keys[person.initials], person, direct)
        what = f"the review of {meeting.id} {occ.date.isoformat()}'s action items to {person.initials}"
        results.append(outbox.send(keys[person.initials], what, send, None, "", find, intent))
    return results


def _summary_mentions(wanted: str, reached: set[str]) -> Callable[[Person], bool]:
    """Whom the action-item summary mentions: ``unreached`` (owners whose own ping was not
    delivered), ``all`` or ``none`` (``[meetings.actions] summary_mentions``)."""

    def mention(person: Person) -> bool:
        return wanted == "all" or (wanted == "unreached" and person.initials not in reached)

    return mention


class ConfigWatcher:
    """Reloads the config on SIGHUP or when the file changes; a bad new config is logged and
    the running one kept."""

    def __init__(self, bot: Bot, reminders: Reminders, poll: float = 2.0):
        self.bot = bot
        self.reminders = reminders
        self.poll = poll
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._stamp = self._mtime()

    def _mtime(self):
        path = self.bot.config.path
        try:
            return path.stat().st_mtime_ns if path else None
        except OSError:
            return None

    def loop(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(self.poll)
            if self.stop.is_set():
                return
            stamp = self._mtime()
            if self.wake.is_set() or (stamp is not None and stamp != self._stamp):
                self.wake.clear()
                self._stamp = stamp
                try:
                    self.reload()
                except Exception:  # never let one bad reload stop every later one
                    log.exception(
                        "reloading the config failed; the watcher goes on (fix the config "
                        "and save it again or send SIGHUP)"
                    )

    def reload(self) -> bool:
        path = self.bot.config.path
        if path is None:
            return False
        try:
            config = load_config(path)
        except ConfigError as exc:
            log.error("config not reloaded, keeping the running one: %s", exc)
            return False
        except Exception as exc:  # a check that failed in an unforeseen way: still one line
            log.error("config not reloaded, keeping the running one: %s: %s", type(exc).__name__, exc)
            return False
        self.bot.config = config
        # the Git hooks follow the new config ([meetings.git] turned on or off, notes moved)
        self.bot.hooks = [h for h in self.bot.hooks if not isinstance(h, GitSync)] + hooks_for(config)
        self.reminders.reschedule()
        log.info("config reloaded from %s", path)
        return True


def run(bot: Bot, backend: Backend) -> int:
    stop = threading.Event()
    rem = Reminders(bot, backend)
    backend.ledger = rem.ledger  # deliveries handled are remembered there (redeliveries act once)
    backend._stop = stop  # a credential refused for good stops the bot (Backend.refused)
    watcher = ConfigWatcher(bot, rem)
    # one copy acts per platform and state directory; its own connection, released after the last send
    lease = Lease(default_ledger(bot), backend.name)

    def on_signal(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum, _frame):
        log.info("received SIGHUP, reloading the config")
        watcher.wake.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, on_hup)
    if backend.serves_http:  # the status pages beside the backend's own endpoint (Slack's HTTP mode)
        from .web import make_app

        backend.pages = make_app(bot)
    backend.prepare()
    web = _web_while_waiting(bot)  # a waiting copy answers /healthz ("standby") too

    def on_wait(holder: str | None) -> None:
        health_of(bot).standby = holder

    if not lease.wait(stop, on_wait):  # stopped while another copy held the lease: nothing was started
        _stop_web(web)
        rem.ledger.close()
        lease.ledger.close()
        log.info("chatbot stopped")
        return 0
    keeper = Keeper(lease, on_lost=stop.set)
    keeper.start()
    rem.outbox.holds = lease.holds
    try:
        return _serve(bot, backend, rem, watcher, stop, keeper, web)
    finally:
        keeper.stop(release=True)
        lease.ledger.close()


def _web_while_waiting(bot: Bot):
    """The status pages started before the lease is taken; None if not enabled, or when the
    address is taken (another copy on this machine serves it: this one serves them once it
    holds the lease)."""
    try:
        return start_web(bot)
    except ConfigError as exc:
        log.warning("%s; trying again once this copy holds the lease", exc)
        return None


def _stop_web(web) -> None:
    if web is not None:
        web.shutdown()
        web.server_close()


def _serve(
    bot: Bot,
    backend: Backend,
    rem: Reminders,
    watcher: ConfigWatcher,
    stop: threading.Event,
    keeper: Keeper,
    web=None,
) -> int:
    """The bot at work, once it holds the lease: web pages, reminders, the config watcher and
    the backend's commands until ``stop``."""
    if web is None:
        web = start_web(bot)
    rem.start()
    threading.Thread(target=watcher.loop, name="config-watcher", daemon=True).start()
    log.info("chatbot ready: backend=%s, meetings=%s", backend.name, ", ".join(m.id for m in bot.config.meetings))
    try:
        if backend.fatal is None:
            backend.run(stop)
    finally:
        watcher.stop.set()
        watcher.wake.set()
        rem.stop()
        backend.close()
        _stop_web(web)
        log.info("chatbot stopped")
    if backend.fatal:
        raise BackendError(backend.fatal)  # exit status 3, with the message
    if keeper.lost:
        log.error("stopped because another copy of the bot took the lease over")
        return 4
    return 0


def start_web(bot: Bot):
    """With ``[web] enabled`` (or ``$CHATBOT_WEB``): the status pages, calendars and ``/healthz``
    served by this process, in a thread; None when not enabled."""
    settings = bot.config.web
    if not settings.enabled:
        return None
    from .web import make_http_server

    try:
        server = make_http_server(bot, settings.host, settings.port)
    except OSError as exc:  # address in use, no permission for a low port, unknown host
        raise ConfigError(
            f"{bot.config.path}: web: cannot serve the status pages on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}"
        ) from None
    threading.Thread(target=server.serve_forever, name="chatbot-web", daemon=True).start()
    log.info(
        "serving the status pages on http://%s:%d/ (/healthz for health checks)",
        settings.host,
        server.server_address[1],
    )
    return server
