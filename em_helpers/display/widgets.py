"""Sliders that re-run EM: one small explorer type shared by every notebook.

A notebook writes ``update(**values) -> Figure`` (run EM, move the artists of a figure
built once) and a dict of controls, then shows ``explore(update, controls)``. On every
control change the explorer calls ``update`` and shows the figure as a PNG, 960 px wide
(shown at 100% in a JupyterLab output). Only the newest slider position is drawn; a
warning becomes a banner in the figure and an exception a plain message instead of it,
never a traceback; both are recorded on the explorer (:attr:`Explorer.problems`). The same
object lets the tests try many positions (:meth:`Explorer.sweep`: every slider's ends,
pairs of ends, seeded random positions) and the benchmarks time a move.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from ..core.loop import ConvergenceWarning

__all__ = [
    "Explorer",
    "FrameRenderer",
    "Problem",
    "SweepError",
    "control_ends",
    "control_sample",
    "encode_png",
    "explore",
    "render_png",
]


def render_png(fig: Figure) -> bytes:
    """Render ``fig`` with Agg to PNG bytes, at the figure's own dpi, in a single draw.

    (IPython's own figure display crops with ``bbox_inches="tight"``, which draws twice.)
    """
    _agg_canvas(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _agg_canvas(fig: Figure) -> FigureCanvasAgg:
    """``fig``'s Agg canvas, attached first if the figure has none (pyplot-free figures)."""
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


class FrameRenderer:
    """PNG frames of a figure whose lines and texts move while its axes mostly stay put.

    Most of an Agg redraw is text: tick labels, axis labels, legends. A frame therefore
    draws the *static* part (axes, ticks, labels) only when it changed — when an axis
    limit, scale or label differs from the previous frame — and keeps a copy of it;
    otherwise it restores that copy and draws just the *dynamic* artists: everything
    plotted into the axes (lines, texts such as :func:`~em_helpers.axes_title`, patches,
    collections, images), figure texts, and the legends, so that they stay on top. Only the
    axes frames, ticks, tick labels and axis labels are static. With round-number axis
    limits (see :meth:`Explorer.redraw`) small slider moves rarely change a limit, and most
    frames skip the static draw.
    The pixels are those of a full redraw except that dynamic artists are drawn above
    the static ones.
    """

    def __init__(self, fig: Figure):
        self.fig = fig
        self.canvas = _agg_canvas(fig)
        self._key = None
        self._background = None
        self.full_draws = 0
        self.frames = 0

    def _dynamic(self) -> list:
        artists = list(self.fig.texts)
        for ax in self.fig.axes:
            artists += [*ax.lines, *ax.texts, *ax.patches, *ax.collections, *ax.images]
            if ax.get_legend() is not None:
                artists.append(ax.get_legend())
        return sorted(artists, key=lambda a: a.get_zorder())

    def _static_key(self) -> tuple:
        return tuple(
            (
                ax.get_xlim(),
                ax.get_ylim(),
                ax.get_xscale(),
                ax.get_yscale(),
                ax.get_xlabel(),
                ax.get_ylabel(),
                ax.get_visible(),
            )
            for ax in self.fig.axes
        ) + (tuple(self.fig.get_size_inches()), self.fig.dpi)

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        dynamic = self._dynamic()
        key = self._static_key()
        if key != self._key or self._background is None:
            for artist in dynamic:
                artist.set_animated(True)  # left out of canvas.draw(), drawn below
            try:
                self.canvas.draw()
            finally:
                for artist in dynamic:
                    artist.set_animated(False)  # ordinary artists again for savefig
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._key = key
            self.full_draws += 1
        else:
            self.canvas.restore_region(self._background)
        renderer = self.canvas.get_renderer()
        for artist in dynamic:
            if artist.get_visible():
                artist.draw(renderer)
        self.frames += 1
        return encode_png(np.asarray(self.canvas.buffer_rgba()))


def encode_png(rgba: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an RGBA image (``(h, w, 4)`` uint8), written for speed.

    An opaque image is stored as RGB (a quarter fewer bytes); every row uses PNG filter 0
    (none) and the pixels are deflated with zlib at ``level``. PIL's encoder chooses a
    filter per row, which takes about as long again as the deflate of a plot (flat
    colours, thin lines) and makes the file no smaller: for a 960 x 266 explorer frame
    this encodes in about half the time PIL takes (``bench/bench_widgets.py --encode``).
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be an (h, w, 4) uint8 array, got {rgba.shape} {rgba.dtype}")
    h, w, _ = rgba.shape
    opaque = bool(rgba[..., 3].min() == 255)
    pixels = rgba[..., :3] if opaque else rgba
    rows = np.zeros((h, 1 + w * pixels.shape[2]), np.uint8)  # column 0: filter type 0
    rows[:, 1:] = pixels.reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if opaque else 6, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.data, level)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def control_ends(w: widgets.Widget) -> list[Any]:
    """The extreme values of one control, as ``update`` would receive them.

    - ``FloatLogSlider``: ``base**min`` and ``base**max`` (its ``min``/``max`` are exponents);
    - range sliders (``IntRangeSlider``, ``FloatRangeSlider``): the pairs ``(min, max)``,
      ``(min, min)`` and ``(max, max)``;
    - other sliders and bounded numbers: ``min`` and ``max``;
    - ``SelectMultiple``: the empty selection, each option alone, and all options (tuples);
    - other selection widgets (``Dropdown``, ``RadioButtons``, ``ToggleButtons``, ...):
      every option's *value* (not its label, also when options were given as a dict or
      as ``(label, value)`` pairs);
    - boolean controls (``Checkbox``, ``ToggleButton``): False and True;
    - text controls: the empty string and the current text.

    Raises
    ------
    TypeError
        For a control whose values cannot be enumerated (name it in a bug report).
    """
    if isinstance(w, widgets.FloatLogSlider):
        return [w.base**w.min, w.base**w.max]
    if isinstance(w, (widgets.IntRangeSlider, widgets.FloatRangeSlider)):
        return [(w.min, w.max), (w.min, w.min), (w.max, w.max)]
    if isinstance(w, widgets.SelectMultiple):
        values = tuple(w._options_values)
        return [(), *((v,) for v in values), values]
    if hasattr(w, "_options_values"):  # every ipywidgets selection widget
        return list(w._options_values)
    if hasattr(w, "min") and hasattr(w, "max"):
        return [w.min, w.max]
    if isinstance(w.get_state().get("value"), bool):
        return [False, True]
    if isinstance(w, (widgets.Text, widgets.Textarea)):
        return ["", w.value]
    raise TypeError(f"cannot enumerate the values of a {type(w).__name__} control")


def control_sample(w: widgets.Widget, rng: np.random.Generator) -> Any:
    """A random value of one control, as ``update`` would receive it.

    Half of the time a value from :func:`control_ends` (the ends are where things break),
    otherwise a value drawn uniformly from what the control can show: a point of the
    slider's ``step`` grid (of the exponent for ``FloatLogSlider``), an option, a subset of
    the options, a boolean. A text control keeps its text.
    """
    ends = control_ends(w)
    if rng.random() < 0.5:
        return ends[rng.integers(len(ends))]
    if isinstance(w, widgets.FloatLogSlider):
        return w.base ** _grid_point(w.min, w.max, w.step, rng)
    if isinstance(w, (widgets.IntRangeSlider, widgets.FloatRangeSlider)):
        pair = sorted(_grid_point(w.min, w.max, w.step, rng) for _ in range(2))
        return tuple(type(w.value[0])(v) for v in pair)
    if isinstance(w, widgets.SelectMultiple):
        values = tuple(w._options_values)
        return tuple(v for v in values if rng.random() < 0.5)
    if hasattr(w, "_options_values"):
        return ends[rng.integers(len(ends))]
    if hasattr(w, "min") and hasattr(w, "max"):
        step = getattr(w, "step", None) or (w.max - w.min) / 100
        value = _grid_point(w.min, w.max, step, rng)
        return int(round(value)) if isinstance(w.value, int) else value
    if isinstance(w.get_state().get("value"), bool):
        return bool(rng.random() < 0.5)
    return w.value


def _grid_point(lo: float, hi: float, step: float, rng: np.random.Generator) -> float:
    """A uniformly chosen point of ``lo + k*step`` in ``[lo, hi]``, rounded like a slider."""
    k = int(rng.integers(int(np.floor((hi - lo) / step + 1e-9)) + 1))
    return float(np.round(min(lo + k * step, hi), 12))


@dataclass(frozen=True)
class Problem:
    """A warning or exception caught while an :class:`Explorer` drew one position.

    Attributes
    ----------
    values : dict
        The keyword values ``update`` was called with.
    kind : {"warning", "exception"}
    category : type
        The warning category or the exception type.
    text : str
        The warning or exception message.
    """

    values: dict[str, Any]
    kind: str
    category: type
    text: str

    @property
    def defect(self) -> bool:
        """True unless it is a :class:`~em_helpers.ConvergenceWarning` (a legitimate state)."""
        return not (self.kind == "warning" and issubclass(self.category, ConvergenceWarning))

    def short(self, limit: int = 110) -> str:
        """A one-line message for the reader: the first sentence, at most ``limit`` chars."""
        text = self.text.strip().splitlines()[0] if self.text.strip() else ""
        text = re.split(r" \(|\. ", text)[0].rstrip(".")
        if self.defect:
            text = f"{self.category.__name__}: {text}" if text else self.category.__name__
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def __str__(self) -> str:
        return f"{self.category.__name__}({self.text!r}) at {self.values}"


class SweepError(RuntimeError):
    """Some positions of an :class:`Explorer` sweep raised or warned; see ``failures``."""

    def __init__(self, failures: list[Problem], tried: int, limit: int = 12):
        self.failures = failures
        self.tried = tried
        lines = [
            f"widget callback failed at {p.values}: {p.category.__name__}({p.text!r})"
            for p in failures[:limit]
        ]
        more = len(failures) - limit
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(
            f"{len(failures)} problem(s) in {tried} positions tried:\n" + "\n".join(lines)
        )


#: Autoscaling inside a widget callback snaps axis limits to tick positions, so that small
#: changes of the data leave the limits (and the cached static frame) as they are.
ROUND_LIMITS = {"axes.autolimit_mode": "round_numbers"}

#: Width in pixels of an explorer's image: a JupyterLab output area is about 970-1000 px
#: wide, and it shrinks (never enlarges) wider images, so this is shown at 100%.
WIDTH_PX = 960


class Explorer(widgets.VBox):
    """The controls in a grid above an output area redrawn by ``update`` on every change.

    Problems never reach the reader as a traceback or as raw warning text:

    - warnings raised while ``update`` runs or its figure renders are caught; their first
      sentence is drawn in a banner at the top of the figure (e.g. "EM did not converge in
      max_iter=500 iterations" for an :class:`~em_helpers.ConvergenceWarning`);
    - an exception in ``update`` replaces the figure by a blank one that says, in plain
      words, that this setting cannot be drawn and why;
    - every such event is recorded as a :class:`Problem` in :attr:`problems`, so a test can
      fail on it: everything but a ConvergenceWarning (hitting ``max_iter`` is a state the
      reader is plainly told about) is a *defect* (:attr:`defects`). :meth:`sweep` and
      :meth:`check_ends` try many positions and raise on any defect, naming the values.

    The first draw, made by the constructor while the notebook cell runs, is strict: an
    exception there propagates, so a notebook whose explorer fails at its own defaults
    fails its cell (and the nbval run).

    Latest value wins: inside a running kernel a control change does not draw at once; it
    schedules one draw on the kernel's event loop, and that draw reads the controls'
    values when it runs. Slider messages that queued up while a figure was being drawn are
    all applied first, and only the newest position is drawn. Outside an event loop (a
    plain script, a test) every change draws at once; :meth:`flush` draws a pending change
    now.

    Parameters
    ----------
    update : callable
        ``update(**values)`` is called with every control's current value and returns the
        :class:`~matplotlib.figure.Figure` to show (or None when it displays by itself).
    controls : dict of str to widget
        Keyword name -> control.
    width_px : int or None
        Width of the shown image in pixels: the figure is rendered at
        ``dpi = width_px / figure width in inches``. None keeps the figure's own dpi.

    Attributes
    ----------
    output : ipywidgets.Output
        Where the figure is shown (a single PNG ``display_data`` output).
    problems : list of Problem
        What was caught while drawing for the reader (the most recent 200).
    message : str
        The banner text of the figure shown now ("" when there is none).
    """

    def __init__(
        self,
        update: Callable[..., Figure | None],
        controls: Mapping[str, widgets.ValueWidget],
        *,
        width_px: int | None = WIDTH_PX,
    ):
        if not isinstance(controls, Mapping):
            raise TypeError(
                f"controls must be a dict of keyword name -> widget, got {type(controls).__name__}"
            )
        if not controls:
            raise ValueError("explore needs at least one control")
        for name, w in controls.items():
            if not isinstance(w, widgets.ValueWidget):
                raise TypeError(
                    f"controls[{name!r}] must be an ipywidgets value widget (a slider, a "
                    f"dropdown, ...), got {type(w).__name__}"
                )
        if not callable(update):
            raise TypeError(f"update must be callable, got {type(update).__name__}")
        if width_px is not None and not (isinstance(width_px, int) and width_px >= 100):
            raise ValueError(f"width_px must be an int >= 100 or None, got {width_px!r}")
        self.update = update
        self.controls = dict(controls)
        self.width_px = width_px
        self.output = widgets.Output()
        self.problems: list[Problem] = []
        self.message = ""
        self.draws = 0
        self.last_sweep: dict[str, float] = {}
        self.settle_turns = 3
        self._changes = 0
        self._frames: FrameRenderer | None = None
        self._banner: Text | None = None
        self._blank: Figure | None = None
        self._scheduled: asyncio.Task | None = None
        grid = widgets.GridBox(
            list(self.controls.values()),
            layout=widgets.Layout(grid_template_columns="repeat(3, minmax(0, 1fr))"),
        )
        super().__init__([grid, self.output])
        for w in self.controls.values():
            w.observe(self._on_change, "value")
        self._show(self.values(), strict=True)

    def values(self) -> dict[str, Any]:
        """The controls' current values, as ``update`` receives them."""
        return {name: w.value for name, w in self.controls.items()}

    @property
    def defects(self) -> list[Problem]:
        """The recorded :attr:`problems` other than ConvergenceWarnings."""
        return [p for p in self.problems if p.defect]

    def _on_change(self, change: Any) -> None:
        self._changes += 1
        if self._scheduled is not None and not self._scheduled.done():
            return  # a draw is pending; it will read the newest values
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: draw now
            self.redraw()
            return
        self._scheduled = loop.create_task(self._settle())

    async def _settle(self) -> None:
        """Draw once no control has changed for ``settle_turns`` turns of the event loop.

        Every turn lets the kernel read a slider message that arrived while the last figure
        was drawn; they are all applied before the one draw with the newest values. After
        100 turns it draws anyway, so that a steady stream of changes still shows frames.
        """
        quiet = turns = 0
        while quiet < self.settle_turns and turns < 100:  # a steady stream still draws
            seen = self._changes
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._changes == seen else 0
            turns += 1
        self._scheduled = None
        self.redraw()

    def flush(self) -> None:
        """Draw now if a control change is waiting for its draw (see the class notes)."""
        if self._scheduled is not None and not self._scheduled.done():
            self._scheduled.cancel()
            self._scheduled = None
            self.redraw()

    def redraw(self, **values: Any) -> None:
        """Call ``update`` (with the controls' values, overridden by ``values``) and show it.

        Never raises: warnings and exceptions become a message in the figure and are
        recorded in :attr:`problems`.
        """
        self._show({**self.values(), **values})

    def _show(self, values: dict[str, Any], strict: bool = False) -> None:
        self.draws += 1
        png, problems = self._draw(values, strict=strict, show=True)
        self.problems = (self.problems + problems)[-200:]
        if png is not None:
            data = base64.b64encode(png).decode("ascii")
            self.output.outputs = (
                {
                    "output_type": "display_data",
                    "data": {"image/png": data, "text/plain": "<explorer figure>"},
                    "metadata": {},
                },
            )

    def _draw(
        self, values: dict[str, Any], *, strict: bool = False, show: bool = False
    ) -> tuple[bytes | None, list[Problem]]:
        """Run ``update(**values)``, render its figure; the PNG and what went wrong.

        With ``strict`` an exception propagates instead of becoming a message figure. With
        ``show`` an ``update`` that returns None displays into :attr:`output` by itself.
        """
        problems: list[Problem] = []
        fig = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with mpl.rc_context(ROUND_LIMITS):
                    if show and self._frames is None:  # it may display by itself
                        fig = self._call_captured(values)
                    else:
                        fig = self._call(values)
                problems += [_warning_problem(w, values) for w in caught]
                del caught[:]
                if fig is None:
                    return None, problems
                self._set_banner(fig, "; ".join(dict.fromkeys(p.short() for p in problems)))
                return self._render(fig), problems + [_warning_problem(w, values) for w in caught]
            except Exception as exc:
                if strict:
                    raise
                problems += [_warning_problem(w, values) for w in caught]
                problems.append(Problem(dict(values), "exception", type(exc), str(exc)))
                self.message = "This setting cannot be drawn: " + problems[-1].short()
                return self._blank_png(fig, self.message), problems

    def _call(self, values: dict[str, Any]) -> Figure | None:
        fig = self.update(**values)
        if fig is not None and not isinstance(fig, Figure):
            raise TypeError(
                f"update must return a matplotlib Figure (or None), got {type(fig).__name__}"
            )
        return fig

    def _call_captured(self, values: dict[str, Any]) -> Figure | None:
        """:meth:`_call` with what ``update`` displays going to :attr:`output`."""
        error = None
        with self.output:
            self.output.clear_output(wait=True)
            try:
                fig = self._call(values)
            except Exception as exc:  # raised below: Output would print a traceback
                error = exc
        if error is not None:
            raise error
        return fig

    def _render(self, fig: Figure) -> bytes:
        if self.width_px is not None:
            dpi = self.width_px / fig.get_figwidth()
            if fig.dpi != dpi:
                fig.set_dpi(dpi)
        if self._frames is None or self._frames.fig is not fig:
            self._frames = FrameRenderer(fig)
        return self._frames.png()

    def _set_banner(self, fig: Figure, text: str) -> None:
        """Show ``text`` in a banner at the top of ``fig`` (hide it when empty)."""
        self.message = text
        if self._banner is None or self._banner.figure is not fig:
            if not text:
                return
            self._banner = fig.text(
                0.5, 0.995, "", ha="center", va="top", color="0.1", zorder=100,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#fff3c4", "ec": "#b58900"},
            )  # fmt: skip
        self._banner.set_text(text)
        self._banner.set_visible(bool(text))

    def _blank_png(self, fig: Figure | None, text: str) -> bytes:
        """A blank image of the explorer's size that says ``text``."""
        like = fig if fig is not None else (self._frames.fig if self._frames else None)
        size = like.get_size_inches() if like is not None else (10.8, 3.0)
        dpi = self.width_px / size[0] if self.width_px is not None else (like.dpi if like else 72)
        if self._blank is None:
            self._blank = Figure()
            self._blank.text(0.5, 0.5, "", ha="center", va="center", wrap=True, color="0.15")
        self._blank.set_size_inches(size)
        self._blank.set_dpi(dpi)
        self._blank.texts[0].set_text(text)
        return render_png(self._blank)

    @property
    def figure(self) -> Figure | None:
        """The figure ``update`` returned last (None while it returns none)."""
        return self._frames.fig if self._frames is not None else None

    def smallest_text_px(self) -> float:
        """Height in pixels of the smallest visible text of the figure as last rendered.

        ``fontsize (pt) * dpi / 72`` over every visible, non-empty text artist (tick
        labels, legends, titles, the banner). The course wants >= 10 px.
        """
        if self._frames is None:
            raise ValueError("update has not returned a figure yet")
        fig = self._frames.fig
        sizes = [
            t.get_fontsize()
            for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_figure(root=True) is fig
        ]
        return min(sizes) * fig.dpi / 72 if sizes else float("inf")

    # --- sweeps: many positions, strict -------------------------------------------------

    def end_positions(self) -> Iterator[dict[str, Any]]:
        """Keyword sets with one control at an end of its range, the others as they are.

        Each control contributes the values :func:`control_ends` gives for it.
        """
        base = self.values()
        for name, w in self.controls.items():
            for value in control_ends(w):
                yield {**base, name: value}

    def pair_positions(self) -> Iterator[dict[str, Any]]:
        """Keyword sets with two controls at ends of their ranges, the others as they are.

        Every pair of controls, every combination of their :func:`control_ends` values.
        """
        base = self.values()
        names = list(self.controls)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                for va in control_ends(self.controls[a]):
                    for vb in control_ends(self.controls[b]):
                        yield {**base, a: va, b: vb}

    def random_positions(self, n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
        """``n`` keyword sets with every control drawn by :func:`control_sample` (seeded)."""
        rng = np.random.default_rng(seed)
        for _ in range(n):
            yield {name: control_sample(w, rng) for name, w in self.controls.items()}

    def check(
        self,
        positions: Iterable[dict[str, Any]],
        *,
        first: bool = False,
        budget_s: float | None = None,
        keep: int = 0,
    ) -> int:
        """Draw every position; raise :class:`SweepError` if any warned or raised.

        Warnings count as errors, except :class:`~em_helpers.ConvergenceWarning`, which
        must be drawn as the figure's banner (it is checked that it was). The controls
        and the shown image stay as they were.

        Parameters
        ----------
        positions : iterable of dict
            Keyword sets for ``update``.
        first : bool
            Stop at the first failing position (else try all and report every failure).
        budget_s : float or None
            Stop once this many seconds have passed after the first ``keep`` positions
            (at least one more is tried): a slower machine tries a shorter prefix of the
            same positions.
        keep : int
            Positions tried whatever the budget.

        Returns
        -------
        int
            How many positions were tried.
        """
        failures: list[Problem] = []
        n = 0
        start = time.perf_counter()
        for values in positions:
            if n == keep:
                start = time.perf_counter()  # the budget is for what comes after ``keep``
            elif budget_s is not None and n > keep and time.perf_counter() - start > budget_s:
                break
            n += 1
            _, problems = self._draw(values)
            for p in problems:
                if p.defect:
                    failures.append(p)
                elif self._frames is not None and p.short() not in self.message:
                    text = f"ConvergenceWarning not shown in the figure: {p.text}"
                    failures.append(Problem(p.values, "exception", AssertionError, text))
            if failures and first:
                break
        if failures:
            raise SweepError(failures, n)
        return n

    def check_ends(self) -> int:
        """:meth:`check` every :meth:`end_positions` entry, stopping at the first failure."""
        return self.check(self.end_positions(), first=True)

    def sweep(
        self,
        n_random: int = 32,
        seed: int = 0,
        max_pairs: int | None = 120,
        budget_s: float | None = None,
    ) -> int:
        """:meth:`check` the ends, the pairwise ends and ``n_random`` random positions.

        The ends come first and are always all tried; then the pairwise ends and the random
        positions, alternating, in a fixed (seeded) order until ``budget_s`` runs out.

        Parameters
        ----------
        n_random : int
            Random positions (:meth:`random_positions` with ``seed``).
        seed : int
            Seed of the random positions, and of the subset of pairwise ends when capped.
        max_pairs : int or None
            At most this many :meth:`pair_positions` (a seeded random subset when there
            are more); None: all of them.
        budget_s : float or None
            Time allowed (seconds) once the ends are done; None: no limit.

        Returns
        -------
        int
            How many positions were tried (also in :attr:`last_sweep`, with how many were
            planned and the seconds taken). Every failure is reported (with its values) in
            one :class:`SweepError`.
        """
        pairs = list(self.pair_positions())
        if max_pairs is not None and len(pairs) > max_pairs:
            keep = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
            pairs = [pairs[i] for i in sorted(keep)]
        ends = list(self.end_positions())
        rest = list(self.random_positions(n_random, seed))
        mixed = [p for pair in zip(pairs, rest, strict=False) for p in pair]
        mixed += pairs[len(rest) :] + rest[len(pairs) :]
        t0 = time.perf_counter()
        self.last_sweep = {"planned": len(ends) + len(mixed), "tried": 0, "seconds": 0.0}
        n = 0
        try:
            n = self.check(ends + mixed, budget_s=budget_s, keep=len(ends))
        except SweepError as exc:
            n = exc.tried
            raise
        finally:
            self.last_sweep.update(tried=n, seconds=time.perf_counter() - t0)
        return n


def _warning_problem(w: warnings.WarningMessage, values: dict[str, Any]) -> Problem:
    return Problem(dict(values), "warning", w.category, str(w.message))


def explore(
    update: Callable[..., Figure | None],
    controls: Mapping[str, widgets.ValueWidget],
    *,
    width_px: int | None = WIDTH_PX,
) -> Explorer:
    """Build an :class:`Explorer`: ``update(**values)`` is re-run on every control change.

    The first draw happens right here, while the notebook cell runs, so an exception in
    ``update`` fails the cell (and the nbval run) instead of hiding in the widget. Later
    problems are shown as messages in the figure and recorded (:attr:`Explorer.problems`).
    """
    return Explorer(update, controls, width_px=width_px)
