"""A chat backend declares its own part of the config (a ``config.Platform`` named in
``backends.BACKENDS``): a backend made up here, "echo", gets its section, its destination key
and its person key validated like the core's, without a line in config.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys

import pytest
from pydantic import Field, field_validator

from chatbot import cli
from chatbot.backends import BACKENDS
from chatbot.backends.base import backend_class
from chatbot.config import Meeting, Platform, Section, load_config, part, platforms, schema

from conftest import BASE_CONFIG, config_error, write_config


class EchoSettings(Section):
    prefix: str = ">"
    port: int = Field(default=7, ge=1, le=65535)


class EchoDestinations(Section):
    echo_room: str | None = None

    @field_validator("echo_room")
    @classmethod
    def _a_room(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("#"):
            raise ValueError(f"{value!r} is not an echo room; rooms start with '#'")
        return value


def _where(meeting: Meeting, start: dt.datetime) -> str | None:
    room = part(meeting.destinations, EchoDestinations).echo_room
    return f"echo room {room} at {start:%H:%M}" if room else None


ECHO = Platform(
    name="echo",
    backend="chatbot.backends.console:ConsoleBackend",  # any Backend: this test needs none of its own
    settings=EchoSettings,
    destinations=EchoDestinations,
    person_field="echo_handle",
    where=_where,
)

ECHO_CONFIG = (
    BASE_CONFIG.replace('slack_channel = "C1"', 'slack_channel = "C1"\necho_room = "#eco"', 1)
    + """
[[people]]
initials = "EH"
name = "Echo Hannah"
echo_handle = "hannah"

