"""Minimal, atomic, locked edits of a notes file.

Every edit follows the same steps, under a file lock shared by every process that uses the
same notes directory:

1. read the file and parse it (:func:`~chatbot.notes.parse.read_notes`); a file that does
   not parse is never written;
2. compute a list of whole lines to insert, replace or delete; nothing else is touched,
   frontmatter included (it is parsed to validate, never re-serialized);
3. write the new text to a temporary file in the same directory, fsync it, give it the old
   file's permissions and ``os.replace`` it over the original (atomic on POSIX), then fsync
   the directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from filelock import FileLock, Timeout

from .parse import Item, Notes, NotesError, Section, parse_notes, read_notes

LOCK_NAME = ".chatbot.lock"
LOCK_TIMEOUT = 30.0
PLACEHOLDER = "- [ ] ..."


class EditError(Exception):
    """An edit was refused; the message is meant for the person who asked."""


@contextlib.contextmanager
def locked(directory: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Serialize edits of the notes in ``directory`` across threads and processes."""
    lock = FileLock(str(directory / LOCK_NAME), timeout=timeout)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise EditError(f"the notes in {directory} are locked by another edit; try again in a moment") from None
    except OSError as exc:  # a read-only or foreign directory: the lock file cannot be made
        raise EditError(f"cannot lock the notes in {directory}: {_reason(exc)}; nothing was changed") from None
    try:
        _remove_stale_temp_files(directory)
        yield
    finally:
        lock.release()


_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _remove_stale_temp_files(directory: Path) -> None:
    """Temp files left by a writer that was killed mid-write (we hold the lock: nobody else
    is writing). The notes file itself was never touched by such a writer."""
    for p in directory.glob(".*.tmp"):
        if _TEMP.match(p.name):
            with contextlib.suppress(OSError):
                p.unlink()


# A test hook: called with the notes path inside the window between the bot's "unchanged?"
# check and its rename, where a person's save must not be lost (tests inject a save or a
# delay here). None in production.
WRITE_WINDOW_HOOK: Callable[[Path], None] | None = None


class ChangedUnderneath(Exception):
    """The file changed between our read and our write (someone edited it by hand)."""


def atomic_write(path: Path, text: str, expect: str | None = None) -> None:
    """Write ``text`` to ``path`` atomically. With ``expect``, the file must still hold
    exactly that text when it is replaced, else ChangedUnderneath and the file keeps what
    is in it (a person's save that lands while the bot writes is never lost).

    Where the system can swap two names atomically (Linux ``renameat2(RENAME_EXCHANGE)``)
    the new file is swapped in and what it displaced is compared with ``expect``: if a save
    got in since the check, the swap is undone and the caller starts again from the saved
    text. Elsewhere the check is made right before ``os.replace``, which leaves a window of
    a few microseconds."""
    data = text.encode("utf-8")
    directory = path.parent
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if expect is None:
            os.replace(tmp, path)
        else:
            wanted = expect.encode("utf-8")
            try:
                if path.read_bytes() != wanted:
                    raise ChangedUnderneath(str(path))
            except FileNotFoundError:
                raise ChangedUnderneath(str(path)) from None
            if WRITE_WINDOW_HOOK is not None:
                WRITE_WINDOW_HOOK(path)
            if not _swap_checked(tmp, path, data, wanted):
                os.replace(tmp, path)  # no atomic swap here: the check above is the best we have
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _swap_checked(tmp: str, path: Path, ours: bytes, wanted: bytes) -> bool:
    """Swap ``tmp`` (our new text) and ``path``; keep the swap if what it displaced is
    ``wanted``, else undo it and raise ChangedUnderneath. False if the system cannot swap
    (nothing was done)."""
    if not _exchange(tmp, path):
        return False
    try:
        displaced = Path(tmp).read_bytes()
    except OSError:
        displaced = None
    if displaced == wanted:
        os.unlink(tmp)  # the text we read, now replaced
        return True
    # A save got in between our check and the swap: give it back.
    if not _exchange(tmp, path):
        os.replace(tmp, path)
        raise ChangedUnderneath(str(path))
    try:
        back = Path(tmp).read_bytes()
    except OSError:
        back = None
    if back == ours:
        os.unlink(tmp)
    else:
        # yet another save replaced our text while we looked: that newest save is what counts
        os.replace(tmp, path)
    raise ChangedUnderneath(str(path))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None  # None: not looked up yet; False: not available; else libc's function


