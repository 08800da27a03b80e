"""The structure of one notes file -> its candidate entries: topics (top-level entries of the
agenda sections) and action items (entries of an Action items section or of a list after a
label line, labelled entries, entries whose owners commit to something), each a :class:`Raw`
with why it was picked; and the lines that report something done (:func:`evidence`). Pure:
no config people, no people index; what is read here is cached per file (``cache``)."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable

from ..config import Meeting
from ..notes.parse import Item, Notes, history_sections, normalize_title, split_owner
from . import classify as rules
from .classify import NOT_OWNER_WORDS
from .model import Evidence, Raw
from .words import _LINK, _TOKEN, stems, urls

# a line that may be a label alone ("**Action items:**", "- Next steps", "AI (JRG):"), checked
# with rules.label_only; one search over the whole text finds them
_LABEL_LINE = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+)?(?:\[[ xX]\][ \t]+)?(?:\(?[A-Z][A-Za-z/&, ]{1,20}\)?:?[ \t]+)?"
    r"(?:\*\*|__|\*|_)?(?:action[ -]?items?|(?-i:AIs?|ACTIONS?)|to[ -]?dos?|next[ -]steps?|follow[ -]?ups?"
    r"|take[ -]?homes?|take[ -]?aways?)\b"
    r"[^\n]{0,48}$",
    re.I | re.M,
)
# section headings that hold action items whatever the config's action_sections say
_ACTION_TITLE = re.compile(r"(?:action items?|next steps|to-?dos?|follow-?ups?|ais?)(?: \(.*\))?")
# every rule for an entry without owners written at its start needs one of these words, "'ll"
# or a "(" (trailing owners): one findall and a set test per entry (most entries are notes; an
# alternation of the phrases searched case-insensitively cost twice as much)
_GATE_WORDS = frozenset("will to shall looking working taking following preparing drafting reaching owes".split())
_LOWER_WORD = re.compile(r"[a-z]+")


def _gate(text: str) -> bool:
    return (
        "(" in text
        or "ll" in text
        and ("'ll" in text or "’ll" in text)
        or not _GATE_WORDS.isdisjoint(_LOWER_WORD.findall(text.lower()))
    )


_DONE = re.compile(r"[✓✔✅]|(?:^|\s)\(?(?:done|DONE|Done)\)?[.!]?\s*$|^(?:done|DONE|Done)\s*[:\-–]")


def _done(it: Item) -> bool:
    """Ticked, or (no checkbox) marked done in words: ``(done)``, ``Done: …``, ✅. The
    substrings are tested before the pattern: most entries have none."""
    if it.checked is not None:
        return it.checked
    t = it.text
    return ("one" in t or "ONE" in t or "✓" in t or "✔" in t or "✅" in t) and _DONE.search(t) is not None


_NOTHING = frozenset(
    {
        "",
        "...",
        "…",
        "n/a",
        "na",
        "none",
        "none yet",
        "tbd",
        "-",
        "_no items discussed_",
        "no items discussed",
        "*no items discussed*",
    }
)


def _placeholder(text: str) -> bool:
    """Nothing written yet: ``...``, ``N/A``, ``_No items discussed_``, ``()``."""
    return not text or (len(text) <= 24 and (text.strip().lower() in _NOTHING or not any(c.isalnum() for c in text)))


def _written(text: str) -> tuple[tuple[str, ...], str]:
    """The owners written at the start of ``text`` (``JRG: …``, ``(JRG) …``), without the
    words that are nobody (``AI``, ``PR``), and the text after them."""
    owners, body = split_owner(text)
    return tuple(o for o in owners if o not in NOT_OWNER_WORDS), body


def _ancestor_owners(it: Item) -> tuple[str, ...]:
    p = it.parent
    while p is not None:
        owners, _ = _written(p.text)
        if owners:
            return owners
        p = p.parent
    return ()


def _is_discussion(child: Item) -> bool:
    """A note under a topic that shows it was discussed: not a bare link or placeholder."""
    words = _LINK.sub(" ", child.text)
    return len(_TOKEN.findall(words.lower())) >= 3


_HINTS = re.compile("|".join(re.escape(h) for h in rules.LABEL_HINTS))


def _may_label(text: str) -> bool:
    """A cheap test before the label rules: the entry holds a piece of a label word."""
    return _HINTS.search(text) is not None


def _owners_in(text: str, written: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The owners an entry names: written at its start (``JRG: …``, ``(JRG) …``), at its end
    (``… (SA, next two weeks)``), or in prose (``JRG will …``, guessed). (owners, guessed)"""
    if written:
        return written, False
    trailing = rules.trailing_owners(text)
    if trailing:
        return trailing, True  # "Vote ends … (AoE)": a known person, or nobody
    guess = rules.who_commits(text)
    if guess is not None:
        return guess.owners, True
    return (), False


