"""Reading meeting notes: frontmatter, sections, checkbox items, owners, attendees.

The parser is line based and never rewrites anything: it records, for every heading and list
item, the line numbers it spans, so that edits (``edit.py``) can insert or delete whole lines
and leave every other byte of the users' document as it was.

Formats understood (all seen in real conda/governance notes):

* YAML frontmatter between ``---`` lines (validated with python-frontmatter's YAML handler);
* ATX headings ``#`` … ``######``; a section runs to the next heading of the same or a
  higher level;
* list items with ``-``, ``*``, ``+`` or ``1.``/``1)`` bullets, nested by indentation, with an
  optional checkbox ``[ ]``, ``[x]``, ``[X]``; lines inside code fences and HTML comments are
  never items or headings;
* owners at the start of an item: ``JRG: …``, ``(JRG) …``, ``(JRG): …``, ``JRG, BZ: …``,
  ``JL/CHL: …``, ``@handle: …``;
* attendees as a Markdown table with *Initials* / *Name* / *(GH) Username* columns, or as a
  list in any of the styles ``JRG: Name (@gh), Org``, ``Name (JRG) (gh)``,
  ``Name JRG @gh`` and plain ``Name``.
"""

from __future__ import annotations

import bisect
import errno
import marshal
import os
import re
import stat
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple
from collections.abc import Iterator

import frontmatter
import yaml


class NotesError(Exception):
    """A notes file cannot be parsed; it must not be written."""

    def __init__(self, path: Path | str | None, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass(slots=True)
class Heading:
    line: int
    level: int
    title: str


@dataclass(slots=True)
class Section:
    heading: Heading
    end: int  # exclusive line index
    # the heading's line and title, copied once: read for every item of a scan
    start: int = field(init=False, repr=False, compare=False)
    title: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.start = self.heading.line
        self.title = self.heading.title


@dataclass(slots=True)
class Item:
    line: int
    indent: int
    bullet: str
    checked: bool | None  # None: no checkbox
    text: str  # after bullet and checkbox
    end: int = 0  # exclusive: own continuation lines and children included
    parent: Item | None = None
    children: list[Item] = field(default_factory=list)
    section: Section | None = None

    @property
    def is_checkbox(self) -> bool:
        return self.checked is not None

    @property
    def is_placeholder(self) -> bool:
        return self.is_checkbox and self.text.strip() in ("", "...", "…")

    @property
    def owners(self) -> list[str]:
        return split_owner(self.text)[0]

    @property
    def body(self) -> str:
        return split_owner(self.text)[1]

    def ancestors(self) -> list[Item]:
        out, p = [], self.parent
        while p is not None:
            out.append(p)
            p = p.parent
        return out


@dataclass
class Attendee:
    name: str | None
    initials: str | None
    github: str | None
    affiliation: str | None = None


_LINE_OF = attrgetter("line")


class Notes:
    """A parsed notes file. ``lines`` (with their endings, exactly as in the file) are split
    from ``text`` when first asked for: a scan reads the structure and rarely needs them."""

    def __init__(
        self,
        path: Path | None,
        lines: list[str] | None,
        metadata: dict[str, Any],
        body_start: int,
        headings: list[Heading],
        items: list[Item],
        newline: str,
        # a code fence or HTML comment that is never closed: (0-based line it opens on, what
        # it is); everything after it is hidden in it
        unclosed: tuple[int, str] | None = None,
        *,
        text: str | None = None,
        line_count: int | None = None,
        bare: list[str] | None = None,
        sections: list[Section] | None = None,
    ):
        if lines is None and text is None:
            raise TypeError("Notes needs its lines or its text")
        self.path = path
        self._lines = lines
        self._text = text
        self._count = line_count if line_count is not None else len(lines or split_lines(text or ""))
        self.metadata = metadata
        self.body_start = body_start
        self.headings = headings
        self.items = items
        self.newline = newline
        self.unclosed = unclosed
        self._sections = sections
        self._bare = bare  # text.split("\n"): each line without its "\n"

    def __repr__(self) -> str:
        return f"Notes(path={self.path!r}, lines={self._count}, headings={len(self.headings)}, items={len(self.items)})"

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = split_lines(self._text or "")
        return self._lines

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self._lines or ())
        return self._text

    def bare_lines(self, start: int, end: int) -> list[str]:
        """Lines ``start`` to ``end`` (exclusive) without their line endings."""
        if self._bare is not None:
            return [ln.rstrip("\r") for ln in self._bare[start : min(end, self._count)]]
        return [self.lines[i].rstrip("\r\n") for i in range(start, end)]

    def sections(self) -> list[Section]:
        """Each heading's section: it runs to the next heading of the same or a higher level."""
        if self._sections is None:
            heads = self.headings
            ends = [self._count] * len(heads)
            open_: list[int] = []  # headings whose section is still open, levels increasing
            for k, h in enumerate(heads):
                while open_ and heads[open_[-1]].level >= h.level:
                    ends[open_.pop()] = h.line
                open_.append(k)
            self._sections = [Section(h, end) for h, end in zip(heads, ends)]
        return list(self._sections)

    def section(self, title: str) -> Section | None:
        want = normalize_title(title)
        for s in self.sections():
            if normalize_title(s.title) == want:
                return s
        return None

    def items_in(self, section: Section) -> list[Item]:
        items = self.items  # in line order
        first = bisect.bisect_right(items, section.start, key=_LINE_OF)
        return items[first : bisect.bisect_left(items, section.end, first, key=_LINE_OF)]

    def top_items(self, section: Section) -> list[Item]:
        """Items of the section that have no parent item."""
        return [it for it in self.items_in(section) if it.parent is None]

    @property
    def title(self) -> str | None:
        return self.headings[0].title if self.headings else None

    def attendees(self) -> list[Attendee]:
        """The "Attendees" section's people, then those of "Attendees in Absentia" and the
        like (absent people own action items too)."""
        present: list[Attendee] = []
        others: list[Attendee] = []
        found = False
        for s in self.sections():
            title = normalize_title(s.title)
            if title == "attendees" and not found:
                present, found = parse_attendees(self, s), True
            elif title.startswith("attendees "):
                others += parse_attendees(self, s)
        return present + others


