"""The ``chatbot`` command line."""

from __future__ import annotations

import argparse
import faulthandler
import signal
import threading
import datetime as dt
import logging
import os
import sys

from . import __version__
from .backends import BACKENDS
from .backends.base import Backend, BackendError
from .bot import Bot, Sender, SystemClock
from .config import CONFIG_ENV, ConfigError, default_config_path, load_config, notes_store
from .commands import subcommands
from .actions import item_id as act_item_id
from .compose import actions_message
from .messages import Message, render_plain
from .notes.edit import EditError
from .notes.parse import NotesError
from .schedule import UTC, occurrence_on
from .terminal import for_terminal
from .gitsync import hooks_for

log = logging.getLogger("chatbot")

FAKE_NOW_ENV = "CHATBOT_FAKE_NOW"
BACKEND_ENV = "CHATBOT_BACKEND"


def _clock() -> SystemClock:
    fake = os.environ.get(FAKE_NOW_ENV)
    if not fake:
        return SystemClock()
    try:
        start = dt.datetime.fromisoformat(fake.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{FAKE_NOW_ENV}: not an ISO date-time with a zone: {fake!r}") from None
    if start.tzinfo is None:
        raise ConfigError(f"{FAKE_NOW_ENV}: give a time zone, e.g. 2026-01-07T16:45:00Z")
    return SystemClock(start)


def _emit(message: Message) -> int:
    text = for_terminal(render_plain(message))  # notes may hold escape sequences: never printed raw
    if message.ok:
        print(text)
        for warning in message.warnings:  # done, but not published (e.g. a push Git refused)
            print(f"error: {for_terminal(str(warning))}", file=sys.stderr)
        return 1 if message.warnings else 0
    print(f"error: {text}", file=sys.stderr)
    return 1


def cmd_run(args, config) -> int:
    from .backends.base import backend_class
    from .runner import run

    name = args.backend or os.environ.get(BACKEND_ENV) or "console"
    try:
        cls = backend_class(name)
    except ValueError as exc:  # only $CHATBOT_BACKEND can name one argparse does not know
        print(f"error: {BACKEND_ENV}: {exc}", file=sys.stderr)
        return 2
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    if name == "console":
        from .backends.console import ConsoleBackend

        backend: Backend = ConsoleBackend(bot, user=args.as_, stay=args.stay)
    else:
        backend = cls(bot)
    return run(bot, backend)


def cmd_next(args, config) -> int:
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    meetings = [config.meeting(args.meeting)] if args.meeting else config.meetings
    code = 0
    for m in meetings:
        code |= _emit(bot.next_message(m, count=args.count))
    return code


def _sender(args) -> Sender:
    return Sender("cli", initials=args.as_)


def cmd_command(args, config) -> int:
    """A chat command run from the CLI (``chatbot agenda add …``), with typed arguments."""
    config.meeting(args.meeting)  # an unknown --meeting is a usage error (exit 2) like everywhere
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    command = args.chat_command
    values = {}
    for arg in command.args:
        value = getattr(args, arg.key)
        values[arg.key] = " ".join(value) if isinstance(value, list) else value
    for option in command.options:
        if getattr(args, option.key, None) is not None:
            values[option.key] = getattr(args, option.key)
    return _emit(bot.run(command.words, _sender(args), args.meeting, **values))


def _add_chat_commands(sub, word: str, parents: list[argparse.ArgumentParser], required: bool):
    """The CLI sub-commands of ``word`` (``agenda add``, ``actions done``…), from the registry."""
    csub = sub.add_subparsers(dest=f"{word}_cmd", metavar="ACTION", required=required)
    for command in subcommands(word):
        if not command.cli:
            continue
        c = csub.add_parser(
            command.words[1],
            parents=parents,
            help=command.help,
            description=f"{command.help[0].upper()}{command.help[1:]}. {command.help_note}".strip(),
        )
        for arg in command.args:
            if arg.kind is int:
                c.add_argument(arg.key, metavar=arg.name, type=int, help=arg.help)
            else:
                c.add_argument(arg.key, metavar=arg.name, nargs="+", help=arg.help)
        for option in command.options:
            kind = _date if option.kind is dt.date else option.kind
            metavar = "YYYY-MM-DD" if option.kind is dt.date else None
            c.add_argument(option.flag, dest=option.key, type=kind, metavar=metavar, help=option.help)
        if command.who == "anyone":
            c.add_argument("--as", dest="as_", metavar="INITIALS", default="CLI", help=argparse.SUPPRESS)
        else:
            c.add_argument("--as", dest="as_", metavar="INITIALS", required=True, help="your initials")
        c.set_defaults(func=cmd_command, chat_command=command)
    return csub


def cmd_notes_pipeline(args, config) -> int:
    """``chatbot notes publish|sync``: a step of the weekly notes pipeline, now."""
    from .stores import weekly

    bot = Bot(config, _clock(), hooks=hooks_for(config))
    pipe = weekly.Weekly(bot, config.meeting(args.meeting))
    try:
        if args.notes_cmd == "publish":
            res = pipe.publish(args.date)
            made = ", ".join(res.created) or "nothing new (all there already)"
            print(
                f"published the notes of {res.branch}: created {made}\n"
                f"  pull request: {res.pr_url}\n  HackMD note: {res.note_url}\n  branch: {res.branch}"
            )
            return 0
        result = pipe.sync(args.date)
    except weekly.Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"sync: {result.status}: {result.summary}"
        + (f"\n  comment: {result.comment_url}" if result.comment_url else "")
    )
    return 0 if result.ok else 1