_NAME_COLON = re.compile(r"^([A-Z][a-z]{2,}):\s+(.*)$", re.S)
_SPEAKER = re.compile(rf"({rules.OWNER_LIST}|[A-Z][a-z]{{2,}}):")


def _speaker(text: str) -> rules.Guess | None:
    """An entry that is only a name or initials and a colon (``Jannis:``, ``JRG/CHL:``): its
    nested entries are what that person said."""
    m = _SPEAKER.fullmatch(text.strip())
    return rules.named(m.group(1)) if m else None


def _labelled(
    it: Item, text: str, written: tuple[str, ...], lab: rules.Label, checkbox: bool, done: bool, named: bool
) -> Raw:
    """``Action item: JRG to call the vote``, ``AI (JRG): send the minutes``, ``(JRG) Note to
    self: check …``: the owners on the label, the entry, its text, else its topic's."""
    rest = lab.rest
    own, guessed = lab.owners or written, named and not lab.owners
    inherited = False
    if not own:
        own, rest_body = _written(rest)
        if own:
            rest = rest_body
        else:
            own, guessed = _owners_in(rest, ())
            lead = _LEAD_OWNERS.match(rest)  # "AI: JRG send the minutes"
            if not own and lead and rules.task_verb(lead.group(2)):
                own, guessed = tuple(o for o in rules.OWNER_SPLIT.split(lead.group(1)) if o), True
    if not own:
        own = _ancestor_owners(it)
        inherited = bool(own)
    return Raw("action", it.line + 1, text, rest, own, checkbox, done, inherited, guessed, form="label")


def _classify(it: Item, in_topics: bool, in_actions: bool, listed: tuple[str, ...] | None) -> Raw | None:
    """One entry: a topic, an action item (with why: ``Raw.form``), or neither. ``listed``: the
    entry is in a list under a label line, with the owners that line names."""
    text = it.text
    if _placeholder(text):
        return None
    checkbox = it.checked is not None
    top = it.parent is None
    line = it.line + 1
    lab = rules.label(text) if _may_label(text) else None
    if lab is not None and not lab.rest:
        return None  # a label alone heads a list: its entries are the action items
    if in_topics and top and lab is None and listed is None:
        owners, body = _written(text)
        return Raw(
            "topic",
            line,
            text,
            body,
            owners,
            checkbox,
            bool(it.checked),
            discussed=any(_is_discussion(c) for c in it.children),
        )
    written, body = _written(text)
    named = False
    if lab is None and not written and text[:1].isupper():
        n = _NAME_COLON.match(text)  # "Dasha: Planning to attend": a first name, if a known one
        if n and n.group(1).lower() not in rules.NOT_NAMES:
            written, body, named = (n.group(1),), n.group(2), True
    if lab is None and not written and it.parent is not None and it.parent.text[-1:] == ":":
        speaker = _speaker(it.parent.text)  # "- Jannis:" with what Jannis said nested under it
        if speaker is not None:
            written, named = speaker
    if lab is None and written and body is not text and _may_label(body):
        lab = rules.label(body)  # "JRG: Action item: …", "(JRG) Note to self: check …"
        if lab is not None and not lab.rest:
            return None
    if lab is not None:
        return _labelled(it, text, written, lab, checkbox, _done(it), named)
    if listed is not None or (in_actions and top):
        own, guessed = _owners_in(text, written)
        guessed = guessed or named
        inherited = False
        if not own:
            own, inherited = listed or _ancestor_owners(it), not listed
            inherited = inherited and bool(own)
        return Raw(
            "action",
            line,
            text,
            body,
            own,
            checkbox,
            _done(it),
            inherited,
            guessed,
            form="list" if listed is not None else "section",
        )
    return _committed(it, text, body, written, checkbox, named)