# ---------------------------------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
# a list item, with its checkbox if any: (indent, bullet, box, text after a box, text without a
# box); ASCII digits only, as CommonMark
_ITEM = re.compile(r"^([ \t]*)([-*+]|[0-9]{1,9}[.)])(?:[ \t]+(?:\[([ xX])\](?:[ \t]+(.*)|[ \t]*)$|(.*))|[ \t]*)$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_SPACES = re.compile(r"[\s]+")
_BREAK = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")  # a thematic break
_OWNER_SEP = re.compile(r"\s*(?:,|/|&|;|\band\b)\s*")
_HANDLE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_DELIM_CELL = re.compile(r":?-*:?")


def normalize_title(title: str) -> str:
    t = _TITLES.get(title)
    if t is None:
        t = _SPACES.sub(" ", _EMOJI.sub("", title).strip().lower()).strip(" :.-*_")
        if len(title) <= 200:  # an archive's headings are a few dozen titles, repeated
            if len(_TITLES) >= 4096:
                _TITLES.clear()
            _TITLES[title] = t
    return t


_TITLES: dict[str, str] = {}


def _indent(ws: str) -> int:
    return len(ws.expandtabs(4))


_INI = r"[A-Z](?:[a-z]?[A-Z]){1,4}"
_HANDLE = r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_OWNERS = rf"(?:{_INI}|{_HANDLE})(?:\s*(?:,|/|&|;|\band\b)\s*(?:{_INI}|{_HANDLE}))*"
_OWNER_COLON = re.compile(rf"^\(?({_OWNERS})\)?\s*:\s*(.*)$", re.S)
_OWNER_PAREN = re.compile(rf"^\(({_OWNERS})(?:\s*,\s*[a-z][^()]*)?\)\s*:?\s+(.*)$", re.S)
_OWNER_HANDLE = re.compile(rf"^({_HANDLE}(?:\s*(?:,|/|&)\s*{_HANDLE})*)\s+(.*)$", re.S)
# "[CHL] Drafting a CEP", "[WV / AD] TUF questions" (2021 notes); not a link "[CEP](url)"
_OWNER_BRACKET = re.compile(rf"^\[\s*({_OWNERS}|@?[a-z][a-z0-9-]{{1,38}})\s*\]\s*:?\s+(.*)$", re.S)
# "JRG (conda-forge): …", "LW & DG (Anaconda): …": owners, then who they speak for
_OWNER_AFFIL = re.compile(rf"^({_OWNERS})\s*\([^()]*\)\s*:\s*(.*)$", re.S)


# capitalised words that label a line ("FYI: passed the vote"), not people's initials
NOT_INITIALS = frozenset(
    {
        "FYI",
        "TODO",
        "TBD",
        "TBA",
        "WIP",
        "NOTE",
        "AOB",
        "FAQ",
        "ASAP",
        "AI",
        "OK",
        "YES",
        "CEP",
        "CEPS",
        "PR",
        "PRS",
        "API",
        "CI",
        "CDN",
        "RFC",
        "CLI",
        "OSS",
        "URL",
        "ARM",
    }
)


def split_owner(text: str) -> tuple[list[str], str]:
    """``"JRG, BZ: open a PR"`` -> ``(["JRG", "BZ"], "open a PR")``; handles keep their ``@``."""
    t = text.strip()
    if not t:
        return [], t
    first = t[0]
    if first == "[":
        rxs: tuple[re.Pattern[str], ...] = (_OWNER_BRACKET,)
    elif first == "@":
        rxs = (_OWNER_COLON, _OWNER_HANDLE)
    elif "A" <= first <= "Z":
        # initials start the text (``[A-Z](?:[a-z]?[A-Z])+``): most sentences are rejected here
        second = t[1:2]
        if not ("A" <= second <= "Z" or "a" <= second <= "z" and "A" <= t[2:3] <= "Z"):
            return [], t
        rxs = (_OWNER_COLON, _OWNER_AFFIL)
    elif first == "(":
        rxs = (_OWNER_COLON, _OWNER_PAREN)
    else:
        return [], t
    for rx in rxs:
        m = rx.match(t)
        if m:
            owners = [o.strip() for o in _OWNER_SEP.split(m.group(1)) if o.strip()]
            if rx is _OWNER_BRACKET and owners and owners[0][0].islower():
                owners = ["@" + o.lstrip("@") for o in owners]  # "[jezdez] CI improvements": a handle
            if any(o in NOT_INITIALS for o in owners):
                return [], t
            return owners, m.group(2).strip()
    return [], t


# "### Last Meeting 20200908" (under "## Previous Meetings"): an earlier meeting's notes copied
# below this meeting's own, in conda's notes of 2020; nothing in it is new
_LAST_MEETING = re.compile(r"last meeting\b.*")


def history_sections(notes: Notes) -> set[int]:
    """The heading lines of the sections that copy an earlier meeting's notes ("Last Meeting
    20200908" and its subsections: its "Action Items", its "Discussion"). The "Previous
    Meetings" section around them also holds this meeting's own ("Current Action Items")."""
    out: set[int] = set()
    copied_below = 0  # level of the open "Last Meeting" section, 0: none
    for sec in notes.sections():
        level = sec.heading.level
        if copied_below and level <= copied_below:
            copied_below = 0
        if not copied_below and _LAST_MEETING.fullmatch(normalize_title(sec.title)):
            copied_below = level
        if copied_below:
            out.add(sec.start)
    return out


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\n" only (as Markdown and Git do; str.splitlines
    would also split on form feeds, NEL and U+2028, which Markdown treats as text)."""
    lines = text.split("\n")
    out = [ln + "\n" for ln in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


MAX_FRONTMATTER_DEPTH = 100


def _check_yaml_depth(raw: str, path: Path | str | None) -> None:
    """Refuse YAML nested deeper than any frontmatter needs. The loader builds nested
    collections recursively (in C): tens of thousands of levels overflow the stack and kill the
    process. The event parser is iterative, so counting depth on its events is safe."""
    depth = 0
    for event in yaml.parse(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_FRONTMATTER_DEPTH:
                raise NotesError(path, f"frontmatter is nested too deeply (more than {MAX_FRONTMATTER_DEPTH} levels)")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


# frontmatter text -> its mapping, marshalled (a fresh copy for every file): an archive's
# files share a few frontmatters (the template's), and loading YAML is a third of a parse
_FRONTMATTERS: dict[str, bytes] = {}
_FRONTMATTERS_MAX, _FRONTMATTER_MEMO_CHARS = 64, 2000


def _frontmatter(raw: str, path: Path | str | None) -> dict[str, Any]:
    blob = _FRONTMATTERS.get(raw)
    if blob is not None:
        loaded_again: dict[str, Any] = marshal.loads(blob)
        return loaded_again
    try:
        _check_yaml_depth(raw, path)
        loaded = frontmatter.YAMLHandler().load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise NotesError(path, f"frontmatter is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except (ValueError, OverflowError) as exc:  # valid syntax, a value that cannot be built (2024-13-45)
        raise NotesError(path, f"frontmatter is not valid YAML: {exc}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise NotesError(path, "frontmatter must be a YAML mapping (key: value lines)")
    if len(raw) <= _FRONTMATTER_MEMO_CHARS:
        try:  # plain values only (a date is not marshallable: not kept)
            blob = marshal.dumps(loaded)
        except ValueError:
            blob = None
        if blob is not None:
            if len(_FRONTMATTERS) >= _FRONTMATTERS_MAX:
                _FRONTMATTERS.clear()
            _FRONTMATTERS[raw] = blob
    return loaded


def parse_notes(text: str, path: Path | str | None = None) -> Notes:
    """Parse notes text; raise NotesError for anything we could not safely edit."""
    if "\x00" in text:
        raise NotesError(path, "contains NUL bytes; not a text file")
    # the lines without their "\n" (a "\r" of CRLF is dropped below): Notes.lines, with their
    # endings, are only split when someone asks for them
    raw = text.split("\n")
    count = len(raw) if raw[-1] else len(raw) - 1
    newline = "\r\n" if len(raw) > 1 and raw[0].endswith("\r") else "\n"
    metadata: dict[str, Any] = {}
    body_start = 0
    # a byte order mark (editors on Windows) is no text: structure is read as if it were absent
    bom = 1 if text.startswith("\ufeff") else 0
    if count and raw[0][bom:].rstrip() == "---":
        close = None
        for i in range(1, count):
            if raw[i].rstrip() in ("---", "..."):
                close = i
                break
        if close is None:
            raise NotesError(path, "frontmatter starts with '---' on line 1 but is never closed")
        metadata = _frontmatter("\n".join(raw[1:close]) + "\n" if close > 1 else "", path)
        body_start = close + 1
    body = raw[body_start:count]
    if "\r" in text:
        body = [ln.rstrip("\r") for ln in body]
    if bom and body_start == 0 and body:
        body[0] = body[0][1:]
    found = _structure(body, body_start, count)
    return Notes(
        (path if isinstance(path, Path) else Path(path)) if path else None,
        None,
        metadata,
        body_start,
        found.headings,
        found.items,
        newline,
        found.unclosed,
        text=text,
        line_count=count,
        bare=raw,
        sections=found.sections,
    )


class _Structure(NamedTuple):
    headings: list[Heading]
    sections: list[Section]
    items: list[Item]
    unclosed: tuple[int, str] | None


def _structure(body: list[str], first: int, count: int) -> _Structure:
    """Headings, sections, items (nested, with the lines they span) and an unclosed block of
    the body's lines (no line endings; ``first``: the first one's number, ``count``: the
    file's number of lines). One pass, the line's first character tested before any regex.
    A line that extends an item extends all open ones: ``last`` keeps the line after the last
    such line, and becomes an item's ``end`` when it is closed."""
    headings: list[Heading] = []
    sections: list[Section] = []
    open_sections: list[Section] = []  # levels increasing
    section: Section | None = None  # the innermost: the last heading's
    items: list[Item] = []
    stack: list[Item] = []  # open items, innermost last
    last = 0  # line after the last line that extended the open items
    lazy = False  # the previous line is an item or its text (a lazy continuation may follow)
    unclosed = None
    item_match, break_match = _ITEM.match, _BREAK.match
    numbered = enumerate(body, first)
    for i, line in numbered:
        stripped = line.strip()
        if not stripped:
            lazy = False
            continue
        c = stripped[0]
        if c in "-*+0123456789":
            im = item_match(line)
            if im is not None:
                ws, bullet, box, boxed, rest = im.groups()
                if box is not None or c not in "-*" or (rest or c)[0] != c or not break_match(line):
                    ind = len(ws) if "\t" not in ws else len(ws.expandtabs(4))
                    while stack and stack[-1].indent >= ind:
                        stack.pop().end = last
                    last = i + 1
                    text = (boxed or "").strip() if box is not None else (rest or "").strip()
                    checked = None if box is None else box != " "
                    if stack:
                        parent = stack[-1]
                        item = Item(i, ind, bullet, checked, text, last, parent, [], section)
                        parent.children.append(item)
                    else:
                        item = Item(i, ind, bullet, checked, text, last, None, [], section)
                    stack.append(item)
                    items.append(item)
                    lazy = True
                    continue
        elif c == "#":
            h = _HEADING.match(line)
            if h is not None:
                for it in stack:
                    it.end = last
                stack.clear()
                heading = Heading(i, len(h.group(1)), (h.group(2) or "").strip())
                headings.append(heading)
                section = _open_section(heading, count, sections, open_sections)
                lazy = False
                continue
        elif c in "`~":
            m = _FENCE.match(line)
            if m is not None:  # (lazy stays: a fence is not a blank line)
                last, closed = _fenced_block(numbered, i, line, m.group(1), stack, last)
                if not closed:
                    unclosed = (i, "code block")
                continue
        elif c == "<" and stripped.startswith("<!--"):
            if "-->" not in stripped[4:] and not _skip_comment(numbered):
                unclosed = (i, "HTML comment")
            continue

        # other text: a continuation of the open item if indented (or lazy), else ends lists
        if stack:
            if not lazy:  # it continues the innermost open item it is indented under
                ind = _indent(line[: len(line) - len(line.lstrip())])
                while stack and ind <= stack[-1].indent:
                    stack.pop().end = last
            last = i + 1
    for it in stack:
        it.end = last
    return _Structure(headings, sections, items, unclosed)


