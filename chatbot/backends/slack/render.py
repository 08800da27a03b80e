"""Message -> Slack: mrkdwn text (user text escaped, ``<!date^…>`` times, ``<@U…>`` mentions), long texts split, and Block Kit (buttons on action items, the Add agenda item modal)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from ... import messages
from ...messages import Link, Mention, Message, Text, Time, UserText, plain_user_text
from .platform import slack_id

log = logging.getLogger("chatbot.backends.slack")


# Rendering: Message -> Slack mrkdwn


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_text(text: str) -> str:
    """Escaped, with ``@channel``/``@here``/``@everyone`` defused (a zero-width space)."""
    return plain_user_text(escape(text))


def date_token(at: dt.datetime, fallback: str) -> str:
    """``<!date^UNIX^{date_short_pretty} at {time}|fallback>``: shown in each reader's zone."""
    if at.tzinfo is None:
        raise ValueError("Time segments must be timezone-aware")
    unix = int(at.timestamp())
    fb = safe_text(fallback).replace("|", "/")
    return f"<!date^{unix}^{{date_short_pretty}} at {{time}}|{fb}>"


def _link(url: str, label: str) -> str:
    target = escape(url.strip()).replace("|", "%7C").replace(" ", "%20")
    if not label or label == url:
        return f"<{target}>"
    return f"<{target}|{safe_text(label)}>"


def _bold(text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}*{safe_text(core)}*{trail}"


_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class MrkdwnRenderer:
    """Slack mrkdwn: user text escaped, times as ``<!date^…>``, people as ``<@U…>``."""

    def text(self, seg: Text) -> str:
        # bot text can quote what a user typed (e.g. "unknown command 'x'"): escape it too
        return _bold(seg.text) if seg.bold else safe_text(seg.text)

    def user_text(self, seg: UserText) -> str:
        return safe_text(seg.text)

    def time(self, seg: Time) -> str:
        return date_token(seg.at, seg.fallback)

    def link(self, seg: Link) -> str:
        return _link(seg.url, seg.label)

    def mention(self, seg: Mention) -> str:
        sid = slack_id(seg.person)
        if sid and _SLACK_ID.match(sid):
            return f"<@{sid}>"
        return safe_text(seg.person.name)


MRKDWN = MrkdwnRenderer()


def render_segment(seg: Any) -> str:
    return messages.render_segment(MRKDWN, seg)


def render_segments(line: Iterable[Any]) -> str:
    """One line of a message as mrkdwn."""
    return "".join(render_segment(s) for s in line)


def render_mrkdwn(message: Message) -> str:
    """The message as Slack mrkdwn text. Never contains ``<!channel>``/``<!here>`` or a raw
    ``<`` from user text."""
    return messages.render(MRKDWN, message)


MAX_TEXT = 40_000  # Slack keeps this many characters of a message's text and cuts the rest
_LONG_TAIL = 1_000  # a last line up to this long (e.g. the notes link) is kept after a cut
SHORTENED = f"_… (shortened: a Slack message holds at most {MAX_TEXT:,} characters)_"
_ATOM = re.compile(r"<[^<>\n]*>|&(?:amp|lt|gt);|.", re.S)  # never cut inside these


