"""Is this line of notes a task, and who owns it: the wording rules, on one entry's text, and
the resolution of the owners an entry names to people.

The rules are pure functions of text (no notes structure, no config): ``parse`` applies them
to the entries of a parsed file. The rules, with the forms seen in conda's notes:

* **labels**: ``Action item: …``, ``AI: …``, ``TODO: …``, ``Next steps: …``, ``Note to self: …``
  (any case, with or without bold or italics, ``(TODO)``, ``Action item for @x:``); a label
  alone on its line (``**Action items:**``, ``- Next steps``) heads a list whose entries are
  each an action item (:func:`label_only`).
* **commitments**: an owner and a task verb: ``JRG: will report this``, ``JRG: To check
  governance.``, ``JRG to create a PR``, ``Jaime will write the post``, ``(JRG) Open the
  issue``, ``RA looking into it``; with no owner written (``Will open an issue``) the owner
  of the topic it is noted under.
* **not tasks**: the verb must be one a person does (:data:`TASK_VERBS`): ``WV: To prevent
  rebranded copies, mostly.`` (a purpose), ``Will arrive on Friday`` (an event), ``will be
  done`` and questions are not; an owner guessed from prose (``RFC to start today``) must be
  a known person, which :func:`_resolve_raws` checks when it resolves owners.

Owners are resolved (:func:`resolve_owner`): this file's attendee list -> the roster; failing
that the roster by initials, then the people index learned from every notes file
(``chatbot.people``). Owners that cannot be resolved are kept and reported as unresolved.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import NamedTuple

from ..config import Config
from ..notes.parse import Attendee
from ..people import PeopleIndex
from .model import ActionItem, FileFacts, Owner, Raw
from .words import _INITIALS, _LINK, INITIALS_RX


# Verbs of a task someone takes on (base forms; "-s", "-ed" and "-ing" forms are derived).
# Not here on purpose: be, have, need, want, like, think, arrive, happen, come, go, prevent,
# allow, help (alone), see, know, seem, become, remain, keep, wait, hope.
_VERBS = """
add address adjust attend begin bundle combine do experiment seek brainstorm demo join meet mentor pair show teach advertise amend announce answer apply approve archive ask assign audit
book bring build bump call cancel catch change chase check circulate clarify clean close
collect comment communicate compile confirm connect contact continue contribute convert coordinate
copy create cut debug decide define delete deploy deprecate describe design discuss distribute
document double-check draft drive edit email enable escalate establish estimate evaluate explore
extend figure file finalize finalise find finish fix follow forward gather generate get give
handle host identify implement improve include inform initiate inquire install integrate
introduce investigate invite involve land launch lead list look mail make manage mention merge
message migrate move nominate notify onboard open organize organise outline own pick ping plan
poll port post prepare present prioritize prioritise produce propose prototype provide publish
publicize publicise push put raise reach read rebase reconcile record reply recruit refactor reject release remind
remove rename reopen report request research resolve respond restart resume return review revise
revisit rewrite rework run schedule scope script search send set setup share ship sign solicit
sort sponsor start submit summarize summarise support survey sync take talk tag test
track transfer translate triage try turn update upgrade upload validate verify vote write
""".split()


def _forms(verb: str) -> set[str]:
    out = {verb, verb + "s", verb + "es", verb + "ed", verb + "d", verb + "ing"}
    if verb.endswith("e"):
        out |= {verb[:-1] + "ing", verb + "d"}
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        out |= {verb[:-1] + "ies", verb[:-1] + "ied"}
    if re.fullmatch(r"[a-z]*[^aeiou][aeiou][bdgmnprt]", verb):  # stop -> stopping, tag -> tagged
        out |= {verb + verb[-1] + "ing", verb + verb[-1] + "ed"}
    return out


TASK_VERBS = frozenset(_VERBS)
_TASK_VERB_FORMS = frozenset(f for v in _VERBS for f in _forms(v))

OWNER_LIST = rf"{_INITIALS}(?:\s*(?:,|/|&|\band\b)\s*{_INITIALS})*"
OWNER_SPLIT = re.compile(r"\s*(?:,|/|&|\band\b)\s*")
# capitalised words that label a line or name a thing, never a person
NOT_OWNER_WORDS = frozenset(
    "AI TODO OK YES CEP CEPS PR PRS API CI CDN FYI TBD TBA ARM RFC CLI OSS URL WIP NOTE AOB FAQ ASAP "
    "EOL UI UX QA CVE SBOM PEP PSF NF OCI GPU CPU MVP LTS".split()
)

# --- labels ------------------------------------------------------------------------------

_LABEL_WORDS = (
    r"action[ -]?items?|(?-i:AIs?)|to[ -]?dos?|next[ -]steps?|follow[ -]?ups?|note to self"
    r"|actions?(?: required)?|take[ -]?homes?|take[ -]?aways?"
)
# "Action item: …", "AI (JRG): …", "TODO for @x: …", "(TODO) …", "Next steps - …"
_LABEL = re.compile(
    rf"^(?:\((?:{_LABEL_WORDS})\)\s*:?|(?P<word>{_LABEL_WORDS})(?:\s*\(\s*(?P<paren>[^()]{{1,40}})\))?"
    rf"(?:\s+for\s+(?P<forwho>@?[\w-]+))?\s*(?P<sep>:|\s*(?:->|→|=>)\s*|\s[-–—]\s|(?=$)))\s*(?P<rest>.*)$",
    re.S | re.I,
)
# a label in the middle of a line: "Agreed. Action item: JRG to open the issue"
_INLINE_LABEL = re.compile(
    r"(?:[.;!]\s+|\s[-–—]\s+)(?:\*\*|__|\*|_)?(?:action[ -]?items?|(?-i:AI|TODO))(?:\*\*|__|\*|_)?\s*:"
    r"(?:\*\*|__|\*|_)?\s*(?P<rest>\S.*)$",
    re.S | re.I,
)
_LEADING_MARKS = re.compile(r"^[^\w\s(\[*_@#]+\s*")  # "✅ Action item: …", "➡️ Next steps"
_EMPHASIS = re.compile(r"^(\*\*|__|\*|_)(?=\S)(.{1,60}?)(?<=\S)\1(?!\*|_)")
LABEL_HINTS = ("ction", "AI", "odo", "ODO", "ext step", "ollow", "ote to self", "CTION", "ake", "AKE")


class Label(NamedTuple):
    rest: str  # the text after the label ("" when the label heads a list)
    owners: tuple[str, ...]  # written on the label: "AI (JRG):", "Action item for @x:"


def unemphasize(text: str) -> str:
    """``**Action item:** x`` -> ``Action item: x``; ``*AI*: x`` -> ``AI: x`` (the start only)."""
    if text[:1] not in "*_":
        return text
    m = _EMPHASIS.match(text)
    if not m:
        return text
    return m.group(2) + text[m.end() :]


def _label_owners(paren: str | None, forwho: str | None) -> tuple[str, ...]:
    if forwho:
        return (forwho,)
    if paren:
        owners = tuple(o for o in OWNER_SPLIT.split(paren.strip()) if o)
        if owners and all(INITIALS_RX.fullmatch(o) or o.startswith("@") for o in owners):
            return owners
    return ()


def label(text: str) -> Label | None:
    """The label the entry starts with (bold or not), or one after a sentence inside it."""
    t = unemphasize(_LEADING_MARKS.sub("", text.strip()))
    if t[:1] in "(aAtTnNfF":
        m = _LABEL.match(t)
        if m:
            rest = m.group("rest").strip()
            word = (m.group("word") or "").lower()
            sep = m.group("sep")
            if (
                sep is not None
                and sep.strip() in ("-", "–", "—")
                and not word.startswith(("action", "todo", "to do", "to-do"))
            ):
                return None  # "Follow up - CEP status", "AI - generated code": a title, not a label
            if sep == "" and word.startswith(("follow", "note", "action")) and not word.startswith("action item"):
                return None  # "JRG: follow up": a task, not a label heading a list
            if rest[:2] in ("**", "__"):  # "Action item**: x" left by an emphasis not closed at the start
                rest = rest[2:].lstrip(" :")
            if m.group(0)[:2] == "AI" and question(rest):  # "AI: should we take AI contributions?"
                return None
            return Label(rest, _label_owners(m.group("paren"), m.group("forwho")))
    if "ction" in t or "AI" in t or "TODO" in t:
        m = _INLINE_LABEL.search(t)
        if m:
            return Label(m.group("rest").strip(), ())
    return None


def label_only(text: str) -> Label | None:
    """A label alone (``Action items:``, ``**Next steps**``, ``AI (JRG):``): it heads a list."""
    found = label(text)
    if found is None or found.rest.strip(" *_:"):
        return None
    return found


# --- commitments -------------------------------------------------------------------------

_ADVERBS = r"(?:(?:also|then|first|soon|try\s+to|help(?!\s+with\b)|help\s+to|be(?=\s+\w+ing\b)|[a-z]+ly)\s+)*[\"'“‘]?"
# "will", "to", "'ll", "shall", "is going to", "plans to", "agreed to", "volunteered to", "needs to"
_MODAL = (
    r"(?:(?:(?:i|we)\s*)?(?:will|'ll|’ll|shall|(?:am\s+|are\s+)?(?:going|planning)\s+to)|(?:is\s+)?(?:going|planning)\s+to"
    r"|(?:is\s+|are\s+|am\s+)?planning\s+on(?=\s+\w+ing\b)|(?:i\s+)?plans?\s+to|agreed\s+to|volunteered\s+to|offered\s+to|would\s+like\s+to|intends?\s+to|needs?\s+to"
    r"|has\s+to|to)"
)
_PROGRESSIVE = (
    r"(?:is\s+|are\s+)?(?:looking\s+into|working\s+on|taking\s+care\s+of|following\s+up|preparing|drafting"
    r"|reaching\s+out|owes|will\s+own)\b"
)
# "Update on the CEP", "Release of 25.1", "Support for X landed": a noun, not an order
_NOUN_USE = re.compile(
    r"\s*(?:[:(]|in\b(?!\s+with)|(?:of|on|for|from|is|was|are|were|has|have|had|status|needed|landed|merged|done|"
    r"went|looks|seems|proposal|request|process|policy|page|meeting|call|time|results?)\b)",
    re.I,
)
_COMMIT_HEAD = re.compile(
    rf"^(?:(?:ok|yes|sure)[,.!]?\s+)?(?:(?:also|and|then)\s+)?{_MODAL}\s+{_ADVERBS}(?P<verb>[A-Za-z-]+)", re.I
)
_IMPERATIVE_HEAD = re.compile(rf"^(?:let's\s+|let’s\s+)?{_ADVERBS}(?P<verb>[A-Za-z-]+)", re.I)
_SENTENCE = re.compile(r"(?<=[.!;])\s+(?=[A-Z])")
_LEAD_IN_I_WILL = re.compile(
    rf"^[^.;:!?,]{{3,60}},\s+i\s+(?:will|'ll|’ll|am\s+going\s+to)\s+{_ADVERBS}(?P<verb>[A-Za-z-]+)", re.I
)
_PROGRESSIVE_HEAD = re.compile(rf"^{_PROGRESSIVE}", re.I)
_NOTE_TO_SELF = re.compile(r"^note to self\s*[:\-–]?\s*", re.I)
# a first name, with a surname ("Daniel Ching"), or several ("Cheng and/or Travis", "Cheng,
# Marcelo to …", "Jaime, Ken and I are planning to …": the writer, "I", is nobody known)
_NAME = r"[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]+(?=\s+(?:will|to|is|are|plans?)\b))?"
_NAMES = rf"{_NAME}(?:,\s*{_NAME})*(?:,?\s+(?:and/or|and|or|&)\s+(?:{_NAME}|I\b))?"
# "JRG will open", "JRG and CHL to draft", "Jaime will write": the owner is guessed from prose
_WHO = re.compile(
    rf"^(?P<who>{OWNER_LIST}|{_NAMES})\s+(?P<rest>(?:{_MODAL}\s+|{_PROGRESSIVE}).*)$",
    re.S,
)
# "… . DPC will reach out to conda-forge", "…; Lilly will publicize SLAs", "…, Dasha to edit the PR"
_LATER_WHO = re.compile(
    rf"(?:[.;!]\s+(?P<who>{OWNER_LIST}|[A-Z][a-z]{{2,}})\s+(?P<rest>will\s+.*)"
    rf"|,\s+(?P<who2>{OWNER_LIST}|[A-Z][a-z]{{2,}})\s+(?P<rest2>(?:will|to)\s+.*))$",
    re.S,
)
# "… (JRG)", "… (SA, next two weeks)", "… -- JRG"
_TRAILING_OWNERS = re.compile(rf"\(\s*((?:{_INITIALS})\??(?:\s*[,/&]?\s*(?:{_INITIALS})\??)*)(?:\s*,[^()]*)?\)\s*\.?$")
NOT_NAMES = frozenset(
    "and also then we they it this that someone everyone nobody who he she you will need need to "
    "want plan plans planning going next consensus people folks everybody anyone somebody the "
    "discussion question answer agreement proposal there here maybe also hopefully nothing".split()
)


def task_verb(word: str) -> bool:
    w = word.lower().strip("'-")
    if w in _TASK_VERB_FORMS:
        return True
    return w.startswith("re") and w[2:].lstrip("-") in _TASK_VERB_FORMS  # rerun, re-start, reopen


def _base_verb(word: str) -> bool:
    w = word.lower()
    return w in TASK_VERBS or (w.startswith("re") and w[2:].lstrip("-") in TASK_VERBS)


def question(text: str) -> bool:
    """The entry's first sentence asks something ("Will the API return SHA-256?")."""
    first = re.split(r"(?<=[.!?])\s", _LINK.sub("link", text), maxsplit=1)[0]
    return first.rstrip().endswith("?")


