"""Action items a chair would chase: every form (checkboxes, labels, lists under a label line,
prose commitments), the false friends that are not tasks, owners only from known people, and
items a later meeting reports done.

Scored against a chair's labels: ``tests/data/notes_2026/`` (notes in the 2026 style with every
form, labelled by hand), and held-out sets of the real corpus labelled by people who never read
the rules (``tests/data/heldout_chair_labels.toml`` to ``heldout5_chair_labels.toml``, and
``heldout6_chair_labels.toml`` on the real 2026 notes in ``notes_2026_heldout/``; from set 2 on,
each labelled again by a second person, ``*_b.toml``, and scored on what both agree on). How the
labels were made, and the brief to make the next set: ``tests/data/labelling_brief.md``."""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from pathlib import Path

import pytest

from chatbot.actions import classify as rules
from chatbot.actions import entries_in_file, open_actions, track
from chatbot.actions.parse import evidence
from chatbot.config import load_config
from chatbot.notes.parse import parse_notes, read_notes
from chatbot.people import PeopleIndex

from conftest import SHARED, SHARED_NOTES, write_config

NOTES_2026 = Path(__file__).parent / "data" / "notes_2026"
HELDOUT = Path(__file__).parent / "data" / "heldout_chair_labels.toml"
HELDOUT2 = Path(__file__).parent / "data" / "heldout2_chair_labels.toml"
HELDOUT3 = Path(__file__).parent / "data" / "heldout3_chair_labels.toml"
HELDOUT4 = Path(__file__).parent / "data" / "heldout4_chair_labels.toml"
HELDOUT5 = Path(__file__).parent / "data" / "heldout5_chair_labels.toml"
HELDOUT6 = Path(__file__).parent / "data" / "heldout6_chair_labels.toml"
NOTES_2026_HELDOUT = Path(__file__).parent / "data" / "notes_2026_heldout"


@pytest.fixture
def cfg(tmp_path):
    return load_config(write_config(tmp_path))


def _day(name: str) -> dt.date:
    return dt.date(int(name[:4]), int(name[4:6]), int(name[6:8]))


def _entries(notes: str, cfg):
    """(action items with done, topics) of a notes text read as the file of 2026-01-07."""
    return entries_in_file(parse_notes(notes, "n.md"), dt.date(2026, 1, 7), cfg)


def _line_of(lines: list[str], text: str) -> int:
    hits = [i + 1 for i, line in enumerate(lines) if text in line]
    assert len(hits) == 1, f"{text!r} must name one line, names {hits}"
    return hits[0]


# ---------------------------------------------------------------------------------------
# The 2026-style notes: every form, and the false friends


def _labels_2026():
    return tomllib.loads((NOTES_2026 / "labels.toml").read_text(encoding="utf-8"))


def test_the_2026_labels_cover_every_form_and_the_false_friends_of_the_issue():
    data = _labels_2026()
    actions = [a for f in data["file"] for a in f["actions"]]
    assert len(actions) >= 20
    assert {a["form"] for a in actions} >= {"list", "label", "prose"}
    friends = [t for f in data["file"] for t in f["not_actions"]]
    for t in ("WV: To prevent rebranded copies, mostly.", "Will arive on Friday", "RFC to start today."):
        assert t in friends


@pytest.mark.parametrize("name", ["20260114-eco.md", "20260128-eco.md", "20260211-eco.md"])
def test_each_action_item_of_the_2026_notes_with_its_owners_and_form(name, cfg):
    f = next(f for f in _labels_2026()["file"] if f["name"] == name)
    path = NOTES_2026 / name
    lines = path.read_text(encoding="utf-8").split("\n")
    expected = {_line_of(lines, e["text"]): e for e in f["actions"]}
    friends = {_line_of(lines, t) for t in f["not_actions"]}
    actions, topics = entries_in_file(read_notes(path), _day(name), cfg)
    got = {a.line: a for a, _ in actions}
    assert sorted(got) == sorted(expected), [lines[n - 1].strip() for n in set(got) ^ set(expected)]
    assert not friends & set(got)
    assert not friends & {t.line for t, _, _ in topics}
    for line, e in expected.items():
        assert [o.token for o in got[line].owners] == e["owners"], lines[line - 1]
        assert got[line].form == e["form"], lines[line - 1]
        assert got[line].form_label  # each item says why it was picked


