"""Keep a meeting's notes in Git: commit every change the bot makes, optionally push it.

Communities already keep meeting notes in a Git repository (e.g. conda/governance's
``meetings/archive/``). When a meeting's ``[meetings.git]`` says ``enabled = true`` and its
notes directory is inside a Git work tree, :class:`GitSync` (an
:class:`~chatbot.bot.EditHooks`) does, around every edit made through the bot:

* before (``pull = true``): ``git pull --rebase --autostash`` so edits merged by humans are
  seen before the bot writes;
* after: ``git add`` + ``git commit`` of exactly the changed files, with the change's summary
  as message ("agenda: add 'Release plans' for 2026-01-07 (JRG)"), the person as author
  (name and ``email`` from the roster, else the email a chat platform knows them by, else their
  GitHub no-reply address) and
  the bot as committer (``committer_name``/``committer_email``, passed explicitly, so no
  global Git identity is needed);
* then (``push = true``): ``git push REMOTE HEAD:BRANCH``; when that fails (typically
  rejected because the remote moved), ``git pull --rebase`` and push again, ``retries``
  times. If it still fails (a hook declined it, the remote cannot be reached, the branch is
  unknown) the local commit stays (nothing is lost), the person is told why (the remote's
  own words, never a password from its URL), and the commits left behind are pushed by the
  next change or, in ``chatbot run``, by :func:`retry_pushes` every ``push_retry``.

BRANCH is ``[meetings.git] branch``, else the checked-out branch; on a detached HEAD (a
clone checked out at a commit, as deploy jobs do) the remote's default branch
(``REMOTE/HEAD``), so the bot's commits are published rather than left where the next
``git checkout`` would drop them. Never while a rebase or bisect someone started is under way.

It runs the real ``git`` binary. Credentials for pushing are Git's business (an SSH key, a
credential helper); URLs are stripped of any password before they are logged or shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from .editing import Change, EditHooks
from .config import Config, GitSettings, Meeting, Person, format_duration
from .notes.edit import EditError

if TYPE_CHECKING:
    from .bot import Bot

log = logging.getLogger(__name__)

_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


def scrub(text: str) -> str:
    """Remove user:password@ from URLs in Git's output."""
    return _CREDENTIALS.sub(r"\1***@", text)


class GitError(Exception):
    def __init__(self, args: list[str], code: int, output: str):
        self.command = "git " + " ".join(args)
        self.code = code
        self.output = scrub(output.strip())
        super().__init__(f"{self.command} failed ({code}): {self.last_line}")

    @property
    def last_line(self) -> str:
        # hints (e.g. after "The following paths are ignored ...") say how to silence them
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip() and not ln.startswith("hint:")]
        # prefer the line that says what went wrong
        for ln in lines:
            if ln.startswith(("fatal:", "error:", "! [", " ! [", "The following paths are ignored")):
                return ln
        return lines[-1] if lines else "no output"

    @property
    def declined(self) -> bool:
        """The remote refused the push itself (a server-side hook, a protected branch, no
        permission): pulling and pushing again gets the same answer."""
        return "[remote rejected]" in self.output

    @property
    def remote_said(self) -> str:
        """The first thing the remote (its hook) printed, e.g. why it declined."""
        for ln in self.output.splitlines():
            text = ln.strip()[len("remote:") :].strip() if ln.strip().startswith("remote:") else ""
            if text:
                return text
        return ""


@dataclass(frozen=True)
class Repo:
    top: Path
    git_dir: Path


def author_of(person: Person | None, settings: GitSettings) -> tuple[str, str]:
    """(name, email) for a commit made on behalf of ``person`` (the bot when unknown)."""
    if person is not None:
        email = person.contact_email()
        if not email and person.github:
            email = f"{person.github}@users.noreply.github.com"
        if email:
            return person.name, email
    return settings.committer_name, settings.committer_email


