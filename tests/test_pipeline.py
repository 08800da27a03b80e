"""The weekly publish and the sync back, against the fake HackMD and GitHub APIs and a real bare
Git repository (the community's "GitHub" remote) in a temporary directory."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
from pathlib import Path

import pytest

from chatbot.stores.github_client import GitHubClient, pr_body
from chatbot.stores.hackmd_client import HackMDClient
from chatbot.stores.hackmd_edit import apply_edit
from chatbot.stores.pipeline import PipelineError, load_record, note_title, publish, sync
from chatbot.stores.records import NoteRecords
from tests.fakes.github import FakeGitHub
from tests.fakes.hackmd import FakeHackMD

REPO = "conda/governance"
DAY = dt.date(2026, 1, 7)
BRANCH = "2026-01-07-meeting-notes"
DOC = "meetings/archive/20260107-conda-ecosystem.md"
TEXT = """\
# Conda Ecosystem Meeting 2026-01-07

## Agenda

- [ ] JL: Release plans

## Notes

"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    human = tmp_path / "human"
    git(tmp_path, "clone", "--quiet", str(remote), str(human))
    git(human, "config", "user.name", "Human Maintainer")
    git(human, "config", "user.email", "human@example.org")
    (human / "meetings/archive").mkdir(parents=True)
    (human / "meetings/archive/README.md").write_text("Meeting notes.\n")
    git(human, "add", ".")
    git(human, "commit", "--quiet", "-m", "Initial commit")
    git(human, "push", "--quiet", "origin", "HEAD:main")
    bot = tmp_path / "botrepo"
    git(tmp_path, "clone", "--quiet", str(remote), str(bot))
    with FakeHackMD() as hm, FakeGitHub() as gh:
        gh.add_repo(REPO, git_dir=remote)
        w = World(tmp_path, remote, human, bot, hm, gh)
        yield w


class World:
    def __init__(self, tmp, remote, human, bot, hm, gh):
        self.tmp, self.remote, self.human, self.bot, self.hm, self.gh = tmp, remote, human, bot, hm, gh
        self.state = tmp / "state"
        self.records = NoteRecords(self.state / "hackmd-notes.json")
        self.hackmd = HackMDClient(hm.token, base_url=hm.api_url, sleep=Sleeps())
        self.github = GitHubClient(gh.token, REPO, base_url=gh.url, sleep=Sleeps(), seconds_between_writes=None)

    def publish(self, **kw):
        args = dict(
            key="eco",
            day=DAY,
            text=TEXT,
            doc_path=DOC,
            workdir=self.bot,
            hackmd=self.hackmd,
            github=self.github,
            records=self.records,
            team_path=self.hm.team,
        )
        args.update(kw)
        return publish(**args)

    def sync(self, **kw):
        args = dict(key="eco", day=DAY, workdir=self.bot, hackmd=self.hackmd, github=self.github, records=self.records)
        args.update(kw)
        return sync(**args)

    def branch_file(self, branch: str = BRANCH) -> str:
        return subprocess.run(
            ["git", "show", f"refs/heads/{branch}:{DOC}"], cwd=self.remote, text=True, capture_output=True, check=True
        ).stdout

    def branch_sha(self, branch: str = BRANCH) -> str:
        return git(self.remote, "rev-parse", f"refs/heads/{branch}")

    def human_commit_on_branch(self, change) -> None:
        git(self.human, "fetch", "--quiet", "origin")
        git(self.human, "checkout", "--quiet", "-B", BRANCH, f"origin/{BRANCH}")
        path = self.human / DOC
        path.write_text(change(path.read_text()))
        git(self.human, "commit", "--quiet", "-am", "Fix the notes in the PR")
        git(self.human, "push", "--quiet", "origin", BRANCH)


def test_note_title():
    assert note_title(TEXT) == "Conda Ecosystem Meeting 2026-01-07"
    assert note_title("```\n# no\n```\ntext\n") is None