def test_before_the_next_meeting_the_items_reported_done_later_are_not_open(tmp_path):
    cfg = load_config(write_config(tmp_path))
    (tmp_path / "notes").mkdir()
    for p in NOTES_2026.glob("*.md"):
        shutil.copy(p, tmp_path / "notes" / p.name)
    seq = _labels_2026()["sequence"][0]
    before = dt.date.fromisoformat(seq["before"])
    items = open_actions(cfg, cfg.meeting(), before, today=before - dt.timedelta(days=1))

    def named(ref: str) -> str:
        day, text = ref.split(":", 1)
        lines = (NOTES_2026 / f"{day}-eco.md").read_text(encoding="utf-8").split("\n")
        return f"{day}:{_line_of(lines, text)}"

    got = sorted(f"{i.date:%Y%m%d}:{i.line}" for i in items)
    assert got == sorted(named(r) for r in seq["open"] + seq["known_miss"])


# ---------------------------------------------------------------------------------------
# The held-out labels of the real corpus


def _second(labels: Path) -> Path:
    """The same files labelled by a second labeller, apart from the first."""
    return labels.with_name(labels.stem + "_b.toml")


@pytest.mark.parametrize(
    "labels,min_precision,min_recall,max_wrong",
    [
        # 14 files, 18 action items, 82 look-alikes, one labeller. First score, before any rule
        # was tuned to them: P 0.78, R 0.39 (the rules before this change: P 0.50, R 0.06); now
        # P 0.93, R 0.78
        ([HELDOUT], 0.9, 0.75, 1),
        # 18 other files, 24 action items, 164 look-alikes (labelled a session later). First
        # score: P 0.48, R 0.50 (10 of the 13 wrong were copies under "Last Meeting"); after the
        # general fixes it showed (history sections, "and/or", "Firstname Lastname will", "I plan
        # to", ", Dasha to …"): P 0.84, R 0.67. A second labeller (22 items) agrees on 22: on
        # those P 0.84, R 0.73. The misses left are passive ("All channels will be notified"),
        # agenda entries worded as steps, and a link's parenthesis.
        ([HELDOUT2, _second(HELDOUT2)], 0.85, 0.7, 2),
        # 18 more files, 27 action items, 152 look-alikes, labelled after set 2's fixes. First
        # score: P 0.50, R 0.26 (only items with an owner, the ones the bot pings: P 0.70,
        # R 0.39). The second labeller (17 items) agrees on 16: the 11 others are one 2020
        # file's ownerless boxes and a "Last Meeting" list that only the first counted. On the
        # 16 agreed: P 0.59, R 0.62 (one 2020 file's "Action Items" section of bare topic
        # names, "Website", is most of what is wrong). Left: "We need to track down the PEP".
        ([HELDOUT3, _second(HELDOUT3)], 0.55, 0.6, 5),
        # 18 more files, 20 action items, 170 look-alikes, labelled while the rules were frozen
        # and scored once: P 0.62, R 0.25 (owned: P 0.60, R 0.27). The second labeller agrees
        # on 19 of 20 (21 items). After "Jaime, Ken and I are planning to …", the open boxes of
        # a to-do list, "-> (CHL) Will …" and "to work on": P 0.77, R 0.53 on the 19. Left:
        # "[MRB] I can do this", "Submitting Mar 24" under a grant topic, "[x] MRB: HPC centers".
        ([HELDOUT4, _second(HELDOUT4)], 0.7, 0.5, 3),
        # 24 files (all the corpus had left), two labellers who agree on 30 of 31 items. First
        # score: P 0.83, R 0.33. Then: the steps under a heading in an Action items section
        # (8 items in one file), a topic that promises its owner's task ("DPC: Will be
        # submitting …"), "Also would like to …": P 0.95, R 0.67. Left: "Targetting conda-lock
        # into conda by SciPy", "In the meantime, flag them as inaccurate", "JK: Can you update
        # the issue" (a task asked of someone else).
        ([HELDOUT5, _second(HELDOUT5)], 0.9, 0.65, 2),
        # The community's real 2026 notes (29 files, tests/data/notes_2026_heldout/), two
        # labellers who agree on 30 of 32 items, scored before anything was tuned to them:
        # P 0.86, R 0.63 with the rules as they were, P 0.83, R 0.67 with set 5's fixes (still
        # unseen). Then "planning on releasing", "Based on feedback, I will revise …", "DW
        # will help with …": P 0.85, R 0.77; orders that give advice ("MRB: Follow a
        # deprecation cycle", "(TH) Contribute a package via staged-recipes"; no such order is
        # an action item in any set): P 0.96, R 0.77. Left: orders with no owner under a topic
        # ("Run survey in both zulips"), "Also want to finalize …" (in the other sets "want
        # to" is never a task).
        ([HELDOUT6, _second(HELDOUT6)], 0.9, 0.75, 1),
    ],
    ids=["set1", "set2", "set3", "set4", "set5", "set6-2026"],
)
def test_held_out_chair_labels_precision_and_recall(cfg, labels, min_precision, min_recall, max_wrong):
    """Real files labelled by people who never read the rules. With two labellers, the items
    both call action items are the ones to find; what only one calls so is left out of the
    score (neither found nor missed)."""
    if not SHARED_NOTES:
        pytest.skip("the conda-governance fixtures are not available")
    people = PeopleIndex()
    root = NOTES_2026_HELDOUT if labels[0] == HELDOUT6 else SHARED / "archive"
    for p in [*SHARED_NOTES, *sorted(NOTES_2026_HELDOUT.glob("2026*.md"))]:
        people.learn(read_notes(p).attendees(), _day(p.name))
    sets = [{f["name"]: f for f in tomllib.loads(x.read_text(encoding="utf-8"))["file"]} for x in labels]
    assert all(s.keys() == sets[0].keys() for s in sets)
    hits = found = expected = 0
    rejected_found = []
    for name in sorted(sets[0]):
        actions, _ = entries_in_file(read_notes(root / name), _day(name), cfg, people=people)
        got = {a.line for a, _ in actions}
        said = [{e["line"] for e in s[name]["actions"]} for s in sets]
        want, disputed = set.intersection(*said), set.union(*said) - set.intersection(*said)
        hits, found, expected = hits + len(got & want), found + len(got - disputed), expected + len(want)
        rejected_found += sorted(
            {f"{name}:{n['line']}" for s in sets for n in s[name].get("not_actions", []) if n["line"] in got - disputed}
        )
    precision, recall = hits / max(found, 1), hits / max(expected, 1)
    print(f"held out: precision {precision:.2f} ({hits}/{found}), recall {recall:.2f} ({hits}/{expected})")
    assert precision >= min_precision and recall >= min_recall, rejected_found
    assert len(rejected_found) <= max_wrong, rejected_found


