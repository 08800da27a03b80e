"""Parsing and editing real notes files (the conda/governance corpus)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from chatbot.notes.edit import EditError, add_item, agenda_items, clean_item_text, locked, remove_item, set_checked
from chatbot.notes.parse import NotesError, parse_attendee_line, parse_notes, read_notes, split_owner

from conftest import NOTES_FIXTURES, SHARED_NOTES, copy_fixture

ALL = NOTES_FIXTURES + SHARED_NOTES
AGENDA = "New agenda items"


def ids(paths):
    return [("shared/" if "shared" in str(p) else "") + p.stem[:8] for p in paths]


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_every_fixture_parses(path: Path):
    notes = read_notes(path)
    assert notes.text == path.read_text(encoding="utf-8")  # nothing lost in the line split
    assert notes.headings, "every notes file has a title heading"
    for item in notes.items:
        assert notes.lines[item.line].lstrip().startswith(item.bullet)
        assert item.line < item.end <= len(notes.lines)
        for child in item.children:
            assert item.line < child.line and child.end <= item.end and child.indent > item.indent


def test_fixture_subset_is_present():
    assert len(NOTES_FIXTURES) >= 15


def _agenda_fixtures():
    out = []
    for p in ALL:
        if read_notes(p).section(AGENDA) is not None:
            out.append(p)
    return out


AGENDA_FIXTURES = _agenda_fixtures()


@pytest.mark.parametrize("path", AGENDA_FIXTURES, ids=ids(AGENDA_FIXTURES))
def test_add_changes_only_the_inserted_line_and_remove_restores(path: Path, tmp_path: Path):
    work = copy_fixture(path, tmp_path)
    original = work.read_bytes()
    before = read_notes(work)
    section = before.section(AGENDA)
    real_before = agenda_items(before, section)
    placeholder_only = not real_before and any(it.is_placeholder for it in before.top_items(section))

    with locked(tmp_path):
        added = add_item(work, AGENDA, "- [ ] ZZ: a test item")
    after_bytes = work.read_bytes()
    old_lines = original.decode().splitlines(keepends=True)
    new_lines = after_bytes.decode().splitlines(keepends=True)
    ops = [
        op for op in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes() if op[0] != "equal"
    ]
    if placeholder_only:
        assert len(new_lines) == len(old_lines)
        assert [op[0] for op in ops] == ["replace"]
    else:
        assert len(new_lines) == len(old_lines) + 1
        text, old_text = after_bytes.decode(), original.decode()
        # written in the style of the list it joins: same bullet character and indentation
        last = real_before[-1] if real_before else None
        if last is None:
            assert added.text == "- [ ] ZZ: a test item"
        else:
            line = old_lines[last.line]
            assert added.text.startswith(line[: len(line) - len(line.lstrip())])
            assert added.text.lstrip().endswith(" [ ] ZZ: a test item")
            assert added.text.lstrip()[0] == last.bullet[0] or last.bullet[0].isdigit()
        if old_text.endswith("\n") or added.line < len(new_lines):
            assert [op[0] for op in ops] == ["insert"]
            assert new_lines[added.line - 1] == added.text + before.newline
        else:  # appended after a last line without newline: the file still ends without one
            assert text == old_text + before.newline + added.text
    # the item is now the last numbered agenda item, parsed with its owner
    after = read_notes(work)
    items = agenda_items(after, after.section(AGENDA))
    assert items[-1].text == "ZZ: a test item" and items[-1].owners == ["ZZ"]
    assert added.number == len(items) == len(real_before) + 1
    assert after.metadata == before.metadata
    # every earlier item kept its text
    assert [it.text for it in items[:-1]] == [it.text for it in real_before]

    with locked(tmp_path):
        remove_item(work, AGENDA, added.number, lambda item: None)
    # the placeholder comes back as the file writes its placeholders ('- [ ]' in 2025 notes)
    assert work.read_bytes() == original


def test_add_to_file_without_final_newline_round_trips(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_bytes(b"# T\n\n## New agenda items\n\n- [ ] JL: first")
    with locked(tmp_path):
        r = add_item(p, AGENDA, "- [ ] ZZ: second")
    assert p.read_bytes() == b"# T\n\n## New agenda items\n\n- [ ] JL: first\n- [ ] ZZ: second"
    with locked(tmp_path):
        remove_item(p, AGENDA, r.number, lambda i: None)
    assert p.read_bytes() == b"# T\n\n## New agenda items\n\n- [ ] JL: first"


@pytest.mark.parametrize(
    "text,restored",
    [
        # as the file's other placeholders are written (nearest first), else the template's '- [ ] ...'
        ("## A\n\n- [ ]\n\n## New agenda items\n\n- [ ]\n", "## A\n\n- [ ]\n\n## New agenda items\n\n- [ ]\n"),
        (
            "## A\n\n* [ ] …\n\n## New agenda items\n\n- [ ]\n\n## B\n- [ ]\n",
            "## A\n\n* [ ] …\n\n## New agenda items\n\n- [ ]\n\n## B\n- [ ]\n",
        ),
        ("## New agenda items\n\n- [ ]\n\n## B\n\n* [ ] …\n", "## New agenda items\n\n- [ ] …\n\n## B\n\n* [ ] …\n"),
        ("## New agenda items\n\n- [ ]\n", "## New agenda items\n\n- [ ] ...\n"),
    ],
)
def test_a_removed_last_item_gives_back_the_files_own_placeholder(tmp_path: Path, text: str, restored: str):
    p = tmp_path / "n.md"
    p.write_text(text)
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: x")
        remove_item(p, AGENDA, 1, lambda i: None)
    assert p.read_text() == restored


def test_crlf_files_keep_crlf(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_bytes(b"# T\r\n\r\n## New Agenda Items\r\n\r\n- [ ] ...\r\n\r\n## Other\r\n")
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: x")
    assert p.read_bytes() == b"# T\r\n\r\n## New Agenda Items\r\n\r\n- [ ] ZZ: x\r\n\r\n## Other\r\n"


@pytest.mark.parametrize(
    "before,after",
    [
        # '*' lists (most 2020-2022 conda/governance notes): a '-' item would start a second list
        ("* [ ] JL: a\n    * sub\n* JL: b\n", "* [ ] JL: a\n    * sub\n* JL: b\n* [ ] ZZ: new\n"),
        ("+ JL: a\n", "+ JL: a\n+ [ ] ZZ: new\n"),
        ("  - [ ] JL: indented\n", "  - [ ] JL: indented\n  - [ ] ZZ: new\n"),
        ("1. JL: a\n2. JL: b\n", "1. JL: a\n2. JL: b\n3. [ ] ZZ: new\n"),
        ("1) JL: a\n1) JL: b\n", "1) JL: a\n1) JL: b\n1) [ ] ZZ: new\n"),
        ("* [ ] ...\n", "* [ ] ZZ: new\n"),
        ("- [ ] JL: a\n", "- [ ] JL: a\n- [ ] ZZ: new\n"),
    ],
)
def test_added_item_continues_the_list_in_its_style(tmp_path: Path, before: str, after: str):
    p = tmp_path / "n.md"
    p.write_text(f"# T\n## New agenda items\n{before}\n## Next\n- x\n")
    with locked(tmp_path):
        r = add_item(p, AGENDA, "- [ ] ZZ: new")
    assert p.read_text() == f"# T\n## New agenda items\n{after}\n## Next\n- x\n"
    with locked(tmp_path):
        remove_item(p, AGENDA, r.number, lambda i: None)
    assert p.read_text() == f"# T\n## New agenda items\n{before}\n## Next\n- x\n"


def test_inserted_line_takes_the_line_ending_of_its_neighbours(tmp_path: Path):
    """Line endings are taken from where the line goes, not from line 1 (mixed files exist:
    a CRLF title pasted into an LF file)."""
    p = tmp_path / "n.md"
    p.write_bytes(b"# T\r\n## New agenda items\n- [ ] JL: a\n\n## X\n")
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: new")
    assert p.read_bytes() == b"# T\r\n## New agenda items\n- [ ] JL: a\n- [ ] ZZ: new\n\n## X\n"


def test_insert_goes_after_last_item_subtree_before_next_heading(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text(
        "# T\n## New agenda items\n- [x] JL: one\n    - discussed\n        - deeper\n\n"
        "Some closing text.\n\n## Deferred\n- [ ] two\n"
    )
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: new")
    assert p.read_text() == (
        "# T\n## New agenda items\n- [x] JL: one\n    - discussed\n        - deeper\n"
        "- [ ] ZZ: new\n\nSome closing text.\n\n## Deferred\n- [ ] two\n"
    )


def test_empty_section_gets_item_after_its_last_line(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n\n## New agenda items\n<!-- add yours -->\n\n## Next\n")
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: new")
    assert p.read_text() == "# T\n\n## New agenda items\n<!-- add yours -->\n- [ ] ZZ: new\n\n## Next\n"


@pytest.mark.parametrize(
    "body,line,kind",
    [
        ("## New agenda items\n\n```\nsome code\n", 5, "code block"),
        ("## New agenda items\n<!-- add yours below\n\n", 4, "HTML comment"),
        # a fence left open inside the last item also hides the next heading from the parser: the
        # item went to the end of the file, under '## Deferred'
        ("## New agenda items\n- [ ] JL: a\n  ~~~\n  code\n## Deferred\n- [ ] BZ: later\n", 5, "code block"),
    ],
)
def test_no_item_is_added_inside_a_block_that_is_never_closed(tmp_path: Path, body: str, line: int, kind: str):
    """The new line went after the section's last line: inside the unclosed code block or
    comment, hidden or shown as code, while the bot answered 'Added as item 1'."""
    p = tmp_path / "n.md"
    p.write_text("# T\n\n" + body)
    before = p.read_bytes()
    with locked(tmp_path), pytest.raises(NotesError, match=f"{kind} opened on line {line} is never closed") as err:
        add_item(p, AGENDA, "- [ ] ZZ: new")
    assert str(p) in str(err.value)
    assert p.read_bytes() == before


def test_closed_blocks_and_blocks_after_the_insertion_point_are_fine(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n## New agenda items\n- [ ] JL: a\n  ```\n  code\n  ```\n\n## Notes\n<!-- never closed\n")
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: new")
    assert p.read_text() == (
        "# T\n## New agenda items\n- [ ] JL: a\n  ```\n  code\n  ```\n- [ ] ZZ: new\n\n## Notes\n<!-- never closed\n"
    )


def test_section_matching_ignores_case_level_and_emoji():
    notes = parse_notes("# T\n### New Agenda Items :newspaper: \n- [ ] a\n## X\n")
    assert notes.section("new agenda items") is not None
    assert notes.section("new agenda") is None


def test_missing_section_is_an_error_and_no_write(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n\n## Agenda\n- a\n")
    before = p.read_bytes()
    with pytest.raises(NotesError, match="New agenda items"):
        with locked(tmp_path):
            add_item(p, AGENDA, "- [ ] ZZ: x")
    assert p.read_bytes() == before


@pytest.mark.parametrize(
    "text,problem",
    [
        ("---\ntitle: [unclosed\n---\n# T\n## New agenda items\n", "not valid YAML"),
        ("---\ntags: [x]\n# T\n## New agenda items\n", "never closed"),
        ("---\n- a\n- b\n---\n# T\n## New agenda items\n", "mapping"),
        # YAML that parses but whose values cannot be built: a ValueError used to escape as a traceback
        ("---\ndate: 2024-13-45\n---\n# T\n## New agenda items\n", "not valid YAML.*month must be in 1..12"),
        ("---\nwhen: 2024-02-30 10:00:00\n---\n# T\n## New agenda items\n", "not valid YAML.*day is out of range"),
        pytest.param(
            "---\nn: 1" + "0" * 5000 + "\n---\n# T\n## New agenda items\n", "not valid YAML", id="5001-digit-int"
        ),
        ("# T\n\x00\n## New agenda items\n", "NUL"),
    ],
)
def test_malformed_notes_are_never_written(tmp_path: Path, text: str, problem: str):
    p = tmp_path / "n.md"
    p.write_text(text)
    before = p.read_bytes()
    with pytest.raises(NotesError, match=problem) as err:
        with locked(tmp_path):
            add_item(p, AGENDA, "- [ ] ZZ: x")
    assert str(p) in str(err.value)
    assert p.read_bytes() == before


def test_deeply_nested_frontmatter_is_refused_not_a_crash(tmp_path: Path):
    """YAML nested tens of thousands deep overflowed the C stack of the YAML loader (a
    segfault: the whole bot died on every scan of the archive). Run in a child process so a
    crash shows up as a failure instead of killing the test run."""
    import subprocess
    import sys

    p = tmp_path / "n.md"
    n = 100_000
    p.write_text("---\na: " + "[" * n + "]" * n + "\n---\n# T\n## New agenda items\n- [ ] ...\n")
    before = p.read_bytes()
    code = (
        "import sys; from pathlib import Path; from chatbot.notes.edit import add_item, locked\n"
        "from chatbot.notes.parse import NotesError\n"
        "p = Path(sys.argv[1])\n"
        "try:\n"
        "    with locked(p.parent):\n"
        "        add_item(p, 'New agenda items', '- [ ] ZZ: x')\n"
        "except NotesError as exc:\n"
        "    print('refused:', exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(p)], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # the contract: refused with a NotesError naming the file, no crash, the file untouched
    # (which layer refuses it, ours or the YAML library's own limit, is not the contract)
    assert run.stdout.startswith(f"refused: {p}: frontmatter"), run.stdout
    assert p.read_bytes() == before


def test_frontmatter_deeper_than_our_limit_is_refused(tmp_path: Path):
    """The project's own depth limit, at a depth the YAML library itself still accepts."""
    from chatbot.notes.parse import MAX_FRONTMATTER_DEPTH

    n = MAX_FRONTMATTER_DEPTH + 1
    p = tmp_path / "n.md"
    p.write_text("---\na: " + "[" * n + "]" * n + "\n---\n# T\n## New agenda items\n- [ ] ...\n")
    with pytest.raises(NotesError) as info:
        read_notes(p)
    assert str(MAX_FRONTMATTER_DEPTH) in str(info.value)
    ok = tmp_path / "ok.md"
    m = MAX_FRONTMATTER_DEPTH - 1
    ok.write_text("---\na: " + "[" * m + "]" * m + "\n---\n# T\n")
    read_notes(ok)  # within the limit: parsed