def _exchange(a: str | Path, b: str | Path) -> bool:
    """Atomically swap two names in one directory; False where the system cannot."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                fn = libc.renameat2  # glibc >= 2.28, musl >= 1.2.?
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
    if _renameat2 is False:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False  # this file system (or kernel, or sandbox) cannot swap
    if err == errno.ENOENT:
        raise ChangedUnderneath(str(b))  # the file was removed since it was read
    raise OSError(err, os.strerror(err), str(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(exc: OSError) -> str:
    return {
        errno.ENOSPC: "the disk is full",
        errno.EFBIG: "the file would exceed the size limit for files",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno or 0, exc.strerror or str(exc))


def write_error(path: Path, exc: OSError) -> EditError:
    return EditError(f"could not write {path.name}: {_reason(exc)}; the file was not changed")


# ---------------------------------------------------------------------------------------
# Agenda text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # lone halves of UTF-16 pairs: not encodable as UTF-8


def clean_item_text(text: str, max_length: int) -> str:
    """One safe Markdown line for an agenda item, or EditError with the reason."""
    if text is None:
        text = ""
    one = _CONTROL.sub(" ", text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    one = _SURROGATE.sub("\ufffd", one)
    one = re.sub(r"[ \t]+", " ", one).strip()
    if not one:
        raise EditError(
            "the agenda item is empty; write what you want to discuss, e.g. `/agenda add Release plans for 25.1`"
        )
    if len(one) > max_length:
        raise EditError(
            f"the agenda item is {len(one)} characters long; the limit is {max_length}. Shorten it or link to an issue"
        )
    # Leading characters that would turn the line into a heading, quote, nested list or
    # checkbox are escaped so the item stays one plain list entry.
    one = re.sub(r"^(#+|>+|[-*+](?=\s)|\d+[.)](?=\s)|\[[ xX]\])", lambda m: "\\" + m.group(1), one)
    one = one.replace("<!--", "&lt;!--")
    # @here, @channel stay as typed: the notes are the users' document, and invisible
    # characters in it would surprise the next person editing it. Each platform defuses them
    # when it posts user text to chat (messages.plain_user_text, the Slack and Zulip renderers).
    return one


# ---------------------------------------------------------------------------------------
# Edits


@dataclass
class EditResult:
    path: Path | str | None  # where the notes are (a file, or a note's name)
    line: int  # 1-based line number of the item that was added / removed
    text: str  # the item line as written / removed (without newline)
    number: int | None = None  # its number in the agenda list
    place: str = ""  # where it went, in words ("under “Action items”"), where that varies


def _section_or_fail(notes: Notes, title: str) -> Section:
    section = notes.section(title)
    if section is None:
        raise NotesError(
            notes.path, f"has no '{title}' section (a heading named like that), so the bot cannot place the item"
        )
    return section


def agenda_items(notes: Notes, section: Section) -> list[Item]:
    """The numbered items of an agenda section: top-level, placeholders excluded."""
    return [it for it in notes.top_items(section) if not it.is_placeholder]


EDIT_ATTEMPTS = 5


LineEdit = Callable[[Notes], tuple[list[str], EditResult]]
"""A minimal edit as a pure function: the parsed notes -> their new lines (whole lines inserted,
replaced or deleted; nothing else changed) and what was done. It raises EditError or NotesError
to refuse. Stores apply it to wherever the notes live (:func:`apply_to_file`, or a note read
from a web service with :func:`apply_to_text`)."""


def apply_to_text(text: str, change: LineEdit, where: Path | str | None = None) -> tuple[str, EditResult]:
    """Parse ``text`` (refusing what cannot be parsed) and apply ``change`` to it."""
    new_lines, result = change(parse_notes(text, where))
    return "".join(new_lines), result


def apply_to_file(path: Path, change: LineEdit) -> EditResult:
    """Apply ``change`` to the notes file at ``path``. Call under ``locked``."""
    return _apply(path, change)


def _apply(path: Path, change: LineEdit) -> EditResult:
    """Read, change, write; if a person (who does not take our lock) saved the file in the
    meantime, start again from their version so their edit is not lost."""
    if path.is_symlink():
        # write the file the link points to (replacing the link would leave the file people
        # read unchanged), if it is in the same, locked, directory
        target = Path(os.path.realpath(path))  # no exception for a link loop: reading reports it
        if target.parent != Path(os.path.realpath(path.parent)):
            raise EditError(
                f"{path.name} is a symbolic link to a file outside {path.parent}; "
                "the bot does not edit through it, so nothing was changed"
            )
        path = target
    for _ in range(EDIT_ATTEMPTS):
        notes = read_notes(path)
        refuse_conflicted(path, notes.text)
        new_lines, result = change(notes)
        try:
            atomic_write(path, "".join(new_lines), expect=notes.text)
        except ChangedUnderneath:
            continue
        except OSError as exc:
            raise write_error(path, exc) from None
        return result
    raise EditError(f"{path.name} keeps changing while the bot edits it; try again in a moment")


_CONFLICT_START = re.compile(r"^<{7}(?:[ \t].*)?$", re.M)
_CONFLICT_END = re.compile(r"^>{7}(?:[ \t].*)?$", re.M)
_CONFLICT_MIDDLE = re.compile(r"^={7}[ \t]*$", re.M)


def conflict_line(text: str) -> int | None:
    """The line (1-based) of a merge conflict Git left in the text: a ``<<<<<<<`` line followed
    by a ``=======`` and a ``>>>>>>>`` line. (``=======`` alone is a Markdown heading underline.)"""
    start = _CONFLICT_START.search(text)
    if start is None:
        return None
    middle = _CONFLICT_MIDDLE.search(text, start.end())
    if middle is None or _CONFLICT_END.search(text, middle.end()) is None:
        return None
    return text.count("\n", 0, start.start()) + 1


def refuse_conflicted(path: Path, text: str) -> None:
    """Never edit a file with an unresolved merge conflict: the person resolving it would find
    the bot's line inside the conflict, and a commit of it would mark the conflict resolved."""
    line = conflict_line(text)
    if line is not None:
        raise EditError(
            f"{path.name} has an unresolved merge conflict (the <<<<<<< marker on line {line}); "
            "nothing was changed. Resolve the conflict in the file (keep what should stay, delete "
            "the <<<<<<<, ======= and >>>>>>> lines) and try again"
        )


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _in_list_style(line_text: str, bullet: str, indent: str) -> str:
    """``- [ ] …`` written with the bullet and indentation of the list it joins: a different
    bullet character would start a new list (CommonMark), shown apart from the others."""
    if not line_text.startswith("- "):
        return line_text
    return f"{indent}{bullet} {line_text[2:]}"


