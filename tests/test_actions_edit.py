"""Edits for issue 14: ticking a prose action item in place, and `agenda remove` right after
`agenda add` giving back the file byte for byte when the section held only prose."""

from __future__ import annotations

import datetime as dt
import difflib

import pytest

from chatbot.actions import entries_in_file, mark_done
from chatbot.config import load_config
from chatbot.notes.edit import EditError, add_item, locked, remove_item, set_checked, tick_prose
from chatbot.notes.parse import read_notes

from conftest import SHARED_NOTES, write_config

AGENDA = "New agenda items"


@pytest.mark.parametrize(
    "before,after",
    [
        ("- JRG: will report this in the infra repo.", "- [x] JRG: will report this in the infra repo."),
        ("    - JRG: will x", "    - [x] JRG: will x"),
        ("  * KK will discuss the above", "  * [x] KK will discuss the above"),
        ("1. Action item: call the vote", "1. [x] Action item: call the vote"),
        ("-\tJRG to create a PR", "-\t[x] JRG to create a PR"),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_tick_prose_turns_the_line_into_a_ticked_checkbox_and_changes_nothing_else(tmp_path, before, after, newline):
    p = tmp_path / "n.md"
    head = f"# T{newline}{newline}## New agenda items{newline}{newline}- [x] JRG: topic{newline}"
    tail = f"- other{newline}"
    p.write_bytes((head + before + newline + tail).encode())
    text = before.lstrip(" \t").split(None, 1)[1]
    with locked(tmp_path):
        r = tick_prose(p, 6, text)
    assert p.read_bytes() == (head + after + newline + tail).encode()
    assert r.line == 6 and r.text == after
    it = [i for i in read_notes(p).items if i.line == 5][0]
    assert it.checked is True and it.text == text  # the parser reads it as the same entry, ticked


def test_tick_prose_refuses_a_changed_line_or_a_checkbox(tmp_path):
    p = tmp_path / "n.md"
    original = b"# T\n\n- JRG: will x\n- [ ] JRG: y\n"
    p.write_bytes(original)
    with locked(tmp_path), pytest.raises(EditError, match="changed since"):
        tick_prose(p, 3, "JRG: will something else")
    with locked(tmp_path), pytest.raises(EditError, match="changed since"):
        tick_prose(p, 4, "JRG: y")  # a checkbox: set_checked's job
    assert p.read_bytes() == original


def test_mark_done_ticks_a_prose_item_and_a_checkbox_item(tmp_path):
    cfg = load_config(write_config(tmp_path))
    p = tmp_path / "20260107-eco.md"
    p.write_text(
        "# T\n\n## New agenda items\n\n- [x] DG: Zulip CEP\n    - JRG: will call the vote\n    - [ ] JL: open a PR\n"
    )
    actions, _ = entries_in_file(read_notes(p), dt.date(2026, 1, 7), cfg)
    assert [(a.line, a.checkbox, done) for a, done in actions] == [(6, False, False), (7, True, False)]
    with locked(tmp_path):
        for a, _ in actions:
            mark_done(a)
    assert p.read_text().endswith("- [x] DG: Zulip CEP\n    - [x] JRG: will call the vote\n    - [x] JL: open a PR\n")
    actions, _ = entries_in_file(read_notes(p), dt.date(2026, 1, 7), cfg)
    assert [done for _, done in actions] == [True, True]


@pytest.mark.parametrize(
    "text",
    [
        "# T\n\n## New agenda items\n\n_No items discussed_\n\n## Deferred to next meeting\n\n- [ ] ...\n",
        "# T\n\n## New agenda items\n\n_No items discussed_\n",  # the section ends the file
        "# T\n\n## New agenda items\n\n_No items discussed_",  # ... without a final newline
        "# T\r\n\r\n## New agenda items\r\n\r\nNothing yet.\r\n\r\n## B\r\n",
        "# T\n\n## New agenda items\n\n<!-- add yours -->\nSee last week.\n\n## B\n",
        "# T\n\n## New agenda items\n\n- [ ] ...\n\n## B\n",  # the template's placeholder comes back
        "# T\n\n## New agenda items\n\n<!-- add yours -->\n\n- [ ] ...\n",
    ],
)
def test_agenda_remove_right_after_add_restores_the_file_byte_for_byte(tmp_path, text):
    p = tmp_path / "n.md"
    p.write_bytes(text.encode())
    with locked(tmp_path):
        r = add_item(p, AGENDA, "- [ ] JL: a new topic")
        assert "JL: a new topic" in p.read_text()
        remove_item(p, AGENDA, r.number, lambda item: None)
    assert p.read_bytes() == text.encode(), "".join(
        difflib.unified_diff(text.splitlines(True), p.read_text().splitlines(True))
    )


@pytest.mark.parametrize("path", SHARED_NOTES, ids=lambda p: p.name)
def test_add_then_remove_restores_every_real_file(tmp_path, path):
    notes = read_notes(path)
    if notes.section(AGENDA) is None:
        pytest.skip("no agenda section")
    p = tmp_path / path.name
    original = path.read_bytes()
    p.write_bytes(original)
    with locked(tmp_path):
        r = add_item(p, AGENDA, "- [ ] ZZ: a test item")
        remove_item(p, AGENDA, r.number, lambda item: None)
    assert p.read_bytes() == original


def test_set_checked_still_refuses_a_prose_line(tmp_path):
    p = tmp_path / "n.md"
    p.write_bytes(b"# T\n\n- JRG: will x\n")
    with locked(tmp_path), pytest.raises(EditError):
        set_checked(p, 3, "JRG: will x")
    assert p.read_bytes() == b"# T\n\n- JRG: will x\n"
