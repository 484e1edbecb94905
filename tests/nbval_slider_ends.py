"""pytest plugin: sweep every notebook's sliders inside the nbval run.

After the last cell of each notebook that nbval executes, one more item runs in the same
kernel: it finds every :class:`em_helpers.Explorer` the notebook created and calls its
callback at both ends of every slider (:meth:`em_helpers.Explorer.check_ends`), with
warnings turned into errors. A failure there fails the run like a failing cell, and each
notebook is executed once, not twice. Registered by the repository's ``conftest.py``.
"""

from collections import defaultdict

import nbformat

SWEEP = """\
import em_helpers as _emh

_explorers = [v for k, v in list(globals().items())
              if not k.startswith("_") and isinstance(v, _emh.Explorer)]
assert _explorers, "the notebook creates no em_helpers Explorer (its Explore section)"
print("slider positions checked:", sum(_e.check_ends() for _e in _explorers))
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