def cmd_notes_create(args, config) -> int:
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    meeting = config.meeting(args.meeting)
    if args.date:
        occ = occurrence_on(meeting, args.date)
        if occ is None:
            print(f"error: {meeting.name} has no meeting on {args.date.isoformat()}", file=sys.stderr)
            return 1
    else:
        occ = bot.next_meeting(meeting)
    with bot.editing(meeting) as session:
        created = bot.ensure_notes(meeting, occ, session)
    store = bot.store(meeting)
    print(f"{'created' if created else 'already exists'}: {store.path(occ.date) or store.name(occ.date)}")
    for warning in session.warnings:
        print(f"error: {warning}", file=sys.stderr)
    return 1 if session.warnings else 0


def _fire_due(rem, meetings, name: str) -> list[bool] | None:
    """Send what is due, holding the platform's lease (:mod:`chatbot.lease`); None (and a note
    on stderr) when another copy of the bot holds it: that one sends what is due."""
    from .lease import Keeper, Lease

    lease = Lease(rem.ledger, name, "chatbot remind --due")
    other = lease.try_take()
    if other is not None:
        print(
            f"nothing sent: another copy of the bot ({other.describe()}) holds the lease for {lease.place} "
            "and sends what is due",
            file=sys.stderr,
        )
        return None
    keeper = Keeper(lease, on_lost=lambda: None)  # a slow run keeps it; a lost lease stops the sends
    rem.outbox.holds = lease.holds
    keeper.start()
    try:
        results: list[bool] = []
        for m in meetings:
            results += rem.fire(m.id, retry=False) + rem.fire_pings(m.id, retry=False)
        return results
    finally:
        keeper.stop(release=True)


