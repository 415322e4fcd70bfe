"""The services, their shared library, the web app, the launchers and the benchmarks read in
one sitting: one concept per module (at most 400 lines), every function at most 50 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("bench", "deploy/local", "services", "shared", "web")
MODULES = sorted(path for folder in CHECKED for path in (ROOT / folder).rglob("*.py"))
MODULE_LINES = 400
FUNCTION_LINES = 50


def test_every_part_of_the_product_is_checked() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in MODULES}

    assert {
        "bench/harness.py",
        "deploy/local/stack.py",
        "services/visits/visits/main.py",
        "services/coaching/coaching/domain/__init__.py",
        "shared/eventsourcing/runner.py",
        "web/outreach_web/app.py",
    } <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_module_or_function_is_too_long_to_read(path: Path) -> None:
    source = path.read_text()
    functions = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    too_long = {node.name: lines(node) for node in functions if lines(node) > FUNCTION_LINES}

    assert len(source.splitlines()) <= MODULE_LINES
    assert not too_long, f"functions over {FUNCTION_LINES} lines: {too_long}"


def lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines of a function, its decorators included."""
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    assert node.end_lineno is not None
    return node.end_lineno - first + 1
