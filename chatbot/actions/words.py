"""The words of an entry, for comparing entries across notes: word sets (copies of one item,
:func:`similar`), word stems and links (a later line reporting an item done, ``track``), and
what an owner's initials look like. The bottom floor of ``chatbot.actions``: imports nothing
of the package."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_FROM = re.compile(r"\s*\(from (\d{4}-\d{2}-\d{2})\)\s*$")
_INITIALS = r"[A-Z](?:[a-z]?[A-Z]){1,4}"
INITIALS_RX = re.compile(_INITIALS)

# ---------------------------------------------------------------------------------------
# Same item, hand-edited: token Jaccard similarity

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|https?://\S+")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9._+-]*")
STOP_WORDS = frozenset("a an the of to in on for and or is are be we it this that with by at as from".split())
SIMILAR = 0.5  # token Jaccard at or above which two texts with the same owners are one item


def word_set(text: str) -> frozenset[str]:
    """The words of an entry, for comparing copies: links reduced to their text, the
    ``(from …)`` marker, case, punctuation and filler words dropped."""
    t = _LINK.sub(lambda m: m.group(1) or " ", _FROM.sub("", text)).lower()
    return frozenset(w.strip("._+-") for w in _TOKEN.findall(t) if w not in STOP_WORDS and w.strip("._+-"))


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Token Jaccard >= SIMILAR (0.5), for entries with the same owners. Chosen on conda's
    notes: among the 908 pairs of entries with the same owners within three meetings of each
    other, the copies edited by hand score 0.67 ("[Conda capitalization](…)" -> "CEP: conda
    Capitalization", 2022-06-22 -> 07-06) and 0.75 ("Status of sharded repodata
    implementation?" -> "Sharded repodata, status?", 2024-07-31 -> 09-11), while follow-ups and
    other topics of the same person score at most 0.43 ("Slack to Matrix migration is
    happening" -> "Any feedback on Slack/Gitter to Matrix migration?", a new question) and
    889 of the 908 below 0.3 (tests/test_actions.py checks these pairs)."""
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) >= SIMILAR


_STEMMER = snowballstemmer.stemmer("english")
_URL = re.compile(r"https?://[^\s)\]>]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9._+-]*")
_STOP = frozenset(
    "a an the of to in on for and or is are be we it this that with by at as from will would should can "
    "could our their his her its i you they he she not no yes so do does did done also just then than "
    "there here about into up out via per next new".split()
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def stems(text: str) -> frozenset[str]:
    """The content words of a text as stems: links, owners' prefixes and filler words left out."""
    low = _URL.sub(" ", text).lower()
    return frozenset(_stem(w.strip("._+-")) for w in _WORD.findall(low) if w not in _STOP and len(w.strip("._+-")) > 1)


def urls(text: str) -> tuple[str, ...]:
    return tuple(sorted({u.rstrip(".,;:!?'\"").rstrip("/") for u in _URL.findall(text)}))
