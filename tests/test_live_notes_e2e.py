"""Live notes end to end: the real bot process, a real chat client against the fake Zulip or
Slack, and the real HackMD client against the fake HackMD API (all on loopback). A person
types ``agenda add`` in chat and the item shows up in the HackMD note the meeting reads."""

from __future__ import annotations

import pytest

from fakes.hackmd import FakeHackMD
from fakes.zulip import FakeZulip
from test_zulip import ZULIP_CONFIG, BotProcess, wait_reply

pytestmark = pytest.mark.slow

HACKMD_SECTION = """
[meetings.hackmd]
api_url = "{api}"
team = "{team}"

"""


def with_hackmd(config: str, hm: FakeHackMD) -> str:
    """The first meeting's notes live in HackMD."""
    config = config.replace(
        'url = "https://example.org/notes/{filename}"',
        'url = "https://example.org/notes/{filename}"\nstore = "hackmd"',
        1,
    )
    head, sep, rest = config.partition('[[meetings]]\nid = "infra"')
    return head + HACKMD_SECTION.format(api=hm.api_url, team=hm.team) + sep + rest


@pytest.fixture
def hm():
    with FakeHackMD() as fake:
        yield fake


@pytest.fixture
def zulip():
    server = FakeZulip(poll_timeout=0.5).start()
    yield server
    server.stop()


def test_zulip_agenda_add_lands_in_the_hackmd_note(zulip, hm, tmp_path):
    jaime = zulip.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    env = {
        "ZULIP_SITE": zulip.site,
        "ZULIP_EMAIL": zulip.bot.email,
        "ZULIP_API_KEY": zulip.bot.api_key,
        "HACKMD_TOKEN": hm.token,
    }
    bot = BotProcess(zulip, tmp_path, with_hackmd(ZULIP_CONFIG, hm), "2026-01-05T12:00:00Z", env, ["-v"])
    try:
        bot.wait_ready()
        zulip.send_private(jaime, "agenda add Release plans for 26.1")
        (answer,) = wait_reply(zulip)
        assert "Added to the agenda of Conda Ecosystem Meeting on 2026-01-07 as item 1" in answer["content"], answer[
            "content"
        ]
        (note,) = hm.team_notes()
        assert "- [ ] JRG: Release plans for 26.1\n" in note.content
        assert f"/{note.short_id}" in answer["content"]  # the answer links the live note
        # someone types in HackMD; the next item lands beside it and both are listed
        hm.human_edit(
            note.id,
            lambda c: c.replace(
                "- [ ] JRG: Release plans for 26.1\n", "- [ ] JRG: Release plans for 26.1\n- [ ] JL: typed in HackMD\n"
            ),
        )
        zulip.send_private(jaime, "agenda add CI costs")
        wait_reply(zulip, 2)
        zulip.send_private(jaime, "agenda list")
        listing = wait_reply(zulip, 3)[2]["content"]
        assert "1. JRG: Release plans for 26.1" in listing
        assert "2. JL: typed in HackMD" in listing and "3. JRG: CI costs" in listing
        assert not (tmp_path / "notes" / "20260107-eco.md").exists()
    finally:
        bot.stop()
    assert hm.token not in bot.output, "the HackMD token leaked into the bot's output"


def test_slack_agenda_add_lands_in_the_hackmd_note(hm, tmp_path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess as SlackBot, _config, _env

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem", "C0OPS": "ops"},
        users={"U0JAIME": {"name": "jaime"}},
    ) as slack:
        path = _config(tmp_path, api_url=slack.api_url)
        text = path.read_text(encoding="utf-8").replace(
            'actions_section = "From previous meetings"\n',
            'actions_section = "From previous meetings"\nstore = "hackmd"\n',
            1,
        )
        head, sep, rest = text.partition('[[meetings]]\nid = "ops"')
        path.write_text(head + HACKMD_SECTION.format(api=hm.api_url, team=hm.team) + sep + rest, encoding="utf-8")
        bot = SlackBot(tmp_path, path, _env(HACKMD_TOKEN=hm.token))
        try:
            slack.wait_connected(1, timeout=20)
            eid, cmd = slack.send_slash_command(
                "/agenda", "add Release plans for 26.1", user_id="U0JAIME", user_name="jaime", channel_id="C0CONDAECO"
            )
            slack.wait_ack(eid)
            answer = slack.wait_response(cmd["response_url"])
            assert answer["text"].startswith("Added to the agenda of Conda Ecosystem Meeting on 2026-01-07"), answer
            (note,) = hm.team_notes()
            assert "- [ ] JRG: Release plans for 26.1\n" in note.content
            assert f"/{note.short_id}" in answer["text"]
        finally:
            bot.stop()
        assert hm.token not in bot.output()
