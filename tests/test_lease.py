"""Two copies of the bot with the same config and state directory: one acts, the other waits.

End to end with real `chatbot run` processes (console backend, fixed fake clocks for the
meetings; the lease itself runs on the real clock with a short ``CHATBOT_LEASE_TTL``): only the
holder posts reminders and answers; the other says who holds the lease and takes over when the
holder is killed (kill -9), stops renewing (SIGSTOP: the lease expires) or stops cleanly (the
lease is released at once). ``chatbot remind --due`` leaves what is due to a running holder.
Then the lease's rules in-process, with a fixed clock.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatbot.lease import TTL_ENV, Lease
from chatbot.state import Ledger

from conftest import write_config
from test_reliability import REMINDER_CONFIG, bots  # noqa: F401  (the fixture)

REPO = Path(__file__).parent.parent


def _waiting_line(holder_pid: int, state: Path) -> str:
    return (
        rf"another copy of the bot \(chatbot run, pid {holder_pid} on host {re.escape(socket.gethostname())}, "
        rf"since \d{{4}}-\d\d-\d\dT[\d:]+\+00:00\) holds the lease for console in state dir {re.escape(str(state))}; "
        r"waiting to take over"
    )


def _reminders(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "Conda Ecosystem Meeting* starts in" in ln]


@pytest.mark.slow
def test_a_second_copy_waits_silently_and_takes_over_after_kill_9_without_doubling_the_reminder(
    tmp_path, bots, monkeypatch
):
    monkeypatch.setenv(TTL_ENV, "4")
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    first = bots(cfg, "2026-01-07T16:44:56Z", "--stay")  # the 15 min reminder is due in 4 s
    first.wait_for("took the lease for console", "err")
    second = bots(cfg, "2026-01-07T16:44:56Z", "--stay")
    second.wait_for(_waiting_line(first.proc.pid, tmp_path / "state"), "err")
    second.send("/agenda add raised while waiting")  # a standby neither answers nor edits
    first.send("/agenda add from the holder")
    first.wait_for("as item 1")
    first.wait_for(r"sent the 0:15:00 reminder", "err")
    notes = tmp_path / "notes" / "20260107-eco.md"
    assert "raised while waiting" not in notes.read_text(encoding="utf-8")
    assert len(_reminders(first.out)) == 1
    assert second.out == []  # neither the reminder nor an answer
    assert not [ln for ln in second.err if "chatbot ready" in ln]

    first.kill()  # kill -9: the lease stays in the ledger, never renewed again
    second.wait_for(r"the copy of the bot that held the lease \(chatbot run, pid \d+ .*\) is gone; taking over", "err")
    second.wait_for("chatbot ready", "err", timeout=60)
    second.wait_for("as item 2")  # now it acts on what it was told while waiting, once
    text = notes.read_text(encoding="utf-8")
    assert text.count("raised while waiting") == 1 and text.count("from the holder") == 1
    assert _reminders(second.out) == []  # already sent by the first copy: not again


@pytest.mark.slow
def test_a_holder_that_stops_renewing_loses_the_lease_within_its_ttl_and_then_stops_without_posting(
    tmp_path, bots, monkeypatch
):
    monkeypatch.setenv(TTL_ENV, "2")
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    first = bots(cfg, "2026-01-07T16:44:48Z", "--stay", stdin=subprocess.DEVNULL)  # due in 12 s
    first.wait_for("chatbot ready", "err")
    second = bots(cfg, "2026-01-07T16:44:48Z", "--stay", stdin=subprocess.DEVNULL)
    second.wait_for("waiting to take over", "err")
    first.proc.send_signal(signal.SIGSTOP)  # alive (same pid) but frozen: the lease must expire
    try:
        second.wait_for("took the lease for console", "err", timeout=30)
        assert not [ln for ln in second.err if "is gone" in ln]  # by expiry, not by its pid
        second.wait_for(r"sent the 0:15:00 reminder", "err", timeout=30)
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert first.proc.wait(30) == 4
    first.wait_for(
        r"lost the lease for console in state dir .* to another copy of the bot \(chatbot run, pid \d+", "err"
    )
    assert _reminders(first.out) == []
    assert len(_reminders(second.out)) == 1


@pytest.mark.slow
def test_a_clean_stop_releases_the_lease_at_once(tmp_path, bots, monkeypatch):
    # it looks every 5 s; the holder's lease would expire 15 to 20 s after its stop: a takeover
    # within 12 s is by the release (and the log shows it was not by the holder's pid being gone)
    monkeypatch.setenv(TTL_ENV, "20")
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    first = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)
    first.wait_for("chatbot ready", "err")
    second = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)
    second.wait_for("waiting to take over", "err")
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(10) == 0
    first.wait_for("released the lease for console", "err")
    second.wait_for("took the lease for console", "err", timeout=12)
    second.wait_for("chatbot ready", "err")
    assert not [ln for ln in second.err if "is gone" in ln]
    # a copy told to stop while it waits stops at once, and leaves the holder's lease alone
    third = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)
    third.wait_for(_waiting_line(second.proc.pid, tmp_path / "state"), "err")
    third.proc.send_signal(signal.SIGTERM)
    assert third.proc.wait(10) == 0
    third.wait_for("chatbot stopped", "err")
    assert not [ln for ln in third.err if "released the lease" in ln]
    assert second.proc.poll() is None
    held = Lease(Ledger(tmp_path / "state" / "chatbot.sqlite3"), "console").holder()
    assert held is not None and held.pid == second.proc.pid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthz(b) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    (line,) = b.wait_for(r"serving the status pages on http://127\.0\.0\.1:\d+/", "err")
    port = re.search(r":(\d+)/", line).group(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_a_waiting_copy_answers_healthz_as_standby_and_as_ok_once_it_took_over(tmp_path, bots, monkeypatch):
    """A health check (Docker's HEALTHCHECK) must not see the second copy as broken: it says
    who holds the lease, with 200; the holder says ok."""
    monkeypatch.setenv(TTL_ENV, "20")
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    monkeypatch.setenv("CHATBOT_WEB", f"127.0.0.1:{_free_port()}")  # each copy its own port
    first = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)
    first.wait_for("chatbot ready", "err")
    monkeypatch.setenv("CHATBOT_WEB", f"127.0.0.1:{_free_port()}")
    second = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)
    second.wait_for(_waiting_line(first.proc.pid, tmp_path / "state"), "err")
    assert _healthz(first) == (200, "ok\n")
    status, body = _healthz(second)
    assert status == 200 and body.startswith(f"standby: another copy of the bot (chatbot run, pid {first.proc.pid}")
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(10) == 0
    second.wait_for("chatbot ready", "err", timeout=15)
    assert _healthz(second) == (200, "ok\n")
    assert len(second.wait_for("serving the status pages", "err")) == 1  # served all along, started once


def _chatbot(cfg: Path, *args: str, now: str | None = None) -> subprocess.CompletedProcess:
    """``chatbot ARGS --config CFG`` in a fresh process (on a fake clock when ``now``)."""
    env = {**os.environ, "CHATBOT_FAKE_NOW": now} if now else dict(os.environ)
    env.pop("CHATBOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def _remind_due(cfg: Path, now: str) -> subprocess.CompletedProcess:
    return _chatbot(cfg, "remind", "--due", now=now)


@pytest.mark.slow
def test_remind_due_leaves_what_is_due_to_a_running_bot_that_holds_the_lease(tmp_path, bots):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    running = bots(cfg, "2026-01-07T12:00:00Z", "--stay", stdin=subprocess.DEVNULL)  # nothing due for it
    running.wait_for("chatbot ready", "err")
    skipped = _remind_due(cfg, "2026-01-07T16:45:10Z")
    assert skipped.returncode == 0, skipped.stderr
    assert re.search(
        rf"nothing sent: another copy of the bot \(chatbot run, pid {running.proc.pid} on host .*\) holds the lease "
        r"for console in state dir .* and sends what is due",
        skipped.stderr,
    )
    assert "starts in" not in skipped.stdout
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(10) == 0
    sent = _remind_due(cfg, "2026-01-07T16:45:10Z")
    assert sent.returncode == 0, sent.stderr
    assert len(re.findall(r"Conda Ecosystem Meeting\* starts in 1[45] min", sent.stdout)) == 1
    again = _remind_due(cfg, "2026-01-07T16:45:20Z")  # released after the run; sent once
    assert again.returncode == 0 and "starts in" not in again.stdout, again.stderr


# ---------------------------------------------------------------------------------------
# the lease's rules, with a fixed clock


class _Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pair(tmp_path: Path, ttl: float = 40.0):
    clock = _Clock()
    a = Lease(Ledger(tmp_path / "l.sqlite3"), "slack", ttl=ttl, clock=clock)
    b = Lease(Ledger(tmp_path / "l.sqlite3"), "slack", ttl=ttl, clock=clock)
    b.node = "another-machine/pid:[1]"  # its holder's pid cannot be checked from there
    return clock, a, b


def test_the_lease_is_held_until_it_expires_then_taken_over(tmp_path):
    clock, a, b = _pair(tmp_path)
    assert a.try_take() is None and a.holds()
    other = b.try_take()
    assert other is not None and other.token == a.token and other.pid == os.getpid()
    clock.now += 39
    assert a.renew()  # renewed: 40 s more from now
    clock.now += 39
    assert b.try_take() is not None
    clock.now += 2  # 41 s after the last renewal
    assert b.try_take() is None and b.holds()
    assert not a.holds()  # it sends nothing more
    assert not a.renew()  # and learns it lost it
    assert a.try_take() is not None  # and cannot take it back while b renews


def test_a_holder_whose_renewal_came_late_keeps_the_lease_if_nobody_took_it(tmp_path):
    clock, a, b = _pair(tmp_path)
    assert a.try_take() is None
    clock.now += 45  # expired: no renewal for 45 s (a busy machine), no other copy looked yet
    assert a.holds()  # renewed on the spot
    assert b.try_take() is not None


def test_a_released_lease_is_free_at_once_and_leases_are_per_platform(tmp_path):
    clock, a, b = _pair(tmp_path)
    zulip = Lease(Ledger(tmp_path / "l.sqlite3"), "zulip", clock=clock)
    assert a.try_take() is None
    assert zulip.try_take() is None  # a Zulip process may share the state directory
    a.release()
    assert b.try_take() is None and b.holds()


def test_a_holder_whose_process_is_gone_on_this_machine_is_taken_over_before_expiry(tmp_path):
    clock = _Clock()
    ledger = Ledger(tmp_path / "l.sqlite3")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = Lease(ledger, "console", clock=clock)
    gone.pid = int(dead.stdout)  # a process that ran here and exited
    assert gone.try_take() is None
    me = Lease(ledger, "console", clock=clock)
    assert me.try_take() is None and me.holds()
    elsewhere = Lease(ledger, "console", clock=clock)
    elsewhere.node = "another-machine/pid:[1]"
    assert elsewhere.try_take() is not None  # alive or not, it cannot tell: it waits for expiry


def test_a_bad_ttl_is_a_clear_error(monkeypatch):
    from chatbot.config import ConfigError
    from chatbot.lease import lease_ttl

    monkeypatch.setenv(TTL_ENV, "soon")
    with pytest.raises(ConfigError, match="CHATBOT_LEASE_TTL: not a number of seconds: 'soon'"):
        lease_ttl()
    monkeypatch.setenv(TTL_ENV, "0")
    with pytest.raises(ConfigError, match="between 0.2 and 3600"):
        lease_ttl()


@pytest.mark.slow
def test_two_slack_copies_one_connects_and_posts_the_other_takes_over_after_kill_9(tmp_path):
    """Slack: the waiting copy opens no Socket Mode connection (Slack would hand it half of the
    commands) and makes no Web API call; after kill -9 of the holder it connects, and the
    reminder the first copy sent is not sent again."""
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, REMINDER_NOW, BotProcess, _config, _env

    with FakeSlack(BOT_TOKEN, APP_TOKEN, channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"}) as fake:
        config = _config(tmp_path, api_url=fake.api_url)
        env = _env(CHATBOT_FAKE_NOW=REMINDER_NOW, CHATBOT_LEASE_TTL="4")
        for d in ("a", "b"):
            (tmp_path / d).mkdir()
        first = BotProcess(tmp_path / "a", config, env)
        second = None
        try:
            first.wait_log(r"took the lease for slack", timeout=30)
            fake.wait_connected(1, timeout=30)
            auth = len(fake.calls("auth.test"))  # the first copy's
            second = BotProcess(tmp_path / "b", config, env)
            second.wait_log(
                rf"another copy of the bot \(chatbot run, pid {first.proc.pid} on host .*\) holds the lease for slack "
                rf"in state dir {re.escape(str(tmp_path / 'state'))}; waiting to take over",
                timeout=30,
            )
            first.wait_log(r"sent the 0:15:00 reminder", timeout=30)
            assert fake.ws_connections == 1
            assert len(fake.calls("auth.test")) == auth  # the waiting copy asked Slack nothing
            first.proc.kill()
            assert first.proc.wait(10) == -signal.SIGKILL
            second.wait_log(r"is gone; taking over", timeout=30)
            second.wait_log(r"Slack: connected in Socket Mode", timeout=30)
            assert fake.ws_connections == 2
            assert len(fake.messages("C0CONDAECO")) == 1  # not doubled
            assert len(fake.calls("auth.test")) == 2 * auth  # the second copy, once it took over
        finally:
            first.stop()
            if second is not None:
                second.stop()


def test_a_killed_holder_not_yet_reaped_counts_as_gone():
    from chatbot.lease import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while pid_alive(child.pid):  # a zombie until reaped below
            assert time.monotonic() < deadline, "the killed child still counts as alive"
            time.sleep(0.02)
        assert child.poll() is None or child.returncode == -signal.SIGKILL
    finally:
        child.kill()
        child.wait(10)
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())


@pytest.mark.slow
def test_two_zulip_copies_sharing_a_state_dir_post_the_reminder_once(tmp_path):
    """Zulip: the waiting copy registers no event queue and sends nothing; after kill -9 of the
    holder it takes over (listens for commands) and does not send the reminder again."""
    from fakes.zulip import FakeZulip
    from test_doubles import _wait_output
    from test_zulip import BEFORE_REMINDER, ZULIP_CONFIG, BotProcess as ZulipBot

    fake = FakeZulip(poll_timeout=0.5).start()
    state = tmp_path / "state"
    env = {
        "ZULIP_SITE": fake.site,
        "ZULIP_EMAIL": fake.bot.email,
        "ZULIP_API_KEY": fake.bot.api_key,
        "CHATBOT_STATE_DIR": str(state),
        TTL_ENV: "4",
    }
    procs = []
    try:
        for d in ("a", "b"):
            (tmp_path / d).mkdir()
        first = ZulipBot(fake, tmp_path / "a", ZULIP_CONFIG, BEFORE_REMINDER, env, [])
        procs.append(first)
        _wait_output(first, r"took the lease for zulip")
        first.wait_ready()
        second = ZulipBot(fake, tmp_path / "b", ZULIP_CONFIG, BEFORE_REMINDER, env, [])
        procs.append(second)
        _wait_output(
            second,
            rf"another copy of the bot \(chatbot run, pid {first.proc.pid} on host .*\) holds the lease for zulip in "
            rf"state dir {re.escape(str(state))}; waiting to take over",
        )
        _wait_output(first, r"sent the 0:15:00 reminder")
        registered = len(fake.requests_to("POST", "register"))
        assert registered == 1  # the first copy's event queue; the waiting copy made none
        assert len(fake.sent_messages()) == 1
        first.proc.kill()
        assert first.proc.wait(10) == -signal.SIGKILL
        _wait_output(second, r"is gone; taking over")
        _wait_output(second, r"chatbot ready")
        fake.wait_for(lambda: len(fake.requests_to("POST", "register")) > registered, 30)  # it listens only now
        assert len(fake.sent_messages()) == 1  # the reminder was not sent again
    finally:
        for p in procs:
            p.stop()
        fake.stop()


def test_check_config_says_which_copy_holds_each_lease(tmp_path):
    cfg = write_config(tmp_path, REMINDER_CONFIG)

    def check() -> str:
        out = _chatbot(cfg, "check-config")
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "lease" not in check()  # no ledger yet, and checking made none
    assert not (tmp_path / "state" / "chatbot.sqlite3").exists()
    lease = Lease(Ledger(tmp_path / "state" / "chatbot.sqlite3"), "slack", "chatbot run")
    assert lease.try_take() is None
    line = re.search(r"- lease for slack: (.*)", check())
    assert line is not None
    assert f"chatbot run, pid {os.getpid()} on host {socket.gethostname()}" in line.group(1)
    assert re.search(r"\(held for \d+ s more\)$", line.group(1))
    lease.release()
    assert "lease for slack" not in check()


def test_check_config_leaves_a_damaged_ledger_where_it_is(tmp_path):
    """check-config only reads: a damaged ledger is reported, not moved aside (a running bot may
    hold it; recovering is chatbot run's job)."""
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    ledger.parent.mkdir()
    ledger.write_bytes(b"this is not an SQLite database" * 100)
    out = _chatbot(cfg, "check-config")
    assert out.returncode == 0, out.stderr
    assert re.search(r"- leases: the ledger .*chatbot\.sqlite3 cannot be read", out.stdout), out.stdout
    assert ledger.read_bytes() == b"this is not an SQLite database" * 100
    assert sorted(p.name for p in ledger.parent.iterdir()) == ["chatbot.sqlite3"]


def test_check_config_on_a_ledger_from_before_leases_says_nothing_of_them(tmp_path):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    ledger.parent.mkdir()
    db = sqlite3.connect(ledger)
    db.execute("CREATE TABLE sent (key TEXT PRIMARY KEY)")
    db.close()
    out = _chatbot(cfg, "check-config")
    assert out.returncode == 0, out.stderr
    assert "lease" not in out.stdout
