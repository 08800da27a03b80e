"""The platform-neutral bot: commands, identities, messages, reminders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chatbot.backends.slack import slack_sender
from chatbot.bot import Bot, Sender
from chatbot.config import load_config
from chatbot.messages import Link, Message, Time, UserText, render_plain
from chatbot.notes.files import NotesFiles
from chatbot.notes.parse import read_notes
from chatbot.runner import Reminders
from chatbot.schedule import next_occurrence

from conftest import FIXTURES, BASE_CONFIG, FixedClock, write_config

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # Monday before the 2026-01-07 17:00 UTC meeting
ME = Sender("cli", initials="JRG")


def slack_jl(bot: Bot) -> Sender:
    return slack_sender(bot.config, "U2", "jannis")


@pytest.fixture
def bot(config):
    return Bot(config, FixedClock(NOW))


def notes_path(bot: Bot) -> Path:
    return bot.config.resolve(bot.config.meeting().notes.directory) / "20260107-eco.md"


def test_template_renders_unchanged_except_the_date(bot):
    m = bot.config.meeting()
    occ = next_occurrence(m, NOW)
    text = NotesFiles(bot.config, m).render(occ)
    template = (FIXTURES / "agenda_template.md").read_text(encoding="utf-8")
    assert text == template.replace('{{ date.strftime("%Y-%m-%d") }}', "2026-01-07")
    # and the parser accepts it, with the agenda section holding a placeholder
    from chatbot.notes.parse import parse_notes

    notes = parse_notes(text)
    sec = notes.section("New agenda items")
    assert sec and [it.is_placeholder for it in notes.top_items(sec)] == [True]
    assert notes.metadata == {"tags": ["meeting-notes"]}


def test_add_creates_next_notes_from_template_and_replaces_placeholder(bot):
    msg = bot.handle("/agenda add Release plans for 26.1", ME)
    assert msg.ok, render_plain(msg)
    p = notes_path(bot)
    text = p.read_text()
    assert "## New agenda items\n\n- [ ] JRG: Release plans for 26.1\n\n## Deferred" in text
    assert "as item 1" in render_plain(msg)
    assert any(
        isinstance(s, Link) and s.url == "https://example.org/notes/20260107-eco.md" for line in msg.lines for s in line
    )
    assert render_plain(msg.announcement) == "JRG added an agenda item for 2026-01-07: Release plans for 26.1"
    msg2 = bot.handle("agenda add Second thing", slack_jl(bot))
    assert msg2.ok and "as item 2" in render_plain(msg2)
    assert "- [ ] JRG: Release plans for 26.1\n- [ ] JL: Second thing\n" in p.read_text()


def test_list_and_remove(bot):
    for t in ("one", "two", "three"):
        bot.handle(f"agenda add {t}", ME)
    listing = render_plain(bot.handle("agenda list", slack_jl(bot)))
    assert "1. JRG: one\n2. JRG: two\n3. JRG: three" in listing
    refused = bot.handle("agenda remove 2", slack_jl(bot))
    assert not refused.ok and "only its owner or an admin" in render_plain(refused)
    ok = bot.handle("agenda remove 2", ME)
    assert ok.ok and "JRG: two" in render_plain(ok)
    admin = bot.handle("agenda remove 1", slack_sender(bot.config, "U9"))
    assert admin.ok
    assert render_plain(bot.handle("agenda list", ME)).count("JRG:") == 1
    bot.handle("agenda remove 1", ME)
    # the last item removed: the template placeholder is back
    assert "## New agenda items\n\n- [ ] ...\n\n## Deferred" in notes_path(bot).read_text()


def test_list_before_any_notes_exist(bot):
    out = render_plain(bot.handle("agenda list", ME))
    assert "Agenda for Conda Ecosystem Meeting on 2026-01-07" in out and "No items yet" in out
    assert not notes_path(bot).exists()


@pytest.mark.parametrize(
    "text,problem",
    [
        ("agenda add", "empty"),
        ("agenda add    ", "empty"),
        ("agenda add " + "x" * 1001, "limit is 1000"),
        ("agenda remove", "by its number"),
        ("agenda remove two", "by its number"),
        ("agenda remove 7", "no agenda for 2026-01-07 yet"),
        ("agenda frobnicate", "unknown agenda command 'frobnicate'"),
        ("dance", "unknown command 'dance'"),
    ],
)
def test_bad_input_gets_a_clear_answer(bot, text, problem):
    msg = bot.handle(text, ME)
    assert not msg.ok
    assert problem in render_plain(msg)
    assert not notes_path(bot).exists()


def test_structure_breaking_text_is_one_safe_line(bot):
    bot.handle("agenda add ## Not a heading\n- not a sub item\n@channel look", ME)
    notes = read_notes(notes_path(bot))
    assert [h.title for h in notes.headings] == [
        "2026-01-07 Conda Ecosystem Meeting",
        "Attendees",
        "Introductions",
        "Announcements",
        "From previous meetings",
        "New agenda items",
        "Deferred to next meeting",
    ]
    items = [it for it in notes.items if it.text.startswith("JRG:")]
    assert len(items) == 1
    assert items[0].text == "JRG: \\## Not a heading - not a sub item @channel look"


def test_text_with_a_lone_surrogate_is_added_not_a_traceback(bot):
    """JSON from a chat platform can carry a lone UTF-16 surrogate ("\\ud800"); it cannot be
    written as UTF-8 and used to escape as UnicodeEncodeError."""
    msg = bot.handle("agenda add broken \ud800 emoji \U0001f389", ME)
    assert msg.ok, render_plain(msg)
    assert "- [ ] JRG: broken \ufffd emoji \U0001f389\n" in notes_path(bot).read_bytes().decode("utf-8")


@pytest.mark.parametrize("initials", ["Q\n## Injected", "A B: c", "J-R", "@channel"])
def test_initials_given_directly_must_be_initials(bot, initials):
    """`chatbot agenda add x --as 'Q<newline>## Injected'` (and the console's --as) wrote a
    heading into the notes file; 'A B: c' wrote an item no owner check could match."""
    msg = bot.handle("agenda add hello", Sender("cli", initials=initials))
    assert not msg.ok and "not initials" in render_plain(msg)
    assert not notes_path(bot).exists()


def test_initials_given_directly_may_have_spaces_around_them(bot):
    """'--as "jrg "' is JRG from the roster, not an unknown 'JRG ' who cannot remove it later."""
    assert bot.handle("agenda add hello", Sender("cli", initials=" jrg ")).ok
    assert "- [ ] JRG: hello\n" in notes_path(bot).read_text()
    assert bot.handle("agenda remove 1", Sender("cli", initials="JL")).ok is False
    assert bot.handle("agenda remove 1", Sender("cli", initials="jrg")).ok


def test_unknown_platform_user_is_told_how_to_be_added(bot):
    msg = bot.handle("agenda add hi", slack_sender(bot.config, "U404", "stranger"))
    text = render_plain(msg)
    assert not msg.ok and "U404" in text and "[[people]]" in text and "slack_id" in text
    assert not notes_path(bot).exists()
    ok = bot.handle("agenda add hi", slack_sender(bot.config, "U404", "Sam Doe"), allow_unknown=True)
    assert ok.ok and "- [ ] SD: hi" in notes_path(bot).read_text()


def test_unknown_user_is_not_told_where_the_config_lives_on_the_server(bot):
    """The answer names the config file for the maintainers, not its absolute path on the
    bot's machine (which is none of a chat user's business)."""
    text = render_plain(bot.handle("agenda add hi", slack_sender(bot.config, "U404", "stranger")))
    assert bot.config.path.name in text
    assert str(bot.config.path.parent) not in text


def test_a_name_that_makes_someone_elses_initials_does_not_let_an_unknown_user_remove_their_items(bot):
    """allow_unknown_users lets people outside the roster *add* items under initials made
    from their display name; "Jaime R Guerra" (not in the roster) makes JRG, but must not be
    able to remove JRG's items."""
    assert bot.handle("agenda add Release plans", ME).ok
    impostor = slack_sender(bot.config, "U666", "Jaime R Guerra")
    refused = bot.handle("agenda remove 1", impostor, allow_unknown=True)
    assert not refused.ok and "[[people]]" in render_plain(refused)
    assert "- [ ] JRG: Release plans\n" in notes_path(bot).read_text()
    assert bot.handle("agenda add mine", impostor, allow_unknown=True).ok  # adding still works


