"""A thin wrapper over PyGithub for the weekly notes pull request.

Plain arguments (a token, ``owner/repo``, a base URL); the caller reads ``GITHUB_TOKEN``.
What it does: find the open pull request of a head branch, open one (idempotent: an existing
one is returned), comment, add a label, and read the ``HACKMDURL=``/``HACKMDID=``/``DOCPATH=``
lines of a pull request's body (the community's workflows write and read them).

* The token is given to PyGithub's ``Auth.Token`` and never logged (PyGithub logs requests
  with the Authorization header removed) nor put in an error's text.
* Rate limits: a 429, a secondary rate limit (403 + ``Retry-After``) or the primary one (403,
  ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``) is waited out when the wait is at
  most ``max_wait`` seconds, at most ``max_retries`` times; PyGithub's own retrying is off, so
  waits go through ``sleep`` (tests pass a recorder). A rate-limited request was not carried
  out, so retrying it (even a write) does not double anything. Other failures of a write are
  not retried.
* Errors are :class:`GitHubError` with a message a chat user can act on.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, TypeVar
from collections.abc import Callable

from github import Auth, Github, GithubException

from .hackmd_client import redact_in_logs

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
T = TypeVar("T")

_FIELD = re.compile(r"^\s*(HACKMDURL|HACKMDID|DOCPATH)\s*=\s*(\S+)\s*$", re.M)


def pr_fields(body: str | None) -> dict[str, str]:
    """The ``KEY=value`` lines the community's workflows use (``HACKMDURL``, ``HACKMDID``,
    ``DOCPATH``), the first of each."""
    out: dict[str, str] = {}
    for key, value in _FIELD.findall(body or ""):
        out.setdefault(key, value)
    return out


def hackmd_id_from_body(body: str | None) -> str | None:
    """The note id of a ``HACKMDID=`` line, or None."""
    return pr_fields(body).get("HACKMDID")


def pr_body(hackmd_url: str, hackmd_id: str, doc_path: str, intro: str = "") -> str:
    """A pull request body with the three lines the community's sync workflow reads."""
    lines = [intro.rstrip(), ""] if intro.strip() else []
    lines += [f"HACKMDURL={hackmd_url}", f"HACKMDID={hackmd_id}", f"DOCPATH={doc_path}"]
    return "\n".join(lines) + "\n"


