"""The parse of every real notes file, pinned: headings, sections, items (lines, indents,
bullets, boxes, texts, the lines they span, parents, sections), frontmatter and attendees.

The parser was rewritten for speed (issue 21, cold scan); the digests in
``tests/data/parse_digests.json`` were written by the parser before that rewrite, so these
tests say the fast one reads every file exactly as the old one did. A change to what the
parser reads is made on purpose: regenerate the digests with
``CHATBOT_UPDATE_PARSE_DIGESTS=1 python -m pytest tests/test_parse_pinned.py`` and review the
diff of the JSON file (counts per file) in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from chatbot.notes.parse import Notes, NotesError, parse_notes, read_notes, read_regular_file

from conftest import NOTES_FIXTURES, SHARED, SHARED_NOTES

DIGESTS = Path(__file__).parent / "data" / "parse_digests.json"
HERE = Path(__file__).parent
ALL = (
    NOTES_FIXTURES
    + SHARED_NOTES
    + ([SHARED / "agenda_template.md"] if (SHARED / "agenda_template.md").exists() else [])
)


def key(path: Path) -> str:
    return f"shared/{path.relative_to(SHARED)}" if path.is_relative_to(SHARED) else str(path.relative_to(HERE))


def canonical(notes: Notes) -> dict[str, Any]:
    """Everything the parser read, in plain JSON values."""

    def section(s):
        return None if s is None else [s.start, s.end, s.title, s.heading.level]

    return {
        "lines": len(notes.lines),
        "metadata": repr(notes.metadata),
        "body_start": notes.body_start,
        "newline": notes.newline,
        "unclosed": list(notes.unclosed) if notes.unclosed else None,
        "headings": [[h.line, h.level, h.title] for h in notes.headings],
        "sections": [section(s) for s in notes.sections()],
        "items": [
            [
                it.line,
                it.indent,
                it.bullet,
                it.checked,
                it.text,
                it.end,
                it.parent.line if it.parent else None,
                [c.line for c in it.children],
                section(it.section),
                it.owners,
                it.body,
            ]
            for it in notes.items
        ],
        "attendees": [[a.name, a.initials, a.github, a.affiliation] for a in notes.attendees()],
    }


def digest(notes: Notes) -> dict[str, Any]:
    data = canonical(notes)
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return {
        "items": len(data["items"]),
        "headings": len(data["headings"]),
        "attendees": len(data["attendees"]),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }


def _pinned() -> dict[str, Any]:
    return json.loads(DIGESTS.read_text(encoding="utf-8"))


if os.environ.get("CHATBOT_UPDATE_PARSE_DIGESTS"):  # pragma: no cover - run by hand
    DIGESTS.write_text(
        json.dumps({key(p): digest(read_notes(p)) for p in ALL}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )


@pytest.mark.parametrize("path", ALL, ids=[key(p) for p in ALL])
def test_every_real_file_parses_as_pinned(path: Path):
    pinned = _pinned().get(key(path))
    assert pinned is not None, f"{key(path)} has no pinned parse: regenerate {DIGESTS.name} (see the module doc)"
    assert digest(read_notes(path)) == pinned


def test_the_pinned_files_are_all_tested():
    """Every fixture in the digests is here (a renamed fixture must not drop its check); the
    shared ones only where ../shared exists."""
    names = set(_pinned())
    local = {n for n in names if not n.startswith("shared/")}
    assert local == {key(p) for p in NOTES_FIXTURES}
    if SHARED_NOTES:
        assert {n for n in names if n.startswith("shared/")} == {key(p) for p in ALL if p.is_relative_to(SHARED)}


@pytest.mark.parametrize("path", NOTES_FIXTURES[:6], ids=[key(p) for p in NOTES_FIXTURES[:6]])
def test_line_endings_and_a_byte_order_mark_do_not_change_the_structure(path: Path):
    """CRLF, a BOM, or no newline after the last line: the same headings, items, spans and
    attendees."""
    text = path.read_text(encoding="utf-8")
    want = canonical(parse_notes(text))
    unended = text[:-1] if text.endswith("\n") and not text.endswith("\n\n") else text
    for variant in (text.replace("\n", "\r\n"), "\ufeff" + text, unended):
        got = canonical(parse_notes(variant))
        assert got["newline"] in ("\n", "\r\n")
        for k in ("headings", "sections", "items", "attendees", "metadata", "body_start", "unclosed"):
            assert got[k] == want[k], k


# The parser keeps small memos (frontmatter, titles, attendee lines and table rows come back
# in every file of an archive): what it hands out must still be each file's own.


def test_files_sharing_a_frontmatter_get_their_own_mapping():
    first = parse_notes("---\ntags: [meeting-notes]\n---\n# A\n")
    first.metadata["tags"].append("changed")
    first.metadata["new"] = 1
    second = parse_notes("---\ntags: [meeting-notes]\n---\n# B\n")
    assert second.metadata == {"tags": ["meeting-notes"]}
    dated = parse_notes("---\nday: 2024-01-03\n---\n# C\n")
    assert repr(dated.metadata) == "{'day': datetime.date(2024, 1, 3)}"
    with pytest.raises(NotesError, match="not valid YAML"):
        parse_notes("---\ntags: [meeting-notes\n---\n# D\n")


def test_attendees_read_again_are_new_objects():
    text = "# M\n## Attendees\n- JRG: Jaime (@jaimergp), Quansight\n"
    table = "# M\n## Attendees\n| Name | Initials | GH Username |\n|---|---|---|\n| Jaime | JRG | @jaimergp |\n"
    for doc in (text, table):
        one = parse_notes(doc).attendees()
        one[0].name = "someone else"
        two = parse_notes(doc).attendees()
        assert [(a.name, a.initials, a.github) for a in two] == [("Jaime", "JRG", "jaimergp")]


def test_the_memos_stay_bounded():
    from chatbot.notes import parse

    rows = "".join(f"| Person {i} | P{i} | @p{i} |\n" for i in range(parse._MEMO_MAX + 50))
    notes = parse_notes("# M\n## Attendees\n| Name | Initials | GH Username |\n|---|---|---|\n" + rows)
    assert len(notes.attendees()) == parse._MEMO_MAX + 50
    assert len(parse._ATTENDEE_ROWS) <= parse._MEMO_MAX
    long_title = "# " + "x" * 100_000 + "\n"
    assert parse_notes(long_title).title == "x" * 100_000
    parse.normalize_title("x" * 100_000)
    assert all(len(t) <= 200 for t in parse._TITLES)


@pytest.mark.parametrize("size", [0, 1, 4096, 300_000])
def test_read_regular_file_returns_every_byte(tmp_path: Path, size: int):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    p = tmp_path / "n.md"
    p.write_bytes(data)
    assert read_regular_file(p) == data