def test_reminder_is_sent_when_the_notes_file_is_refused(bot, tmp_path):
    """A notes file the bot will not read (a symlink out of the notes directory) leaves the
    agenda out of the reminder; the reminder itself still goes out."""
    p = notes_path(bot)
    p.parent.mkdir(parents=True)
    (tmp_path / "elsewhere.md").write_text("# not notes\n", encoding="utf-8")
    p.symlink_to(tmp_path / "elsewhere.md")
    m = bot.config.meeting()
    msg = bot.reminder(m, next_occurrence(m, NOW), dt.timedelta(hours=24))
    text = render_plain(msg)
    assert "starts in" in text and "could not be read" in text


def test_malformed_notes_file_is_reported_and_not_written(bot):
    p = notes_path(bot)
    p.parent.mkdir(parents=True)
    p.write_text("---\ntags: [broken\n---\n# x\n## New agenda items\n")
    before = p.read_bytes()
    msg = bot.handle("agenda add hi", ME)
    assert not msg.ok and str(p) in render_plain(msg) and "YAML" in render_plain(msg)
    assert p.read_bytes() == before


def test_help_lists_commands(bot):
    out = render_plain(bot.handle("help", ME))
    for cmd in ("agenda add TEXT", "agenda list", "agenda remove N", "next"):
        assert cmd in out
    assert render_plain(bot.handle("/agenda", ME)) == out