# "Reach out if you are interested", "Bring any topics": the audience asked, nobody's task
_AUDIENCE = re.compile(r"\b(?:you|your|any|anyone|everyone|please)\b", re.I)


def _in_todo_list(it: Item) -> bool:
    """The entry is one of a nested list of at least three open boxes and nothing else (the
    to-do lists of 2020's notes; under a topic someone owns, such boxes are its discussion)."""
    siblings = it.parent.children if it.parent is not None else ()
    return len(siblings) >= 3 and all(s.checked is False for s in siblings)


def _committed(it: Item, text: str, body: str, written: tuple[str, ...], checkbox: bool, named: bool) -> Raw | None:
    """An entry outside action items sections and lists: an action item if its owners (written,
    read from prose, trailing, or its topic's) commit to a task."""
    line = it.line + 1
    form = "checkbox" if checkbox else "prose"
    if (
        it.checked is False
        and not written
        and _in_todo_list(it)
        and rules.commits(text)
        and not _AUDIENCE.search(text)
        and not _ancestor_owners(it)
    ):
        # "* [ ] Establish a process for …", "* [ ] need to talk to Anaconda IT" in a list of
        # open boxes: a box that states a task (one that names a topic, "[ ] Public calendar",
        # does not)
        return Raw("action", line, text, text, (), checkbox, False, form=form)
    if not written and not _gate(text):
        return None  # every rule below needs owners or a commitment: most entries are notes
    done = _done(it)
    if not written and ("->" in text or "→" in text):
        # "Maybe a new doodle? -> (CHL) Will put up a poll": what the arrow leads to, by its owners
        tail = (text.partition("->") if "->" in text else text.partition("→"))[2]
        tail_owners, tail_body = _written(tail.strip())
        if tail_owners and rules.commits(tail_body):
            return Raw("action", line, text, tail_body, tail_owners, checkbox, done, form=form)
    if written:
        if rules.commits(body):  # "JRG: will report this", "JRG: To check governance.", "(JRG) Open the issue"
            return Raw("action", line, text, body, written, checkbox, done, guessed=named, form=form)
        guess = rules.who_commits(body)  # "CHL: Sounds good. JRG will draft it."
        if guess is not None:
            return Raw("action", line, text, body, guess.owners, checkbox, done, guessed=True, form=form)
        return None  # an owner's comment in the discussion
    guess = rules.who_commits(text)  # "KK will discuss", "Jaime to call the vote", "RA looking into it"
    if guess is not None:
        return Raw("action", line, text, text, guess.owners, checkbox, done, guessed=True, form=form)
    trailing = rules.trailing_owners(text)  # "Write the CEP (SA, next two weeks)"
    if trailing and rules.commits(_TRAILING_PAREN.sub("", text)):
        return Raw(
            "action", line, text, _TRAILING_PAREN.sub("", text), trailing, checkbox, done, guessed=True, form=form
        )
    if it.parent is not None and rules.will_commit(text):  # "Will open an issue" under "(DPC) Governance"
        inherited_owners = _ancestor_owners(it)
        if inherited_owners:
            return Raw("action", line, text, text, inherited_owners, checkbox, done, inherited=True, form=form)
    return None


_LEAD_OWNERS = re.compile(rf"^({rules.OWNER_LIST})\s+([a-z]+)\b")
_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*\.?$")


