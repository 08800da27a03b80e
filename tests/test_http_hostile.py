"""Hostile HTTP clients against the Slack backend's HTTP mode and `chatbot serve` (issue 16,
items 1, 2 and 4): huge and broken bodies, slow and idle connections, and what debug logs
may show. Real bot processes and servers on loopback; every wait is bounded."""

from __future__ import annotations

import re
import socket
import time
import urllib.parse

import pytest

from fakes.slack import signed_post
from test_slack import SIGNING_SECRET, _env, _free_port, _notes, assert_no_secrets, fake, start_bot  # noqa: F401

LISTENING = r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events"


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_debug_logs_hold_no_response_url_and_no_verification_token(tmp_path, fake, start_bot, mode):
    if mode == "http":
        port = _free_port()
        bot = start_bot(mode="http", port=port, args=("-vv",),
                        env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
        bot.wait_log(LISTENING, timeout=20)
        form = fake.slash_command_payload("/agenda", "add Logged item", user_id="U0JAIME", user_name="jaime")
        assert signed_post(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, form)[0] == 200
    else:
        bot = start_bot(args=("-vv",))
        fake.wait_connected(1, timeout=20)
        _, form = fake.send_slash_command("/agenda", "add Logged item", user_id="U0JAIME", user_name="jaime")
    assert "Logged item" in fake.wait_response(form["response_url"])["text"]
    bot.wait_log(r"slack /agenda from U0JAIME", timeout=10)
    assert bot.stop() == 0
    out = bot.output()
    assert "DEBUG" in out  # debug logging was on
    secret_part = urllib.parse.urlsplit(form["response_url"]).path
    for leaked in (secret_part, urllib.parse.quote(secret_part, safe=""), secret_part.replace("/", "\\/"),
                   form["token"]):
        assert leaked not in out, leaked
    assert_no_secrets(out)


@pytest.mark.parametrize("line", [
    'on_message: {"payload": {"token": "legacyTOKENvalue", "response_url": "https:\\/\\/hooks.slack.com\\/commands\\/T1\\/2\\/SECRETpart"}}',
    "{'token': 'legacyTOKENvalue', 'response_url': 'https://hooks.slack.com/commands/T1/2/SECRETpart'}",
    "body: token=legacyTOKENvalue&team_id=T1&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F2%2FSECRETpart",
    "Sending a request - url: https://hooks.slack.com/commands/T1/2/SECRETpart, body: {}",
    "posting to https://hooks.slack.com/actions/T1/2/SECRETpart",
])
def test_the_redaction_filter_hides_response_urls_and_the_verification_token(line):
    import logging

    from chatbot.backends.slack import RedactSecrets

    rec = logging.LogRecord("slack_sdk", logging.DEBUG, __file__, 1, "%s", (line,), None)
    RedactSecrets([]).filter(rec)
    text = rec.getMessage()
    assert "SECRETpart" not in text and "legacyTOKENvalue" not in text and "[redacted]" in text
