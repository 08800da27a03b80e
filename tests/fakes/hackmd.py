"""A fake HackMD REST API v1 for tests, on 127.0.0.1.

Written from HackMD's API documentation (developer portal, and the OpenAPI types of
``hackmdio/api-client``), so a real HTTP client is pointed at it by base URL
(``FakeHackMD.api_url``, e.g. ``http://127.0.0.1:PORT/v1``) and nothing is monkeypatched.

Endpoints (JSON bodies, ``Authorization: Bearer TOKEN``):

- ``GET /v1/me`` (the user, with ``teams``), ``GET /v1/teams``;
- user notes: ``GET /v1/notes`` (without ``content``), ``POST /v1/notes`` (201, the note with
  ``content``), ``GET /v1/notes/{id}`` (with ``content`` and an ``ETag``; ``If-None-Match`` gives
  304), ``PATCH /v1/notes/{id}`` (202, empty body: the whole content is replaced),
  ``DELETE /v1/notes/{id}`` (204). A team note is reachable here too for a member of its team;
- team notes: ``GET/POST /v1/teams/{teamPath}/notes``, ``GET/PATCH/DELETE
  /v1/teams/{teamPath}/notes/{id}``.

Errors as HackMD answers them: 401 ``{"error": ...}`` without or with a wrong token, 403 for a
team the user is not in (or a note they may not write), 404 for an unknown note/team/route,
400 for a body that is not JSON or a ``content`` that is not a string, 409 for a ``permalink``
already taken. Every answer carries ``x-ratelimit-userlimit``/``-userremaining``/``-userreset``;
when the monthly quota (:attr:`FakeHackMD.quota`) is used up the answer is 429 with
``{"error": {"code": "quota_exceeded", ...}}``.

Notes look like HackMD's: ``id``, ``title`` (the YAML ``title:`` of the content, else its first
H1, else ``Untitled``, recomputed on every change as HackMD does), ``content``, ``tags``,
``createdAt``/``lastChangedAt`` (epoch milliseconds), ``lastChangeUser``, ``publishType``,
``publishLink``, ``shortId``, ``permalink``, ``teamPath``/``userPath``, ``readPermission``/
``writePermission``.

What tests can do:

- :meth:`FakeHackMD.human_edit`: someone types in the editor (the content changes and
  ``lastChangedAt`` moves, ``lastChangeUser`` is that person);
- :meth:`FakeHackMD.before_next`: run a function (typically a ``human_edit``) just before the
  server handles the next matching request, e.g. "a human types between the bot's GET and its
  PATCH";
- :meth:`FakeHackMD.fail_next`: the next N matching requests answer 429 with ``Retry-After``,
  another status, or a dropped connection (not carried out);
- :meth:`FakeHackMD.lose_answer_next`: the next N matching requests are carried out but their
  answer is lost (dropped connection or a 502 from a proxy);
- :attr:`FakeHackMD.requests`: every request (method, path, body, status, whether a token came).

Time: ``createdAt``/``lastChangedAt`` come from ``clock`` (epoch ms; default the wall clock),
made strictly increasing per note so two changes never share a ``lastChangedAt``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Callable

HOST = "127.0.0.1"


def title_of(content: str) -> str:
    """HackMD's note title: ``title:`` in a leading YAML block, else the first H1 outside code
    fences, else "Untitled"."""
    lines = content.splitlines()
    if lines and lines[0].strip() == "---":
        for ln in lines[1:]:
            if ln.strip() in ("---", "..."):
                break
            m = re.match(r"title\s*:\s*(.+)", ln)
            if m:
                return m.group(1).strip().strip("'\"")
    fence = None
    for ln in lines:
        m = re.match(r"\s{0,3}(`{3,}|~{3,})", ln)
        if m:
            if fence is None:
                fence = m.group(1)[0]
            elif m.group(1)[0] == fence:
                fence = None
            continue
        if fence is None:
            m = re.match(r"\s{0,3}#(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$", ln)
            if m and m.group(1):
                return m.group(1).strip()
    return "Untitled"


@dataclass
class User:
    id: str
    name: str
    user_path: str
    token: str | None
    email: str | None = None

    def profile(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "userPath": self.user_path,
            "photo": f"https://avatars.example/{self.user_path}",
            "biography": None,
        }


@dataclass
class Team:
    id: str
    path: str
    name: str
    members: set[str]  # user ids
    created_at: int

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ownerId": None,
            "name": self.name,
            "logo": "",
            "path": self.path,
            "description": None,
            "visibility": "private",
            "upgraded": False,
            "createdAt": self.created_at,
        }


@dataclass
class Note:
    id: str
    short_id: str
    content: str
    owner: str  # user id of the creator
    team_path: str | None
    created_at: int
    last_changed_at: int
    last_change_user: str | None  # user id
    read_permission: str = "owner"
    write_permission: str = "owner"
    comment_permission: str = "disabled"
    tags: list[str] = field(default_factory=list)
    permalink: str | None = None
    description: str = ""
    title_override: str | None = None  # a title given at creation for a content without H1

    @property
    def title(self) -> str:
        t = title_of(self.content)
        return self.title_override if (t == "Untitled" and self.title_override) else t


@dataclass
class Request:
    method: str
    path: str
    body: Any
    token: str | None
    status: int = 0
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int | None  # None: drop the connection without an answer
    retry_after: float
    count: int
    body: dict[str, Any] | None = None
    after: bool = False  # carry the request out, then fail instead of answering (the answer is lost)


@dataclass
class Hook:
    method: str
    path: str | None  # exact path, or None for any
    fn: Callable[[], Any]
    skip: int


class FakeHackMD:
    """``with FakeHackMD() as hm:``; the bot's user (token ``hm.token``) is in team ``hm.team``."""

    def __init__(
        self,
        token: str = "hackmd-fake-token-0123456789",
        user_path: str = "agenda-bot",
        team: str = "conda-community",
        web_url: str = "https://hackmd.io",
        clock: Callable[[], int] | None = None,
        quota: int | None = None,
        rate_limit: int = 100,
    ):
        self.lock = threading.RLock()
        self.web_url = web_url
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.quota = quota  # API calls left this month; None: unlimited
        self.rate_limit = rate_limit
        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.notes: dict[str, Note] = {}
        self.requests: list[Request] = []
        self.failures: list[tuple[str, str, Failure]] = []
        self.hooks: list[Hook] = []
        self._ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self.token = token
        self.bot = self.add_user("Agenda Bot", user_path, token=token)
        self.human = self.add_user("Jaime Rodríguez-Guerra", "jaimergp")
        self.team = team
        self.add_team(team, "Conda Community", members=[self.bot, self.human])
        self.server = ThreadingHTTPServer((HOST, 0), self._handler_class())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> FakeHackMD:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hackmd", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeHackMD:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the workspace --------------------------------------------------------------------

    def _new_id(self, n: int = 22) -> str:
        return secrets.token_urlsafe(n)[:n]

    def _now(self, after: int = 0) -> int:
        return max(int(self.clock()), after + 1)

    def add_user(self, name: str, user_path: str, token: str | None = None) -> User:
        with self.lock:
            user = User(self._new_id(), name, user_path, token, f"{user_path}@example.org")
            self.users[user.id] = user
            return user

    def add_team(self, path: str, name: str, members: list[User]) -> Team:
        with self.lock:
            team = Team(self._new_id(), path, name, {u.id for u in members}, self._now())
            self.teams[path] = team
            return team

    def add_note(self, content: str, team_path: str | None = None, owner: User | None = None) -> Note:
        """A note that already exists (e.g. created by hand in HackMD)."""
        with self.lock:
            now = self._now()
            who = owner or self.human
            note = Note(
                self._new_id(),
                self._new_id(9),
                content,
                who.id,
                team_path,
                now,
                now,
                who.id,
                read_permission="guest" if team_path else "owner",
                write_permission="signed_in" if team_path else "owner",
            )
            self.notes[note.id] = note
            return note

    def human_edit(self, note_id: str, change: str | Callable[[str], str], who: User | None = None) -> str:
        """Someone types in the editor: ``change`` is the new content or a function of the old."""
        with self.lock:
            note = self.notes[note_id]
            note.content = change(note.content) if callable(change) else change
            note.last_changed_at = self._now(note.last_changed_at)
            note.last_change_user = (who or self.human).id
            return note.content

    def content(self, note_id: str) -> str:
        with self.lock:
            return self.notes[note_id].content

    def team_notes(self, team_path: str | None = None) -> list[Note]:
        with self.lock:
            return [n for n in self.notes.values() if n.team_path == (team_path or self.team)]

    # -- test controls --------------------------------------------------------------------

    def before_next(self, method: str, fn: Callable[[], Any], path: str | None = None, skip: int = 0) -> None:
        """Run ``fn`` just before the server handles the (``skip``+1)-th next ``method`` request
        (to ``path``, e.g. ``/v1/notes/ID``, if given). Runs once."""
        with self.lock:
            self.hooks.append(Hook(method.upper(), path, fn, skip))

    def fail_next(
        self,
        method: str,
        path: str | None = None,
        count: int = 1,
        status: int | None = 429,
        retry_after: float = 1,
        body: dict[str, Any] | None = None,
    ) -> None:
        """The next ``count`` ``method`` requests (to ``path`` if given; a path may end in ``*``
        for a prefix) answer ``status`` (429 with ``Retry-After``), or drop the connection
        (``status=None``)."""
        with self.lock:
            self.failures.append((method.upper(), path or "*", Failure(status, retry_after, count, body)))

    def lose_answer_next(self, method: str, path: str | None = None, count: int = 1, status: int | None = None) -> None:
        """The next ``count`` matching requests are carried out, but the answer is lost: the
        connection drops (``status=None``) or a proxy answers ``status`` (e.g. 502)."""
        with self.lock:
            self.failures.append((method.upper(), path or "*", Failure(status, 0, count, None, after=True)))

    def requests_to(self, method: str, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method.upper() and (path is None or r.path == path)]

    # -- wire shapes ----------------------------------------------------------------------

    def _note_wire(self, note: Note, with_content: bool) -> dict[str, Any]:
        owner = self.users[note.owner]
        changer = self.users.get(note.last_change_user or "")
        where = f"@{note.team_path}" if note.team_path else f"@{owner.user_path}"
        out = {
            "id": note.id,
            "title": note.title,
            "description": note.description,
            "tags": list(note.tags),
            "createdAt": note.created_at,
            "lastChangedAt": note.last_changed_at,
            "titleUpdatedAt": note.last_changed_at,
            "tagsUpdatedAt": None,
            "lastChangeUser": changer.profile() if changer else None,
            "publishType": "view",
            "publishedAt": None,
            "permalink": note.permalink,
            "shortId": note.short_id,
            "publishLink": f"{self.web_url}/{where}/{note.permalink or note.short_id}",
            "userPath": None if note.team_path else owner.user_path,
            "teamPath": note.team_path,
            "readPermission": note.read_permission,
            "writePermission": note.write_permission,
            "folderPaths": [],
        }
        if with_content:
            out["content"] = note.content
        return out

    @staticmethod
    def _etag(note: Note) -> str:
        return 'W/"' + hashlib.sha1(f"{note.last_changed_at}:{note.content}".encode()).hexdigest()[:20] + '"'

    # -- HTTP -----------------------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK hold every answer back ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                fake._serve(self, "GET")

            def do_POST(self):
                fake._serve(self, "POST")

            def do_PATCH(self):
                fake._serve(self, "PATCH")

            def do_DELETE(self):
                fake._serve(self, "DELETE")

        return Handler

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        rec: Request,
        status: int,
        payload: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        rec.status = status
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        h.send_response(status)
        if payload is not None:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        with self.lock:
            remaining = self.rate_limit if self.quota is None else max(self.quota, 0)
        h.send_header("x-ratelimit-userlimit", str(self.rate_limit))
        h.send_header("x-ratelimit-userremaining", str(remaining))
        h.send_header("x-ratelimit-userreset", str(int(time.time()) + 3600))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)

    def _take_failure(self, method: str, path: str) -> Failure | None:
        for m, p, f in self.failures:
            if m == method and f.count > 0 and (p == "*" or p == path or (p.endswith("*") and path.startswith(p[:-1]))):
                f.count -= 1
                return f
        return None

    def _take_hook(self, method: str, path: str) -> Hook | None:
        for hook in self.hooks:
            if hook.method == method and (hook.path is None or hook.path == path):
                if hook.skip > 0:
                    hook.skip -= 1
                    continue
                self.hooks.remove(hook)
                return hook
        return None

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        path = url.path.rstrip("/") or "/"
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        auth = h.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        rec = Request(method, path, body, token)
        with self.lock:
            self.requests.append(rec)
            hook = self._take_hook(method, path)
        if hook is not None:
            hook.fn()
        with self.lock:
            failure = self._take_failure(method, path)
        lost = failure if failure is not None and failure.after else None
        if lost is not None:
            failure = None
        if failure is not None:
            if failure.status is None:
                return self._drop(h, rec)
            if failure.status == 429:
                return self._send(
                    h,
                    rec,
                    429,
                    failure.body or {"error": "Too many requests"},
                    {"Retry-After": f"{failure.retry_after:g}"},
                )
            return self._send(h, rec, failure.status, failure.body or {"error": "Internal Server Error"})
        user = next((u for u in self.users.values() if token and u.token == token), None)
        if user is None:
            return self._send(h, rec, 401, {"error": "Unauthorized"})
        with self.lock:
            if self.quota is not None:
                if self.quota <= 0:
                    return self._send(
                        h,
                        rec,
                        429,
                        {
                            "error": {
                                "code": "quota_exceeded",
                                "message": "API call quota exceeded for this month",
                                "upgradeUrl": f"{self.web_url}/pricing",
                                "helpUrl": f"{self.web_url}/s/api-quota",
                            }
                        },
                    )
                self.quota -= 1
        if bad_json:
            return self._send(h, rec, 400, {"message": "Invalid JSON body"})
        parts = path.split("/")[1:]
        if not parts or parts[0] != "v1":
            return self._send(h, rec, 404, {"error": "Not Found"})
        parts = parts[1:]
        try:
            with self.lock:
                status, payload, headers = self._route(method, parts, user, body, h)
        except _Answer as a:
            status, payload, headers = a.status, a.payload, {}
        if lost is not None:
            if lost.status is None:
                return self._drop(h, rec)
            return self._send(h, rec, lost.status, {"error": "Bad Gateway"})
        self._send(h, rec, status, payload, headers)

    @staticmethod
    def _drop(h: BaseHTTPRequestHandler, rec: Request) -> None:
        rec.status = -1
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    # -- routes ---------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str], user: User, body: Any, h) -> tuple[int, Any, dict]:
        teams_of = [t for t in self.teams.values() if user.id in t.members]
        if parts == ["me"] and method == "GET":
            return (
                200,
                {
                    "id": user.id,
                    "email": user.email,
                    "name": user.name,
                    "userPath": user.user_path,
                    "photo": user.profile()["photo"],
                    "teams": [t.wire() for t in teams_of],
                    "upgraded": False,
                },
                {},
            )
        if parts == ["teams"] and method == "GET":
            return 200, [t.wire() for t in teams_of], {}
        if parts == ["notes"]:
            if method == "GET":
                mine = [n for n in self.notes.values() if n.owner == user.id and n.team_path is None]
                return 200, [self._note_wire(n, False) for n in mine], {}
            if method == "POST":
                return self._create(user, None, body)
        if len(parts) == 2 and parts[0] == "notes":
            note = self.notes.get(parts[1])
            if note is None:
                raise _Answer(404, {"error": "Note not found"})
            if note.team_path:
                self._member(user, note.team_path)
            elif note.owner != user.id and not (method == "GET" and note.read_permission in ("guest", "signed_in")):
                raise _Answer(403, {"error": "Forbidden"})
            return self._one(method, note, user, body, h)
        if len(parts) >= 3 and parts[0] == "teams" and parts[2] == "notes":
            team_path = parts[1]
            self._member(user, team_path)
            if len(parts) == 3:
                if method == "GET":
                    return 200, [self._note_wire(n, False) for n in self.notes.values() if n.team_path == team_path], {}
                if method == "POST":
                    return self._create(user, team_path, body)
            if len(parts) == 4:
                note = self.notes.get(parts[3])
                if note is None or note.team_path != team_path:
                    raise _Answer(404, {"error": "Note not found"})
                return self._one(method, note, user, body, h)
        raise _Answer(404, {"error": "Not Found"})

    def _member(self, user: User, team_path: str) -> None:
        team = self.teams.get(team_path)
        if team is None:
            raise _Answer(404, {"error": "Team not found"})
        if user.id not in team.members:
            raise _Answer(403, {"error": "Forbidden: not a member of this team"})

    def _create(self, user: User, team_path: str | None, body: Any) -> tuple[int, Any, dict]:
        if body is None:
            body = {}
        if isinstance(body, str):  # the API also takes the bare content
            body = {"content": body}
        if not isinstance(body, dict):
            raise _Answer(400, {"message": "Invalid request body"})
        content, title = body.get("content"), body.get("title")
        if content is not None and not isinstance(content, str):
            raise _Answer(
                422, {"message": "Validation Failed", "details": {"content": {"message": "must be a string"}}}
            )
        if content is None:
            content = f"# {title}\n" if title else ""
        permalink = body.get("permalink")
        if permalink and any(n.permalink == permalink for n in self.notes.values()):
            raise _Answer(409, {"error": "Permalink already in use"})
        now = self._now()
        note = Note(
            self._new_id(),
            self._new_id(9),
            content,
            user.id,
            team_path,
            now,
            now,
            user.id,
            read_permission=body.get("readPermission", "owner"),
            write_permission=body.get("writePermission", "owner"),
            comment_permission=body.get("commentPermission", "disabled"),
            tags=list(body.get("tags") or []),
            permalink=permalink,
            description=body.get("description") or "",
            title_override=title,
        )
        self.notes[note.id] = note
        return 201, self._note_wire(note, True), {}

    def _one(self, method: str, note: Note, user: User, body: Any, h) -> tuple[int, Any, dict]:
        if method == "GET":
            etag = self._etag(note)
            if h.headers.get("If-None-Match") == etag:
                return 304, None, {"ETag": etag}
            return 200, self._note_wire(note, True), {"ETag": etag}
        can_write = note.owner == user.id or (note.team_path is not None and note.write_permission != "owner")
        if method == "PATCH":
            if not can_write:
                raise _Answer(403, {"error": "Forbidden"})
            if not isinstance(body, dict):
                raise _Answer(400, {"message": "Invalid request body"})
            if "content" in body and not isinstance(body["content"], str):
                raise _Answer(
                    422, {"message": "Validation Failed", "details": {"content": {"message": "must be a string"}}}
                )
            if "content" in body:
                note.content = body["content"]
                note.last_changed_at = self._now(note.last_changed_at)
                note.last_change_user = user.id
            for key, attr in (
                ("readPermission", "read_permission"),
                ("writePermission", "write_permission"),
                ("tags", "tags"),
                ("permalink", "permalink"),
            ):
                if key in body:
                    setattr(note, attr, body[key])
            return 202, None, {}
        if method == "DELETE":
            if note.owner != user.id and note.team_path is None:
                raise _Answer(403, {"error": "Forbidden"})
            del self.notes[note.id]
            return 204, None, {}
        raise _Answer(404, {"error": "Not Found"})


class _Answer(Exception):
    def __init__(self, status: int, payload: Any):
        super().__init__(status)
        self.status, self.payload = status, payload
