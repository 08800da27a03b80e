"""The GitHub wrapper (PyGithub pointed at the fake GitHub REST API, loopback only)."""

from __future__ import annotations

import logging

import pytest

from chatbot.stores.github_client import (
    GitHubClient,
    GitHubError,
    GitHubRateLimited,
    hackmd_id_from_body,
    pr_body,
    pr_fields,
)
from tests.fakes.github import FakeGitHub

REPO = "conda/governance"
BRANCH = "2026-01-07-meeting-notes"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def gh():
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        fake.add_branch(REPO, BRANCH)
        yield fake


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(gh, sleeps):
    return GitHubClient(gh.token, REPO, base_url=gh.url, sleep=sleeps, seconds_between_writes=None)


BODY = pr_body(
    "https://hackmd.io/@conda/abc",
    "abcDEF123",
    "meetings/archive/20260107-conda-ecosystem.md",
    intro="Notes of the meeting on 2026-01-07.",
)


def test_body_fields_round_trip():
    assert pr_fields(BODY) == {
        "HACKMDURL": "https://hackmd.io/@conda/abc",
        "HACKMDID": "abcDEF123",
        "DOCPATH": "meetings/archive/20260107-conda-ecosystem.md",
    }
    assert hackmd_id_from_body("text\r\nHACKMDID=xyz\r\nmore") == "xyz"
    assert hackmd_id_from_body("no id here") is None
    assert hackmd_id_from_body(None) is None


def test_create_pr_is_idempotent(gh, client):
    pr, created = client.create_pr(BRANCH, "Meeting notes 2026-01-07", BODY)
    assert created and pr.number == 1 and pr.head == BRANCH and pr.base == "main"
    assert pr.fields["HACKMDID"] == "abcDEF123"
    again, created2 = client.create_pr(BRANCH, "Meeting notes 2026-01-07", BODY)
    assert not created2 and again.number == pr.number
    assert len(gh.open_pulls(REPO)) == 1
    assert client.find_open_pr(BRANCH).number == 1
    assert client.find_open_pr("2026-01-21-meeting-notes") is None
    assert client.get_pr(1).body == BODY


def test_pr_opened_meanwhile_by_someone_else_is_returned(gh, client):
    """Between our lookup and our POST another run opens it: GitHub answers 422 'already
    exists' and the existing one is returned."""
    gh.before_next("POST", f"/repos/{REPO}/pulls", lambda: gh.open_pull(REPO, BRANCH, "by the other", BODY))
    pr, created = client.create_pr(BRANCH, "mine", BODY)
    assert not created and pr.title == "by the other"
    assert len(gh.open_pulls(REPO)) == 1
    assert [r.status for r in gh.requests_to("POST", f"/repos/{REPO}/pulls")] == [422]


def test_head_branch_missing_is_a_clear_422(gh, client):
    with pytest.raises(GitHubError) as exc:
        client.create_pr("no-such-branch", "t", BODY)
    assert exc.value.status == 422 and "head" in str(exc.value)


def test_find_open_pr_pages_through_results(gh, client):
    for i in range(32):
        gh.add_branch(REPO, f"b{i}")
        client.create_pr(f"b{i}", f"t{i}", "x")
    found = client.find_open_pr("b3")
    assert found is not None and found.title == "t3"
    # listing all open pulls really goes over pages (30 a page by default)
    pulls = list(client.repo.get_pulls(state="open"))
    assert len(pulls) == 32
    pages = [r for r in gh.requests_to("GET", f"/repos/{REPO}/pulls") if "head" not in r.query]
    assert [r.query.get("page", "1") for r in pages] == ["1", "2"]


def test_comments_and_labels(gh, client):
    pr, _ = client.create_pr(BRANCH, "t", BODY)
    url = client.comment(pr.number, "Synced from HackMD: 2 lines added")
    assert url.startswith("https://github.com/conda/governance/pull/1#issuecomment-")
    for i in range(30):
        client.comment(pr.number, f"c{i}")
    got = client.comments(pr.number)
    assert got[0] == "Synced from HackMD: 2 lines added" and len(got) == 31
    assert client.add_label(pr.number, "sync-hackmd-notes") == ["sync-hackmd-notes"]
    assert client.add_label(pr.number, "sync-hackmd-notes") == ["sync-hackmd-notes"]  # once


