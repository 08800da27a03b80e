"""Faults and hostile input from outside (issue 16: items 3, 10, 11, 12 and 14): a template
that reaches for secrets or code, a notes path that is a FIFO, a hand save that lands while
the bot writes, a config value that overflows, and bytes on the console that are not text or
that would drive the terminal. Temporary directories and real processes; every wait bounded."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatbot.bot import Bot, Sender
from chatbot.config import ConfigError, load_config, parse_duration
from chatbot.notes import edit
from chatbot.notes.edit import EditError, add_item, atomic_write
from chatbot.notes.parse import NotesError, read_notes
from chatbot.runner import ConfigWatcher
from chatbot.schedule import occurrences

from conftest import BASE_CONFIG, SHARED, FixedClock, write_config

REPO = Path(__file__).parent.parent
UTC = dt.UTC
QUIET = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
FAKE_NOW = "2026-01-05T12:00:00Z"
NOTES = "20260107-eco.md"


def run_chatbot(
    *args: str, stdin: bytes | None = None, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CHATBOT_FAKE_NOW": FAKE_NOW, **(env or {})}
    full_env.pop("CHATBOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=full_env,
        cwd=REPO,
    )


# ---------------------------------------------------------------------------------------
# 12. A duration too large for the calendar


@pytest.mark.parametrize(
    "value", ["100000000000000000d", "999999999d", "99999999999w", "9999999999999999999999m", "365001d"]
)
def test_an_overflowing_duration_is_a_one_line_config_error(tmp_path, value):
    with pytest.raises(ValueError, match="too long"):
        parse_duration(value)
    cfg = write_config(tmp_path, BASE_CONFIG.replace('reminders = ["24h", "15m"]', f'reminders = ["{value}"]'))
    with pytest.raises(ConfigError, match=r"meetings\[0\]\.reminders\[0\]: .*too long"):
        load_config(cfg)
    r = run_chatbot("check-config", "--config", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "reminders[0]" in err


def test_the_longest_accepted_duration_still_schedules(tmp_path):
    cfg = load_config(
        write_config(tmp_path, BASE_CONFIG.replace('reminders = ["24h", "15m"]', 'reminders = ["52000w"]'))
    )
    assert cfg.meeting().reminders == [dt.timedelta(weeks=52000)]
    occ = next(iter(occurrences(cfg.meeting(), QUIET, limit=1)))
    assert occ.start - cfg.meeting().reminders[0] < occ.start


class _BrokenReminders:
    """Stands in for the scheduler whose rescheduling fails unexpectedly once."""

    def __init__(self):
        self.calls = 0

    def reschedule(self):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("scheduler exploded")


def test_the_config_watcher_survives_any_error(tmp_path):
    cfg = write_config(tmp_path)
    bot = Bot(load_config(cfg), FixedClock(QUIET))
    rem = _BrokenReminders()
    watcher = ConfigWatcher(bot, rem, poll=0.05)
    thread = threading.Thread(target=watcher.loop, daemon=True)
    thread.start()
    try:
        watcher.wake.set()  # the first reload fails inside reschedule()
        deadline = time.monotonic() + 10
        while rem.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        assert thread.is_alive()
        cfg.write_text(cfg.read_text().replace("Conda Ecosystem Meeting", "Renamed Meeting"))
        watcher.wake.set()
        while bot.config.meeting().name != "Renamed Meeting" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bot.config.meeting().name == "Renamed Meeting" and rem.calls == 2
    finally:
        watcher.stop.set()
        watcher.wake.set()
        thread.join(5)


@pytest.mark.slow
def test_sighup_with_an_overflowing_value_keeps_reloading(tmp_path):
    cfg = write_config(tmp_path)
    env = {**os.environ, "CHATBOT_FAKE_NOW": FAKE_NOW}
    env.pop("CHATBOT_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "run", "--stay", "--config", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sum(text in ln for ln in list(lines)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in {lines[-10:]}")

    try:
        wait_for("chatbot ready")
        good = cfg.read_text()
        cfg.write_text(good.replace('reminders = ["24h", "15m"]', 'reminders = ["100000000000000000d"]'))
        proc.send_signal(signal.SIGHUP)
        wait_for("config not reloaded")
        cfg.write_text(good.replace("Conda Ecosystem Meeting", "Renamed Meeting"))
        proc.send_signal(signal.SIGHUP)
        wait_for("config reloaded from")
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(10)
    assert not any("Traceback" in ln for ln in lines)


# ---------------------------------------------------------------------------------------
# 10. A notes path that is not a regular file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_notes_file_is_refused_without_blocking(tmp_path):
    cfg = load_config(write_config(tmp_path))
    bot = Bot(cfg, FixedClock(QUIET))
    (tmp_path / "notes").mkdir()
    fifo = tmp_path / "notes" / NOTES
    os.mkfifo(fifo)
    results: dict[str, object] = {}

    def attempt(name, fn):
        results[name] = fn()

    from chatbot import web

    jobs = {
        "add": lambda: bot.handle("agenda add Blocked?", Sender("console", initials="JRG")),
        "list": lambda: bot.handle("agenda list", Sender("console", initials="JRG")),
        "page": lambda: web.render_meeting_page(bot, cfg.meeting()),
    }
    threads = [threading.Thread(target=attempt, args=(n, f), daemon=True) for n, f in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    hung = [n for n, t in zip(jobs, threads, strict=True) if t.is_alive()]
    if hung:  # unblock them (a writer opens and closes the FIFO) before failing
        for _ in hung:
            with open(fifo, "wb"):
                pass
        pytest.fail(f"blocked on a FIFO: {hung}")
    for name in ("add", "list"):
        msg = results[name]
        assert not msg.ok and "not a regular file" in "\n".join(str(s) for ln in msg.lines for s in ln), name
    assert "not a regular file" in results["page"]
    with pytest.raises(NotesError, match="not a regular file"):
        read_notes(fifo)
    # the lock is free again at once: another edit does not wait for it
    from filelock import FileLock

    lock = FileLock(str(tmp_path / "notes" / edit.LOCK_NAME), timeout=0.5)
    lock.acquire()
    lock.release()


# ---------------------------------------------------------------------------------------
# 11. A hand save in the middle of the bot's write


TEXT = "# Notes\n\n## New agenda items\n\n- [ ] A: first\n"


def _editor_save(path: Path, text: str) -> None:
    """How editors save: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".editor~")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _can_swap(tmp_path: Path) -> bool:
    a, b = tmp_path / ".probe-a", tmp_path / ".probe-b"
    a.write_text("a")
    b.write_text("b")
    try:
        return edit._exchange(a, b) and a.read_text() == "b"
    finally:
        a.unlink()
        b.unlink()