def test_non_utf8_notes_are_refused(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_bytes(b"# T\n## New agenda items\n- [ ] caf\xe9\n")
    with pytest.raises(NotesError, match="UTF-8"):
        read_notes(p)


def test_a_byte_order_mark_is_invisible_to_the_structure(tmp_path: Path):
    """Editors on Windows save UTF-8 with a BOM; it hid line 1's frontmatter (never validated,
    metadata empty) or heading."""
    p = tmp_path / "n.md"
    p.write_bytes("\ufeff---\ntags: [x]\n---\n# T\n## New agenda items\n- [ ] ...\n".encode())
    notes = read_notes(p)
    assert notes.metadata == {"tags": ["x"]} and notes.title == "T"
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: x")
    assert p.read_bytes() == "\ufeff---\ntags: [x]\n---\n# T\n## New agenda items\n- [ ] ZZ: x\n".encode()
    assert parse_notes("\ufeff## New agenda items\n- [ ] JL: a\n").section(AGENDA) is not None
    broken = "\ufeff---\ntitle: [unclosed\n---\n# T\n## New agenda items\n- [ ] ...\n"
    with pytest.raises(NotesError, match="not valid YAML"):
        parse_notes(broken)


def test_frontmatter_bytes_are_never_reserialized(tmp_path: Path):
    fm = "---\ntags:   [meeting-notes]   # keep my spacing\ntitle: 'quoted'\n---\n"
    p = tmp_path / "n.md"
    p.write_text(fm + "# T\n## New agenda items\n- [ ] ...\n")
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: x")
    assert p.read_text().startswith(fm)
    assert read_notes(p).metadata == {"tags": ["meeting-notes"], "title": "quoted"}


def test_code_fences_and_comments_hide_structure():
    notes = parse_notes(
        "# T\n## New agenda items\n- [ ] JL: code\n    ```\n    # not a heading\n    - [ ] not an item\n"
        "    ```\n<!--\n## not a heading\n- [ ] nope\n-->\n- [ ] ZZ: after\n"
    )
    assert [h.title for h in notes.headings] == ["T", "New agenda items"]
    assert [it.text for it in notes.items] == ["JL: code", "ZZ: after"]
    assert notes.items[0].end == 7


def test_only_ascii_digits_make_an_ordered_list_item(tmp_path: Path):
    """CommonMark list numbers are ASCII digits; '١. بند' (Arabic-Indic) is a paragraph. Read as
    an item it made the bot write '2. [ ] …' after it, a lazy continuation of that paragraph."""
    notes = parse_notes("# T\n## New agenda items\n١. بند أول\n１. fullwidth\n")
    assert notes.items == []
    p = tmp_path / "n.md"
    p.write_text("# T\n## New agenda items\n١. بند أول\n\n## X\n")
    with locked(tmp_path):
        r = add_item(p, AGENDA, "- [ ] ZZ: new")
    assert r.number == 1
    assert p.read_text() == "# T\n## New agenda items\n١. بند أول\n- [ ] ZZ: new\n\n## X\n"


def test_nested_items_and_checked_parents():
    notes = read_notes(next(p for p in NOTES_FIXTURES if p.name.startswith("20240911")))
    by_text = {it.text: it for it in notes.items}
    child = by_text[
        "MB: Set up one or more focused calls for this topic and make sure the results of the "
        "communication are available in conda.org, conda-forge.org and others"
    ]
    assert child.checked is False and child.owners == ["MB"]
    parent = child.parent
    assert parent.owners == ["JRG"] and parent.parent.checked is True
    assert parent.parent.text.startswith("JL: Ongoing working")
    assert notes.section(AGENDA) is not None


@pytest.mark.parametrize(
    "text,owners,body",
    [
        ("JRG: open a PR", ["JRG"], "open a PR"),
        ("(JRG) open a PR", ["JRG"], "open a PR"),
        ("(ED): TOS acceptance", ["ED"], "TOS acceptance"),
        ("JRG, BZ: both", ["JRG", "BZ"], "both"),
        ("JL/CHL: Still in touch", ["JL", "CHL"], "Still in touch"),
        ("MvN: dutch initials", ["MvN"], "dutch initials"),
        ("@jaimergp: by handle", ["@jaimergp"], "by handle"),
        ("@jaimergp please review", ["@jaimergp"], "please review"),
        ("Dasha: a first name is not initials", [], "Dasha: a first name is not initials"),
        ("Katherine Abrikian, software engineer", [], "Katherine Abrikian, software engineer"),
        ("", [], ""),
        # capitalised words that label a line, not people (conda's 2024-06-05 notes: "FYI: Passed vote")
        ("FYI: Passed vote and created new team", [], "FYI: Passed vote and created new team"),
        ("TODO: write it down", [], "TODO: write it down"),
        ("(TBD) who does this", [], "(TBD) who does this"),
    ],
)
def test_owner_prefixes(text, owners, body):
    assert split_owner(text) == (owners, body)


@pytest.mark.parametrize(
    "line,expect",
    [
        (
            "JRG: Jaime Rodríguez-Guerra (@jaimergp), Quansight",
            ("Jaime Rodríguez-Guerra", "JRG", "jaimergp", "Quansight"),
        ),
        ("SD: Sam Doe (@samdoe), Company", ("Sam Doe", "SD", "samdoe", "Company")),
        ("Matthew R Becker (MRB) (beckermr)", ("Matthew R Becker", "MRB", "beckermr", None)),
        ("Megan C. Yancy (MCY) myancy-anaconda", ("Megan C. Yancy", "MCY", "myancy-anaconda", None)),
        ("Megan Yancy MCY @myancy-anaconda", ("Megan Yancy", "MCY", "myancy-anaconda", None)),
        ("Amy Williams AW", ("Amy Williams", "AW", None, None)),
        ("Matthew Becker", ("Matthew Becker", None, None, None)),
        ("Matt B. @beckermr", ("Matt B.", None, "beckermr", None)),
    ],
)
def test_attendee_list_styles(line, expect):
    a = parse_attendee_line(line)
    assert (a.name, a.initials, a.github, a.affiliation) == expect


def test_attendee_numbered_list_in_a_file_ignores_template_comment():
    text = (
        "# T\n## Attendees\n\n<!-- Use this syntax:\n* SD: Sam Doe (@samdoe), Company\n-->\n\n"
        "1. JRG: Jaime Rodríguez-Guerra (@jaimergp), Quansight\n1. JL: Jannis Leidel (@jezdez), Anaconda\n1. ...\n\n"
        "## New agenda items\n"
    )
    att = parse_notes(text).attendees()
    assert [(a.initials, a.github) for a in att] == [("JRG", "jaimergp"), ("JL", "jezdez")]


def test_attendee_tables():
    notes = read_notes(next(p for p in NOTES_FIXTURES if p.name.startswith("20251203")))
    att = notes.attendees()
    assert [(a.initials, a.github) for a in att] == [
        ("RSK", "ryanskeith"),
        ("CHL", "chenghlee"),
        ("JRG", "jaimergp"),
        ("JL", "jezdez"),
        ("SC", "sylvaincorlay"),
        ("JK", "jakirkham"),
    ]
    old = read_notes(next(p for p in NOTES_FIXTURES if p.name.startswith("20201117")))
    first = old.attendees()[0]
    assert (first.name, first.initials, first.github, first.affiliation) == (
        "Megan Yancy",
        "MCY",
        "myancy-anaconda",
        "Anaconda",
    )


def test_attendees_in_absentia_count_after_those_present():
    """conda's 2024-07-17 notes list TH under "Attendees in Absentia", and TH owns an item."""
    text = (
        "# T\n## Attendees\n\n| Name | Initials | GH Username |\n| --- | --- | --- |\n"
        "| Jaime | JRG | jaimergp |\n\n## Attendees in Absentia\n\n"
        "| Name | Initials | GH Username |\n| --- | --- | --- |\n| Travis Hathaway | TH | travishathaway |\n\n"
        "## New agenda items\n- [ ] TH: open a PR\n"
    )
    att = parse_notes(text).attendees()
    assert [(a.initials, a.github) for a in att] == [("JRG", "jaimergp"), ("TH", "travishathaway")]


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_attendees_found_in_every_file_that_lists_them(path: Path):
    notes = read_notes(path)
    if notes.section("Attendees") is None:
        pytest.skip("no attendees section")
    att = notes.attendees()
    assert att, "an Attendees section with people yields attendees"
    assert all(a.name or a.initials for a in att)


# --- agenda text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("  Release plans  ", "Release plans"),
        ("two\nlines\r\nhere", "two lines here"),
        ("# heading", "\\# heading"),
        ("## heading", "\\## heading"),
        ("> quote", "\\> quote"),
        ("- nested", "\\- nested"),
        ("1. numbered", "\\1. numbered"),
        ("[x] checked", "\\[x] checked"),
        ("hi @channel and @here, @all @everyone", "hi @channel and @here, @all @everyone"),  # readable; defused in chat
        ("tab\there\x00nul", "tab here nul"),
        ("<!-- hide the rest", "&lt;!-- hide the rest"),
        ("lone \udc80 surrogate", "lone \ufffd surrogate"),
    ],
)
def test_clean_item_text(raw, clean):
    assert clean_item_text(raw, 1000) == clean


