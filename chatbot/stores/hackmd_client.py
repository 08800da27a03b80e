"""A thin client for HackMD's REST API v1 (https://hackmd.io/@hackmd-api/developer-portal).

HackMD has no well-kept Python client, so this is a small module over ``requests``. It takes
plain arguments (a token, a base URL); the caller reads the token from ``HACKMD_TOKEN``.

* The token goes only into the ``Authorization`` header. It is never logged, never part of an
  exception's text (any text that would carry it is redacted), and not in ``repr(client)``;
  :func:`redact_in_logs` also filters it out of the root logger's handlers.
* Every request has a timeout (connect, read).
* ``429 Too Many Requests`` with ``Retry-After``: waits that long (at most ``max_wait``) and
  retries, at most ``max_retries`` times; a wait longer than ``max_wait`` is not slept but
  raised as :class:`HackMDRateLimited` with ``retry_after``. The monthly API quota
  (429 with ``{"error": {"code": "quota_exceeded"}}``) is not retried: :class:`HackMDQuotaExceeded`.
* Reads (GET) are also retried on a dropped connection or a 5xx; writes are not (a POST that
  failed half-way may have created the note: better to say so than to create two).
* Errors are :class:`HackMDError` subclasses whose message a chat user can act on, e.g.
  "HackMD refused the token (401): check HACKMD_TOKEN".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import requests

from .. import logs

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hackmd.io/v1"
TOKEN_ENV = "HACKMD_TOKEN"


# ---------------------------------------------------------------------------------------
# Tokens never reach the logs


def redact_in_logs(token: str) -> None:
    """Keep ``token`` out of what the root logger's handlers write (defence in depth: the
    clients never log it; this catches a library that would)."""
    if token and len(token) >= 8:
        logs.redact_in_logs(token)


# ---------------------------------------------------------------------------------------
# Errors


class HackMDError(Exception):
    """Something HackMD refused or could not do; ``str()`` is meant for people in chat."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class HackMDAuthError(HackMDError):
    """401: the token is missing, wrong or revoked."""


class HackMDForbidden(HackMDError):
    """403: the token's user may not do this (not in the team, may not write the note)."""


class HackMDNotFound(HackMDError):
    """404: no such note or team (deleted, or a wrong id/team path)."""


class HackMDRateLimited(HackMDError):
    """429: too many requests; ``retry_after`` seconds (None if HackMD did not say)."""

    def __init__(self, message: str, retry_after: float | None):
        super().__init__(message, 429)
        self.retry_after = retry_after


class HackMDQuotaExceeded(HackMDError):
    """429 quota_exceeded: the workspace's monthly API calls are used up."""


class HackMDUnavailable(HackMDError):
    """5xx, a timeout or no connection: HackMD could not be reached or failed."""


# ---------------------------------------------------------------------------------------
# Notes


