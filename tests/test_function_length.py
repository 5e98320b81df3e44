"""No hand-written function in registry/ runs over MAX_LINES lines.

A function is counted from its `def` line to the last line of its body (decorators not
included; a nested function counts on its own and inside the one that holds it). Generated
Alembic revisions are left out. A long function is split into named steps, each with its
docstring, so that a reader sees the outline first.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "registry"
EXCLUDED = (PACKAGE / "migrations" / "versions",)
MAX_LINES = 80

# Functions still over the limit, by "path:function", each with the length it may not
# exceed. Empty: every function is within MAX_LINES.
ALLOWANCES: dict[str, int] = {}


def registry_modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(path.is_relative_to(excluded) for excluded in EXCLUDED)
    )


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(name, lines from `def` to the end of the body) of every function in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_in_registry_is_longer_than_80_lines() -> None:
    too_long = []
    for path in registry_modules():
        relative = path.relative_to(ROOT).as_posix()
        for name, length in function_lengths(path):
            limit = ALLOWANCES.get(f"{relative}:{name}", MAX_LINES)
            if length > limit:
                too_long.append(f"{relative}:{name}:{length}")
    assert not too_long, f"functions over {MAX_LINES} lines: " + ", ".join(too_long)


def test_the_length_check_sees_the_registry_package() -> None:
    modules = registry_modules()
    assert any(path.name == "rules.py" for path in modules)
    assert sum(len(function_lengths(path)) for path in modules) > 300


def test_function_length_counts_from_def_to_the_end_of_the_body(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    module.write_text(f"@decorator\ndef long():\n{body}\n\ndef short():\n    return 1\n")
    assert function_lengths(module) == [("long", MAX_LINES + 1), ("short", 2)]