def test_publish_makes_branch_note_and_pr(world):
    res = world.publish()
    assert res.created == ("branch", "note", "pr")
    assert res.branch == BRANCH
    assert world.branch_file() == TEXT
    # the bot's clone is untouched: no checkout, no branch switch, clean tree
    assert git(world.bot, "status", "--porcelain") == "" and git(world.bot, "branch", "--show-current") == "main"
    notes = world.hm.team_notes()
    assert len(notes) == 1 and notes[0].content == TEXT and notes[0].id == res.note_id
    assert notes[0].title == "Conda Ecosystem Meeting 2026-01-07"
    pulls = world.gh.open_pulls(REPO)
    assert len(pulls) == 1 and pulls[0]["head"]["ref"] == BRANCH and pulls[0]["base"]["ref"] == "main"
    body = pulls[0]["body"]
    assert f"HACKMDID={res.note_id}" in body.splitlines()
    assert f"DOCPATH={DOC}" in body.splitlines()
    assert f"HACKMDURL={res.note_url}" in body.splitlines()
    assert pulls[0]["title"] == "Conda Ecosystem Meeting 2026-01-07"
    author = git(world.remote, "log", "-1", "--format=%an <%ae>", f"refs/heads/{BRANCH}")
    assert author == "Meeting Bot <meeting-bot@users.noreply.github.com>"
    rec = load_record(world.records, "eco", DAY)
    assert rec.note_id == res.note_id and rec.pr_number == res.pr_number and rec.synced == TEXT


def test_publish_twice_makes_one_of_each(world):
    first = world.publish()
    sha = world.branch_sha()
    second = world.publish()
    assert second.created == ()
    assert (second.note_id, second.pr_number, second.branch) == (first.note_id, first.pr_number, first.branch)
    assert world.branch_sha() == sha
    assert len(world.hm.team_notes()) == 1 and len(world.gh.open_pulls(REPO)) == 1
    assert len(world.hm.requests_to("POST")) == 1 and len(world.gh.requests_to("POST", f"/repos/{REPO}/pulls")) == 1


def test_publish_without_the_record_finds_what_exists(world):
    first = world.publish()
    world.records.path.unlink()
    again = world.publish()
    assert again.created == ()
    assert again.note_id == first.note_id and again.pr_number == first.pr_number
    assert len(world.hm.team_notes()) == 1 and len(world.gh.open_pulls(REPO)) == 1


def test_publish_concurrently_makes_one_of_each(world):
    results, errors = [], []

    def run():
        try:
            results.append(world.publish())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len({r.note_id for r in results}) == 1 and len({r.pr_number for r in results}) == 1
    assert len(world.hm.team_notes()) == 1 and len(world.gh.open_pulls(REPO)) == 1
    assert sorted(len(r.created) for r in results) == [0, 0, 3]


def test_publish_refuses_when_the_file_is_on_main_already(world):
    (world.human / DOC).write_text(TEXT)
    git(world.human, "add", DOC)
    git(world.human, "commit", "--quiet", "-m", "notes on main")
    git(world.human, "push", "--quiet", "origin", "HEAD:main")
    with pytest.raises(PipelineError, match="already exists on main"):
        world.publish()
    assert world.hm.team_notes() == [] and world.gh.open_pulls(REPO) == []


def test_sync_brings_the_note_into_the_branch_and_comments(world):
    res = world.publish()
    apply_edit(
        world.hackmd,
        res.note_id,
        lambda t: t.replace("- [ ] JL: Release plans", "- [ ] JL: Release plans\n- [ ] JRG: CEP review"),
    )
    world.hm.human_edit(res.note_id, lambda t: t + "- minutes: we agreed on 26.1\n")
    out = world.sync()
    assert out.status == "updated"
    assert world.branch_file() == world.hm.content(res.note_id)
    comments = world.github.comments(res.pr_number)
    assert len(comments) == 1 and "JRG: CEP review" in comments[0] and "we agreed on 26.1" in comments[0]
    again = world.sync()
    assert again.status == "unchanged" and len(world.github.comments(res.pr_number)) == 1


def test_sync_merges_a_fix_made_on_the_branch(world):
    res = world.publish()
    world.human_commit_on_branch(
        lambda t: t.replace(
            "# Conda Ecosystem Meeting 2026-01-07", "# Conda Ecosystem Meeting 2026-01-07\n\nAttendees: JRG, JL"
        )
    )
    world.hm.human_edit(res.note_id, lambda t: t + "- minutes: release on Friday\n")
    out = world.sync()
    assert out.status == "merged"
    final = world.branch_file()
    assert "Attendees: JRG, JL" in final and "- minutes: release on Friday" in final
    assert "kept" in world.github.comments(res.pr_number)[-1]


