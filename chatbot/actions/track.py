"""Done in a later meeting, and copies of one item across notes.

Done in a later meeting: whether one of the lines of later notes that report something done
(``parse.evidence``, cached with each file's facts) reports an earlier action item done.

A chair stops chasing an item when a later meeting's notes say it happened, in any words:
``- [x] JRG: Create channel on Zulip`` copied and ticked, ``JRG: created the #conda channel on
Zulip``, ``CEP PR opened: https://github.com/conda/ceps/pull/92``, ``Merged
https://github.com/conda/conda/pull/1``. Each notes file's *evidence* (a line with a done word,
or a ticked entry) is read once and cached with the file's other facts; :func:`reported_done`
matches an item against the evidence of the files after its own:

* **the same link** (an issue, a PR, a document) on a line with a done word; or
* **the same owners** (or none written) and most of the item's words, compared as word stems
  (``create``/``created``): at least :data:`WORDS_REPORTED` of them, two at least, on a line
  with a done word; a ticked entry with no done word must repeat the item
  (:data:`WORDS_TICKED`), since ticking a topic says it was discussed, not done.

Copies: the same item written again in later notes (carried over, hand-edited) is one item:
the same key, or the same owners and similar words (:func:`similar`), or a ``(from
YYYY-MM-DD)`` marker naming a meeting that has such an item (:class:`_Latest`,
:func:`_carried_actions`). Also here: the topics deferred by the last meeting
(:func:`deferred_topics`), the copies ticking an item ticks too (:func:`later_copies`), and the
lines that carry an item or topic over into the next notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from ..config import Config, Meeting
from ..notes.files import NotesFiles
from ..notes.parse import NotesError, normalize_title
from .model import ActionItem, Evidence
from .scan import _Scan, _scan
from .words import _FROM, SIMILAR, _stem, similar, stems, urls

WORDS_REPORTED = 0.6  # of the item's word stems on a later line with a done word
WORDS_TICKED = 0.8  # on a later ticked entry without one


def _item_words(body: str, owners: Iterable[str]) -> tuple[frozenset[str], set[str], set[str]]:
    who = {o.upper().lstrip("@") for o in owners}
    mine = stems(body) - {_stem(o.lower()) for o in who}  # "LW to publish …": LW is not a word of the task
    return mine, set(urls(body)), who


def _reports(ev: Evidence, mine: frozenset[str], links: set[str], who: set[str]) -> bool:
    if links and ev.worded and links.intersection(ev.urls):
        return True
    if ev.owners and who and not who.intersection(o.lstrip("@") for o in ev.owners):
        return False
    shared = len(mine.intersection(ev.stems))
    if not mine or shared < min(2, len(mine)):
        return False
    return shared / len(mine) >= (WORDS_REPORTED if ev.worded else WORDS_TICKED)


def reported_done(body: str, owners: Iterable[str], later: Iterable[tuple[Evidence, ...]]) -> Evidence | None:
    """The first later line that reports the item (its text ``body``, its owners' tokens and
    labels) done, or None."""
    mine, links, who = _item_words(body, owners)
    if not mine and not links:
        return None
    for found in later:
        for ev in found:
            if _reports(ev, mine, links, who):
                return ev
    return None


class Reports:
    """The evidence of many files, indexed by the word stems and links of the items asked
    about: each item is compared with the lines that share a word or a link with it, not with
    every line of every later file (an archive of 10,000 notes has some 50,000 such lines)."""

    def __init__(
        self, items: Iterable[tuple[str, Iterable[str]]], files: Iterable[tuple[dt.date, tuple[Evidence, ...]]]
    ):
        wanted: set[str] = set()
        wanted_links: set[str] = set()
        for body, owners in items:
            mine, links, _ = _item_words(body, owners)
            wanted |= mine
            wanted_links |= links
        self._by_key: dict[str, list[tuple[dt.date, Evidence]]] = {}
        for day, found in files:
            for ev in found:
                keys = wanted.intersection(ev.stems)
                if ev.worded and ev.urls and wanted_links:
                    keys |= wanted_links.intersection(ev.urls)
                for k in keys:
                    self._by_key.setdefault(k, []).append((day, ev))

    def done_after(self, day: dt.date, body: str, owners: Iterable[str]) -> Evidence | None:
        """The first line of a file dated after ``day`` that reports the item done."""
        mine, links, who = _item_words(body, owners)
        seen: set[tuple[dt.date, Evidence]] = set()
        best: tuple[dt.date, int, Evidence] | None = None
        for k in (*links, *mine):
            for entry in self._by_key.get(k, ()):
                d, ev = entry
                if d <= day or entry in seen:
                    continue
                seen.add(entry)
                if _reports(ev, mine, links, who) and (best is None or (d, ev.line) < (best[0], best[1])):
                    best = (d, ev.line, ev)
        return best[2] if best else None


# ---------------------------------------------------------------------------------------
# Copies of one item across notes

MATCH_WINDOW = 6  # a hand-edited copy is looked for among the items of the 6 notes before it


class _Latest:
    """The newest copy of each item seen so far (files oldest first)."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[ActionItem, bool, int]] = {}  # id -> (item, done, file number)
        self.keys_of: dict[int, set] = {}
        self.owner_of: dict[tuple, int] = {}
        self.by_owner: dict[frozenset[str], set[int]] = {}
        self.by_date: dict[dt.date, list[int]] = {}
        self.n = 0

    def add(self, item: ActionItem, done: bool, fileno: int) -> None:
        own = item.keys
        keys = set(own)
        replaced: set[int] = set()
        for k in own:
            old = self.owner_of.get(k)
            if old is not None and old in self.latest:
                replaced.add(old)
        if not replaced and item.owners:
            replaced |= self._similar(item, fileno)
        for old in replaced:
            keys |= self.keys_of[old]
            self._drop(old)
        n = self.n
        self.n += 1
        self.latest[n] = (item, done, fileno)
        self.keys_of[n] = keys
        for k in keys:
            self.owner_of[k] = n
        self.by_owner.setdefault(item.owner_key, set()).add(n)

    def _similar(self, item: ActionItem, fileno: int) -> set[int]:
        """Hand-edited copies: same owners, similar words, within MATCH_WINDOW files; or the
        item of the meeting its ``(from YYYY-MM-DD)`` names, with the same owners."""
        same = self.by_owner.get(item.owner_key)
        if not same:
            return set()
        src = item.from_date
        best, best_score = None, 0.0
        for n in same:
            other, _, f = self.latest[n]
            if fileno - f > MATCH_WINDOW and other.date != src:
                continue
            a, b = item.tokens, other.tokens
            if not a or not b:
                continue
            inter = len(a & b)
            score = inter / (len(a) + len(b) - inter)
            need = MARKED_SIMILAR if src is not None and other.date == src else SIMILAR
            if score >= need and score > best_score:
                best, best_score = n, score
        return {best} if best is not None else set()

    def _drop(self, n: int) -> None:
        item = self.latest.pop(n)[0]
        group = self.by_owner.get(item.owner_key)
        if group:
            group.discard(n)