class GitHubError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class GitHubRateLimited(GitHubError):
    def __init__(self, message: str, retry_after: float | None):
        super().__init__(message, 429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PullInfo:
    number: int
    html_url: str
    head: str
    base: str
    state: str
    title: str
    body: str

    @property
    def fields(self) -> dict[str, str]:
        return pr_fields(self.body)


def _pull_info(pr: Any) -> PullInfo:
    return PullInfo(
        number=pr.number,
        html_url=pr.html_url,
        head=pr.head.ref,
        base=pr.base.ref,
        state=pr.state,
        title=pr.title or "",
        body=pr.body or "",
    )


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    for k, v in (headers or {}).items():
        if k.lower() == name.lower():
            return v
    return None


class GitHubClient:
    """``GitHubClient(os.environ["GITHUB_TOKEN"], "conda/governance")``."""

    def __init__(
        self,
        token: str,
        repo: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: int = 15,
        max_retries: int = 3,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        seconds_between_writes: float | None = 1.0,
    ):
        if not token or not token.strip():
            raise GitHubError(f"no GitHub token: set {TOKEN_ENV} (a token with pull request write access to {repo})")
        if repo.count("/") != 1:
            raise GitHubError(f"GitHub repository {repo!r} should be written owner/name")
        self._token = token.strip()
        redact_in_logs(self._token)
        self.repo_name = repo
        self.max_retries, self.max_wait, self.sleep = max_retries, max_wait, sleep
        self._gh = Github(
            auth=Auth.Token(self._token),
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes,
        )
        self._repo = None

    def __repr__(self) -> str:
        return f"GitHubClient(repo={self.repo_name!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _wait_for(self, exc: GithubException) -> float | None:
        """Seconds to wait before a rate-limited request may be sent again, or None if the
        error is not a rate limit."""
        headers = exc.headers or {}
        message = (exc.data or {}).get("message", "") if isinstance(exc.data, dict) else ""
        retry_after = _header(headers, "Retry-After")
        limited = exc.status == 429 or (
            exc.status == 403
            and ("rate limit" in message.lower() or retry_after or _header(headers, "x-ratelimit-remaining") == "0")
        )
        if not limited:
            return None
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        reset = _header(headers, "x-ratelimit-reset") or ""
        if _header(headers, "x-ratelimit-remaining") == "0" and reset.isdigit():
            return max(0.0, int(reset) - time.time()) + 1
        return 60.0  # GitHub: wait at least a minute when it does not say

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except GithubException as exc:
                wait = self._wait_for(exc)
                if wait is not None:
                    log.warning("GitHub rate limit during %s (status %s), wait %.0f s", what, exc.status, wait)
                    if attempt <= self.max_retries and wait <= self.max_wait:
                        self.sleep(wait)
                        continue
                    raise GitHubRateLimited(
                        f"GitHub is rate-limiting the bot ({exc.status}) during {what}; retry in {wait:.0f} s", wait
                    ) from None
                raise self._error(exc, what) from None
            except (OSError, ConnectionError) as exc:  # requests' errors derive from OSError
                raise GitHubError(
                    f"GitHub could not be reached during {what} ({type(exc).__name__}); try again later"
                ) from None

    def _error(self, exc: GithubException, what: str) -> GitHubError:
        status = exc.status
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message") or "").replace(self._token, "[redacted]")
        log.warning("GitHub answered %s during %s: %s", status, what, message)
        if status == 401:
            return GitHubError(f"GitHub refused the token (401): check {TOKEN_ENV}", 401)
        if status == 403:
            return GitHubError(
                f"GitHub denied {what} (403): the token needs write access to pull requests and "
                f"issues of {self.repo_name}",
                403,
            )
        if status == 404:
            return GitHubError(
                f"GitHub found nothing for {what} (404): check the repository {self.repo_name} "
                "and that the token can see it",
                404,
            )
        if status == 409:
            return GitHubError(f"GitHub reported a conflict during {what} (409): {message or 'try again'}", 409)
        if status == 422:
            details = "; ".join(
                str(e.get("message") or f"{e.get('field')} {e.get('code')}")
                for e in data.get("errors") or []
                if isinstance(e, dict)
            )
            return GitHubError(f"GitHub rejected {what} (422): {details or message}", 422)
        if status and status >= 500:
            return GitHubError(f"GitHub failed ({status}) during {what}; try again later", status)
        return GitHubError(f"GitHub answered {status} during {what}: {message}", status)

    @property
    def repo(self):
        if self._repo is None:
            self._repo = self._call(f"reading {self.repo_name}", lambda: self._gh.get_repo(self.repo_name))
        return self._repo

    # -- the API --------------------------------------------------------------------------

    def whoami(self) -> str:
        """The token's login."""
        return self._call("reading the token's user", lambda: self._gh.get_user().login)

    def default_branch(self) -> str:
        return self.repo.default_branch

    def find_open_pr(self, head_branch: str) -> PullInfo | None:
        """The open pull request from ``head_branch`` of this repository (lowest number if several)."""
        owner = self.repo_name.split("/")[0]

        def find():
            pulls = self.repo.get_pulls(state="open", head=f"{owner}:{head_branch}")
            found = [_pull_info(p) for p in pulls]
            return min(found, key=lambda p: p.number) if found else None

        return self._call(f"listing pull requests of {head_branch}", find)

    def get_pr(self, number: int) -> PullInfo:
        return self._call(f"pull request #{number}", lambda: _pull_info(self.repo.get_pull(number)))

    def create_pr(self, head_branch: str, title: str, body: str, base: str | None = None) -> tuple[PullInfo, bool]:
        """Open a pull request from ``head_branch``; if one is open already, return it.
        Returns (the pull request, whether this call created it)."""
        existing = self.find_open_pr(head_branch)
        if existing is not None:
            return existing, False
        target = base or self.default_branch()
        try:
            pr = self._call(
                f"opening a pull request for {head_branch}",
                lambda: self.repo.create_pull(base=target, head=head_branch, title=title, body=body),
            )
        except GitHubError as exc:
            if exc.status == 422:  # opened by someone else meanwhile ("already exists")
                again = self.find_open_pr(head_branch)
                if again is not None:
                    return again, False
            raise
        return _pull_info(pr), True

    def comment(self, number: int, body: str) -> str:
        """Comment on the pull request; returns the comment's URL."""
        return self._call(
            f"commenting on pull request #{number}",
            lambda: self.repo.get_pull(number).create_issue_comment(body).html_url,
        )

    def comments(self, number: int) -> list[str]:
        """The bodies of the pull request's comments, oldest first (all pages)."""
        return self._call(
            f"reading comments of pull request #{number}",
            lambda: [c.body for c in self.repo.get_pull(number).get_issue_comments()],
        )

    def add_label(self, number: int, label: str) -> list[str]:
        """Add ``label``; returns the pull request's labels afterwards."""

        def add():
            pr = self.repo.get_pull(number)
            pr.add_to_labels(label)
            return [lb.name for lb in self.repo.get_pull(number).labels]

        return self._call(f"labelling pull request #{number}", add)
