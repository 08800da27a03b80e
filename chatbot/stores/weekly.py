"""The weekly notes pipeline of a meeting whose notes live in HackMD and reach Git through a
pull request (``notes.store = "hackmd"`` and ``[meetings.github] repo``), run by the bot:

- **publish** ``publish_before`` the meeting (or ``chatbot notes publish``): the template
  rendered (open action items carried over) is committed on the week's branch, the HackMD note
  is created (or the one the bot already made for an early agenda item is used) and the pull
  request opened with the ``HACKMDURL=``/``HACKMDID=``/``DOCPATH=`` lines;
- **sync** ``sync_after`` the meeting ends (or ``chatbot notes sync``): the note is brought
  into the branch, merged three-way with fixes made on the branch, a conflict reported;
- **nudge** ``nudge_after`` the meeting ends: the chair is told once, with the links, if the
  pull request is still unsynced or unmerged.

The Git clone is the one holding the notes directory; the file's path in the repository is
the notes file's path relative to the clone. Tokens: ``HACKMD_TOKEN`` and ``GITHUB_TOKEN``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Meeting
from ..messages import Link, Message, Text, UserText
from ..schedule import Occurrence, occurrence_on, occurrences
from .github_client import TOKEN_ENV as GITHUB_TOKEN_ENV
from .github_client import GitHubClient, GitHubError, PullInfo
from .hackmd_client import TOKEN_ENV as HACKMD_TOKEN_ENV
from .hackmd_client import HackMDClient, HackMDError
from .pipeline import PipelineError, PublishResult, SyncResult, load_record, publish, sync
from .hackmd_config import hackmd_settings, weekly_enabled
from .records import NoteRecords

if TYPE_CHECKING:
    from ..bot import Bot

log = logging.getLogger(__name__)

Failure = (PipelineError, HackMDError, GitHubError)


enabled = weekly_enabled


@dataclass
class Weekly:
    bot: Bot
    meeting: Meeting
    hackmd: HackMDClient | None = None
    github: GitHubClient | None = None

    # -- setup --------------------------------------------------------------------------

    def clients(self) -> tuple[HackMDClient, GitHubClient]:
        if not enabled(self.meeting):
            raise PipelineError(
                f'{self.meeting.id}: the weekly notes pipeline needs notes.store = "hackmd" and '
                "[meetings.github] repo in the config"
            )
        if self.hackmd is None:
            self.hackmd = HackMDClient(
                os.environ.get(HACKMD_TOKEN_ENV, ""), base_url=hackmd_settings(self.meeting).api_url
            )
        if self.github is None:
            gh = self.meeting.github
            self.github = GitHubClient(os.environ.get(GITHUB_TOKEN_ENV, ""), gh.repo or "", base_url=gh.api_url)
        return self.hackmd, self.github

    @property
    def records(self) -> NoteRecords:
        return NoteRecords(self.bot.config.resolve(self.bot.config.bot.state_dir) / "hackmd-notes.json")

    def workdir(self) -> Path:
        """The Git clone holding the notes directory."""
        directory = self.bot.files(self.meeting).directory
        probe = directory if directory.is_dir() else directory.parent
        try:
            top = subprocess.run(
                ["git", "rev-parse", "--show-toplevel"], cwd=probe, capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PipelineError(f"cannot run git in {probe}: {exc}") from None
        if top.returncode != 0:
            raise PipelineError(
                f"the notes directory {directory} is not inside a Git clone of "
                f"{self.meeting.github.repo}: clone it there (the pipeline commits to its branches)"
            )
        return Path(top.stdout.strip())

    def doc_path(self, day: dt.date, workdir: Path) -> str:
        path = self.bot.files(self.meeting).path_for(day)
        return path.relative_to(workdir.resolve()).as_posix()

    def occurrence(self, day: dt.date | None) -> Occurrence:
        if day is None:
            return self.bot.next_meeting(self.meeting)
        occ = occurrence_on(self.meeting, day)
        if occ is None:
            raise PipelineError(
                f"{self.meeting.name} has no meeting on {day.isoformat()} (not in the schedule, "
                "or cancelled): nothing to publish or sync"
            )
        return occ

    # -- the steps ----------------------------------------------------------------------

    def text(self, occ: Occurrence) -> str:
        """The template rendered for ``occ``, with open action items and deferred topics carried
        over (as new notes get them)."""
        from ..agenda import prepared_text

        return prepared_text(self.bot.context, self.meeting, occ)[0]

    def publish(self, day: dt.date | None = None) -> PublishResult:
        occ = self.occurrence(day)
        hackmd, github = self.clients()
        workdir = self.workdir()
        gh, settings, hm = self.meeting.github, self.meeting.git, hackmd_settings(self.meeting)
        title = gh.title.replace("{name}", self.meeting.name)
        try:
            title = title.format(date=occ.start) if "{date" in title else title
        except (ValueError, KeyError, IndexError):
            pass
        result = publish(
            key=self.meeting.id,
            day=occ.date,
            text=self.text(occ),
            doc_path=self.doc_path(occ.date, workdir),
            workdir=workdir,
            hackmd=hackmd,
            github=github,
            records=self.records,
            team_path=hm.team,
            remote=gh.remote,
            base_branch=gh.base,
            branch_pattern=gh.branch,
            committer=(settings.committer_name, settings.committer_email),
            pr_title=title,
            read_permission=hm.read_permission,
            write_permission=hm.write_permission,
        )
        for label in gh.labels if "pr" in result.created else ():
            github.add_label(result.pr_number, label)
        log.info(
            "%s: published the notes of %s (%s): %s",
            self.meeting.id,
            occ.date,
            ", ".join(result.created) or "nothing new",
            result.pr_url,
        )
        return result

    def sync(self, day: dt.date | None = None) -> SyncResult:
        if day is None:
            day = self.last_held()
        hackmd, github = self.clients()
        workdir = self.workdir()
        gh, settings = self.meeting.github, self.meeting.git
        result = sync(
            key=self.meeting.id,
            day=day,
            workdir=workdir,
            hackmd=hackmd,
            github=github,
            records=self.records,
            remote=gh.remote,
            doc_path=self.doc_path(day, workdir),
            branch_pattern=gh.branch,
            committer=(settings.committer_name, settings.committer_email),
        )
        log.info("%s: sync of %s: %s", self.meeting.id, day, result.status)
        return result

    def last_held(self) -> dt.date:
        now = self.bot.now()
        held = [o for o in occurrences(self.meeting, now - dt.timedelta(days=60), now) if o.start_utc <= now]
        if not held:
            raise PipelineError(f"{self.meeting.name} has no meeting in the last 60 days to sync")
        return held[-1].date

    def pull_request(self, day: dt.date) -> PullInfo | None:
        _, github = self.clients()
        rec = load_record(self.records, self.meeting.id, day)
        if rec and rec.pr_number is not None:
            return github.get_pr(rec.pr_number)
        return github.find_open_pr(day.strftime(self.meeting.github.branch))

    def nudge_message(self, day: dt.date, pr: PullInfo, synced: bool) -> Message:
        rec = load_record(self.records, self.meeting.id, day)
        why = "is not merged yet" if synced else "has not been synced from HackMD yet"
        msg = Message(kind="notice", about=occurrence_on(self.meeting, day)).add(
            Text(f"The notes of {self.meeting.name} on {day.isoformat()}", bold=True),
            f" {why}: ",
            Link(pr.html_url, f"pull request #{pr.number}"),
        )
        if rec and rec.note_url:
            msg.add("Live notes: ", Link(rec.note_url, "HackMD"))
        msg.add(
            "Sync: ",
            UserText(f"chatbot notes sync --date {day.isoformat()} --meeting {self.meeting.id}"),
            "; then review and merge the pull request.",
        )
        return msg

    def synced_since_meeting(self, day: dt.date) -> bool:
        rec = load_record(self.records, self.meeting.id, day)
        return bool(rec and any(h.startswith("synced") for h in rec.history))


def due_steps(meeting: Meeting, now: dt.datetime) -> list[tuple[str, Occurrence]]:
    """The pipeline steps due at ``now`` for ``meeting``: ("publish", occ) from
    ``publish_before`` the meeting until it starts; ("sync", occ) and ("nudge", occ) from
    ``sync_after``/``nudge_after`` after it ends, for two weeks (the ledger makes each once)."""
    gh = meeting.github
    out: list[tuple[str, Occurrence]] = []
    window = dt.timedelta(days=14)
    for occ in occurrences(
        meeting,
        now - window - meeting.duration - max(gh.sync_after or dt.timedelta(0), gh.nudge_after or dt.timedelta(0)),
        now + (gh.publish_before or window),
    ):
        end = occ.start_utc + meeting.duration
        if gh.publish_before is not None and occ.start_utc - gh.publish_before <= now < occ.start_utc:
            out.append(("publish", occ))
        if gh.sync_after is not None and end + gh.sync_after <= now < end + gh.sync_after + window:
            out.append(("sync", occ))
        if gh.nudge_after is not None and end + gh.nudge_after <= now < end + gh.nudge_after + window:
            out.append(("nudge", occ))
    return out