def cmd_remind(args, config) -> int:
    """Without --due: the next meeting's reminder, posted (or printed) now, saying the real time
    left. With --due: what the running bot would send now (reminders and action-item pings due
    within ``reminder_grace`` and not in the ledger), so cron can run it every few minutes."""
    from pathlib import Path

    from filelock import FileLock, Timeout

    from .backends.base import backend_class
    from .runner import Reminders, default_ledger

    bot = Bot(config, _clock(), hooks=hooks_for(config))
    name = args.backend or "console"
    backend = backend_class(name)(bot)
    if args.due:
        meetings = [config.meeting(args.meeting)] if args.meeting else [m for m in config.meetings if backend.wants(m)]
        ledger = default_ledger(bot)
        # two overlapping runs (a slow platform, a cron every minute) must not both send
        lock = FileLock(str(Path(ledger.path).with_name("remind.lock")), timeout=120)
        rem = Reminders(bot, backend, ledger)
        try:
            with lock:
                if args.dry_run:
                    for m in meetings:
                        for r in rem.due(m, bot.now()):
                            print(
                                f"# {m.id}: the {r.offset} reminder due {r.due.astimezone(UTC).isoformat()} via {name}"
                            )
                            print(for_terminal(backend.render(bot.reminder(m, r.occurrence, r.offset))))
                    return 0
                results = _fire_due(rem, meetings, name)
                if results is None:
                    return 0
        except Timeout:
            print(f"error: another `chatbot remind --due` is still running ({lock.lock_file})", file=sys.stderr)
            return 1
        finally:
            rem.ledger.close()
            backend.close()
        if not all(results):
            print(
                f"error: {results.count(False)} of {len(results)} due message(s) could not be sent (see the log "
                "above); the next run tries again while they are still due",
                file=sys.stderr,
            )
            return 1
        print(f"sent {len(results)} due message(s)" if results else "nothing due", file=sys.stderr)
        return 0

    meeting = config.meeting(args.meeting)
    occ = bot.next_meeting(meeting)
    # it says the real time left: a reminder posted by hand is rarely at a configured offset
    message = bot.reminder(meeting, occ)
    if args.dry_run:
        print(f"# {meeting.id} at {occ.start_utc.isoformat()}, posted now via {name}")
        print(for_terminal(backend.render(message)))
        return 0
    try:
        backend.post(meeting, message)
    finally:
        backend.close()
    return 0