def _units(text: str) -> int:
    """Length as Slack may count it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _atoms_within(line: str, budget: int) -> list[str]:
    """The leading entities and characters of ``line`` that fit in ``budget`` units."""
    out, used = [], 0
    for m in _ATOM.finditer(line):
        n = _units(m.group())
        if used + n > budget:
            break
        out.append(m.group())
        used += n
    return out


def _cut(line: str, budget: int) -> str:
    return "".join(_atoms_within(line, budget))


def fit_text(text: str, limit: int = MAX_TEXT, keep_last: bool = False) -> str:
    """Mrkdwn text Slack will show whole. Slack cuts a longer message wherever the limit falls
    (inside a link, an escape or a date token); this keeps the first lines that fit (the
    next one cut between entities, with "…"), says that it shortened the text and, with
    ``keep_last``, keeps a short last line (the notes link under an agenda)."""
    if _units(text) <= limit:
        return text
    lines = text.split("\n")
    last = lines.pop() if keep_last and len(lines) > 1 and _units(lines[-1]) <= _LONG_TAIL else None
    tail = [SHORTENED] + ([last] if last is not None else [])
    budget = limit - sum(_units(t) + 1 for t in tail)
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = _units(line) + (1 if kept else 0)
        if used + cost > budget:
            room = budget - used - (1 if kept else 0) - 1  # the "…"
            if room > 200 or not kept:
                kept.append(_cut(line, max(room, 0)) + "…")
            break
        kept.append(line)
        used += cost
    return "\n".join(kept + tail)


MAX_RESPONSES = 5  # a response_url takes up to 5 messages (within 30 minutes)


def _cut_at_space(line: str, budget: int) -> str:
    """The longest prefix of ``line`` within ``budget`` units, never inside an entity; ending
    after a space if one falls in its second half."""
    out = _atoms_within(line, budget)
    space = max((i + 1 for i, atom in enumerate(out) if atom == " "), default=0)
    if space > len(out) // 2:
        out = out[:space]
    return "".join(out) or line[:1]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Mrkdwn text as messages Slack shows whole (each within ``limit``), split at line
    breaks; a single longer line is split between entities (after a space where it can be).
    Nothing is dropped: the parts, joined with newlines, are the text (except inside such a line)."""
    if _units(text) <= limit:
        return [text]
    return messages.split_long(text, limit, _units, _cut_at_space)


# ---------------------------------------------------------------------------------------
# Block Kit: reminders, action-item pings and /actions answers with buttons

MAX_BLOCKS = 50  # Slack refuses a message with more blocks
MAX_SECTION_TEXT = 3_000  # a section's text
ACTION_DONE = "chatbot_done"  # button: tick the action item in the notes
ACTION_CARRY = "chatbot_carry"  # button: carry the action item into the next meeting's notes
ACTION_ADD = "chatbot_agenda_add"  # button: open the "Add agenda item" modal
AGENDA_VIEW = "chatbot_agenda_add"  # the modal's callback_id
AGENDA_BLOCK = "agenda_item"  # its input block, and the element's action_id
AGENDA_INPUT = "text"
MAX_INPUT = 3_000  # plain_text_input max_length at most


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _cut_to(text, MAX_SECTION_TEXT)}],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _cut_to(text: str, limit: int) -> str:
    """Mrkdwn cut to ``limit`` UTF-16 units, between entities, with "…"."""
    return text if _units(text) <= limit else _cut(text, limit - 1) + "…"


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines of mrkdwn as few sections as fit Slack's 3,000 characters each."""
    out: list[dict[str, Any]] = []
    chunk: list[str] = []
    used = 0
    for line in lines:
        line = _cut_to(line, MAX_SECTION_TEXT)
        cost = _units(line) + (1 if chunk else 0)
        if chunk and used + cost > MAX_SECTION_TEXT:
            out.append(_section("\n".join(chunk)))
            chunk, used = [], 0
            cost = _units(line)
        chunk.append(line)
        used += cost
    if chunk and "\n".join(chunk).strip():
        out.append(_section("\n".join(chunk)))
    return [b for b in out if b["text"]["text"].strip()]


def item_value(meeting_id: str | None, item: str, listing: str | None = None) -> str:
    """A Done / Next meeting button's value: which meeting and item (and, for an ephemeral
    /actions answer, the command that listed it, to show the list again after the click)."""
    data: dict[str, Any] = {"m": meeting_id or "", "i": item}
    if listing:
        data["l"] = listing
    return json.dumps(data, separators=(",", ":"))


def agenda_button(meeting_id: str) -> dict[str, Any]:
    """The reminder's **Add agenda item** button (its value names the meeting)."""
    return {
        "type": "actions",
        "block_id": "agenda",
        "elements": [_button("Add agenda item", ACTION_ADD, json.dumps({"m": meeting_id}, separators=(",", ":")))],
    }


FORM_SECONDS = 2.0  # of the 3 seconds Slack waits for a form's answer


