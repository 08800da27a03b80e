"""Text for a terminal: what notes (written by anyone) may not do to the reader's terminal.

Notes files are written by people and tools the operator does not control; printed raw, an
escape sequence in an agenda item could retitle the window, clear the screen, move the
cursor, hide text or (in some terminals) answer back. :func:`for_terminal` removes escape
sequences (CSI, OSC, DCS, ...) and replaces every other control character (C0 but tab and
newline, DEL, C1) and the bidirectional overrides with U+FFFD, so what is shown is what is
written.
"""

from __future__ import annotations

import re

# ESC [ ... final, ESC ] ... (BEL | ESC \), ESC P/X/^/_ ... ESC \, and two-character ESC x;
# the 8-bit forms (CSI U+009B, OSC U+009D, DCS U+0090, ...) likewise.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """``text`` without anything a terminal would interpret, newlines and tabs kept."""
    return _CONTROL.sub("\ufffd", _SEQUENCE.sub("", text))
