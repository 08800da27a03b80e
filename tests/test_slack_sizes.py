"""The Slack backend stays split by concern (issue 23): no class over 300 lines, no function
over 80, anywhere in ``chatbot/backends/slack/``."""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot.backends.slack

PACKAGE = Path(chatbot.backends.slack.__file__).parent
MAX_CLASS = 300
MAX_FUNCTION = 80


def _too_long() -> list[str]:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
                if lines > limit:
                    found.append(f"{path.name}:{node.lineno} {node.name} is {lines} lines (limit {limit})")
    return found


def test_no_class_or_function_in_the_slack_package_is_too_long():
    assert list(PACKAGE.glob("*.py")), PACKAGE
    assert _too_long() == []


def test_the_runner_still_builds_slack_backend_and_it_is_a_backend():
    from chatbot.backends import backend_class
    from chatbot.backends.base import Backend

    cls = backend_class("slack")
    assert cls is chatbot.backends.slack.SlackBackend
    assert issubclass(cls, Backend)
