"""``actions add OWNER: text``: where the line goes in the notes, which meeting's notes, who
may be an owner, what is refused, and that the extraction reads the line as an explicit
action item."""

from __future__ import annotations

import datetime as dt
import difflib

import pytest

from chatbot import actions as act
from chatbot.bot import Bot
from chatbot.config import load_config
from chatbot.identity import Sender
from chatbot.messages import render_plain
from chatbot.notes.action_edit import adding_action
from chatbot.notes.edit import EditError, apply_to_text
from chatbot.notes.parse import NotesError, parse_notes
from chatbot.schedule import current_occurrence

from conftest import BASE_CONFIG, FIXTURES, SHARED, SHARED_NOTES, UTC, FixedClock, write_config
from test_gitsync import repos  # noqa: F401  (the fixture)

TITLES = ["Action items", "Current action items", "Previous action items", "TODO"]
LINE = "- [ ] JRG: open an issue about the release"
TEMPLATE = (FIXTURES / "agenda_template.md").read_text(encoding="utf-8")
DURING = dt.datetime(2026, 1, 7, 17, 20, tzinfo=UTC)  # the meeting of 2026-01-07 17:00 UTC (1 hour)
NOTES = "20260107-eco.md"


def place(text: str, line: str = LINE) -> tuple[str, object]:
    return apply_to_text(text, adding_action(line, TITLES), "notes.md")


# -- placement (the pure line edit) --------------------------------------------------------


def test_no_action_section_appends_one_at_the_end_only_adding_lines():
    new, result = place(TEMPLATE)
    assert new.startswith(TEMPLATE)  # every line of the notes kept as it was
    assert new[len(TEMPLATE) :] == "\n## Action items\n\n- [ ] JRG: open an issue about the release\n"
    assert result.line == len(new.splitlines()) and "new “Action items” section" in result.place


def test_file_without_final_newline_keeps_having_none():
    text = "# Notes\n\nSome minutes"
    new, _ = place(text)
    assert new == "# Notes\n\nSome minutes\n\n## Action items\n\n- [ ] JRG: open an issue about the release"


def test_existing_section_placeholder_is_replaced():
    text = "# N\n\n## Action items\n\n- [ ] ...\n\n## Other\n\n- [ ] topic\n"
    new, result = place(text)
    assert new == text.replace("- [ ] ...", LINE) and result.line == 5
    assert "under “Action items”" in result.place


def test_existing_section_items_get_the_line_after_them_in_their_style_not_in_a_subsection():
    text = "# N\n\n### ACTION ITEMS\n* [ ] JL: one\n* [ ] JL: two\n  more of two\n\n#### Details\n\nprose\n"
    new, result = place(text)
    assert new == text.replace("  more of two\n", "  more of two\n* [ ] JRG: open an issue about the release\n")
    assert result.line == 7


def test_the_current_action_items_of_a_real_notes_file_not_the_previous_meetings():
    # 20200922: "#### Action Items" under "Last Meeting 20200908", then "### Current Action Items"
    path = SHARED / "archive" / "20200922_agenda_and_minutes.md"
    if not path.exists():
        pytest.skip("the shared notes corpus is not here")
    text = path.read_text(encoding="utf-8")
    new, result = place(text)
    notes = parse_notes(new)
    (added,) = [it for it in notes.items if it.text == LINE[6:]]
    assert added.section is not None and added.section.title == "Current Action Items"
    assert new.replace(LINE + "\n", "", 1) == text  # one line added, nothing else changed


def test_previous_action_items_section_is_not_where_new_ones_go():
    text = "# N\n\n## Previous action items\n\n- [ ] JL: old\n\n## Minutes\n\nx\n"
    new, result = place(text)
    assert new == text + "\n## Action items\n\n" + LINE + "\n"


def test_list_after_an_action_items_line():
    text = "# N\n\n## Minutes\n\nWe talked.\n\n**Action items:**\n\n1. JL: one\n2. JL: two\n\nThe end.\n"
    new, result = place(text)
    assert new == text.replace("2. JL: two\n", "2. JL: two\n3. [ ] JRG: open an issue about the release\n")
    assert "“**Action items:**” (line 7)" in result.place


