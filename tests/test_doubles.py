"""Issue 16, "nothing doubled, nothing lost": redeliveries act once, a reminder is posted once
across kill -9, owners are not pinged twice, a damaged ledger does not stop reminders, a
person's merge conflict is never edited, and revoked credentials are named and reported.

Faults are injected on loopback against the fake Slack and Zulip servers (tests/fakes/) and in
temporary directories; where the item is about a process, the real bot process is started.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from chatbot.bot import Bot
from chatbot.config import load_config
from chatbot.state import Ledger

from conftest import BASE_CONFIG, FixedClock, write_config
from test_reliability import REMINDER_CONFIG, Bot_, bots  # noqa: F401 (a fixture)

UTC = dt.timezone.utc


# ---------------------------------------------------------------------------------------
# 8. A damaged ledger


def _damage_pages(path: Path) -> None:
    """Overwrite the start of every page after the first (the header stays: SQLite opens it)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(page, len(data), page):
        data[off:off + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def _full_ledger(path: Path, rows: int = 3000) -> None:
    ledger = Ledger(path)
    for i in range(rows):
        ledger.mark_sent(f"reminder:console:other:{i}:900:")
    ledger.close()  # the last close checkpoints the WAL into the file
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


@pytest.mark.parametrize("damage", ["pages", "not-a-database"])
def test_a_damaged_ledger_is_moved_aside_loudly_and_the_reminder_still_goes_out(tmp_path, bots, damage):
    cfg = write_config(tmp_path, REMINDER_CONFIG)
    ledger = tmp_path / "state" / "chatbot.sqlite3"
    ledger.parent.mkdir()
    if damage == "pages":
        _full_ledger(ledger)
        _damage_pages(ledger)
    else:
        ledger.write_bytes(b"this is not a database, it is a note someone saved here\n" * 200)
    b = bots(cfg, "2026-01-07T16:44:58Z", "--stay", stdin=subprocess.DEVNULL)
    b.wait_for(r"\[eco\] \*Conda Ecosystem Meeting\* starts in 15 min", timeout=30)
    errors = b.wait_for(r"ERROR chatbot\.state: the ledger .*chatbot\.sqlite3 is damaged", "err")
    assert "moved it aside to chatbot.sqlite3.damaged-" in errors[0]
    aside = list(ledger.parent.glob("chatbot.sqlite3.damaged-*"))
    assert len([p for p in aside if not p.name.endswith(("-wal", "-shm"))]) == 1
    # the fresh ledger recorded the reminder: a restart does not post it again
    b.wait_for(r"sent the 0:15:00 reminder", "err")
    b.kill()
    assert Ledger(ledger).was_sent("reminder:console:eco:2026-01-07T17:00:00+00:00:900:")


def test_damage_found_while_running_is_recovered_from(tmp_path, caplog):
    path = tmp_path / "chatbot.sqlite3"
    ledger = Ledger(path)
    for i in range(3000):
        ledger.mark_sent(f"k{i}")
    ledger._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage_pages(path)
    other = sqlite3.connect(path)  # another process touches the file: the open connection re-reads it
    other.execute("PRAGMA user_version = 1")
    other.close()
    with caplog.at_level(logging.ERROR, logger="chatbot.state"):
        assert ledger.was_sent("k2999") is False  # a fresh ledger, not an exception
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    ledger.mark_sent("after")
    assert ledger.was_sent("after") and len(ledger.recovered) == 1
    ledger.close()


def test_a_healthy_ledger_is_kept(tmp_path):
    path = tmp_path / "chatbot.sqlite3"
    _full_ledger(path, rows=10)
    ledger = Ledger(path)
    assert ledger.recovered == [] and ledger.was_sent("reminder:console:other:9:900:")
    ledger.close()