@pytest.fixture
def swapping(tmp_path):
    if not _can_swap(tmp_path):
        pytest.skip("this system cannot swap two file names atomically (renameat2 RENAME_EXCHANGE)")


def test_a_hand_save_inside_the_write_window_is_kept(tmp_path, swapping):
    path = tmp_path / "notes.md"
    path.write_text(TEXT, encoding="utf-8")
    human = TEXT + "- [ ] B: saved by hand while the bot wrote\n"
    saves = []

    def save_once(target: Path) -> None:
        if not saves:  # the person's save lands after the check, right before the rename
            saves.append(target)
            _editor_save(target, human)

    edit.WRITE_WINDOW_HOOK = save_once
    try:
        result = add_item(path, "New agenda items", "- [ ] C: added by the bot")
    finally:
        edit.WRITE_WINDOW_HOOK = None
    assert saves, "the hook never ran"
    text = path.read_text(encoding="utf-8")
    assert "B: saved by hand while the bot wrote" in text  # the person's save survived
    assert "C: added by the bot" in text and text.count("C: added by the bot") == 1
    assert result.number == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_hand_save_racing_a_slowed_write_is_kept(tmp_path, swapping):
    """An injected delay in the window, and a real concurrent save from another thread."""
    path = tmp_path / "notes.md"
    path.write_text(TEXT, encoding="utf-8")
    in_window = threading.Event()
    saved = threading.Event()

    def slow(target: Path) -> None:
        if not in_window.is_set():
            in_window.set()
            saved.wait(5)

    def person():
        in_window.wait(5)
        _editor_save(path, TEXT + "- [ ] B: concurrent save\n")
        saved.set()

    t = threading.Thread(target=person, daemon=True)
    t.start()
    edit.WRITE_WINDOW_HOOK = slow
    try:
        add_item(path, "New agenda items", "- [ ] C: bot")
    finally:
        edit.WRITE_WINDOW_HOOK = None
    t.join(5)
    text = path.read_text(encoding="utf-8")
    assert "B: concurrent save" in text and "C: bot" in text


def test_atomic_write_without_a_hand_save_replaces_the_file(tmp_path):
    path = tmp_path / "n.md"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    atomic_write(path, "new\n", expect="old\n")
    assert path.read_text() == "new\n" and (os.stat(path).st_mode & 0o777) == 0o640
    with pytest.raises(edit.ChangedUnderneath):
        atomic_write(path, "newer\n", expect="old\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.md"]


# ---------------------------------------------------------------------------------------
# 3. Templates: sandboxed, and only an allow-listed environment


