"""The HackMD client and the edit rule, against the fake HackMD API (loopback only)."""

from __future__ import annotations

import logging

import pytest

from chatbot.stores.hackmd_client import (
    HackMDAuthError,
    HackMDClient,
    HackMDError,
    HackMDForbidden,
    HackMDNotFound,
    HackMDQuotaExceeded,
    HackMDRateLimited,
    HackMDUnavailable,
)
from chatbot.logs import _process_filter
from chatbot.stores.hackmd_client import redact_in_logs
from chatbot.stores.hackmd_edit import HackMDEditError, apply_edit, edit_state
from tests.fakes.hackmd import FakeHackMD, title_of

NOTES = """\
# Conda Ecosystem Meeting 2026-01-07

## Agenda

- [ ] JL: Release plans

## Notes

"""


@pytest.fixture
def hm():
    with FakeHackMD() as fake:
        yield fake


class Sleeps(list):
    """Records the waits the client asks for instead of sleeping (fixed clock, no sleeps)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(hm, sleeps):
    return HackMDClient(hm.token, base_url=hm.api_url, sleep=sleeps, timeout=(2, 5))


def add_item(line: str):
    """The bot's edit: one line at the end of the Agenda list."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        start = lines.index("## Agenda")
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
        last = max((i for i in range(start, end) if lines[i].startswith("- ")), default=start + 1)
        return "\n".join(lines[: last + 1] + [line] + lines[last + 1 :])

    return edit


def human_types(line: str):
    """A person adds a line at the end of the Notes section (the end of the note)."""
    return lambda text: text.rstrip("\n") + "\n" + line + "\n"


BOT_LINE = "- [ ] JRG: Bot item"
HUMAN_LINE = "- minutes typed by a human"


# -- the fake itself ----------------------------------------------------------------------


def test_title_is_first_h1_or_yaml_title():
    assert title_of(NOTES) == "Conda Ecosystem Meeting 2026-01-07"
    assert title_of("---\ntitle: From YAML\n---\n# Heading\n") == "From YAML"
    assert title_of("```\n# not a heading\n```\n## Sub\n# Real\n") == "Real"
    assert title_of("no heading\n") == "Untitled"


# -- the client ---------------------------------------------------------------------------


def test_create_team_note_then_find_it_by_title(hm, client):
    note = client.create_note(NOTES, team_path=hm.team)
    assert note.title == "Conda Ecosystem Meeting 2026-01-07"
    assert note.team_path == hm.team
    assert note.content == NOTES
    assert note.publish_link and note.short_id in note.publish_link
    hm.add_note("# Another meeting\n", team_path=hm.team)
    found = client.find_team_note(hm.team, "Conda Ecosystem Meeting 2026-01-07")
    assert found is not None and found.id == note.id
    assert found.content is None  # listings come without content
    assert client.find_team_note(hm.team, "Conda Ecosystem Meeting 2026-01-21") is None
    assert client.get_note(note.id).content == NOTES
    assert client.get_note(note.id, team_path=hm.team).content == NOTES


def test_create_user_note_and_update_content(hm, client):
    note = client.create_note("# Mine\n")
    assert note.team_path is None
    client.update_content(note.id, "# Mine\n\nmore\n")
    assert hm.content(note.id) == "# Mine\n\nmore\n"
    assert [r.status for r in hm.requests_to("PATCH")] == [202]
    assert client.me()["userPath"] == "agenda-bot"
    assert hm.team in [t["path"] for t in client.me()["teams"]]