# ---------------------------------------------------------------------------------------
# The wording rules, one by one


@pytest.mark.parametrize(
    "text,rest,owners",
    [
        ("Action item: call the vote", "call the vote", ()),
        ("**Action item:** CHL to ask legal", "CHL to ask legal", ()),
        ("**AI**: JRG send the minutes", "JRG send the minutes", ()),
        ("_Next steps:_", "", ()),
        ("ACTION ITEMS", "", ()),
        ("action items:", "", ()),
        ("Follow-ups:", "", ()),
        ("TODO for @chenghlee: go get the names", "go get the names", ("@chenghlee",)),
        ("Action Item (JRG): book the room", "book the room", ("JRG",)),
        ("(TODO) CEP for signatures (SA, next two weeks)", "CEP for signatures (SA, next two weeks)", ()),
        ("Agreed. Action item: JRG to open the issue", "JRG to open the issue", ()),
        ("Note to self: check the CLA", "check the CLA", ()),
        ("Action item -> CHL: send the invite", "CHL: send the invite", ()),
        ("Action: JRG to write the minutes", "JRG to write the minutes", ()),
        ("✅ Action item: close the old issue", "close the old issue", ()),
    ],
)
def test_labels_in_any_case_with_or_without_emphasis(text, rest, owners):
    found = rules.label(text)
    assert found is not None and found.rest == rest and found.owners == owners


@pytest.mark.parametrize(
    "text",
    [
        "AI transcription is good now",
        "AI - generated code policy",
        "AI: should we accept AI contributions?",
        "Follow up - CEP status",
        "follow up",
        "Next step is a vote",
        "Todos are tracked in GitHub",
    ],
)
def test_words_that_only_look_like_labels(text):
    assert rules.label(text) is None


@pytest.mark.parametrize(
    "body,is_task",
    [
        ("will report this", True),
        ("To check governance.", True),
        ("Create channel on Zulip.", True),
        ("looking into it", True),
        ("Planning to cut 1.0 next week.", True),
        ("Great topic. Planning to attend the next CF meeting", True),
        ("Re-start work on the builds", True),
        ("To prevent rebranded copies, mostly.", False),
        ("Will arive on Friday", False),
        ("will be done by Friday", False),
        ("Update on the release: two blockers left.", False),
        ("Support for Windows on ARM was the top ask.", False),
        ("Are you handling cycles?", False),
        ("For a while, read-only.", False),
        ("Suggest voting soon", False),
        ("Also would like to call a vote for the new format soon!", True),
        ("going to work on a few CEPs", True),
        ("will work with the team", False),  # "work" is a task only with what is worked on
        ("It needs to work.", False),
        ("Planning on releasing libmamba this week", True),
        ("Based on feedback, I will revise the design", True),
        ("If it fails, I will be sad", False),
        ("will help with the first round of docs", True),
        ("willing to help", False),  # an offer
        ("Follow a deprecation cycle, someone may be opting in.", False),  # advice
        ("Share APIs, not necessarily code", False),
        ("Follow up with the conda-forge core team", True),
        ("will share the slides", True),
    ],
)
def test_a_commitment_needs_a_task_verb(body, is_task):
    assert rules.commits(body) is is_task


