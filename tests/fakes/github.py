"""A fake GitHub REST API for tests, on 127.0.0.1, written from GitHub's REST documentation
(docs.github.com/rest: pulls, issues/comments, issues/labels, repos, users, rate limits,
pagination), so a real client (PyGithub) is pointed at it by ``base_url`` (:attr:`FakeGitHub.url`).

Endpoints: ``GET /user``; ``GET /repos/{owner}/{repo}``; ``GET/POST /repos/{o}/{r}/pulls``
(list filtered by ``state``, ``head`` = ``owner:branch``, ``base``; paginated with ``per_page``/
``page`` and ``Link`` headers, as GitHub does); ``GET /repos/{o}/{r}/pulls/{n}``;
``GET/POST /repos/{o}/{r}/issues/{n}/comments`` (paginated); ``POST /repos/{o}/{r}/issues/{n}/labels``
(``{"labels": [...]}`` or a bare list; the answer is all the issue's labels).

Auth: ``Authorization: token T`` or ``Bearer T``. No or a wrong token: 401 ``Bad credentials``.
A token without push access writing: 403 ``Resource not accessible by personal access
token``; a private repository the token cannot see: 404 (GitHub hides it). Creating a pull
request whose head branch does not exist, or for a head that already has an open pull
request: 422 ``Validation Failed`` with GitHub's ``errors``. Branches exist when the test says so
(:meth:`FakeGitHub.add_branch`) or, for a repository backed by a real bare Git repository
(``git_dir``), when that repository has the ref.

Test controls: :meth:`FakeGitHub.fail_next` answers the next N matching requests with 429
(``Retry-After``), a secondary rate limit (403 + ``Retry-After`` and GitHub's message), the
primary rate limit (403, ``x-ratelimit-remaining: 0``, ``x-ratelimit-reset``), 409, 500, or any
status; :meth:`FakeGitHub.before_next` runs a function (e.g. :meth:`FakeGitHub.open_pull`, someone
else opening the pull request) just before the next matching request is handled;
:attr:`FakeGitHub.requests` records every request.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DOCS = "https://docs.github.com/rest"
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    git_dir: Path | None = None
    branches: set[str] = field(default_factory=set)
    writers: set[str] = field(default_factory=set)  # logins with push access

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: str | None
    status: int = 0


@dataclass
class Failure:
    kind: str  # "429", "secondary", "primary", or a status as a string
    count: int
    retry_after: int


class FakeGitHub:
    def __init__(self, token: str = "ghp_fakeToken0123456789abcdefABCDEF01", login: str = "agenda-bot"):
        self.lock = threading.RLock()
        self.tokens: dict[str, str] = {token: login}
        self.token, self.login = token, login
        self.repos: dict[str, Repo] = {}
        self.pulls: dict[str, list[dict[str, Any]]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.requests: list[Request] = []
        self.failures: list[tuple[str, str, Failure]] = []
        self.hooks: list[tuple[str, str, Any]] = []
        self._ids = itertools.count(1000)
        self.server = ThreadingHTTPServer((HOST, 0), self._handler_class())
        self.server.daemon_threads = True

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def start(self) -> FakeGitHub:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the world ------------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        private: bool = False,
        git_dir: Path | None = None,
        default_branch: str = "main",
        writers: list[str] | None = None,
    ) -> Repo:
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(
                owner,
                name,
                next(self._ids),
                default_branch,
                private,
                git_dir,
                {default_branch},
                set(writers if writers is not None else [self.login]),
            )
            self.repos[full_name] = repo
            self.pulls[full_name] = []
            return repo

    def add_token(self, token: str, login: str) -> None:
        with self.lock:
            self.tokens[token] = login

    def add_branch(self, full_name: str, branch: str) -> None:
        with self.lock:
            self.repos[full_name].branches.add(branch)

    def _branch_sha(self, repo: Repo, branch: str) -> str | None:
        if repo.git_dir is not None:
            proc = subprocess.run(
                ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                cwd=repo.git_dir,
                capture_output=True,
                text=True,
            )
            return proc.stdout.strip() if proc.returncode == 0 else None
        return f"{abs(hash((repo.full_name, branch))):040x}"[:40] if branch in repo.branches else None

    def open_pulls(self, full_name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.pulls[full_name] if p["state"] == "open"]

    def fail_next(
        self, method: str, path: str | None = None, kind: str | int = 429, count: int = 1, retry_after: int = 1
    ) -> None:
        """``kind``: 429, "secondary", "primary", or another status (409, 500...)."""
        with self.lock:
            self.failures.append((method.upper(), path or "*", Failure(str(kind), count, retry_after)))

    def before_next(self, method: str, path: str, fn) -> None:
        """Run ``fn`` once, just before the server handles the next ``method`` request to ``path``."""
        with self.lock:
            self.hooks.append((method.upper(), path, fn))

    def open_pull(self, full_name: str, head: str, title: str, body: str, login: str | None = None) -> dict[str, Any]:
        """Someone else opens a pull request (as through the web UI)."""
        with self.lock:
            status, pr, _ = self._create_pull(
                self.repos[full_name],
                {"head": head, "base": self.repos[full_name].default_branch, "title": title, "body": body},
                login or "jezdez",
            )
            assert status == 201, pr
            return pr

    def requests_to(self, method: str, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method.upper() and (path is None or r.path == path)]

    # -- wire shapes ----------------------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        uid = abs(hash(login)) % 10**7
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "type": "User",
            "site_admin": False,
            "url": f"{self.url}/users/{login}",
            "html_url": f"https://github.com/{login}",
        }

    def _repo_wire(self, repo: Repo, login: str | None) -> dict[str, Any]:
        base = f"{self.url}/repos/{repo.full_name}"
        push = login in repo.writers
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user(repo.owner),
            "html_url": f"https://github.com/{repo.full_name}",
            "url": base,
            "pulls_url": base + "/pulls{/number}",
            "issues_url": base + "/issues{/number}",
            "default_branch": repo.default_branch,
            "clone_url": f"https://github.com/{repo.full_name}.git",
            "permissions": {"admin": False, "maintain": push, "push": push, "triage": push, "pull": True},
        }

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

        return Handler

    def _send(self, h, rec: Request, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        rec.status = status
        data = json.dumps(payload).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        base = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }
        base.update(headers or {})
        for k, v in base.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _error(self, status: int, message: str, **extra) -> tuple[int, dict, dict]:
        return status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra}, {}

    def _serve(self, h, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        auth = h.headers.get("Authorization") or ""
        token = auth.split(" ", 1)[1].strip() if " " in auth else None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        rec = Request(method, url.path, query, body, token)
        with self.lock:
            self.requests.append(rec)
            hook = next((x for x in self.hooks if x[0] == method and x[1] == url.path), None)
            if hook is not None:
                self.hooks.remove(hook)
        if hook is not None:
            hook[2]()
        with self.lock:
            failure = None
            for m, p, f in self.failures:
                if m == method and f.count > 0 and (p == "*" or p == url.path):
                    f.count -= 1
                    failure = f
                    break
        if failure is not None:
            status, payload, headers = self._failure(failure)
            return self._send(h, rec, status, payload, headers)
        login = self.tokens.get(token or "")
        if login is None:
            status, payload, headers = self._error(401, "Requires authentication" if not token else "Bad credentials")
            return self._send(h, rec, status, payload, headers)
        if body is ValueError:
            status, payload, headers = self._error(400, "Problems parsing JSON")
            return self._send(h, rec, status, payload, headers)
        with self.lock:
            status, payload, headers = self._route(method, url.path, query, body, login)
        self._send(h, rec, status, payload, headers)

    def _failure(self, f: Failure) -> tuple[int, dict, dict]:
        if f.kind == "429":
            status, payload, _ = self._error(429, SECONDARY)
            return status, payload, {"Retry-After": str(f.retry_after)}
        if f.kind == "secondary":
            status, payload, _ = self._error(403, SECONDARY)
            return status, payload, {"Retry-After": str(f.retry_after)}
        if f.kind == "primary":
            status, payload, _ = self._error(403, "API rate limit exceeded for user ID 1.")
            return (
                status,
                payload,
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + f.retry_after)},
            )
        status = int(f.kind)
        messages = {409: "Conflict", 500: "Server Error", 502: "Bad Gateway", 422: "Validation Failed"}
        return self._error(status, messages.get(status, "Error"))

    def _paginate(self, items: list[Any], path: str, query: dict[str, str]) -> tuple[int, Any, dict]:
        try:
            per_page = max(1, min(100, int(query.get("per_page", 30))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            return self._error(422, "Validation Failed")
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            q = dict(query, per_page=str(per_page), page=str(p))
            return f'<{self.url}{path}?{urllib.parse.urlencode(q)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return 200, chunk, ({"Link": ", ".join(links)} if links else {})

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, login: str) -> tuple[int, Any, dict]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts == ["user"] and method == "GET":
            return 200, self._user(login), {}
        if len(parts) < 3 or parts[0] != "repos":
            return self._error(404, "Not Found")
        full = f"{parts[1]}/{parts[2]}"
        repo = self.repos.get(full)
        if repo is None or (repo.private and login not in repo.writers):
            return self._error(404, "Not Found")
        rest = parts[3:]
        if not rest and method == "GET":
            return 200, self._repo_wire(repo, login), {}
        if method != "GET" and login not in repo.writers:
            return self._error(403, "Resource not accessible by personal access token")
        if rest == ["pulls"]:
            if method == "GET":
                pulls = self.pulls[full]
                state = query.get("state", "open")
                if state != "all":
                    pulls = [p for p in pulls if p["state"] == state]
                if "head" in query:
                    pulls = [p for p in pulls if p["head"]["label"] == query["head"]]
                if "base" in query:
                    pulls = [p for p in pulls if p["base"]["ref"] == query["base"]]
                pulls = sorted(pulls, key=lambda p: p["number"], reverse=query.get("direction", "desc") == "desc")
                return self._paginate(pulls, path, query)
            if method == "POST":
                return self._create_pull(repo, body, login)
        if len(rest) == 2 and rest[0] == "pulls" and method == "GET":
            pr = self._pull(full, rest[1])
            return (200, pr, {}) if pr else self._error(404, "Not Found")
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments":
            pr = self._pull(full, rest[1])
            if pr is None:
                return self._error(404, "Not Found")
            comments = self.comments.setdefault((full, pr["number"]), [])
            if method == "GET":
                return self._paginate(comments, path, query)
            if method == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
                    return self._error(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
                    )
                cid = next(self._ids)
                comment = {
                    "id": cid,
                    "node_id": f"IC_{cid}",
                    "body": body["body"],
                    "user": self._user(login),
                    "url": f"{self.url}/repos/{full}/issues/comments/{cid}",
                    "html_url": f"{pr['html_url']}#issuecomment-{cid}",
                    "issue_url": pr["issue_url"],
                    "created_at": _now_iso(),
                    "updated_at": _now_iso(),
                    "author_association": "MEMBER",
                }
                comments.append(comment)
                pr["comments"] = len(comments)
                return 201, comment, {}
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "labels" and method == "POST":
            pr = self._pull(full, rest[1])
            if pr is None:
                return self._error(404, "Not Found")
            names = body.get("labels") if isinstance(body, dict) else body
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                return self._error(
                    422, "Validation Failed", errors=[{"resource": "Label", "code": "invalid", "field": "labels"}]
                )
            have = {lb["name"] for lb in pr["labels"]}
            for n in names:
                if n not in have:
                    lid = next(self._ids)
                    pr["labels"].append(
                        {
                            "id": lid,
                            "node_id": f"LA_{lid}",
                            "name": n,
                            "color": "ededed",
                            "default": False,
                            "description": None,
                            "url": f"{self.url}/repos/{full}/labels/{urllib.parse.quote(n)}",
                        }
                    )
                    have.add(n)
            return 200, pr["labels"], {}
        return self._error(404, "Not Found")

    def _pull(self, full: str, number: str) -> dict[str, Any] | None:
        return next((p for p in self.pulls[full] if str(p["number"]) == number), None)

    def _create_pull(self, repo: Repo, body: Any, login: str) -> tuple[int, Any, dict]:
        if not isinstance(body, dict):
            return self._error(422, "Validation Failed")
        missing = [k for k in ("head", "base") if not isinstance(body.get(k), str) or not body[k]]
        if missing or not (body.get("title") or body.get("issue")):
            return self._error(
                422,
                "Validation Failed",
                errors=[
                    {"resource": "PullRequest", "code": "missing_field", "field": f} for f in (missing or ["title"])
                ],
            )
        head = body["head"]
        head_owner, _, head_ref = head.rpartition(":")
        head_owner = head_owner or repo.owner
        if self._branch_sha(repo, body["base"]) is None:
            return self._error(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}]
            )
        sha = self._branch_sha(repo, head_ref)
        if sha is None:
            return self._error(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            )
        label = f"{head_owner}:{head_ref}"
        if any(
            p["head"]["label"] == label and p["base"]["ref"] == body["base"] for p in self.open_pulls(repo.full_name)
        ):
            return self._error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {label}.",
                    }
                ],
            )
        number = max((p["number"] for p in self.pulls[repo.full_name]), default=0) + 1
        rid = next(self._ids)
        base_url = f"{self.url}/repos/{repo.full_name}"
        html = f"https://github.com/{repo.full_name}/pull/{number}"
        repo_wire = self._repo_wire(repo, login)
        pr = {
            "id": rid,
            "node_id": f"PR_{rid}",
            "number": number,
            "state": "open",
            "locked": False,
            "title": body.get("title") or "",
            "body": body.get("body"),
            "draft": bool(body.get("draft")),
            "user": self._user(login),
            "labels": [],
            "merged": False,
            "mergeable": None,
            "comments": 0,
            "created_at": _now_iso(),
            "updated_at": _now_iso(),
            "closed_at": None,
            "merged_at": None,
            "url": f"{base_url}/pulls/{number}",
            "html_url": html,
            "issue_url": f"{base_url}/issues/{number}",
            "comments_url": f"{base_url}/issues/{number}/comments",
            "head": {"label": label, "ref": head_ref, "sha": sha, "user": self._user(head_owner), "repo": repo_wire},
            "base": {
                "label": f"{repo.owner}:{body['base']}",
                "ref": body["base"],
                "sha": self._branch_sha(repo, body["base"]),
                "user": self._user(repo.owner),
                "repo": repo_wire,
            },
            "maintainer_can_modify": bool(body.get("maintainer_can_modify", True)),
        }
        self.pulls[repo.full_name].append(pr)
        return 201, pr, {"Location": pr["url"]}