def _promised_task(head: re.Match[str], text: str) -> bool:
    """The verb after a promise (``will``, ``to``, ``planning on`` …, matched by ``head`` at the
    start of ``text``) is a task: a task verb, or ``work on X`` / ``help with X`` (``going to work
    on a few CEPs``, ``will help with the docs``; ``willing to help`` is an offer)."""
    verb = head.group("verb")
    if task_verb(verb):
        return True
    v, after = verb.lower(), text[head.end() : head.end() + 6].lower()
    return (v in ("work", "working") and after[:4] == " on ") or (v == "help" and after == " with ")


# Orders that give advice on how things should be done, not a task to chase: "MRB: Follow a
# deprecation cycle", "(FP) Share APIs, not code", "(TH) Contribute a package via staged-recipes",
# "JRG: Discuss whether this needs a CFEP" (as "will discuss", "to share the slides", a task)
_ADVICE_VERBS = frozenset("copy share follow contribute find discuss support".split())


def _advice(verb: str, text: str, end: int) -> bool:
    v = verb.lower()
    return v in _ADVICE_VERBS and not (v == "follow" and text[end : end + 4].lower() == " up ")


def commits(body: str, *, imperative: bool = True) -> bool:
    """The text (owners already split off) says its owner will do something: ``will report
    this``, ``To check governance``, ``looking into it``, ``Create the channel`` (with
    ``imperative``), ``Note to self: check …``; not ``To prevent copies``, ``will be done``,
    ``will arrive Friday``, nor a question."""
    b = body.strip().lstrip("*_ ").strip()
    if not b or question(b):
        return False
    n = _NOTE_TO_SELF.match(b)
    if n:
        return bool(b[n.end() :].strip())
    if _PROGRESSIVE_HEAD.match(b):
        return True
    m = _COMMIT_HEAD.match(b)
    if m:
        return _promised_task(m, b)
    if imperative:
        m = _IMPERATIVE_HEAD.match(b)
        if (
            m
            and _base_verb(m.group("verb"))
            and (not b.rstrip().endswith(":") or b.rstrip().endswith((" for:", " to:", " with:")))
            and not _NOUN_USE.match(b, m.end())
            and not _advice(m.group("verb"), b, m.end())
        ):
            return True
        # "Based on feedback, I will revise the design": the speaker commits after a lead-in
        lead = _LEAD_IN_I_WILL.match(b)
        if lead and task_verb(lead.group("verb")):
            return True
        # "Great topic. Planning to attend the next CF meeting": a later sentence commits
        for sentence in _SENTENCE.split(b)[1:3]:
            if sentence[:2].lower() == "we":
                continue  # "… We'll cancel the 18th": the group deciding, nobody taking a task
            m = _COMMIT_HEAD.match(sentence)
            if m and task_verb(m.group("verb")) and not question(sentence):
                return True
    return False


