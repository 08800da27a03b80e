"""A notes store declares its own part of the config (a ``config.Store`` named in
``stores.STORES``): a store made up here, "memo", gets its ``[meetings.memo]`` section validated
like the core's and is picked by ``[meetings.notes] store = "memo"``, without a line in config.py.
HackMD's ``[meetings.hackmd]`` is such a declared section, with the same TOML and errors as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field, field_validator

from chatbot import cli
from chatbot.bot import Bot
from chatbot.config import Config, Meeting, Section, Store, load_config, notes_stores, schema
from chatbot.stores import STORES
from chatbot.stores.base import store_class, store_for
from chatbot.stores.files import FilesStore
from chatbot.stores.hackmd_config import HACKMD, HackMDSettings

from conftest import BASE_CONFIG, FixedClock, config_error, say, write_config

NOW = dt.datetime(2026, 1, 6, 12, 0, tzinfo=dt.UTC)  # the day before the first meeting


class MemoSettings(Section):
    title: str = "Memo"
    keep: int = Field(default=10, ge=1)

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or "\n" in value:
            raise ValueError("a memo title is one line of text")
        return value


class MemoStore(FilesStore):
    """The files store, its notes called by the memo title the meeting's config gives."""

    kind = "memo"

    def __init__(self, config: Config, meeting: Meeting):
        super().__init__(config, meeting)
        self.settings = MEMO.settings_of(meeting)

    def name(self, day: dt.date) -> str:
        return f"{self.settings.title} {day.isoformat()}"

    def url(self, day: dt.date, line: int | None = None) -> str | None:
        return None


def _check(config: Config, meeting: Meeting, start: dt.datetime) -> list[str]:
    memo = MEMO.settings_of(meeting)
    return [f"notes store: memos titled {memo.title!r}, the last {memo.keep} kept; next {start:%Y-%m-%d}"]


MEMO = Store(name="memo", store=f"{__name__}:MemoStore", settings=MemoSettings, check=_check)

MEMO_CONFIG = (
    BASE_CONFIG.replace(
        'url = "https://example.org/notes/{filename}"', 'url = "https://example.org/notes/{filename}"\nstore = "memo"'
    )
    + """
[meetings.memo]
title = "Eco memo"
keep = 3
"""
)


@pytest.fixture
def memo(monkeypatch):
    """The memo store declared as a new store is: one line in STORES."""
    monkeypatch.setitem(STORES, "memo", f"{__name__}:MEMO")


def _problems(tmp_path: Path, text: str) -> dict[str, str]:
    lines = config_error(tmp_path, text).splitlines()
    assert all(line.startswith(f"{tmp_path / 'chatbot.toml'}: ") for line in lines), lines
    return {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in lines}


def test_the_core_meeting_model_has_no_store_s_section():
    # the premise of the tests below: config.py declares no store's section, the declarations add them
    assert [s.name for s in notes_stores()] == ["files", "hackmd"]
    assert "hackmd" not in Meeting.model_fields
    assert schema().meeting.model_fields.keys() - Meeting.model_fields.keys() == {"hackmd"}
    assert schema().meeting.model_fields["hackmd"].annotation is HackMDSettings


