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
them with the standard library's ``wsgiref`` for ``chatbot serve``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
import threading
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

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
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

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
    return {"iso": utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "fallback": format_utc(start),
            "date": start.date().isoformat(), "converter": converter_url(start)}


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
    ctx: dict[str, Any] = {"meeting": meeting, "next": None, "zones": [], "agenda": None, "agenda_error": None,
                           "notes_url": None, "notes_name": None, "owners": [], "upcoming": [],
                           "generated": format_utc(now)}
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
            ctx["agenda"] = [{"owners": ", ".join(it.owners), "body": it.body if it.owners else it.text,
                              "checked": bool(it.checked)} for it in (agenda or [])]
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
    return jinja2.Environment(autoescape=True).from_string(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Not found</title>"
        "<p>Not found: {{ what }}</p><p><a href=\"{{ home }}\">All meetings</a></p></html>").render(
            what=what, home=home)


@dataclass
class Response:
    status: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[str, str]]:
        base = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))),
                ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-cache")]
        if self.content_type.startswith("text/html"):
            base += [("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer")]
        return base + self.headers


_MEETING = re.compile(r"^/meetings/([a-z0-9][a-z0-9_-]*)(/?)$")
_ICS = re.compile(r"^/calendar/([a-z0-9][a-z0-9_-]*)\.ics$")


def respond(bot: Bot, method: str, path: str) -> Response:
    """Route one request (no I/O beyond reading the notes)."""
    if method not in ("GET", "HEAD"):
        return Response("405 Method Not Allowed", b"read-only\n", "text/plain; charset=utf-8",
                        [("Allow", "GET, HEAD")])

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
            return Response("301 Moved Permanently", b"", "text/plain; charset=utf-8",
                            [("Location", f"../{m.group(1)}")])
        return Response("200 OK", render_meeting_page(bot, bot.config.meeting(m.group(1))).encode())
    m = _ICS.match(path)
    if m and meeting_or_none(m.group(1)):
        data = meeting_ics(bot.config, bot.config.meeting(m.group(1)), bot.now())
        return Response("200 OK", data, ICS_TYPE,
                        [("Content-Disposition", f'inline; filename="{m.group(1)}.ics"')])
    if path == "/healthz":
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
            resp = Response("500 Internal Server Error", b"internal error; see the bot's log\n",
                            "text/plain; charset=utf-8")
        start_response(resp.status, resp.all_headers())
        return [b"" if method == "HEAD" else resp.body]

    return app


def by_path(routes: Mapping[str, Callable], default: Callable) -> Callable[[dict, Callable], Iterable[bytes]]:
    """One WSGI application that sends each exact path to its own application (e.g. the
    Slack backend's ``/slack/events`` next to the status pages)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        return routes.get(environ.get("PATH_INFO") or "/", default)(environ, start_response)

    return app


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """``wsgiref``'s server with a thread per request and a listen backlog for bursts.

    socketserver's default backlog of 5 makes a burst of connections (50 Slack commands at
    once) see resets and 1 s SYN retransmits; the Slack backend's HTTP mode uses this class too.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)


def make_http_server(bot: Bot, host: str, port: int) -> WSGIServer:
    return make_server(host, port, make_app(bot), server_class=ThreadingServer, handler_class=_Handler)


def serve(bot: Bot, host: str, port: int, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (or Ctrl-C)."""
    server = make_http_server(bot, host, port)
    actual = server.server_address[1]
    log.warning("serving status pages on http://%s:%d/ (Ctrl-C to stop)", host, actual)
    thread = threading.Thread(target=server.serve_forever, name="chatbot-web", daemon=True)
    thread.start()
    try:
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0
