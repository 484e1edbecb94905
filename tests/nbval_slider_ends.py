"""pytest plugin: sweep every notebook's sliders inside the nbval run.

After the last cell of each notebook that nbval executes, one more item ("slider ends")
runs in the same kernel: it finds every :class:`em_helpers.Explorer` the notebook created
and :meth:`~em_helpers.Explorer.sweep` s it: every control at each end of its range, every
pair of controls at their ends together (at most ``MAX_PAIRS`` of these pairs, a seeded
subset), and ``N_RANDOM`` seeded random combinations of all controls; the ends always, the
others alternating until the notebook's ``BUDGET_S`` seconds are spent. Any exception and any
warning other than :class:`em_helpers.ConvergenceWarning` (which the explorer must draw in
its figure) fails the item, listing the control values; so does a defect the explorer
recorded while the notebook ran (:attr:`em_helpers.Explorer.defects`), and text smaller
than ``MIN_TEXT_PX`` in the figure (:meth:`em_helpers.Explorer.smallest_text_px`). A failure there
fails the run like a failing cell, and each notebook is executed once, not twice.
Solutions notebooks (``notebooks/solutions/``) have no explorer and get no sweep.
Registered by the repository's ``conftest.py``.
"""

from collections import defaultdict
from pathlib import Path

import nbformat

#: Random positions per explorer, their seed, and the cap on pairwise-end positions.
N_RANDOM, SEED, MAX_PAIRS = 16, 0, 24
#: Seconds per notebook for the positions beyond the ends (shared by its explorers): on a
#: slow machine fewer of the (fixed, seeded) pairwise and random positions are tried.
BUDGET_S = 4.0
#: The smallest legible text in an explorer's image, in pixels (the image is shown at 100%).
MIN_TEXT_PX = 10

SWEEP = f"""\
import time as _time

from em_helpers.display.widgets import find_explorers as _find_explorers

_explorers = list(_find_explorers(globals()).values())
assert _explorers, "the notebook creates no em_helpers Explorer (its Explore section)"
for _e in _explorers:
    assert not _e.defects, "shown while the notebook ran: " + "; ".join(map(str, _e.defects))
    _e.sweep(n_random={N_RANDOM}, seed={SEED}, max_pairs={MAX_PAIRS},
             budget_s={BUDGET_S} / len(_explorers))
    print("slider positions checked: {{tried}} of {{planned}} in {{seconds:.1f}} s"
          .format(**_e.last_sweep))
    _e.redraw()  # back to the controls' values
    if _e.figure is not None:
        _px = _e.smallest_text_px()
        assert _px >= {MIN_TEXT_PX}, f"explorer text {{_px:.1f}} px high: too small to read"
"""


def pytest_collection_modifyitems(session, config, items):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to add
        return
    extended = []
    for i, item in enumerate(items):
        extended.append(item)
        last_cell = isinstance(item, IPyNbCell) and (
            i + 1 == len(items) or items[i + 1].parent is not item.parent
        )
        if last_cell and "solutions" in Path(str(item.parent.path)).parts:
            continue  # a solutions notebook has no explorer of its own
        if last_cell:
            extended.append(
                IPyNbCell.from_parent(
                    item.parent,
                    name="slider ends",
                    cell_num=item.cell_num + 1,
                    cell=nbformat.v4.new_code_cell(SWEEP),
                    options=defaultdict(bool),  # run it, compare nothing
                )
            )
    items[:] = extended
