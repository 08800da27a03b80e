"""What a newcomer ships: no secret in Git or in the image, and an image whose layers and
volumes are laid out as the README's Docker section says."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_zulip_key_is_ignored_by_git_and_docker():
    r = subprocess.run(
        ["git", "check-ignore", "--no-index", "config/zuliprc", ".env"], cwd=REPO, capture_output=True, text=True
    )
    assert r.stdout.split() == ["config/zuliprc", ".env"], (r.stdout, r.stderr)
    docker = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "config/zuliprc" in docker and ".env" in docker


def test_the_dockerfile_copies_no_secret_and_installs_dependencies_before_the_code():
    steps = _instructions()
    copies = [shlex.split(rest) for word, rest in steps if word in ("COPY", "ADD")]
    sources = [src for args in copies for src in args[:-1] if not src.startswith("--")]
    # never a whole directory that may hold a zuliprc or .env: the config is named file by file
    assert not {".", "./", "config", "config/"} & set(sources), sources
    assert all(not re.search(r"zuliprc|\.env$", s) for s in sources)
    assert "ADD" not in [w for w, _ in steps]
    order = [i for i, (w, rest) in enumerate(steps) if w == "COPY"]
    first_copy = steps[order[0]][1]
    assert first_copy.split() == ["pyproject.toml", "./"], "the dependency layer must depend on pyproject.toml only"
    code_copy = next(i for i in order if "chatbot" in steps[i][1].split()[0])
    assert any(w == "RUN" and "pip install -r" in rest for w, rest in steps[order[0] : code_copy])


def test_the_dependency_layer_installs_exactly_the_declared_dependencies(tmp_path):
    run = next(rest for w, rest in _instructions() if w == "RUN" and "requirements.txt" in rest)
    command = run.split(">")[0].strip()  # python -c "…tomllib…"
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    args = shlex.split(command)
    assert args[0] == "python"
    r = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, capture_output=True, text=True, check=True)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert r.stdout.split() == declared


def test_the_image_keeps_config_notes_and_ledger_apart_and_serves_its_health_check():
    steps = dict((w, rest) for w, rest in _instructions() if w in ("VOLUME", "HEALTHCHECK"))
    env = " ".join(rest for w, rest in _instructions() if w == "ENV")
    assert "CHATBOT_STATE_DIR=/app/state" in env and "CHATBOT_WEB=0.0.0.0:8080" in env
    volumes = set(re.findall(r'"([^"]+)"', steps["VOLUME"]))
    assert volumes == {"/app/notes", "/app/state"}  # not /app/config: it can be mounted read-only
    assert "/healthz" in steps["HEALTHCHECK"]
