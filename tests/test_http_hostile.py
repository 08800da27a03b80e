"""Hostile HTTP clients against the Slack backend's HTTP mode and `chatbot serve` (issue 16,
items 1, 2 and 4): huge and broken bodies, slow and idle connections, and what debug logs
may show. Real bot processes and servers on loopback; every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import write_config
from fakes.slack import signed_post, slack_signature
import re

from test_slack import SIGNING_SECRET, _env, _free_port, assert_no_secrets, fake, start_bot  # noqa: F401

LISTENING = r"listening for slash commands on http://127\.0\.0\.1:\d+/slack/events"
REPO = Path(__file__).resolve().parent.parent


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send raw bytes, read the answer (until the server closes or ``timeout``): (status, all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(OSError):  # the server may answer and close before all is sent
            s.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(ln.split(b":", 1)[1])
                        for ln in head.split(b"\r\n")
                        if ln.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    break
    if not data.startswith(b"HTTP/1."):
        return 0, data
    return int(data.split(b" ", 2)[1]), data


def post(path: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if length is not None or not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed(body: bytes, ts: int | None = None) -> tuple[str, str]:
    ts = int(time.time()) if ts is None else ts
    return f"X-Slack-Request-Timestamp: {ts}", f"X-Slack-Signature: {slack_signature(SIGNING_SECRET, str(ts), body)}"


FORM = "Content-Type: application/x-www-form-urlencoded"
JSON = "Content-Type: application/json"


# ---------------------------------------------------------------------------------------
# 1. Bodies: too big, chunked, not text, not JSON


def test_slack_http_mode_refuses_big_and_broken_bodies(tmp_path, fake, start_bot):
    port = _free_port()
    bot = start_bot(mode="http", port=port, env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    bot.wait_log(LISTENING, timeout=20)

    # 256 MB announced, a little sent: refused from the headers alone, nothing waits for the rest
    status, _ = exchange(
        port,
        post(
            "/slack/events",
            b"x" * 4096,
            FORM,
            "X-Slack-Signature: v0=00",
            "X-Slack-Request-Timestamp: 1",
            length=256 * 1024 * 1024,
        ),
    )
    assert status == 413
    # the same on a status-page path
    assert exchange(port, post("/", b"x" * 4096, FORM, length=256 * 1024 * 1024))[0] == 413
    # chunked, no length: counted as it arrives and cut off past the limit
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b"y" * 32 * 1024)
    assert (
        exchange(port, post("/slack/events", chunk * 16 + b"0\r\n\r\n", FORM, "Transfer-Encoding: chunked"))[0] == 413
    )

    # bodies that are not text, or not JSON, unsigned and signed: 401 and 400, never 500
    for body, ctype in (
        (b"text=\xff\xfe\xfd&command=%2Fagenda", FORM),
        (b"{not json", JSON),
        (b'{"payload": "\xff"}', JSON),
    ):
        assert exchange(port, post("/slack/events", body, ctype))[0] == 401, body
        assert (
            exchange(
                port, post("/slack/events", body, ctype, "X-Slack-Signature: v0=00", "X-Slack-Request-Timestamp: 1")
            )[0]
            == 401
        ), body
        assert exchange(port, post("/slack/events", body, ctype, *signed(body)))[0] == 400, body

    # a real command still works afterwards
    form = fake.slash_command_payload("/agenda", "add After the junk", user_id="U0JAIME", user_name="jaime")
    assert signed_post(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, form)[0] == 200
    assert "After the junk" in fake.wait_response(form["response_url"], timeout=20)["text"]
    assert bot.alive()
    bot.stop()
    out = bot.output()
    assert "Traceback" not in out and "500" not in re.findall(r'" (\d{3}) ', out)
    assert_no_secrets(out)


# ---------------------------------------------------------------------------------------
# 2. Slow and idle clients


class Serve:
    """`chatbot serve` as a process, optionally with a small open-file limit."""

    def __init__(self, tmp_path: Path, nofile: int | None = None):
        self.port = _free_port()
        cfg = write_config(tmp_path)
        env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-05T12:00:00Z"}
        env.pop("CHATBOT_CONFIG", None)

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log = open(tmp_path / "serve.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "-v", "serve", "--port", str(self.port), "--config", str(cfg)],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,
        )
        self.log_path = tmp_path / "serve.log"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "serving status pages" not in self.output():
            time.sleep(0.05)
        assert "serving status pages" in self.output(), self.output()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@contextlib.contextmanager
def hostile_crowd(port: int, idle: int, slow: int):
    """``idle`` connections that send nothing and ``slow`` ones that stop halfway through
    their headers (slowloris); all closed on exit."""
    socks = []
    try:
        for i in range(idle + slow):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                continue
            if i >= idle:
                with contextlib.suppress(OSError):
                    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def answered(port: int, raw: bytes, within: float = 30.0) -> int:
    """The status of the answer to ``raw``, retried on refused connections until ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            status, _ = exchange(port, raw, timeout=max(1.0, deadline - time.monotonic()))
            if status:
                return status
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.2)


GET_INDEX = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("nofile", [None, 128])
def test_serve_keeps_answering_under_idle_and_slow_connections(tmp_path, nofile):
    """200 idle and 50 slowloris connections; with 128 open files the server cannot even hold
    them all. Real requests are still answered."""
    srv = Serve(tmp_path, nofile=nofile)
    try:
        with hostile_crowd(srv.port, idle=200, slow=50):
            for _ in range(5):
                assert answered(srv.port, GET_INDEX) == 200
        assert srv.proc.poll() is None
    finally:
        srv.stop()
    assert "Traceback" not in srv.output()


