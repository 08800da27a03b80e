"""The `chatbot` command as a user runs it: real processes, real files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chatbot.notes.edit import agenda_items
from chatbot.notes.parse import read_notes

from conftest import BASE_CONFIG, write_config

REPO = Path(__file__).parent.parent
FAKE_NOW = "2026-01-05T12:00:00Z"


def chatbot(
    *args: str, config: Path | None = None, stdin: str | None = None, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CHATBOT_FAKE_NOW": FAKE_NOW, **(env or {})}
    full_env.pop("CHATBOT_CONFIG", None)
    cmd = [sys.executable, "-m", "chatbot", *args]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=REPO)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["next"],
        ["agenda"],
        ["agenda", "add"],
        ["agenda", "list"],
        ["agenda", "remove"],
        ["actions", "add"],
        ["notes"],
        ["notes", "create"],
        ["remind"],
        ["check-config"],
    ],
)
def test_help_everywhere(args):
    r = chatbot(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: chatbot" in r.stdout and "--config" in r.stdout


def test_check_config_ok_and_malformed(tmp_path):
    ok = chatbot("check-config", config=write_config(tmp_path))
    assert ok.returncode == 0 and "OK" in ok.stdout and "next meeting: Wed 2026-01-07 17:00 UTC" in ok.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    path = write_config(bad, BASE_CONFIG.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"', 1))
    r = chatbot("check-config", config=path)
    assert r.returncode == 2
    assert (
        r.stderr.strip() == f"error: {path}: meetings[0].slots[0].timezone: unknown time zone 'Mars/Olympus' "
        "(use an IANA name such as 'America/Los_Angeles')"
    )
    assert "Traceback" not in r.stderr


def test_check_config_lists_every_problem(tmp_path):
    path = write_config(
        tmp_path,
        BASE_CONFIG.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"', 1).replace(
            'reminders = ["24h", "15m"]', 'reminders = ["soon"]'
        ),
    )
    r = chatbot("check-config", config=path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith(f"error: {path}: meetings[0].") for ln in lines), lines
    assert "more problem" not in r.stderr


def test_check_config_explains_what_the_config_means(tmp_path):
    """Reminders and when they fire next, where they go, the notes store, Git, ping times."""
    text = (
        BASE_CONFIG
        + """
