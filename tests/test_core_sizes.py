"""The runner, the CLI and the other modules issue 23 split stay split: no class over 300 lines,
no function over 80 (the backends and the command handlers have their own checks)."""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot

PACKAGE = Path(chatbot.__file__).parent
MAX_CLASS = 300
MAX_FUNCTION = 80
MODULES = [
    "runner.py",
    "planning.py",
    "cli.py",
    "config.py",
    "state.py",
    "outbox.py",
    "lease.py",
    "web.py",
    "gitsync.py",
    "schedule.py",
    "notes/*.py",
    "stores/*.py",
    "bot.py",
    "context.py",
    "commands.py",
    "agenda.py",
    "action_commands.py",
    "action_add.py",
    "review.py",
    "review_commands.py",
    "compose.py",
    "identity.py",
    "editing.py",
]


def _too_long(path: Path, root: Path = PACKAGE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
            if lines > limit:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} is {lines} lines (limit {limit})")
    return found


def test_no_class_or_function_in_the_core_modules_is_too_long():
    paths = [p for pattern in MODULES for p in sorted(PACKAGE.glob(pattern))]
    assert len(paths) > len(MODULES)  # every pattern matched something (notes/ and stores/ hold several)
    assert [line for p in paths for line in _too_long(p)] == []


def test_the_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    (tmp_path / "long.py").write_text(f"def f():\n{body}\n", encoding="utf-8")
    assert _too_long(tmp_path / "long.py", tmp_path) == [
        f"long.py:1 f is {MAX_FUNCTION + 1} lines (limit {MAX_FUNCTION})"
    ]
