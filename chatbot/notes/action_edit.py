"""Where ``actions add`` writes an action item into a meeting's notes: a pure
:data:`~chatbot.notes.edit.LineEdit`, so each store applies it wherever the notes live.

The place, in order:

1. the notes' "Action items" section: the last section whose title is one of
   ``[meetings.actions] action_sections`` (any heading level, any case), leaving out those
   about the past ("Previous action items"); the item joins its own list (subsections
   excluded), in place of its placeholder if it has one;
2. else the list after the last ``Action items:`` line (a paragraph line followed by a
   list, or a list entry ``- Action items:`` with the entries nested under it): the item
   becomes its last entry, in that list's bullet style and indentation;
3. else a new section appended at the end of the notes, named as the first of
   ``action_sections`` that is not about the past (``## Action items`` by default); with none
   such configured, an ``Action items:`` line and its list (only lines added either way).

Each of these places is one the action item extraction (:mod:`chatbot.actions`) reads as an
explicit action item. The same open item already in the notes is not added twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .edit import EditError, EditResult, LineEdit, _in_list_style, _leading_ws, _next_bullet, insert_item, insert_line
from .parse import Item, Notes, NotesError, Section, history_sections, normalize_title

NEW_SECTION = "Action items"
_PAST = ("previous", "past", "last")
# "Action items:" alone on its line (optionally bold, optionally a list entry), as the
# extraction reads such a line
_LABEL = re.compile(
    r"^[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\*\*|__)?action[ -]items?(?:\*\*|__)?[ \t]*:(?:\*\*|__)?[ \t]*$", re.I
)
_BULLET = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")
Label = tuple[int, list[Item], Item | None]  # its line, the list's entries, the label's own list entry


def adding_action(line_text: str, section_titles: Iterable[str]) -> LineEdit:
    """Add ``line_text`` (``- [ ] JRG: text``, no newline) where the module docstring says;
    the result's ``place`` says where, in words."""
    names = [t for t in section_titles if t.strip()]
    titles = frozenset(normalize_title(t) for t in names)
    new_title = next((t.strip() for t in names if not normalize_title(t).startswith(_PAST)), None)
    want = line_text[len("- [ ] ") :] if line_text.startswith("- [ ] ") else line_text

    def change(notes: Notes) -> tuple[list[str], EditResult]:
        for it in notes.items:
            if it.checked is False and it.text == want:
                raise EditError(f"that action item is in the notes already (line {it.line + 1}); nothing was added")
        section = action_section(notes, titles)
        if section is not None:
            lines, result = insert_item(notes, section, line_text)
            result.place = f"under “{section.title}”"
            return lines, result
        label = action_label(notes)
        if label is not None:
            return _add_to_list(notes, label, line_text)
        return _append_section(notes, line_text, new_title)

    return change


def action_section(notes: Notes, titles: frozenset[str]) -> Section | None:
    """The last section named like an action items section (not one about past meetings'),
    cut at its first subsection: the part whose entries are its own."""
    history = history_sections(notes)  # "### Last Meeting 20200908" > "#### Action Items": a copy
    found = [
        s
        for s in notes.sections()
        if (t := normalize_title(s.title)) in titles and not t.startswith(_PAST) and s.start not in history
    ]
    if not found:
        return None
    s = found[-1]
    own_end = min((h.line for h in notes.headings if s.start < h.line < s.end), default=s.end)
    return Section(s.heading, own_end)


def action_label(notes: Notes) -> Label | None:
    """The last ``Action items:`` line with a list to join: (its line, the list's entries,
    the label's own item when it is a list entry). A paragraph label with no list after it
    is not used (the item could join a paragraph)."""
    by_line = {it.line: it for it in notes.items}
    lines = notes.lines
    for i in range(len(lines) - 1, -1, -1):
        if not _LABEL.match(lines[i].rstrip("\r\n")):
            continue
        own = by_line.get(i)
        if own is not None:
            return i, list(own.children), own
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        first = by_line.get(j)
        if first is None:
            continue
        entries = [first]
        while True:
            nxt = entries[-1].end
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            cand = by_line.get(nxt)
            if cand is None or cand.parent is not first.parent or cand.indent != first.indent:
                break
            entries.append(cand)
        return i, entries, None
    return None


def _add_to_list(notes: Notes, label: Label, line_text: str) -> tuple[list[str], EditResult]:
    line, entries, own = label
    lines = list(notes.lines)
    if entries:
        at = entries[-1].end
        text = _in_list_style(line_text, _next_bullet(entries), _leading_ws(lines[entries[-1].line]))
    else:  # "- Action items:" with nothing under it yet: the first nested entry
        assert own is not None
        m = _BULLET.match(lines[line])
        indent = " " * len((m.group(0) if m else "").expandtabs(4))
        at, text = own.end, f"{indent}{line_text}"
    insert_line(notes, lines, at, text)
    result = EditResult(notes.path, at + 1, text, len(entries) + 1)
    result.place = f"in the list after “{lines[line].strip()}” (line {line + 1})"
    return lines, result


def _append_section(notes: Notes, line_text: str, title: str | None) -> tuple[list[str], EditResult]:
    if notes.unclosed:
        at, kind = notes.unclosed
        raise NotesError(
            notes.path,
            f"the {kind} opened on line {at + 1} is never closed, so action items added at the "
            "end would be hidden in it; close it and try again",
        )
    lines = list(notes.lines)
    nl = notes.newline
    ended = not lines or lines[-1].endswith(("\n", "\r"))
    if lines and not ended:
        lines[-1] += nl
    head = f"## {title}" if title else f"{NEW_SECTION}:"  # a section the extraction reads, else a list
    block = ([nl] if lines and lines[-1].strip() else []) + [head + nl, nl, line_text + nl]
    if not ended:
        block[-1] = line_text  # the file had no newline at its end: it still has none
    lines += block
    result = EditResult(notes.path, len(lines), line_text, 1)
    result.place = f"under a new “{title}” section at the end" if title else f"in a new “{head}” list at the end"
    return lines, result