def _listed_items(notes: Notes) -> dict[int, tuple[str, ...]]:
    """Items (by line) of a list that follows a label line (``Action items:``, ``**Next
    steps**``, ``AI (JRG):``), or nested under an item that is only such a label: each entry of
    that list is an action item. The value: the owners the label names."""
    out: dict[int, tuple[str, ...]] = {}
    text = notes.text
    if not _may_label(text):
        return out
    marks: dict[int, tuple[str, ...]] = {}
    for m in _label_lines(text):
        line_text = m.group(0).strip()
        line_text = _BULLET.sub("", line_text)
        written, body = _written(line_text)
        lab = rules.label_only(body)
        if lab is None:
            continue
        owners = lab.owners or written
        marks[text.count("\n", 0, m.start())] = owners
    if not marks:
        return out
    by_line = {it.line: it for it in notes.items}
    for mark, owners in marks.items():
        it = by_line.get(mark)
        if it is not None:  # "- Action items:" with the entries nested under it
            if it.children:
                out.update((c.line, owners) for c in it.children)
                continue
            if it.parent is None:
                continue
        # a paragraph line (or an item without children): the list starting on the next
        # non-blank line, its entries
        i = mark + 1
        while i < len(notes.lines) and not notes.lines[i].strip():
            i += 1
        first = by_line.get(i)
        if first is None or (it is not None and first.indent < it.indent):
            continue
        sibling: Item | None = first
        while sibling is not None:
            out[sibling.line] = owners
            nxt = sibling.end
            while nxt < len(notes.lines) and not notes.lines[nxt].strip():
                nxt += 1
            cand = by_line.get(nxt)
            sibling = cand if cand is not None and cand.parent is first.parent and cand.indent == first.indent else None
    return out


_BULLET = re.compile(r"^(?:[-*+]|\d+[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")

_last_lowered: tuple[str, str] = ("", "")


def _lowered(text: str) -> str:
    """``text.lower()``, kept for the last text: the label lines and the evidence of one file
    both search it (lowering a file costs ~11 µs)."""
    global _last_lowered
    last = _last_lowered
    if last[0] is text:
        return last[1]
    low = text.lower()
    _last_lowered = (text, low)
    return low


# the words one of which every label line holds (lower-cased; "AI" is found in the text as written)
_LABEL_FINDS = ("action", "to do", "to-do", "todo", "next step", "next-step", "follow", "take")


def _label_lines(text: str) -> list[re.Match[str]]:
    """The lines of ``text`` that ``_LABEL_LINE`` matches, in order: only the lines holding a
    label word are tried (one ``find`` per word over the text; the pattern searched over the
    whole text tried every line start)."""
    low = _lowered(text)
    starts: set[int] = set()
    for word, hay in (*((w, low) for w in _LABEL_FINDS), ("AI", text)):
        i = hay.find(word)
        while i >= 0:
            start = text.rfind("\n", 0, i) + 1
            starts.add(start)
            end = text.find("\n", i)
            if end < 0:
                break
            i = hay.find(word, end)
    out = []
    for start in sorted(starts):
        end = text.find("\n", start)
        m = _LABEL_LINE.match(text, start, len(text) if end < 0 else end)
        if m is not None:
            out.append(m)
    return out


def _group_heading(it: Item) -> bool:
    """An entry of an action list that only heads the steps nested under it (``conda security
    issue reporting:``): the steps are the items. Not a label (``Next steps:`` is read as one),
    nor a task whose details are nested (``MB: Create issues in setup-miniconda for:``)."""
    text = it.text.rstrip()
    return (
        bool(it.children)
        and text.endswith(":")
        and not (_may_label(text) and rules.label_only(text))
        and not rules.commits(split_owner(text)[1])
    )


