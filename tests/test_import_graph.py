"""Registry modules import each other without cycles, and each one imports.

The graph is built from the top-level imports of every module under registry/ (imports
inside functions and under `if TYPE_CHECKING:` are not executed at import time and are
left out). A cycle means one of its modules can only be imported after another has
half-finished: break it by moving what both need into a module of its own.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "registry"
# Run only by Alembic (env.py reads its config at import) or by a WSGI server.
NOT_IMPORTABLE_ALONE = ("registry.migrations", "registry.wsgi")
# Edges kept for now: the upload view still takes the blueprint from its package (it
# should import registry.web.admin.blueprint like the other views).
KNOWN_EDGES: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _top_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            )
            if not guarded:
                yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level_imports(node.body)
            for handler in node.handlers:
                yield from _top_level_imports(handler.body)
            yield from _top_level_imports(node.orelse)
            yield from _top_level_imports(node.finalbody)


def imports_of(name: str, path: Path) -> set[str]:
    """The registry modules `name` imports at its top level."""
    found: set[str] = set()
    for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
            continue
        if node.level:
            base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        if target not in MODULES:
            continue
        for alias in node.names:
            submodule = f"{target}.{alias.name}"
            found.add(submodule if submodule in MODULES else target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: {t for t in imports_of(name, path) if (name, t) not in KNOWN_EDGES}
        for name, path in MODULES.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_reports_a_two_module_cycle_and_passes_a_chain():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_graph_reads_relative_deferred_and_type_checking_imports_right(tmp_path):
    source = tmp_path / "x.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from registry import rules, visibility\n"
        "from registry.models import Listing\n"
        "if TYPE_CHECKING:\n"
        "    from registry import publog\n"
        "def later():\n"
        "    from registry.services import history\n",
        encoding="utf-8",
    )
    assert imports_of("registry.x", source) == {
        "registry.rules",
        "registry.visibility",
        "registry.models",
    }


def test_publication_log_and_history_do_not_import_each_other():
    graph = import_graph()
    assert "registry.publog" in graph["registry.services.history"]
    assert "registry.services.history" not in graph["registry.publog"]


def test_no_import_cycle_among_registry_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("name", [n for n in MODULES if not n.startswith(NOT_IMPORTABLE_ALONE)])
def test_every_registry_module_imports(name):
    assert importlib.import_module(name).__name__ == name