MARKED_SIMILAR = 0.25  # a copy whose "(from DATE)" names the meeting of the other needs fewer shared words


def _is_copy(a: ActionItem, b: ActionItem) -> bool:
    """``a`` is a copy of ``b``: the same key, or the same owners and similar words (fewer
    suffice when ``a``'s ``(from DATE)`` marker names ``b``'s meeting)."""
    if a.keys & b.keys:
        return True
    if not a.owners or a.owner_key != b.owner_key or not a.tokens or not b.tokens:
        return False
    inter = len(a.tokens & b.tokens)
    score = inter / (len(a.tokens) + len(b.tokens) - inter)
    return score >= (MARKED_SIMILAR if a.from_date == b.date else SIMILAR)


def _carried_actions(scan: _Scan, day: dt.date, path: Path) -> list[tuple[ActionItem, bool]]:
    """Action items carried over as top-level entries of an agenda section (the bot writes
    ``- [ ] JRG: open a PR (from 2026-01-07)`` into "From previous meetings"): by structure
    topics, they are copies of the action item of the meeting their marker names. A deferred
    topic carried the same way stays a topic: it is a copy of a topic of that meeting."""
    if not scan.has_marked_topics(path):
        return []
    memo = scan.__dict__.setdefault("_carried", {})
    if path in memo:
        return memo[path]
    memo[path] = []  # (a marker naming its own file's date cannot loop)
    out = []
    for topic, done, _ in scan.topics(day, path):
        src = topic.from_date
        if src is None or src >= day:
            continue
        src_path = scan.path_on(src)
        if src_path is None:
            continue
        try:
            actions = scan.actions(src, src_path)
            src_carried = _carried_actions(scan, src, src_path)
            carried_lines = {c.line for c, _ in src_carried}
            src_topics = [t for t, _, _ in scan.topics(src, src_path) if t.line not in carried_lines]
        except NotesError:
            continue
        if any(
            t.keys & topic.keys or (t.owner_key == topic.owner_key and similar(t.tokens, topic.tokens))
            for t in src_topics
        ):
            continue  # a deferred topic, carried over
        if any(_is_copy(topic, a) for a, _ in actions) or any(_is_copy(topic, c) for c, _ in src_carried):
            copy = ActionItem(
                topic.date,
                topic.path,
                topic.line,
                topic.text,
                topic.body,
                topic.owners,
                "action",
                topic.checkbox,
                carried=True,
                form="carried",
            )
            out.append((copy, done))
    memo[path] = out
    return out


