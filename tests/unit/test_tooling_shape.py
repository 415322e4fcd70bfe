"""The benchmarks and the local launchers stay readable in one sitting: one concept per
module (at most 400 lines), every function at most 50 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TOOLING = sorted([*ROOT.glob("bench/*.py"), *ROOT.glob("deploy/local/*.py")])
MODULE_LINES = 400
FUNCTION_LINES = 50


def test_the_tooling_is_where_it_is_looked_for() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in TOOLING}

    assert {"bench/__main__.py", "bench/harness.py", "deploy/local/stack.py"} <= names


@pytest.mark.parametrize("path", TOOLING, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_tooling_module_or_function_is_too_long_to_read(path: Path) -> None:
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
