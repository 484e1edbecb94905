"""Notebook checks beyond nbval (nbval itself runs every notebook in `make test`).

- Each notebook (and each solutions notebook) is committed executed top to bottom, with no
  stored error or warning.
- The nbval run itself fails on an exception inside a widget callback, both at the first
  draw and at a slider end (the "slider ends" item that ``tests/nbval_slider_ends.py``
  adds after each notebook's last cell, in the same kernel).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + SOLUTIONS
IDS = [p.stem + (" (solutions)" if p in SOLUTIONS else "") for p in NOTEBOOKS]


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_executed_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), (
        "re-execute top to bottom in a fresh kernel (make execute) before committing"
    )
    for c in cells:
        for out in c.outputs:
            assert out.output_type != "error", f"stored error output in cell {c.execution_count}"
            assert out.get("name") != "stderr", (
                f"stored stderr (a warning?) in cell {c.execution_count}: {out.text[:300]}"
            )
        assert "sys.path" not in c.source, "notebooks import em_helpers; never edit sys.path"
    assert any("em_helpers" in c.source for c in cells)
    if path in SOLUTIONS:  # each solution asserts its check instead
        assert any("assert" in c.source for c in cells), "a solution that asserts nothing"
    else:
        assert any("NBVAL_CHECK_OUTPUT" in c.source for c in cells), "no nbval-checked result"


def _notebook(source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return json.dumps(nb)


WIDGET = (
    "# NBVAL_IGNORE_OUTPUT\n"
    "import ipywidgets as widgets\nimport em_helpers as emh\n\n"
    "def update(a):\n{body}\n\n"
    "explorer = emh.explore(update, {{'a': widgets.FloatSlider(value=1, min=0, max=2)}})\n"
    "explorer"
)


def test_nbval_fails_on_an_exception_inside_a_widget_callback(tmp_path):
    cases = {
        "first_draw": "    raise ZeroDivisionError('inside the callback')",
        "slider_end": "    if a == 2:\n        raise ZeroDivisionError('at the slider end')",
        "warning_at_end": "    import warnings\n    if a == 0:\n        warnings.warn('at zero')",
        "fine": "    pass",
    }
    for name, body in cases.items():
        (tmp_path / f"{name}.ipynb").write_text(_notebook(WIDGET.format(body=body)))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "tests.nbval_slider_ends",
            "-p",
            "no:cacheprovider",
            "-rA",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = run.stdout
    assert run.returncode == 1, out[-3000:]
    for outcome, item in [
        ("FAILED", "first_draw.ipynb::Cell 0"),
        ("PASSED", "slider_end.ipynb::Cell 0"),
        ("FAILED", "slider_end.ipynb::slider ends"),
        ("FAILED", "warning_at_end.ipynb::slider ends"),
        ("PASSED", "fine.ipynb::slider ends"),
    ]:
        assert re.search(rf"^{outcome} {re.escape(item)}", out, re.M), (outcome, item)
    assert "at the slider end" in out and "ZeroDivisionError" in out