def _open_section(heading: Heading, count: int, sections: list[Section], open_sections: list[Section]) -> Section:
    """The section of a new heading (to the end of the file until a heading of the same or a
    higher level ends it); the open sections it ends get their end."""
    while open_sections and open_sections[-1].heading.level >= heading.level:
        open_sections.pop().end = heading.line
    section = Section(heading, count)
    sections.append(section)
    open_sections.append(section)
    return section


def _fenced_block(
    numbered: Iterator[tuple[int, str]], i: int, line: str, marker: str, stack: list[Item], last: int
) -> tuple[int, bool]:
    """A fenced code block opening on line ``i``: the open items not indented less than the
    fence are closed; the block's lines are taken from ``numbered`` up to its closing line,
    each extending the open items. (The new ``last``; whether the block was closed.)"""
    ind = _indent(line[: len(line) - len(line.lstrip())])
    while stack and stack[-1].indent >= ind:
        stack.pop().end = last
    n = i
    for n, text in numbered:
        m = _FENCE.match(text)
        if m and m.group(1)[0] == marker[0] and len(m.group(1)) >= len(marker):
            if not text.strip()[len(m.group(1)) :].strip():
                return n + 1, True
    return n + 1, False


def _skip_comment(numbered: Iterator[tuple[int, str]]) -> bool:
    """Take the lines of an HTML comment after its opening line, up to the line that closes
    it: whether one does."""
    return any("-->" in line for _, line in numbered)