def extract(notes: Notes, topic_sections: frozenset[str], action_sections: frozenset[str]) -> list[Raw]:
    """Every topic and action item of one parsed file, in line order."""
    listed = _listed_items(notes)
    grouped: dict[int, tuple[str, ...]] = {}  # entries under a group's heading in an action list
    out = []
    history = history_sections(notes)
    kinds: dict[int, tuple[bool, bool, bool]] = {}  # section heading line -> (skipped, topics, actions)
    for it in notes.items:
        sec = it.section
        key = sec.start if sec is not None else -1
        kind = kinds.get(key)
        if kind is None:
            title = normalize_title(sec.title) if sec is not None else ""
            kind = kinds[key] = (
                title.startswith("attendees") or key in history,
                title in topic_sections,
                title in action_sections or bool(_ACTION_TITLE.fullmatch(title)),
            )
        if kind[0]:
            continue
        in_list = listed.get(it.line)
        if in_list is None:
            in_list = grouped.get(it.line)
        if (in_list is not None or (kind[2] and it.parent is None)) and _group_heading(it):
            # "* conda security issue reporting:" over numbered steps: each step is an item
            owners, _ = _written(it.text)
            speaker = _speaker(it.text)
            owners = owners or (speaker.owners if speaker else ())
            grouped.update((c.line, owners or in_list or ()) for c in it.children)
            continue
        raw = _classify(it, kind[1], kind[2], in_list)
        if raw is not None and raw.kind == "topic" and raw.owners and rules.promises(raw.body):
            # "[x] DPC: Will be submitting a talk to …": the topic is its owner's task (its tick
            # says it was discussed, not done)
            raw = Raw("action", raw.line, raw.text, raw.body, raw.owners, raw.checkbox, False, form="prose")
        if raw is not None:
            out.append(raw)
    return out


def _section_names(meeting: Meeting) -> tuple[frozenset[str], frozenset[str]]:
    s = meeting.actions
    return (
        frozenset(normalize_title(t) for t in s.topic_sections),
        frozenset(normalize_title(t) for t in s.action_sections),
    )


# ---------------------------------------------------------------------------------------
# Lines that report something done (``track`` matches them against earlier items)

# matched on lower-cased text: a case-insensitive alternation is several times slower
# words that say something happened (matched whole, on lower-cased text)
DONE_WORDS = (
    "done merged opened created closed fixed published sent submitted filed posted released shipped landed "
    "completed finished resolved scheduled called announced updated written wrote drafted booked invited "
    "contacted launched started uploaded added renamed moved archived tagged pinged asked shared presented "
    "reviewed approved accepted cut"
).split() + ["set up", "reached out", "✓", "✔", "✅"]


def _done_word_lines(low: str, starts: list[int] | None, lines: list[str]) -> set[int]:
    """The lines (0-based) of the lower-cased text ``low`` with a done word on them: one C-speed
    ``find`` per word over the file (an alternation of the words, searched at every position,
    cost five times as much), each hit checked for word boundaries."""
    found: set[int] = set()
    for word in DONE_WORDS:
        i = low.find(word)
        while i >= 0:
            end = i + len(word)
            if word[0].isalnum() and ((i and low[i - 1].isalnum()) or (end < len(low) and low[end].isalnum())):
                i = low.find(word, end)
                continue
            if starts is None:
                starts = list(itertools.accumulate(len(x) for x in lines))
            found.add(bisect.bisect_right(starts, i))
            i = low.find(word, end)
    return found


# "will report when it is merged", "not merged yet", "to be published": not done (yet)
_NOT_YET = re.compile(
    r"\b(?:will|won't|once|when|until|not|if|to be|needs?|should|pending|waiting|yet|planning|plan)\b|n't\b", re.I
)


def _owners_of(it: Item) -> tuple[str, ...]:
    p: Item | None = it
    while p is not None:
        owners, _ = split_owner(p.text)
        if owners:
            return tuple(o.upper() for o in owners)
        p = p.parent
    return ()


def evidence(
    text: str,
    lines: list[str],
    items: Iterable[Item],
    skip: set[int],
    topics: frozenset[int] | set[int] = frozenset(),
) -> tuple[Evidence, ...]:
    """The entries of a file (its ``text``, ``lines`` and parsed ``items``; not those on the
    lines in ``skip``: attendee lists) that report something done; a ticked entry on a line in
    ``topics`` (the meeting's own agenda topics: ticked means discussed) only in words."""
    worded_lines = _done_word_lines(_lowered(text), None, lines)
    out = []
    for it in items:
        if it.line in skip or it.checked is False:
            continue  # an open box: not done, whatever it says
        text = it.text
        worded = it.line in worded_lines and not _NOT_YET.search(text)
        if not worded and (it.checked is not True or it.line in topics):
            continue
        _, body = split_owner(text)
        s = stems(body)
        if not s:
            continue
        out.append(Evidence(it.line + 1, _owners_of(it), tuple(sorted(s)), urls(text), worded))
    return tuple(out)
