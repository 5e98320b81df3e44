"""Flask-Babel catalogues: messages.pot (Simplified Chinese source strings) and
en/LC_MESSAGES/messages.{po,mo}. `make translations` extracts, updates and compiles them.

`extract_python` is the extractor babel.cfg names for our Python files. Babel's own Python
extractor reads tokens, and on Python < 3.12 an f-string is a single token, so
`f"{_('移出日期')}：{day}"` would be missed and shown untranslated; reading the syntax tree
finds every call wherever it is.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any


def extract_python(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, tuple[str | None, ...], list[str]]]:
    """Babel extractor: every call of a keyword function, with its positional arguments
    (string literals, or None); Babel picks the msgid arguments by the keyword's spec."""
    tree = ast.parse(fileobj.read().decode(options.get("encoding", "utf-8")))
    calls = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Call)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in calls:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in keywords or not node.args:
            continue
        arguments = tuple(
            arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            for arg in node.args
        )
        yield node.lineno, name, arguments, []