def test_help_spells_the_commands_as_the_platform_has_them(bot):
    """On Slack people type slash commands (possibly renamed): the help says `/agenda add TEXT`,
    `/next`, `/agenda help`, not the bare words Slack would post as a chat message."""
    spelled = {"agenda": "/meeting", "next": "/when", "actions": "/actions"}
    out = render_plain(bot.handle("help", ME, spelled=spelled))
    for usage in ("`/meeting add TEXT`", "`/meeting list`", "`/when`", "`/actions mine`", "`/meeting help`"):
        assert usage in out
    assert "`agenda add TEXT`" not in out and "`next`" not in out
    # a command this platform has no name for keeps the core spelling
    out = render_plain(bot.handle("help", ME, spelled={"agenda": "/agenda"}))
    assert "`/agenda add TEXT`" in out and "`next`" in out
    # so do the hints after a mistyped command
    out = render_plain(bot.handle("agenda ad x", ME, spelled=spelled))
    assert "Try `/meeting add TEXT`, `/meeting list`, `/meeting remove N` or `/meeting help`." in out
    assert render_plain(bot.handle("frobnicate", ME, spelled=spelled)).endswith("Try `/meeting help`.")
    assert (
        "Try `/actions`, `/actions mine`, `/actions done N`, `/actions add OWNER: TEXT`, `/actions review`, "
        "`/actions track N` or `/actions reject N`." in render_plain(bot.handle("actions frob", ME, spelled=spelled))
    )
    assert "Try `agenda add TEXT`, `agenda list`, `agenda remove N` or `help`." in render_plain(
        bot.handle("agenda ad x", ME)
    )


def test_next_shows_zones_with_day_shift(bot):
    msg = bot.handle("/next", ME)
    out = render_plain(msg)
    assert "Wed 2026-01-07 17:00 UTC" in out
    assert "America/Los_Angeles: Wed 09:00" in out
    assert "Asia/Tokyo: Thu 02:00 (+1 day)" in out
    times = [s for line in msg.lines for s in line if isinstance(s, Time)]
    assert times[0].at == dt.datetime(2026, 1, 7, 17, tzinfo=UTC)


def test_minus_one_day(tmp_path):
    cfg = load_config(
        write_config(
            tmp_path,
            BASE_CONFIG.replace(
                'timezones = ["UTC", "America/Los_Angeles", "Asia/Tokyo"]', 'timezones = ["Pacific/Honolulu"]'
            ).replace("time = 17:00:00", "time = 02:00:00"),
        )
    )
    out = render_plain(Bot(cfg, FixedClock(NOW)).handle("next", ME))
    assert "Pacific/Honolulu: Tue 16:00 (−1 day)" in out


def test_reminder_message(bot):
    bot.handle("agenda add Release plans <b>", ME)
    m = bot.config.meeting()
    occ = next_occurrence(m, NOW)
    msg = bot.reminder(m, occ, dt.timedelta(minutes=15))
    out = render_plain(msg)
    assert out.splitlines()[0] == "*Conda Ecosystem Meeting* starts in 15 min: Wed 2026-01-07 17:00 UTC"
    assert "https://zoom.example/j/1" in out
    assert "1. JRG: Release plans <b>" in out
    assert any(isinstance(s, UserText) and s.text == "JRG: Release plans <b>" for line in msg.lines for s in line)
    assert msg.kind == "reminder"


class Recorder:
    name = "rec"

    def __init__(self):
        self.posts = []

    def wants(self, meeting):
        return True

    def post(self, meeting, message):
        self.posts.append((meeting.id, render_plain(message)))