def test_a_declared_store_s_section_is_loaded_and_the_store_picked(tmp_path, memo):
    config = load_config(write_config(tmp_path, MEMO_CONFIG))
    meeting = config.meeting("eco")
    settings = MEMO.settings_of(meeting)
    assert isinstance(settings, MemoSettings) and (settings.title, settings.keep) == ("Eco memo", 3)
    store = store_for(config, meeting)
    assert isinstance(store, MemoStore) and store.settings is settings
    # the bot edits the notes through it: the answer names the notes the memo way
    out = say(Bot(config, FixedClock(NOW)), "agenda add Memo stores")
    assert "Eco memo 2026-01-07" in out
    assert "Memo stores" in (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")
    # the other stores' sections are still there
    assert HACKMD.settings_of(meeting) == HackMDSettings()


def test_a_declared_store_s_defaults(tmp_path, memo):
    config = load_config(write_config(tmp_path))  # files store, no [meetings.memo]
    assert MEMO.settings_of(config.meeting()) == MemoSettings()
    assert type(store_for(config, config.meeting())) is FilesStore


def test_a_declared_store_s_bad_values_and_unknown_keys_are_reported_with_their_keys(tmp_path, memo):
    text = MEMO_CONFIG.replace('title = "Eco memo"', 'title = " "\ntitel = "x"').replace("keep = 3", "keep = 0")
    found = _problems(tmp_path, text)
    assert sorted(found) == ["meetings[0].memo.keep", "meetings[0].memo.titel", "meetings[0].memo.title"]
    assert "a memo title is one line of text" in found["meetings[0].memo.title"]
    assert "greater than or equal to 1" in found["meetings[0].memo.keep"]
    assert "unknown key (did you mean 'title'?" in found["meetings[0].memo.titel"]


def test_an_undeclared_store_is_unknown_and_so_is_its_section(tmp_path):
    found = _problems(tmp_path, MEMO_CONFIG)
    assert sorted(found) == ["meetings[0].memo", "meetings[0].notes.store"]
    assert found["meetings[0].notes.store"].startswith("unknown notes store 'memo'; choose one of files, hackmd")
    assert found["meetings[0].memo"].startswith("unknown key")


def test_a_store_s_settings_are_only_read_where_they_were_declared(tmp_path):
    config = load_config(write_config(tmp_path))  # loaded without the memo declaration
    with pytest.raises(TypeError, match="has no MemoSettings: its platform or store was not declared"):
        MEMO.settings_of(config.meeting())
    with pytest.raises(TypeError, match="notes store 'files' declares no settings"):
        notes_stores()[0].settings_of(config.meeting())


def test_the_hackmd_section_keeps_its_toml_and_its_errors(tmp_path):
    text = BASE_CONFIG + '\n[meetings.hackmd]\nteam = "conda"\nread_permission = "owner"\n'
    config = load_config(write_config(tmp_path, text))
    hm = HACKMD.settings_of(config.meeting())
    assert (hm.team, hm.read_permission, hm.api_url) == ("conda", "owner", "https://api.hackmd.io/v1")
    bad = BASE_CONFIG + '\n[meetings.hackmd]\ntem = "conda"\nwrite_permission = "everyone"\n'
    found = _problems(tmp_path, bad)
    assert sorted(found) == ["meetings[0].hackmd.tem", "meetings[0].hackmd.write_permission"]
    assert "unknown key (did you mean 'team'?" in found["meetings[0].hackmd.tem"]
    assert "'everyone'" in found["meetings[0].hackmd.write_permission"]


def _check_config(config: Config, capsys) -> str:
    assert cli.cmd_check_config(cli.build_parser().parse_args(["check-config"]), config) == 0
    return capsys.readouterr().out


def test_check_config_says_where_notes_live_in_the_store_s_words(tmp_path, memo, capsys):
    out = _check_config(load_config(write_config(tmp_path, MEMO_CONFIG)), capsys)
    assert re.search(r"^  notes store: memos titled 'Eco memo', the last 3 kept; next \d{4}-\d\d-\d\d$", out, re.M)


def test_check_config_of_the_hackmd_store_and_its_weekly_pull_request(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HACKMD_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "not-a-real-token")
    text = BASE_CONFIG.replace(
        'url = "https://example.org/notes/{filename}"', 'url = "https://example.org/notes/{filename}"\nstore = "hackmd"'
    )
    out = _check_config(load_config(write_config(tmp_path, text + '\n[meetings.hackmd]\nteam = "conda"\n')), capsys)
    assert "  notes store: a live HackMD note per meeting (team conda, API https://api.hackmd.io/v1)" in out
    assert "HACKMD_TOKEN NOT SET: agenda commands will fail" in out
    assert "  weekly notes PR: off ([meetings.github] repo not set" in out
    text += '\n[meetings.hackmd]\n\n[meetings.github]\nrepo = "conda/infra"\nnudge_after = "3d"\n'
    out = _check_config(load_config(write_config(tmp_path, text)), capsys)
    assert "(the token's own notes, API https://api.hackmd.io/v1)" in out
    assert re.search(r"  weekly notes PR: conda/infra, branch \d{4}-\d\d-\d\d-meeting-notes ", out)
    assert "nudge the chair 3 d after the end" in out and "GITHUB_TOKEN set" in out
    assert "not-a-real-token" not in out


# declarations that take a key someone has, or are not what the registry promises
GIT = dataclasses.replace(MEMO, name="git")
PLAIN = dataclasses.replace(MEMO, settings=dict)
NOT_A_STORE = dataclasses.replace(MEMO, store=f"{__name__}:MemoSettings")


@pytest.mark.parametrize(
    ("name", "target", "error"),
    [
        ("git", f"{__name__}:GIT", "notes store 'git' declares a [meetings] section 'git' that the core has"),
        ("memo", f"{__name__}:PLAIN", "notes store 'memo': its settings must be a config.Section model"),
        ("memo", f"{__name__}:MemoStore", f"stores.STORES['memo'] = '{__name__}:MemoStore': expected a Store named"),
        ("memo", "chatbot.stores.files:FILES", "expected a Store named 'memo'"),
    ],
)
def test_a_declaration_that_takes_a_core_key_or_is_no_store_is_refused(monkeypatch, name, target, error):
    monkeypatch.setitem(STORES, name, target)
    with pytest.raises(TypeError, match=re.escape(error)):
        schema()


def test_a_declared_store_class_must_be_a_notes_store(monkeypatch):
    monkeypatch.setitem(STORES, "memo", f"{__name__}:NOT_A_STORE")
    with pytest.raises(TypeError, match=f"notes store 'memo': {__name__}:MemoSettings is not a NotesStore"):
        store_class("memo")


def test_loading_the_config_imports_no_http_client_nor_a_store(tmp_path):
    # the declarations are read; the stores and their HTTP clients are imported when a meeting uses them
    text = BASE_CONFIG.replace(
        'url = "https://example.org/notes/{filename}"', 'url = "https://example.org/notes/{filename}"\nstore = "hackmd"'
    )
    path = write_config(tmp_path, text + '\n[meetings.hackmd]\nteam = "conda"\n')
    code = (
        "import sys\n"
        "from chatbot.config import load_config\n"
        "from chatbot.stores.hackmd_config import HACKMD\n"
        f"config = load_config({str(path)!r})\n"
        "assert HACKMD.settings_of(config.meeting()).team == 'conda'\n"
        "heavy = ('requests', 'github', 'urllib3', 'chatbot.stores.hackmd', 'chatbot.stores.hackmd_client')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
