"""Secrets never reach the logs: one redacting filter for every part of the bot (chat
backends, the HackMD and GitHub clients), and a small back-off used when retrying."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces known secrets, and whatever ``patterns`` match (each pattern's group 1 is kept,
    the rest of the match replaced: ``token=[redacted]``), in a log record's message and its
    traceback. Secrets shorter than 4 characters are ignored (they would redact everywhere)."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[re.Pattern[str]] = ()):
        super().__init__()
        self.secrets: list[str] = []
        self.patterns: list[re.Pattern[str]] = []
        self.add(*secrets, patterns=patterns)

    def add(self, *secrets: str, patterns: Iterable[re.Pattern[str]] = ()) -> None:
        for s in secrets:
            if s and len(s) >= 4 and s not in self.secrets:
                self.secrets.append(s)
        for p in patterns:
            if p not in self.patterns:
                self.patterns.append(p)

    def clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        for p in self.patterns:
            text = p.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    _clean = clean  # older name

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        clean = self.clean(text)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        return True


_process_filter = RedactSecrets()


def redact_in_logs(*secrets: str, patterns: Iterable[re.Pattern[str]] = ()) -> RedactSecrets:
    """Keep ``secrets`` (and what ``patterns`` match) out of what the root logger's handlers
    write, from now on; one filter for the whole process."""
    _process_filter.add(*secrets, patterns=patterns)
    for handler in logging.getLogger().handlers:
        if _process_filter not in handler.filters:
            handler.addFilter(_process_filter)
    return _process_filter


class Backoff:
    """Waits that double from ``first`` up to ``most`` seconds; ``reset`` after a success."""

    def __init__(self, first: float = 1.0, most: float = 60.0):
        self.first, self.most, self.delay = first, most, first

    def next(self) -> float:
        d = self.delay
        self.delay = min(self.delay * 2, self.most)
        return d

    def reset(self) -> None:
        self.delay = self.first
