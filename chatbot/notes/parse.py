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

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml


class NotesError(Exception):
    """A notes file cannot be parsed; it must not be written."""

    def __init__(self, path: Path | str | None, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass
class Heading:
    line: int
    level: int
    title: str


@dataclass
class Section:
    heading: Heading
    end: int  # exclusive line index

    @property
    def title(self) -> str:
        return self.heading.title

    @property
    def start(self) -> int:
        return self.heading.line


@dataclass
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


@dataclass
class Notes:
    path: Path | None
    lines: list[str]  # with line endings, exactly as in the file
    metadata: dict[str, Any]
    body_start: int
    headings: list[Heading]
    items: list[Item]
    newline: str
    # a code fence or HTML comment that is never closed: (0-based line it opens on, what it is);
    # everything after it is hidden in it
    unclosed: tuple[int, str] | None = None

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def sections(self) -> list[Section]:
        out = []
        for i, h in enumerate(self.headings):
            end = len(self.lines)
            for later in self.headings[i + 1 :]:
                if later.level <= h.level:
                    end = later.line
                    break
            out.append(Section(h, end))
        return out

    def section(self, title: str) -> Section | None:
        want = normalize_title(title)
        for s in self.sections():
            if normalize_title(s.title) == want:
                return s
        return None

    def items_in(self, section: Section) -> list[Item]:
        return [it for it in self.items if section.start < it.line < section.end]

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
_ITEM = re.compile(r"^([ \t]*)([-*+]|[0-9]{1,9}[.)])(?:[ \t]+(.*)|[ \t]*)$")  # ASCII digits only, as CommonMark
_CHECK = re.compile(r"^\[([ xX])\](?:[ \t]+(.*)|[ \t]*)$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_SPACES = re.compile(r"[\s]+")
_BREAK = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")  # a thematic break
_OWNER_SEP = re.compile(r"\s*(?:,|/|&|;|\band\b)\s*")
_HANDLE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_DELIM_CELL = re.compile(r":?-*:?")


def normalize_title(title: str) -> str:
    t = _EMOJI.sub("", title).strip().lower()
    t = _SPACES.sub(" ", t)
    return t.strip(" :.-*_")


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
    elif first == "(" or "A" <= first <= "Z":
        rxs = (_OWNER_COLON, _OWNER_PAREN, _OWNER_AFFIL)
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


def parse_notes(text: str, path: Path | str | None = None) -> Notes:
    """Parse notes text; raise NotesError for anything we could not safely edit."""
    if "\x00" in text:
        raise NotesError(path, "contains NUL bytes; not a text file")
    lines = split_lines(text)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    metadata: dict[str, Any] = {}
    body_start = 0
    # a byte order mark (editors on Windows) is no text: structure is read as if it were absent
    bom = 1 if text.startswith("\ufeff") else 0
    if lines and lines[0][bom:].rstrip("\r\n").rstrip() == "---":
        close = None
        for i in range(1, len(lines)):
            if lines[i].rstrip("\r\n").rstrip() in ("---", "..."):
                close = i
                break
        if close is None:
            raise NotesError(path, "frontmatter starts with '---' on line 1 but is never closed")
        raw = "".join(lines[1:close])
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
        metadata = loaded
        body_start = close + 1

    headings: list[Heading] = []
    items: list[Item] = []
    stack: list[Item] = []  # open items, innermost last
    last_item_line: int | None = None  # for lazy continuation
    prev_blank = True
    fence: tuple[str, int] | None = None  # (marker, indent)
    in_comment = False
    opened = 0  # line of the open fence or comment

    for i in range(body_start, len(lines)):
        raw_line = lines[i].rstrip("\r\n")
        if i == 0 and bom:
            raw_line = raw_line[1:]
        stripped = raw_line.strip()

        if fence is not None:
            m = _FENCE.match(raw_line)
            if (
                m
                and m.group(1)[0] == fence[0][0]
                and len(m.group(1)) >= len(fence[0])
                and not raw_line.strip()[len(m.group(1)) :].strip()
            ):
                fence = None
            if stack:
                stack[-1].end = i + 1
                for it in stack:
                    it.end = i + 1
            continue
        if in_comment:
            if "-->" in raw_line:
                in_comment = False
            continue
        if stripped.startswith("<!--"):
            if "-->" not in stripped[4:]:
                in_comment = True
                opened = i
            continue

        if not stripped:
            prev_blank = True
            last_item_line = None
            continue

        # cheap first-character tests before each regex (each regex needs that character)
        first = stripped[0]
        m = _FENCE.match(raw_line) if first in "`~" else None
        if m:
            ind = _indent(raw_line[: len(raw_line) - len(raw_line.lstrip())])
            fence = (m.group(1), ind)
            opened = i
            while stack and stack[-1].indent >= ind:
                stack.pop()
            for it in stack:
                it.end = i + 1
            prev_blank = False
            continue

        h = _HEADING.match(raw_line) if first == "#" else None
        if h:
            stack.clear()
            headings.append(Heading(i, len(h.group(1)), (h.group(2) or "").strip()))
            prev_blank = False
            last_item_line = None
            continue

        im = _ITEM.match(raw_line) if first in "-*+0123456789" else None
        if im and not _BREAK.match(raw_line):  # not a thematic break
            ind = _indent(im.group(1))
            rest = im.group(3) or ""
            cm = _CHECK.match(rest)
            checked = None
            if cm:
                checked = cm.group(1) in "xX"
                rest = cm.group(2) or ""
            while stack and stack[-1].indent >= ind:
                stack.pop()
            item = Item(line=i, indent=ind, bullet=im.group(2), checked=checked, text=rest.strip(), end=i + 1)
            if stack:
                item.parent = stack[-1]
                stack[-1].children.append(item)
            for it in stack:
                it.end = i + 1
            stack.append(item)
            items.append(item)
            last_item_line = i
            prev_blank = False
            continue

        # other text: a continuation of the open item if indented (or lazy), else ends lists
        ind = _indent(raw_line[: len(raw_line) - len(raw_line.lstrip())])
        if stack and (ind > stack[-1].indent or (last_item_line is not None and not prev_blank)):
            for it in stack:
                it.end = i + 1
        elif stack:
            # find an outer item this line is indented under
            while stack and ind <= stack[-1].indent:
                stack.pop()
            for it in stack:
                it.end = i + 1
            if not stack:
                last_item_line = None
        prev_blank = False

    # attach sections
    unclosed = (opened, "code block" if fence else "HTML comment") if fence or in_comment else None
    notes = Notes(Path(path) if path else None, lines, metadata, body_start, headings, items, newline, unclosed)
    # An item belongs to the section of the last heading above it: that section contains it
    # (it only ends at a later heading) and is the innermost one that does. Items and
    # sections are both in line order, so one merge pass does it.
    sections = notes.sections()
    k = -1
    for it in items:
        while k + 1 < len(sections) and sections[k + 1].start < it.line:
            k += 1
        it.section = sections[k] if k >= 0 else None
    return notes


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
    at once for a FIFO, device or socket, which would block or never end."""
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
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
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
    if not t or t in ("...", "…") or t.startswith("**") or "Initials" in t:
        return None
    if t.startswith("[") or t.startswith("(") and not t.startswith("(@"):  # "[CJW] Deprecation of …": not a person
        return None
    m = _LIST_HANDLE.match(t)
    if m:
        return Attendee(None, None, _clean_handle(m.group(1)))
    m = _LIST_TEMPLATE.match(t)
    if m:
        return Attendee(m.group(2).strip(), m.group(1), _clean_handle(m.group(3)), (m.group(4) or None))
    m = _LIST_COMMA.match(t)
    if m:
        return Attendee(m.group(2).strip(), m.group(1), _clean_handle(m.group(3) or m.group(4)), (m.group(5) or None))
    m = _LIST_PAREN.match(t)
    if m:
        return Attendee(m.group(1).strip(), m.group(2), _clean_handle(m.group(3)))
    m = _LIST_TRAILING.match(t)
    if m:
        return Attendee(m.group(1).strip(), m.group(2), _clean_handle(m.group(3)))
    m = _LIST_NAME.match(t)
    if m:
        return Attendee(m.group(1).strip(), None, _clean_handle(m.group(2) or m.group(3)))
    return None


def parse_attendees(notes: Notes, section: Section) -> list[Attendee]:
    """The people of an attendee section, not of its subsections (2021 notes put
    "### Introductions" and "### Announcements" under "## Attendees")."""
    end = next((h.line for h in notes.headings if section.start < h.line < section.end), section.end)
    section = Section(section.heading, end)
    lines = [notes.lines[i].rstrip("\r\n") for i in range(section.start + 1, section.end)]
    table = [ln for ln in lines if ln.strip().startswith("|")]
    out: list[Attendee] = []
    if table:
        header = [c.lower() for c in _cells(table[0])]

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

        c_name, c_ini = col("name"), col("initials")
        c_gh, c_aff = col("gh username", "github", "username", "gh"), col("affiliation")
        for row in table[1:]:
            cells = _cells(row)
            if all(_DELIM_CELL.fullmatch(c) for c in cells):
                continue

            def get(j: int | None) -> str | None:  # used at once, in this iteration
                return cells[j].strip() or None if j is not None and j < len(cells) else None  # noqa: B023

            name, ini = get(c_name), get(c_ini)
            if not name and not ini:
                continue
            out.append(Attendee(name, ini, _clean_handle(get(c_gh)), get(c_aff)))
        return out
    section_items = [it for it in notes.items_in(section) if it.parent is None]
    for it in section_items:
        a = parse_attendee_line(it.text)
        if a:
            out.append(a)
    return out