def test_wrong_or_missing_token_gets_a_clear_answer_without_the_token(hm, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-token-abcdef-123456"
    bad = HackMDClient(secret, base_url=hm.api_url, sleep=Sleeps())
    with pytest.raises(HackMDAuthError) as exc:
        bad.get_note("whatever")
    assert "HACKMD_TOKEN" in str(exc.value) and exc.value.status == 401
    assert secret not in str(exc.value) and secret not in caplog.text
    assert secret not in repr(bad)
    with pytest.raises(HackMDAuthError):
        HackMDClient("", base_url=hm.api_url)


def test_the_token_is_never_logged(hm, client, caplog):
    caplog.set_level(logging.DEBUG)
    note = client.create_note(NOTES, team_path=hm.team)
    hm.fail_next("GET", count=1, status=429, retry_after=1)
    client.get_note(note.id)
    with pytest.raises(HackMDNotFound):
        client.get_note("nope")
    assert caplog.records  # something was logged (the 429, the 404)
    assert hm.token not in caplog.text


def test_team_the_user_is_not_in_is_403(hm, client):
    other = hm.add_user("Stranger", "stranger")
    hm.add_team("secret-team", "Secret", members=[other])
    with pytest.raises(HackMDForbidden) as exc:
        client.list_team_notes("secret-team")
    assert exc.value.status == 403
    with pytest.raises(HackMDForbidden):
        client.create_note(NOTES, team_path="secret-team")
    assert hm.team_notes("secret-team") == []


def test_unknown_note_or_team_is_404(hm, client):
    with pytest.raises(HackMDNotFound) as exc:
        client.get_note("doesnotexist")
    assert "doesnotexist" in str(exc.value)
    with pytest.raises(HackMDNotFound):
        client.list_team_notes("no-such-team")


def test_429_waits_retry_after_then_succeeds(hm, client, sleeps):
    note = client.create_note(NOTES, team_path=hm.team)
    hm.fail_next("GET", f"/v1/notes/{note.id}", count=2, retry_after=7)
    assert client.get_note(note.id).content == NOTES
    assert sleeps == [7, 7]
    assert [r.status for r in hm.requests_to("GET", f"/v1/notes/{note.id}")] == [429, 429, 200]


def test_429_beyond_the_bounds_is_raised(hm, client, sleeps):
    note = client.create_note(NOTES, team_path=hm.team)
    hm.fail_next("GET", count=10, retry_after=1)
    with pytest.raises(HackMDRateLimited) as exc:
        client.get_note(note.id)
    assert exc.value.retry_after == 1
    assert len(hm.requests_to("GET")) == client.max_retries + 1
    hm.failures.clear()
    sleeps.clear()
    hm.fail_next("GET", count=1, retry_after=3600)  # longer than max_wait: not slept
    with pytest.raises(HackMDRateLimited) as exc:
        client.get_note(note.id)
    assert exc.value.retry_after == 3600 and sleeps == []


def test_quota_exceeded_is_not_retried(hm, client, sleeps):
    hm.quota = 0
    with pytest.raises(HackMDQuotaExceeded) as exc:
        client.list_team_notes(hm.team)
    assert "quota" in str(exc.value)
    assert len(hm.requests) == 1 and sleeps == []


def test_a_failed_create_is_not_retried(hm, client):
    hm.fail_next("POST", count=1, status=500)
    with pytest.raises(HackMDUnavailable):
        client.create_note(NOTES, team_path=hm.team)
    assert len(hm.requests_to("POST")) == 1


def test_reads_survive_a_dropped_connection(hm, client, sleeps):
    note = client.create_note(NOTES, team_path=hm.team)
    hm.fail_next("GET", count=1, status=None)
    assert client.get_note(note.id).content == NOTES
    assert len(sleeps) == 1


def test_unreachable_server_is_a_clear_error(sleeps):
    c = HackMDClient("tok-123456", base_url="http://127.0.0.1:9/v1", sleep=sleeps, max_retries=1, timeout=(1, 1))
    with pytest.raises(HackMDUnavailable) as exc:
        c.get_note("x")
    assert "127.0.0.1:9" in str(exc.value)


# -- the edit rule ------------------------------------------------------------------------


def test_edit_state():
    base = "a\nb\nc"
    new = "a\nb\nX\nc"
    assert edit_state(base, new, new) == "intact"
    assert edit_state(base, new, "a\nb\nX\nc\nhuman") == "intact"
    assert edit_state(base, new, "human\na\nb\nX\nc") == "intact"
    assert edit_state(base, new, "a\nb\nc\nhuman") == "absent"
    item = "- [ ] JRG: Release plans for 26.1"
    assert edit_state(base, f"a\nb\n{item}\nc", "a\nb\n- [ ] JRG: Release plan for 26.1 and 26.3\nc") == "touched"
    assert edit_state(base, f"a\nb\n{item}\nc", "a\nb\nsomething else entirely\nc") == "absent"
    # a deletion
    assert edit_state("a\nb\nc", "a\nc", "a\nc\nd") == "intact"
    assert edit_state("a\nb\nc", "a\nc", "a\nb\nc\nd") == "absent"
    # a tick
    assert edit_state("- [ ] x\ny", "- [x] x\ny", "- [x] x\ny\nz") == "intact"
    assert edit_state("- [ ] x\ny", "- [x] x\ny", "- [ ] x\ny\nz") == "absent"


def test_apply_edit_alone(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    result = apply_edit(client, note.id, add_item(BOT_LINE))
    assert result == hm.content(note.id) == add_item(BOT_LINE)(NOTES)
    assert len(hm.requests_to("PATCH")) == 1
    # an uncontended edit costs 4 API calls (read, check, write, read back): HackMD counts
    # calls against a monthly quota
    assert [r.method for r in hm.requests] == ["GET", "GET", "PATCH", "GET"]


def test_human_edit_between_read_and_write_survives(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    # the bot reads, computes its edit; a person types before the bot's check before writing
    hm.before_next("GET", lambda: hm.human_edit(note.id, human_types(HUMAN_LINE)), path=path, skip=1)
    result = apply_edit(client, note.id, add_item(BOT_LINE))
    final = hm.content(note.id)
    assert result == final
    assert final.count(BOT_LINE) == 1 and final.count(HUMAN_LINE) == 1
    assert final == add_item(BOT_LINE)(human_types(HUMAN_LINE)(NOTES))
    assert len(hm.requests_to("PATCH")) == 1  # the stale edit was never written


def test_human_edit_right_after_the_write_survives(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    hm.before_next("GET", lambda: hm.human_edit(note.id, human_types(HUMAN_LINE)), path=path, skip=2)
    result = apply_edit(client, note.id, add_item(BOT_LINE))
    final = hm.content(note.id)
    assert result == final
    assert final.count(BOT_LINE) == 1 and final.count(HUMAN_LINE) == 1
    assert len(hm.requests_to("PATCH")) == 1  # intact: not applied twice


def test_an_overwritten_edit_is_applied_again(hm, client):
    """Another writer that never saw the bot's line replaces the content right after the bot's
    write: the read-back lacks the line, so the edit lands again on top of their text."""
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    hm.before_next("GET", lambda: hm.human_edit(note.id, human_types(HUMAN_LINE)(NOTES)), path=path, skip=2)
    apply_edit(client, note.id, add_item(BOT_LINE))
    final = hm.content(note.id)
    assert final.count(BOT_LINE) == 1 and final.count(HUMAN_LINE) == 1
    assert len(hm.requests_to("PATCH")) == 2


def test_a_human_change_to_the_bots_line_stands(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    hm.before_next(
        "GET", lambda: hm.human_edit(note.id, lambda t: t.replace(BOT_LINE, BOT_LINE + " (fixed)")), path=path, skip=2
    )
    result = apply_edit(client, note.id, add_item(BOT_LINE))
    assert result == hm.content(note.id)
    assert result.count("JRG: Bot item") == 1 and BOT_LINE + " (fixed)" in result


def test_edit_that_cannot_land_says_so_and_keeps_everything(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    for n in range(10):  # someone types before every check the bot makes before writing
        hm.before_next(
            "GET",
            lambda n=n: hm.human_edit(note.id, human_types(f"{HUMAN_LINE} {n}")),
            path=path,
            skip=1 if n == 0 else 0,
        )
    with pytest.raises(HackMDEditError) as exc:
        apply_edit(client, note.id, add_item(BOT_LINE), retries=2)
    assert "try again" in str(exc.value)
    assert hm.requests_to("PATCH") == []
    assert BOT_LINE not in hm.content(note.id)
    assert isinstance(exc.value, HackMDError)


def test_refused_edit_writes_nothing(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)

    def refuse(text: str) -> str:
        raise ValueError("no such item")

    with pytest.raises(ValueError, match="no such item"):
        apply_edit(client, note.id, refuse)
    assert hm.requests_to("PATCH") == []
    assert hm.content(note.id) == NOTES


def test_edit_that_changes_nothing_writes_nothing(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    assert apply_edit(client, note.id, lambda t: t) == NOTES
    assert hm.requests_to("PATCH") == []


def test_rate_limited_write_restarts_from_a_fresh_read(hm, client, sleeps):
    """A 429 on the PATCH is not retried blindly after the wait (the note may have changed
    meanwhile): the edit starts over from a new read, so the person's line typed during the
    wait survives."""
    note = hm.add_note(NOTES, team_path=hm.team)
    path = f"/v1/notes/{note.id}"
    hm.fail_next("PATCH", path, count=1, retry_after=2)
    hm.before_next("GET", lambda: hm.human_edit(note.id, human_types(HUMAN_LINE)), path=path, skip=2)
    apply_edit(client, note.id, add_item(BOT_LINE))
    final = hm.content(note.id)
    assert final.count(BOT_LINE) == 1 and final.count(HUMAN_LINE) == 1
    assert sleeps == [2]
    assert [r.status for r in hm.requests_to("PATCH")] == [429, 202]


def test_edit_of_a_team_note_through_the_team_path(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    apply_edit(client, note.id, add_item(BOT_LINE), team_path=hm.team)
    assert BOT_LINE in hm.content(note.id)
    assert hm.requests_to("PATCH")[0].path == f"/v1/teams/{hm.team}/notes/{note.id}"


def test_a_library_logging_the_token_is_redacted(hm):
    root = logging.getLogger()
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    root.addHandler(handler)
    try:
        HackMDClient(hm.token, base_url=hm.api_url)
        logging.getLogger("some.library").warning("sending Authorization: Bearer %s", hm.token)
    finally:
        root.removeHandler(handler)
    assert records and hm.token not in records[0] and "[redacted]" in records[0]
    redact_in_logs("")  # an empty token would "redact" everywhere: refused
    assert "" not in _process_filter.secrets


@pytest.mark.parametrize("status", [None, 502])
def test_a_write_whose_answer_is_lost_is_not_doubled(hm, client, status):
    note = hm.add_note(NOTES, team_path=hm.team)
    hm.lose_answer_next("PATCH", f"/v1/notes/{note.id}", status=status)
    result = apply_edit(client, note.id, add_item(BOT_LINE))
    assert result.count(BOT_LINE) == 1 and hm.content(note.id).count(BOT_LINE) == 1
    assert len(hm.requests_to("PATCH")) == 1  # it had landed: not written again


def test_a_write_that_failed_is_written_again_once(hm, client):
    note = hm.add_note(NOTES, team_path=hm.team)
    hm.fail_next("PATCH", f"/v1/notes/{note.id}", status=None)  # dropped before HackMD acted
    apply_edit(client, note.id, add_item(BOT_LINE))
    assert hm.content(note.id).count(BOT_LINE) == 1
    assert [r.status for r in hm.requests_to("PATCH")] == [-1, 202]