def promises(body: str) -> bool:
    """The text promises a task in words (``Will be submitting a talk``, ``Also would like to
    call a vote``), not in an order or a progress report (``Working on …``): what makes an
    agenda topic also its owner's task."""
    b = body.strip().lstrip("*_ ").strip()
    m = _COMMIT_HEAD.match(b)
    return m is not None and not question(b) and _promised_task(m, b)


def will_commit(text: str) -> bool:
    """An entry with no owner that commits its topic's owner: ``Will open an issue``, ``To
    check with legal``, ``And will find the list``."""
    b = text.strip()
    b = re.sub(r"^(?:and|also|then|so)\s+", "", b, flags=re.I)
    for sentence in _SENTENCE.split(b)[:3]:  # "YES, cancel it. Will announce"
        if _WILL_HEAD.match(sentence) and not question(sentence) and commits(sentence, imperative=False):
            return True
    return False


# "We will migrate …", "We are planning to …": the group's plan, not the topic owner's task
_WILL_HEAD = re.compile(r"(?:i\s+)?(?:will|to|plan\s+to|(?:am\s+|is\s+)?(?:planning|going)\s+to)\s", re.I)


class Guess(NamedTuple):
    owners: tuple[str, ...]
    by_name: bool  # written as a first name


def who_commits(text: str) -> Guess | None:
    """``JRG will report``, ``WV/JL to meet``, ``Jaime will write``, ``…. DPC will reach
    out``: the owners guessed from prose (to be checked against the people known)."""
    m = _WHO.match(text)
    if m is None:
        m2 = _LATER_WHO.search(text)
        if m2 is None:
            return None
        m = m2
    who, rest = m.group("who") or m.group("who2"), m.group("rest") or m.group("rest2")
    if not commits(rest, imperative=False):
        return None
    return named(who)