def _next_bullet(real: list[Item]) -> str:
    last = real[-1]
    if last.bullet[0].isdigit():
        number = int(last.bullet[:-1])
        if len(real) > 1 and real[-2].bullet == last.bullet:
            return last.bullet  # numbered lazily: "1." for every item
        return f"{number + 1}{last.bullet[-1]}"
    return last.bullet


def add_item(path: Path, section_title: str, line_text: str) -> EditResult:
    """:func:`adding` applied to the notes file at ``path``. Call under ``locked``."""
    return _apply(path, adding(section_title, line_text))


def adding(section_title: str, line_text: str) -> LineEdit:
    """Insert ``line_text`` (an item without newline, written ``- …``) into the section, after
    its last item and in that list's bullet style and indentation."""

    def change(notes: Notes) -> tuple[list[str], EditResult]:
        return insert_item(notes, _section_or_fail(notes, section_title), line_text)

    return change


def insert_item(notes: Notes, section: Section, line_text: str) -> tuple[list[str], EditResult]:
    """The lines of ``notes`` with ``line_text`` added to ``section`` (as :func:`adding` does):
    in place of the section's only placeholder, else after its last top-level item (in that
    list's style), else after its last non-blank line."""
    lines = list(notes.lines)
    top = notes.top_items(section)
    real = [it for it in top if not it.is_placeholder]
    placeholders = [it for it in top if it.is_placeholder and it.end == it.line + 1]
    if not real and placeholders:
        ph = placeholders[0]
        ending = lines[ph.line][len(lines[ph.line].rstrip("\r\n")) :]
        text = _in_list_style(line_text, ph.bullet, _leading_ws(lines[ph.line]))
        lines[ph.line] = text + ending
        return lines, EditResult(notes.path, ph.line + 1, text, 1)
    text = line_text
    if real:
        at = real[-1].end
        text = _in_list_style(line_text, _next_bullet(real), _leading_ws(lines[real[-1].line]))
    else:
        at = section.start + 1
        for i in range(section.end - 1, section.start, -1):
            if lines[i].strip():
                at = i + 1
                break
    insert_line(notes, lines, at, text)
    return lines, EditResult(notes.path, at + 1, text, len(real) + 1)


