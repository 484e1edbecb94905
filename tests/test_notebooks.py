"""Notebook checks beyond nbval (nbval itself runs every notebook in `make test`).

- Each notebook is committed executed top to bottom, with no stored error or warning.
- Each notebook's widget callbacks run without error or warning at the ends of every
  slider's range: the notebook is executed with nbclient, then every
  :class:`em_helpers.Explorer` it created is swept with ``check_ends()``.
- A notebook whose widget callback raises fails the nbval run (the wiring itself).
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

SWEEP = textwrap.dedent(
    """
    import em_helpers as _emh
    _explorers = [v for k, v in list(globals().items())
                  if not k.startswith("_") and isinstance(v, _emh.Explorer)]
    assert _explorers, "the notebook creates no em_helpers Explorer (its Explore section)"
    print("positions checked:", sum(_e.check_ends() for _e in _explorers))
    """
)


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
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in cells), "no nbval-checked result"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_widget_callbacks_at_every_slider_end(path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SWEEP))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "positions checked:" in printed
    assert int(printed.split(":")[1]) >= 2


def test_nbval_fails_on_an_exception_inside_a_widget_callback(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "# NBVAL_IGNORE_OUTPUT\n"
            "import ipywidgets as widgets\nimport em_helpers as emh\n\n"
            "def update(a):\n    raise ZeroDivisionError('inside the callback')\n\n"
            "explorer = emh.explore(update, {'a': widgets.FloatSlider()})\nexplorer"
        )
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(nb))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    assert "ZeroDivisionError" in run.stdout and "1 failed" in run.stdout