def _form_view(mrkdwn: str) -> dict[str, Any]:
    """The agenda form after its submission: the answer, and a Close button."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Add agenda item"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(_cut_to(mrkdwn, MAX_SECTION_TEXT) or " ")],
    }


def render_blocks(
    message: Message, meeting_id: str | None, prefix: str = "", listing: str | None = None, max_blocks: int = MAX_BLOCKS
) -> list[dict[str, Any]]:
    """The message as Block Kit: its lines in sections; under each line that shows an open
    action item (``message.actions``) a **Done** and a **Next meeting** button; under a
    reminder an **Add agenda item** button. When the items would need more than Slack's 50
    blocks, the first ones get buttons and a note says how to tick the others."""
    lines = [render_segments(line) for line in message.lines]
    if prefix and lines:
        lines[0] = prefix + lines[0]
    reminder = message.kind == "reminder" and bool(meeting_id)
    marked = sorted(i for i in message.actions if 0 <= i < len(lines))

    def buttons(i: int, line: str) -> list[dict[str, Any]]:
        value = item_value(meeting_id, message.actions[i], listing)
        done = _button("Done", ACTION_DONE, value, "primary")
        return _buttoned(line, f"item:{i}", f"act:{i}", [done, _button("Next meeting", ACTION_CARRY, value)])

    blocks = blocks_with_buttons(
        lines,
        marked,
        buttons,
        lambda n: f"Buttons are on the first {n} items; tick the others with `/actions done N`.",
        [agenda_button(meeting_id or "")] if reminder else [],
        max_blocks,
    )
    if len(blocks) > max_blocks:  # even without buttons (a message of very long lines): shorten
        keep = blocks[: max_blocks - 2] + [_context(SHORTENED.strip("_"))]
        blocks = keep + [b for b in blocks[-1:] if reminder]
    return blocks


def _buttoned(line: str, section_id: str, block_id: str, elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A line of a message in its own section, and its buttons under it."""
    section = _section(_cut_to(line, MAX_SECTION_TEXT) or " ", section_id)
    return [section, {"type": "actions", "block_id": block_id, "elements": elements}]


def blocks_with_buttons(
    lines: list[str],
    marked: list[int],
    buttons: Callable[[int, str], list[dict[str, Any]]],
    overflow: Callable[[int], str],
    tail: list[dict[str, Any]],
    max_blocks: int = MAX_BLOCKS,
) -> list[dict[str, Any]]:
    """Lines as sections, the ``marked`` ones (line numbers) each in its own section with the
    blocks ``buttons`` gives; ``tail`` at the end. Past ``max_blocks`` (Slack's 50), only the
    first marked lines get buttons and the ``overflow`` note says how to act on the others."""

    def build(with_buttons: int) -> list[dict[str, Any]]:
        chosen = set(marked[:with_buttons])
        blocks: list[dict[str, Any]] = []
        plain: list[str] = []
        for i, line in enumerate(lines):
            if i not in chosen:
                plain.append(line)
                continue
            blocks += _sections(plain)
            plain = []
            blocks += buttons(i, line)
        blocks += _sections(plain)
        if with_buttons < len(marked):
            blocks.append(_context(overflow(with_buttons)))
        return blocks + tail

    n = len(marked)
    blocks = build(n)
    while len(blocks) > max_blocks and n > 0:
        n = max(0, min(n - 1, n - (len(blocks) - max_blocks + 1) // 2))
        blocks = build(n)
    return blocks


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """The fallback text of a Block Kit message: its sections' and contexts' text, in order."""
    out = []
    for b in blocks:
        if b.get("type") == "section" and isinstance(b.get("text"), dict):
            out.append(str(b["text"].get("text", "")))
        elif b.get("type") == "context":
            out += [str(e.get("text", "")) for e in b.get("elements") or [] if isinstance(e, dict) and "text" in e]
    return fit_text("\n".join(out))


def mark_item(blocks: list[dict[str, Any]], block_id: str, note: str) -> list[dict[str, Any]] | None:
    """The blocks of a message whose buttons under ``block_id`` became ``note`` (a context
    line: done, by whom); None when that block is not in them (the message changed)."""
    out, found = [], False
    for b in blocks:
        if isinstance(b, dict) and b.get("block_id") == block_id and b.get("type") == "actions":
            out.append(_context(note, "done:" + block_id.partition(":")[2]))
            found = True
        else:
            out.append(b)
    return out if found else None


# ---------------------------------------------------------------------------------------