def test_entries_nested_under_an_action_items_entry():
    text = "# N\n\n## Release\n\n- Discussion\n- Action items:\n    - JL: one\n- Later topic\n"
    new, _ = place(text)
    assert new == text.replace("    - JL: one\n", "    - JL: one\n    - [ ] JRG: open an issue about the release\n")
    bare = "# N\n\n## Release\n\n- Action items:\n- Later topic\n"
    new, _ = place(bare)
    assert new == bare.replace("- Action items:\n", "- Action items:\n  - [ ] JRG: open an issue about the release\n")


def test_a_label_without_a_list_after_it_is_not_used():
    text = "# N\n\nAction items:\nnone yet, we said\n"
    new, _ = place(text)
    assert new == text + "\n## Action items\n\n" + LINE + "\n"


def test_the_same_open_item_is_not_added_twice():
    once, _ = place(TEMPLATE)
    with pytest.raises(EditError, match="in the notes already"):
        place(once)


def test_unclosed_comment_at_the_end_refuses():
    with pytest.raises(NotesError, match="never closed"):
        place("# N\n\n<!-- a comment never closed\n\nmore\n")


@pytest.mark.parametrize(
    "text, form",
    [
        (TEMPLATE, "section"),
        ("# N\n\n## Action items\n\n- [ ] ...\n", "section"),
        ("# N\n\n## Minutes\n\nAction items:\n\n- JL: one\n", "list"),
    ],
)
def test_the_extraction_reads_the_written_line_as_an_explicit_action_item(tmp_path, text, form):
    config = load_config(write_config(tmp_path))
    meeting = config.meeting("eco")
    notes = tmp_path / "notes"
    notes.mkdir()
    new, _ = place(text)
    (notes / NOTES).write_text(new, encoding="utf-8")
    act.reset_caches()
    items = act.open_actions(config, meeting, dt.date(2026, 1, 21), today=dt.date(2026, 1, 21))
    (item,) = [it for it in items if it.body == "open an issue about the release"]
    assert item.explicit and item.form in (form, "checkbox", "section")
    assert [o.person.initials for o in item.owners if o.person] == ["JRG"]


# -- which meeting -------------------------------------------------------------------------


def test_current_occurrence_in_progress_later_that_day_not_the_next_day(tmp_path):
    meeting = load_config(write_config(tmp_path)).meeting("eco")
    at = lambda *a: current_occurrence(meeting, dt.datetime(*a, tzinfo=UTC))  # noqa: E731
    assert at(2026, 1, 7, 17, 0).date == dt.date(2026, 1, 7)  # it starts
    assert at(2026, 1, 7, 23, 59).date == dt.date(2026, 1, 7)  # after it, the same day
    assert at(2026, 1, 7, 16, 59) is None and at(2026, 1, 8, 0, 1) is None


# -- the command ---------------------------------------------------------------------------


@pytest.fixture
def bot(tmp_path):
    config = load_config(write_config(tmp_path))
    act.reset_caches()
    return Bot(config, FixedClock(DURING))


def run(bot: Bot, text: str):
    person = bot.config.person_by(initials="JRG")
    return bot.handle(text, Sender("slack", "U1", "jaime", person=person, id_field="slack_id"))


def notes_text(bot: Bot) -> str:
    return (bot.files(bot.config.meeting("eco")).directory / NOTES).read_text(encoding="utf-8")


def test_add_during_the_meeting_creates_the_notes_and_answers_where(bot):
    msg = run(bot, "action add jrg: open an issue about the release")
    assert msg.ok, render_plain(msg)
    text = notes_text(bot)
    assert text.endswith("\n## Action items\n\n- [ ] JRG: open an issue about the release\n")
    plain = render_plain(msg)
    assert "on 2026-01-07" in plain and "new “Action items” section" in plain
    assert "JRG: open an issue about the release" in plain
    assert msg.announcement is not None and "JRG noted an action item for JRG" in render_plain(msg.announcement)
    # a second one joins the section the first made; the spelling "actions add" works too
    assert run(bot, "actions add @jezdez, JRG: review the CEP").ok
    assert notes_text(bot).endswith("- [ ] JRG: open an issue about the release\n- [ ] @jezdez, JRG: review the CEP\n")