def read_notes(path: Path) -> Notes:
    """Read and parse a notes file. Only a regular file is read: a FIFO, device or socket at
    the path is refused at once (opened without blocking, checked on the open descriptor, so
    nothing can swap it in between)."""
    try:
        data = read_regular_file(Path(path))
    except FileNotFoundError:
        raise NotesError(path, "notes file not found") from None
    except OSError as exc:
        raise NotesError(path, f"cannot read notes file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotesError(path, f"not UTF-8 text (byte {exc.start})") from None
    return parse_notes(text, path)


class _NotRegular(OSError):
    pass


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file; OSError (EINVAL, "not a regular file")
    at once for a FIFO, device or socket, which would block or never end. Read with
    ``os.read`` on the descriptor (no buffered file object: a scan reads ten thousand files)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegular(
                errno.EINVAL,
                "not a regular file (a FIFO, device or socket); the bot reads and edits only regular files",
            )
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        # the size is a hint: the file may grow or shrink while it is read; read to the end
        chunks = [os.read(fd, st.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, max(st.st_size, 65536)))
        return b"".join(chunks) if len(chunks) > 2 else chunks[0]
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# Attendees


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in row.split("|")]


def _clean_handle(h: str | None) -> str | None:
    if not h:
        return None
    h = h.strip().strip("()").strip().lstrip("@").strip()
    return h if _HANDLE_NAME.fullmatch(h) else None


