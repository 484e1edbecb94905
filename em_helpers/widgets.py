"""Sliders that re-run EM: one small explorer type shared by every notebook.

A notebook writes ``update(**values)`` (run EM, build a figure, ``display`` it) and a dict
of controls, then shows ``explore(update, controls)``. The same object lets the tests
call ``update`` at the ends of every slider's range (:meth:`Explorer.check_ends`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ipywidgets as widgets

__all__ = ["Explorer", "explore"]


class Explorer(widgets.VBox):
    """The controls in a grid above an output area redrawn by ``update`` on every change.

    Attributes
    ----------
    update : callable
        ``update(**values)``, called with every control's current value.
    controls : dict of str to widget
        Keyword name -> control.
    """

    def __init__(
        self, update: Callable[..., Any], controls: Mapping[str, widgets.ValueWidget], **kw
    ):
        if not controls:
            raise ValueError("explore needs at least one control")
        self.update = update
        self.controls = dict(controls)
        self.output = widgets.interactive_output(update, self.controls)
        grid = widgets.GridBox(
            list(self.controls.values()),
            layout=widgets.Layout(grid_template_columns="repeat(3, minmax(0, 1fr))"),
        )
        super().__init__([grid, self.output], **kw)

    def values(self) -> dict[str, Any]:
        """The controls' current values, as ``update`` receives them."""
        return {name: w.value for name, w in self.controls.items()}

    def end_positions(self) -> Iterator[dict[str, Any]]:
        """Keyword sets with one control at an end of its range, the others as they are.

        Sliders go to ``min`` and ``max``; selection widgets through every option;
        checkboxes through both states.
        """
        base = self.values()
        for name, w in self.controls.items():
            if hasattr(w, "min") and hasattr(w, "max"):
                ends = [w.min, w.max]
            elif hasattr(w, "options"):
                ends = [v[1] if isinstance(v, tuple) else v for v in w.options]
            elif isinstance(w, widgets.Checkbox):
                ends = [False, True]
            else:
                continue
            for value in ends:
                yield {**base, name: value}

    def check_ends(self) -> int:
        """Call ``update`` at every :meth:`end_positions` entry, turning warnings into errors.

        Returns
        -------
        int
            How many positions were tried. Any exception propagates, naming the position.
        """
        n = 0
        for values in self.end_positions():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    self.update(**values)
                except Exception as exc:
                    raise RuntimeError(f"widget callback failed at {values}: {exc!r}") from exc
            n += 1
        return n


def explore(update: Callable[..., Any], controls: Mapping[str, widgets.ValueWidget]) -> Explorer:
    """Build an :class:`Explorer`: ``update(**values)`` is re-run on every control change.

    The first call happens right here, while the notebook cell runs, so an exception
    in ``update`` fails the cell (and the nbval run) instead of hiding in the widget.
    """
    return Explorer(update, controls)
