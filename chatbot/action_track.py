"""Done in a later meeting: the lines of notes that report something done, and whether one of
them reports an earlier action item done.

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
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

from .notes.parse import Item, split_owner

_STEMMER = snowballstemmer.stemmer("english")
# matched on lower-cased text: a case-insensitive alternation is several times slower
_DONE_WORD = re.compile(
    r"[✓✔✅]|\b(?:done|merged|opened|created|closed|fixed|published|sent|submitted|filed|posted|released|"
    r"shipped|landed|completed|finished|resolved|scheduled|called|announced|updated|written|wrote|drafted|"
    r"booked|invited|set up|reached out|contacted|launched|started|uploaded|added|renamed|moved|archived|"
    r"tagged|pinged|asked|shared|presented|reviewed|approved|accepted|cut)\b"
)
# "will report when it is merged", "not merged yet", "to be published": not done (yet)
_NOT_YET = re.compile(
    r"\b(?:will|won't|once|when|until|not|if|to be|needs?|should|pending|waiting|yet|planning|plan)\b|n't\b", re.I
)
_URL = re.compile(r"https?://[^\s)\]>]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9._+-]*")
_STOP = frozenset(
    "a an the of to in on for and or is are be we it this that with by at as from will would should can "
    "could our their his her its i you they he she not no yes so do does did done also just then than "
    "there here about into up out via per next new".split()
)
WORDS_REPORTED = 0.6  # of the item's word stems on a later line with a done word
WORDS_TICKED = 0.8  # on a later ticked entry without one


class Evidence(NamedTuple):
    """A line reporting something done (what the scan cache keeps per file)."""

    line: int  # 1-based
    owners: tuple[str, ...]  # written on it or on the entry it is noted under (upper case)
    stems: tuple[str, ...]
    urls: tuple[str, ...]
    worded: bool  # says done in words ("merged", "opened", "done"); else only ticked


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def stems(text: str) -> frozenset[str]:
    """The content words of a text as stems: links, owners' prefixes and filler words left out."""
    low = _URL.sub(" ", text).lower()
    return frozenset(_stem(w.strip("._+-")) for w in _WORD.findall(low) if w not in _STOP and len(w.strip("._+-")) > 1)


def urls(text: str) -> tuple[str, ...]:
    return tuple(sorted({u.rstrip(".,;:!?'\"").rstrip("/") for u in _URL.findall(text)}))


def _owners_of(it: Item) -> tuple[str, ...]:
    p: Item | None = it
    while p is not None:
        owners, _ = split_owner(p.text)
        if owners:
            return tuple(o.upper() for o in owners)
        p = p.parent
    return ()


def evidence(text: str, lines: list[str], items: Iterable[Item], skip: set[int]) -> tuple[Evidence, ...]:
    """The entries of a file (its ``text``, ``lines`` and parsed ``items``; not those on the
    lines in ``skip``: attendee lists) that report something done."""
    low = text.lower()
    worded_lines: set[int] = set()
    if _DONE_WORD.search(low):  # one pass over the file, then only the entries it found
        starts = list(itertools.accumulate(len(x) for x in lines))
        worded_lines = {bisect.bisect_right(starts, m.start()) for m in _DONE_WORD.finditer(low)}
    out = []
    for it in items:
        if it.line in skip or it.checked is False:
            continue  # an open box: not done, whatever it says
        text = it.text
        worded = it.line in worded_lines and not _NOT_YET.search(text)
        if not worded and it.checked is not True:
            continue
        _, body = split_owner(text)
        s = stems(body)
        if not s:
            continue
        out.append(Evidence(it.line + 1, _owners_of(it), tuple(sorted(s)), urls(text), worded))
    return tuple(out)


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
