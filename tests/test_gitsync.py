"""Notes in Git: real ``git`` against a real bare repository in a temporary directory.

Layout of every test: ``remote.git`` (bare, the "GitHub" of the community), ``human`` (a
maintainer's clone with its own identity) and ``botrepo`` (the bot's clone, with NO Git
identity configured and no global config: the bot must pass author and committer itself).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.gitsync import GitSync, hooks_for, scrub
from chatbot.messages import render_plain

from conftest import FIXTURES, FixedClock, say
from test_zulip import fake, start_bot  # noqa: F401  (the real bot process against a fake Zulip)

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # next meeting: Wed 2026-01-07 17:00 UTC
NOTES = "meetings/archive"

CONFIG = """
[bot]
default_meeting = "eco"

[[meetings]]
id = "eco"
name = "Conda Ecosystem Meeting"
call_link = "https://zoom.example/j/1"

[[meetings.slots]]
rrule = "FREQ=WEEKLY;BYDAY=WE"
start = 2026-01-07
time = 17:00:00
timezone = "UTC"

[meetings.notes]
directory = "{directory}"
filename = "%Y%m%d-eco.md"
template = "template.md"

[meetings.git]
{git}

[[people]]
initials = "JRG"
name = "Jaime Rodríguez-Guerra"
email = "jaime@example.org"
slack_id = "U1"