[echo]
prefix = "!"
port = 4000
"""
)


@pytest.fixture
def echo(monkeypatch):
    """The echo backend declared as a new backend is: one line in BACKENDS."""
    monkeypatch.setitem(BACKENDS, "echo", f"{__name__}:ECHO")


def test_the_core_models_have_no_platform_s_keys():
    # the premise of the tests below: config.py declares none of a platform's keys, the
    # declarations add them all (and only they)
    from chatbot.config import Config, Destinations, Person

    declared = platforms()
    sections = {p.name for p in declared}
    people = {p.person_field for p in declared}
    places = {key for p in declared if p.destinations for key in p.destinations.model_fields}
    assert sections == {"console", "slack", "zulip"} and people == {None, "slack_id", "zulip_email"}
    assert places == {"console", "slack_channel", "zulip_stream", "zulip_topic"}
    assert not sections & Config.model_fields.keys() and not people & Person.model_fields.keys()
    assert Destinations.model_fields == {}
    loaded = schema()
    assert loaded.config.model_fields.keys() - Config.model_fields.keys() == sections
    assert loaded.person.model_fields.keys() - Person.model_fields.keys() == people - {None}
    assert loaded.destinations.model_fields.keys() == places


def test_a_declared_backend_s_section_destination_and_person_are_loaded(tmp_path, echo):
    config = load_config(write_config(tmp_path, ECHO_CONFIG))
    settings = ECHO.settings_of(config)
    assert isinstance(settings, EchoSettings) and (settings.prefix, settings.port) == ("!", 4000)
    assert part(config.meeting("eco").destinations, EchoDestinations).echo_room == "#eco"
    hannah = config.person_by(echo_handle="hannah")
    assert hannah is not None and hannah.initials == "EH" and ECHO.person_id(hannah) == "hannah"
    assert config.person_by(echo_handle="HANNAH") is None  # not an email: matched exactly
    assert ECHO.person_id(config.person_by(initials="JRG")) is None  # not on echo
    # the other platforms' parts are still there
    assert config.meeting("eco").destinations.slack_channel == "C1"
    assert [p.name for p in platforms()] == ["console", "slack", "zulip", "echo"]


def test_a_declared_backend_s_defaults(tmp_path, echo):
    config = load_config(write_config(tmp_path))  # no [echo], no echo_room, nobody with an echo_handle
    assert ECHO.settings_of(config) == EchoSettings()
    assert part(config.meeting().destinations, EchoDestinations).echo_room is None


def test_a_declared_backend_s_bad_values_are_reported_with_their_keys(tmp_path, echo):
    text = (
        ECHO_CONFIG.replace('echo_room = "#eco"', 'echo_room = "eco"')
        .replace('echo_handle = "hannah"', "echo_handle = 5")
        .replace("port = 4000", "port = 0\nprefx = '?'")
    )
    lines = config_error(tmp_path, text).splitlines()
    assert len(lines) == 4, lines  # every problem at once, each naming file and key
    assert all(line.startswith(f"{tmp_path / 'chatbot.toml'}: ") for line in lines)
    found = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in lines}
    assert "is not an echo room; rooms start with '#'" in found["meetings[0].destinations.echo_room"]
    assert "(got 5)" in found["people[3].echo_handle"]
    assert "greater than or equal to 1" in found["echo.port"]
    assert "unknown key (did you mean 'prefix'?" in found["echo.prefx"]


def test_an_undeclared_backend_s_keys_are_unknown(tmp_path):
    lines = config_error(tmp_path, ECHO_CONFIG).splitlines()
    keys = sorted(line.split(": ", 2)[1] for line in lines)
    assert keys == ["echo", "meetings[0].destinations.echo_room", "people[3].echo_handle"]
    assert all("unknown key" in line for line in lines)


def test_check_config_says_where_a_declared_backend_s_reminders_go(tmp_path, echo, capsys):
    config = load_config(write_config(tmp_path, ECHO_CONFIG))
    assert cli.cmd_check_config(cli.build_parser().parse_args(["check-config"]), config) == 0
    out = capsys.readouterr().out
    # each declared platform's part, in BACKENDS order (the echo one at the meeting's 17:00 UTC slot)
    where = re.search(r"reminders go to: (.*)", out)
    assert where is not None
    assert where.group(1).startswith("the console; Slack channel C1; ")
    assert re.search(r"; echo room #eco at (17|14):00$", where.group(1))


def test_the_run_choices_and_backend_class_follow_the_registry(echo):
    assert cli.build_parser().parse_args(["run", "--backend", "echo"]).backend == "echo"
    assert backend_class("echo").__name__ == "ConsoleBackend"
    with pytest.raises(ValueError, match=r"unknown backend 'matrix'; choose one of console, slack, zulip, echo"):
        backend_class("matrix")


class Twice(Section):
    slack_channel: str | None = None


# declarations that take a key someone has
BOT = dataclasses.replace(ECHO, name="bot")
GITHUB = dataclasses.replace(ECHO, person_field="github")
SLACK_ID = dataclasses.replace(ECHO, person_field="slack_id")
TWICE = dataclasses.replace(ECHO, destinations=Twice)


@pytest.mark.parametrize(
    ("name", "declaration", "clash"),
    [
        ("bot", "BOT", "platform 'bot' declares a config section 'bot' that the core has"),
        ("echo", "GITHUB", "platform 'echo' declares a [[people]] key 'github' that the core has"),
        ("echo", "SLACK_ID", "platform 'echo' declares a [[people]] key 'slack_id' that platform 'slack' has"),
        ("echo", "TWICE", "declares a [meetings.destinations] key 'slack_channel' that platform 'slack' has"),
    ],
)
def test_a_declaration_cannot_take_a_key_someone_has(monkeypatch, name, declaration, clash):
    monkeypatch.setitem(BACKENDS, name, f"{__name__}:{declaration}")
    with pytest.raises(TypeError, match=re.escape(clash)):
        schema()


def test_a_registry_line_that_names_no_platform_is_refused(monkeypatch):
    monkeypatch.setitem(BACKENDS, "echo", "chatbot.backends.console:ConsoleBackend")
    with pytest.raises(TypeError, match=r"BACKENDS\['echo'\] = .*expected a Platform named 'echo'"):
        platforms()


def test_loading_the_config_imports_no_chat_client_library(tmp_path):
    # the declarations are read, the platforms' client libraries only imported when a backend runs
    path = write_config(tmp_path)
    code = (
        "import sys\n"
        "from chatbot.config import load_config\n"
        f"config = load_config({str(path)!r})\n"
        "assert config.meeting().destinations.slack_channel == 'C1'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('slack_sdk', 'slack_bolt', 'zulip')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
