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
from collections.abc import Callable
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
    """`chatbot serve` as a process, optionally with a small open-file limit (or, with
    ``run``, `chatbot run` serving the pages itself, as `[web] enabled` does)."""

    def __init__(self, tmp_path: Path, nofile: int | None = None, run: bool = False):
        self.port = _free_port()
        cfg = write_config(tmp_path)
        env = {**os.environ, "CHATBOT_FAKE_NOW": "2026-01-05T12:00:00Z"}
        env.pop("CHATBOT_CONFIG", None)
        command = ["serve", "--port", str(self.port)]
        if run:
            env.update(CHATBOT_WEB=f"127.0.0.1:{self.port}", CHATBOT_STATE_DIR=str(tmp_path / "state"))
            command = ["run", "--stay"]

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log = open(tmp_path / "serve.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "-v", *command, "--config", str(cfg)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,
        )
        self.log_path = tmp_path / "serve.log"
        deadline = time.monotonic() + 20
        serving = re.compile(r"serving (the )?status pages on http")  # `chatbot serve`, `chatbot run`
        while time.monotonic() < deadline and not serving.search(self.output()):
            time.sleep(0.05)
        assert serving.search(self.output()), self.output()

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


# ---------------------------------------------------------------------------------------
# 3. Huge requests (issue 22): refused at once with 414/431/413, never read whole


BIG = 10 * 1024 * 1024


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def first_answer(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, bool]:
    """Send ``raw`` (an unfinished request) and read the answer without sending anything
    more: (status, whether the server then closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
        try:
            while s.recv(65536):  # the rest of the answer, then end of file
                pass
            closed = True
        except ConnectionResetError:  # closed with the client's unread bytes still queued
            closed = True
        except TimeoutError:  # still waiting for the rest of the request
            closed = False
        return status, closed


def streamed(port: int, head: bytes, body_size: int, timeout: float = 20.0) -> int:
    """Send ``head`` then try to stream ``body_size`` bytes while reading: the status."""
    import threading

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)

        def push() -> None:
            block = b"x" * 65536
            with contextlib.suppress(OSError):
                for _ in range(body_size // len(block)):
                    s.sendall(block)

        sender = threading.Thread(target=push, daemon=True)
        sender.start()
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in data and (chunk := s.recv(4096)):
                data += chunk
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)  # stops the sender
        sender.join(timeout)
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0


class Target:
    """The bot process under test: `chatbot serve`, or `chatbot run` in Slack's HTTP mode."""

    def __init__(self, port: int, pid: int, path: str, normal: Callable[[int], None], output: Callable[[], str]):
        self.port, self.pid, self.path, self.normal, self.output = port, pid, path, normal, output


@pytest.fixture(params=["serve", "run-web", "slack-http"])
def target(request, tmp_path):
    if request.param in ("serve", "run-web"):
        srv = Serve(tmp_path, run=request.param == "run-web")

        def page(i: int) -> None:
            assert answered(srv.port, GET_INDEX, within=10) == 200

        yield Target(srv.port, srv.proc.pid, "/", page, srv.output)
        srv.stop()
        return
    fake, start_bot = request.getfixturevalue("fake"), request.getfixturevalue("start_bot")
    port = _free_port()
    bot = start_bot(mode="http", port=port, env=_env(SLACK_APP_TOKEN=None, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    bot.wait_log(LISTENING, timeout=20)

    def command(i: int) -> None:
        form = fake.slash_command_payload("/agenda", f"add Meanwhile {i}", user_id="U0JAIME")
        body = urllib.parse.urlencode(form).encode()
        assert answered(port, post("/slack/events", body, FORM, *signed(body)), within=10) == 200
        assert f"Meanwhile {i}" in fake.wait_response(form["response_url"], timeout=20)["text"]

    yield Target(port, bot.proc.pid, "/slack/events", command, bot.output)
    bot.stop()


def huge_body_head(path: str, signed_body: bool, expect: bool = False) -> bytes:
    headers = [FORM, f"Content-Length: {BIG}"]
    if signed_body:  # a valid Slack signature over the whole 10 MB text
        ts = str(int(time.time()))
        body = b"text=" + b"x" * (BIG - 5)
        headers += [
            f"X-Slack-Request-Timestamp: {ts}",
            f"X-Slack-Signature: {slack_signature(SIGNING_SECRET, ts, body)}",
        ]
    if expect:
        headers.append("Expect: 100-continue")
    return ("\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\r\n\r\n").encode()


def test_huge_requests_are_refused_at_once_without_reading_them(target):
    """414 for a 100 KB request-target, 431 for 300 headers or one 100 KB header, 413 for a
    10 MB body (unsigned or signed, with or without ``Expect: 100-continue``): each answered
    while the request is still unfinished (the client has sent no body, or not even the end
    of the headers), and the server closes the connection instead of waiting for the rest."""
    url = b"GET /" + b"a" * 100_000  # not even the end of the request line
    assert first_answer(target.port, url) == (414, True)
    many = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    assert first_answer(target.port, many) == (431, True)  # headers unfinished: no blank line yet
    assert first_answer(target.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000) == (431, True)
    for signed_body in (False, True):
        for expect in (False, True):
            # headers only: the answer comes before a byte of the body (never "100 Continue")
            assert first_answer(target.port, huge_body_head(target.path, signed_body, expect)) == (413, True)
    # chunked: refused once past the limit, while the client has not finished its body
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"y" * 16 * 1024)
    head = post(target.path, b"", FORM, "Transfer-Encoding: chunked")
    assert first_answer(target.port, head + chunk * 8) == (413, True)
    # a request just under the limits is still served
    ok = b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    ok += b"".join(b"X-H%d: v\r\n" % i for i in range(90)) + b"\r\n"
    assert exchange(target.port, ok)[0] == 404
    target.normal(0)
    assert "Traceback" not in target.output()


def test_huge_uploads_keep_memory_flat_and_others_answered(target):
    """Clients that really send 10 MB (unsigned and signed, announced and chunked) are cut
    off after their headers or past the limit, so the process does not grow with them; and a
    slow upload in progress does not hold up anyone else."""
    for _ in range(2):  # warm up (first requests allocate buffers, import modules)
        assert streamed(target.port, huge_body_head(target.path, False), BIG) == 413
    before = rss_kb(target.pid)
    chunked = post(target.path, b"", FORM, "Transfer-Encoding: chunked")
    for _ in range(4):
        assert streamed(target.port, huge_body_head(target.path, False), BIG) == 413
        assert streamed(target.port, huge_body_head(target.path, True), BIG) == 413
        assert streamed(target.port, chunked + b"%x\r\n" % BIG, BIG) == 413
    grown = rss_kb(target.pid) - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KB over 12 refused 10 MB uploads"

    # a slow upload under way (within the limits, unfinished): others are answered meanwhile
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as slow:
        slow.sendall(chunked + b"%x\r\n%s\r\n" % (8 * 1024, b"z" * 8 * 1024))
        for i in range(3):
            target.normal(i + 1)
            slow.sendall(b"%x\r\n%s\r\n" % (8 * 1024, b"z" * 8 * 1024))
        slow.sendall((b"%x\r\n%s\r\n" % (16 * 1024, b"z" * 16 * 1024)) * 4)  # now past the limit
        data = b""
        while b"\r\n" not in data and (part := slow.recv(4096)):
            data += part
        assert data.startswith(b"HTTP/1.1 413"), data[:100]
    target.normal(9)
    assert "Traceback" not in target.output()
