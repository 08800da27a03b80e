"""Action-item pings at the owner's waking hours: the pure timing (schedule.ping_time) and the
config keys it reads."""

from __future__ import annotations

import datetime as dt

import pytest

from chatbot.config import parse_waking_hours
from chatbot.schedule import ping_time

DAY = (dt.time(9), dt.time(18))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_without_a_zone_or_window_it_is_ping_before():
    start = at("2026-01-07T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), None, DAY) == at("2026-01-05T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), "Asia/Tokyo", None) == at("2026-01-05T17:00:00Z")


def test_inside_the_window_nothing_moves():
    # 2026-03-09 17:00 UTC is 10:00 in Los Angeles (PDT since 03-08)
    start = at("2026-03-11T17:00:00Z")
    assert ping_time(start, dt.timedelta(days=2), "America/Los_Angeles", DAY) == at("2026-03-09T17:00:00Z")


def test_tokyo_night_moves_to_the_nearest_morning():
    # ideal 2026-03-09 17:00 UTC = 02:00 JST on 03-10; 09:00 JST (00:00 UTC) is 7 h later,
    # 18:00 JST the evening before 8 h earlier
    start = at("2026-03-11T17:00:00Z")
    got = ping_time(start, dt.timedelta(days=2), "Asia/Tokyo", DAY)
    assert got == at("2026-03-10T00:00:00Z")
    assert got.astimezone(dt.timezone(dt.timedelta(hours=9))).time() == dt.time(9)


def test_tokyo_late_evening_moves_back_to_the_window_end():
    # ideal 11:00 UTC = 20:00 JST: 18:00 JST (2 h earlier) beats 09:00 next day (13 h later)
    start = at("2026-06-03T11:00:00Z")
    assert ping_time(start, dt.timedelta(days=1), "Asia/Tokyo", DAY) == at("2026-06-02T09:00:00Z")


@pytest.mark.parametrize(
    "ideal, expected",
    [
        # the morning before the spring-forward Sunday (PST, UTC-8): 07:00 -> 09:00 PST
        ("2026-03-07T15:00:00Z", "2026-03-07T17:00:00Z"),
        # the spring-forward Sunday itself (PDT, UTC-7 from 02:00): 08:00 -> 09:00 PDT
        ("2026-03-08T15:00:00Z", "2026-03-08T16:00:00Z"),
        # Saturday 20:00 PST before the switch: back to 18:00 PST, not on to Sunday 09:00 PDT
        ("2026-03-08T04:00:00Z", "2026-03-08T02:00:00Z"),
        # the fall-back Sunday (PST again from 02:00): 07:00 -> 09:00 PST
        ("2026-11-01T15:00:00Z", "2026-11-01T17:00:00Z"),
        # the day before it (PDT): 08:00 -> 09:00 PDT
        ("2026-10-31T15:00:00Z", "2026-10-31T16:00:00Z"),
    ],
)
def test_los_angeles_across_dst(ideal, expected):
    before = dt.timedelta(days=3)
    start = at(ideal) + before
    got = ping_time(start, before, "America/Los_Angeles", DAY)
    assert got == at(expected)
    # always within the local window
    local = got.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles")).time()
    assert dt.time(9) <= local <= dt.time(18)


def test_never_at_or_after_the_start():
    # Los Angeles, meeting at 09:00 PST, ping 2 h before (07:00): 09:00 that day is the start
    # itself, so the evening before (18:00 PST = 02:00 UTC) it is
    start = at("2026-01-07T17:00:00Z")
    got = ping_time(start, dt.timedelta(hours=2), "America/Los_Angeles", DAY)
    assert got == at("2026-01-07T02:00:00Z")
    assert got < start
    # a window that ends after the start is cut at the start
    start = at("2026-01-07T17:30:00Z")  # 09:30 PST
    got = ping_time(start, dt.timedelta(hours=3), "America/Los_Angeles", DAY)  # ideal 06:30
    assert at("2026-01-07T17:00:00Z") <= got < start


def test_a_window_across_midnight():
    night = (dt.time(22), dt.time(6))
    start = at("2026-01-10T12:00:00Z")
    # ideal 12:00 UTC = 21:00 JST: 22:00 JST is an hour later
    assert ping_time(start, dt.timedelta(days=1), "Asia/Tokyo", night) == at("2026-01-09T13:00:00Z")


def test_a_window_edge_in_the_spring_forward_gap_moves_forward():
    gap = (dt.time(2, 30), dt.time(18))  # 02:30 does not exist in Los Angeles on 2026-03-08
    start = at("2026-03-09T17:00:00Z")
    got = ping_time(start, dt.timedelta(days=1, hours=8), "America/Los_Angeles", gap)  # ideal 01:00 PST
    assert got == at("2026-03-08T10:30:00Z")  # 03:30 PDT