def named(who: str) -> Guess | None:
    """The owners a phrase names: initials (``WV/JL``) as written, or first names (``Jaime,
    Ken and I``: the writer, "I", and words that are no name left out); None: nobody."""
    if INITIALS_RX.fullmatch(OWNER_SPLIT.split(who)[0]):
        owners = tuple(o for o in OWNER_SPLIT.split(who) if o and o not in NOT_OWNER_WORDS)
        return Guess(owners, False) if owners else None
    # "Daniel Ching" is known by "Daniel" (people are looked up by first name)
    names = tuple(
        n.split()[0]
        for n in re.split(r",?\s+(?:and/or|and|or|&)\s+|,\s*", who)
        if n.split()[0] != "I" and n.split()[0].lower() not in NOT_NAMES
    )
    return Guess(names, True) if names else None


def trailing_owners(text: str) -> tuple[str, ...]:
    """``Write the CEP (SA, next two weeks)`` -> ``("SA",)``."""
    m = _TRAILING_OWNERS.search(text)
    if not m:
        return ()
    return tuple(
        o.strip("? ") for o in re.split(r"[\s,/&]+", m.group(1)) if o.strip("? ") not in ("", *NOT_OWNER_WORDS)
    )


# ---------------------------------------------------------------------------------------
# Owner resolution


