"""The repository explains itself: a reader with only this repository can follow every
comment, docstring and document link.

* Comments (read with `tokenize`) and docstrings (read with `ast`) in registry/ and tests/
  say what the code does and why. They do not cite tracker issue numbers or sections of
  the specification, which live outside the repository, nor paths on a developer machine.
* Every relative link in README.md and docs/*.md, and every repository path they quote as
  code, names a file that exists in the repository; no path in those documents climbs out
  of it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Generated Alembic revisions keep whatever their template wrote.
EXCLUDED = (ROOT / "registry" / "migrations" / "versions",)

CITATIONS = (
    ("an issue number", re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE)),
    ("an issue number", re.compile(r"(?<![\w&])#\d+\b")),
    ("the specification", re.compile(r"\bSPEC\b")),
    ("the specification", re.compile(r"\bspec(?:ification)?\s+(?:section\s*)?\d", re.I)),
    ("a section sign", re.compile("\N{SECTION SIGN}")),
    ("a path outside the repository", re.compile(r"\.\./shared\b|(?<![\w.])/(?:work|home|Users)/")),
)


def python_files() -> list[Path]:
    files = [*ROOT.joinpath("registry").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")]
    return sorted(p for p in files if not any(p.is_relative_to(ex) for ex in EXCLUDED))


def comments(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every `#` comment."""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string


def docstrings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every line of every module, class and function docstring."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            continue
        value = body[0].value.value
        if isinstance(value, str):
            for offset, line in enumerate(value.splitlines()):
                yield body[0].value.lineno + offset, line


def citations(source: str) -> list[tuple[int, str, str]]:
    """(line, what is cited, the offending text) in the comments and docstrings of `source`."""
    found = []
    for line, text in sorted({*comments(source), *docstrings(source)}):
        for what, pattern in CITATIONS:
            if pattern.search(text):
                found.append((line, what, text.strip()))
                break
    return found


def test_citation_scanner_finds_issue_numbers_spec_sections_and_machine_paths():
    source = (
        '"""Module.\n\nSecond line (issue 7)."""\n'
        "x = 1  # as the " + "SPEC says\n"
        "def f():\n"
        '    """Cached per process (' + 'see \N{SECTION SIGN}3)."""\n'
        "# read /work/" + "shared/notes\n"
        "class C:\n"
        '    """Clean: the 30-day deadline of art. 42, in 2 ms."""\n'
        "y = '" + "issue 8 in a string is code, not a comment'\n"
    )
    assert [(line, what) for line, what, _ in citations(source)] == [
        (3, "an issue number"),
        (4, "the specification"),
        (6, "a section sign"),
        (7, "a path outside the repository"),
    ]


def test_comments_and_docstrings_cite_no_issue_or_spec_section():
    offenders = []
    for path in python_files():
        for line, what, text in citations(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: cites {what}: {text}")
    assert not offenders, "comments and docstrings must stand on their own:\n" + "\n".join(
        offenders
    )


# --- documents ---------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
CLIMBING = re.compile(r"(?<![\w.])((?:\.\./)+[\w.\-/]*)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# A path of the repository quoted as code, e.g. `registry/rules.py`: it must exist too.
QUOTED_PATH = re.compile(r"`((?:registry|tests|docs|bench|templates|static)/[^`\s]*)`")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(ROOT.joinpath("docs").glob("*.md"))]


def link_problems(document: Path, root: Path = ROOT) -> list[str]:
    """Relative links that name no file of the repository at `root`, and paths that leave it."""
    text = document.read_text(encoding="utf-8")
    name = document.relative_to(root).as_posix()
    problems = []
    targets = [*LINK.findall(text), *REFERENCE.findall(text)]
    for target in targets:
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        resolved = (document.parent / path).resolve()
        if not resolved.is_relative_to(root):
            problems.append(f"{name}: link {target!r} leaves the repository")
        elif not resolved.exists():
            problems.append(f"{name}: link {target!r} names no file of the repository")
    for quoted in QUOTED_PATH.findall(text):
        if not (root / quoted.split("#", 1)[0]).exists():
            problems.append(f"{name}: {quoted!r} names no file of the repository")
    for climb in CLIMBING.findall(text):
        if not (document.parent / climb).resolve().is_relative_to(root):
            problems.append(f"{name}: path {climb!r} leaves the repository")
    return problems


def test_link_checker_finds_missing_files_and_paths_outside(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "SECURITY.md").write_text("x", encoding="utf-8")
    (tmp_path / "README.md").write_text("x", encoding="utf-8")
    example = docs / "example.md"
    example.write_text(
        "[ok](SECURITY.md#threats) [gone](MISSING.md) [web](https://example.org/x.md) "
        "[here](#top) [out](../../elsewhere/SPEC.md) see `../../shared/notes.md`\n"
        "[ref]: ../README.md\nsee `docs/SECURITY.md` and `registry/gone.py`\n",
        encoding="utf-8",
    )
    problems = link_problems(example, tmp_path)
    assert problems == [
        "docs/example.md: link 'MISSING.md' names no file of the repository",
        "docs/example.md: link '../../elsewhere/SPEC.md' leaves the repository",
        "docs/example.md: 'registry/gone.py' names no file of the repository",
        "docs/example.md: path '../../elsewhere/SPEC.md' leaves the repository",
        "docs/example.md: path '../../shared/notes.md' leaves the repository",
    ]


def test_document_links_stay_inside_the_repository_and_exist():
    problems = [problem for document in documents() for problem in link_problems(document)]
    assert not problems, "\n".join(problems)