def test_slack_http_mode_keeps_answering_under_idle_and_slow_connections(tmp_path, fake, start_bot):
    port = _free_port()
    bot = start_bot(mode="http", port=port, env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    bot.wait_log(LISTENING, timeout=20)
    with hostile_crowd(port, idle=200, slow=50):
        for i in range(3):
            form = fake.slash_command_payload("/agenda", f"add Under load {i}", user_id="U0JAIME")
            body = urllib.parse.urlencode(form).encode()
            assert answered(port, post("/slack/events", body, FORM, *signed(body))) == 200
            assert f"Under load {i}" in fake.wait_response(form["response_url"], timeout=30)["text"]
        assert answered(port, GET_INDEX) == 200
    assert bot.alive()
    bot.stop()
    assert "Traceback" not in bot.output()


def test_a_request_trickled_byte_by_byte_is_cut_off(tmp_path):
    """A request must arrive whole within the request timeout, however steadily it trickles."""
    import datetime as dt
    import threading

    from chatbot.bot import Bot
    from chatbot.config import load_config
    from chatbot.web import Limits, make_http_server
    from conftest import FixedClock

    bot = Bot(load_config(write_config(tmp_path)), FixedClock(dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)))
    srv = make_http_server(bot, "127.0.0.1", 0, limits=Limits(request_timeout=2, idle_timeout=1))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    port = srv.server_address[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            closed = False
            for _ in range(40):  # at most ~20 s: one header byte every half second
                try:
                    s.sendall(b"X")
                    time.sleep(0.5)
                    s.setblocking(False)
                    try:
                        closed = s.recv(1024) is not None
                    except BlockingIOError:
                        pass
                    finally:
                        s.setblocking(True)
                except OSError:
                    closed = True
                if closed:
                    break
            assert closed, "the trickling request was never cut off"
        assert exchange(port, GET_INDEX)[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_debug_logs_hold_no_response_url_and_no_verification_token(tmp_path, fake, start_bot, mode):
    if mode == "http":
        port = _free_port()
        bot = start_bot(
            mode="http", port=port, args=("-vv",), env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET)
        )
        bot.wait_log(LISTENING, timeout=20)
        form = fake.slash_command_payload("/agenda", "add Logged item", user_id="U0JAIME", user_name="jaime")
        assert signed_post(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, form)[0] == 200
    else:
        bot = start_bot(args=("-vv",))
        fake.wait_connected(1, timeout=20)
        _, form = fake.send_slash_command("/agenda", "add Logged item", user_id="U0JAIME", user_name="jaime")
    assert "Logged item" in fake.wait_response(form["response_url"])["text"]
    bot.wait_log(r"slack /agenda from U0JAIME", timeout=10)
    code = bot.stop()
    assert code == 0, bot.output()[-6000:]
    out = bot.output()
    assert "DEBUG" in out  # debug logging was on
    secret_part = urllib.parse.urlsplit(form["response_url"]).path
    for leaked in (
        secret_part,
        urllib.parse.quote(secret_part, safe=""),
        secret_part.replace("/", "\\/"),
        form["token"],
    ):
        assert leaked not in out, leaked
    assert_no_secrets(out)


@pytest.mark.parametrize(
    "line",
    [
        'on_message: {"payload": {"token": "legacyTOKENvalue", "response_url": "https:\\/\\/hooks.slack.com\\/commands\\/T1\\/2\\/SECRETpart"}}',
        "{'token': 'legacyTOKENvalue', 'response_url': 'https://hooks.slack.com/commands/T1/2/SECRETpart'}",
        "body: token=legacyTOKENvalue&team_id=T1&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F2%2FSECRETpart",
        "Sending a request - url: https://hooks.slack.com/commands/T1/2/SECRETpart, body: {}",
        "posting to https://hooks.slack.com/actions/T1/2/SECRETpart",
    ],
)
def test_the_redaction_filter_hides_response_urls_and_the_verification_token(line):
    import logging

    from chatbot.backends.slack import RedactSecrets

    rec = logging.LogRecord("slack_sdk", logging.DEBUG, __file__, 1, "%s", (line,), None)
    RedactSecrets([]).filter(rec)
    text = rec.getMessage()
    assert "SECRETpart" not in text and "legacyTOKENvalue" not in text and "[redacted]" in text


def test_a_request_path_cannot_forge_log_lines(tmp_path, caplog):
    import datetime as dt
    import logging
    import threading

    from chatbot.bot import Bot
    from chatbot.config import load_config
    from chatbot.web import make_http_server
    from conftest import FixedClock

    bot = Bot(load_config(write_config(tmp_path)), FixedClock(dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)))
    srv = make_http_server(bot, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="chatbot.web"):
            status, _ = exchange(
                srv.server_address[1],
                b"GET /x%0a2026-01-01%20CRITICAL%20forged%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            assert status == 404
            deadline = time.monotonic() + 5
            while not any("forged" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
    (line,) = [r.getMessage() for r in caplog.records if "forged" in r.getMessage()]
    assert "\n" not in line and "\x00" not in line and "\\x0a" in line
