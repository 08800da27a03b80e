"""The status page: rendered HTML (escaping, content), HTTP routes, and an end-to-end check
in headless Chromium of what a visitor sees (time in their zone, agenda, owners)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from icalendar import Calendar

from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.web import make_http_server, render_meeting_page

from conftest import BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
HERE = Path(__file__).parent
SERVE_NOW = "2026-01-10T12:00:00Z"  # next meeting: Wed 2026-01-14 14:00 UTC
EVIL = "Ship the <script>alert('x')</script> release & <b>party</b>"


def add(bot: Bot, who: str, text: str) -> None:
    msg = bot.handle(f"agenda add {text}", Sender("cli", initials=who))
    assert msg.ok


@pytest.fixture
def config(tmp_path: Path):
    """Notes made through the bot: topics for 2026-01-07 and for 2026-01-14 (the agenda so
    far); during the 2026-01-07 meeting the note-taker wrote its action items (now open)."""
    cfg = load_config(write_config(tmp_path, BASE_CONFIG))
    before = Bot(cfg, FixedClock(dt.datetime(2026, 1, 2, 9, 0, tzinfo=UTC)))
    add(before, "JRG", "Release plans")
    add(before, "JL", "Docs")
    past = tmp_path / "notes" / "20260107-eco.md"
    past.write_text(
        past.read_text(encoding="utf-8") + f"\n## Action items\n\n- [ ] JRG: {EVIL}\n- [ ] JL: Review the docs\n",
        encoding="utf-8",
    )
    now = Bot(cfg, FixedClock(dt.datetime.fromisoformat(SERVE_NOW.replace("Z", "+00:00"))))
    add(now, "JL", "Discuss <em>conda</em> 26.1 & friends")
    add(now, "ADM", "Budget for CI")
    return cfg


def page(config) -> str:
    bot = Bot(config, FixedClock(dt.datetime.fromisoformat(SERVE_NOW.replace("Z", "+00:00"))))
    return render_meeting_page(bot, config.meeting("eco"))


def test_page_content_and_escaping(config):
    html = page(config)
    assert (
        '<time class="local when" id="next-time" datetime="2026-01-14T14:00:00Z">Wed 2026-01-14 14:00 UTC</time>'
        in html
    )
    # agenda so far, user text escaped
    assert "Discuss &lt;em&gt;conda&lt;/em&gt; 26.1 &amp; friends" in html
    assert "<em>conda</em>" not in html
    assert '<span class="owner">ADM</span>: Budget for CI' in html
    # open action items from the past meeting, by owner; the script tag is text, not markup
    assert "Ship the &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; release &amp; &lt;b&gt;party&lt;/b&gt;" in html
    assert "<script>alert" not in html
    assert 'JRG <span class="muted">— Jaime Rodríguez-Guerra</span>' in html
    assert 'JL <span class="muted">— Jannis Leidel</span>' in html
    assert html.index("Jaime Rodríguez-Guerra") < html.index("Ship the")  # grouped under the owner
    assert "Release plans" not in html  # a past meeting's topic is not an action item (issue 14)
    # links: notes, calendar, call, converter
    assert 'href="https://example.org/notes/20260114-eco.md"' in html
    assert 'href="https://example.org/notes/20260107-eco.md"' in html  # action items point at their file
    assert 'href="../calendar/eco.ics"' in html
    assert 'href="https://zoom.example/j/1"' in html
    assert "timeanddate.com/worldclock/fixedtime.html?iso=20260114T1400" in html
    assert "America/Los_Angeles: Wed 06:00" in html and "Asia/Tokyo: Wed 23:00" in html


def test_page_without_notes_yet(tmp_path):
    cfg = load_config(write_config(tmp_path, BASE_CONFIG))
    bot = Bot(cfg, FixedClock(dt.datetime(2026, 1, 2, tzinfo=UTC)))
    html = render_meeting_page(bot, cfg.meeting("eco"))
    assert "No items yet." in html and "No open action items." in html
    assert 'datetime="2026-01-07T17:00:00Z"' in html


@pytest.fixture
def server(config):
    bot = Bot(config, FixedClock(dt.datetime.fromisoformat(SERVE_NOW.replace("Z", "+00:00"))))
    srv = make_http_server(bot, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def fetch(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_http_routes(server):
    status, headers, body = fetch(server + "/")
    assert status == 200 and b'href="meetings/eco"' in body and b'href="calendar/eco.ics"' in body
    status, headers, body = fetch(server + "/meetings/eco")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert b"Budget for CI" in body
    status, headers, body = fetch(server + "/meetings/nope")
    assert status == 404 and b"Not found: /meetings/nope" in body
    assert b'href="../">All meetings' in body  # relative: works behind a proxy's path prefix
    assert b'href="./">All meetings' in fetch(server + "/nope")[2]
    assert b'href="../../">All meetings' in fetch(server + "/a/b/c")[2]
    status, headers, _ = fetch(server + "/meetings/eco/")
    assert status == 301 and headers["Location"] == "../eco"
    status, _, _ = fetch(server + "/calendar/nope.ics")
    assert status == 404
    status, _, body = fetch(server + "/meetings/%3Cscript%3E")
    assert status == 404 and b"<script>" not in body.split(b"</title>")[1]
    status, headers, body = fetch(server + "/calendar/eco.ics")
    assert status == 200 and headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert len(Calendar.from_ical(body).walk("VEVENT")) == 2
    status, headers, _ = fetch(server + "/meetings/eco", "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


# -- end to end: the real `chatbot serve` process, looked at by headless Chromium ---------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(config, tmp_path):
    port = free_port()
    env = dict(os.environ, CHATBOT_FAKE_NOW=SERVE_NOW)
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "serve", "-c", str(config.path), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if fetch(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chatbot serve did not start:\n" + (tmp_path / "serve.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chromium(tmp_path: Path, tz: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{tz.replace('/', '-')}-{len(list(tmp_path.iterdir()))}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = dict(os.environ, TZ=tz, LANG="en_US.UTF-8")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_visitor_sees_the_page_in_their_time_zone(served, tmp_path):
    url = served + "/meetings/eco"

    # readable without JavaScript: the UTC text is in the HTML itself
    _, _, raw = fetch(url)
    assert b">Wed 2026-01-14 14:00 UTC</time>" in raw

    tokyo = chromium(tmp_path, "Asia/Tokyo", "--dump-dom", url)
    assert tokyo.returncode == 0, tokyo.stderr
    dom = tokyo.stdout
    assert 'data-rendered="local"' in dom
    assert ">Wed 2026-01-14 23:00 Asia/Tokyo (UTC+09:00)</time>" in dom
    assert "Discuss &lt;em&gt;conda&lt;/em&gt; 26.1 &amp; friends" in dom  # shown as text, not markup
    assert "<em>conda</em>" not in dom
    assert '<span class="owner">ADM</span>: Budget for CI' in dom
    assert "Jaime Rodríguez-Guerra" in dom and "Ship the &lt;script&gt;" in dom
    assert "alert(" not in dom.split("Ship the", 1)[0].split("<body", 1)[1]  # nothing injected above

    la = chromium(tmp_path, "America/Los_Angeles", "--dump-dom", url)
    assert ">Wed 2026-01-14 06:00 America/Los_Angeles (UTC-08:00)</time>" in la.stdout

    png = tmp_path / "status-page.png"
    shot = chromium(tmp_path, "Asia/Tokyo", f"--screenshot={png}", "--window-size=1200,900", "--hide-scrollbars", url)
    assert shot.returncode == 0 and png.is_file(), shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 900)
    assert len(data) > 10_000  # not a blank page
    artifacts = HERE / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(png, artifacts / "status-page.png")


def test_serve_reports_a_port_in_use(config):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "chatbot", "serve", "-c", str(config.path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