_GH = r"\(\s*(@?\s*[\w-]+)\s*\)"  # "(@jaimergp)", "(jaimergp)", "(@ dholth)"
_LIST_TEMPLATE = re.compile(rf"^({_INI}|[A-Za-z]{{2,5}})\s*:\s*([^(,]+?)\s*(?:{_GH})?\s*(?:,\s*(.*?))?\.?$")
# "HV, Axel Obermeier (@h-vetinari)", "HV, Axel Obermeier (@h-vetinari), conda-forge"
_LIST_COMMA = re.compile(rf"^({_INI}|[A-Z]{{2,5}})\s*,\s*([^(,@]+?)\s*(?:{_GH}|(@[\w-]+))?\s*(?:,\s*(.*?))?\.?$")
_LIST_PAREN = re.compile(r"^(.+?)\s*\(([A-Za-z]{2,5})\)\s*(?:\(?\s*@?\s*([\w-]+)\s*\)?)?\s*$")
_LIST_TRAILING = re.compile(rf"^(.+?)\s+({_INI})\s*(@[\w-]+)?\s*$")
_LIST_NAME = re.compile(r"^([^@()]+?)\s*(?:(@[\w-]+)|\(\s*(@\s*[\w-]+)\s*\))?\s*$")
_LIST_HANDLE = re.compile(r"^\(?\s*@\s*([A-Za-z0-9][\w-]*)\s*\)?\.?$")  # the handle alone


