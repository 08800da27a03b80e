"""The bot's behaviour, independent of any chat platform.

Backends turn what people type into :meth:`Bot.handle` calls and render the
:class:`~chatbot.messages.Message` they get back; the scheduler asks :meth:`Bot.reminder`
for what to post. Everything that touches notes files goes through ``chatbot.notes``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

from . import actions as act
from .calendar import converter_url
from .config import Config, Meeting, Person, format_duration
from .messages import Link, Mention, Message, Text, Time, UserText, error, format_utc, reply
from .notes.edit import EditError, add_item, agenda_items, clean_item_text, remove_item, set_checked
from .notes.files import NotesFiles
from .notes.parse import Item, NotesError, read_notes
from .schedule import UTC, Occurrence, next_occurrence, occurrences

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


class SystemClock:
    """Real time, optionally shifted: ``SystemClock(start=...)`` pretends the bot was started
    at ``start`` and lets time run on from there (set by ``CHATBOT_FAKE_NOW`` for demos and
    end-to-end tests). The scheduler applies the same shift, so reminders fire accordingly."""

    def __init__(self, start: dt.datetime | None = None):
        self.offset = (start - dt.datetime.now(UTC)) if start is not None else dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self.offset


def system_clock() -> dt.datetime:
    return dt.datetime.now(UTC)


COMMAND_WORDS = frozenset({"help", "agenda", "next", "actions", "action"})


def looks_like_command(text: str) -> bool:
    """Whether ``text`` starts with one of the bot's command words (``/`` optional)."""
    first = (text or "").strip().lstrip("/").split(maxsplit=1)
    return bool(first) and first[0].lower() in COMMAND_WORDS


@dataclass(frozen=True)
class Sender:
    """Who typed a command: a platform id and/or name, or initials given directly (CLI)."""

    platform: str
    user_id: str | None = None
    name: str | None = None
    initials: str | None = None


@dataclass
class Identity:
    initials: str
    person: Person | None


@dataclass
class Change:
    """One edit the bot made to a notes file (for hooks such as committing it to Git)."""

    path: Path
    summary: str  # e.g. "agenda: add 'Release plans' for 2026-01-07 (JRG)"
    person: Person | None = None


class EditHooks:
    """Extension points around every edit; ``before_edit`` runs under the notes lock before
    the file is read (e.g. ``git pull``), ``after_edit`` after the change was written (e.g.
    ``git commit``/``push``) and may return a warning for the person who asked."""

    def before_edit(self, meeting: Meeting) -> None:
        pass

    def after_edit(self, meeting: Meeting, changes: list[Change]) -> str | None:
        return None


@dataclass
class EditSession:
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def record(self, path: Path, summary: str, who: "Identity | None" = None) -> None:
        self.changes.append(Change(path, summary, who.person if who else None))


HELP = [
    ("agenda add TEXT", "add an item to the next meeting's agenda"),
    ("agenda list", "show the next meeting's agenda"),
    ("agenda remove N", "remove item N (your own items; admins: any)"),
    ("next", "when the next meeting is, in several time zones"),
    ("actions", "open action items from past meetings"),
    ("actions mine", "your open action items"),
    ("actions done N", "tick action item N (as numbered by `actions`) in its notes file"),
    ("help", "this help"),
]


def _quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return "'" + short.replace("'", "’") + "'"


_INITIALS = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")  # as Person.initials in the config


def spell(usage: str, spelled: Mapping[str, str] | None) -> str:
    """A command as people type it on this platform: ``agenda add TEXT`` -> ``/agenda add TEXT``
    with ``spelled = {"agenda": "/agenda"}``; ``help`` -> ``/agenda help``."""
    word, _, rest = usage.partition(" ")
    if spelled and word == "help" and "agenda" in spelled:
        return f"{spelled['agenda']} help"  # e.g. Slack: '/agenda help'
    if spelled and word in spelled:
        return f"{spelled[word]} {rest}".strip()
    return usage


