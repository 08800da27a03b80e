"""Config loading: the example validates; every malformed config names file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatbot.config import ConfigError, load_config

from conftest import BASE_CONFIG, write_config

REPO = Path(__file__).parent.parent


def test_example_config_is_valid():
    cfg = load_config(REPO / "config" / "chatbot.toml")
    m = cfg.meeting()
    assert m.id == "conda-ecosystem" and len(m.slots) == 2
    assert cfg.resolve(m.notes.template).is_file()


@pytest.mark.parametrize(
    "old,new,key,problem",
    [
        (
            'timezone = "UTC"\n\n[[meetings.slots]]',
            'timezone = "Europe/Berln"\n\n[[meetings.slots]]',
            "meetings[0].slots[0].timezone",
            "unknown time zone 'Europe/Berln'",
        ),
        (
            'rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"\nstart = 2026-01-07',
            'rrule = "FREQ=SOMETIMES"\nstart = 2026-01-07',
            "meetings[0].slots[0].rrule",
            "not a valid RFC 5545 RRULE",
        ),
        ('reminders = ["24h", "15m"]', 'reminders = ["soon"]', "meetings[0].reminders[0]", "expected a duration"),
        ('reminders = ["24h", "15m"]', 'reminders = ["0m"]', "meetings[0].reminders", "positive"),
        ('filename = "%Y%m%d-eco.md"', 'filename = "eco.md"', "meetings[0].notes.filename", "must contain the date"),
        ('filename = "%Y%m%d-eco.md"', 'filename = "../%Y%m%d.md"', "meetings[0].notes.filename", "no directories"),
        ('call_link = "https://zoom.example/j/1"', 'call_lnk = "x"', "meetings[0].call_lnk", "unknown key"),
        ('name = "Conda Ecosystem Meeting"\n', "", "meetings[0].name", "required key is missing"),
        ('default_meeting = "eco"', 'default_meeting = "nope"', "bot.default_meeting", "no meeting with id 'nope'"),
        ('initials = "JL"', 'initials = "JRG"', "people[1].initials", "already used by people[0]"),
        (
            'template = "template.md"',
            'template = "missing.md"',
            "meetings[0].notes.template",
            "template file not found",
        ),
        ('id = "eco"', 'id = "Eco Meeting"', "meetings[0].id", "should match pattern"),
        # a typo gets the closest key of the same table as a hint
        (
            "[bot]\ndefault_meeting",
            "[bot]\ndefault_meting",
            "bot.default_meting",
            "unknown key (did you mean 'default_meeting'?",
        ),
        ("[meetings.notes]", "[meetings.note]", "meetings[0].note", "unknown key (did you mean 'notes'?"),
        (
            "time = 14:00:00",
            'time = 14:00:00\ntimezon = "UTC"',
            "meetings[0].slots[1].timezon",
            "unknown key (did you mean 'timezone'?",
        ),
        (
            'call_link = "https://zoom.example/j/1"',
            "frobnicate = 1",
            "meetings[0].frobnicate",
            "unknown key (check the spelling",
        ),
        # a number is not read as seconds after midnight (17 -> 00:00:17)
        ("time = 17:00:00", "time = 17", "meetings[0].slots[0].time", "expected a wall-clock time such as 17:00:00"),
        ("time = 17:00:00", 'time = "5pm"', "meetings[0].slots[0].time", "expected a time such as 17:00:00"),
        (
            "start = 2026-01-07",
            'start = "07/01/2026"',
            "meetings[0].slots[0].start",
            "expected a date such as 2026-01-07",
        ),
        # dateutil accepts these and then loops forever (0) or crashes (-1) on the first look-up
        (
            'rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"\nstart = 2026-01-07',
            'rrule = "FREQ=WEEKLY;INTERVAL=0"\nstart = 2026-01-07',
            "meetings[0].slots[0].rrule",
            "INTERVAL must be a whole number of 1 or more",
        ),
        (
            'rrule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"\nstart = 2026-01-07',
            'rrule = "FREQ=WEEKLY;INTERVAL=-2"\nstart = 2026-01-07',
            "meetings[0].slots[0].rrule",
            "INTERVAL must be a whole number of 1 or more",
        ),
        # the pattern itself has no '/', the date it writes does ('%D' is 03/04/26)
        ('filename = "%Y%m%d-eco.md"', 'filename = "%D-eco.md"', "meetings[0].notes.filename", "no directories"),
        ('filename = "%Y%m%d-eco.md"', 'filename = "eco-%x.md"', "meetings[0].notes.filename", "no directories"),
        (
            'filename = "%Y%m%d-eco.md"',
            'filename = "%Y%m%d\\u0000.md"',
            "meetings[0].notes.filename",
            "control character",
        ),
    ],
)
def test_malformed_config_names_file_and_key(tmp_path: Path, old: str, new: str, key: str, problem: str):
    assert old in BASE_CONFIG
    path = write_config(tmp_path, BASE_CONFIG.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}: "), msg
    assert problem in msg


def test_toml_syntax_error(tmp_path: Path):
    path = write_config(tmp_path, BASE_CONFIG.replace('name = "Conda Ecosystem Meeting"', 'name = "unterminated'))
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r": not valid TOML: .*line \d+"):
        load_config(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_paths_are_relative_to_the_config_file(tmp_path: Path, monkeypatch):
    path = write_config(tmp_path)
    monkeypatch.chdir("/")
    cfg = load_config(path)
    assert cfg.resolve(cfg.meeting().notes.directory) == tmp_path / "notes"


@pytest.mark.parametrize("name", ["conda", "#conda", "c0condaeco"])
def test_a_slack_channel_name_instead_of_its_id_is_refused(tmp_path, name):
    text = BASE_CONFIG.replace('slack_channel = "C1"', f'slack_channel = "{name}"')
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path, text))
    msg = str(exc.value)
    assert "meetings[0].destinations.slack_channel" in msg and "not a Slack channel id" in msg


def test_every_problem_is_shown_not_only_the_first(tmp_path):
    text = BASE_CONFIG.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"', 1).replace(
        'reminders = ["24h", "15m"]', 'reminders = ["soon"]'
    )
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 2, lines
    assert any(ln.startswith(f"{path}: meetings[0].slots[0].timezone: unknown time zone") for ln in lines)
    assert any(ln.startswith(f"{path}: meetings[0].reminders[0]: expected a duration") for ln in lines)
    assert "more problem" not in str(err.value)


def test_state_dir_and_web_from_the_environment(tmp_path, monkeypatch):
    """What a container image sets: the ledger's directory and the status pages' address win
    over the file, so the config directory can be mounted read-only."""
    path = write_config(tmp_path)
    monkeypatch.setenv("CHATBOT_STATE_DIR", str(tmp_path / "ledger"))
    monkeypatch.setenv("CHATBOT_WEB", "0.0.0.0:8181")
    cfg = load_config(path)
    assert cfg.resolve(cfg.bot.state_dir) == tmp_path / "ledger"
    assert (cfg.web.enabled, cfg.web.host, cfg.web.port) == (True, "0.0.0.0", 8181)
    monkeypatch.setenv("CHATBOT_WEB", "8181")
    with pytest.raises(ConfigError, match=r"\$CHATBOT_WEB: expected HOST:PORT"):
        load_config(path)
    monkeypatch.delenv("CHATBOT_WEB")
    monkeypatch.delenv("CHATBOT_STATE_DIR")
    cfg = load_config(path)
    assert not cfg.web.enabled and cfg.resolve(cfg.bot.state_dir) == tmp_path / "state"