def test_add_later_the_same_day_goes_to_that_meetings_notes_the_next_day_is_refused(bot):
    bot.clock = FixedClock(dt.datetime(2026, 1, 7, 22, 0, tzinfo=UTC))
    assert run(bot, "actions add JRG: x y z").ok
    assert "- [ ] JRG: x y z" in notes_text(bot)
    bot.clock = FixedClock(dt.datetime(2026, 1, 8, 9, 0, tzinfo=UTC))
    msg = run(bot, "actions add JRG: too late")
    assert not msg.ok and "no Conda Ecosystem Meeting is in progress or was held earlier today" in render_plain(msg)
    assert "agenda add" in render_plain(msg)
    assert "too late" not in notes_text(bot)


def test_an_owner_from_the_attendee_list_is_accepted_and_said_to_be_unpingable(bot):
    directory = bot.files(bot.config.meeting("eco")).directory
    directory.mkdir(parents=True)
    text = TEMPLATE.replace('{{ date.strftime("%Y-%m-%d") }}', "2026-01-07").replace(
        "1. ...\n1. ...\n1. ...\n", "1. SD: Sam Doe (@samdoe), Company\n"
    )
    (directory / NOTES).write_text(text, encoding="utf-8")
    msg = run(bot, "actions add sd: write the blog post")
    assert msg.ok, render_plain(msg)
    assert notes_text(bot) == text + "\n## Action items\n\n- [ ] SD: write the blog post\n"
    assert "SD not in the roster" in render_plain(msg)


@pytest.mark.parametrize(
    "text, says",
    [
        ("actions add Release plans", "who owns it?"),
        ("actions add", "who owns it?"),
        ("actions add XYZ: something", "who is 'XYZ'?"),
        ("actions add JRG:   ", "has no text"),
        ("actions add JRG: " + "x" * 2000, "characters long"),
        ("actions add JRG: first line\nsecond line", "one line"),
        ("actions add JRG: # a heading", "a heading"),
        ("actions add JRG: - a list entry", "a list entry"),
        ("actions add JRG: [x] done already", "a checkbox"),
        ("actions add @-bad: x", "not a GitHub handle"),
        ("actions add A,B,C,D,E,F: x", "at most 5 owners"),
    ],
)
def test_refusals_say_why_and_change_nothing(bot, text, says):
    msg = run(bot, text)
    assert not msg.ok and says in render_plain(msg), render_plain(msg)
    assert not (bot.files(bot.config.meeting("eco")).directory / NOTES).exists()


def test_same_item_twice_acts_once(bot):
    assert run(bot, "actions add JRG: x").ok
    again = run(bot, "actions add JRG: x")
    assert not again.ok and "in the notes already" in render_plain(again)
    assert notes_text(bot).count("JRG: x") == 1


def test_someone_not_in_the_roster_may_not_add(bot):
    msg = bot.handle("actions add JRG: x", Sender("slack", "U77", "stranger", person=None, id_field="slack_id"))
    assert not msg.ok
    assert not (bot.files(bot.config.meeting("eco")).directory / NOTES).exists()


# -- notes in Git: the same hooks as agenda add -----------------------------------------------


def test_in_git_action_add_pulls_commits_and_pushes_like_agenda_add(tmp_path, repos):
    from test_gitsync import NOTES as GIT_NOTES
    from test_gitsync import PUSH, git, make_bot, remote_log

    remote, human, repo = repos
    bot = make_bot(tmp_path, repo / GIT_NOTES, PUSH + "pull = true\n", now=DURING)
    assert "⚠" not in render_plain(run(bot, "agenda add Release plans"))  # the meeting's notes, in Git
    # a maintainer adds an attendee in their clone and pushes, during the meeting
    git(human, "pull", "--quiet", "origin", "main")
    path = human / GIT_NOTES / NOTES
    path.write_text(path.read_text().replace("1. ...\n1. ...", "1. SD: Sam Doe (@samdoe)\n1. ..."))
    git(human, "commit", "--quiet", "-am", "attendees")
    git(human, "push", "--quiet", "origin", "HEAD:main")
    out = render_plain(run(bot, "action add SD: write the blog post"))
    assert "⚠" not in out and "Added an action item" in out, out  # SD known from the pulled attendee list
    assert remote_log(remote)[0] == "actions: add 'SD: write the blog post' to 2026-01-07 (JRG)"
    text = git(remote, "show", f"main:{GIT_NOTES}/{NOTES}")
    assert "1. SD: Sam Doe (@samdoe)" in text and text.endswith("## Action items\n\n- [ ] SD: write the blog post")
    assert git(repo, "status", "--porcelain") == ""