def deferred_topics(
    config: Config, meeting: Meeting, before: dt.date, *, today: dt.date | None = None, errors: list[str] | None = None
) -> list[ActionItem]:
    """Topics of the last meeting held before ``before`` that were neither ticked nor
    discussed there (an unticked topic with notes under it was discussed; one in a
    "Deferred to next meeting" section is deferred whatever is under it), and that no later
    notes tick, under the same or hand-edited wording (same owners, :func:`similar`)."""
    scan = _scan(config, meeting, before, today, errors)
    if not scan.files:
        return []
    day, path = scan.files[-1]
    try:
        topics = scan.topics(day, path)
    except NotesError:
        return []
    deferred_titles = {"deferred to next meeting", "defer to next meeting", "deferred agenda items"}
    try:
        notes_sections = {t.line: t for t, _, _ in topics}
        deferred_lines = _lines_in_sections(path, deferred_titles, notes_sections)
    except (NotesError, OSError):
        deferred_lines = set()
    carried = {t.line for t, _ in _carried_actions(scan, day, path)}
    candidates = [
        t
        for t, done, discussed in topics
        if t.checkbox and not done and (not discussed or t.line in deferred_lines) and t.line not in carried
    ]
    if not candidates:
        return []
    # ticked later (in this file or any later one, e.g. notes written ahead) under any wording
    ticked: list[ActionItem] = [t for t, done, _ in topics if done]
    for d, p in NotesFiles(config, meeting).existing():
        if d <= day:
            continue
        try:
            later = scan.topics(d, p)
        except NotesError:
            continue
        ticked += [t for t, done, _ in later if done]
    out = []
    for t in candidates:
        if any(t.keys & o.keys or (t.owner_key == o.owner_key and similar(t.tokens, o.tokens)) for o in ticked):
            continue
        out.append(t)
    return out


def _lines_in_sections(path: Path, titles: set[str], topics: dict[int, ActionItem]) -> set[int]:
    if not topics:
        return set()
    from ..notes.parse import read_notes

    notes = read_notes(path)
    out = set()
    for s in notes.sections():
        if normalize_title(s.title) in titles:
            out |= {line for line in topics if s.start < line - 1 < s.end}
    return out


def later_copies(config: Config, meeting: Meeting, item: ActionItem) -> list[ActionItem]:
    """Unticked checkbox copies of ``item`` in notes dated after it (carried over into notes
    already written for the next meetings): ticking the item ticks those too, or the newest
    copy would bring it back once its meeting has passed. Copies are the same item by the
    rules of :func:`open_actions` (same key, or same owners and similar words)."""
    out = []
    scan = _scan(config, meeting, dt.date.max, None, None)
    for day, path in sorted((d, p) for p, d in scan.days.items()):
        if day <= item.date:
            continue
        try:
            actions, topics = scan.entries(day, path)
        except NotesError:  # an unparseable file is never written; the scan reports it elsewhere
            continue
        copies = [a for a, done in actions if not done] + [t for t, done, _ in topics if not done and t.from_date]
        out += [other for other in copies if other.checkbox and _is_copy(other, item)]
    return out


def done_edit(item: ActionItem):
    """The minimal edit that marks ``item`` done where it is written: its checkbox ticked, or,
    for a prose item, its line turned into a ticked checkbox in place (``- JRG: will x`` ->
    ``- [x] JRG: will x``). A ``LineEdit`` for ``apply_to_file``/``apply_to_text``."""
    from ..notes.edit import checking, ticking_prose

    return checking(item.line, item.text) if item.checkbox else ticking_prose(item.line, item.text)


def mark_done(item: ActionItem):
    """:func:`done_edit` applied to the item's notes file (call it under the notes' lock)."""
    from ..notes.edit import apply_to_file

    return apply_to_file(item.path, done_edit(item))


def carried_line(item: ActionItem) -> str:
    owners = ", ".join(o.carried_label for o in item.owners)
    body = _FROM.sub("", item.body)
    return f"- [ ] {owners}: {body} (from {item.date.isoformat()})"


def carried_topic_line(topic: ActionItem) -> str:
    """``- [ ] XX: text (from YYYY-MM-DD)`` for the next notes' "From previous meetings": the
    date of the meeting it was first proposed for, when it was carried before."""
    body = _FROM.sub("", topic.body)
    since = topic.from_date or topic.date
    owners = ", ".join(o.carried_label for o in topic.owners)
    return (
        f"- [ ] {owners}: {body} (from {since.isoformat()})" if owners else f"- [ ] {body} (from {since.isoformat()})"
    )