[[people]]
initials = "JL"
name = "Jannis Leidel"
github = "jezdez"
"""


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # no global or system Git config: like a fresh CI machine or container
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    human = tmp_path / "human"
    git(tmp_path, "clone", "--quiet", str(remote), str(human))
    git(human, "config", "user.name", "Human Maintainer")
    git(human, "config", "user.email", "human@example.org")
    (human / NOTES).mkdir(parents=True)
    (human / NOTES / "README.md").write_text("Meeting notes.\n")
    (human / ".gitignore").write_text(".chatbot.lock\n")
    git(human, "add", ".")
    git(human, "commit", "--quiet", "-m", "Initial commit")
    git(human, "push", "--quiet", "origin", "HEAD:main")
    bot = tmp_path / "botrepo"
    git(tmp_path, "clone", "--quiet", str(remote), str(bot))
    assert git(bot, "config", "user.name", check=False) == ""  # the bot's clone has no identity
    return remote, human, bot


def make_bot(tmp_path: Path, directory: Path, git_toml: str, now: dt.datetime = NOW) -> Bot:
    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "template.md").write_text((FIXTURES / "agenda_template.md").read_text(encoding="utf-8"), encoding="utf-8")
    path = cfg / "chatbot.toml"
    path.write_text(textwrap.dedent(CONFIG).format(directory=directory.as_posix(), git=git_toml), encoding="utf-8")
    config = load_config(path)
    return Bot(config, FixedClock(now), hooks=hooks_for(config))


PUSH = """enabled = true
push = true
committer_name = "Meeting Bot"
committer_email = "bot@example.org"
"""


def remote_log(remote: Path, fmt: str = "%s") -> list[str]:
    return git(remote, "log", "main", f"--format={fmt}").splitlines()


def test_commits_each_change_with_author_and_committer_and_pushes(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    assert [type(h) for h in bot.hooks] == [GitSync]

    out = say(bot, "agenda add Release plans <for> 'v2'")
    assert "⚠" not in out
    out = say(bot, "agenda add CI budget", who="JL")
    assert "⚠" not in out
    out = say(bot, "agenda remove 1")
    assert "⚠" not in out

    subjects = remote_log(remote)
    assert subjects == [
        "agenda: remove 'JRG: Release plans <for> ’v2’' from 2026-01-07 (JRG)",
        "agenda: add 'CI budget' for 2026-01-07 (JL)",
        "agenda: add 'Release plans <for> ’v2’' for 2026-01-07 (JRG)",
        "Initial commit",
    ]
    authors = remote_log(remote, "%an <%ae>|%cn <%ce>")
    assert authors[:3] == [
        "Jaime Rodríguez-Guerra <jaime@example.org>|Meeting Bot <bot@example.org>",
        "Jannis Leidel <jezdez@users.noreply.github.com>|Meeting Bot <bot@example.org>",
        "Jaime Rodríguez-Guerra <jaime@example.org>|Meeting Bot <bot@example.org>",
    ]
    # the new notes file was part of the first commit, and said so in the body
    body = git(remote, "log", "main", "--format=%b", "-1", "--skip=2")
    assert "notes: create 20260107-eco.md from the template" in body
    assert git(remote, "show", "--name-status", "--format=", "main~2") == f"A\t{NOTES}/20260107-eco.md"
    # what the remote has is exactly the bot's file; nothing else (no lock file) committed
    remote_text = git(remote, "show", f"main:{NOTES}/20260107-eco.md")
    assert remote_text == (repo / NOTES / "20260107-eco.md").read_text().rstrip("\n")
    assert "JL: CI budget" in remote_text and "Release plans" not in remote_text
    assert git(remote, "ls-tree", "-r", "--name-only", "main").splitlines() == [
        ".gitignore",
        f"{NOTES}/20260107-eco.md",
        f"{NOTES}/README.md",
    ]
    assert git(repo, "status", "--porcelain") == ""


def test_commit_only_without_push_and_other_staged_work_untouched(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, "enabled = true\n")
    (repo / "unrelated.txt").write_text("a human's staged work\n")
    git(repo, "add", "unrelated.txt")
    say(bot, "agenda add Only commit")
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Only commit' for 2026-01-07 (JRG)"
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == f"{NOTES}/20260107-eco.md"
    assert git(repo, "diff", "--cached", "--name-only") == "unrelated.txt"  # still staged, not committed
    assert remote_log(remote) == ["Initial commit"]  # push = false


def test_concurrent_human_commit_forces_rebase_and_both_reach_the_remote(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    say(bot, "agenda add First item")
    # meanwhile a human pushes a commit the bot's clone has not seen
    git(human, "pull", "--quiet", "--rebase", "origin", "main")
    (human / NOTES / "README.md").write_text("Meeting notes, see the template.\n")
    git(human, "commit", "--quiet", "-am", "Human: README wording")
    git(human, "push", "--quiet", "origin", "HEAD:main")

    out = say(bot, "agenda add Second item")
    assert "⚠" not in out, out
    assert remote_log(remote) == [
        "agenda: add 'Second item' for 2026-01-07 (JRG)",
        "Human: README wording",
        "agenda: add 'First item' for 2026-01-07 (JRG)",
        "Initial commit",
    ]
    assert git(remote, "rev-list", "--merges", "main") == ""  # rebased, not merged
    assert git(repo, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    assert (repo / NOTES / "README.md").read_text() == "Meeting notes, see the template.\n"


def test_conflicting_human_edit_keeps_local_commit_and_aborts_the_rebase(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH + "retries = 2\n")
    say(bot, "agenda add First item")
    git(human, "pull", "--quiet", "--rebase", "origin", "main")
    notes = human / NOTES / "20260107-eco.md"
    text = notes.read_text()
    notes.write_text(text.replace("- [ ] JRG: First item\n", "- [ ] JRG: First item\n- [ ] JL: From HackMD\n"))
    git(human, "commit", "--quiet", "-am", "Sync notes from HackMD")
    git(human, "push", "--quiet", "origin", "HEAD:main")

    out = say(bot, "agenda add Second item")
    assert "⚠" in out and "could not be pushed to origin/main" in out and "will be pushed when that works again" in out
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Second item' for 2026-01-07 (JRG)"
    assert not (repo / ".git" / "rebase-merge").exists() and not (repo / ".git" / "rebase-apply").exists()
    assert "<<<<<<<" not in (repo / NOTES / "20260107-eco.md").read_text()
    assert remote_log(remote)[0] == "Sync notes from HackMD"


def test_pull_before_edit_sees_human_changes(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH + "pull = true\n")
    say(bot, "agenda add First item")
    git(human, "pull", "--quiet", "--rebase", "origin", "main")
    notes = human / NOTES / "20260107-eco.md"
    notes.write_text(
        notes.read_text().replace("- [ ] JRG: First item\n", "- [ ] JRG: First item\n- [ ] JL: Merged from a PR\n")
    )
    git(human, "commit", "--quiet", "-am", "Merge notes PR")
    git(human, "push", "--quiet", "origin", "HEAD:main")

    out = say(bot, "agenda add Third item")
    assert "as item 3" in out, out  # the human's item was there before the bot wrote
    listing = say(bot, "agenda list")
    assert "2. JL: Merged from a PR" in listing and "3. JRG: Third item" in listing
    assert remote_log(remote)[:2] == ["agenda: add 'Third item' for 2026-01-07 (JRG)", "Merge notes PR"]


def test_push_that_cannot_succeed_warns_keeps_commit_and_next_change_pushes_both(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    say(bot, "agenda add Before the outage")
    good = git(repo, "remote", "get-url", "origin")
    # a remote that refuses connections (a closed port on this machine), with a secret in the URL
    git(repo, "remote", "set-url", "origin", "http://bot:s3cret-token@127.0.0.1:9/governance.git")

    out = say(bot, "agenda add During the outage")
    assert "⚠" in out and "committed locally" in out and "will be pushed when that works again" in out, out
    assert "s3cret-token" not in out
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'During the outage' for 2026-01-07 (JRG)"
    assert remote_log(remote)[0] == "agenda: add 'Before the outage' for 2026-01-07 (JRG)"

    git(repo, "remote", "set-url", "origin", good)
    out = say(bot, "agenda add After the outage")
    assert "⚠" not in out, out
    assert remote_log(remote)[:3] == [
        "agenda: add 'After the outage' for 2026-01-07 (JRG)",
        "agenda: add 'During the outage' for 2026-01-07 (JRG)",
        "agenda: add 'Before the outage' for 2026-01-07 (JRG)",
    ]


def test_disabled_or_not_a_work_tree_changes_nothing(tmp_path, repos):
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, "enabled = false\n")
    assert bot.hooks == []
    say(bot, "agenda add Not committed")
    assert git(repo, "log", "--format=%s") == "Initial commit"
    assert "20260107-eco.md" in git(repo, "status", "--porcelain")

    outside = tmp_path / "plain-notes"
    bot = make_bot(tmp_path, outside, PUSH)
    out = say(bot, "agenda add Still saved")
    assert "⚠" not in out
    assert "JRG: Still saved" in (outside / "20260107-eco.md").read_text()


def test_cli_commits_through_the_hook(tmp_path, repos):
    remote, human, repo = repos
    make_bot(tmp_path, repo / NOTES, PUSH)
    env = dict(os.environ, CHATBOT_FAKE_NOW="2026-01-05T12:00:00Z")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatbot",
            "agenda",
            "add",
            "--as",
            "JL",
            "-c",
            str(tmp_path / "cfg" / "chatbot.toml"),
            "From",
            "the",
            "CLI",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert remote_log(remote, "%s|%an")[0] == "agenda: add 'From the CLI' for 2026-01-07 (JL)|Jannis Leidel"


def test_scrub_hides_credentials():
    assert (
        scrub("fatal: unable to access 'https://x-access-token:ghp_abc@github.com/o/r.git/'")
        == "fatal: unable to access 'https://***@github.com/o/r.git/'"
    )


def test_a_config_reload_that_turns_git_on_or_moves_the_notes_is_followed(tmp_path, repos):
    """`chatbot run` reloads its config on SIGHUP or when the file changes: turning
    [meetings.git] on, or pointing the notes at another clone, takes effect without a restart."""
    from chatbot.runner import ConfigWatcher

    class NoJobs:
        def reschedule(self):
            pass

    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, "enabled = false\n")
    say(bot, "agenda add Before git")
    assert git(repo, "log", "--format=%s") == "Initial commit"
    watcher = ConfigWatcher(bot, NoJobs())
    path = tmp_path / "cfg" / "chatbot.toml"
    path.write_text(path.read_text().replace("enabled = false\n", PUSH))
    assert watcher.reload()
    say(bot, "agenda add After git")
    assert remote_log(remote)[0] == "agenda: add 'After git' for 2026-01-07 (JRG)"
    # the notes move to a second clone of the same repository
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    path.write_text(path.read_text().replace((repo / NOTES).as_posix(), (other / NOTES).as_posix()))
    assert watcher.reload()
    out = say(bot, "agenda add In the other clone")
    assert "⚠" not in out, out
    assert remote_log(remote)[0] == "agenda: add 'In the other clone' for 2026-01-07 (JRG)"
    assert git(other, "status", "--porcelain") == ""


def test_a_push_the_remote_refuses_by_hook_is_not_retried_and_says_why(tmp_path, repos):
    """A non-fast-forward push is worth a pull --rebase and another try; a push a server-side
    hook declines (protected branch, policy) is refused again every time."""
    remote, human, repo = repos
    attempts = tmp_path / "attempts"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\necho x >> '{attempts}'\necho 'main is protected: open a pull request instead' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    bot = make_bot(tmp_path, repo / NOTES, PUSH + "retries = 3\n")
    out = say(bot, "agenda add Hooked")
    assert "⚠" in out and "could not be pushed" in out, out
    assert "main is protected: open a pull request instead" in out, out
    assert attempts.read_text().count("x") == 1
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Hooked' for 2026-01-07 (JRG)"  # kept locally


def test_uncommitted_changes_that_conflict_with_the_pull_never_leave_conflict_markers(tmp_path, repos):
    """An earlier edit whose commit failed (the repository was busy) is still uncommitted when
    a human pushes a change to the same lines: pull --rebase --autostash then "succeeds" with
    conflict markers in the notes file, which the next edit committed and pushed."""
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH + "pull = true\n")
    say(bot, "agenda add One")
    notes = repo / NOTES / "20260107-eco.md"
    notes.write_text(notes.read_text().replace("- [ ] JRG: One\n", "- [ ] JRG: One (not committed yet)\n"))
    git(human, "pull", "--quiet", "--rebase", "origin", "main")
    theirs = human / NOTES / "20260107-eco.md"
    theirs.write_text(theirs.read_text().replace("- [ ] JRG: One\n", "- [ ] JRG: One (edited on GitHub)\n"))
    git(human, "commit", "--quiet", "-am", "Edit on GitHub")
    git(human, "push", "--quiet", "origin", "HEAD:main")

    msg = bot.handle("agenda add Two", Sender("cli", initials="JRG"))
    out = render_plain(msg)
    assert msg.ok and "⚠" in out and "could not update the notes from origin" in out, out
    for text in (notes.read_text(), git(remote, "show", f"main:{NOTES}/20260107-eco.md")):
        assert "<<<<<<<" not in text and ">>>>>>>" not in text and "=======" not in text
    mine = notes.read_text()
    assert "- [ ] JRG: One (not committed yet)\n- [ ] JRG: Two\n" in mine  # nothing lost
    assert remote_log(remote)[0] == "Edit on GitHub"  # the conflict is not pushed over
    assert git(repo, "stash", "list") == ""  # nothing left behind in a stash either
    assert not (repo / ".git" / "rebase-merge").exists() and not (repo / ".git" / "rebase-apply").exists()


def test_git_missing_from_path_saves_the_change_and_says_so(tmp_path, repos, monkeypatch):
    """With pull = true, a machine without ``git`` on PATH (a slim container) made every edit
    fail with a traceback before the notes were touched; the change is saved and the person told."""
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH + "pull = true\n")
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(empty))
    msg = bot.handle("agenda add Without git", Sender("cli", initials="JRG"))
    out = render_plain(msg)
    assert msg.ok, out
    assert "JRG: Without git" in (repo / NOTES / "20260107-eco.md").read_text()
    assert "⚠" in out and "git program was not found" in out, out
    assert "could not update the notes from origin" in out and "could not be committed to Git" in out, out
    monkeypatch.setenv("PATH", path)
    assert git(repo, "log", "--format=%s") == "Initial commit"


def test_notes_ignored_by_gitignore_says_so(tmp_path, repos):
    """Git's answer to adding an ignored file ends in hints; the person was shown
    '(hint: "git config advice.addIgnoredFile false")' instead of the reason."""
    remote, human, repo = repos
    (repo / ".gitignore").write_text(".chatbot.lock\n*-eco.md\n")
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    out = say(bot, "agenda add Ignored")
    assert "could not be committed" in out and "gitignore" in out.lower(), out  # the reason, not a hint
    assert "hint:" not in out, out
    assert "JRG: Ignored" in (repo / NOTES / "20260107-eco.md").read_text()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown the clone")
def test_a_clone_git_refuses_to_use_is_reported_not_taken_for_plain_files(tmp_path, repos):
    """A clone owned by another user (a Docker volume, a clone made as root) is refused by
    git ("dubious ownership"): nothing was committed, the person was not told, and the log
    said the notes were "not inside a Git work tree"."""
    remote, human, repo = repos
    for path in [repo, *repo.rglob("*")]:
        os.chown(path, 12345, 12345, follow_symlinks=False)
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    out = say(bot, "agenda add Owned by someone else")
    assert "JRG: Owned by someone else" in (repo / NOTES / "20260107-eco.md").read_text()
    assert "⚠" in out and "could not be committed to Git (" in out and "ownership" in out, out


def test_cli_exits_non_zero_with_the_reason_when_git_refuses_the_push(tmp_path, repos):
    """The change is saved (and committed locally), but not published: a script or CI job
    running the command must see it failed, and why."""
    remote, human, repo = repos
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected: open a pull request instead' >&2\nexit 1\n")
    hook.chmod(0o755)
    make_bot(tmp_path, repo / NOTES, PUSH + "retries = 0\n")
    env = dict(os.environ, CHATBOT_FAKE_NOW="2026-01-05T12:00:00Z")
    cfg = str(tmp_path / "cfg" / "chatbot.toml")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "chatbot", *args, "-c", cfg], env=env, capture_output=True, text=True, timeout=60
        )

    proc = cli("agenda", "add", "--as", "JL", "Refused", "push")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Added to the agenda" in proc.stdout  # what was done is still said
    assert "error: the change was committed locally" in proc.stderr and "could not be pushed" in proc.stderr
    assert "main is protected: open a pull request instead" in proc.stderr
    assert remote_log(remote) == ["Initial commit"]
    proc = cli("notes", "create", "--date", "2026-01-14")
    assert proc.returncode == 1 and "could not be pushed" in proc.stderr, (proc.stdout, proc.stderr)
    hook.unlink()  # the remote accepts again: the next change publishes everything, exit 0
    proc = cli("agenda", "add", "--as", "JL", "Accepted")
    assert proc.returncode == 0, proc.stderr
    assert len(remote_log(remote)) == 4


# ---------------------------------------------------------------------------------------
# End to end (issue 22): the real bot process (Zulip backend, fake Zulip server) with a real
# bare remote that refuses pushes, cannot be reached, or a clone whose HEAD is detached


def _e2e_config(clone: Path, git_toml: str) -> str:
    from test_zulip import ZULIP_CONFIG

    text = ZULIP_CONFIG.replace('directory = "notes"', f'directory = "{(clone / NOTES).as_posix()}"', 1)
    infra = '[[meetings]]\nid = "infra"'
    assert infra in text
    return text.replace(infra, f"[meetings.git]\n{git_toml}\n{infra}", 1)


E2E_PUSH = PUSH + 'pull = true\npush_retry = "1s"\n'


class Chat:
    """Jaime's direct messages with the running bot."""

    def __init__(self, fake, start_bot, clone: Path, git_toml: str = E2E_PUSH):
        self.fake = fake
        self.jaime = fake.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
        self.bot = start_bot(_e2e_config(clone, git_toml), args=["-vv"])  # debug logs hold no password either

    def say(self, text: str) -> str:
        from test_zulip import wait_reply

        since = len(self.fake.sent_messages())
        self.fake.send_private(self.jaime, text)
        (answer,) = wait_reply(self.fake, 1, since=since, timeout=60)
        return answer["content"]


