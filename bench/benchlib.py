"""What every ``bench/bench_*.py`` script shares: the machine it ran on, and its own
section of ``bench/README.md`` (between ``<!-- name:start -->`` and ``<!-- name:end -->``),
so that each script rewrites its table and leaves the others' alone.

Imported by the scripts as ``benchlib`` (``python bench/bench_x.py`` puts ``bench/`` on
``sys.path``); not itself a benchmark, so ``make bench`` does not run it.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["README", "cpu_model", "load_average", "run_in_notebook", "write_section"]

README = Path(__file__).with_name("README.md")
ROOT = README.parents[1]
if str(ROOT) not in sys.path:  # tools.course_app, for run_in_notebook(cells="needed")
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def load_average() -> float:
    """The one-minute load average (NaN where the OS has none): a shared machine's times
    are only as good as this."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def write_section(name: str, body: str, readme: Path = README) -> Path:
    """Replace the ``name`` section of ``readme`` by ``body`` (appended when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}\n{end}"
    old = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(new)
    return readme


def run_in_notebook(
    path: Path, func: Callable, *args: object, timeout: int = 600, cells: str = "all"
) -> dict:
    """Execute the notebook at ``path`` in a fresh kernel, then ``func(*args)`` in it.

    ``func`` is sent as its source (so it must import what it uses and may read the
    notebook's globals, e.g. with :func:`em_helpers.display.widgets.find_explorers`) and
    must print ``"BENCH"`` followed by a JSON object, which is returned with the seconds
    the notebook's own cells took added as ``"_notebook_s"``. The kernel runs in the
    notebook's directory, as in JupyterLab. ``cells="needed"`` executes only the explorer
    cells and the cells they need, as the course's app mode serves them
    (:func:`tools.course_app.needed_cells`); ``"all"`` the whole notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    if cells == "needed":
        from tools.course_app import explorer_cells, needed_cells

        targets = explorer_cells(nb)
        run = sorted({*needed_cells(nb, targets), *targets})
    elif cells == "all":
        run = range(n_cells)
    else:
        raise ValueError(f"cells must be 'all' or 'needed', got {cells!r}")
    call = f"{inspect.getsource(func)}\n{func.__name__}(*{args!r})\n"
    nb.cells.append(nbformat.v4.new_code_cell(call))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )  # fmt: skip
    t0 = time.perf_counter()
    with client.setup_kernel():
        for index in run:
            client.execute_cell(nb.cells[index], index)
        t1 = time.perf_counter()
        client.execute_cell(nb.cells[-1], n_cells)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    if "BENCH" not in text:
        raise RuntimeError(f"{Path(path).name}: {func.__name__} printed no BENCH: {text[-500:]}")
    result = json.loads(text.split("BENCH", 1)[1])
    result["_notebook_s"] = t1 - t0
    return result