def cmd_actions(args, config) -> int:
    import json

    bot = Bot(config, _clock(), hooks=hooks_for(config))
    meeting = config.meeting(args.meeting)
    items = bot.open_actions(meeting)
    if args.owner:
        items = [it for it in items if it.owned_by(args.owner)]
    if args.json:
        files = bot.files(meeting)
        print(
            json.dumps(
                [
                    {
                        "date": it.date.isoformat(),
                        "file": str(it.path),
                        "line": it.line,
                        "text": it.text,
                        "body": it.body,
                        "form": it.form,  # why it was picked (section, label, list, checkbox, prose, carried)
                        "why": it.form_label,
                        "url": files.url_at(it.path, it.line),
                        "owners": [
                            {
                                "token": o.token,
                                "name": o.name,
                                "github": o.github,
                                "resolved": o.resolved,
                                "initials": o.person.initials if o.person else None,
                            }
                            for o in it.owners
                        ],
                    }
                    for it in items
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    title = f"Open action items ({meeting.name})" + (f" owned by {args.owner}" if args.owner else "")
    return _emit(actions_message(bot.files(meeting), items, title))


def _add_review_parser(csub, parents: list[argparse.ArgumentParser]) -> None:
    c = csub.add_parser(
        "review",
        parents=parents,
        help="the chair's review: list a meeting's candidate action items, track or reject them",
        description="List the candidate action items found in the notes of the last meeting held (or "
        "--date), numbered, with why each was picked and what was decided; with --track/--reject, "
        "record the chair's decisions first (kept in the ledger in [bot] state_dir, never in the "
        "notes). Tracked items are pinged; rejected ones never again; undecided ones only if "
        "written as a task (not those guessed from prose). Only the chair or an admin may decide.",
    )
    c.add_argument("--date", type=_date, help="the meeting date (YYYY-MM-DD; default: the last meeting held)")
    c.add_argument("--track", type=int, nargs="+", default=[], metavar="N", help="keep chasing candidates N …")
    c.add_argument("--reject", type=int, nargs="+", default=[], metavar="N", help="candidates N … are no action items")
    c.add_argument("--json", action="store_true", help="machine-readable list")
    c.add_argument(
        "--as", dest="as_", metavar="INITIALS", default=None, help="your initials (needed with --track/--reject)"
    )
    c.set_defaults(func=cmd_review)


def cmd_review(args, config) -> int:
    """``chatbot actions review``: decisions first (each one's answer printed), then the list."""
    import json

    from . import review

    if (args.track or args.reject) and not args.as_:
        print("error: say who decides with --as INITIALS (the chair or an admin)", file=sys.stderr)
        return 2
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    meeting = config.meeting(args.meeting)
    sender = Sender("cli", initials=args.as_ or "CLI")
    code = 0
    for word, numbers in (("track", args.track), ("reject", args.reject)):
        for n in numbers:
            code |= _emit(bot.run(("actions", word), sender, args.meeting, number=n, day=args.date))
    if not args.json:
        return code | _emit(bot.run(("actions", "review"), sender, args.meeting, day=args.date))
    occ = occurrence_on(meeting, args.date) if args.date else review.last_held(meeting, bot.now())
    if occ is None:
        print(
            f"error: {meeting.name} did not meet {'on ' + args.date.isoformat() if args.date else 'yet'}",
            file=sys.stderr,
        )
        return 1
    decisions = bot.decisions(meeting)
    out = []
    for n, it in bot.review_candidates(meeting, occ):
        decided = review.decision_of(meeting, it, decisions) or {}
        out.append(
            {
                "n": n,
                "id": act_item_id(it),
                "date": it.date.isoformat(),
                "file": str(it.path),
                "line": it.line,
                "text": it.text,
                "owners": [o.label for o in it.owners],
                "form": it.form,
                "why": it.form_label,
                "explicit": it.explicit,
                "decision": decided.get("decision"),
                "by": decided.get("by"),
                "at": decided.get("at"),
            }
        )
    print(json.dumps({"meeting": meeting.id, "date": occ.date.isoformat(), "items": out}, indent=2, ensure_ascii=False))
    return code


def _review_line(config, m) -> str:
    """Who reviews the candidate action items of ``m``, and when (check-config)."""
    from .config import format_duration
    from .review import reviewers
    from .stores.hackmd_config import weekly_enabled

    people = reviewers(config)
    role = "the chair" if any(p.chair for p in people) else "the admins: no chair in the roster"
    who = f"{', '.join(p.initials for p in people)} ({role})" if people else "NOBODY (no chair or admin in the roster)"
    rule = "items nobody decided on are pinged only if written as a task (not those guessed from prose)"
    if m.actions.review_after is None:
        return f"no review message (review_after = none); decide with `chatbot actions review`; {rule}"
    when = f"{format_duration(m.actions.review_after)} after each meeting ends"
    if weekly_enabled(m) and m.github.sync_after is not None:
        when += ", once the notes are synced"
    return f"candidate action items sent to {who} {when}; {rule}"


def _when_utc(at: dt.datetime) -> str:
    return at.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC")


def _durations(values) -> str:
    from .config import format_duration

    return ", ".join(format_duration(v) for v in values)


def cmd_check_config(args, config) -> int:
    """The config is valid (else main() listed every problem); say what it means."""
    bot = Bot(config, _clock(), hooks=hooks_for(config))
    now = bot.now()
    print(f"{config.path}: OK")
    for m in config.meetings:
        occ = bot.next_meeting(m)
        print(f"- {m.id}: {m.name}{' (the default meeting)' if m.id == config.meeting().id else ''}")
        _check_timing(m, occ, now)
        _check_actions(config, m, now)
        _check_store(config, m, occ)
        _check_git(m)
    _check_bot(config)
    return 0


def _check_timing(m, occ, now: dt.datetime) -> None:
    """check-config: a meeting's slots, next meeting, reminders and where they go."""
    from .config import format_duration, platforms
    from .schedule import reminders as reminder_times

    for s in m.slots:
        print(f"  slot: {s.rrule} from {s.start.isoformat()} at {s.time.strftime('%H:%M')} {s.timezone}")
    cancelled = f"; cancelled: {', '.join(d.isoformat() for d in m.cancelled)}" if m.cancelled else ""
    print(f"  next meeting: {_when_utc(occ.start)} ({format_duration(m.duration)}){cancelled}")
    if m.reminders:
        nxt = next(reminder_times(m, now), None)
        after = (
            f"; next: the {format_duration(nxt.offset)} one at {_when_utc(nxt.due)}, for {nxt.occurrence.date}"
            if nxt
            else ""
        )
        print(f"  reminders: {_durations(m.reminders)} before each meeting{after}")
    else:
        print("  reminders: none")
    places = [place for p in platforms() if p.where and (place := p.where(m, occ.start))]
    print(f"  reminders go to: {'; '.join(places) or 'nowhere (no destination set)'}")


def _check_actions(config, m, now: dt.datetime) -> None:
    """check-config: a meeting's action items: pings, carry-over, the chair's review."""
    from .config import format_duration
    from .schedule import reminders as reminder_times

    if not m.actions.enabled:
        print("  action items: off")
        return
    how = "by direct message" if m.actions.ping == "dm" else "in the meeting's channel or stream"
    if m.actions.ping_before:
        nxt = next(reminder_times(m, now, [m.actions.ping_before]), None)
        ping = f"owners pinged {how} {format_duration(m.actions.ping_before)} before each meeting" + (
            f", next at {_when_utc(nxt.due)}" if nxt else ""
        )
        if m.actions.waking_hours:
            start, end = m.actions.waking_hours
            ping += f" (moved into {start:%H:%M}-{end:%H:%M} in each owner's time zone)"
    else:
        ping = "owners are not pinged"
    carry = (
        f"carried over into '{m.notes.actions_section}'"
        if m.actions.carry_over and m.notes.actions_section
        else "not carried over"
    )
    print(f"  action items: from the last {format_duration(m.actions.lookback)} of notes; {ping}; {carry}")
    print(f"  review: {_review_line(config, m)}")


def _check_store(config, m, occ) -> None:
    """check-config: where a meeting's notes live, in the words of its store's declaration."""
    declared = notes_store(m.notes.store)
    for line in declared.check(config, m, occ.start) if declared.check else [f"notes store: {declared.name}"]:
        print(f"  {line}")


def _check_git(m) -> None:
    """check-config: what a meeting's Git hooks do around each edit."""
    g = m.git
    if not g.enabled:
        print("  Git: off (changes are only written to the files)")
        return
    target = f"{g.remote} {g.branch}" if g.branch else f"{g.remote}, the checked-out branch"
    steps = (
        (["pull --rebase before each edit"] if g.pull else [])
        + ["commit each change"]
        + ([f"push to {target} ({g.retries} retries{_push_retry(g)})"] if g.push else ["no push"])
    )
    print(f"  Git: {', '.join(steps)}; committer {g.committer_name} <{g.committer_email}>")


def _check_bot(config) -> None:
    """check-config: the roster, the ledger and the status pages (the whole bot's settings)."""
    from .config import format_duration

    print(f"- {len(config.people)} people in the roster ({sum(p.admin for p in config.people)} admin(s))")
    print(
        f"- ledger of sent reminders: {config.resolve(config.bot.state_dir) / 'chatbot.sqlite3'}; "
        f"a reminder missed by less than {format_duration(config.bot.reminder_grace)} is still sent"
    )
    web = config.web
    print(f"- status pages: {'served by chatbot run' if web.enabled else 'chatbot serve'} on {web.host}:{web.port}")
    _check_leases(config)


def _check_leases(config) -> None:
    """check-config: which copy of the bot holds each platform's lease in the ledger (read
    only, and only when the ledger exists: checking the config creates and moves nothing)."""
    import sqlite3
    import time

    from .lease import read_holders

    path = config.resolve(config.bot.state_dir) / "chatbot.sqlite3"
    if not path.is_file():
        return
    try:
        holders = read_holders(path)
    except sqlite3.Error as exc:
        print(f"- leases: the ledger {path} cannot be read ({exc}); chatbot run moves a damaged one aside")
        return
    for name, held in holders.items():
        left = held.expires - time.time()
        state = f"held for {left:.0f} s more" if left > 0 else "expired: the next copy takes it over"
        print(f"- lease for {name}: {held.describe()} ({state})")


def _push_retry(g) -> str:
    from .gitsync import retry_interval

    if not g.push_retry:
        return "; what a push left behind goes with the next change"
    return f"; what a push left behind is pushed again every {retry_interval(g)} by chatbot run"


def cmd_ics(args, config) -> int:
    from pathlib import Path

    from .calendar import CalendarError, write_ics

    meeting = config.meeting(args.meeting)
    try:
        data = write_ics(config, meeting, _clock()(), Path(args.output) if args.output and args.output != "-" else None)
    except (CalendarError, OSError) as exc:
        where = f" to {args.output}" if args.output and args.output != "-" else ""
        print(
            f"error: cannot write the calendar of {meeting.id}{where}: {getattr(exc, 'strerror', None) or exc}",
            file=sys.stderr,
        )
        return 1
    if not args.output or args.output == "-":
        sys.stdout.write(data.decode("utf-8"))
    else:
        print(f"wrote {args.output}: {meeting.name}, {len(meeting.slots)} recurring event(s)", file=sys.stderr)
    return 0


def cmd_serve(args, config) -> int:
    from .web import serve

    bot = Bot(config, _clock(), hooks=hooks_for(config))
    host = args.host or config.web.host
    port = config.web.port if args.port is None else args.port
    try:
        return serve(bot, host, port)
    except OSError as exc:  # address in use, no permission for a low port, unknown host
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more: {value!r}")
    return number


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _options(default) -> argparse.ArgumentParser:
    """The global options; sub-commands repeat them: SUPPRESS keeps a value given before the
    sub-command from being reset by the sub-command's default."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--config",
        "-c",
        metavar="PATH",
        default=None if default else argparse.SUPPRESS,
        help=f"config file (default: ${CONFIG_ENV} or {default_config_path()})",
    )
    p.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=0 if default else argparse.SUPPRESS,
        help="more logging (-vv for debug)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _options(False)
    meeting = argparse.ArgumentParser(add_help=False)
    meeting.add_argument("--meeting", "-m", metavar="ID", help="meeting id (default: the config's default meeting)")

    parser = argparse.ArgumentParser(
        prog="chatbot",
        parents=[_options(True)],
        description="A chat-ops bot for recurring community meetings: reminders, agenda, action items.",
    )
    parser.add_argument("--version", action="version", version=f"chatbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parsers(sub, common)
    _add_notes_parsers(sub, common, meeting)
    _add_remind_parsers(sub, common, meeting)
    _add_config_parsers(sub, common, meeting)
    return parser


def _add_run_parsers(sub, common: argparse.ArgumentParser) -> None:
    """``run`` and ``next``."""
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run the bot (console backend by default)",
        description="Run the bot: answer commands and post reminders until stopped.",
    )
    p.add_argument(
        "--backend",
        "-b",
        choices=list(BACKENDS),
        help=f"chat platform (default: ${BACKEND_ENV} or console)",
    )
    p.add_argument("--as", dest="as_", metavar="INITIALS", help="console: your initials (default: [console] user)")
    p.add_argument("--stay", action="store_true", help="console: keep running for reminders after input ends")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "next",
        parents=[common],
        help="show the next meeting(s) in every configured zone",
        description="Show the next meeting(s) with the time in every configured time zone.",
    )
    p.add_argument("--meeting", "-m", metavar="ID", help="meeting id (default: every meeting in the config)")
    p.add_argument(
        "--count", "-n", type=_positive, default=1, metavar="N", help="how many upcoming meetings of each (default 1)"
    )
    p.set_defaults(func=cmd_next)


def _add_notes_parsers(sub, common: argparse.ArgumentParser, meeting: argparse.ArgumentParser) -> None:
    """``agenda`` and ``notes`` (create, publish, sync)."""
    p = sub.add_parser(
        "agenda",
        parents=[common],
        help="add, list or remove agenda items",
        description="Edit the agenda of the next meeting's notes file.",
    )
    _add_chat_commands(p, "agenda", [common, meeting], required=True)

    p = sub.add_parser(
        "notes",
        parents=[common],
        help="create, publish or sync the next meeting's notes",
        description="Manage a meeting's notes: create them from the template; with notes in "
        "HackMD and a weekly pull request, publish and sync them.",
    )
    nsub = p.add_subparsers(dest="notes_cmd", metavar="ACTION", required=True)
    n = nsub.add_parser(
        "create",
        parents=[common, meeting],
        help="render the template for the next meeting",
        description="Render the meeting's template into the next meeting's notes file (left alone if it exists).",
    )
    n.add_argument("--date", type=_date, help="the meeting date (YYYY-MM-DD) instead of the next one")
    n.set_defaults(func=cmd_notes_create)
    n = nsub.add_parser(
        "publish",
        parents=[common, meeting],
        help="publish the notes: branch, HackMD note, pull request",
        description="Render the template (open action items carried over), commit it on the week's "
        "branch ([meetings.github] branch), create the HackMD note (or use the one the "
        "bot made already) and open the pull request with HACKMDURL=/HACKMDID=/DOCPATH= "
        "lines. Safe to run again: one branch, one note, one pull request. Needs "
        "HACKMD_TOKEN and GITHUB_TOKEN.",
    )
    n.add_argument("--date", type=_date, help="the meeting date (YYYY-MM-DD) instead of the next one")
    n.set_defaults(func=cmd_notes_pipeline)
    n = nsub.add_parser(
        "sync",
        parents=[common, meeting],
        help="bring the HackMD note into its pull request",
        description="Bring the HackMD note of a held meeting into the file on its pull request's "
        "branch; changes made on the branch since the last sync are merged three-way; "
        "a conflict is reported on the pull request (exit 1), never resolved silently. "
        "Needs HACKMD_TOKEN and GITHUB_TOKEN.",
    )
    n.add_argument("--date", type=_date, help="the meeting date (YYYY-MM-DD; default: the last meeting held)")
    n.set_defaults(func=cmd_notes_pipeline)


def _add_remind_parsers(sub, common: argparse.ArgumentParser, meeting: argparse.ArgumentParser) -> None:
    """``remind`` and ``actions`` (with its chat sub-commands and ``review``)."""
    p = sub.add_parser(
        "remind",
        parents=[common, meeting],
        help="post (or print) the next reminder now",
        description="Post the next meeting's reminder now (saying the real time left), or with "
        "--dry-run print it exactly as it would be posted. With --due: post only the "
        "reminders and action-item pings that are due now (within [bot] "
        "reminder_grace) and not yet sent according to the ledger, as the running "
        "bot would; for cron, every few minutes. While a running bot (`chatbot run`) holds the "
        "platform's lease in the same state_dir, --due sends nothing and says so.",
    )
    p.add_argument(
        "--due", action="store_true", help="only what is due and not yet sent (the ledger in [bot] state_dir remembers)"
    )
    p.add_argument("--dry-run", action="store_true", help="print instead of posting")
    p.add_argument("--backend", "-b", choices=list(BACKENDS), help="whose format (default console)")
    p.set_defaults(func=cmd_remind)

    p = sub.add_parser(
        "actions",
        parents=[common, meeting],
        help="list open action items from past notes",
        description="List open action items (unchecked '- [ ] OWNER: …' items) from the notes of "
        "past meetings, newest copy of each, with owners resolved through the "
        "attendee lists and the roster.",
    )
    p.add_argument("--owner", metavar="WHO", help="only items of these initials or GitHub handle")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_actions)
    actions_sub = _add_chat_commands(p, "actions", [common, meeting], required=False)
    _add_review_parser(actions_sub, [common, meeting])


def _add_config_parsers(sub, common: argparse.ArgumentParser, meeting: argparse.ArgumentParser) -> None:
    """``check-config``, ``ics`` and ``serve``."""
    p = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate the config and show what it means",
        description="Validate the config file; exit 2 with the problem if it is malformed.",
    )
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "ics",
        parents=[common, meeting],
        help="write the meeting series as an iCalendar file",
        description="Write an RFC 5545 iCalendar file of the meeting series: one recurring event "
        "per slot (in its own time zone), cancelled dates excluded, call and notes "
        "links in the event.",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="where to write it (default: standard output)")
    p.set_defaults(func=cmd_ics)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the read-only status pages and calendars over HTTP",
        description="Serve / (the meetings), /meetings/ID (next meeting, agenda, open action "
        "items) and /calendar/ID.ics until stopped.",
    )
    p.add_argument("--host", metavar="ADDR", help="address to listen on (default: [web] host, 127.0.0.1)")
    p.add_argument("--port", "-p", type=int, metavar="N", help="port (default: [web] port, 8080)")
    p.set_defaults(func=cmd_serve)


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        # `kill -USR1 PID` writes every thread's stack to stderr: for a bot that seems stuck
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    if getattr(args, "command", None) == "run":
        level = min(level, logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if level > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        config = load_config(args.config)
        return args.func(args, config)
    except ConfigError as exc:
        print("\n".join(f"error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return 2
    except (EditError, NotesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