[meetings.git]
enabled = true
push = true
pull = true
"""
    )
    r = chatbot("check-config", config=write_config(tmp_path, text))  # now: Mon 2026-01-05 12:00 UTC
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "reminders: 1 d, 15 min before each meeting; next: the 1 d one at Tue 2026-01-06 17:00 UTC" in out
    assert (
        "reminders go to: the console; Slack channel C1; Zulip stream #conda, topic "
        "'Conda Ecosystem Meeting 2026-01-07'" in out
    )
    assert "owners pinged by direct message 2 d before each meeting, next at Mon 2026-01-05 17:00 UTC" in out
    assert (
        f"notes store: Markdown files in {tmp_path / 'notes'}, named %Y%m%d-eco.md "
        "(next: 20260107-eco.md, not created yet)" in out
    )
    assert "Git: pull --rebase before each edit, commit each change, push to origin, the checked-out branch" in out
    assert f"ledger of sent reminders: {tmp_path / 'state' / 'chatbot.sqlite3'}" in out


def test_config_from_environment_variable(tmp_path):
    path = write_config(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "chatbot", "check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "CHATBOT_CONFIG": str(path), "CHATBOT_FAKE_NOW": FAKE_NOW},
    )
    assert r.returncode == 0 and str(path) in r.stdout


def test_agenda_commands(tmp_path):
    cfg = write_config(tmp_path)
    r = chatbot("agenda", "add", "Release", "plans", "--as", "JRG", config=cfg)
    assert r.returncode == 0, r.stderr
    assert "Added to the agenda of Conda Ecosystem Meeting on 2026-01-07 as item 1" in r.stdout
    r = chatbot("agenda", "list", config=cfg)
    assert "1. JRG: Release plans" in r.stdout
    r = chatbot("agenda", "remove", "1", "--as", "JL", config=cfg)
    assert r.returncode == 1 and "only its owner" in r.stderr
    r = chatbot("agenda", "add", "", "--as", "JRG", config=cfg)
    assert r.returncode == 1 and "empty" in r.stderr


def test_next_lists_several(tmp_path):
    r = chatbot("next", "-n", "3", config=write_config(tmp_path))
    assert r.returncode == 0
    assert [ln.split(" — ")[1] for ln in r.stdout.splitlines() if " — " in ln] == [
        "Wed 2026-01-07 17:00 UTC",
        "Wed 2026-01-14 14:00 UTC",
        "Wed 2026-01-21 17:00 UTC",
    ]


def test_next_count_must_be_positive_and_meeting_defaults_to_all(tmp_path):
    cfg = write_config(tmp_path)
    for bad in ("0", "-2", "three"):
        r = chatbot("next", "-n", bad, config=cfg)
        assert r.returncode == 2 and "expected a whole number of 1 or more" in r.stderr, (bad, r.stderr)
        assert r.stdout == ""
    r = chatbot("next", "--help")
    assert "default: every meeting in the config" in r.stdout


def test_unknown_backend_in_environment_is_a_clear_error(tmp_path):
    r = chatbot("run", config=write_config(tmp_path), stdin="", env={"CHATBOT_BACKEND": "teams"})
    assert r.returncode == 2
    assert (
        r.stderr.strip().splitlines()[-1]
        == "error: CHATBOT_BACKEND: unknown backend 'teams'; choose one of console, slack, zulip"
    )
    assert "Traceback" not in r.stderr


def test_ics_error_names_the_output_file(tmp_path):
    out = tmp_path / "missing-dir" / "eco.ics"
    r = chatbot("ics", "--output", str(out), config=write_config(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: cannot write the calendar of eco to {out}: No such file or directory"


def test_notes_create(tmp_path):
    cfg = write_config(tmp_path)
    r = chatbot("notes", "create", config=cfg)
    assert r.returncode == 0 and r.stdout.startswith("created: ")
    assert (tmp_path / "notes" / "20260107-eco.md").is_file()
    r = chatbot("notes", "create", config=cfg)
    assert r.stdout.startswith("already exists: ")
    r = chatbot("notes", "create", "--date", "2026-01-14", config=cfg)
    assert (
        (tmp_path / "notes" / "20260114-eco.md").read_text().startswith("---\ntags: [meeting-notes]\n---\n# 2026-01-14")
    )
    r = chatbot("notes", "create", "--date", "2026-01-15", config=cfg)
    assert r.returncode == 1 and "no meeting on 2026-01-15" in r.stderr


def test_remind_dry_run(tmp_path):
    cfg = write_config(tmp_path)
    chatbot("agenda", "add", "Budget", "--as", "JL", config=cfg)
    r = chatbot("remind", "--dry-run", config=cfg)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# eco at 2026-01-07T17:00:00+00:00, posted now via console"
    # the real time left (2026-01-05 12:00 -> 2026-01-07 17:00), not the next reminder's offset
    assert lines[1] == "*Conda Ecosystem Meeting* starts in 2 d 5 h: Wed 2026-01-07 17:00 UTC"
    assert "1. JL: Budget" in r.stdout


def test_remind_says_the_minutes_left_on_meeting_day(tmp_path):
    r = chatbot("remind", config=write_config(tmp_path), env={"CHATBOT_FAKE_NOW": "2026-01-07T16:22:40Z"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[eco] *Conda Ecosystem Meeting* starts in 37 min: Wed 2026-01-07 17:00 UTC")


def test_remind_due_posts_only_what_is_due_and_not_yet_sent(tmp_path):
    """For cron: each run posts what the running bot would post now, once."""
    cfg = write_config(tmp_path)
    early = chatbot("remind", "--due", config=cfg, env={"CHATBOT_FAKE_NOW": "2026-01-06T16:50:00Z"})
    assert early.returncode == 0, early.stderr
    assert early.stdout == "" and "nothing due" in early.stderr
    runs = [
        chatbot("remind", "--due", config=cfg, env={"CHATBOT_FAKE_NOW": f"2026-01-06T17:0{m}:00Z"}) for m in (1, 4, 7)
    ]
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    posted = "".join(r.stdout for r in runs)
    assert posted.count("[eco] *Conda Ecosystem Meeting* starts in ") == 1, posted
    assert posted.startswith("[eco] *Conda Ecosystem Meeting* starts in 1 d: Wed 2026-01-07 17:00 UTC"), posted
    assert "sent 1 due message(s)" in runs[0].stderr and all("nothing due" in r.stderr for r in runs[1:])
    # the 15-minute one, later, is its own reminder; a dry run shows it without using it up
    env = {"CHATBOT_FAKE_NOW": "2026-01-07T16:52:00Z"}  # a late cron run: 8 minutes left, not 15
    dry = chatbot("remind", "--due", "--dry-run", config=cfg, env=env)
    assert dry.returncode == 0 and "starts in 8 min" in dry.stdout
    real = chatbot("remind", "--due", config=cfg, env=env)
    assert "[eco] *Conda Ecosystem Meeting* starts in 8 min" in real.stdout
    assert chatbot("remind", "--due", config=cfg, env=env).stdout == ""
    assert (tmp_path / "state" / "chatbot.sqlite3").is_file()


def test_console_run_reads_commands_and_exits_at_end_of_input(tmp_path):
    cfg = write_config(tmp_path)
    r = chatbot("run", "--as", "JRG", config=cfg, stdin="/agenda add Console item\n/agenda list\n/next\n/bogus\n")
    assert r.returncode == 0, r.stderr
    assert "as item 1: JRG: Console item" in r.stdout
    assert "1. JRG: Console item" in r.stdout
    assert "error: unknown command 'bogus'" in r.stdout
    assert "chatbot ready" in r.stderr and "chatbot stopped" in r.stderr


def test_readme_default_run_works_from_a_checkout(tmp_path):
    """The README's first command: `chatbot run` on the example config (its notes dir is redirected)."""
    text = (REPO / "config" / "chatbot.toml").read_text()
    text = text.replace('directory = "../notes"', f'directory = "{tmp_path / "notes"}"')
    text = text.replace(
        'template = "templates/conda-ecosystem.md"',
        f'template = "{REPO / "config" / "templates" / "conda-ecosystem.md"}"',
    )
    cfg = tmp_path / "chatbot.toml"
    cfg.write_text(text)
    r = chatbot("run", config=cfg, stdin="/agenda add From the README\n/agenda list\n")
    assert r.returncode == 0, r.stderr
    assert "1. ME: From the README" in r.stdout


