"""A small read-only status page per meeting, and the calendar feed, over HTTP.

* ``/`` lists the meetings;
* ``/meetings/<id>`` shows the next meeting time (a ``<time>`` element: UTC text that works
  without JavaScript, turned into the visitor's own zone by a few lines of inline script),
  the agenda so far, open action items by owner, and links to the notes and the calendar;
* ``/calendar/<id>.ics`` is the iCalendar feed (:func:`chatbot.calendar.meeting_ics`).

Pages are rendered on the server with Jinja2 (autoescape on: everything from notes files is
text, never markup); no build step, no external assets, relative links only, so the pages
work under any URL prefix. :func:`render_index`, :func:`render_meeting_page` and
:func:`respond` are plain functions and :func:`make_app` a WSGI application, so any HTTP
server (the Slack backend's HTTP mode, gunicorn, ...) can mount them; :func:`serve` runs
them for ``chatbot serve`` (and :func:`make_wsgi_server` serves the Slack backend's HTTP mode) on
``waitress``, with the :class:`Limits` that keep hostile clients from exhausting the process.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import hashlib
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Mapping

import jinja2

from . import actions as act
from .bot import Bot
from .calendar import CONTENT_TYPE as ICS_TYPE
from .calendar import converter_url, meeting_ics
from .config import Meeting
from .messages import format_utc
from .notes.edit import EditError
from .notes.parse import NotesError
from .schedule import UTC, occurrences

log = logging.getLogger(__name__)

# Shows every <time class="local"> in the reader's zone; without it they read in UTC.
LOCAL_TIME_JS = """\
(function () {
  var days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  function p(n) { return String(n).padStart(2, "0"); }
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
  document.querySelectorAll("time.local").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) return;
    var off = -d.getTimezoneOffset(), a = Math.abs(off);
    el.title = el.textContent;
    el.textContent = days[d.getDay()] + " " + d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" +
      p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + " " +
      (zone ? zone + " " : "") + "(UTC" + (off < 0 ? "-" : "+") + p(Math.floor(a / 60)) + ":" + p(a % 60) + ")";
    el.setAttribute("data-rendered", "local");
  });
})();
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(LOCAL_TIME_JS.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

BASE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title>
<style>
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; color: #1b1f23; background: #fff; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
  border-bottom: 1px solid #ddd; padding-bottom: .2rem; } h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
  .when { font-size: 1.3rem; font-weight: 600; } .muted { color: #586069; font-size: .9rem; }
  ul.items { padding-left: 1.2rem; } li { margin: .2rem 0; } .done { text-decoration: line-through; color: #586069; }
  .owner { font-weight: 600; } a { color: #0366d6; } .error { color: #b31d28; }
  nav a { margin-right: 1rem; }
</style>
</head>
<body>
{% block body %}{% endblock %}
<script>{{ script }}</script>
</body>
</html>
"""

INDEX = """\
{% extends "base" %}
{% block title %}Meetings{% endblock %}
{% block body %}
<h1>Meetings</h1>
<ul class="meetings">
{% for m in meetings %}
  <li><a href="meetings/{{ m.id }}">{{ m.name }}</a>{% if m.next %} — next:
    <time class="local" datetime="{{ m.next.iso }}">{{ m.next.fallback }}</time>{% else %} — no upcoming meetings{% endif %}
    · <a href="calendar/{{ m.id }}.ics">calendar</a></li>
{% endfor %}
</ul>
<p class="muted">Generated {{ generated }}.</p>
{% endblock %}
"""

MEETING = """\
{% extends "base" %}
{% block title %}{{ meeting.name }}{% endblock %}
{% block body %}
<nav class="muted"><a href="../">All meetings</a></nav>
<h1>{{ meeting.name }}</h1>
{% if next %}
<p>Next meeting{% if next.running %} (in progress){% endif %}:<br>
<time class="local when" id="next-time" datetime="{{ next.iso }}">{{ next.fallback }}</time></p>
<ul class="muted zones">
{% for z in zones %}  <li>{{ z }}</li>
{% endfor %}</ul>
<p><a href="{{ next.converter }}">Convert to other time zones</a>{% if meeting.call_link %}
 · <a href="{{ meeting.call_link }}" id="call-link">Join the call</a>{% endif %}</p>
{% else %}
<p>No upcoming meetings in the schedule.</p>
{% endif %}

<h2>Agenda so far{% if next %} ({{ next.date }}){% endif %}</h2>
{% if agenda_error %}<p class="error">The notes file could not be read: {{ agenda_error }}</p>
{% elif not agenda %}<p>No items yet.</p>
{% else %}<ol class="items" id="agenda">
{% for it in agenda %}  <li{% if it.checked %} class="done"{% endif %}>{% if it.owners %}<span class="owner">{{ it.owners }}</span>: {% endif %}{{ it.body }}</li>
{% endfor %}</ol>
{% endif %}
<p>{% if notes_url %}<a href="{{ notes_url }}" id="notes-link">Notes: {{ notes_name }}</a>{% elif notes_name %}Notes file: {{ notes_name }}{% endif %}</p>

<h2>Open action items</h2>
{% if not owners %}<p>No open action items.</p>{% endif %}
<div id="actions">
{% for group in owners %}
<h3>{{ group.label }}{% if group.name %} <span class="muted">— {{ group.name }}</span>{% endif %}{% if not group.resolved %} <span class="muted">(not in the roster)</span>{% endif %}</h3>
<ul class="items">
{% for it in group.entries %}  <li>{{ it.body }} <span class="muted">({% if it.url %}<a href="{{ it.url }}">{{ it.date }}</a>{% else %}{{ it.date }}{% endif %})</span></li>
{% endfor %}</ul>
{% endfor %}
</div>

{% if upcoming %}
<h2>Later meetings</h2>
<ul>
{% for u in upcoming %}  <li><time class="local" datetime="{{ u.iso }}">{{ u.fallback }}</time></li>
{% endfor %}</ul>
{% endif %}
<p><a href="../calendar/{{ meeting.id }}.ics" id="ics-link">Subscribe to the calendar (.ics)</a></p>
<p class="muted">Read-only; generated {{ generated }}. Change the agenda from the chat with the bot's commands.</p>
{% endblock %}
"""

_env = jinja2.Environment(
    loader=jinja2.DictLoader({"base": BASE, "index": INDEX, "meeting": MEETING}),
    autoescape=True,  # notes are user text: never markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
)
_env.globals["script"] = jinja2.utils.markupsafe.Markup(LOCAL_TIME_JS)


def _moment(start: dt.datetime) -> dict[str, str]:
    utc = start.astimezone(UTC)
    return {
        "iso": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fallback": format_utc(start),
        "date": start.date().isoformat(),
        "converter": converter_url(start),
    }


def _next(bot: Bot, meeting: Meeting, count: int = 1) -> list:
    now = bot.now()
    return list(occurrences(meeting, now - meeting.duration + dt.timedelta(microseconds=1), limit=count))


def render_index(bot: Bot) -> str:
    rows = []
    for m in bot.config.meetings:
        upcoming = _next(bot, m)
        rows.append({"id": m.id, "name": m.name, "next": _moment(upcoming[0].start) if upcoming else None})
    return _env.get_template("index").render(meetings=rows, generated=format_utc(bot.now()))


def render_meeting_page(bot: Bot, meeting: Meeting) -> str:
    """The status page of one meeting, as HTML (a pure function of the bot's notes and clock)."""
    now = bot.now()
    upcoming = _next(bot, meeting, 5)
    files = bot.files(meeting)
    ctx: dict[str, Any] = {
        "meeting": meeting,
        "next": None,
        "zones": [],
        "agenda": None,
        "agenda_error": None,
        "notes_url": None,
        "notes_name": None,
        "owners": [],
        "upcoming": [],
        "generated": format_utc(now),
    }
    if upcoming:
        occ = upcoming[0]
        ctx["next"] = dict(_moment(occ.start), running=occ.start_utc <= now)
        ctx["zones"] = bot.zone_lines(meeting, occ)
        ctx["upcoming"] = [_moment(o.start) for o in upcoming[1:]]
        try:
            store = bot.store(meeting)
            agenda = bot.agenda(meeting, occ)
            exists = agenda is not None
            ctx["notes_name"] = store.name(occ.date) if exists else None
            ctx["notes_url"] = store.url(occ.date) if exists else None
            ctx["agenda"] = [
                {"owners": ", ".join(it.owners), "body": it.body if it.owners else it.text, "checked": bool(it.checked)}
                for it in (agenda or [])
            ]
        except (NotesError, EditError) as exc:  # unreadable notes, or the live note's service refused
            ctx["agenda_error"] = exc.problem if isinstance(exc, NotesError) else str(exc)
    if meeting.actions.enabled:
        items = bot.open_actions(meeting)
        resolved, unresolved = act.by_owner(items)

        def rows(its: list[act.ActionItem]) -> list[dict[str, Any]]:
            out = []
            for it in its:
                out.append({"body": it.body, "date": it.date.isoformat(), "url": files.url_at(it.path, it.line)})
            return out

        for initials in sorted(resolved):
            person, its = resolved[initials]
            ctx["owners"].append({"label": initials, "name": person.name, "resolved": True, "entries": rows(its)})
        for token in sorted(unresolved):
            ctx["owners"].append({"label": token, "name": None, "resolved": False, "entries": rows(unresolved[token])})
    return _env.get_template("meeting").render(**ctx)


def render_not_found(what: str) -> str:
    """A 404 page whose link back is relative (``../`` per directory level of ``what``), so it
    works under any URL prefix like the other pages."""
    home = "../" * max(what.count("/") - 1, 0) or "./"
    return (
        jinja2.Environment(autoescape=True)
        .from_string(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Not found</title>"
            '<p>Not found: {{ what }}</p><p><a href="{{ home }}">All meetings</a></p></html>'
        )
        .render(what=what, home=home)
    )


@dataclass
class Response:
    status: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[str, str]]:
        base = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-cache"),
        ]
        if self.content_type.startswith("text/html"):
            base += [("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer")]
        return base + self.headers


_MEETING = re.compile(r"^/meetings/([a-z0-9][a-z0-9_-]*)(/?)$")
_ICS = re.compile(r"^/calendar/([a-z0-9][a-z0-9_-]*)\.ics$")


def respond(bot: Bot, method: str, path: str) -> Response:
    """Route one request (no I/O beyond reading the notes)."""
    if method not in ("GET", "HEAD"):
        return Response("405 Method Not Allowed", b"read-only\n", "text/plain; charset=utf-8", [("Allow", "GET, HEAD")])

    def meeting_or_none(mid: str) -> Meeting | None:
        try:
            return bot.config.meeting(mid)
        except KeyError:
            return None

    if path in ("", "/"):
        return Response("200 OK", render_index(bot).encode())
    m = _MEETING.match(path)
    if m and meeting_or_none(m.group(1)):
        if m.group(2):  # relative links need the canonical form
            return Response(
                "301 Moved Permanently", b"", "text/plain; charset=utf-8", [("Location", f"../{m.group(1)}")]
            )
        return Response("200 OK", render_meeting_page(bot, bot.config.meeting(m.group(1))).encode())
    m = _ICS.match(path)
    if m and meeting_or_none(m.group(1)):
        data = meeting_ics(bot.config, bot.config.meeting(m.group(1)), bot.now())
        return Response("200 OK", data, ICS_TYPE, [("Content-Disposition", f'inline; filename="{m.group(1)}.ics"')])
    if path == "/healthz":
        health = getattr(bot, "health", None)
        problems = health.problems if health is not None else []
        if problems:  # e.g. a token the platform refused: the operator must act
            body = "unhealthy\n" + "".join(f"- {p}\n" for p in problems)
            return Response("503 Service Unavailable", body.encode(), "text/plain; charset=utf-8")
        standby = getattr(health, "standby", None)
        if standby:  # a second copy, waiting to take over: alive, nothing wrong
            return Response("200 OK", f"standby: {standby}\n".encode(), "text/plain; charset=utf-8")
        return Response("200 OK", b"ok\n", "text/plain; charset=utf-8")
    return Response("404 Not Found", render_not_found(path).encode())


def make_app(bot: Bot) -> Callable[[dict, Callable], Iterable[bytes]]:
    """A WSGI application serving the status pages and calendars."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        try:
            resp = respond(bot, method, path)
        except Exception:  # a broken notes file or template never takes the server down
            log.exception("status page %s failed", path)
            resp = Response(
                "500 Internal Server Error", b"internal error; see the bot's log\n", "text/plain; charset=utf-8"
            )
        start_response(resp.status, resp.all_headers())
        return [b"" if method == "HEAD" else resp.body]

    return app


def by_path(routes: Mapping[str, Callable], default: Callable) -> Callable[[dict, Callable], Iterable[bytes]]:
    """One WSGI application that sends each exact path to its own application (e.g. the
    Slack backend's ``/slack/events`` next to the status pages)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        return routes.get(environ.get("PATH_INFO") or "/", default)(environ, start_response)

    return app


# ---------------------------------------------------------------------------------------
# The HTTP server (status pages here, slash commands in the Slack backend's HTTP mode)


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server. Both ``chatbot serve`` and the Slack backend's
    HTTP port listen on the open network, so:

    * a request whose body is larger than ``max_body`` bytes is refused with 413 from its
      headers alone (a chunked one as soon as it grows past it), never with a
      ``100 Continue`` that would invite the body; a request line longer than
      ``max_request_line`` gets 414 and more than ``max_header_count`` header lines, or
      headers larger than ``max_header`` bytes, get 431, each as soon as the limit is
      passed, before the rest of the request is read (see :func:`_guarded_parser`);
    * a connection that sends nothing for ``idle_timeout`` seconds is closed, and a request
      must arrive whole within ``request_timeout`` seconds however steadily it trickles
      (slowloris);
    * at most ``max_connections`` connections are held (fewer if the open-file limit is
      low); when they are all taken, the one that has been quiet longest and is not being
      answered makes room for the newcomer;
    * idle and slow connections cost no thread: requests are read by one event loop and
      only whole requests reach the ``threads`` that run the application.
    """

    max_body: int = 64 * 1024  # Slack's slash command payloads are a few KB
    max_header: int = 32 * 1024
    max_request_line: int = 8 * 1024  # method, request-target and version: longer gets 414
    max_header_count: int = 100  # header lines (Python's http.client reads at most 100): more gets 431
    idle_timeout: float = 10.0
    request_timeout: float = 30.0
    max_connections: int = 500
    threads: int = 8

    def connection_limit(self) -> int:
        """``max_connections``, lowered so the process never runs out of file descriptors
        (64 stay free for notes, logs, the ledger and API clients)."""
        try:
            import resource

            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            return self.max_connections
        if soft == getattr(resource, "RLIM_INFINITY", -1) or soft <= 0:
            return self.max_connections
        return max(8, min(self.max_connections, soft - 64))


def _guarded_parser(limits: Limits):
    """waitress's request parser, refusing what waitress lets through or answers vaguely:

    * a request line (method, target, version) over ``limits.max_request_line`` bytes: 414
      URI Too Long (waitress: 431 only once all headers pass ``max_header``);
    * more than ``limits.max_header_count`` header lines: 431 (waitress has no count, so 300
      small headers were served);
    * a refused request (413 for a too-large body, or any of the above) is never answered
      with ``100 Continue`` first (waitress sent it when asked, then read the body).

    Each refusal is made as soon as the bytes read so far show it; the connection is then
    answered and closed without reading further (as waitress does for its own refusals)."""
    from waitress.parser import HTTPRequestParser
    from waitress.utilities import RequestHeaderFieldsTooLarge

    class URITooLong(RequestHeaderFieldsTooLarge):
        code = 414
        reason = "URI Too Long"

    class Parser(HTTPRequestParser):
        completed: bool
        expect_continue: bool

        def received(self, data: bytes) -> int:
            if self.body_rcv is None and not self.completed:
                refusal = self._refusal(self.header_plus + data)
                if refusal is not None:
                    self.parse_header(b"GET / HTTP/1.0\r\n")  # as waitress does for its own 431
                    self.error = refusal
                    self.completed = True
                    return len(data)
            consumed = super().received(data)
            if self.error is not None:
                self.expect_continue = False  # refused: no "100 Continue", which would invite the body
            return consumed

        def _refusal(self, seen: bytes) -> Exception | None:
            end = seen.find(b"\r\n\r\n")
            head = (seen if end < 0 else seen[:end]).lstrip(b"\r\n")  # blank lines before a request are allowed
            line_end = head.find(b"\n")
            if (len(head) if line_end < 0 else line_end) > limits.max_request_line:
                return URITooLong(f"the request line exceeds {limits.max_request_line} bytes")
            fields = head[line_end + 1 :] if line_end >= 0 else b""
            if fields.count(b"\n") + (not fields.endswith(b"\n")) > limits.max_header_count:
                return RequestHeaderFieldsTooLarge(f"more than {limits.max_header_count} header lines")
            return None

    return Parser


class _MakesRoom:
    """Accepting at the connection limit (a mixin of waitress's ``TcpWSGIServer``): waitress
    stops accepting there and leaves the newcomers in the kernel's queue behind the idle
    connections; this accepts and closes the connection quiet for longest instead."""

    def readable(self) -> bool:
        srv: Any = self
        now = time.time()
        if now >= srv.next_channel_cleanup:
            srv.next_channel_cleanup = now + srv.adj.cleanup_interval
            srv.maintenance(now)
        return bool(srv.accepting)

    def handle_accept(self) -> None:
        srv: Any = self
        if len(srv.active_channels) >= srv.adj.connection_limit and not self._make_room():
            self._refuse_one()
            return
        try:
            accepted = srv.accept()
        except OSError as exc:  # out of file descriptors: free one rather than spin
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                if not self._make_room():
                    time.sleep(0.05)
            return
        if accepted is None:
            return
        conn, addr = accepted
        srv.channel_class(srv, conn, srv.fix_addr(addr), srv.adj, map=srv._map)

    def _make_room(self) -> bool:
        srv: Any = self
        quiet = [ch for ch in list(srv.active_channels.values()) if ch.waiting() and not ch.will_close]
        if not quiet:
            return False
        oldest = min(quiet, key=lambda ch: ch.last_activity)
        log.debug("connection limit reached: closing the connection quiet for longest")
        oldest.handle_close()
        return True

    def _refuse_one(self) -> None:
        srv: Any = self
        try:
            accepted = srv.accept()
        except OSError:
            time.sleep(0.05)
            return
        if accepted is not None:
            accepted[0].close()


class _StopsCleanly:
    """Serving until ``shutdown`` (a mixin of waitress's ``TcpWSGIServer``): one loop step at
    a time, so a stop is seen within ``asyncore_loop_timeout``; every connection closed on the
    way out."""

    _stopping = False
    _running = False

    def serve_forever(self) -> None:
        from waitress import wasyncore

        srv: Any = self
        self._running = True
        try:
            while not self._stopping:
                wasyncore.loop(timeout=srv.adj.asyncore_loop_timeout, map=srv._map, use_poll=True, count=1)
        finally:
            for ch in list(srv._map.values()):
                with contextlib.suppress(Exception):
                    ch.close()
            srv.task_dispatcher.shutdown(timeout=5)
            srv._stopped.set()

    def shutdown(self) -> None:
        srv: Any = self
        self._stopping = True
        if not self._running:  # never served: just let go of the socket
            with contextlib.suppress(Exception):
                srv.close()
            srv.task_dispatcher.shutdown(timeout=5)
            return
        with contextlib.suppress(Exception):
            srv.pull_trigger()
        srv._stopped.wait(10)

    def server_close(self) -> None:
        pass  # closed by serve_forever on its way out


def _waitress_classes(limits: Limits):
    """The server and channel classes for ``limits``, built on first use (``waitress``
    imported lazily)."""
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class Channel(HTTPChannel):
        parser_class = _guarded_parser(limits)
        request_started = 0.0  # when the first byte of the request being read arrived

        def received(self, data: bytes) -> bool:
            if self.request is None and data:
                self.request_started = time.monotonic()
            return super().received(data)

        def waiting(self) -> bool:
            """Not answering a request now (so it may be closed without losing an answer)."""
            return not self.requests and not self.total_outbufs_len

    class Server(_MakesRoom, _StopsCleanly, TcpWSGIServer):
        channel_class = Channel
        limits: Limits = Limits()
        next_channel_cleanup: float = 0

        def maintenance(self, now: float) -> None:
            super().maintenance(now)  # idle connections (channel_timeout)
            cutoff = time.monotonic() - self.limits.request_timeout
            for ch in list(self.active_channels.values()):
                if ch.request is not None and ch.waiting() and ch.request_started < cutoff:
                    ch.will_close = True  # a request still incomplete after request_timeout

        @property
        def server_address(self) -> tuple[str, int]:
            return str(self.effective_host), int(self.effective_port)

        @property
        def server_port(self) -> int:
            return int(self.effective_port)

    return Server


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str | None) -> str:
    """A client's text for one log line: control characters (a newline would forge a line)
    written as escapes."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text or "")


def _logged(app: Callable, level: int) -> Callable:
    """Logs each request's method, path and status (never its query or body)."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list, *exc: Any) -> Any:
            log.log(
                level,
                "%s %s %s %s",
                environ.get("REMOTE_ADDR", "-"),
                _printable(environ.get("REQUEST_METHOD")),
                _printable(environ.get("PATH_INFO")),
                status.split(" ", 1)[0],
            )
            return start_response(status, headers, *exc)

        return app(environ, start)

    return wrapped


def make_wsgi_server(host: str, port: int, app: Callable, limits: Limits | None = None, log_level: int = logging.INFO):
    """A server for ``app`` on ``host:port`` with the :class:`Limits` against hostile
    clients (``waitress`` underneath). It has ``serve_forever()``, ``shutdown()`` (from
    another thread), ``server_close()`` and ``server_address``/``server_port``; OSError if
    it cannot listen."""
    from waitress.adjustments import Adjustments
    from waitress.task import ThreadedTaskDispatcher

    limits = limits or Limits()
    server_class = _waitress_classes(limits)
    try:
        adj = Adjustments(
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.connection_limit(),
            channel_timeout=max(1, int(limits.idle_timeout)),
            cleanup_interval=1,
            max_request_body_size=limits.max_body,
            max_request_header_size=limits.max_header,
            log_socket_errors=False,
            expose_tracebacks=False,
            ident="chatbot",
            asyncore_use_poll=True,
            backlog=1024,
        )
    except ValueError:  # waitress's word for a host that does not resolve or a bad port
        raise OSError(errno.EADDRNOTAVAIL, "unknown host or invalid port") from None
    # one socket; IPv4 where the name has both (as before: "localhost" is 127.0.0.1)
    sockinfo = next((s for s in adj.listen if s[0] == socket.AF_INET), adj.listen[0])
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(limits.threads)
    try:
        server = server_class(_logged(app, log_level), map={}, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
    except BaseException:  # address in use, no permission: no worker threads left behind
        dispatcher.shutdown(timeout=1)
        raise
    server.limits = limits
    server._stopped = threading.Event()
    return server


def make_http_server(bot: Bot, host: str, port: int, limits: Limits | None = None):
    return make_wsgi_server(host, port, make_app(bot), limits)


def serve(bot: Bot, host: str, port: int, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (or Ctrl-C)."""
    server = make_http_server(bot, host, port)
    actual = server.server_address[1]
    log.warning("serving status pages on http://%s:%d/ (Ctrl-C to stop)", host, actual)
    thread = threading.Thread(target=server.serve_forever, name="chatbot-web", daemon=True)
    thread.start()
    try:
        stop = stop or threading.Event()
        while not stop.wait(0.5):  # short waits: a signal delivered to another thread runs its handler
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0