def parse_attendee_line(text: str) -> Attendee | None:
    t = text.strip()
    hit = _ATTENDEE_LINES.get(t)
    if hit is None:
        hit = _attendee_fields(t)
        _remember(_ATTENDEE_LINES, t, hit)
    return Attendee(*hit) if hit else None


# the people of an archive come back every week, written the same way: a line (or table row)
# seen before is not matched against every style again
_ATTENDEE_LINES: dict[str, tuple] = {}
_ATTENDEE_ROWS: dict[tuple, tuple] = {}
_TABLE_COLUMNS: dict[str, tuple[int | None, int | None, int | None, int | None]] = {}
_MEMO_MAX, _MEMO_KEY_CHARS = 4096, 500


def _remember(memo: dict, key: Any, value: Any) -> None:
    """Keep ``value`` under ``key`` unless the key is long (a hostile file's huge line); a
    full memo starts again."""
    if len(key if isinstance(key, str) else key[-1]) <= _MEMO_KEY_CHARS:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = value


def _attendee_fields(t: str) -> tuple:
    """(name, initials, github, affiliation) of one attendee line, or () if it names nobody."""
    if not t or t in ("...", "…") or t.startswith("**") or "Initials" in t:
        return ()
    if t.startswith("[") or t.startswith("(") and not t.startswith("(@"):  # "[CJW] Deprecation of …": not a person
        return ()
    m = _LIST_HANDLE.match(t)
    if m:
        return (None, None, _clean_handle(m.group(1)))
    m = _LIST_TEMPLATE.match(t)
    if m:
        return (m.group(2).strip(), m.group(1), _clean_handle(m.group(3)), (m.group(4) or None))
    m = _LIST_COMMA.match(t)
    if m:
        return (m.group(2).strip(), m.group(1), _clean_handle(m.group(3) or m.group(4)), (m.group(5) or None))
    m = _LIST_PAREN.match(t)
    if m:
        return (m.group(1).strip(), m.group(2), _clean_handle(m.group(3)))
    m = _LIST_TRAILING.match(t)
    if m:
        return (m.group(1).strip(), m.group(2), _clean_handle(m.group(3)))
    m = _LIST_NAME.match(t)
    if m:
        return (m.group(1).strip(), None, _clean_handle(m.group(2) or m.group(3)))
    return ()