def test_owners_read_from_prose_are_only_known_people(cfg):
    notes = (
        "# N\n\n## Attendees\n\n1. JRG: Jaime (@jaimergp)\n1. KK: Kim Kay (@kimkay)\n\n## Notes\n\n"
        "- RFC to start today.\n- KK will discuss it with the team\n- Conda will support it\n"
        "- Jaime to call the vote\n- ZZ will write the docs\n- Kim will review the docs\n"
    )
    actions, _ = _entries(notes, cfg)
    got = {a.text: [o.token for o in a.owners] for a, _ in actions}
    # KK and Kim are attendees, Jaime is in the roster; RFC, Conda and ZZ are nobody known
    assert got == {
        "KK will discuss it with the team": ["KK"],
        "Jaime to call the vote": ["Jaime"],
        "Kim will review the docs": ["Kim"],
    }


@pytest.mark.parametrize(
    "text,owners",
    [
        ("Cheng and/or Travis will draft the CEP.", ("Cheng", "Travis")),
        ("Daniel Ching will contribute some exemplar use cases to the CEP", ("Daniel",)),
        ("this should be an announcement on the blog, Dasha to edit an existing PR", ("Dasha",)),
        ("Sounds good. DPC will reach out to conda-forge", ("DPC",)),
        ("this should be an announcement on the blog, maybe later", None),
        ("Miniconda and Anaconda will start shipping the file", ("Miniconda", "Anaconda")),  # then not known
        ("Jaime, Ken and I are planning to tag the releases this week", ("Jaime", "Ken")),  # "I": nobody known
    ],
)
def test_who_commits_in_prose(text, owners):
    guess = rules.who_commits(text)
    assert (guess.owners if guess else None) == owners


def test_a_plan_under_an_owned_topic_is_the_topic_owners():
    assert rules.will_commit("I plan to do another round early next year")
    assert not rules.will_commit("I plan to be there")  # not a task


@pytest.mark.parametrize(
    "notes,expected",
    [
        pytest.param(
            "## New agenda items\n\n- (JRG) DOIs for conda\n    - Take homes\n        - Look into an organization DOI\n"
            "- (KK) Twitter\n    - Kim:\n        - Create a ticket and nominate a solution.\n"
            "        - Twitter has become less usable.\n    - Alternatives:\n        - follow SemVer\n"
            "    - KK:\n        - Will draft the post\n",
            {
                "Look into an organization DOI": (["JRG"], "list"),  # the topic's owner
                "Create a ticket and nominate a solution.": (["Kim"], "prose"),
                "Will draft the post": (["KK"], "prose"),
            },  # not Kim's remark, and "Alternatives" is nobody
            id="what a speaker said nested under their name, take homes",
        ),
        pytest.param(
            "## Action items\n\n* conda security issue reporting:\n    1. Check membership of the list\n"
            "    2. Create a mailing list\n* JRG: release plan:\n    - Tag the release\n* Write the blog post\n"
            "* KK: Create issues in setup-miniconda for:\n    - Windows\n    - macOS\n",
            {
                "Check membership of the list": ([], "list"),
                "Create a mailing list": ([], "list"),
                "Tag the release": (["JRG"], "list"),  # the heading's owner
                "Write the blog post": ([], "section"),
                "KK: Create issues in setup-miniconda for:": (["KK"], "section"),  # details nested
            },  # the headings themselves are no items
            id="steps under a heading in an Action items section",
        ),
        pytest.param(
            "## Your new agenda items\n\n- [ ] GitHub Teams\n    * [ ] Public calendar\n"
            "    * [ ] Establish a process for repo admin tasks\n    * [ ] need to talk to IT to figure out permissions\n"
            "    * [ ] Reach out if you are interested\n    * [ ] Trademark and logo clearance\n"
            "- [ ] JRG: Packaging launchers\n    - [ ] Experiment at https://example.org/pr/1\n"
            "    - [ ] Open a PR in conda-index\n    - [ ] Name ideas?\n",
            # not the boxes that name a topic or ask the audience; under an owned topic, open
            # boxes are its discussion
            {
                "Establish a process for repo admin tasks": ([], "checkbox"),
                "need to talk to IT to figure out permissions": ([], "checkbox"),
            },
            id="open boxes of a to-do list that state a task",
        ),
    ],
)
def test_owners_and_forms_read_from_notes(cfg, notes, expected):
    text = "# N\n\n## Attendees\n\n1. JRG: Jaime (@jaimergp)\n1. KK: Kim Kay (@kimkay)\n\n" + notes
    actions, _ = _entries(text, cfg)
    assert {a.text: ([o.token for o in a.owners], a.form) for a, _ in actions} == expected