@pytest.mark.parametrize(
    "text, expected",
    [
        ("09:00-18:00", (dt.time(9), dt.time(18))),
        (" 8:30 - 17:45 ", (dt.time(8, 30), dt.time(17, 45))),
        ("22:00-06:00", (dt.time(22), dt.time(6))),
        ("00:00-24:00", (dt.time(0), dt.time(23, 59))),
    ],
)
def test_waking_hours_are_parsed(text, expected):
    assert parse_waking_hours(text) == expected


@pytest.mark.parametrize("bad", ["9-18", "25:00-18:00", "09:00-09:00", "09:61-10:00", 9, ""])
def test_bad_waking_hours_are_refused(bad):
    with pytest.raises(ValueError):
        parse_waking_hours(bad)


# ---------------------------------------------------------------------------------------
# The runner: each owner's ping at their own moment, once; the summary at ping_before

from chatbot.bot import Bot  # noqa: E402
from chatbot.config import ConfigError, load_config  # noqa: E402
from chatbot.messages import render_plain  # noqa: E402
from chatbot.runner import Reminders  # noqa: E402
from chatbot.state import Ledger  # noqa: E402

from conftest import BASE_CONFIG, FixedClock, write_config  # noqa: E402

ATT = "## Attendees\n| Name | Initials | GH Username |\n| -- | -- | -- |\n| Jaime | JRG | jaimergp |\n\n"


class Recorder:
    name = "rec"

    def __init__(self, zones=None):
        self.posts, self.dms = [], []
        self.zones = zones or {}
        self.ledger = None

    def wants(self, meeting):
        return True

    def post(self, meeting, message):
        self.posts.append(render_plain(message))

    def notify(self, meeting, person, message):
        self.dms.append((person.initials, render_plain(message)))

    def timezone_of(self, person):
        return self.zones.get(person.initials)


def _bot(tmp_path, waking='waking_hours = "09:00-18:00"', jrg_zone='timezone = "Asia/Tokyo"'):
    text = BASE_CONFIG.replace("[meetings.destinations]", f"[meetings.actions]\n{waking}\n\n[meetings.destinations]")
    text = text.replace('zulip_email = "jaime@example.org"\n', f'zulip_email = "jaime@example.org"\n{jrg_zone}\n')
    text = text.replace('slack_id = "U2"\n', 'slack_id = "U2"\ntimezone = "America/Los_Angeles"\n')
    cfg = load_config(write_config(tmp_path, text))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "20260121-eco.md").write_text(f"# b\n{ATT}## Action items\n- [ ] JRG: one\n- [ ] JL: two\n")
    return Bot(cfg, FixedClock(at("2026-02-01T12:00:00Z")))


def test_pings_go_out_in_each_owners_daytime_once(tmp_path):
    # the meeting: 2026-02-04 17:00 UTC; ping_before 2 d: 2026-02-02 17:00 UTC, which is 09:00 in
    # Los Angeles (JL) and 02:00 in Tokyo (JRG): JRG's ping waits for 09:00 JST (00:00 UTC)
    bot = _bot(tmp_path)
    rec = Recorder()
    rem = Reminders(bot, rec, Ledger(tmp_path / "state.sqlite3"))
    eco = bot.config.meeting("eco")
    assert rem.next_ping_moment(eco, at("2026-02-01T12:00:00Z")) == at("2026-02-02T17:00:00Z")
    bot.clock.now = at("2026-02-02T17:00:30Z")
    rem.fire_pings("eco")
    assert [who for who, _ in rec.dms] == ["JL"]
    (summary,) = rec.posts
    assert "@JL" not in summary and "• Jannis Leidel: 1" in summary
    assert "@JRG" not in summary  # pinged later by their own message: not mentioned here
    assert rem.next_ping_moment(eco, at("2026-02-02T17:00:31Z")) == at("2026-02-03T00:00:00Z")
    bot.clock.now = at("2026-02-02T23:59:00Z")  # still night in Tokyo
    rem.fire_pings("eco")
    assert len(rec.dms) == 1
    bot.clock.now = at("2026-02-03T00:00:20Z")
    rem.fire_pings("eco")
    assert [who for who, _ in rec.dms] == ["JL", "JRG"]
    assert "one" in rec.dms[1][1]
    rem.fire_pings("eco")
    rem.ledger.close()
    # a restart sends nothing again
    again = Reminders(bot, rec, Ledger(tmp_path / "state.sqlite3"))
    again.fire_pings("eco")
    assert len(rec.dms) == 2 and len(rec.posts) == 1