def test_the_new_section_is_named_as_the_config_names_action_sections():
    new, result = apply_to_text("# N\n", adding_action(LINE, ["Previous action items", "Next steps"]))
    assert new == "# N\n\n## Next steps\n\n" + LINE + "\n" and "“Next steps”" in result.place
    new, result = apply_to_text("# N\n", adding_action(LINE, []))  # none configured: a list the extraction reads
    assert new == "# N\n\nAction items:\n\n" + LINE + "\n"


def test_with_the_weekly_pull_request_an_item_added_after_its_sync_says_how_to_sync_again(tmp_path):
    from chatbot.action_add import _after_sync

    text = BASE_CONFIG.replace('url = "https://example.org/notes/{filename}"\n', 'store = "hackmd"\n', 1)
    text = text.replace(
        "[meetings.destinations]", '[meetings.github]\nrepo = "conda/governance"\n\n[meetings.destinations]', 1
    )
    meeting = load_config(write_config(tmp_path, text)).meeting("eco")
    occ = current_occurrence(meeting, DURING)
    assert _after_sync(meeting, occ, DURING) is None  # in the meeting: the sync comes later
    # the meeting ends at 18:00, the note is synced 2 hours later
    assert _after_sync(meeting, occ, dt.datetime(2026, 1, 7, 19, 59, tzinfo=UTC)) is None
    late = _after_sync(meeting, occ, dt.datetime(2026, 1, 7, 20, 0, tzinfo=UTC))
    assert late is not None and "chatbot notes sync --date 2026-01-07" in late
    plain = load_config(write_config(tmp_path)).meeting("eco")  # notes files: nothing to say
    assert _after_sync(plain, occ, dt.datetime(2026, 1, 7, 23, 0, tzinfo=UTC)) is None


def test_cli_date_writes_into_a_held_meetings_existing_notes_only(bot):
    me = Sender("cli", initials="JRG")
    assert run(bot, "actions add JRG: in the meeting").ok  # the notes of 2026-01-07 exist now
    bot.clock = FixedClock(dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    add = lambda text, day: render_plain(bot.run(("actions", "add"), me, text=text, day=day))  # noqa: E731
    assert "Added an action item to the notes of Conda Ecosystem Meeting on 2026-01-07" in add(
        "JL: afterwards", dt.date(2026, 1, 7)
    )
    assert notes_text(bot).endswith("- [ ] JRG: in the meeting\n- [ ] JL: afterwards\n")
    assert "has no meeting on 2026-01-08" in add("JL: x", dt.date(2026, 1, 8))
    assert "has not started yet" in add("JL: x", dt.date(2026, 1, 21))
    assert "there are no notes of Conda Ecosystem Meeting on 2026-01-14" in add("JL: x", dt.date(2026, 1, 14))
    assert not (bot.files(bot.config.meeting("eco")).directory / "20260114-eco.md").exists()


@pytest.mark.parametrize("path", SHARED_NOTES, ids=lambda p: p.name)
def test_every_real_notes_file_gets_the_line_only_and_reads_it_as_explicit(path):
    from chatbot.config import ActionSettings
    from chatbot.notes.parse import normalize_title

    text = path.read_text(encoding="utf-8")
    try:
        new, result = place(text)
    except NotesError:
        pytest.skip("the file has an unclosed comment or code block before the place")
    ops = difflib.SequenceMatcher(None, text.splitlines(), new.splitlines(), autojunk=False).get_opcodes()
    changed = [op for op in ops if op[0] != "equal"]
    # one insertion (the line, or a new section at the end), or the section's placeholder replaced
    assert len(changed) == 1, changed
    tag, i1, i2, j1, j2 = changed[0]
    added = new.splitlines()[j1:j2]
    assert tag == "insert" or (tag == "replace" and text.splitlines()[i1:i2] in (["- [ ] ..."], ["* [ ] ..."])), changed
    assert added[-1].endswith("[ ] JRG: open an issue about the release")
    assert all(line in ("## Action items", "") for line in added[:-1]), added  # a new section at most
    settings = ActionSettings()
    raws = act.extract(
        parse_notes(new),
        frozenset(normalize_title(t) for t in settings.topic_sections),
        frozenset(normalize_title(t) for t in settings.action_sections),
    )
    (raw,) = [r for r in raws if r.line == result.line]  # 1-based both
    assert raw.kind == "action" and raw.owners == ("JRG",)
    assert raw.form in act.EXPLICIT_FORMS, raw