def insert_line(notes: Notes, lines: list[str], at: int, text: str) -> None:
    """Insert ``text`` as the 0-based line ``at`` of ``lines`` (the lines of ``notes``), with the
    line ending of the line above; NotesError if an unclosed code block or comment above would
    hide it."""
    if notes.unclosed and notes.unclosed[0] < at:
        line, kind = notes.unclosed
        raise NotesError(
            notes.path,
            f"the {kind} opened on line {line + 1} is never closed, so an item added "
            "after it would be hidden in it (and headings after it cannot be seen); close it "
            "and try again",
        )
    if at > 0 and not lines[at - 1].endswith("\n"):
        # inserting after a last line without a newline: keep the file without one
        lines[at - 1] = lines[at - 1] + notes.newline
        lines.insert(at, text)
    else:
        # the line ending of the line above (files with mixed endings exist)
        above = lines[at - 1] if at > 0 else ""
        lines.insert(at, text + (above[len(above.rstrip("\r\n")) :] or notes.newline))


def _placeholder_like(notes: Notes, line: int) -> str:
    """``- [ ] …`` as the file's placeholder nearest to ``line`` is written (the one above on a
    tie), else the template's ``- [ ] ...``."""
    near = sorted(
        (abs(it.line - line), -it.line, it)
        for it in notes.items
        if it.is_placeholder and it.end == it.line + 1 and it.line != line
    )
    if not near:
        return PLACEHOLDER
    text = notes.lines[near[0][2].line].rstrip("\r\n").lstrip(" \t")
    return "- " + text[len(near[0][2].bullet) :].lstrip(" \t")


def remove_item(path: Path, section_title: str, number: int, allowed: Callable[[Item], str | None]) -> EditResult:
    """:func:`removing` applied to the notes file at ``path``. Call under ``locked``."""
    return _apply(path, removing(section_title, number, allowed))