@pytest.mark.parametrize("raw,problem", [("", "empty"), ("   \n ", "empty"), ("x" * 1001, "1001 characters")])
def test_clean_item_text_refuses(raw, problem):
    with pytest.raises(EditError, match=problem):
        clean_item_text(raw, 1000)


def test_remove_refuses_items_with_notes_and_out_of_range(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n## New agenda items\n- [x] JL: one\n    - discussed\n- [ ] ZZ: two\n")
    before = p.read_bytes()
    with locked(tmp_path):
        with pytest.raises(EditError, match="notes or sub-items"):
            remove_item(p, AGENDA, 1, lambda i: None)
        with pytest.raises(EditError, match="no item 3"):
            remove_item(p, AGENDA, 3, lambda i: None)
        with pytest.raises(EditError, match="nope"):
            remove_item(p, AGENDA, 2, lambda i: "nope")
    assert p.read_bytes() == before


def test_set_checked_ticks_only_the_box(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n## A\n- [ ] JRG: open a PR [ ] literally\n")
    with locked(tmp_path):
        set_checked(p, 3, "JRG: open a PR [ ] literally")
    assert p.read_text() == "# T\n## A\n- [x] JRG: open a PR [ ] literally\n"
    with locked(tmp_path), pytest.raises(EditError, match="changed"):
        set_checked(p, 3, "something else")


def test_atomic_write_keeps_permissions_and_leaves_no_temp_files(tmp_path: Path):
    p = tmp_path / "n.md"
    p.write_text("# T\n## New agenda items\n- [ ] ...\n")
    p.chmod(0o640)
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: x")
    assert p.stat().st_mode & 0o777 == 0o640
    assert sorted(x.name for x in tmp_path.iterdir() if x.name != ".chatbot.lock") == ["n.md"]


def _make_unwritable(d: Path):
    """chmod for normal users; as root (which ignores modes) the immutable attribute."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        d.chmod(0o500)
        return lambda: d.chmod(0o700)
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
        pytest.skip("running as root without a working chattr: cannot make a directory unwritable")
    return lambda: subprocess.run(["chattr", "-i", str(d)], check=True)


def test_unwritable_directory_gives_clear_error_and_file_untouched(tmp_path: Path):
    d = tmp_path / "ro"
    d.mkdir()
    p = d / "n.md"
    p.write_text("# T\n## New agenda items\n- [ ] ...\n")
    with locked(tmp_path):
        undo = _make_unwritable(d)
        try:
            with pytest.raises(EditError, match="could not write n.md: .*the file was not changed"):
                add_item(p, AGENDA, "- [ ] ZZ: x")
        finally:
            undo()
    assert p.read_text() == "# T\n## New agenda items\n- [ ] ...\n"
    assert sorted(x.name for x in d.iterdir()) == ["n.md"]


def test_edits_through_a_symbolic_link_land_in_its_target_or_are_refused(tmp_path: Path):
    """The atomic rename used to replace the link itself: the file people read (the target)
    stayed as it was while the bot answered 'Ticked'."""
    import os

    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    target = notes_dir / "real.md"
    target.write_text("# T\n## A\n- [ ] JRG: open a PR\n")
    link = notes_dir / "20260128-eco.md"
    os.symlink(target.name, link)
    with locked(notes_dir):
        set_checked(link, 3, "JRG: open a PR")
    assert link.is_symlink() and os.readlink(link) == "real.md"
    assert target.read_text() == "# T\n## A\n- [x] JRG: open a PR\n"
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# T\n## A\n- [ ] JRG: open a PR\n")
    os.unlink(link)
    os.symlink(outside, link)
    with locked(notes_dir), pytest.raises(EditError, match="20260128-eco.md is a symbolic link to a file outside"):
        set_checked(link, 3, "JRG: open a PR")
    assert link.is_symlink() and outside.read_text() == "# T\n## A\n- [ ] JRG: open a PR\n"


def test_a_notes_directory_where_the_lock_cannot_be_made_gives_clear_error(tmp_path: Path):
    """A read-only notes directory (a volume mounted read-only, wrong owner): creating the lock
    file failed with a PermissionError traceback instead of an answer."""
    d = tmp_path / "ro"
    d.mkdir()
    (d / "n.md").write_text("# T\n## New agenda items\n- [ ] ...\n")
    undo = _make_unwritable(d)
    try:
        with pytest.raises(EditError, match=f"cannot lock the notes in {d}: .*nothing was changed"):
            with locked(d):
                pytest.fail("the body must not run without the lock")
    finally:
        undo()
    assert sorted(x.name for x in d.iterdir()) == ["n.md"]
    with locked(d):  # and an error inside the body is not mistaken for a lock problem
        with pytest.raises(OSError, match="inside"):
            with locked(tmp_path / "other"):
                raise OSError("inside")


def test_a_human_edit_between_read_and_write_is_not_lost(tmp_path: Path, monkeypatch):
    """Fault injection: the first time the bot has read the file, a person saves it."""
    import chatbot.notes.edit as edit

    p = tmp_path / "n.md"
    p.write_text("# T\n## New agenda items\n- [ ] JL: first\n")
    real_read = edit.read_notes
    calls = []

    def read_then_human_saves(path):
        notes = real_read(path)
        if not calls:
            p.write_text("# T\n## New agenda items\n- [ ] JL: first\n- [ ] CHL: typed by hand\n")
        calls.append(1)
        return notes

    monkeypatch.setattr(edit, "read_notes", read_then_human_saves)
    with locked(tmp_path):
        add_item(p, AGENDA, "- [ ] ZZ: from the bot")
    assert (
        p.read_text() == "# T\n## New agenda items\n- [ ] JL: first\n- [ ] CHL: typed by hand\n- [ ] ZZ: from the bot\n"
    )
    assert len(calls) == 2
    assert not [x for x in tmp_path.iterdir() if x.name.endswith(".tmp")]


def test_the_shared_conda_notes_are_here():
    """The per-file tests over the 123 real notes in ../shared are generated only where that
    folder exists (a clone without it still runs the copied subset): say so, never silently
    collect fewer."""
    from conftest import SHARED, SHARED_NOTES

    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the tests over each real notes file were not generated")
    assert len(SHARED_NOTES) >= 123
