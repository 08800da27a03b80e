"""The weekly notes pipeline of a community that takes its notes in HackMD and keeps them in Git
(e.g. conda's ``meeting-notes.yml`` workflow), run by the bot.

:func:`publish` (before the meeting): commit the rendered notes at ``doc_path`` on a new branch
named from an strftime pattern (default ``%Y-%m-%d-meeting-notes``), push it, create the
HackMD team note with the same text, and open the pull request whose body holds the lines
``HACKMDURL=``, ``HACKMDID=`` and ``DOCPATH=`` (so the community's own sync workflow keeps
working). Idempotent: run twice, or twice at once on one machine, it makes one branch, one
note, one pull request. What it made is recorded in the bot's record of live notes
(:class:`~chatbot.stores.records.NoteRecords`, shared with the HackMD store: a note the store
created for an early agenda item is the one published), which is also how the next run finds
them; without a record the branch is
found on the remote, the note by the ``HACKMDID=`` line of the open pull request or else by
its title (the first H1) among the team's notes.

:func:`sync` (after the meeting): bring the note's content into the file on the branch. When
the branch has commits the note lacks (someone fixed the file in the pull request), the two
are merged three-way (``git merge-file``) with the last synced content as the base, instead
of overwriting. A real conflict is reported (a pull request comment and the returned result),
never resolved silently, and nothing is pushed. Otherwise the result is committed and pushed
(never forced) and the pull request gets a comment saying what changed.

The modules take plain arguments (texts, paths, remotes, clients); they know nothing of the
bot. Git is driven with plumbing commands (``hash-object``, ``commit-tree`` with a temporary
index), so the clone's checkout and working tree are never touched. The caller renders the
text and decides whether a date is cancelled (a cancelled date publishes nothing).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from .github_client import GitHubClient, pr_body, pr_fields
from .hackmd_client import HackMDClient, HackMDNotFound
from .records import NoteRecords

log = logging.getLogger(__name__)

DEFAULT_BRANCH_PATTERN = "%Y-%m-%d-meeting-notes"
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


class PipelineError(Exception):
    """A step of the pipeline failed; the message says which and what to do."""


class GitFailed(PipelineError):
    def __init__(self, args: list[str], code: int, output: str):
        self.output = _CREDENTIALS.sub(r"\1***@", output.strip())
        last = self.output.splitlines()[-1] if self.output else "no output"
        super().__init__(f"git {' '.join(args[:2])} failed ({code}): {last}")


def note_title(content: str) -> str | None:
    """The first ``# H1`` of ``content`` (HackMD titles a note by it), outside code fences."""
    fence = None
    for ln in content.splitlines():
        m = re.match(r"\s{0,3}(`{3,}|~{3,})", ln)
        if m:
            fence = None if fence == m.group(1)[0] else (fence or m.group(1)[0])
            continue
        if fence is None:
            m = re.match(r"\s{0,3}#[ \t]+(.*?)[ \t]*#*[ \t]*$", ln)
            if m and m.group(1):
                return m.group(1)
    return None


def _nl(text: str) -> str:
    """Text as a file holds it: ending with a newline."""
    return text if not text or text.endswith("\n") else text + "\n"


# ---------------------------------------------------------------------------------------
# The record


@dataclass
class Record:
    """What the pipeline knows of one meeting date; kept in the bot's shared record of live notes
    (:class:`~chatbot.stores.records.NoteRecords`, the one the HackMD store also reads), so the
    note the store created for an early agenda item is the note published, and the reverse."""

    key: str
    date: str
    branch: str | None = None
    doc_path: str | None = None
    commit: str | None = None  # the branch commit last created or synced by the bot
    note_id: str | None = None
    note_url: str | None = None
    team_path: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    synced: str | None = None  # the note content last brought into the branch (merge base)
    history: list[str] = field(default_factory=list)


