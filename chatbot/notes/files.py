"""Where a meeting's notes live, and creating them from the meeting's template."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..config import Config, Meeting
from ..schedule import Occurrence
from .edit import EditError, atomic_write, locked, write_error
from .parse import NotesError, parse_notes

DEFAULT_TEMPLATE = """\
# {{ date.strftime("%Y-%m-%d") }} {{ meeting.name }}

{% if meeting.call_link %}[Call link]({{ meeting.call_link }})

{% endif %}## Attendees

1. ...

## {{ agenda_section }}

- [ ] ...
"""


class _TemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no Python internals, no changing what the template is
    given), where ``*`` and ``**`` also cannot build a huge string, list or number."""

    intercepted_binops = frozenset(["*", "**"])
    LIMIT = 1_000_000

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("exponent too large in the template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > self.LIMIT:
                    raise SecurityError("the template repeats text or a list too many times")
        return super().call_binop(context, operator, left, right)


class NotesFiles:
    """The notes directory of one meeting."""

    def __init__(self, config: Config, meeting: Meeting):
        self.config = config
        self.meeting = meeting
        self.directory = config.resolve(meeting.notes.directory).resolve()

    def path_for(self, occurrence: Occurrence | dt.date) -> Path:
        day = occurrence.start if isinstance(occurrence, Occurrence) else occurrence
        name = day.strftime(self.meeting.notes.filename)
        path = (self.directory / name).resolve()
        if path.parent != self.directory or name in ("", ".", ".."):
            raise EditError(f"the notes file name {name!r} would be outside {self.directory}")
        return path

    def url_for(self, path: Path) -> str | None:
        pattern = self.meeting.notes.url
        if not pattern:
            return None
        return pattern.replace("{filename}", path.name).replace("{path}", path.as_posix())

    def url_at(self, path: Path, line: int | None = None) -> str | None:
        """The public URL of a notes file, at a 1-based line where the pattern has an anchor."""
        url = self.url_for(path)
        anchor = self.meeting.notes.line_anchor
        if url and line is not None and anchor:
            url += anchor.replace("{line}", str(line))
        return url

    def render(self, occurrence: Occurrence) -> str:
        tpl_path = self.meeting.notes.template
        # A template may come from the notes repository (anyone who can open a pull request):
        # rendered in Jinja's sandbox, with only the allow-listed environment variables.
        env = _TemplateSandbox(keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined)
        allowed = {name: os.environ[name] for name in self.config.templates.env if name in os.environ}
        try:
            if tpl_path is None:
                template = env.from_string(DEFAULT_TEMPLATE)
                where = "built-in template"
            else:
                full = self.config.resolve(tpl_path)
                where = str(full)
                template = env.from_string(full.read_text(encoding="utf-8"))
            return template.render(
                date=occurrence.start,
                env=allowed,
                meeting=self.meeting,
                agenda_section=self.meeting.notes.agenda_section,
            )
        except jinja2.TemplateError as exc:  # SecurityError (the sandbox said no) included
            raise EditError(f"the notes template {where} could not be rendered: {exc}") from None
        except OSError as exc:
            raise EditError(f"the notes template {tpl_path} could not be read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise EditError(f"the notes template {where} is not UTF-8 text (byte {exc.start})") from None
        except Exception as exc:  # the template's own code failed (a range or number too big, ...)
            raise EditError(f"the notes template {where} could not be rendered: {type(exc).__name__}: {exc}") from None

    def ensure(self, occurrence: Occurrence, text: str | None = None) -> tuple[Path, bool]:
        """The occurrence's notes file, created (with ``text``, default the template rendered) if
        missing. Call under lock."""
        path = self.path_for(occurrence)
        if path.exists():
            return path, False
        if text is None:
            text = self.checked_render(occurrence, path)
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise write_error(path, exc) from None
        return path, True

    def checked_render(self, occurrence: Occurrence, path: Path | str | None = None) -> str:
        """The template rendered for the occurrence, refused (NotesError naming the template)
        if the result could not be used as notes."""
        text = self.render(occurrence)
        tpl = self.meeting.notes.template
        where = self.config.resolve(tpl) if tpl is not None else "built-in template"
        try:
            notes = parse_notes(text, path)
        except NotesError as exc:  # about the template: the notes file does not exist yet
            raise NotesError(where, f"the rendered template cannot be used as notes: {exc.problem}") from None
        if notes.unclosed:
            line, kind = notes.unclosed
            raise NotesError(
                where,
                f"the rendered template has a {kind} opened on line {line + 1} that is "
                "never closed; everything after it would be hidden",
            )
        if notes.section(self.meeting.notes.agenda_section) is None:
            raise NotesError(
                self.meeting.notes.template or "built-in template",
                f"the rendered template has no '{self.meeting.notes.agenda_section}' section "
                "(check notes.agenda_section in the config)",
            )
        return text

    def lock(self):
        return locked(self.directory)

    def existing(self) -> list[tuple[dt.date, Path]]:
        """Notes files in the directory whose name matches the pattern, oldest first."""
        out: list[tuple[dt.date, Path]] = []
        if not self.directory.is_dir():
            return out
        for p in self.directory.iterdir():
            if not p.is_file() or p.name.startswith("."):
                continue
            try:
                day = dt.datetime.strptime(p.name, self.meeting.notes.filename).date()
            except ValueError:
                continue
            out.append((day, p))
        return sorted(out)