@dataclass(frozen=True)
class HackMDNote:
    id: str
    title: str
    content: str | None  # None in listings (HackMD lists notes without their content)
    last_changed_at: int | None  # epoch milliseconds
    publish_link: str | None
    team_path: str | None
    short_id: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The content (a note read with its content; empty for a listing)."""
        return self.content or ""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> HackMDNote:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            content=data.get("content"),
            last_changed_at=data.get("lastChangedAt"),
            publish_link=data.get("publishLink"),
            team_path=data.get("teamPath"),
            short_id=data.get("shortId"),
            raw=data,
        )


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _error_text(resp: requests.Response) -> tuple[str, str | None]:
    """(HackMD's own message, its error code) from an error answer, as far as there are any."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:200], None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or ""), err.get("code")
        if err:
            return str(err), None
        if body.get("message"):
            return str(body["message"]), None
    return "", None


class HackMDClient:
    """``HackMDClient(os.environ["HACKMD_TOKEN"], base_url=...)``."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 3,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        if not token or not token.strip():
            raise HackMDAuthError(f"no HackMD token: set {TOKEN_ENV} (HackMD > Settings > API > Create API token)")
        self._token = token.strip()
        redact_in_logs(self._token)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"HackMDClient(base_url={self.base_url!r})"

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text

    # -- plumbing -------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, json: Any = None, what: str = "the request", retry_rate_limit: bool = True
    ) -> requests.Response:
        """One API call with the retry policy of this module; raises HackMDError."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        idempotent = method in ("GET", "HEAD")
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._session.request(method, url, json=json, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
                log.warning("HackMD %s %s: %s (attempt %d)", method, path, type(exc).__name__, attempt)
                if idempotent and attempt <= self.max_retries:
                    self.sleep(min(2 ** (attempt - 1), self.max_wait))
                    continue
                raise HackMDUnavailable(f"HackMD {kind} ({self.base_url}) during {what}; try again later") from None
            if resp.status_code < 400:
                return resp
            message, code = _error_text(resp)
            message = self._clean(message)
            status = resp.status_code
            log.warning("HackMD %s %s answered %d%s", method, path, status, f" ({code})" if code else "")
            if status == 429:
                if code == "quota_exceeded":
                    raise HackMDQuotaExceeded(
                        f"HackMD's monthly API quota is used up (429 quota_exceeded) during {what}: "
                        f"{message or 'upgrade the plan or wait for next month'}",
                        429,
                    )
                wait = _retry_after(resp)
                if retry_rate_limit and attempt <= self.max_retries and (wait or 1.0) <= self.max_wait:
                    self.sleep(wait if wait is not None else min(2 ** (attempt - 1), self.max_wait))
                    continue
                later = f"; retry in {wait:g} s" if wait is not None else ""
                raise HackMDRateLimited(f"HackMD is rate-limiting the bot (429) during {what}{later}", wait)
            if status == 401:
                raise HackMDAuthError(f"HackMD refused the token (401): check {TOKEN_ENV}", 401)
            if status == 403:
                raise HackMDForbidden(
                    f"HackMD denied access (403) to {what}: the token's user must be a member "
                    "of the team and allowed to write the note",
                    403,
                )
            if status == 404:
                raise HackMDNotFound(f"HackMD has no {what} (404): deleted, or a wrong note id or team path", 404)
            if status >= 500:
                if idempotent and attempt <= self.max_retries:
                    self.sleep(min(2 ** (attempt - 1), self.max_wait))
                    continue
                raise HackMDUnavailable(f"HackMD failed ({status}) during {what}; try again later", status)
            raise HackMDError(f"HackMD rejected {what} ({status}){': ' + message if message else ''}", status)

    @staticmethod
    def _note_path(note_id: str, team_path: str | None) -> str:
        return f"teams/{team_path}/notes/{note_id}" if team_path else f"notes/{note_id}"

    # -- the API --------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The token's user (``id``, ``name``, ``userPath``, ``teams``)."""
        return self.request("GET", "me", what="the token's user").json()

    def get_note(self, note_id: str, team_path: str | None = None) -> HackMDNote:
        """A note with its content (a team note also through ``/notes/{id}`` for a member)."""
        resp = self.request("GET", self._note_path(note_id, team_path), what=f"note {note_id}")
        return HackMDNote.from_wire(resp.json())

    def create_note(
        self,
        content: str,
        *,
        team_path: str | None = None,
        title: str | None = None,
        read_permission: str | None = None,
        write_permission: str | None = None,
        comment_permission: str | None = None,
    ) -> HackMDNote:
        """Create a user note, or a team note with ``team_path``; HackMD titles it by its first H1."""
        body: dict[str, Any] = {"content": content}
        for key, value in (
            ("title", title),
            ("readPermission", read_permission),
            ("writePermission", write_permission),
            ("commentPermission", comment_permission),
        ):
            if value is not None:
                body[key] = value
        path = f"teams/{team_path}/notes" if team_path else "notes"
        what = f"a new note in team {team_path}" if team_path else "a new note"
        resp = self.request("POST", path, json=body, what=what)
        data = resp.json()
        if resp.status_code == 207 and isinstance(data, dict) and "note" in data:
            data = data["note"]  # created, with a warning about some option
        return HackMDNote.from_wire(data)

    def update_content(
        self, note_id: str, content: str, *, team_path: str | None = None, retry_rate_limit: bool = True
    ) -> None:
        """Replace the note's whole content (HackMD answers 202)."""
        self.request(
            "PATCH",
            self._note_path(note_id, team_path),
            json={"content": content},
            what=f"note {note_id}",
            retry_rate_limit=retry_rate_limit,
        )

    def delete_note(self, note_id: str, *, team_path: str | None = None) -> None:
        self.request("DELETE", self._note_path(note_id, team_path), what=f"note {note_id}")

    def list_team_notes(self, team_path: str) -> list[HackMDNote]:
        """The team's notes, without content."""
        resp = self.request("GET", f"teams/{team_path}/notes", what=f"team {team_path}")
        return [HackMDNote.from_wire(n) for n in resp.json()]

    def find_team_note(self, team_path: str, title: str) -> HackMDNote | None:
        """The team note titled ``title`` (HackMD's title: the first H1), newest change first
        when several are; None if there is none."""
        wanted = " ".join(title.split())
        found = [n for n in self.list_team_notes(team_path) if " ".join(n.title.split()) == wanted]
        found.sort(key=lambda n: n.last_changed_at or 0, reverse=True)
        return found[0] if found else None