def resolve_owner(token: str, attendees: list[Attendee], config: Config, people: PeopleIndex | None = None) -> Owner:
    if token.startswith("@"):
        handle = token[1:]
        person = config.person_by(github=handle)
        return Owner(token, person.name if person else (people.name_of(handle) if people else None), handle, person)
    if not INITIALS_RX.fullmatch(token):  # a first name: "Jaime", "Cheng"
        att = next((a for a in attendees if a.name and a.name.split()[0].lower() == token.lower() and a.github), None)
        known = None if att else (people.by_first_name(token) if people else None)
        github = att.github if att else (known.github if known else None)
        name = att.name if att else (known.name if known else None)
        person = config.person_by(github=github) if github else None
        return Owner(token, name, github, person)
    att = next((a for a in attendees if a.initials and a.initials.upper() == token.upper()), None)
    person = None
    if att and att.github:
        person = config.person_by(github=att.github)
    shadowed = False
    if person is None:
        person = config.person_by(initials=token)
        if person and att and att.github and person.github and person.github.lower() != att.github.lower():
            # the file says these initials are someone else (initials collide: JL is both
            # @jezdez and @leej3 in conda's notes): not the roster's person
            person, shadowed = None, True
    github = (att.github if att else None) or (person.github if person else None)
    name = (att.name if att else None) or (person.name if person else None)
    if person is None and not shadowed and not github and people is not None:
        # the file's own list lacks them: the people index (the roster already had its say)
        known = people.by_initials(token)
        if known:
            github, name = known.github, name or known.name
            person = config.person_by(github=github) if github else None
    return Owner(token, name, github, person, shadowed)