def removing(section_title: str, number: int, allowed: Callable[[Item], str | None]) -> LineEdit:
    """Delete agenda item ``number`` (1-based) if it is a single line and ``allowed`` says
    nothing against it (it returns a reason to refuse, or None)."""

    def change(notes: Notes) -> tuple[list[str], EditResult]:
        section = _section_or_fail(notes, section_title)
        items = agenda_items(notes, section)
        if not items:
            raise EditError("the agenda has no items to remove")
        if not 1 <= number <= len(items):
            raise EditError(f"there is no item {number}; the agenda has items 1 to {len(items)} (see `list`)")
        item = items[number - 1]
        if item.end != item.line + 1:
            raise EditError(f"item {number} has notes or sub-items under it; edit the notes file by hand to remove it")
        reason = allowed(item)
        if reason:
            raise EditError(reason)
        lines = list(notes.lines)
        removed = lines[item.line].rstrip("\r\n")
        if (
            len(items) == 1
            and not any(it.is_placeholder for it in notes.top_items(section))
            and not _other_content(notes, section, item)
        ):
            # the section would be empty: put a placeholder back, written as the file writes
            # its other placeholders ('- [ ]' in some notes), so add-then-remove changes nothing
            ending = lines[item.line][len(removed) :]
            lines[item.line] = (
                _in_list_style(_placeholder_like(notes, item.line), item.bullet, _leading_ws(removed)) + ending
            )
        else:
            del lines[item.line]
            if item.line == len(lines) and item.line > 0 and not notes.lines[item.line].endswith("\n"):
                # we removed the last line, which had no newline: the new last line loses its own
                lines[-1] = lines[-1].rstrip("\r\n")
        return lines, EditResult(notes.path, item.line + 1, removed, number)

    return change


def _other_content(notes: Notes, section: Section, item: Item) -> bool:
    """Whether the section shows anything besides ``item`` (blank lines and HTML comments do
    not show). A section holding prose (``_No items discussed_``) got the item added after
    that prose, not in place of a placeholder: removing it must not leave a placeholder."""
    in_comment = False
    for i in range(section.start + 1, section.end):
        if item.line <= i < item.end:
            continue
        t = notes.lines[i].strip()
        if in_comment:
            in_comment = "-->" not in t
            continue
        if t.startswith("<!--"):
            in_comment = "-->" not in t[4:]
            if in_comment or t.endswith("-->"):
                continue
        if t:
            return True
    return False


_PROSE_BULLET = re.compile(r"^([ \t]*(?:[-*+]|[0-9]{1,9}[.)])[ \t]+)(?!\[[ xX]\](?:[ \t]|$))")


def tick_prose(path: Path, line: int, expect_text: str) -> EditResult:
    """:func:`ticking_prose` applied to the notes file at ``path``. Call under ``locked``."""
    return _apply(path, ticking_prose(line, expect_text))


def ticking_prose(line: int, expect_text: str) -> LineEdit:
    """Mark the prose list item on 1-based ``line`` done by turning it into a ticked checkbox
    in place, if it still holds ``expect_text``: ``- JRG: will x`` -> ``- [x] JRG: will x``.
    Only that line changes (bullet, indentation and line ending kept)."""

    def change(notes: Notes) -> tuple[list[str], EditResult]:
        match = [it for it in notes.items if it.line == line - 1]
        if not match or match[0].is_checkbox or match[0].text != expect_text:
            raise EditError("the notes file changed since the item was listed; list the items again")
        lines = list(notes.lines)
        m = _PROSE_BULLET.match(lines[line - 1])
        if m is None:  # the parser saw an item here: its bullet is followed by a space or a tab
            raise EditError("the notes file changed since the item was listed; list the items again")
        new = m.group(1) + "[x] " + lines[line - 1][m.end() :]
        lines[line - 1] = new
        return lines, EditResult(notes.path, line, new.rstrip("\r\n"))

    return change


def set_checked(path: Path, line: int, expect_text: str, checked: bool = True) -> EditResult:
    """:func:`checking` applied to the notes file at ``path``. Call under ``locked``."""
    return _apply(path, checking(line, expect_text, checked))


def checking(line: int, expect_text: str, checked: bool = True) -> LineEdit:
    """Tick (or untick) the checkbox on 1-based ``line`` if it still holds ``expect_text``."""

    def change(notes: Notes) -> tuple[list[str], EditResult]:
        match = [it for it in notes.items if it.line == line - 1 and it.is_checkbox]
        if not match or match[0].text != expect_text:
            raise EditError("the notes file changed since the item was listed; list the items again")
        lines = list(notes.lines)
        new = re.sub(r"\[[ xX]\]", "[x]" if checked else "[ ]", lines[line - 1], count=1)
        lines[line - 1] = new
        return lines, EditResult(notes.path, line, new.rstrip("\r\n"))

    return change