def test_reminder_service_posts_once_and_respects_grace(config):
    clock = FixedClock(dt.datetime(2026, 1, 6, 17, 0, 5, tzinfo=UTC))
    bot = Bot(config, clock)
    rec = Recorder()
    rem = Reminders(bot, rec)
    rem.fire("eco")
    rem.fire("eco")  # the same reminder again: not posted twice
    assert len(rec.posts) == 1 and "starts in 1 d" in rec.posts[0][1]
    # 9 minutes late for the 15-minute reminder: still inside the 10-minute grace
    clock.now = dt.datetime(2026, 1, 7, 16, 54, tzinfo=UTC)
    rem.fire("eco")
    assert len(rec.posts) == 2 and "starts in 6 min" in rec.posts[1][1]  # the truth, not "15 min"
    # the meeting started: a missed 15-minute reminder is never sent late
    rem2 = Reminders(bot, rec)
    clock.now = dt.datetime(2026, 1, 7, 17, 1, tzinfo=UTC)
    rem2.fire("eco")
    assert len(rec.posts) == 2
    # the 24 h reminder for 2026-01-14 14:00 was due 2026-01-13 14:00: 11 minutes late is
    # past the grace period (skipped), 9 minutes late is not (sent)
    clock.now = dt.datetime(2026, 1, 13, 14, 11, tzinfo=UTC)
    Reminders(bot, rec).fire("eco")
    assert len(rec.posts) == 2
    clock.now = dt.datetime(2026, 1, 13, 14, 9, tzinfo=UTC)
    Reminders(bot, rec).fire("eco")
    assert len(rec.posts) == 3 and "starts in 1 d" in rec.posts[2][1]


def test_allowed_places_and_editors(tmp_path):
    text = BASE_CONFIG.replace(
        'default_meeting = "eco"', 'default_meeting = "eco"\nallowed_places = ["C1"]\neditors = ["JL"]'
    )
    bot = Bot(load_config(write_config(tmp_path, text)), FixedClock(NOW))
    refused = bot.handle("agenda add hi", ME, place="C-random")
    assert not refused.ok and "not accepted here" in render_plain(refused)
    assert bot.handle("agenda add from the channel", ME, place="C1").ok
    assert bot.handle("agenda add by DM", ME, place=None).ok
    # JRG owns the items but is not an editor; JL is
    no = bot.handle("agenda remove 1", ME)
    assert not no.ok and "only JL (and admins) can remove" in render_plain(no)
    assert bot.handle("agenda remove 1", slack_jl(bot)).ok
    assert bot.handle("agenda remove 1", slack_sender(bot.config, "U9")).ok  # admin


@pytest.mark.parametrize("initials", ["J", "ABCDEF", "Jl2"])
def test_people_whose_initials_are_not_owner_shaped_can_remove_their_own_items(tmp_path, initials):
    """The roster accepts initials such as 'J', 'ABCDEF' or 'Jl2'; the notes parser only reads
    2-5 capitals as owners. The bot wrote '- [ ] J: ...' and then refused to let J remove it."""
    text = BASE_CONFIG + f'\n[[people]]\ninitials = "{initials}"\nname = "Odd Initials"\nslack_id = "U7"\n'
    bot = Bot(load_config(write_config(tmp_path, text)), FixedClock(NOW))
    odd = slack_sender(bot.config, "U7")
    assert bot.handle("agenda add mine", odd).ok
    assert bot.handle("agenda add yours", ME).ok
    other = bot.handle("agenda remove 1", ME)
    assert not other.ok and "only its owner or an admin" in render_plain(other)
    removed = bot.handle("agenda remove 1", odd)
    assert removed.ok, render_plain(removed)
    assert f"{initials}: mine" not in notes_path(bot).read_text()
    assert not bot.handle("agenda remove 1", odd).ok  # JRG's item stays JRG's


def test_a_template_that_renders_unparseable_notes_is_named_in_the_error(tmp_path):
    """The error used to name the notes file, which was never created: nothing to open and fix."""
    cfg = load_config(write_config(tmp_path, template="---\ntags: [broken\n---\n# T\n## New agenda items\n- [ ] ...\n"))
    bot = Bot(cfg, FixedClock(NOW))
    msg = bot.handle("agenda add hi", ME)
    text = render_plain(msg)
    assert not msg.ok and str(tmp_path / "template.md") in text and "not valid YAML" in text
    assert not notes_path(bot).exists() and "20260107-eco.md" not in text


def test_a_template_that_is_not_utf8_is_a_clear_error(tmp_path):
    cfg = load_config(write_config(tmp_path))
    (tmp_path / "template.md").write_bytes("# Caf\xe9 {{ date }}\n## New agenda items\n".encode("latin-1"))
    bot = Bot(cfg, FixedClock(NOW))
    msg = bot.handle("agenda add hi", ME)
    text = render_plain(msg)
    assert not msg.ok and str(tmp_path / "template.md") in text and "not UTF-8" in text
    assert not notes_path(bot).exists()


