"""One minimal line edit to a live HackMD note, keeping what people type meanwhile.

HackMD's API replaces a note's whole content (``PATCH {"content": ...}``) and has no
compare-and-swap (no ``If-Match``, no version to send back). :func:`apply_edit` therefore:

1. reads the note (content C, ``lastChangedAt`` T);
2. computes ``new = edit(C)`` (a pure function; it raises to refuse, and then nothing is written);
3. re-reads the note and compares content and ``lastChangedAt`` with (C, T): if someone typed
   meanwhile, goes back to 2 with the newer content (that read serves as the next step 1);
4. sends ``new`` at once (nothing runs between the comparison and the PATCH);
5. reads back: the content must be ``new``, or contain the edit intact with other people's
   changes elsewhere (they typed right after the write). If the edit is not there at all (a
   writer that had not seen it replaced the content), goes back to 2 on what is there now. If
   people changed the edited lines themselves, their version stands (never doubled). A write
   that got no answer (dropped connection, timeout, 5xx) is judged by the same read-back: done
   if the edit is there, written again if it is not, never blindly repeated.

Steps 2 to 5 run at most ``retries + 1`` times; then :class:`HackMDEditError` says the edit
could not land, and the note holds whatever people wrote (the bot only ever sends content
computed from the newest content it read).

**The window that remains.** Between the moment HackMD answers the re-read of step 3 and the
moment it applies the PATCH of step 4 (one network round trip; the edit is computed *before*
the re-read so nothing else happens in it), a change made by someone else is replaced by the
PATCH and cannot be detected afterwards (the read-back shows exactly ``new``, with the bot as
``lastChangeUser``). No client can close it without a conditional write in HackMD's API. It is
kept that small on purpose: a 429 on the PATCH is *not* retried after sleeping (a write after a
wait would widen the window to the wait); the edit restarts from a fresh read instead. HackMD
may also store keystrokes from its live editor a moment after they are typed, so a person
typing at that very second can be in that window too.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Callable

from .hackmd_client import HackMDClient, HackMDError, HackMDNote, HackMDRateLimited, HackMDUnavailable

log = logging.getLogger(__name__)


class HackMDEditError(HackMDError):
    """The edit could not land (people kept typing, or the write did not show)."""


def _changed_ranges(base: list[str], new: list[str]) -> list[tuple[int, int]]:
    """The ranges of ``new`` (line indexes, end excluded) that the edit base -> new wrote; a
    pure deletion is the empty range at the point where lines went."""
    sm = difflib.SequenceMatcher(None, base, new, autojunk=False)
    return [(j1, j2) for tag, _, _, j1, j2 in sm.get_opcodes() if tag != "equal"]


def edit_state(base: str, new: str, now: str) -> str:
    """How the edit ``base -> new`` shows in ``now``: ``"intact"`` (other changes, if any, are
    elsewhere), ``"absent"`` (``now`` carries no trace of it: overwritten) or ``"touched"``
    (someone changed the edited lines)."""
    if now == new:
        return "intact"
    b, n, w = base.splitlines(), new.splitlines(), now.splitlines()
    ours = _changed_ranges(b, n)
    sm = difflib.SequenceMatcher(None, n, w, autojunk=False)
    ops = [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]
    theirs = [(i1, i2) for i1, i2, _, _ in ops]

    def overlaps(o: tuple[int, int], t: tuple[int, int]) -> bool:
        (a1, a2), (t1, t2) = o, t
        if a1 == a2:  # our deletion point: they replaced across it, or inserted right there
            return t1 < a1 < t2 or t1 == t2 == a1
        if t1 == t2:  # their insertion: only inside our lines counts
            return a1 < t1 < a2
        return t1 < a2 and a1 < t2

    if not any(overlaps(o, t) for o in ours for t in theirs):
        return "intact"
    removed: Counter[str] = Counter()
    added: Counter[str] = Counter()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b, n, autojunk=False).get_opcodes():
        if tag != "equal":
            removed.update(b[i1:i2])
            added.update(n[j1:j2])
    # someone rewrote our lines (fixed a typo in the bot's item): their version stands; the
    # lines as they were before the edit are no rewrite but the edit undone
    replaced = [
        w[j]
        for i1, i2, j1, j2 in ops
        if any(overlaps(o, (i1, i2)) for o in ours)
        for j in range(j1, j2)
        if w[j] not in removed
    ]
    if any(difflib.SequenceMatcher(None, a, r).ratio() >= 0.6 for a in added for r in replaced):
        return "touched"
    cb, cw = Counter(b), Counter(w)
    if all(cw[line] <= cb[line] for line in added - removed) and all(cw[line] >= cb[line] for line in removed - added):
        return "absent"
    return "touched"


def apply_edit(
    client: HackMDClient,
    note_id: str,
    edit: Callable[[str], str],
    retries: int = 3,
    *,
    team_path: str | None = None,
    settle_reads: int = 2,
) -> str:
    """Apply ``edit`` to the note's content as described in the module docstring; return the
    content as read back after the write (the note's content if the edit changed nothing).

    ``edit`` raises to refuse (its exception propagates; nothing is written). HackMD errors
    propagate as :class:`~chatbot.stores.hackmd_client.HackMDError`; when the edit cannot land
    :class:`HackMDEditError`."""

    def read() -> HackMDNote:
        note = client.get_note(note_id, team_path)
        if note.text is None:
            raise HackMDError(f"HackMD sent note {note_id} without its content")
        return note

    note = read()
    for attempt in range(retries + 1):
        base = note
        new = edit(base.text)
        if new == base.text:
            return base.text
        check = read()
        if check.text != base.text or check.last_changed_at != base.last_changed_at:
            log.info("HackMD note %s changed while editing (attempt %d): applying the edit again", note_id, attempt + 1)
            note = check
            continue
        try:
            client.update_content(note_id, new, team_path=team_path, retry_rate_limit=False)
        except HackMDRateLimited as exc:
            if attempt >= retries or exc.retry_after is None or exc.retry_after > client.max_wait:
                raise
            client.sleep(exc.retry_after)
            note = read()
            continue
        except HackMDUnavailable as exc:
            # the write may or may not have been carried out: the read-back below tells
            log.warning("HackMD note %s: no answer to the write (%s); reading back", note_id, exc)
            try:
                after = read()
            except HackMDError:
                raise HackMDEditError(
                    f"HackMD did not answer while saving the change to note {note_id}, and "
                    "cannot be read now: it may or may not be in the note; check the note "
                    "before trying again"
                ) from None
        else:
            after = read()
        for _ in range(settle_reads):  # 202 Accepted: give the write a moment to show
            if after.text != base.text or after.last_changed_at != base.last_changed_at:
                break
            client.sleep(0.5)
            after = read()
        state = edit_state(base.text, new, after.text)
        if state == "intact" or state == "touched":
            if after.text != new:
                log.info("HackMD note %s: others typed right after the bot's edit (%s)", note_id, state)
            return after.text
        log.warning(
            "HackMD note %s: the bot's edit is not in the note after writing it (attempt %d)", note_id, attempt + 1
        )
        note = after
    raise HackMDEditError(
        f"the change could not be written to HackMD note {note_id}: the note kept changing "
        f"({retries + 1} attempts); nothing of what people wrote was removed, please try again"
    )