def test_the_platforms_zone_is_used_without_a_roster_zone(tmp_path):
    bot = _bot(tmp_path, jrg_zone="")
    rem = Reminders(bot, Recorder({"JRG": "Asia/Tokyo"}), Ledger(":memory:"))
    eco = bot.config.meeting("eco")
    occ = bot.next_meeting(eco)
    jrg = bot.config.person_by(initials="JRG")
    assert rem.ping_moment(eco, occ, jrg) == at("2026-02-03T00:00:00Z")
    rem.backend.zones = {"JRG": "Not/AZone"}  # an unknown zone from the platform: ping_before
    assert rem.ping_moment(eco, occ, jrg) == at("2026-02-02T17:00:00Z")


def test_without_waking_hours_everyone_is_pinged_at_ping_before(tmp_path):
    bot = _bot(tmp_path, waking="")
    rec = Recorder()
    rem = Reminders(bot, rec, Ledger(":memory:"))
    bot.clock.now = at("2026-02-02T17:00:30Z")
    rem.fire_pings("eco")
    assert sorted(who for who, _ in rec.dms) == ["JL", "JRG"]


def test_a_missed_moment_is_not_sent_after_the_grace_period_or_the_start(tmp_path):
    bot = _bot(tmp_path)
    rec = Recorder()
    rem = Reminders(bot, rec, Ledger(":memory:"))
    bot.clock.now = at("2026-02-03T00:30:00Z")  # 30 min after JRG's moment, grace is 10 min
    rem.fire_pings("eco")
    assert rec.dms == []


@pytest.mark.parametrize(
    "line, problem",
    [
        ('timezone = "Mars/Olympus"', "unknown time zone"),
    ],
)
def test_a_bad_person_zone_is_named(tmp_path, line, problem):
    text = BASE_CONFIG.replace('slack_id = "U2"\n', f'slack_id = "U2"\n{line}\n')
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path, text))
    assert "people" in str(exc.value) and "timezone" in str(exc.value) and problem in str(exc.value)


def test_bad_waking_hours_in_the_config_are_named(tmp_path):
    text = BASE_CONFIG.replace(
        "[meetings.destinations]", '[meetings.actions]\nwaking_hours = "9 to 5"\n\n[meetings.destinations]'
    )
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path, text))
    assert "waking_hours" in str(exc.value)


def test_remind_due_sends_each_ping_at_its_owners_moment_once(tmp_path):
    """``chatbot remind --due`` from cron does what the running bot does."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    _bot(tmp_path)  # the config and the notes

    def remind(now: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "CHATBOT_FAKE_NOW": now}
        env.pop("CHATBOT_CONFIG", None)
        return subprocess.run(
            [sys.executable, "-m", "chatbot", "remind", "--due", "--config", str(tmp_path / "chatbot.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=Path(__file__).parent.parent,
        )

    la = remind("2026-02-02T17:02:00Z")  # 09:02 in Los Angeles, 02:02 in Tokyo
    assert la.returncode == 0, la.stderr
    assert "@JL you have 1 open action item(s)" in la.stdout and "@JRG you have" not in la.stdout
    assert "Open action items before Conda Ecosystem Meeting" in la.stdout
    assert remind("2026-02-02T17:05:00Z").stdout == ""
    tokyo = remind("2026-02-03T00:03:00Z")  # 09:03 in Tokyo
    assert "@JRG you have 1 open action item(s)" in tokyo.stdout and "@JL" not in tokyo.stdout
    assert remind("2026-02-03T00:06:00Z").stdout == ""


def test_slack_reports_the_zone_of_the_users_account(tmp_path):
    """Slack: ``users.info`` ``tz`` (the fake answers as Slack does) is the person's zone."""
    from fakes.slack import FakeSlack
    from test_slack import APP_TOKEN, BOT_TOKEN, _config

    from chatbot.backends.slack import SlackBackend

    with FakeSlack(
        BOT_TOKEN,
        APP_TOKEN,
        channels={"C0CONDAECO": "conda-ecosystem"},
        users={"U0JAIME": {"name": "jaime", "tz": "Asia/Tokyo"}},
    ) as fake:
        config = load_config(_config(tmp_path, api_url=fake.api_url))
        backend = SlackBackend(Bot(config), env={"SLACK_BOT_TOKEN": BOT_TOKEN})
        jaime = config.person_by(slack_id="U0JAIME")
        assert backend.timezone_of(jaime) is None  # nothing asked yet: no network
        backend.learn_people()
        assert backend.timezone_of(jaime) == "Asia/Tokyo"
        asked = len(fake.calls("users.info"))
        backend.learn_people()  # within 5 minutes: not asked again
        assert len(fake.calls("users.info")) == asked