def _table_columns(header_row: str) -> tuple[int | None, int | None, int | None, int | None]:
    """Where name, initials, GitHub username and affiliation are in a table's header row."""
    header = [c.lower() for c in _cells(header_row)]

    def col(*names: str) -> int | None:
        for n in names:
            for j, h in enumerate(header):
                if h == n:
                    return j
        for n in names:
            for j, h in enumerate(header):
                if n in h:
                    return j
        return None

    return col("name"), col("initials"), col("gh username", "github", "username", "gh"), col("affiliation")


def _table_row(columns: tuple[int | None, int | None, int | None, int | None], row: str) -> tuple:
    """(name, initials, github, affiliation) of a table row, or () for a delimiter row or a
    row without a name or initials."""
    cells = _cells(row)
    if all(_DELIM_CELL.fullmatch(c) for c in cells):
        return ()

    def get(j: int | None) -> str | None:
        return cells[j].strip() or None if j is not None and j < len(cells) else None

    c_name, c_ini, c_gh, c_aff = columns
    name, ini = get(c_name), get(c_ini)
    if not name and not ini:
        return ()
    return (name, ini, _clean_handle(get(c_gh)), get(c_aff))


def parse_attendees(notes: Notes, section: Section) -> list[Attendee]:
    """The people of an attendee section, not of its subsections (2021 notes put
    "### Introductions" and "### Announcements" under "## Attendees")."""
    end = next((h.line for h in notes.headings if section.start < h.line < section.end), section.end)
    section = Section(section.heading, end)
    table = [ln for ln in notes.bare_lines(section.start + 1, section.end) if ln.strip().startswith("|")]
    out: list[Attendee] = []
    if table:
        columns = _TABLE_COLUMNS.get(table[0])
        if columns is None:
            columns = _table_columns(table[0])
            _remember(_TABLE_COLUMNS, table[0], columns)
        for row in table[1:]:
            key = (columns, row)
            fields = _ATTENDEE_ROWS.get(key)
            if fields is None:
                fields = _table_row(columns, row)
                _remember(_ATTENDEE_ROWS, key, fields)
            if fields:
                out.append(Attendee(*fields))
        return out
    for it in notes.items_in(section):
        if it.parent is None:
            a = parse_attendee_line(it.text)
            if a:
                out.append(a)
    return out
