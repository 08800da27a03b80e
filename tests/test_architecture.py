"""The shape of the package: no import circles, the core's floors (docs/architecture.md), and no
class over 300 lines nor function over 80 anywhere.

Every import of a ``chatbot`` module counts: at module level, inside a function, and under
``TYPE_CHECKING`` (a circle there is still one module knowing the one that knows it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chatbot"

# the core, lowest floor first; a module imports only from its own floor or lower ones
FLOORS: tuple[tuple[str, ...], ...] = (
    ("identity", "editing", "review", "listings"),
    ("context", "compose"),
    ("agenda", "action_commands", "action_add", "review_commands"),
    ("commands",),
    ("inbox",),
    ("bot",),
)
CORE = {f"chatbot.{m}": n for n, floor in enumerate(FLOORS) for m in floor}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    """Each module's imports of other ``chatbot`` modules (``from . import x`` names x)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, (path, is_package) in modules.items():
        base = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                prefix = node.module or ""
                if node.level:
                    prefix = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
            else:
                continue
            for target in targets:
                found = resolve(target) if target.startswith("chatbot") else None
                if found and found != module:
                    graph[module].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read(graph):
    # the reader finds the edges it must (else the checks below would pass on nothing)
    assert {"chatbot.commands", "chatbot.context"} <= graph["chatbot.bot"]
    assert "chatbot.agenda" in graph["chatbot.action_commands"]  # `from .agenda import ensure_notes`
    assert "chatbot.notes.edit" in graph["chatbot.agenda"]  # `from .notes.edit import …`
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_circle(graph):
    assert circles(graph) == []


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for t in graph[todo.pop()] - seen:
            seen.add(t)
            todo.append(t)
    return seen


def test_the_core_imports_only_its_own_floor_or_lower_ones(graph):
    # a module outside FLOORS that the core imports must be below all of it (it reaches no
    # core module); a new core module goes into FLOORS
    upward = [
        (m, t)
        for m, floor in CORE.items()
        for t in graph[m]
        if CORE.get(t, -1) > floor or (t not in CORE and _reach(graph, t) & CORE.keys())
    ]
    assert upward == []
    assert _reach(graph, "chatbot.identity") & CORE.keys() == set()


def _calls_on_bot(path: Path) -> list[str]:
    """``….bot.handle(…)`` / ``….bot.run(…)`` calls in a module: a command run around the inbox."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("handle", "run"):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if name == "bot":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} bot.{node.func.attr}")
    return found


def test_every_backend_takes_commands_through_its_inbox():
    """Issue 23: the place check, rate, listing replies, parse, run and the kind of answer are
    done once, in chatbot/inbox.py; a backend gives it an Incoming (``self.inbox.take``,
    ``inbox.on_item``), never runs a command on the bot itself."""
    assert _calls_on_bot(PACKAGE / "cli.py")  # the reader finds such calls (the CLI makes them)
    backends = sorted((PACKAGE / "backends").rglob("*.py"))
    assert [c for path in backends for c in _calls_on_bot(path)] == []


def test_the_config_reads_the_backends_registry_and_no_backend(graph):
    # a backend declares its part of the config in its own package; the config reads it through
    # the registry (chatbot.backends, which imports nothing), importing the declarations it names
    # only when it loads a file
    assert graph["chatbot.backends"] == set()
    assert "chatbot.backends" in graph["chatbot.config"]
    assert {m for m in _reach(graph, "chatbot.config") if m.startswith("chatbot.backends")} == {"chatbot.backends"}


def test_the_config_reads_the_stores_registry_and_no_store(graph):
    # a notes store declares its section in its own module; the config reads it through the
    # registry (chatbot.stores, which imports nothing), importing the declarations it names only
    # when it loads a file (and a store's declaration imports no HTTP client: tests/test_stores.py)
    assert graph["chatbot.stores"] == set()
    assert "chatbot.stores" in graph["chatbot.config"]
    assert {m for m in _reach(graph, "chatbot.config") if m.startswith("chatbot.stores")} == {"chatbot.stores"}
    assert "chatbot.stores.hackmd_client" not in _reach(graph, "chatbot.stores.hackmd_config")


# ---------------------------------------------------------------------------------------
# Sizes, everywhere in the package

MAX_CLASS, MAX_FUNCTION = 300, 80


def _too_long(path: Path, root: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
            if lines > limit:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} is {lines} lines (limit {limit})")
    return found


def test_no_class_over_300_lines_and_no_function_over_80_anywhere():
    paths = sorted(PACKAGE.rglob("*.py"))
    assert len(paths) > 50
    assert [line for p in paths for line in _too_long(p, PACKAGE.parent)] == []


def test_the_size_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    (tmp_path / "long.py").write_text(f"def f():\n{body}\n", encoding="utf-8")
    assert _too_long(tmp_path / "long.py", tmp_path) == [
        f"long.py:1 f is {MAX_FUNCTION + 1} lines (limit {MAX_FUNCTION})"
    ]


def test_every_declared_backend_is_a_backend():
    from chatbot.backends import BACKENDS
    from chatbot.backends.base import Backend, backend_class

    assert all(issubclass(backend_class(name), Backend) for name in BACKENDS)