# resolved owners: (config, index version, token, this file's attendee for it) -> Owner
_owners: dict[tuple, Owner] = {}


class _FileView:
    """One file's attendees, looked up by initials and by first name."""

    __slots__ = ("by_initials", "by_first", "attendees", "facts", "written")

    def __init__(self, facts: FileFacts):
        self.facts = facts
        self.by_initials: dict[str, tuple] = {}
        self.by_first: dict[str, tuple] = {}
        for a in facts.attendees:
            if a[0]:
                self.by_initials.setdefault(a[0].upper(), a)
            if a[3] and a[2]:
                self.by_first.setdefault(a[3], a)
        self.attendees = facts.attendees
        # initials the file writes in an owner's place ("(WV) Calling for a vote"): known people
        self.written = {o.upper() for r in (*facts.topics, *facts.actions) if not r.guessed for o in r.owners}


def _owner(token: str, view: _FileView, config: Config, people: PeopleIndex | None, version: int) -> Owner:
    if token.startswith("@"):
        att = None
    elif INITIALS_RX.fullmatch(token):
        att = view.by_initials.get(token.upper())
    else:
        att = view.by_first.get(token.lower())
    key = (id(config), version, token, att)
    o = _owners.get(key)
    if o is None:
        if len(_owners) > 50_000:  # each change of the archive makes a new index version: bounded
            _owners.clear()
        attendees = [Attendee(att[1], att[0], att[2])] if att else []
        o = _owners[key] = resolve_owner(token, attendees, config, people)
    return o


def _known_view(token: str, view: _FileView, people: PeopleIndex | None, config: Config) -> bool:
    """Someone this file's attendees, the roster or the people index knows by these initials,
    handle or first name (an owner read from prose must be one)."""
    if token.startswith("@"):
        return True
    if INITIALS_RX.fullmatch(token):
        up = token.upper()
        return (
            up in view.by_initials
            or up in view.written
            or config.person_by(initials=token) is not None
            or bool(people and people.by_initials(token))
        )
    t = token.lower()
    if any(a[3] == t for a in view.attendees):
        return True
    if any(p.name.split()[0].lower() == t for p in config.people if p.name):
        return True
    return bool(people and people.by_first_name(token))


def _resolve_raws(
    raws: tuple[Raw, ...],
    view: _FileView,
    path: Path,
    day: dt.date,
    config: Config,
    people: PeopleIndex | None,
    version: int,
) -> list[tuple[ActionItem, bool, bool]]:
    out = []
    for r in raws:
        if r.guessed and not all(_known_view(t, view, people, config) for t in r.owners):
            if r.form not in ("section", "label", "list"):
                continue  # "RFC to start today", "Happy to give a demo": not a person
            # "Anaconda to build the launcher" in an Action items list: a task, nobody's
            r = r._replace(owners=tuple(t for t in r.owners if _known_view(t, view, people, config)))
        item = ActionItem(
            day,
            path,
            r.line,
            r.text,
            r.body,
            [_owner(t, view, config, people, version) for t in r.owners],
            r.kind,
            r.checkbox,
            form=r.form if r.kind == "action" else "topic",
        )
        out.append((item, r.done, r.discussed))
    return out
