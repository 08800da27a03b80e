"""``action add OWNER: text`` end to end: the real bot process with a real chat client against
the fake Zulip or Slack, the real HackMD client against the fake HackMD API (all on
loopback), and the ``chatbot actions add`` command line into a notes directory."""

from __future__ import annotations

import json
import time

import pytest

from fakes.hackmd import FakeHackMD
from fakes.zulip import FakeZulip
from test_cli import chatbot
from test_live_notes_e2e import with_hackmd
from test_zulip import ZULIP_CONFIG, BotProcess, wait_reply

from conftest import FIXTURES, write_config

pytestmark = pytest.mark.slow

DURING = "2026-01-07T17:20:00Z"  # the meeting of 2026-01-07, 17:00-18:00 UTC
TEMPLATE = (FIXTURES / "agenda_template.md").read_text(encoding="utf-8")
NOTE = (
    TEMPLATE.replace('{{ date.strftime("%Y-%m-%d") }}', "2026-01-07")
    .replace("1. ...\n1. ...\n1. ...\n", "1. JRG: Jaime Rodríguez-Guerra (@jaimergp)\n1. SD: Sam Doe (@samdoe), ACME\n")
    .replace("## New agenda items\n\n- [ ] ...\n", "## New agenda items\n\n- [ ] JRG: Release plans\n    - we agreed\n")
)


@pytest.fixture
def hm():
    with FakeHackMD() as fake:
        yield fake


@pytest.fixture
def zulip():
    server = FakeZulip(poll_timeout=0.5).start()
    yield server
    server.stop()


def test_zulip_action_add_lands_in_the_live_hackmd_note(zulip, hm, tmp_path):
    note = hm.add_note(NOTE, team_path=hm.team)  # the meeting's live note, made by hand
    jaime = zulip.add_user("jaime@example.org", "Jaime Rodríguez-Guerra", api_key="jaime-key")
    env = {
        "ZULIP_SITE": zulip.site,
        "ZULIP_EMAIL": zulip.bot.email,
        "ZULIP_API_KEY": zulip.bot.api_key,
        "HACKMD_TOKEN": hm.token,
    }
    bot = BotProcess(zulip, tmp_path, with_hackmd(ZULIP_CONFIG, hm), DURING, env, ["-v"])
    try:
        bot.wait_ready()
        zulip.send_private(jaime, "action add JRG: tag the release candidate")
        (answer,) = wait_reply(zulip)
        text = answer["content"]
        assert "Added an action item to the notes of Conda Ecosystem Meeting on 2026-01-07" in text, text
        assert "new “Action items” section" in text and f"/{note.short_id}" in text
        added = "\n## Action items\n\n- [ ] JRG: tag the release candidate\n"
        assert hm.content(note.id) == NOTE + added  # only lines appended
        # someone types in the note meanwhile; the next item lands after theirs, both kept
        hm.human_edit(note.id, lambda c: c.replace("## Deferred", "## Deferred (typed)") + "- [ ] JL: typed\n")
        zulip.send_private(jaime, "action add sd: write the blog post")
        second = wait_reply(zulip, 2)[1]["content"]
        assert "under “Action items”" in second and "SD not in the roster" in second, second
        want = NOTE.replace("## Deferred", "## Deferred (typed)") + added + "- [ ] JL: typed\n"
        assert hm.content(note.id) == want + "- [ ] SD: write the blog post\n"
        # refused: no owner; nothing changes
        zulip.send_private(jaime, "action add tag the release")
        third = wait_reply(zulip, 3)[2]["content"]
        assert "who owns it?" in third and "action add JRG:" in third.replace("actions add", "action add"), third
        assert hm.content(note.id) == want + "- [ ] SD: write the blog post\n"
        assert len(hm.team_notes()) == 1  # no second note was made
    finally:
        bot.stop()
    assert hm.token not in bot.output


def test_slack_actions_add_writes_once_when_slack_delivers_it_twice(tmp_path):
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, BotProcess as SlackBot, _config, _env

    with FakeSlack(BOT_TOKEN, APP_TOKEN, channels={"C0CONDAECO": "conda-ecosystem"}, users={"U0JAIME": {}}) as slack:
        bot = SlackBot(tmp_path, _config(tmp_path, api_url=slack.api_url), _env(CHATBOT_FAKE_NOW=DURING))
        notes = tmp_path / "notes" / "20260107-conda-ecosystem.md"
        try:
            slack.wait_connected(1, timeout=20)
            eid, cmd = slack.send_slash_command(
                "/actions",
                "add JL: review the CEP draft",
                user_id="U0JAIME",
                user_name="jaime",
                channel_id="C0CONDAECO",
            )
            slack.wait_ack(eid)
            answer = slack.wait_response(cmd["response_url"])
            assert answer["text"].startswith(
                "Added an action item to the notes of Conda Ecosystem Meeting on 2026-01-07"
            )
            assert answer["response_type"] == "ephemeral"
            text = notes.read_text(encoding="utf-8")
            assert text.endswith("\n## Action items\n\n- [ ] JL: review the CEP draft\n")
            public = slack.wait_for(
                lambda: [m for m in slack.messages("C0CONDAECO") if "noted an action item" in m["text"]],
                what="the channel's note",
            )
            assert public[0]["text"].startswith("JRG noted an action item for JL: review the CEP draft")
            # Slack did not see the ack in time and delivers the same command again: acts once
            slack.redeliver(eid)
            slack.wait_ack(eid)
            time.sleep(0.5)  # would a second line or note follow?
            assert notes.read_text(encoding="utf-8") == text
            assert len([m for m in slack.messages("C0CONDAECO") if "noted an action item" in m["text"]]) == 1
        finally:
            bot.stop()


def test_cli_actions_add_into_the_notes_directory_then_listed(tmp_path):
    config = write_config(tmp_path)
    r = chatbot(
        "actions", "add", "--as", "JRG", "JL:", "open", "the", "CEP", config=config, env={"CHATBOT_FAKE_NOW": DURING}
    )
    assert r.returncode == 0, r.stderr
    assert "Added an action item to the notes of Conda Ecosystem Meeting on 2026-01-07" in r.stdout
    notes = (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")
    assert notes.endswith("\n## Action items\n\n- [ ] JL: open the CEP\n")
    # the next day the item is an open action item of that meeting, owned by JL
    listed = chatbot("actions", "--json", config=config, env={"CHATBOT_FAKE_NOW": "2026-01-08T09:00:00Z"})
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    assert item["date"] == "2026-01-07" and item["text"] == "JL: open the CEP"
    assert [o["initials"] for o in item["owners"]] == ["JL"]
    # the day after, written into that meeting's notes by date
    later = chatbot(
        "actions",
        "add",
        "--as",
        "JRG",
        "--date",
        "2026-01-07",
        "JRG: send the summary",
        config=config,
        env={"CHATBOT_FAKE_NOW": "2026-01-08T09:00:00Z"},
    )
    assert later.returncode == 0, later.stdout + later.stderr
    text = (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")
    assert text == notes + "- [ ] JRG: send the summary\n"
    # no meeting today: refused, exit non-zero, nothing written
    late = chatbot(
        "actions", "add", "--as", "JRG", "JL: too late", config=config, env={"CHATBOT_FAKE_NOW": "2026-01-09T09:00:00Z"}
    )
    assert late.returncode != 0 and "no Conda Ecosystem Meeting is in progress" in late.stdout + late.stderr
    assert "too late" not in (tmp_path / "notes" / "20260107-eco.md").read_text(encoding="utf-8")