def test_an_agenda_topic_that_promises_a_task_is_its_owners_task(cfg):
    notes = (
        "# N\n\n## Attendees\n\n1. DPC: Dave (@dave)\n1. DH: Dan (@dan)\n\n## New agenda items\n\n"
        "- [x] DPC: Will be submitting a talk to the summit\n- [x] DH: Working on cache locking\n"
        "- [x] DH: Vote on the CEP\n- [ ] Will be nice to have\n"
        "- [x] DPC: Meeting time\n    * Maybe a new doodle? -> (DH) Will put up a poll and announce it\n"
    )
    actions, topics = _entries(notes, cfg)
    got = {a.text: ([o.token for o in a.owners], a.form, done) for a, done in actions}
    assert got == {
        # ticked: discussed, not done; a promise in prose is pinged only once the chair tracks it
        "DPC: Will be submitting a talk to the summit": (["DPC"], "prose", False),
        "Maybe a new doodle? -> (DH) Will put up a poll and announce it": (["DH"], "prose", False),
    }
    assert {t.text for t, _, _ in topics} >= {"DH: Working on cache locking", "DH: Vote on the CEP"}


def test_a_last_meeting_section_copies_earlier_notes_and_holds_no_new_items(cfg):
    notes = (
        "# N\n\n## Action items\n\n- JRG: open the issue\n\n## Previous Meetings\n\n"
        "### Last Meeting 20200908\n\n- KK will schedule the call\n\n#### Action Items\n\n- Email the list\n\n"
        "### Current Action Items\n\n- JRG: write the post\n"
    )
    actions, _ = _entries(notes, cfg)
    assert [a.text for a, _ in actions] == ["JRG: open the issue", "JRG: write the post"]


def test_a_list_entry_keeps_its_place_when_its_prose_owner_is_nobody(cfg):
    notes = "# N\n\n## Notes\n\n- Follow ups:\n    - Anaconda to build the launcher\n"
    ((item, _),) = _entries(notes, cfg)[0]
    assert item.form == "list" and item.owners == []  # listed, but nobody to ping


# ---------------------------------------------------------------------------------------
# Done in a later meeting


def _evidence(text: str):
    notes = parse_notes("# N\n\n" + text, "n.md")
    return evidence(notes.text, notes.lines, notes.items, set())


@pytest.mark.parametrize(
    "later",
    [
        "- [x] JRG: Create channel on Zulip\n",  # ticked copy
        "- JRG: Zulip channel created, #conda-meetings\n",  # done word, same words
        "- [x] JRG: Zulip migration\n    - Created the channel on Zulip.\n",  # noted under the owner's topic
    ],
)
def test_a_later_report_in_other_words_marks_the_item_done(later):
    assert track.reported_done("Create channel on Zulip.", ["JRG"], [_evidence(later)]) is not None


def test_the_same_link_reported_done_marks_the_item_done():
    body = "review https://github.com/conda/ceps/pull/92 before the vote"
    assert track.reported_done(body, ["JRG"], [_evidence("- Merged: https://github.com/conda/ceps/pull/92\n")])
    # the link alone, with nothing said done, is not a report
    assert not track.reported_done(body, ["JRG"], [_evidence("- [ ] See https://github.com/conda/ceps/pull/92\n")])


@pytest.mark.parametrize(
    "later",
    [
        "- [ ] JRG: Create channel on Zulip\n",  # an open box is not done
        "- JRG: the channel on Zulip will be created once approved\n",  # not yet
        "- CHL: Created the Zulip channel for conda-build\n",  # someone else's
        "- [x] JRG: Zulip\n",  # a ticked topic: discussed, not done
    ],
)
def test_what_is_not_a_report_of_done(later):
    assert track.reported_done("Create channel on Zulip.", ["JRG"], [_evidence(later)]) is None