def test_fifty_concurrent_processes_all_land_exactly_once(tmp_path):
    cfg = write_config(tmp_path)
    n = 50

    def add(i: int):
        return chatbot("agenda", "add", f"concurrent item {i:02d}", "--as", "JRG", config=cfg, timeout=120)

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(add, range(n)))
    assert [r.returncode for r in results] == [0] * n, [r.stderr for r in results if r.returncode]
    path = tmp_path / "notes" / "20260107-eco.md"
    notes = read_notes(path)
    texts = [it.text for it in agenda_items(notes, notes.section("New agenda items"))]
    assert sorted(texts) == [f"JRG: concurrent item {i:02d}" for i in range(n)]
    # the rest of the template is intact
    assert notes.text.count("## ") == 6 and notes.metadata == {"tags": ["meeting-notes"]}


@pytest.mark.parametrize(
    "args", [["agenda", "list"], ["agenda", "add", "x", "--as", "JRG"], ["next"], ["notes", "create"], ["actions"]]
)
def test_unknown_meeting_is_a_usage_error_everywhere(tmp_path, args):
    r = chatbot(*args, "--meeting", "nope", config=write_config(tmp_path))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "error: no meeting 'nope'; configured: eco" in r.stderr and "Traceback" not in r.stderr


def test_a_refused_command_is_said_once(tmp_path):
    r = chatbot("agenda", "remove", "7", "--as", "JRG", config=write_config(tmp_path))
    assert r.returncode == 1
    assert r.stderr.count("no agenda for 2026-01-07") == 1, r.stderr  # not also as a log line
    assert "WARNING" not in r.stderr


def _readme_quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start") : text.index("\n## ", text.index("## Quick start") + 1)]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_quick_start_uses_a_venv_and_ci_runs_its_test_command_word_for_word():
    """The quick start works on a Python that refuses `pip install` outside a virtual environment
    (PEP 668, Debian's): every install goes into .venv, every program is run from there; and
    .ci/run runs the README's test command exactly."""
    clone, run, test = _readme_quick_start_commands()
    assert clone.startswith("git clone ") and clone.endswith("&& cd chatbot")
    for command in (run, test):
        steps = [s.strip() for s in command.split("&&")]
        assert steps[0] == "python3 -m venv .venv"
        assert all(s.startswith(".venv/bin/") for s in steps[1:]), steps
    assert run.endswith(".venv/bin/chatbot run")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci, "`.ci/run` must run the README's test command word for word"


def test_run_serves_the_status_pages_and_keeps_its_ledger_where_the_environment_says(tmp_path):
    """As in the container: `chatbot run` itself serves /healthz and the pages with
    $CHATBOT_WEB set, and its ledger goes to $CHATBOT_STATE_DIR (not next to the config)."""
    import signal
    import socket
    import time
    import urllib.request

    cfg = write_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CHATBOT_FAKE_NOW": FAKE_NOW,
        "CHATBOT_WEB": f"127.0.0.1:{port}",
        "CHATBOT_STATE_DIR": str(tmp_path / "ledger"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "run", "--stay", "--config", str(cfg)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = (r.status, r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the status pages never came up"
                time.sleep(0.1)
        assert health == (200, b"ok\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/meetings/eco", timeout=5) as r:
            assert "Conda Ecosystem Meeting" in r.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (tmp_path / "ledger" / "chatbot.sqlite3").is_file()
    assert not (tmp_path / "state").exists()
