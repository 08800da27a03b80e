"""Action items and agenda topics in past notes, as a meeting chair sees them.

Two kinds of entries, told apart by where they are (the rules, with examples from conda's
notes, are in README.md, "Action items"):

* **Topics**: the top-level entries of the agenda sections (``[meetings.actions]
  topic_sections``: "New agenda items", "From previous meetings", "Deferred to next meeting"
  and the names older notes used). Proposing a topic is not a task: topics are never pinged.
  Unticked, undiscussed topics of the last meeting are *deferred* (:func:`deferred_topics`).
* **Action items**: a task, with the owners named in it (or those of the topic it is noted
  under): an entry of an "Action items" section or of a list after an ``Action items:`` line;
  an entry starting ``Action item:``, ``AI:`` or ``TODO``; an entry whose owners commit to
  something (``JRG: will report this``, ``KK will discuss``, ``JRG to create a PR``, ``(JL)
  Get the recipes to converge``), checkbox or not.

An action item is done when its checkbox is ticked, when it carries a done marker (``done``
at the end or start, ``✓``/``✔``/``✅``), or when a later copy of it is done. Copies of one
item across notes are the same item when they have the same owners and their texts are
similar (:func:`similar`), or when the copy says ``(from YYYY-MM-DD)`` and that meeting has
such an item.

Owners are resolved: this file's attendee list -> the roster; failing that the roster by
initials, then the people index learned from every notes file (``chatbot.people``). Owners
that cannot be resolved are kept and reported as unresolved, never dropped.

What is read from each file is cached by path, size, mtime and a content hash, in memory and
(``[meetings.actions] persist_cache``) in an SQLite file in ``[bot] state_dir``, so that a
restarted bot does not parse unchanged files again (many uncached files at once are read in
worker processes: ``[meetings.actions] parallel_from``). The people index and the last list
of open items are kept there too, under digests of everything they depend on.

The package, by floor (each module imports only from the floors below it):

``words`` <- ``workers`` <- ``model`` <- ``classify`` <- ``parse`` <- ``cache`` <- ``scan`` <- ``track`` <- ``open_items``
"""

from __future__ import annotations

from .cache import CACHE_FORMAT, CACHE_NAME, ScanStore, reset_caches, scan_store
from .classify import resolve_owner
from .model import EXPLICIT_FORMS, FORMS, ActionItem, FileFacts, Owner, Raw, by_owner, item_id, item_key
from .open_items import open_actions
from .parse import extract
from .scan import entries_in_file, items_in_file, topics_in_file
from .track import (
    MARKED_SIMILAR,
    MATCH_WINDOW,
    carried_line,
    carried_topic_line,
    deferred_topics,
    done_edit,
    later_copies,
    mark_done,
)
from .words import SIMILAR, STOP_WORDS, similar, word_set

__all__ = [
    "CACHE_FORMAT",
    "CACHE_NAME",
    "EXPLICIT_FORMS",
    "FORMS",
    "MARKED_SIMILAR",
    "MATCH_WINDOW",
    "SIMILAR",
    "STOP_WORDS",
    "ActionItem",
    "FileFacts",
    "Owner",
    "Raw",
    "ScanStore",
    "by_owner",
    "carried_line",
    "carried_topic_line",
    "deferred_topics",
    "done_edit",
    "entries_in_file",
    "extract",
    "item_id",
    "item_key",
    "items_in_file",
    "later_copies",
    "mark_done",
    "open_actions",
    "reset_caches",
    "resolve_owner",
    "scan_store",
    "similar",
    "topics_in_file",
    "word_set",
]