def test_a_template_with_a_comment_that_is_never_closed_is_refused(tmp_path):
    cfg = load_config(write_config(tmp_path, template="# T\n## New agenda items\n\n<!-- add items below\n"))
    bot = Bot(cfg, FixedClock(NOW))
    msg = bot.handle("agenda add hi", ME)
    text = render_plain(msg)
    assert not msg.ok and str(tmp_path / "template.md") in text and "HTML comment opened on line 4" in text
    assert not notes_path(bot).exists()


@pytest.mark.parametrize("text", ["@**all**", "agenda <!channel>", "actions @everyone"])
def test_a_typed_unknown_command_is_quoted_as_user_text(bot, text):
    """The word a person typed comes back as user text, which every platform defuses (a
    mention of @**all** quoted as the bot's own text would ping the whole stream)."""
    word = text.split()[-1]
    msg = bot.handle(text, Sender("cli", initials="JRG"))
    assert not msg.ok
    quoted = [seg for line in msg.lines for seg in line if isinstance(seg, UserText)]
    assert [seg.text for seg in quoted] == [word]
    assert word not in "".join(seg.text for line in msg.lines for seg in line if not isinstance(seg, UserText))


def test_mass_mentions_are_stored_readable_and_defused_only_in_chat(bot):
    """The notes keep what was typed (no invisible characters in the users' document); what
    the bot posts defuses it, on every platform."""
    from chatbot.backends.slack import render_mrkdwn
    from chatbot.backends.zulip import render_zulip

    msg = bot.handle("agenda add Ask @here and @channel about it", ME)
    assert msg.ok
    text = notes_path(bot).read_text(encoding="utf-8")
    assert "- [ ] JRG: Ask @here and @channel about it\n" in text and "\u200b" not in text
    listing = bot.handle("agenda list", ME)
    for rendered in (render_plain(listing), render_mrkdwn(listing), render_zulip(listing)):
        assert "@here" not in rendered.replace("\u200b@here", "") and "\u200b" in rendered


def test_every_renderer_renders_every_segment_kind_and_refuses_an_unknown_one():
    """One method per segment kind (console, Slack, Zulip): a new kind is never dropped silently."""
    from chatbot.backends.slack import MRKDWN
    from chatbot.backends.zulip import ZulipRenderer
    from chatbot.config import schema
    from chatbot.messages import PLAIN, Mention, Message, Text, render

    person = schema().person(initials="JRG", name="Jaime", slack_id="U1", zulip_email="j@example.org")
    msg = Message().add(
        Text("T", bold=True), UserText("u"), Time(NOW, "Mon"), Link("https://x.example", "x"), Mention(person)
    )
    for renderer in (PLAIN, MRKDWN, ZulipRenderer()):
        out = render(renderer, msg)
        assert "T" in out and "u" in out and "x" in out and ("JRG" in out or "Jaime" in out or "U1" in out)

    class Strange:
        pass

    odd = Message()
    odd.lines.append((Strange(),))  # type: ignore[arg-type]
    for renderer in (PLAIN, MRKDWN, ZulipRenderer()):
        with pytest.raises(TypeError):
            render(renderer, odd)


def test_the_core_decides_where_a_ping_goes(bot):
    """DM or channel is the core's rule; a backend only says whether it can reach the person."""
    from chatbot.backends.base import Backend
    from chatbot.compose import ping_directly

    dm = bot.config.meeting()  # [meetings.actions] ping = "dm" by default
    channel = dm.model_copy(update={"actions": dm.actions.model_copy(update={"ping": "channel"})})
    assert ping_directly(dm, True) and not ping_directly(dm, False) and not ping_directly(channel, True)

    class Recorder(Backend):
        name = "recorder"

        def __init__(self, bot, reachable):
            super().__init__(bot)
            self.reachable, self.got = reachable, []

        def reaches_directly(self, person):
            return self.reachable

        def send_direct(self, meeting, person, message, key=None):
            self.got.append(("direct", person.initials, key))

        def post(self, meeting, message):
            self.got.append(("channel", meeting.id, None))

        def render(self, message):
            return render_plain(message)

        def run(self, stop):
            pass

    jrg = bot.config.person_by(initials="JRG")
    ping = Message().add("hi")
    for meeting, reachable, expected in [
        (dm, True, ("direct", "JRG", "k")),
        (dm, False, ("channel", "eco", None)),
        (channel, True, ("channel", "eco", None)),
    ]:
        backend = Recorder(bot, reachable)
        backend.notify_once(meeting, jrg, ping, "k")
        assert backend.got == [expected]
