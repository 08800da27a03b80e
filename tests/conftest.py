"""Shared test helpers: a config builder and fixture paths."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest

from chatbot.config import ConfigError, load_config

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
NOTES_FIXTURES = sorted((FIXTURES / "notes").glob("*.md"))
SHARED = HERE.parent.parent / "shared" / "fixtures" / "conda-governance"
SHARED_NOTES = sorted((SHARED / "archive").glob("*.md")) if SHARED.is_dir() else []
UTC = dt.UTC

BASE_CONFIG = """
[bot]
default_meeting = "eco"

[[meetings]]
id = "eco"
name = "Conda Ecosystem Meeting"
call_link = "https://zoom.example/j/1"
timezones = ["UTC", "America/Los_Angeles", "Asia/Tokyo"]
reminders = ["24h", "15m"]

[[meetings.slots]]
rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
start = 2026-01-07
time = 17:00:00
timezone = "UTC"

[[meetings.slots]]
rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
start = 2026-01-14
time = 14:00:00
timezone = "UTC"

[meetings.notes]
directory = "notes"
filename = "%Y%m%d-eco.md"
template = "template.md"
url = "https://example.org/notes/{filename}"

[meetings.destinations]
slack_channel = "C1"
zulip_stream = "conda"

[[people]]
initials = "JRG"
name = "Jaime Rodríguez-Guerra"
github = "jaimergp"
slack_id = "U1"
zulip_email = "jaime@example.org"

[[people]]
initials = "JL"
name = "Jannis Leidel"
github = "jezdez"
slack_id = "U2"

[[people]]
initials = "ADM"
name = "An Admin"
slack_id = "U9"
admin = true
"""


def write_config(tmp_path: Path, text: str = BASE_CONFIG, template: str | None = None) -> Path:
    tpl = template if template is not None else (FIXTURES / "agenda_template.md").read_text(encoding="utf-8")
    (tmp_path / "template.md").write_text(tpl, encoding="utf-8")
    path = tmp_path / "chatbot.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    """What loading the config ``text`` says is wrong with it (it must fail)."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, text))
    return str(info.value)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def config(config_path: Path):
    return load_config(config_path)


class FixedClock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def copy_fixture(src: Path, dst_dir: Path) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    return dst


def say(bot, text: str, who: str = "JRG") -> str:
    """What the bot answers ``who`` (typed initials) for ``text``, which must succeed."""
    from chatbot.bot import Sender
    from chatbot.messages import render_plain

    msg = bot.handle(text, Sender("cli", initials=who))
    out = render_plain(msg)
    assert msg.ok, out
    return out
