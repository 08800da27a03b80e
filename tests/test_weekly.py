"""The weekly notes pipeline run by the bot (the Conda workflow): ``chatbot notes publish``
and ``sync`` as real processes, agenda items through the HackMD store, the scheduled steps and
the chair's nudge. Against the fake HackMD and GitHub APIs and a real bare Git remote."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import render_plain
from chatbot.runner import Reminders
from chatbot.state import Ledger
from chatbot.stores.hackmd_client import HackMDClient
from chatbot.stores.weekly import due_steps

from conftest import BASE_CONFIG, FixedClock, write_config
from fakes.github import FakeGitHub
from fakes.hackmd import FakeHackMD
from fakes.recording import RecordingBackend

REPO_ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
REPO = "conda/governance"
BRANCH = "2026-01-07-meeting-notes"
DOC = "meetings/archive/20260107-eco.md"
MONDAY = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # before the 2026-01-07 17:00 UTC meeting
JRG = Sender("cli", initials="JRG")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout.strip()


class World:
    def __init__(self, tmp: Path, hm: FakeHackMD, gh: FakeGitHub):
        self.tmp, self.hm, self.gh = tmp, hm, gh
        self.remote = tmp / "remote.git"
        git(tmp, "init", "--quiet", "--bare", "-b", "main", str(self.remote))
        self.human = tmp / "human"
        git(tmp, "clone", "--quiet", str(self.remote), str(self.human))
        git(self.human, "config", "user.name", "Human Maintainer")
        git(self.human, "config", "user.email", "human@example.org")
        (self.human / "meetings/archive").mkdir(parents=True)
        (self.human / "meetings/archive/README.md").write_text("Meeting notes.\n")
        git(self.human, "add", ".")
        git(self.human, "commit", "--quiet", "-m", "Initial commit")
        git(self.human, "push", "--quiet", "origin", "HEAD:main")
        self.clone = tmp / "governance"
        git(tmp, "clone", "--quiet", str(self.remote), str(self.clone))
        gh.add_repo(REPO, git_dir=self.remote)
        text = BASE_CONFIG.replace('directory = "notes"', 'directory = "governance/meetings/archive"')
        text = text.replace(
            'url = "https://example.org/notes/{filename}"',
            'url = "https://example.org/notes/{filename}"\nstore = "hackmd"',
        )
        text = text.replace(
            '\n[[people]]\ninitials = "JRG"',
            f'\n[meetings.hackmd]\napi_url = "{hm.api_url}"\nteam = "{hm.team}"\n\n'
            f'[meetings.github]\nrepo = "{REPO}"\napi_url = "{gh.url}"\nlabels = ["meeting-notes"]\n\n'
            '[[people]]\ninitials = "JRG"\nchair = true',
            1,
        )
        self.config_path = write_config(tmp, text)
        self.env = {
            **os.environ,
            "HACKMD_TOKEN": hm.token,
            "GITHUB_TOKEN": gh.token,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "CHATBOT_FAKE_NOW": "2026-01-05T12:00:00Z",
        }

    def config(self):
        return load_config(self.config_path)

    def cli(self, *args: str, now: str = "2026-01-05T12:00:00Z") -> subprocess.CompletedProcess:
        env = {**self.env, "CHATBOT_FAKE_NOW": now}
        return subprocess.run(
            [sys.executable, "-m", "chatbot", *args, "--config", str(self.config_path)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def branch_file(self) -> str:
        return subprocess.run(
            ["git", "show", f"refs/heads/{BRANCH}:{DOC}"], cwd=self.remote, text=True, capture_output=True, check=True
        ).stdout

    def branches(self) -> list[str]:
        return git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    with FakeHackMD() as hm, FakeGitHub() as gh:
        w = World(tmp_path, hm, gh)
        monkeypatch.setenv("HACKMD_TOKEN", hm.token)
        monkeypatch.setenv("GITHUB_TOKEN", gh.token)
        yield w


def test_publish_twice_makes_one_branch_one_note_one_pull_request(world):
    first = world.cli("notes", "publish")
    assert first.returncode == 0, first.stderr
    assert "created branch, note, pr" in first.stdout
    again = world.cli("notes", "publish")
    assert again.returncode == 0, again.stderr
    assert "nothing new" in again.stdout
    assert world.branches().count(BRANCH) == 1
    (note,) = world.hm.team_notes()
    (pr,) = world.gh.open_pulls(REPO)
    assert pr["head"]["ref"] == BRANCH and pr["base"]["ref"] == "main"
    assert f"HACKMDID={note.id}" in pr["body"] and f"DOCPATH={DOC}" in pr["body"]
    assert [lb["name"] for lb in pr["labels"]] == ["meeting-notes"]
    # the branch holds the rendered template, as the note does
    assert world.branch_file() == note.content
    assert "# 2026-01-07 Conda Ecosystem Meeting" in note.content
    for secret in (world.hm.token, world.gh.token):
        assert secret not in first.stdout + first.stderr + again.stdout + again.stderr


def test_agenda_items_reach_the_published_note_and_survive_the_communitys_sync(world):
    assert world.cli("notes", "publish").returncode == 0
    bot = Bot(world.config(), FixedClock(MONDAY))
    assert bot.handle("agenda add Release plans for 26.1", JRG).ok
    (note,) = world.hm.team_notes()  # the published note, not a second one
    world.hm.human_edit(note.id, lambda c: c.replace("## Attendees\n", "## Attendees\n\n1. JL: Jannis Leidel\n", 1))
    assert bot.handle("agenda add CI costs", Sender("cli", initials="JL")).ok
    content = world.hm.content(note.id)
    assert "- [ ] JRG: Release plans for 26.1\n- [ ] JL: CI costs\n" in content
    # the agenda list and the reminder link the live note and the pull request
    (pr,) = world.gh.open_pulls(REPO)
    listing = render_plain(bot.handle("agenda list", JRG))
    assert f"/{note.short_id}" in listing and pr["html_url"] in listing, listing
    assert "1. JL: Jannis Leidel" in content
    # the community's own sync workflow: GET the note, overwrite the file on the branch
    got = HackMDClient(world.hm.token, base_url=world.hm.api_url).get_note(note.id).content
    assert got == content  # every item and the human's text are in what it writes

    # the bot's sync, after the meeting: the same content lands on the branch, with a PR comment
    res = world.cli("notes", "sync", "--date", "2026-01-07", now="2026-01-07T20:00:00Z")
    assert res.returncode == 0, res.stderr
    assert world.branch_file() == content
    (pr,) = world.gh.open_pulls(REPO)
    assert any(
        "Synced the notes from HackMD" in c
        for c in [c["body"] for c in world.gh.comments.get((REPO, pr["number"]), [])]
    )


def test_a_conflict_is_reported_on_the_pull_request_and_nothing_is_lost(world):
    assert world.cli("notes", "publish").returncode == 0
    (note,) = world.hm.team_notes()
    # someone fixes the title line in the pull request, someone else edits it in HackMD
    git(world.human, "fetch", "--quiet", "origin")
    git(world.human, "checkout", "--quiet", "-B", BRANCH, f"origin/{BRANCH}")
    path = world.human / DOC
    path.write_text(path.read_text().replace("Conda Ecosystem Meeting", "Conda Ecosystem Meeting (fixed)", 1))
    git(world.human, "commit", "--quiet", "-am", "Fix the title")
    git(world.human, "push", "--quiet", "origin", BRANCH)
    world.hm.human_edit(note.id, lambda c: c.replace("Conda Ecosystem Meeting", "Conda Ecosystem Call", 1))
    before = world.branch_file()
    res = world.cli("notes", "sync", "--date", "2026-01-07", now="2026-01-07T20:00:00Z")
    assert res.returncode == 1
    assert "conflict" in res.stdout
    assert world.branch_file() == before  # nothing pushed
    assert "Conda Ecosystem Call" in world.hm.content(note.id)  # nothing lost in HackMD
    (pr,) = world.gh.open_pulls(REPO)
    assert any("conflict" in c for c in [c["body"] for c in world.gh.comments.get((REPO, pr["number"]), [])])


def test_a_cancelled_date_publishes_nothing(world):
    text = world.config_path.read_text().replace(
        'reminders = ["24h", "15m"]', 'reminders = ["24h", "15m"]\ncancelled = [2026-01-07]', 1
    )
    world.config_path.write_text(text)
    res = world.cli("notes", "publish", "--date", "2026-01-07")
    assert res.returncode == 1 and "no meeting on 2026-01-07" in res.stderr
    assert world.hm.team_notes() == [] and world.gh.open_pulls(REPO) == [] and BRANCH not in world.branches()


def test_due_steps_follow_the_configured_times(world):
    meeting = world.config().meeting()  # publish 5 d before, sync 2 h and nudge 7 d after the end
    start = dt.datetime(2026, 1, 7, 17, tzinfo=UTC)

    def steps(at: dt.datetime) -> set[tuple[str, str]]:
        return {(s, o.date.isoformat()) for s, o in due_steps(meeting, at)}

    assert ("publish", "2026-01-07") in steps(start - dt.timedelta(days=4))
    assert ("publish", "2026-01-07") not in steps(start)  # it started: too late to publish
    assert ("sync", "2026-01-07") not in steps(start + dt.timedelta(hours=2, minutes=59))
    assert ("sync", "2026-01-07") in steps(start + dt.timedelta(hours=3))  # 1 h meeting + 2 h
    assert ("nudge", "2026-01-07") not in steps(start + dt.timedelta(days=7))
    assert ("nudge", "2026-01-07") in steps(start + dt.timedelta(days=7, hours=1))


def test_none_turns_each_scheduled_step_off(world):
    """TOML has no null: "none" is how the config says "only by hand" (`chatbot notes publish`,
    `chatbot notes sync`) or "never" (the nudge)."""
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace(
            'labels = ["meeting-notes"]',
            'labels = ["meeting-notes"]\npublish_before = "none"\nsync_after = "none"\nnudge_after = "none"',
        ),
        encoding="utf-8",
    )
    meeting = world.config().meeting()
    start = dt.datetime(2026, 1, 7, 17, tzinfo=UTC)
    at = [start - dt.timedelta(days=4), start + dt.timedelta(hours=3), start + dt.timedelta(days=7, hours=1)]
    assert [due_steps(meeting, t) for t in at] == [[], [], []]


def test_the_scheduled_pipeline_publishes_syncs_and_nudges_the_chair_once(world, tmp_path):
    config = world.config()
    clock = FixedClock(dt.datetime(2026, 1, 3, 12, tzinfo=UTC))  # within publish_before
    backend = RecordingBackend()
    rem = Reminders(Bot(config, clock), backend, Ledger(tmp_path / "ledger.sqlite3"))
    rem.fire_pipeline("eco")
    (note,) = world.hm.team_notes()
    assert len(world.gh.open_pulls(REPO)) == 1
    rem.fire_pipeline("eco")  # done already: nothing new
    assert len(world.hm.team_notes()) == 1 and len(world.gh.open_pulls(REPO)) == 1
    world.hm.human_edit(note.id, lambda c: c + "\nMinutes: we talked.\n")
    clock.now = dt.datetime(2026, 1, 7, 20, 30, tzinfo=UTC)  # 2.5 h after the end
    rem.fire_pipeline("eco")
    assert "Minutes: we talked." in world.branch_file()
    assert backend.sent == []
    clock.now = dt.datetime(2026, 1, 15, 12, tzinfo=UTC)  # a week later, the PR is still open
    rem.fire_pipeline("eco")
    rem.fire_pipeline("eco")
    (nudge,) = backend.sent
    assert nudge[0] == "JRG" and "not merged yet" in nudge[1] and "pull/" in nudge[1]


def test_check_config_explains_the_store_the_branch_and_the_tokens(world):
    res = world.cli("check-config")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "live HackMD note" in out and f"team {world.hm.team}" in out and "HACKMD_TOKEN set" in out
    assert "branch 2026-01-07-meeting-notes (pattern %Y-%m-%d-meeting-notes) into main" in out
    assert "GITHUB_TOKEN set" in out and "pull requests" in out
    env = {k: v for k, v in world.env.items() if k not in ("HACKMD_TOKEN", "GITHUB_TOKEN")}
    missing = subprocess.run(
        [sys.executable, "-m", "chatbot", "check-config", "--config", str(world.config_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "HACKMD_TOKEN NOT SET" in missing.stdout and "GITHUB_TOKEN NOT SET" in missing.stdout
    assert world.hm.token not in out and world.gh.token not in out


def test_a_bot_without_the_pipeline_never_loads_its_clients(tmp_path):
    """Start-up time and memory (bench/startup.py): the HackMD and GitHub clients are loaded
    only for a meeting that runs the weekly pipeline."""
    config = write_config(tmp_path, BASE_CONFIG)
    code = (
        "import sys\n"
        "from chatbot.config import load_config\nfrom chatbot.bot import Bot\n"
        "from chatbot.runner import Reminders\nfrom chatbot.state import Ledger\n"
        "from chatbot.backends.console import ConsoleBackend\n"
        "bot = Bot(load_config(sys.argv[1]))\n"
        "rem = Reminders(bot, ConsoleBackend(bot), Ledger(':memory:'))\n"
        "rem.catch_up()\n"
        "print(sorted(m for m in ('github', 'requests', 'chatbot.stores.weekly') if m in sys.modules))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(config)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