def commit_message(changes: list[Change]) -> str:
    """The person's change first (it is what the commit is about), the others below."""
    lead = next((c for c in changes if c.person is not None), changes[0])
    rest = [c.summary for c in changes if c is not lead]
    message = lead.summary
    if rest:
        message += "\n\n" + "\n".join(f"- {s}" for s in rest)
    return message


class GitClones:
    """Running ``git`` in the meetings' clones: finding the clone, the branch, pulling."""

    def __init__(self, config: Config):
        self.config = config
        self._lock = threading.Lock()
        self._repos: dict[str, Repo | None] = {}

    def _env(self, settings: GitSettings, author: tuple[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
                "GIT_COMMITTER_NAME": settings.committer_name,
                "GIT_COMMITTER_EMAIL": settings.committer_email,
                "LC_ALL": "C",
            }
        )
        name, email = author or (settings.committer_name, settings.committer_email)
        env["GIT_AUTHOR_NAME"] = name
        env["GIT_AUTHOR_EMAIL"] = email
        return env

    def _git(
        self, cwd: Path, settings: GitSettings, *args: str, author: tuple[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        log.debug("git %s (in %s)", scrub(" ".join(args)), cwd)
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._env(settings, author),
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=settings.timeout.total_seconds(),
            )
        except subprocess.TimeoutExpired as exc:
            raise GitError(list(args), -1, f"timed out after {exc.timeout:.0f} s") from None
        except FileNotFoundError:
            raise GitError(list(args), -1, "fatal: the git program was not found") from None
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode, proc.stdout)
        return proc

    def repo(self, meeting: Meeting) -> Repo | None:
        """The Git work tree holding the meeting's notes, or None (cached once found)."""
        if self._repos.get(meeting.id) is not None:
            return self._repos[meeting.id]
        directory = self.config.resolve(meeting.notes.directory).resolve()
        probe = directory
        while not probe.is_dir() and probe != probe.parent:
            probe = probe.parent
        proc = self._git(probe, meeting.git, "rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 and "not a git repository" not in proc.stdout:
            # a work tree git refuses to use (e.g. "dubious ownership": another user's clone)
            raise GitError(["rev-parse", "--show-toplevel"], proc.returncode, proc.stdout)
        if proc.returncode != 0 or len(lines) < 2:
            if meeting.id not in self._repos:
                log.warning(
                    "%s: [meetings.git] is enabled but %s is not inside a Git work tree; changes are not committed",
                    meeting.id,
                    directory,
                )
            self._repos[meeting.id] = None
            return None
        repo = Repo(Path(lines[0]).resolve(), Path(lines[1]).resolve())
        self._repos[meeting.id] = repo
        return repo

    def _repo_lock(self, repo: Repo) -> FileLock:
        # across processes that share the repository (e.g. two meetings' bots)
        return FileLock(str(repo.git_dir / "chatbot-git.lock"), timeout=120)

    def _branch(self, repo: Repo, settings: GitSettings) -> str:
        """The branch to pull from and push to (see the module's docstring)."""
        if settings.branch:
            return settings.branch
        proc = self._git(repo.top, settings, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        branch = proc.stdout.strip()
        if proc.returncode == 0 and branch:
            return branch
        under_way = next((what for name, what in _UNDER_WAY if (repo.git_dir / name).exists()), None)
        if under_way:
            raise GitError(
                ["symbolic-ref", "HEAD"],
                1,
                f"fatal: the notes clone is on a detached HEAD while {under_way} is under way; "
                "finish it (or set [meetings.git] branch)",
            )
        head = f"refs/remotes/{settings.remote}/HEAD"
        default = self._git(repo.top, settings, "symbolic-ref", "--short", "-q", head, check=False).stdout.strip()
        if default.startswith(settings.remote + "/"):
            return default[len(settings.remote) + 1 :]
        raise GitError(
            ["symbolic-ref", "HEAD"],
            1,
            f"fatal: the notes clone is on a detached HEAD and the default branch of {settings.remote} is "
            "not known; set [meetings.git] branch",
        )

    def _pull(self, repo: Repo, settings: GitSettings, branch: str) -> None:
        before = self._git(repo.top, settings, "rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
        try:
            proc = self._git(
                repo.top, settings, "pull", "--rebase", "--autostash", "--no-edit", settings.remote, branch
            )
        except GitError:
            # a conflicting rebase must not be left half-done in the bot's work tree
            if (repo.git_dir / "rebase-merge").exists() or (repo.git_dir / "rebase-apply").exists():
                self._git(repo.top, settings, "rebase", "--abort", check=False)
            raise
        conflicted = self._git(repo.top, settings, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
        if conflicted or "autostash resulted in conflicts" in proc.stdout:
            # The rebase went fine, but uncommitted changes in the clone (an earlier edit whose
            # commit failed, a human's) touch the same lines: git exits 0 with conflict markers
            # in the file, which the next edit would commit. Put the clone back as it was.
            self._undo_pull(repo, settings, before)
            raise GitError(
                ["pull", "--rebase", "--autostash", settings.remote, branch],
                1,
                f"error: uncommitted changes to {', '.join(conflicted) or 'the notes'} conflict with "
                f"{settings.remote}/{branch}; the clone was left as it was (commit or undo them)",
            )

    def _undo_pull(self, repo: Repo, settings: GitSettings, before: str) -> None:
        """Back to HEAD ``before`` with the autostashed changes re-applied where they came from."""
        top = self._git(repo.top, settings, "stash", "list", "-1", "--format=%gs", check=False).stdout.strip()
        if before:
            self._git(repo.top, settings, "reset", "--quiet", "--hard", before, check=False)
        if top.endswith("autostash"):  # never someone's own stash
            if self._git(repo.top, settings, "stash", "pop", "--quiet", "--index", check=False).returncode != 0:
                log.error("%s: the uncommitted changes are kept in 'git stash list' (autostash)", repo.top)

    def unmerged(self, repo: Repo, meeting: Meeting) -> list[str]:
        """Notes files Git lists as unmerged (``git ls-files -u``): a person's merge or rebase
        stopped on a conflict in them and is not finished."""
        directory = self.config.resolve(meeting.notes.directory).resolve()
        if not directory.is_dir():
            return []
        proc = self._git(repo.top, meeting.git, "ls-files", "-u", "-z", "--", str(directory), check=False)
        paths: list[str] = []
        for entry in proc.stdout.split("\0"):
            _, _, path = entry.partition("\t")
            if path and path not in paths:
                paths.append(path)
        return paths


class GitSync(GitClones, EditHooks):
    """Commit and push notes edits; one instance serves all meetings of a config."""

    def __init__(self, config: Config):
        super().__init__(config)
        self._pending: dict[str, list[str]] = {}  # warnings from before_edit, per meeting
        self._unpushed: set[str] = set()  # meetings whose last push failed

    def before_edit(self, meeting: Meeting) -> None:
        settings = meeting.git
        if not settings.enabled:
            return
        try:
            repo = self.repo(meeting)  # git missing from PATH, or hung: warn, never lose the edit
            if repo is None:
                return
            conflicted = self.unmerged(repo, meeting)
        except (GitError, Timeout) as exc:
            log.warning("%s: could not look at the notes clone before editing: %s", meeting.id, exc)
            if settings.pull:
                self._pending.setdefault(meeting.id, []).append(
                    f"could not update the notes from {settings.remote} before editing ({_reason(exc)})"
                )
            return
        if conflicted:
            # our `git add` would mark the conflict resolved, markers and all
            names = ", ".join(Path(p).name for p in conflicted)
            log.warning("%s: refusing to edit: unmerged in Git: %s", meeting.id, ", ".join(conflicted))
            raise EditError(
                f"{names} {'has' if len(conflicted) == 1 else 'have'} an unresolved merge conflict in "
                "Git (git ls-files -u lists it as unmerged); nothing was changed. Someone must finish "
                "the merge in the notes clone (resolve, git add, git commit) before the bot can edit"
            )
        if not settings.pull:
            return
        try:
            with self._lock, self._repo_lock(repo):
                self._pull(repo, settings, self._branch(repo, settings))
        except (GitError, Timeout) as exc:
            log.warning("%s: could not pull before editing: %s", meeting.id, exc)
            self._pending.setdefault(meeting.id, []).append(
                f"could not update the notes from {settings.remote} before editing ({_reason(exc)})"
            )

    def after_edit(self, meeting: Meeting, changes: list[Change]) -> str | None:
        settings = meeting.git
        warnings = self._pending.pop(meeting.id, [])
        changes = [c for c in changes if c.path is not None]  # a live note (HackMD) is no file to commit
        if not settings.enabled or not changes:
            return "; ".join(warnings) or None
        try:
            repo = self.repo(meeting)
        except GitError as exc:
            log.error("%s: %s", meeting.id, exc)
            return "; ".join([*warnings, f"the change was saved but could not be committed to Git ({exc.last_line})"])
        if repo is None:
            return "; ".join(warnings) or None
        try:
            with self._lock, self._repo_lock(repo):
                warning = self._commit_and_push(repo, meeting, changes)
        except Timeout:
            warning = "the change was saved but not committed: the Git repository is busy"
        if warning:
            warnings.append(warning)
        return "; ".join(warnings) or None

    def _commit_and_push(self, repo: Repo, meeting: Meeting, changes: list[Change]) -> str | None:
        settings = meeting.git
        paths: list[str] = []
        for c in changes:
            assert c.path is not None  # after_edit keeps only changes of local files
            rel = os.path.relpath(Path(c.path).resolve(), repo.top)
            if rel not in paths:
                paths.append(rel)
        lead = next((c for c in changes if c.person is not None), changes[0])
        try:
            self._git(repo.top, settings, "add", "--", *paths)
            staged = self._git(repo.top, settings, "diff", "--cached", "--quiet", "--", *paths, check=False)
            if staged.returncode == 0:
                log.info("%s: nothing to commit for %s", meeting.id, ", ".join(paths))
            else:
                # only these paths, even if a human left other changes staged
                self._git(
                    repo.top,
                    settings,
                    "commit",
                    "--quiet",
                    "--no-edit",
                    "-m",
                    commit_message(changes),
                    "--",
                    *paths,
                    author=author_of(lead.person, settings),
                )
                log.info("%s: committed %s", meeting.id, lead.summary)
        except GitError as exc:
            log.error("%s: %s\n%s", meeting.id, exc, exc.output)
            return f"the change was saved but could not be committed to Git ({exc.last_line})"
        if not settings.push:
            return None
        return self._push(repo, meeting)

    def _push(self, repo: Repo, meeting: Meeting) -> str | None:
        """Push HEAD; a warning for the person when it could not be pushed."""
        settings = meeting.git
        self._unpushed.add(meeting.id)  # until a push succeeds
        head = self._git(repo.top, settings, "rev-parse", "--short", "HEAD", check=False).stdout.strip()
        later = "it will be pushed when that works again" + (
            f" (tried every {retry_interval(settings)} and with the next change)"
            if settings.push_retry
            else " (with the next change)"
        )
        try:
            branch = self._branch(repo, settings)
        except GitError as exc:
            log.warning("%s: not pushed: %s", meeting.id, exc.last_line)
            return f"the change was committed locally ({head}) but not pushed ({exc.last_line}); {later}"
        last: GitError | None = None
        for attempt in range(settings.retries + 1):
            try:
                self._git(repo.top, settings, "push", "--quiet", settings.remote, f"HEAD:refs/heads/{branch}")
                self._unpushed.discard(meeting.id)
                if attempt:
                    log.info("%s: pushed to %s/%s after %d rebase(s)", meeting.id, settings.remote, branch, attempt)
                return None
            except GitError as exc:
                last = exc
                log.warning(
                    "%s: push to %s/%s failed (attempt %d): %s",
                    meeting.id,
                    settings.remote,
                    branch,
                    attempt + 1,
                    exc.last_line,
                )
            if attempt == settings.retries or last.declined:
                break
            try:  # usually: rejected because the remote moved on
                self._pull(repo, settings, branch)
            except GitError as exc:
                log.warning("%s: pull --rebase failed: %s", meeting.id, exc.last_line)
                last = exc
                break
        assert last is not None
        head = self._git(repo.top, settings, "rev-parse", "--short", "HEAD", check=False).stdout.strip()
        why = last.last_line + (f": {last.remote_said}" if last.declined and last.remote_said else "")
        return (
            f"the change was committed locally ({head}) but could not be pushed to {settings.remote}/{branch} "
            f"({why}); {later}"
        )

    def _ahead(self, repo: Repo, meeting: Meeting) -> bool:
        """Whether HEAD has commits the remote has not got: a push failed in this process, or
        (after a restart) HEAD is ahead of the remote-tracking branch."""
        if meeting.id in self._unpushed:
            return True
        settings = meeting.git
        try:
            branch = self._branch(repo, settings)
        except GitError:
            return False
        proc = self._git(
            repo.top, settings, "rev-list", "--count", f"refs/remotes/{settings.remote}/{branch}..HEAD", check=False
        )
        return proc.returncode == 0 and proc.stdout.strip() not in ("", "0")

    def push_pending(self, meeting: Meeting) -> bool | None:
        """Push the commits an earlier push left behind (``chatbot run`` calls this every
        ``push_retry``, under the meeting's notes lock: a rejected push pulls with rebase).
        True: pushed now; False: still not; None: nothing was pending."""
        settings = meeting.git
        if not (settings.enabled and settings.push):
            return None
        try:
            repo = self.repo(meeting)
            if repo is None:
                return None
            with self._lock, self._repo_lock(repo):
                if not self._ahead(repo, meeting):
                    return None
                warning = self._push(repo, meeting)
        except (GitError, Timeout) as exc:
            log.warning("%s: could not retry the pending push: %s", meeting.id, _reason(exc))
            return False
        if warning:
            log.info("%s: pending commits still not pushed", meeting.id)
            return False
        log.warning("%s: pushed the commits an earlier failed push had left in the notes clone", meeting.id)
        return True


_UNDER_WAY = (("rebase-merge", "a rebase"), ("rebase-apply", "a rebase"), ("BISECT_LOG", "a bisect"))


def retry_pushes(bot: Bot) -> None:
    """Push what earlier pushes left behind, for every meeting that pushes (a periodic job
    of ``chatbot run``)."""
    for hook in bot.hooks:
        if not isinstance(hook, GitSync):
            continue
        for meeting in bot.config.meetings:
            if not (meeting.git.enabled and meeting.git.push and meeting.git.push_retry):
                continue
            try:
                with bot.store(meeting).lock():
                    hook.push_pending(meeting)
            except Exception:  # one meeting's problem never stops the others, nor the job
                log.exception("%s: retrying the pending push failed", meeting.id)


def retry_interval(settings: GitSettings) -> str:
    """``push_retry`` as people read it ("5 min"; "30 s" below a minute)."""
    seconds = int(settings.push_retry.total_seconds())
    return format_duration(settings.push_retry) if seconds % 60 == 0 else f"{seconds} s"


def push_retry_every(bot: Bot) -> dt.timedelta | None:
    """How often :func:`retry_pushes` should run (the shortest ``push_retry`` of the meetings
    that push), or None."""
    every = [m.git.push_retry for m in bot.config.meetings if m.git.enabled and m.git.push and m.git.push_retry]
    return min(every) if every else None


def _reason(exc: Exception) -> str:
    return exc.last_line if isinstance(exc, GitError) else str(exc)


def hooks_for(config: Config) -> list[EditHooks]:
    """The edit hooks a config asks for (pass them to ``Bot(..., hooks=...)``)."""
    if any(m.git.enabled for m in config.meetings):
        return [GitSync(config)]
    return []
