"""The test suite's tiers: a test that carries no tier marker, or two, stops the collection
(it would otherwise run in no tier's ``make`` target, or in two)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit

TIER_MARKERS = """
[pytest]
markers =
    unit: u
    integration: i
    e2e: e
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeini(TIER_MARKERS)
    pytester.makepyfile(test_module=source)
    return pytester.runpytest("-p", "tests.support.tiers", *args)


def test_a_test_without_a_tier_stops_the_collection(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.unit
        def test_marked():
            pass

        def test_forgotten():
            pass
        """,
        "-m",
        "unit",
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_module.py::test_forgotten: none*"])
    assert "test_marked" not in result.stderr.str()


def test_a_test_in_two_tiers_stops_the_collection(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        pytestmark = pytest.mark.unit

        @pytest.mark.e2e
        def test_twice():
            pass
        """,
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_module.py::test_twice: e2e, unit*"])


def test_a_module_marked_once_runs_in_its_tier_only(pytester: pytest.Pytester) -> None:
    source = """
        import pytest

        pytestmark = pytest.mark.integration

        def test_one():
            pass

        @pytest.mark.integration
        def test_marked_again():
            pass
        """

    assert run(pytester, source, "-m", "integration").parseoutcomes() == {"passed": 2}
    assert run(pytester, source, "-m", "unit").ret == pytest.ExitCode.NO_TESTS_COLLECTED
