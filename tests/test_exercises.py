"""The exercises (issue 26): every notebook has them, every check rejects wrong answers.

The other half, every check accepting its solution, is the solutions notebooks' job: each
asserts its checks, and nbval runs them with the course (``notebooks/solutions/``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from em_helpers.exercises import Feedback, check, exercises, get
from em_helpers.exercises.base import MODULES, Wrong, as_array, call, compare, exercise
from tools import build_site, course_index

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_index.notebook_paths(ROOT)
HEADING = re.compile(
    r"^### Exercise (\d\d)\.(\d+) — .+ \((easy|medium|hard), (\d+) min\)\s*$", re.M
)
CHECK = re.compile(r"""\bcheck\(\s*["'](\d\d\.\d+)["']""")
EXERCISES = exercises()


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_every_notebook_has_its_checks_module():
    assert sorted(MODULES) == [p.name[:2] for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_notebook_ends_with_exercises_and_links_its_solutions(path):
    nb = nbformat.read(path, as_version=4)
    number = path.name[:2]
    heads = [cell.source.splitlines()[0] for cell in nb.cells if cell.cell_type == "markdown"
             and cell.source.startswith("#")]
    assert "## Exercises" in heads, f"{path.name} has no '## Exercises' section"
    after = heads[heads.index("## Exercises") + 1:]
    assert all(h.startswith("### Exercise") for h in after), (
        f"{path.name}: the Exercises section must come last (before the footer), got {after}"
    )
    found = HEADING.findall(_markdown(nb))
    assert 3 <= len(found) <= 5, f"{path.name}: {len(found)} exercises (3-5 wanted)"
    assert all(n == number for n, *_ in found), f"{path.name}: exercise ids of another notebook"
    assert [int(k) for _, k, *_ in found] == list(range(1, len(found) + 1))
    assert len(found) == sum(h.startswith("### Exercise") for h in after), (
        f"{path.name}: an exercise heading lacks ' — title (easy|medium|hard, N min)'"
    )
    link = f"](solutions/{path.name})"
    assert link in _markdown(nb), f"{path.name} does not link {link[2:-1]}"
    ids = {f"{n}.{k}" for n, k, *_ in found}
    checked = {m for c in _code(nb) for m in CHECK.findall(c.source)}
    assert checked <= ids, f"{path.name} checks exercises it does not state: {checked - ids}"
    registered = {k for k in EXERCISES if k.startswith(number + ".")}
    assert registered == checked, (
        f"{path.name}: checks registered {sorted(registered)} but called {sorted(checked)}"
    )
    assert len(checked) >= 2, f"{path.name}: fewer than two exercises with a check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_unanswered_exercises_run_and_say_so(path):
    """As committed (executed, unanswered), every check cell ran without an error and says
    "not answered yet": what a reader sees before answering, and what nbval re-runs."""
    nb = nbformat.read(path, as_version=4)
    for cell in _code(nb):
        ids = CHECK.findall(cell.source)
        if not ids:
            continue
        text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                       for o in cell.outputs)
        assert not any(o.output_type == "error" for o in cell.outputs), cell.source
        for id in ids:
            assert f"Exercise {id}: not answered yet" in text, (
                f"{path.name}: the check of {id} does not say 'not answered yet' when "
                f"unanswered; its output: {text[:200]!r}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_exercise_has_a_solution_that_asserts_its_check(path):
    sol_path = build_site.solutions_path(path.relative_to(ROOT))
    assert (ROOT / sol_path).exists(), f"no solutions notebook {sol_path}"
    nb = nbformat.read(path, as_version=4)
    sol = nbformat.read(ROOT / sol_path, as_version=4)
    ids = {f"{n}.{k}" for n, k, *_ in HEADING.findall(_markdown(nb))}
    assert "widgets" not in sol.metadata, (
        f"{sol_path} carries widget state (copied metadata?): its site page would load the "
        "widget manager for nothing")
    parts = build_site.solution_parts(sol)
    assert set(parts) == ids, f"{sol_path}: solutions {sorted(parts)} for exercises {sorted(ids)}"
    for id, cells in parts.items():
        code = "\n".join(c.source for c in cells if c.cell_type == "code")
        if id in EXERCISES:
            assert re.search(rf"""check\(\s*["']{re.escape(id)}["']""", code), (
                f"{sol_path}: solution {id} does not run its check"
            )
            assert "assert" in code, f"{sol_path}: solution {id} does not assert its check"
    # and the site shows each one, collapsed, after its exercise
    page = build_site.with_solutions(nb, sol)
    drops = [c for c in page.cells if c.cell_type == "markdown"
             and c.source.startswith("::::{admonition} Solution")]
    assert len(drops) == len(ids) and all(":class: dropdown" in c.source for c in drops)


@pytest.mark.parametrize("id", sorted(EXERCISES))
def test_the_check_rejects_every_wrong_answer(id):
    ex = EXERCISES[id]
    assert ex.wrong, f"{id}: no wrong answer to reject"
    for k, make in enumerate(ex.wrong):
        feedback = check(id, make())
        assert isinstance(feedback, Feedback)
        assert not feedback.passed, f"{id} accepted wrong answer #{k}: {feedback}"
        assert feedback.answered, f"{id}: wrong answer #{k} read as unanswered: {feedback}"
        assert not feedback.error, f"{id}: the check broke on wrong answer #{k}: {feedback}"
        assert feedback.message


@pytest.mark.parametrize("id", sorted(EXERCISES))
def test_an_unanswered_exercise_says_so_without_raising(id):
    for answer in (..., None):
        feedback = check(id, answer)
        assert not feedback.passed and not feedback.answered
        assert "not answered yet" in str(feedback)


def test_unfinished_and_broken_functions_are_reported_not_raised():
    def unfinished(*args):
        ...

    def broken(*args):
        raise ZeroDivisionError("division by zero")

    feedback = check("01.2", unfinished)
    assert not feedback.answered and "returned None" in feedback.message
    feedback = check("01.2", broken)
    assert feedback.answered and not feedback.passed
    assert "raised ZeroDivisionError" in feedback.message
    feedback = check("01.2", "not a function")
    assert "expected a function" in feedback.message


def test_bad_ids_and_registrations_fail_clearly():
    with pytest.raises(ValueError, match="'01.2'"):
        get("1.2")
    with pytest.raises(KeyError, match="has no check"):
        get("01.99")
    with pytest.raises(KeyError, match="no exercises for notebook"):
        get("99.1")
    with pytest.raises(ValueError, match="at least one answer to reject"):
        exercise("01.9", wrong=[])
    with pytest.raises(ValueError, match="registered twice"):
        exercise("01.1", wrong=[lambda: 0])(lambda answer: "")


def test_odd_answers_get_a_message_never_a_traceback():
    odd = ["0.4", b"0.4", 10**400, 0.4 + 0.3j, [1, [2, 3]], {"a": 1}, lambda: 1,
           lambda *a: "text", lambda *a: [np.nan], object()]
    for id in EXERCISES:
        for answer in odd:
            feedback = check(id, answer)  # must not raise
            assert not feedback.passed, f"{id} accepted {answer!r}"


def test_settings_are_checked_against_the_sliders():
    from em_helpers.exercises.base import settings_of

    ranges = {"k": (1, 10), "c": (0.0, 20.0), "mode": {"a", "b"}}
    good = {"k": 3, "c": 2.5, "mode": "a"}
    assert settings_of(good, ranges, ranges) == good
    for bad in ({"k": 0}, {"k": 2.5}, {"k": "one"}, {"k": "3"}, {"c": np.inf}, {"mode": "z"},
                {"mode": ["a"]}, {"k": None}):
        with pytest.raises(Wrong):
            settings_of({**good, **bad}, ranges, ranges)
    with pytest.raises(Wrong, match="explorer itself"):
        settings_of(lambda: good, ranges)
    grid = {"c": (0.0, 20.0, 0.5)}
    assert settings_of({"c": 2.5}, ["c"], grid) == {"c": 2.5}
    assert settings_of({"c": 0.1 + 0.2 + 2.2}, ["c"], grid)  # round-off on the grid is fine
    with pytest.raises(Wrong, match="steps of 0.5"):
        settings_of({"c": 2.3}, ["c"], grid)

    class Slider:
        def __init__(self, value):
            self.value = value

    assert settings_of({k: Slider(v) for k, v in good.items()}, ranges, ranges) == good


def test_the_diagnoses_never_give_the_value_away():
    with pytest.raises(Wrong) as err:
        compare(0.41, 0.4, rtol=1e-3, what="x")
    assert "within 5% but not within the tolerance" in str(err.value)  # no direction
    assert "large" not in str(err.value) and "small" not in str(err.value)
    with pytest.raises(Wrong) as err:
        compare(0.6, 0.4, rtol=1e-3, what="x")
    assert "too large (off by less than 100%)" in str(err.value)
    with pytest.raises(Wrong, match="wrong shape"):
        as_array([1, 2], (3,))
    assert as_array([[1.0], [2.0]], (2,)).shape == (2,)  # a column where a vector is asked
    assert as_array([0.5], ()).shape == ()
    with pytest.raises(Wrong, match="wrong shape"):
        as_array(np.ones((2, 3)), (3, 2))  # never a silent transpose
    for text in ("0.5", b"0.5"):
        with pytest.raises(Wrong, match="numbers"):
            as_array(text, ())
    with pytest.raises(Wrong, match="complex"):
        as_array(0.5 + 1j, ())
    with pytest.raises(Wrong, match="not finite"):
        as_array([1, np.nan], (2,))
    with pytest.raises(Wrong, match="raised KeyError"):
        call(lambda: {}["k"], name="f")
    compare([1.0, 2.0], [1.0, 2.0 + 1e-9], rtol=1e-6)  # within tolerance: no exception