def test_bad_token_is_401_without_the_token(gh, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "ghp_wrongTokenValue0123456789"
    c = GitHubClient(secret, REPO, base_url=gh.url, sleep=sleeps, seconds_between_writes=None)
    with pytest.raises(GitHubError) as exc:
        c.find_open_pr(BRANCH)
    assert exc.value.status == 401 and "GITHUB_TOKEN" in str(exc.value)
    assert secret not in str(exc.value) and secret not in caplog.text


def test_the_token_is_never_logged(gh, client, caplog):
    caplog.set_level(logging.DEBUG)
    pr, _ = client.create_pr(BRANCH, "t", BODY)
    client.comment(pr.number, "hello")
    assert caplog.text  # PyGithub and we did log the requests
    assert gh.token not in caplog.text


def test_read_only_token_is_403(gh, sleeps):
    gh.add_token("ghp_readonly000000000000000000", "reader")
    c = GitHubClient("ghp_readonly000000000000000000", REPO, base_url=gh.url, sleep=sleeps, seconds_between_writes=None)
    with pytest.raises(GitHubError) as exc:
        c.create_pr(BRANCH, "t", BODY)
    assert exc.value.status == 403 and "write access" in str(exc.value)
    assert gh.open_pulls(REPO) == []


def test_unknown_or_hidden_repo_is_404(gh, sleeps):
    gh.add_repo("conda/private", private=True, writers=["someone-else"])
    for name in ("conda/nope", "conda/private"):
        c = GitHubClient(gh.token, name, base_url=gh.url, sleep=sleeps, seconds_between_writes=None)
        with pytest.raises(GitHubError) as exc:
            c.find_open_pr(BRANCH)
        assert exc.value.status == 404 and name in str(exc.value)


@pytest.mark.parametrize("kind", [429, "secondary"])
def test_rate_limits_wait_retry_after(gh, client, sleeps, kind):
    gh.fail_next("POST", f"/repos/{REPO}/pulls", kind=kind, retry_after=5)
    pr, created = client.create_pr(BRANCH, "t", BODY)
    assert created and sleeps == [5]
    assert len(gh.open_pulls(REPO)) == 1  # the rate-limited POST created nothing; the retry did


def test_primary_rate_limit_waits_until_reset(gh, client, sleeps):
    gh.fail_next("GET", f"/repos/{REPO}/pulls", kind="primary", retry_after=20)
    assert client.find_open_pr(BRANCH) is None
    assert len(sleeps) == 1 and 15 <= sleeps[0] <= 22


def test_rate_limit_beyond_bounds_is_raised(gh, client, sleeps):
    gh.fail_next("GET", f"/repos/{REPO}/pulls", kind=429, retry_after=3600)
    with pytest.raises(GitHubRateLimited) as exc:
        client.find_open_pr(BRANCH)
    assert exc.value.retry_after == 3600 and sleeps == []
    gh.failures.clear()
    gh.fail_next("GET", f"/repos/{REPO}/pulls", kind=429, retry_after=1, count=10)
    with pytest.raises(GitHubRateLimited):
        client.find_open_pr(BRANCH)
    assert len(sleeps) == client.max_retries


def test_conflict_and_server_errors_are_not_retried_for_writes(gh, client, sleeps):
    pr, _ = client.create_pr(BRANCH, "t", BODY)
    path = f"/repos/{REPO}/issues/{pr.number}/comments"
    gh.fail_next("POST", path, kind=409)
    with pytest.raises(GitHubError) as exc:
        client.comment(pr.number, "x")
    assert exc.value.status == 409
    gh.fail_next("POST", path, kind=500)
    with pytest.raises(GitHubError) as exc:
        client.comment(pr.number, "x")
    assert exc.value.status == 500
    assert len(gh.requests_to("POST", path)) == 2 and client.comments(pr.number) == []
    assert sleeps == []


def test_whoami(gh, client):
    assert client.whoami() == "agenda-bot"


def test_unreachable_github_is_a_clear_error(sleeps):
    c = GitHubClient(
        "ghp_x0123456789", REPO, base_url="http://127.0.0.1:9", sleep=sleeps, timeout=2, seconds_between_writes=None
    )
    with pytest.raises(GitHubError) as exc:
        c.find_open_pr(BRANCH)
    assert "could not be reached" in str(exc.value)