def wait_until(predicate, what: str, timeout: float = 30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.parametrize("retry", ["periodic", "next-change"])
def test_e2e_a_push_the_remote_refuses_is_kept_said_and_pushed_once_it_accepts(tmp_path, repos, fake, start_bot, retry):
    remote, human, repo = repos
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen until the release is out' >&2\nexit 1\n")
    hook.chmod(0o755)
    periodic = retry == "periodic"
    chat = Chat(fake, start_bot, repo, E2E_PUSH if periodic else E2E_PUSH.replace('"1s"', '"0s"'))
    out = chat.say("agenda add Frozen item")
    assert "JRG: Frozen item" in out and "Added to the agenda" in out, out
    assert "not pushed" in out or "could not be pushed" in out, out
    assert "pushes are frozen until the release is out" in out, out  # the remote's own words
    when = "(tried every 1 s and with the next change)" if periodic else "(with the next change)"
    assert f"will be pushed when that works again {when}" in out, out
    assert "- [ ] JRG: Frozen item" in (repo / NOTES / "20260107-eco.md").read_text()
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Frozen item' for 2026-01-07 (JRG)"
    assert remote_log(remote) == ["Initial commit"]
    assert git(repo, "status", "--porcelain", "--", NOTES) == ""  # committed, nothing left over

    hook.unlink()  # the remote accepts again
    if periodic:  # the pending commit goes out without another edit
        wait_until(lambda: len(remote_log(remote)) == 2, "the periodic retry pushed the pending commit")
        assert remote_log(remote)[0] == "agenda: add 'Frozen item' for 2026-01-07 (JRG)"
    else:
        assert "git-push-retry" not in chat.bot.output  # no job: only the next change pushes
        assert remote_log(remote) == ["Initial commit"]
    out = chat.say("agenda add Thawed item")
    assert "⚠" not in out, out
    assert remote_log(remote)[:2] == [
        "agenda: add 'Thawed item' for 2026-01-07 (JRG)",
        "agenda: add 'Frozen item' for 2026-01-07 (JRG)",
    ]
    assert chat.bot.stop() == 0
    assert "Traceback" not in chat.bot.output


@pytest.mark.parametrize("where", ["closed-port", "missing-path"])
def test_e2e_an_unreachable_remote_keeps_the_commit_hides_the_password_and_catches_up(
    tmp_path, repos, fake, start_bot, where
):
    remote, human, repo = repos
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = {
        "closed-port": f"https://notes-bot:s3cret-pass@127.0.0.1:{port}/governance.git",
        "missing-path": f"file://notes-bot:s3cret-pass@localhost{tmp_path}/gone/governance.git",
    }[where]
    good = git(repo, "remote", "get-url", "origin")
    git(repo, "remote", "set-url", "origin", down)
    chat = Chat(fake, start_bot, repo)
    out = chat.say("agenda add Offline item")
    assert "JRG: Offline item" in out and "Added to the agenda" in out, out
    assert "could not be pushed" in out or "not pushed" in out, out
    assert ("127.0.0.1" in out) if where == "closed-port" else ("gone/governance.git" in out), out
    assert "s3cret-pass" not in out, out
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Offline item' for 2026-01-07 (JRG)"
    out = chat.say("agenda add Second offline item")
    assert "⚠" in out and "s3cret-pass" not in out, out
    assert remote_log(remote) == ["Initial commit"]

    git(repo, "remote", "set-url", "origin", good)  # the remote is back
    wait_until(lambda: len(remote_log(remote)) == 3, "the periodic retry pushed both pending commits")
    assert remote_log(remote)[:2] == [
        "agenda: add 'Second offline item' for 2026-01-07 (JRG)",
        "agenda: add 'Offline item' for 2026-01-07 (JRG)",
    ]
    assert chat.bot.stop() == 0
    log = chat.bot.output
    assert "s3cret-pass" not in log and "Traceback" not in log
    assert "pushed" in log


def test_e2e_a_detached_head_still_commits_and_pushes_to_the_remotes_branch(tmp_path, repos, fake, start_bot):
    """A clone checked out at a commit (as deploy jobs do) has no branch: the bot commits and
    pushes to the remote's default branch, so nothing is left on a detached HEAD for a later
    `git checkout` to drop."""
    remote, human, repo = repos
    git(repo, "checkout", "--quiet", "--detach")
    chat = Chat(fake, start_bot, repo)
    out = chat.say("agenda add Detached item")
    assert "JRG: Detached item" in out and "⚠" not in out, out
    assert remote_log(remote)[0] == "agenda: add 'Detached item' for 2026-01-07 (JRG)"
    git(human, "pull", "--quiet", "origin", "main")
    assert "JRG: Detached item" in (human / NOTES / "20260107-eco.md").read_text()
    assert chat.bot.stop() == 0


def test_e2e_a_detached_head_without_a_known_branch_says_why_and_pushes_once_configured(
    tmp_path, repos, fake, start_bot
):
    """No branch configured and the remote's default branch unknown: the item is saved and
    committed, the person told why it was not pushed; once the operator sets `branch`, the
    pending commit is pushed without another edit."""
    remote, human, repo = repos
    git(repo, "checkout", "--quiet", "--detach")
    git(repo, "remote", "set-head", "origin", "--delete")
    chat = Chat(fake, start_bot, repo)
    out = chat.say("agenda add Nowhere to go")
    assert "JRG: Nowhere to go" in out and "⚠" in out, out
    assert "detached HEAD" in out and "branch" in out, out
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'Nowhere to go' for 2026-01-07 (JRG)"
    assert remote_log(remote) == ["Initial commit"]
    config = chat.bot.config
    config.write_text(
        config.read_text().replace('committer_name = "Meeting Bot"', 'branch = "main"\ncommitter_name = "Meeting Bot"')
    )
    wait_until(lambda: len(remote_log(remote)) == 2, "the pending commit pushed once the branch is configured")
    assert remote_log(remote)[0] == "agenda: add 'Nowhere to go' for 2026-01-07 (JRG)"
    assert chat.bot.stop() == 0


def test_a_detached_head_during_someones_rebase_is_committed_but_never_pushed(tmp_path, repos):
    """A rebase stopped in the clone also detaches HEAD: pushing that half-done history to the
    remote's branch would publish someone's unfinished work, so the bot only commits."""
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    say(bot, "agenda add Before the rebase")
    env = dict(os.environ, GIT_SEQUENCE_EDITOR="sed -i s/^pick/edit/", GIT_EDITOR="true")
    subprocess.run(["git", "rebase", "-i", "HEAD~1"], cwd=repo, env=env, check=True, capture_output=True)
    assert git(repo, "symbolic-ref", "-q", "HEAD", check=False) == ""  # detached, rebase under way
    out = say(bot, "agenda add During the rebase")
    assert "⚠" in out and "not pushed" in out and "rebase is under way" in out, out
    assert git(repo, "log", "-1", "--format=%s") == "agenda: add 'During the rebase' for 2026-01-07 (JRG)"
    assert remote_log(remote)[0] == "agenda: add 'Before the rebase' for 2026-01-07 (JRG)"
    git(repo, "rebase", "--continue")  # the person finishes: back on main, with the bot's commit
    out = say(bot, "agenda add After the rebase")
    assert "⚠" not in out, out
    assert remote_log(remote)[:2] == [
        "agenda: add 'After the rebase' for 2026-01-07 (JRG)",
        "agenda: add 'During the rebase' for 2026-01-07 (JRG)",
    ]


def test_commits_a_failed_push_left_behind_are_found_again_after_a_restart(tmp_path, repos):
    """The periodic retry does not rely on memory: a fresh process (a restart) compares the
    clone with its remote-tracking branch and pushes what is ahead."""
    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / NOTES, PUSH)
    good = git(repo, "remote", "get-url", "origin")
    git(repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert "could not be pushed" in say(bot, "agenda add Before the restart")
    git(repo, "remote", "set-url", "origin", good)

    restarted = make_bot(tmp_path, repo / NOTES, PUSH)
    (sync,) = restarted.hooks
    assert isinstance(sync, GitSync)
    meeting = restarted.config.meeting("eco")
    assert sync.push_pending(meeting) is True
    assert remote_log(remote)[0] == "agenda: add 'Before the restart' for 2026-01-07 (JRG)"
    assert sync.push_pending(meeting) is None  # nothing pending any more
