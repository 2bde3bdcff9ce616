"""The first-deploy checklist in docs/providers.md names tests that exist.

Its "Verified by" column is the only record of which test stands behind each protocol detail we
rely on; a renamed or deleted test would leave the checklist claiming a check nobody runs.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "providers.md"
_REFERENCE = re.compile(r"`([^`\s]+?)`")


def checklist_rows() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Conformance checklist") :]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [row for row in rows if not row.startswith("| We rely")]


def referenced_tests(rows: list[str]) -> list[tuple[str, str | None]]:
    """(file, test name or None) for every backticked test reference; ``::name`` continues the last file."""
    out: list[tuple[str, str | None]] = []
    current = ""
    for row in rows:
        for token in _REFERENCE.findall(row):
            if token.startswith("::"):
                out.append((current, token[2:]))
            elif token.startswith("tests/") and "::" in token:
                current, name = token.split("::", 1)
                out.append((current, name))
            elif token.startswith("tests/") and token.endswith(".py"):
                current = token
                out.append((current, None))
    return out


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def missing(references: list[tuple[str, str | None]]) -> list[str]:
    problems = []
    for path, name in references:
        if not path or not (ROOT / path).is_file():
            problems.append(f"{path or '(no file before ::)'}: no such test file")
            continue
        if name is None:
            continue
        names = defined_tests(path)
        found = any(n.startswith(name[:-1]) for n in names) if name.endswith("*") else name in names
        if not found:
            problems.append(f"{path}::{name}: no such test")
    return problems


def test_every_test_the_checklist_names_exists() -> None:
    references = referenced_tests(checklist_rows())
    assert len(references) >= 50  # the four services' rows, not an empty parse
    assert missing(references) == []


def test_a_renamed_test_would_be_reported() -> None:
    rows = [
        "| x | `tests/unit/providers/test_conformance_checklist.py::test_a_renamed_test_would_be_reported`,"
        " `::test_gone` | y |",
        "| x | `tests/unit/providers/no_such_file.py::test_a` | y |",
    ]
    assert missing(referenced_tests(rows)) == [
        "tests/unit/providers/test_conformance_checklist.py::test_gone: no such test",
        "tests/unit/providers/no_such_file.py: no such test file",
    ]
