"""The ``hackmd`` notes store: the next meeting's notes are a live HackMD note (where people
build the agenda and take minutes); Git receives them through the weekly notes pull request
(:mod:`chatbot.stores.pipeline`). Notes of past meetings, where action items are found, stay
in the notes directory.

Finding the note of a date, in order: the bot's own record of notes it created or found
(:class:`~chatbot.stores.records.NoteRecords`), else the ``HACKMDID=`` line of the open notes
pull request of that date's branch, else the team note whose title is the H1 the template
renders for that date. Edits are the same minimal line edits as for files, applied with
:func:`~chatbot.stores.hackmd_edit.apply_edit` (read, edit, re-read, write, read back; a
person's concurrent typing is kept).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass

from ..config import Config, Meeting
from ..notes.edit import EditError, EditResult, LineEdit, apply_to_text
from ..notes.files import NotesFiles
from ..notes.parse import Notes, NotesError, parse_notes
from ..schedule import Occurrence, occurrence_on
from .base import NotesStore
from .hackmd_client import TOKEN_ENV, HackMDClient, HackMDError, HackMDNotFound
from .hackmd_config import hackmd_settings
from .hackmd_edit import apply_edit
from .records import NoteRecords

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoteRef:
    id: str
    url: str
    title: str
    team: str | None


def state_dir(config: Config):
    return config.resolve(config.bot.state_dir)


def note_url(site_url: str, note_id: str) -> str:
    return f"{site_url.rstrip('/')}/{note_id}"


class HackMDStore(NotesStore):
    kind = "hackmd"

    def __init__(
        self, config: Config, meeting: Meeting, client: HackMDClient | None = None, github: object | None = None
    ):
        super().__init__(config, meeting)
        self.settings = hackmd_settings(meeting)
        self.files = NotesFiles(config, meeting)
        self.records = NoteRecords(state_dir(config) / "hackmd-notes.json")
        self._client = client
        self._github = github
        self._refs: dict[dt.date, NoteRef] = {}

    # -- clients ----------------------------------------------------------------------

    @property
    def client(self) -> HackMDClient:
        if self._client is None:
            try:
                self._client = HackMDClient(os.environ.get(TOKEN_ENV, ""), base_url=self.settings.api_url)
            except HackMDError as exc:
                raise EditError(str(exc)) from None
        return self._client

    def _pull_request_note(self, day: dt.date) -> str | None:
        """The ``HACKMDID=`` of the open notes pull request of ``day``'s branch, if any."""
        gh = self.meeting.github
        if not gh.repo:
            return None
        from .github_client import TOKEN_ENV as GH_TOKEN_ENV
        from .github_client import GitHubClient, GitHubError, hackmd_id_from_body

        try:
            client = self._github or GitHubClient(os.environ.get(GH_TOKEN_ENV, ""), gh.repo, base_url=gh.api_url)
            pr = client.find_open_pr(day.strftime(gh.branch))  # type: ignore[attr-defined]
        except GitHubError as exc:
            log.warning("HackMD store: cannot look for the notes pull request of %s: %s", day, exc)
            return None
        return hackmd_id_from_body(pr.body) if pr else None

    # -- finding the note ---------------------------------------------------------------

    def title_for(self, day: dt.date) -> str | None:
        occ = occurrence_on(self.meeting, day)
        if occ is None:
            return None
        try:
            return parse_notes(self.files.render(occ)).title
        except (EditError, NotesError):
            return None

    def locate(self, day: dt.date) -> NoteRef | None:
        """The HackMD note of ``day``'s meeting, or None if there is none yet."""
        if day in self._refs:
            return self._refs[day]
        team = self.settings.team
        ref = None
        record = self.records.get(self.meeting.id, day)
        try:
            if record and record.get("hackmd_id"):
                ref = NoteRef(
                    record["hackmd_id"],
                    record.get("hackmd_url") or note_url(self.settings.site_url, record["hackmd_id"]),
                    record.get("title") or "",
                    record.get("team", team),
                )
            else:
                found = self._pull_request_note(day)
                if found:
                    note = self.client.get_note(found, team)
                    ref = NoteRef(
                        note.id, note.publish_link or note_url(self.settings.site_url, note.id), note.title, team
                    )
                elif team and (title := self.title_for(day)):
                    titled = self.client.find_team_note(team, title)
                    if titled is not None:
                        ref = NoteRef(
                            titled.id,
                            titled.publish_link or note_url(self.settings.site_url, titled.id),
                            titled.title,
                            team,
                        )
        except HackMDError as exc:
            log.warning("HackMD: %s", exc)
            raise EditError(f"HackMD: {exc}") from None
        if ref is not None:
            if not record or record.get("hackmd_id") != ref.id:
                self.records.update(
                    self.meeting.id, day, hackmd_id=ref.id, hackmd_url=ref.url, title=ref.title, team=ref.team
                )
            self._refs[day] = ref
        return ref

    # -- the store ----------------------------------------------------------------------

    def name(self, day: dt.date) -> str:
        ref = self.locate_quietly(day)
        return f"HackMD: {ref.title}" if ref and ref.title else f"the HackMD note of {day.isoformat()}"

    def locate_quietly(self, day: dt.date) -> NoteRef | None:
        try:
            return self.locate(day)
        except EditError:
            return None

    def url(self, day: dt.date, line: int | None = None) -> str | None:
        ref = self.locate_quietly(day)
        return ref.url if ref else None

    def related(self, day: dt.date) -> list[tuple[str, str]]:
        record = self.records.get(self.meeting.id, day) or {}
        pr = record.get("pr_url")
        return (
            [(f"pull request #{record.get('pr_number')}" if record.get("pr_number") else "pull request", pr)]
            if pr
            else []
        )

    def exists(self, day: dt.date) -> bool:
        return self.locate(day) is not None

    def _get(self, ref: NoteRef) -> str:
        try:
            note = self.client.get_note(ref.id, ref.team)
        except HackMDNotFound:
            raise EditError(f"the HackMD note {ref.url} is gone (deleted?); nothing was changed") from None
        except HackMDError as exc:
            log.warning("HackMD: %s", exc)
            raise EditError(f"HackMD: {exc}") from None
        return note.content or ""

    def read(self, day: dt.date) -> Notes | None:
        ref = self.locate(day)
        if ref is None:
            return None
        return parse_notes(self._get(ref), f"HackMD note {ref.url}")

    def ensure(self, occurrence: Occurrence, text: str | None = None) -> bool:
        if self.locate(occurrence.date) is not None:
            return False
        if text is None:
            text = self.files.checked_render(occurrence)
        try:
            note = self.client.create_note(
                text,
                team_path=self.settings.team,
                read_permission=self.settings.read_permission,
                write_permission=self.settings.write_permission,
            )
        except HackMDError as exc:
            log.warning("HackMD: %s", exc)
            raise EditError(f"HackMD: {exc}") from None
        ref = NoteRef(
            note.id, note.publish_link or note_url(self.settings.site_url, note.id), note.title, self.settings.team
        )
        self.records.update(
            self.meeting.id,
            occurrence.date,
            hackmd_id=ref.id,
            hackmd_url=ref.url,
            title=ref.title,
            team=ref.team,
            created_by_bot=True,
        )
        self._refs[occurrence.date] = ref
        log.info("created HackMD note %s for %s on %s", ref.url, self.meeting.id, occurrence.date)
        return True

    def apply(self, day: dt.date, change: LineEdit) -> EditResult:
        ref = self.locate(day)
        if ref is None:
            raise EditError(f"there is no HackMD note for {day.isoformat()} yet")
        where = f"HackMD note {ref.url}"
        results: list[EditResult] = []

        def edit(text: str) -> str:
            new, result = apply_to_text(text, change, where)
            results.append(result)
            return new

        try:
            apply_edit(self.client, ref.id, edit, team_path=ref.team)
        except HackMDNotFound:
            raise EditError(f"the HackMD note {ref.url} is gone (deleted?); nothing was changed") from None
        except HackMDError as exc:
            log.warning("HackMD: %s", exc)
            raise EditError(f"HackMD: {exc}") from None
        return results[-1]

    def lock(self) -> AbstractContextManager[None]:
        # one edit at a time from this bot's processes (HackMD itself has no lock)
        return self.files.lock()