def _usages(spelled: Mapping[str, str] | None, *usages: str) -> str:
    """The usages quoted and joined ("`x`, `y` or `z`"), each in the platform's spelling."""
    quoted = [f"`{spell(u, spelled)}`" for u in usages]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def initials_from_name(name: str) -> str:
    words = [w for w in re.split(r"[\s._-]+", name) if w and w[0].isalpha()]
    ini = "".join(w[0].upper() for w in words[:4])
    return ini if len(ini) >= 2 else (name[:3].upper() if name else "??")


class Bot:
    def __init__(self, config: Config, clock: Clock = system_clock, hooks: list[EditHooks] | None = None):
        self.config = config
        self.clock = clock
        self.hooks: list[EditHooks] = list(hooks or [])

    @contextlib.contextmanager
    def editing(self, meeting: Meeting):
        """Hold the meeting's notes lock for one edit; run the hooks around it."""
        session = EditSession()
        with self.files(meeting).lock():
            for hook in self.hooks:
                hook.before_edit(meeting)
            yield session
            if session.changes:
                for hook in self.hooks:
                    try:
                        warning = hook.after_edit(meeting, session.changes)
                    except Exception as exc:  # a hook never loses the edit that was made
                        log.exception("after-edit hook %s failed", type(hook).__name__)
                        warning = f"the change was saved, but {type(hook).__name__} failed: {exc}"
                    if warning:
                        session.warnings.append(warning)

    @staticmethod
    def _warn(msg: Message, session: EditSession) -> Message:
        for w in session.warnings:
            msg.add("⚠ ", w)
        return msg

    # -- helpers ----------------------------------------------------------------------

    def now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock must return an aware datetime")
        return now

    def files(self, meeting: Meeting) -> NotesFiles:
        return NotesFiles(self.config, meeting)

    def next_meeting(self, meeting: Meeting) -> Occurrence:
        occ = next_occurrence(meeting, self.now())
        if occ is None:
            raise EditError(f"{meeting.name} has no upcoming meetings in its schedule")
        return occ

    def identify(self, sender: Sender, allow_unknown: bool = False) -> Identity | Message:
        if sender.initials:
            # typed by hand (--as, [console] user): they start the item line, so they must
            # be initials as the roster has them, not text that changes the notes' structure
            initials = sender.initials.strip()
            if not _INITIALS.fullmatch(initials):
                return error(f"{initials!r} are not initials: use 1 to 8 letters and digits, starting "
                             "with a letter, e.g. JRG")
            person = self.config.person_by(initials=initials)
            return Identity(person.initials if person else initials.upper(), person)
        person = None
        if sender.platform == "slack":
            person = self.config.person_by(slack_id=sender.user_id)
        elif sender.platform == "zulip":
            person = self.config.person_by(zulip_email=sender.user_id)
        if person:
            return Identity(person.initials, person)
        if allow_unknown and sender.name:
            return Identity(initials_from_name(sender.name), None)
        field = {"slack": "slack_id", "zulip": "zulip_email"}.get(sender.platform, "initials")
        # the file's name, not its path on the bot's machine: that is no chat user's business
        where = self.config.path.name if self.config.path else "the config file"
        return error(f"I don't know who you are ({sender.user_id or sender.name or 'no id'}). "
                     f"Ask a maintainer to add you to the roster in {where}: a [[people]] entry with "
                     f"initials, name and {field} = \"{sender.user_id or '…'}\".")

    # -- commands ---------------------------------------------------------------------

    def handle(self, text: str, sender: Sender, meeting_id: str | None = None,
               allow_unknown: bool = False, place: str | None = None,
               spelled: Mapping[str, str] | None = None) -> Message:
        """Run one command typed by a person; never raises for bad input. ``place`` is the
        channel or stream it was typed in (None for direct messages and the console);
        ``spelled`` says how people type the core commands on this platform, for the help
        (Slack's slash commands: ``{"agenda": "/agenda", "next": "/next"}``)."""
        try:
            meeting = self.config.meeting(meeting_id)
        except KeyError as exc:
            return error(str(exc.args[0]))
        allowed = self.config.bot.allowed_places
        if place is not None and allowed and place not in allowed:
            log.info("command from %s refused in %s (not in bot.allowed_places)", sender.platform, place)
            return error("commands are not accepted here; use a direct message to the bot or one of the "
                         "channels the maintainers allowed")
        words = (text or "").strip()
        words = re.sub(r"^/", "", words)
        cmd, _, rest = words.partition(" ")
        cmd = cmd.lower()
        rest = rest.strip()
        try:
            if cmd in ("", "help", "agenda") and (cmd != "agenda" or not rest):
                return self.help_message(meeting, spelled)
            if cmd == "next":
                return self.next_message(meeting)
            if cmd in ("actions", "action"):
                return self.actions_command(meeting, sender, rest, allow_unknown, spelled)
            if cmd == "agenda":
                sub, _, arg = rest.partition(" ")
                sub = sub.lower()
                if sub == "add":
                    who = self.identify(sender, allow_unknown)
                    if isinstance(who, Message):
                        return who
                    return self.agenda_add(meeting, who, arg)
                if sub in ("list", "ls", "show"):
                    return self.agenda_list(meeting)
                if sub in ("remove", "rm", "delete"):
                    # allow_unknown_users lets strangers add, not remove: initials made from a
                    # display name ("Jaime R Guerra" -> JRG) may be a roster person's
                    who = self.identify(sender)
                    if isinstance(who, Message):
                        return who
                    return self.agenda_remove(meeting, who, arg)
                if sub == "help":
                    return self.help_message(meeting, spelled)
                # the typed word is user text: each platform defuses mentions and markup in it
                return error("unknown agenda command '", UserText(sub), "'. Try "
                             f"{_usages(spelled, 'agenda add TEXT', 'agenda list', 'agenda remove N', 'help')}.")
            return error("unknown command '", UserText(cmd), f"'. Try {_usages(spelled, 'help')}.")
        except (EditError, NotesError) as exc:
            log.info("command %r refused: %s", cmd, exc)  # the person is told; not the bot's problem
            return error(str(exc))

    def may_edit(self, who: Identity, owners: list[str]) -> bool:
        """Admins always; with ``[bot] editors`` set, only those people; else the owners."""
        if who.person and who.person.admin:
            return True
        editors = [e.upper() for e in self.config.bot.editors]
        if editors:
            return who.initials.upper() in editors
        return who.initials.upper() in owners

    def help_message(self, meeting: Meeting, spelled: Mapping[str, str] | None = None) -> Message:
        msg = reply(Text(f"{meeting.name} bot", bold=True), " — commands:")
        for usage, what in HELP:
            msg.add(f"• `{spell(usage, spelled)}`: {what}")
        return msg

    def agenda_add(self, meeting: Meeting, who: Identity, text: str) -> Message:
        body = clean_item_text(text, self.config.bot.max_item_length)
        line = f"- [ ] {who.initials}: {body}"
        occ = self.next_meeting(meeting)
        files = self.files(meeting)
        with self.editing(meeting) as session:
            path, _ = self.ensure_notes(meeting, occ, session)
            result = add_item(path, meeting.notes.agenda_section, line)
            session.record(path, f"agenda: add {_quote(body)} for {occ.date.isoformat()} ({who.initials})", who)
        log.info("agenda add by %s to %s line %d", who.initials, path.name, result.line)
        msg = reply(f"Added to the agenda of {meeting.name} on {occ.date.isoformat()} as item {result.number}: ",
                    UserText(f"{who.initials}: {body}"))
        msg.add(*self._notes_link(files, path))
        msg.public = reply(f"{who.initials} added an agenda item for {occ.date.isoformat()}: ", UserText(body))
        return self._warn(msg, session)

    def ensure_notes(self, meeting: Meeting, occ: Occurrence, session: EditSession) -> tuple[Path, bool]:
        """The occurrence's notes file, created from the template (with open action items
        carried over) if missing. Call inside ``editing``."""
        files = self.files(meeting)
        path, created = files.ensure(occ)
        if created:
            log.info("created notes file %s from the template", path)
            carried = self.carry_over(meeting, occ, path)
            extra = f" with {carried} open action item(s) carried over" if carried else ""
            session.record(path, f"notes: create {path.name} from the template{extra}")
        return path, created

    def carry_over(self, meeting: Meeting, occ: Occurrence, path: Path) -> int:
        section = meeting.notes.actions_section
        if not (meeting.actions.enabled and meeting.actions.carry_over and section):
            return 0
        if read_notes(path).section(section) is None:
            return 0
        items = act.open_actions(self.config, meeting, occ.date, today=self.held_until(meeting))
        for item in items:
            add_item(path, section, act.carried_line(item))
        if items:
            log.info("carried %d open action item(s) into %s", len(items), path.name)
        return len(items)

    def _file_ref(self, files: NotesFiles, path: Path, line: int | None = None) -> Link | Text:
        """A link to a notes file (to a line, where the URL pattern has an anchor), or its name."""
        label = path.name if line is None else f"{path.name}:{line}"
        url = files.url_for(path)
        if not url:
            return Text(label)
        anchor = files.meeting.notes.line_anchor
        if line is not None and anchor:
            url += anchor.replace("{line}", str(line))
        return Link(url, label)

    def _notes_link(self, files: NotesFiles, path: Path) -> tuple:
        return ("Notes: ", self._file_ref(files, path))

    def _agenda(self, meeting: Meeting, occ: Occurrence) -> tuple[Path, list[Item] | None]:
        files = self.files(meeting)
        path = files.path_for(occ)
        if not path.exists():
            return path, None
        notes = read_notes(path)
        section = notes.section(meeting.notes.agenda_section)
        if section is None:
            raise NotesError(path, f"has no '{meeting.notes.agenda_section}' section")
        return path, agenda_items(notes, section)

    def agenda_list(self, meeting: Meeting) -> Message:
        occ = self.next_meeting(meeting)
        path, items = self._agenda(meeting, occ)
        msg = reply(Text(f"Agenda for {meeting.name} on {occ.date.isoformat()}", bold=True))
        self._agenda_lines(msg, items)
        msg.add(*self._notes_link(self.files(meeting), path))
        return msg

    def _agenda_lines(self, msg: Message, items: list[Item] | None) -> None:
        if not items:
            msg.add("No items yet. Add one with `agenda add TEXT`.")
            return
        for n, it in enumerate(items, 1):
            mark = "✓ " if it.checked else ""
            msg.add(f"{n}. {mark}", UserText(it.text))

    def agenda_remove(self, meeting: Meeting, who: Identity, arg: str) -> Message:
        arg = arg.strip()
        if not re.fullmatch(r"\d{1,6}", arg):
            return error("say which item to remove by its number, e.g. `agenda remove 2` (see `agenda list`)")
        number = int(arg)
        occ = self.next_meeting(meeting)
        files = self.files(meeting)
        path = files.path_for(occ)
        if not path.exists():
            return error(f"there is no agenda for {occ.date.isoformat()} yet")

        def allowed(item: Item) -> str | None:
            owners = [o.upper() for o in item.owners]
            if item.text.startswith(f"{who.initials}:"):
                # as agenda_add wrote it: also for initials the notes parser does not read as
                # owners (the roster allows 'J', 'ABCDEF', 'Jl2'; owners are 2-5 capitals)
                owners.append(who.initials.upper())
            if self.may_edit(who, owners):
                return None
            if self.config.bot.editors:
                return f"only {', '.join(self.config.bot.editors)} (and admins) can remove agenda items"
            return (f"item {number} belongs to {', '.join(item.owners) or 'nobody in particular'}; "
                    "only its owner or an admin can remove it")

        with self.editing(meeting) as session:
            result = remove_item(path, meeting.notes.agenda_section, number, allowed)
            text = re.sub(r"^\s*([-*+]|\d+[.)])\s+(\[[ xX]\]\s*)?", "", result.text)
            session.record(path, f"agenda: remove {_quote(text)} from {occ.date.isoformat()} ({who.initials})", who)
        log.info("agenda remove %d by %s from %s", number, who.initials, path.name)
        msg = reply(f"Removed item {number} from the agenda of {occ.date.isoformat()}: ", UserText(text))
        msg.public = reply(f"{who.initials} removed an agenda item for {occ.date.isoformat()}: ", UserText(text))
        return self._warn(msg, session)

    # -- time -------------------------------------------------------------------------

    def zone_lines(self, meeting: Meeting, occ: Occurrence) -> list[str]:
        ref = occ.start_utc.date()
        out = []
        for zone in meeting.timezones:
            local = occ.start.astimezone(ZoneInfo(zone))
            shift = (local.date() - ref).days
            note = f" ({'+' if shift > 0 else '−'}{abs(shift)} day)" if shift else ""
            out.append(f"{zone}: {local.strftime('%a %H:%M')}{note}")
        return out

    def next_message(self, meeting: Meeting, count: int = 1) -> Message:
        now = self.now()
        upcoming = list(occurrences(meeting, now - meeting.duration + dt.timedelta(microseconds=1), limit=count))
        if not upcoming:
            return reply(f"{meeting.name} has no upcoming meetings in its schedule.")
        msg = Message()
        for occ in upcoming:
            status = " (in progress)" if occ.start_utc <= now else ""
            msg.add(Text(meeting.name, bold=True), " — ", Time(occ.start_utc, format_utc(occ.start)), status)
            for zl in self.zone_lines(meeting, occ):
                msg.add(f"• {zl}")
            msg.add("• ", Link(converter_url(occ.start, meeting.name), "other time zones"))
        if meeting.call_link:
            msg.add("Join: ", Link(meeting.call_link, "call link"))
        return msg

    def reminder(self, meeting: Meeting, occ: Occurrence, offset: dt.timedelta) -> Message:
        msg = Message(kind="reminder")
        left = occ.start_utc - self.now()
        if left < offset * 0.9:  # sent late (after a restart): say what is true, not "15 min"
            offset = dt.timedelta(minutes=max(1, round(left.total_seconds() / 60)))
        msg.add(Text(meeting.name, bold=True), f" starts in {format_duration(offset)}: ",
                Time(occ.start_utc, format_utc(occ.start)))
        for zl in self.zone_lines(meeting, occ):
            msg.add(f"• {zl}")
        msg.add("• ", Link(converter_url(occ.start, meeting.name), "other time zones"))
        if meeting.call_link:
            msg.add("Join: ", Link(meeting.call_link, meeting.call_link))
        try:
            path, items = self._agenda(meeting, occ)
        except (NotesError, EditError) as exc:  # the reminder goes out without the agenda
            log.warning("reminder: %s", exc)
            why = exc.problem if isinstance(exc, NotesError) else "see the bot's log"
            msg.add(f"(The notes file could not be read: {why})")
            return msg
        msg.add(*self._notes_link(self.files(meeting), path))
        msg.add(Text("Agenda so far:", bold=True))
        self._agenda_lines(msg, items)
        return msg

    # -- action items -----------------------------------------------------------------

    def held_until(self, meeting: Meeting) -> dt.date:
        """The latest notes date whose meeting has started: today in UTC, or the local date of
        the last meeting that started, if later (a meeting in Auckland starts on its own date
        while UTC is still on the day before)."""
        now = self.now()
        last = None
        for last in occurrences(meeting, now - dt.timedelta(days=2), now + dt.timedelta(microseconds=1)):
            pass
        return max(now.date(), last.date) if last else now.date()

    def open_actions(self, meeting: Meeting) -> list[act.ActionItem]:
        occ = next_occurrence(meeting, self.now())
        before = occ.date if occ else self.now().date() + dt.timedelta(days=1)
        return act.open_actions(self.config, meeting, before, today=self.held_until(meeting))

    def actions_message(self, meeting: Meeting, items: list[act.ActionItem], title: str,
                        numbered: list[act.ActionItem] | None = None) -> Message:
        msg = reply(Text(title, bold=True))
        if not items:
            msg.add("No open action items. 🎉")
            return msg
        files = self.files(meeting)
        numbering = {id(it): n for n, it in enumerate(numbered or items, 1)}
        for it in items:
            owners = ", ".join(o.label for o in it.owners)
            msg.add(f"{numbering[id(it)]}. [{it.date.isoformat()}] ", UserText(f"{owners}: {it.body}"), " — ",
                    self._file_ref(files, it.path, it.line))
        unresolved = sorted({o.describe() for it in items for o in it.owners if not o.resolved})
        if unresolved:
            msg.add("Unresolved owners (add them to the roster): ", UserText("; ".join(unresolved)))
        return msg

    def actions_command(self, meeting: Meeting, sender: Sender, rest: str, allow_unknown: bool,
                        spelled: Mapping[str, str] | None = None) -> Message:
        if not meeting.actions.enabled:
            return error(f"action items are turned off for {meeting.name} ([meetings.actions] enabled = false)")
        sub, _, arg = rest.partition(" ")
        sub = sub.lower()
        items = self.open_actions(meeting)
        if sub in ("", "list", "all"):
            return self.actions_message(meeting, items, f"Open action items ({meeting.name})")
        if sub in ("mine", "done"):
            # only reading may use initials made from a display name; ticking needs the roster
            who = self.identify(sender, allow_unknown and sub == "mine")
            if isinstance(who, Message):
                return who
            if sub == "mine":
                mine = [it for it in items if it.owned_by(who.initials)
                        or (who.person and who.person.github and it.owned_by(who.person.github))]
                return self.actions_message(meeting, mine, f"Your open action items, {who.initials}", items)
            return self.actions_done(meeting, who, arg.strip(), items)
        return error("unknown actions command '", UserText(sub),
                     f"'. Try {_usages(spelled, 'actions', 'actions mine', 'actions done N')}.")

    def actions_done(self, meeting: Meeting, who: Identity, arg: str, items: list[act.ActionItem]) -> Message:
        if not re.fullmatch(r"\d{1,6}", arg):
            return error("say which item by its number, e.g. `actions done 2` (see `actions`)")
        n = int(arg)
        if not 1 <= n <= len(items):
            return error(f"there is no open action item {n}" + (f"; there are {len(items)}" if items else ""))
        item = items[n - 1]
        owns = item.owned_by(who.initials) or bool(who.person and who.person.github
                                                    and item.owned_by(who.person.github))
        if not self.may_edit(who, [who.initials.upper()] if owns else []):
            if self.config.bot.editors:
                return error(f"only {', '.join(self.config.bot.editors)} (and admins) can tick action items")
            return error(f"action item {n} belongs to {', '.join(o.label for o in item.owners)}; "
                         "only an owner or an admin can tick it")
        with self.editing(meeting) as session:
            act.mark_done(item)  # its checkbox, or a prose item turned into a ticked one
            session.record(item.path, f"actions: done {_quote(item.text)} from {item.date.isoformat()} "
                                      f"({who.initials})", who)
            for copy in act.later_copies(self.config, meeting, item):  # carried into upcoming notes
                try:
                    set_checked(copy.path, copy.line, copy.text)
                except (EditError, NotesError) as exc:  # the item itself is ticked; say what is left
                    session.warnings.append(f"the copy in {copy.path.name} line {copy.line} is still open: {exc}")
                    continue
                session.record(copy.path, f"actions: done {_quote(copy.text)} (carried over) "
                                          f"({who.initials})", who)
        log.info("action item ticked by %s: %s line %d", who.initials, item.path.name, item.line)
        msg = reply(f"Ticked in {item.path.name}: ", UserText(item.text))
        msg.public = reply(f"{who.initials} completed an action item: ", UserText(item.text))
        return self._warn(msg, session)

    def action_pings(self, meeting: Meeting, occ: Occurrence) -> tuple[list[tuple[Person, Message]], Message]:
        """One message per resolved owner listing all their open items, and a channel summary."""
        items = act.open_actions(self.config, meeting, occ.date, today=self.held_until(meeting))
        resolved, unresolved = act.by_owner(items)
        files = self.files(meeting)
        pings = []
        for initials in sorted(resolved):
            person, theirs = resolved[initials]
            msg = Message(kind="notice").add(
                Mention(person), f" you have {len(theirs)} open action item(s) before {meeting.name} on ",
                Time(occ.start_utc, format_utc(occ.start)), ":")
            for it in theirs:
                msg.add(f"• [{it.date.isoformat()}] ", UserText(it.body), " — ", self._file_ref(files, it.path, it.line))
            pings.append((person, msg))
        summary = Message(kind="notice").add(
            Text(f"Open action items before {meeting.name}", bold=True), f" ({occ.date.isoformat()}): {len(items)}")
        for initials in sorted(resolved):
            person, theirs = resolved[initials]
            summary.add("• ", Mention(person), f": {len(theirs)}")
        for token in sorted(unresolved):
            summary.add("• ", UserText(token), f": {len(unresolved[token])} (unresolved: not in the roster)")
        return pings, summary