def _render(tmp_path: Path, template: str, env: dict | None = None, extra: str = "") -> str:
    cfg = load_config(write_config(tmp_path, BASE_CONFIG + extra, template=template))
    bot = Bot(cfg, FixedClock(QUIET))
    occ = next(iter(occurrences(cfg.meeting(), QUIET, limit=1)))
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return bot.files(cfg.meeting()).render(occ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_template_cannot_read_secrets_from_the_environment(tmp_path):
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-1-SECRETTOKEN",
        "HACKMD_TOKEN": "hackmd-SECRET",
        "GITHUB_TOKEN": "ghp_SECRET",
        "ZULIP_API_KEY": "zulipSECRET",
    }
    tpl = (
        "{% for k, v in env.items() %}{{ k }}={{ v }}\n{% endfor %}"
        "[{{ env.SLACK_BOT_TOKEN | default('none') }}]\n## New agenda items\n"
    )
    out = _render(tmp_path, tpl, secrets)
    assert "SECRET" not in out and "[none]" in out
    # allow-listing a secret's name is refused by the config itself
    cfg = write_config(tmp_path, BASE_CONFIG + '\n[templates]\nenv = ["SLACK_BOT_TOKEN"]\n', template=tpl)
    with pytest.raises(ConfigError, match=r"templates\.env.*secret"):
        load_config(cfg)


def test_allow_listed_environment_variables_are_visible(tmp_path):
    out = _render(
        tmp_path,
        "{{ env.MEETING_ROOM }}|{{ env.get('HOME', 'x') }}\n## New agenda items\n",
        {"MEETING_ROOM": "Room 4", "HOME": "/home/someone"},
        extra='\n[templates]\nenv = ["MEETING_ROOM"]\n',
    )
    assert out.startswith("Room 4|x\n")


@pytest.mark.parametrize(
    "tpl",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('echo PWNED').read() }}",
        "{{ meeting.__class__.__init__.__globals__ }}",
        "{{ date.__class__.__subclasses__() }}",
        "{{ 'x' * 1000000000 }}",
        "{{ [1, 2] * 999999999 }}",
        "{{ 2 ** 1000000000 }}",
        "{{ ((2 ** 100) ** 100) ** 100 }}",
        "{% for i in range(10 ** 9) %}{% endfor %}",
    ],
)
def test_template_code_cannot_escape_the_sandbox(tmp_path, tpl):
    with pytest.raises(EditError, match="could not be rendered"):
        _render(tmp_path, tpl + "\n## New agenda items\n")


@pytest.mark.skipif(not (SHARED / "agenda_template.md").is_file(), reason="shared fixtures not present")
def test_the_conda_template_renders_as_before(tmp_path):
    tpl = (SHARED / "agenda_template.md").read_text(encoding="utf-8")
    assert _render(tmp_path, tpl) == tpl.replace('{{ date.strftime("%Y-%m-%d") }}', "2026-01-07")


# ---------------------------------------------------------------------------------------
# 14. The console: bytes that are not text, and notes that would drive the terminal


def test_an_invalid_utf8_byte_on_stdin_does_not_stop_the_console(tmp_path):
    cfg = write_config(tmp_path)
    # standard input decoded strictly, as Python does under a UTF-8 locale such as en_US.UTF-8
    r = run_chatbot(
        "run",
        "--as",
        "JRG",
        "--config",
        str(cfg),
        stdin=b"/agenda add caf\xe9 latte\n/agenda add Second item\n/agenda list\n",
        env={"PYTHONIOENCODING": "utf-8:strict"},
    )
    assert "Traceback" not in r.stderr.decode()
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, r.stderr.decode()
    assert "Second item" in out and "caf\ufffd latte" in out
    notes = (tmp_path / "notes" / NOTES).read_text(encoding="utf-8")
    assert "JRG: caf\ufffd latte" in notes and "JRG: Second item" in notes


EVIL = "- [ ] JL: look \x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m \x9b1;1H done \u202egnp.exe\n"


def test_control_sequences_in_notes_never_reach_the_terminal(tmp_path):
    cfg = write_config(tmp_path)
    (tmp_path / "notes").mkdir()
    path = tmp_path / "notes" / NOTES
    r = run_chatbot("agenda", "add", "First", "--as", "JRG", "--config", str(cfg))
    assert r.returncode == 0, r.stderr.decode()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("- [ ] JRG: First\n", "- [ ] JRG: First\n" + EVIL), encoding="utf-8")
    for args, stdin in (
        (("agenda", "list", "--config", str(cfg)), None),
        (("run", "--as", "JRG", "--config", str(cfg)), b"/agenda list\n"),
    ):
        r = run_chatbot(*args, stdin=stdin)
        out = r.stdout.decode("utf-8")
        assert r.returncode == 0, r.stderr.decode()
        assert "look" in out and "red" in out and "done" in out
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in out, (args, bad)


def test_for_terminal_leaves_no_control_character_but_newline_and_tab():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from chatbot.terminal import for_terminal

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(max_codepoint=0x2070)))
    def check(text):
        out = for_terminal(text)
        assert not [
            c
            for c in out
            if (ord(c) < 32 and c not in "\n\t")
            or 0x7F <= ord(c) <= 0x9F
            or 0x202A <= ord(c) <= 0x202E
            or 0x2066 <= ord(c) <= 0x2069
        ]

    check()
    assert for_terminal("a\x1b[31mred\x1b[0m b\x1b]0;title\x07c\n\td") == "ared bc\n\td"