# Record attribute -> field of the shared record (the HackMD store's names where they exist)
_FIELDS = {
    "branch": "branch",
    "doc_path": "doc_path",
    "commit": "branch_commit",
    "note_id": "hackmd_id",
    "note_url": "hackmd_url",
    "team_path": "team",
    "pr_number": "pr_number",
    "pr_url": "pr_url",
    "synced": "synced",
    "history": "history",
}


def load_record(records: NoteRecords, key: str, day: dt.date) -> Record | None:
    """The pipeline's view of the shared record of (meeting ``key``, ``day``), or None."""
    entry = records.get(key, day)
    if not entry:
        return None
    rec = Record(key, day.isoformat())
    for attr, name in _FIELDS.items():
        if entry.get(name) is not None:
            setattr(rec, attr, list(entry[name]) if attr == "history" else entry[name])
    return rec


def _save(records: NoteRecords, rec: Record) -> None:
    records.update(
        rec.key,
        dt.date.fromisoformat(rec.date),
        **{name: getattr(rec, attr) for attr, name in _FIELDS.items() if getattr(rec, attr) is not None},
    )


def _lock(records: NoteRecords, key: str, day: dt.date) -> FileLock:
    """One publish or sync of a meeting date at a time, across the bot's processes."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    path = Path(records.path).parent / f".pipeline-{safe}-{day:%Y-%m-%d}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


# ---------------------------------------------------------------------------------------
# Git plumbing


class _Git:
    def __init__(self, workdir: Path, remote: str, committer: tuple[str, str], timeout: float = 120):
        self.workdir, self.remote, self.timeout = Path(workdir), remote, timeout
        self.env = dict(
            os.environ,
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
            GIT_AUTHOR_NAME=committer[0],
            GIT_AUTHOR_EMAIL=committer[1],
            GIT_COMMITTER_NAME=committer[0],
            GIT_COMMITTER_EMAIL=committer[1],
        )

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.workdir,
                env=env or self.env,
                input=input,
                text=True,
                capture_output=True,
                timeout=self.timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitFailed(list(args), -1, f"timed out after {self.timeout:.0f} s") from None
        if check and proc.returncode != 0:
            raise GitFailed(list(args), proc.returncode, proc.stdout + proc.stderr)
        return proc

    def remote_sha(self, branch: str) -> str | None:
        out = self.run("ls-remote", "--heads", self.remote, f"refs/heads/{branch}").stdout.split()
        return out[0] if out else None

    def fetch(self, branch: str) -> str | None:
        """Fetch ``branch`` into a private ref; its commit, or None if the remote lacks it."""
        sha = self.remote_sha(branch)
        if sha is None:
            return None
        self.run("fetch", "--quiet", "--no-tags", self.remote, f"+refs/heads/{branch}:refs/chatbot/{branch}")
        return self.run("rev-parse", f"refs/chatbot/{branch}").stdout.strip()

    def show(self, commit: str, path: str) -> str | None:
        proc = self.run("show", f"{commit}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def commit_file(self, parent: str, path: str, text: str, message: str) -> str:
        """A commit on top of ``parent`` whose tree is the parent's with ``path`` set to ``text``
        (the working tree and the clone's index are not touched)."""
        blob = self.run("hash-object", "-w", "--stdin", input=text).stdout.strip()
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(self.env, GIT_INDEX_FILE=str(Path(tmp) / "index"))
            self.run("read-tree", f"{parent}^{{tree}}", env=env)
            self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.run("write-tree", env=env).stdout.strip()
        return self.run("commit-tree", tree, "-p", parent, "-m", message).stdout.strip()

    def push(self, commit: str, branch: str) -> bool:
        """Push ``commit`` to ``branch`` (never forced); False if the remote refused because the
        branch is elsewhere now."""
        proc = self.run("push", "--quiet", "--porcelain", self.remote, f"{commit}:refs/heads/{branch}", check=False)
        if proc.returncode == 0:
            return True
        out = proc.stdout + proc.stderr
        if "[rejected]" in out or "non-fast-forward" in out or "fetch first" in out or "stale info" in out:
            return False
        raise GitFailed(["push", self.remote], proc.returncode, out)


# ---------------------------------------------------------------------------------------
# Publish


@dataclass(frozen=True)
class PublishResult:
    branch: str
    commit: str
    note_id: str
    note_url: str
    pr_number: int
    pr_url: str
    created: tuple[str, ...]  # what this run created: "branch", "note", "pr"


def publish(
    *,
    key: str,
    day: dt.date,
    text: str,
    doc_path: str,
    workdir: Path,
    hackmd: HackMDClient,
    github: GitHubClient,
    records: NoteRecords,
    team_path: str | None,
    remote: str = "origin",
    base_branch: str = "main",
    branch_pattern: str = DEFAULT_BRANCH_PATTERN,
    committer: tuple[str, str] = ("Meeting Bot", "meeting-bot@users.noreply.github.com"),
    pr_title: str | None = None,
    pr_intro: str = "",
    read_permission: str | None = None,
    write_permission: str | None = None,
) -> PublishResult:
    """Publish the notes of ``day`` (see the module docstring). ``key`` names the meeting in
    the record; ``doc_path`` is the file's path inside the repository."""
    branch = day.strftime(branch_pattern)
    doc_path = doc_path.strip("/")
    text = _nl(text)
    title = pr_title or note_title(text) or f"Meeting notes {day:%Y-%m-%d}"
    git = _Git(workdir, remote, committer)
    created: list[str] = []
    with _lock(records, key, day):
        rec = load_record(records, key, day) or Record(key, day.isoformat())
        rec.branch, rec.doc_path, rec.team_path = branch, doc_path, rec.team_path or team_path
        head = _publish_branch(git, rec, branch, doc_path, day, text, base_branch, created)
        _save(records, rec)
        pr = github.find_open_pr(branch)
        note = _find_or_create_note(
            hackmd, rec, day, pr, text, title, created, team_path, read_permission, write_permission
        )
        rec.note_id, rec.note_url = note.id, note.publish_link or ""
        _save(records, rec)
        if pr is None and rec.pr_number is not None:
            pr = github.get_pr(rec.pr_number)  # closed or merged already: not opened again
        if pr is None:
            pr, made = github.create_pr(
                branch, title, pr_body(rec.note_url, rec.note_id, doc_path, pr_intro), base=base_branch
            )
            if made:
                created.append("pr")
        rec.pr_number, rec.pr_url = pr.number, pr.html_url
        rec.history.append(f"published {','.join(created) or 'nothing new'}")
        _save(records, rec)
        return PublishResult(branch, head, rec.note_id, rec.note_url, pr.number, pr.html_url, tuple(created))


def _publish_branch(
    git: _Git, rec: Record, branch: str, doc_path: str, day: dt.date, text: str, base_branch: str, created: list[str]
) -> str:
    """Step 1: the branch with the notes file (made from ``base_branch`` unless it exists);
    its head commit."""
    remote = git.remote
    head = git.fetch(branch)
    if head is None:
        base = git.fetch(base_branch)
        if base is None:
            raise PipelineError(f"the remote {remote} has no branch {base_branch} to start {branch} from")
        if git.show(base, doc_path) is not None:
            raise PipelineError(
                f"{doc_path} already exists on {base_branch}: the notes of {day} are "
                "published already (not making a branch that could not merge)"
            )
        commit = git.commit_file(base, doc_path, text, f"Add notes for {day:%Y-%m-%d} ({doc_path})")
        if git.push(commit, branch):
            created.append("branch")
            head = commit
            rec.synced = text
        else:  # made meanwhile by someone else
            head = git.fetch(branch)
            if head is None:
                raise PipelineError(f"pushing {branch} to {remote} was refused")
    rec.commit = rec.commit or head
    if git.show(head, doc_path) is None:
        raise PipelineError(f"the branch {branch} exists but has no {doc_path}: fix or delete the branch")
    if rec.synced is None:
        rec.synced = git.show(head, doc_path)
    return head


def _find_or_create_note(
    hackmd: HackMDClient,
    rec: Record,
    day: dt.date,
    pr,
    text: str,
    title: str,
    created: list[str],
    team_path: str | None,
    read_permission: str | None,
    write_permission: str | None,
):
    """Step 2: the HackMD note: the record's, the open PR's ``HACKMDID=``, the team note with
    the notes' title, or a new one."""
    note = None
    if rec.note_id:
        try:
            note = hackmd.get_note(rec.note_id)
        except HackMDNotFound:
            log.warning("the HackMD note %s of %s is gone; making a new one", rec.note_id, day)
            rec.note_id = None
    if note is None and pr is not None and pr.fields.get("HACKMDID"):
        note = hackmd.get_note(pr.fields["HACKMDID"])
    if note is None and team_path:
        note = hackmd.find_team_note(team_path, note_title(rec.synced or text) or title)
    if note is None:
        note = hackmd.create_note(
            rec.synced or text,
            team_path=team_path,
            read_permission=read_permission,
            write_permission=write_permission,
        )
        created.append("note")
    return note


# ---------------------------------------------------------------------------------------
# Sync back


@dataclass(frozen=True)
class SyncResult:
    status: str  # "unchanged", "updated", "merged" (three-way, both sides kept) or "conflict"
    commit: str | None
    summary: str  # what changed, or the conflict, in words
    comment_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "conflict"


def change_summary(old: str, new: str, limit: int = 10) -> str:
    """What changed from ``old`` to ``new``, in a few lines (added lines quoted)."""
    a, b = old.splitlines(), new.splitlines()
    added, removed = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    out = [f"{len(added)} line(s) added, {len(removed)} removed."]
    shown = [ln for ln in added if ln.strip()][:limit]
    out += [f"    + {ln}" for ln in shown]
    if len([ln for ln in added if ln.strip()]) > limit:
        out.append(f"    … and {len(added) - limit} more")
    return "\n".join(out)


def _merge3(git: _Git, ours: str, base: str, theirs: str) -> tuple[str, int]:
    """``git merge-file -p`` (ours = the branch's file, theirs = the note): (text, conflicts)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, content in (("branch", ours), ("last-sync", base), ("hackmd", theirs)):
            p = Path(tmp) / name
            p.write_text(content, encoding="utf-8")
            paths.append(str(p))
        proc = git.run("merge-file", "-p", "-L", "branch", "-L", "last sync", "-L", "HackMD", *paths, check=False)
    if proc.returncode < 0 or proc.returncode > 127:
        raise GitFailed(["merge-file"], proc.returncode, proc.stderr)
    return proc.stdout, proc.returncode


def sync(
    *,
    key: str,
    day: dt.date,
    workdir: Path,
    hackmd: HackMDClient,
    github: GitHubClient,
    records: NoteRecords,
    remote: str = "origin",
    doc_path: str | None = None,
    branch_pattern: str = DEFAULT_BRANCH_PATTERN,
    committer: tuple[str, str] = ("Meeting Bot", "meeting-bot@users.noreply.github.com"),
    attempts: int = 3,
) -> SyncResult:
    """Bring the HackMD note of ``day`` into its pull request's branch (see the module docstring).
    Without a record (notes published by the old workflow), the branch comes from the pattern,
    the note id and path from the pull request's ``HACKMDID=``/``DOCPATH=`` lines, and the base
    of a three-way merge from the branch's first version of the file."""
    git = _Git(workdir, remote, committer)
    with _lock(records, key, day):
        rec = load_record(records, key, day)
        if rec is None or not rec.branch or not rec.doc_path:
            rec = _adopt(git, github, key, day, branch_pattern, doc_path)
        if not (rec.branch and rec.doc_path and rec.note_id):
            raise PipelineError(
                f"the record of the notes of {day} lacks the branch, file or HackMD note: publish again"
            )
        branch, path, note_id = rec.branch, rec.doc_path, rec.note_id
        for _ in range(attempts):
            head = git.fetch(branch)
            if head is None:
                raise PipelineError(
                    f"the branch {rec.branch} is not on {remote} (merged and deleted?): nothing to sync into"
                )
            on_branch = git.show(head, path)
            if on_branch is None:
                raise PipelineError(f"{rec.doc_path} is not on the branch {rec.branch}")
            note = hackmd.get_note(note_id)
            theirs = _nl(note.content or "")
            if not theirs.strip() and on_branch.strip():
                raise PipelineError(
                    f"the HackMD note {rec.note_id} is empty: not emptying {rec.doc_path} on "
                    f"{rec.branch} (restore the note from HackMD's history, then sync again)"
                )
            base = rec.synced if rec.synced is not None else on_branch
            if theirs == on_branch or theirs == base:
                # nothing in the note the branch lacks (the branch may have more: it keeps it)
                rec.synced, rec.commit = theirs, head
                _save(records, rec)
                return SyncResult("unchanged", head, "The notes file already has everything from HackMD.")
            if on_branch == base:
                merged, status = theirs, "updated"
            else:
                merged, conflicts = _merge3(git, on_branch, base, theirs)
                if conflicts:
                    text = (
                        f"Sync from HackMD stopped: {conflicts} conflicting change(s) between the note and "
                        f"commits on `{rec.branch}` to `{rec.doc_path}` since the last sync. Nothing was "
                        "pushed; please bring the two together by hand (edit the note or the file), "
                        "then sync again."
                    )
                    url = _comment(github, rec, text)
                    log.warning("sync of %s %s: conflict (%d)", key, day, conflicts)
                    return SyncResult("conflict", head, text, url)
                status = "merged"
            commit = git.commit_file(head, path, merged, f"Sync notes for {day:%Y-%m-%d} from HackMD")
            if not git.push(commit, branch):
                continue  # the branch moved meanwhile: start over on the new head
            summary = change_summary(on_branch, merged)
            kept = " (changes made on the branch were kept)" if status == "merged" else ""
            url = _comment(github, rec, f"Synced the notes from HackMD{kept}: {summary}")
            rec.synced, rec.commit = theirs, commit
            rec.history.append(f"synced {status} {commit[:12]}")
            _save(records, rec)
            return SyncResult(status, commit, summary, url)
        raise PipelineError(f"the branch {rec.branch} kept moving while syncing; try again")


def _comment(github: GitHubClient, rec: Record, text: str) -> str | None:
    if rec.pr_number is None:
        pr = github.find_open_pr(rec.branch) if rec.branch else None
        if pr is None:
            return None
        rec.pr_number, rec.pr_url = pr.number, pr.html_url
    return github.comment(rec.pr_number, text)


def _adopt(git: _Git, github: GitHubClient, key: str, day: dt.date, pattern: str, doc_path: str | None) -> Record:
    """A record for notes published without the bot (the community's workflow)."""
    branch = day.strftime(pattern)
    pr = github.find_open_pr(branch)
    if pr is None:
        raise PipelineError(f"no open pull request for {branch} and no record of publishing the notes of {day}")
    fields = pr_fields(pr.body)
    if "HACKMDID" not in fields:
        raise PipelineError(f"pull request #{pr.number} has no HACKMDID= line: which HackMD note to sync is unknown")
    path = (doc_path or fields.get("DOCPATH") or "").strip("/")
    if not path:
        raise PipelineError(f"pull request #{pr.number} has no DOCPATH= line and no path was given")
    rec = Record(
        key,
        day.isoformat(),
        branch,
        path,
        note_id=fields["HACKMDID"],
        note_url=fields.get("HACKMDURL"),
        pr_number=pr.number,
        pr_url=pr.html_url,
    )
    head = git.fetch(branch)
    if head is not None:
        base = git.fetch(pr.base)
        rng = f"{base}..{head}" if base else head
        first = git.run("log", "--reverse", "--format=%H", rng, "--", path).stdout.split()
        if first:
            rec.synced = git.show(first[0], path)
    return rec