def test_sync_conflict_is_reported_not_resolved(world):
    res = world.publish()
    world.human_commit_on_branch(lambda t: t.replace("- [ ] JL: Release plans", "- [x] JL: Release plans (done)"))
    sha = world.branch_sha()
    world.hm.human_edit(res.note_id, lambda t: t.replace("- [ ] JL: Release plans", "- [ ] JL: Release plans for 26.3"))
    out = world.sync()
    assert out.status == "conflict" and not out.ok
    assert world.branch_sha() == sha  # nothing pushed
    comments = world.github.comments(res.pr_number)
    assert len(comments) == 1 and "conflict" in comments[0] and out.comment_url
    # the note keeps its text too
    assert "Release plans for 26.3" in world.hm.content(res.note_id)


def test_sync_of_notes_published_by_the_old_workflow(world):
    """No record: the PR body (HACKMDID=, DOCPATH=) says which note and file."""
    note = world.hm.add_note(TEXT, team_path=world.hm.team)
    git(world.human, "checkout", "--quiet", "-b", BRANCH)
    (world.human / DOC).write_text(TEXT)
    git(world.human, "add", DOC)
    git(world.human, "commit", "--quiet", "-m", "Create meeting notes")
    git(world.human, "push", "--quiet", "origin", BRANCH)
    world.gh.open_pull(
        REPO, BRANCH, "Notes", pr_body(f"https://hackmd.io/{note.id}", note.id, DOC), login="github-actions"
    )
    world.hm.human_edit(note.id, lambda t: t + "- minutes from the meeting\n")
    out = world.sync()
    assert out.status == "updated"
    assert world.branch_file() == world.hm.content(note.id)


def test_sync_refuses_to_empty_the_file(world):
    res = world.publish()
    sha = world.branch_sha()
    world.hm.human_edit(res.note_id, "")
    with pytest.raises(PipelineError, match="empty"):
        world.sync()
    assert world.branch_sha() == sha and world.branch_file() == TEXT


def test_the_note_the_store_made_is_the_one_published(world):
    """An agenda item came before the publish: the HackMD store created the note and recorded
    it (hackmd_id in the shared record); publish uses that note, with its items."""
    early = world.hm.add_note(TEXT.replace("## Notes", "- [ ] JRG: early item\n\n## Notes"), team_path=world.hm.team)
    world.records.update(
        "eco",
        DAY,
        hackmd_id=early.id,
        hackmd_url="https://hackmd.io/x",
        title="t",
        team=world.hm.team,
        created_by_bot=True,
    )
    res = world.publish()
    assert res.note_id == early.id and "note" not in res.created
    assert len(world.hm.team_notes()) == 1
    entry = world.records.get("eco", DAY)
    assert entry["created_by_bot"] is True and entry["hackmd_id"] == early.id  # the store's fields kept
    assert entry["pr_number"] == res.pr_number and entry["branch"] == BRANCH
    out = world.sync()  # the early item reaches the branch
    assert out.status == "updated" and "JRG: early item" in world.branch_file()


def test_title_finds_a_note_made_by_hand(world):
    by_hand = world.hm.add_note(TEXT, team_path=world.hm.team)
    res = world.publish()
    assert res.note_id == by_hand.id and "note" not in res.created


def test_publish_after_a_lost_answer_makes_no_second_note(world):
    """HackMD created the note but its answer was lost: publish fails, the next run finds the
    note by its title and makes no second one."""
    from chatbot.stores.hackmd_client import HackMDError

    world.hm.lose_answer_next("POST", f"/v1/teams/{world.hm.team}/notes", status=502)
    with pytest.raises(HackMDError):
        world.publish()
    assert len(world.hm.team_notes()) == 1 and world.gh.open_pulls(REPO) == []
    res = world.publish()
    assert res.created == ("pr",)
    assert len(world.hm.team_notes()) == 1 and res.note_id == world.hm.team_notes()[0].id
