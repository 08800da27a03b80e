"""Running the bot: the reminder scheduler plus one backend, until a signal stops it."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from .backends.base import Backend
from .bot import Bot
from .config import Meeting
from .schedule import UTC, DueReminder, ReminderTrigger, reminders

log = logging.getLogger(__name__)


class ShiftedTrigger(ReminderTrigger):
    """A ReminderTrigger in the bot's clock (which may be shifted from real time)."""

    def __init__(self, meeting: Meeting, offset: dt.timedelta):
        super().__init__(meeting)
        self.offset = offset

    def get_next_fire_time(self, previous_fire_time, now):
        prev = previous_fire_time + self.offset if previous_fire_time else None
        fire = super().get_next_fire_time(prev, now + self.offset)
        return fire - self.offset if fire else None


class Reminders:
    """Schedules every meeting's reminders with APScheduler and posts each one once."""

    def __init__(self, bot: Bot, backend: Backend):
        self.bot = bot
        self.backend = backend
        self.sent: set[tuple[str, dt.datetime, dt.timedelta]] = set()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()

    def start(self) -> None:
        offset = getattr(self.bot.clock, "offset", dt.timedelta(0))
        grace = int(self.bot.config.bot.reminder_grace.total_seconds())
        for meeting in self.bot.config.meetings:
            if not meeting.reminders or not self.backend.wants(meeting):
                continue
            self.scheduler.add_job(self.fire, ShiftedTrigger(meeting, offset), args=[meeting.id],
                                   id=f"reminders:{meeting.id}", coalesce=True,
                                   misfire_grace_time=max(grace, 1), max_instances=1)
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("scheduled %s, next at %s", job.id, job.next_run_time)

    def due(self, meeting: Meeting, now: dt.datetime) -> list[DueReminder]:
        """Reminders due now (within the grace period) and not yet sent."""
        out = []
        grace = self.bot.config.bot.reminder_grace
        for r in reminders(meeting, now - grace):
            if r.due > now + dt.timedelta(seconds=1):
                break
            if r.occurrence.start_utc <= now and r.offset < grace:
                # never say "starts in 15 minutes" after it started
                continue
            if (meeting.id, r.occurrence.start_utc, r.offset) not in self.sent:
                out.append(r)
        return out

    def fire(self, meeting_id: str) -> None:
        meeting = self.bot.config.meeting(meeting_id)
        now = self.bot.now()
        with self._lock:
            for r in self.due(meeting, now):
                message = self.bot.reminder(meeting, r.occurrence, r.offset)
                try:
                    self.backend.post(meeting, message)
                except Exception:  # the bot keeps running; the backend logged the details
                    log.exception("posting the %s reminder for %s failed", r.offset, meeting.id)
                    continue
                self.sent.add((meeting.id, r.occurrence.start_utc, r.offset))
                log.info("posted reminder for %s at %s (%s before)", meeting.id,
                         r.occurrence.start_utc.isoformat(), r.offset)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)


def run(bot: Bot, backend: Backend) -> int:
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    rem = Reminders(bot, backend)
    rem.start()
    log.info("chatbot ready: backend=%s, meetings=%s", backend.name,
             ", ".join(m.id for m in bot.config.meetings))
    try:
        backend.run(stop)
    finally:
        rem.stop()
        backend.close()
        log.info("chatbot stopped")
    return 0
