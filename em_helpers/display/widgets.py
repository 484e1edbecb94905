"""Sliders that re-run EM: one small explorer type shared by every notebook.

A notebook writes ``update(**values) -> Figure`` (run EM, move the artists of a figure
built once) and a dict of controls, then shows ``explore(update, controls)``. On every
control change the explorer calls ``update`` and shows the figure as a PNG, 820 px wide
(shown at 100% in a JupyterLab output), with no text smaller than 10 px. Only the newest
slider position is drawn; a warning becomes a banner in the figure and an exception a
plain message instead of it, never a traceback; both are recorded on the explorer
(:attr:`Explorer.problems`). A control drives one explorer at a time: running an
``explore`` cell again detaches the explorer it built before from the controls. The same
object lets the tests try many positions (:meth:`Explorer.sweep`: every slider's ends,
pairs of ends, seeded random positions), the benchmarks time a move
(:meth:`Explorer.timed_draws`), and :func:`find_explorers` finds a notebook's explorers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import struct
import sys
import textwrap
import time
import warnings
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.legend import Legend
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
    "find_explorers",
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
    limit, scale, label or title differs from the previous frame — and keeps a copy of it;
    otherwise it restores that copy and draws just the *dynamic* artists: everything
    plotted into the axes (lines, texts such as :func:`~em_helpers.axes_title`, patches,
    collections, images), figure texts, and the legends, so that they stay on top. Only the
    axes frames, ticks, tick labels, axis labels and ``set_title`` titles are static (a
    title that changes with the slider is better an :func:`~em_helpers.axes_title`, which
    costs no static redraw). With round-number axis limits (see :meth:`Explorer.redraw`)
    small slider moves rarely change a limit, and most frames skip the static draw. The
    static parts of the last ``cache`` keys are kept (least recently used first out): a
    slider moved there and back, or between a few positions whose axes differ, finds its
    frame drawn already. The pixels are those of a full redraw except that dynamic artists
    are drawn above the static ones.

    With ``min_text_px``, no text is drawn smaller than that many pixels: smaller fonts
    (tick labels, legends, "small" titles) are enlarged to it, at the figure's dpi when the
    frame is drawn (static texts and tick labels on each full draw, dynamic texts on every
    frame).
    """

    def __init__(self, fig: Figure, min_text_px: float | None = None, cache: int = 8):
        self.fig = fig
        self.canvas = _agg_canvas(fig)
        self.min_text_px = min_text_px
        self.cache = cache
        self._key = None
        self._background = None
        self._backgrounds: OrderedDict[tuple, Any] = OrderedDict()  # static key -> pixels
        self._floored: weakref.WeakSet = weakref.WeakSet()  # axes whose ticks are floored
        self._floor_key: tuple | None = None  # (size, axes count) of the last static floor
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
                ax.get_title("left"),
                ax.get_title(),
                ax.get_title("right"),
                len(ax.artists),
            )
            for ax in self.fig.axes
        ) + (tuple(self.fig.get_size_inches()), self.fig.dpi)

    def _min_points(self) -> float | None:
        return None if self.min_text_px is None else self.min_text_px * 72 / self.fig.dpi

    def _floor_static(self, size: float) -> None:
        """Every text of the figure, and the tick labels still to be made, at least ``size``
        points: once per figure size and dpi (and number of axes); the texts a slider
        changes are dynamic, floored on every frame."""
        key = (size, len(self.fig.axes))
        if key == self._floor_key:
            return
        self._floor_key = key
        for ax in self.fig.axes:
            if ax in self._floored:
                continue
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                for which, ticks in (("major", axis.get_major_ticks(1)),
                                     ("minor", axis.get_minor_ticks(1))):  # fmt: skip
                    if ticks and ticks[0].label1.get_fontsize() < size:
                        ax.tick_params(axis=name, which=which, labelsize=size)
            self._floored.add(ax)
        _floor_texts(self.fig.findobj(Text), size)

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        dynamic = self._dynamic()
        key = self._static_key()
        size = self._min_points()
        if size is not None:
            if self._floor_key is not None and self._floor_key[0] != size:
                self._floored = weakref.WeakSet()  # a new dpi: the ticks again
            texts = [a for a in dynamic if isinstance(a, Text)]
            for legend in (a for a in dynamic if isinstance(a, Legend)):
                texts += [*legend.get_texts(), legend.get_title()]
            _floor_texts(texts, size)
        if key != self._key and key in self._backgrounds:
            self._background, self._key = self._backgrounds[key], key  # drawn before
            self._backgrounds.move_to_end(key)
        if key != self._key or self._background is None:
            if size is not None and self._floor_key != (size, len(self.fig.axes)):
                self._floor_static(size)
                self._backgrounds.clear()  # drawn with the smaller fonts
            for artist in dynamic:
                artist.set_animated(True)  # left out of canvas.draw(), drawn below
            try:
                self.canvas.draw()
            finally:
                for artist in dynamic:
                    artist.set_animated(False)  # ordinary artists again for savefig
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._key = key
            self._backgrounds[key] = self._background
            while len(self._backgrounds) > max(1, self.cache):
                self._backgrounds.popitem(last=False)
            self.full_draws += 1
        else:
            self.canvas.restore_region(self._background)
        renderer = self.canvas.get_renderer()
        for artist in dynamic:
            if artist.get_visible():
                artist.draw(renderer)
        self.frames += 1
        return encode_png(np.asarray(self.canvas.buffer_rgba()))


def _floor_texts(texts: Iterable[Text], size: float) -> None:
    """Enlarge every text of ``texts`` smaller than ``size`` points to ``size``."""
    for text in texts:
        if text.get_fontsize() < size:
            text.set_fontsize(size)


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
      ``(min, min)`` and ``(max, max)``; ``SelectionRangeSlider`` (whose value is a pair of
      option values) likewise: ``(first, last)``, ``(first, first)`` and ``(last, last)``;
    - other sliders and bounded numbers: ``min`` and ``max``;
    - ``SelectMultiple``: the empty selection, each option alone, and all options (tuples);
    - other selection widgets (``Dropdown``, ``RadioButtons``, ``ToggleButtons``, ...):
      every option's *value* (not its label, also when options were given as a dict or
      as ``(label, value)`` pairs); None alone for one without options (its value);
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
    if isinstance(w, widgets.SelectionRangeSlider):
        first, last = w._options_values[0], w._options_values[-1]  # it needs options
        return [(first, last), (first, first), (last, last)]
    if isinstance(w, widgets.SelectMultiple):
        values = tuple(w._options_values)
        return [(), *((v,) for v in values), values]
    if hasattr(w, "_options_values"):  # every other ipywidgets selection widget
        return list(w._options_values) or [None]
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
    if isinstance(w, widgets.SelectionRangeSlider):
        i, j = sorted(rng.integers(len(w._options_values), size=2))
        return (w._options_values[i], w._options_values[j])
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
        """A one-line message for the reader: the first sentence, at most ``limit`` chars.

        Matplotlib's mathtext errors (the text, a caret line, pyparsing's reason) become
        "invalid mathtext <text>: <reason>".
        """
        lines = [line.strip() for line in self.text.strip().splitlines()]
        text = lines[0] if lines else ""
        if len(lines) >= 3 and lines[1] == "^" and lines[2].startswith("Parse"):
            text = f"invalid mathtext {lines[0]}: {lines[2].split(': ', 1)[-1]}"
        text = re.split(r" \(|\. ", text)[0].rstrip(".").strip()
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

#: Width in pixels of an explorer's image. JupyterLab shrinks (never enlarges) an image
#: wider than its output area, and at a 1280-px window with the file browser open that
#: area is 844 px wide (measured, ``bench/bench_browser.py --text``): at 820 px the image
#: is shown at 100%, its text as large as it was drawn.
WIDTH_PX = 820

#: The smallest text an explorer draws, in pixels of its image (:class:`FrameRenderer`
#: enlarges smaller fonts to it): legible when the image is shown at 100%.
MIN_TEXT_PX = 10

#: The largest image an explorer renders (pixels): 960 x 10000, ten screens tall.
MAX_PIXELS = 9_600_000


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

    - whatever ``update`` returns that cannot be drawn (not a figure, a figure of zero size,
      None after it returned figures, texts that are invalid mathtext, ...) is such an
      exception too; the messages themselves are drawn as plain text (never parsed as
      mathtext), so :meth:`redraw` never raises.

    The first draw, made by the constructor while the notebook cell runs, is strict: an
    exception there propagates, so a notebook whose explorer fails at its own defaults
    fails its cell (and the nbval run).

    Pyplot figures do not pile up: a figure that ``update`` opens with pyplot
    (``fig, ax = plt.subplots()`` inside ``update``) and returns is closed in pyplot as soon
    as it is rendered (the explorer renders with Agg and needs no pyplot; pyplot would
    otherwise keep every one, hundreds of MB after a few hundred moves, and Jupyter's
    inline backend would show the first one again below the explorer). Figures ``update``
    opens and does not return are closed after the call, or, when ``update`` displays by
    itself (returns None), once the next call has replaced them. Figures opened elsewhere
    (say in an earlier cell) are left alone.

    One explorer per control: building an explorer with a control that already drives
    another explorer detaches that one (:meth:`detach`; its figure says so), so running an
    ``explore(...)`` cell again with controls built in another cell leaves exactly one
    ``update`` call per move. To show two figures from one slider, return one figure
    holding both.

    Latest value wins: inside a running kernel a control change does not draw at once; it
    schedules one draw on the kernel's event loop, and that draw reads the controls'
    values when it runs. Slider messages that queued up while a figure was being drawn are
    all applied first, and only the newest position is drawn. (Waiting a little longer for
    a newer value in a burst of changes was tried and measured: in JupyterLab the browser
    already keeps one slider message in flight, and a 30-ms wait made the settle after a
    held key slower, 88-264 ms against 65-128 ms in notebook 09.) Outside an event loop (a
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
    attached : bool
        True while the controls drive this explorer (False after :meth:`detach`).
    last_timing : dict
        Seconds the last draw took, ``{"update": (wall, cpu), "render": (wall, cpu)}``
        (CPU: :func:`time.process_time`, the honest figure on a loaded machine; "render"
        is missing when ``update`` raised or returned None).
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
        self.last_timing: dict[str, tuple[float, float]] = {}
        self.settle_turns = 3
        self._changes = 0
        self._frames: FrameRenderer | None = None
        self._banner: Text | None = None
        self._blank: Figure | None = None
        self._scheduled: asyncio.Task | None = None
        self._displayed: list[Figure] = []  # pyplot figures a None-returning update showed
        grid = widgets.GridBox(
            list(self.controls.values()),
            layout=widgets.Layout(grid_template_columns="repeat(3, minmax(0, 1fr))"),
        )
        super().__init__([grid, self.output])
        self.attached = True
        for w in self._unique_controls():
            old = _DRIVERS.get(w)
            old = old() if old is not None else None
            if old is not None and old is not self and old.attached:
                old.detach(
                    "Its controls now drive a newer explorer (its explore() cell was run "
                    "again); this figure no longer follows them."
                )
            w.observe(self._on_change, "value")
            _DRIVERS[w] = weakref.ref(self)
        try:
            self._show(self.values(), strict=True)
        except BaseException:
            self.detach()  # no half-built explorer left calling update on every move
            raise

    def _unique_controls(self) -> list[widgets.Widget]:
        seen: dict[int, widgets.Widget] = {}
        for w in self.controls.values():
            seen.setdefault(id(w), w)
        return list(seen.values())

    def detach(self, message: str | None = None) -> None:
        """Stop following the controls (a newer explorer built with them calls this).

        A pending draw is dropped, and the pyplot figures this explorer's ``update``
        displayed by itself are closed. With ``message`` the shown image is replaced by a
        blank one that says it. :meth:`redraw` still draws on request.
        """
        for w in self._unique_controls():
            try:
                w.unobserve(self._on_change, "value")
            except ValueError:  # not observing it (already detached)
                pass
            ref = _DRIVERS.get(w)
            if ref is not None and ref() is self:
                del _DRIVERS[w]
        self.attached = False
        if self._scheduled is not None and not self._scheduled.done():
            self._scheduled.cancel()
        self._scheduled = None
        _close_pyplot(self._displayed)
        self._displayed = []
        if message:
            self.message = message
            self._set_output(self._blank_png(None, message), message)

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
        try:
            png, problems = self._draw(values, strict=strict, show=True)
        except Exception as exc:
            if strict:
                raise
            # last resort (nothing above should get here): a plain line, not a traceback
            problem = Problem(dict(values), "exception", type(exc), _text(exc))
            png, problems = None, [problem]
            self.message = "This setting cannot be drawn: " + problem.short()
        self.problems = (self.problems + problems)[-200:]
        if png is not None:
            self._set_output(png)
        elif problems and problems[-1].kind == "exception":  # not even a blank image
            self._set_output(None, self.message)

    def _set_output(self, png: bytes | None, text: str = "") -> None:
        """Show ``png`` (or, when None, ``text`` as plain text) as the single output."""
        data = (
            {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<explorer figure>"}
            if png is not None
            else {"text/plain": text}
        )
        self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def _draw(
        self, values: dict[str, Any], *, strict: bool = False, show: bool = False
    ) -> tuple[bytes | None, list[Problem]]:
        """Run ``update(**values)``, render its figure; the PNG and what went wrong.

        With ``strict`` an exception propagates instead of becoming a message figure. With
        ``show`` an ``update`` that returns None displays into :attr:`output` by itself.
        Pyplot figures the call opens are closed as the class notes say.
        """
        problems: list[Problem] = []
        fig = None
        clock = _Clock()
        self.last_timing = clock.laps
        before = {id(f) for f in _pyplot_figures()}
        opened: list[Figure] = []
        displayed = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                try:
                    with mpl.rc_context(ROUND_LIMITS):
                        if show and self._frames is None:  # it may display by itself
                            fig = self._call_captured(values)
                        else:
                            fig = self._call(values)
                finally:
                    opened = [f for f in _pyplot_figures() if id(f) not in before]
                    clock.lap("update")
                problems += [_warning_problem(w, values) for w in caught]
                del caught[:]
                if fig is None:
                    if self._frames is not None:
                        raise TypeError("update returned None here, a Figure before")
                    displayed = True
                    return None, problems
                self._set_banner(fig, "; ".join(dict.fromkeys(p.short() for p in problems)))
                png = self._render(fig)
                clock.lap("render")
                return png, problems + [_warning_problem(w, values) for w in caught]
            except Exception as exc:
                if strict:
                    raise
                problems += [_warning_problem(w, values) for w in caught]
                problems.append(Problem(dict(values), "exception", type(exc), _text(exc)))
                self.message = "This setting cannot be drawn: " + problems[-1].short()
                return self._blank_png(fig, self.message), problems
            finally:
                if not show:  # a sweep: what is on display stays
                    _close_pyplot(opened)
                elif displayed:  # on display now: closed once the next call replaces them
                    _close_pyplot(self._displayed)
                    self._displayed = opened
                else:  # the output now shows this call's image
                    _close_pyplot([*self._displayed, *opened])
                    self._displayed = []

    def _call(self, values: dict[str, Any]) -> Figure | None:
        fig = self.update(**values)
        if fig is not None and not isinstance(fig, Figure):
            raise TypeError(
                f"update must return a matplotlib Figure or None, got {type(fig).__name__}"
                + _figure_hint(fig)
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
        w, h = fig.get_size_inches()
        if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
            raise ValueError(f"update returned a figure of size {w:g} x {h:g} inches")
        dpi = self.width_px / w if self.width_px is not None else fig.dpi
        if not w * dpi * h * dpi <= MAX_PIXELS:
            raise ValueError(
                f"update returned a figure of {w:g} x {h:g} inches: {w * dpi:.0f} x "
                f"{h * dpi:.0f} px at {dpi:g} dpi is too large to show"
            )
        if fig.dpi != dpi:
            fig.set_dpi(dpi)
        if self._frames is None or self._frames.fig is not fig:
            self._frames = FrameRenderer(fig, MIN_TEXT_PX)
        return self._frames.png()

    def _set_banner(self, fig: Figure, text: str) -> None:
        """Show ``text`` in a banner at the top of ``fig`` (hide it when empty).

        The text is drawn as it is: a ``$`` in a message is not the start of mathtext.
        """
        self.message = text
        if self._banner is None or self._banner.figure is not fig:
            self._banner = None  # not the old figure's: it would keep that figure alive
            if not text:
                return
            self._banner = fig.text(
                0.5, 0.995, "", ha="center", va="top", color="0.1", zorder=100,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#fff3c4", "ec": "#b58900"},
                parse_math=False, usetex=False,
            )  # fmt: skip
        self._banner.set_text(text)
        self._banner.set_visible(bool(text))

    def _blank_png(self, fig: Figure | None, text: str) -> bytes | None:
        """A blank image of about the explorer's size that says ``text`` (None if even
        that fails).

        The size is that of ``fig`` (or of the last figure shown) when it is a sane one:
        finite and positive, the height clipped to 0.05-2 times the width, at most 2000
        px wide. The text is plain (never mathtext), at least 12.5 px high, and wrapped
        here (matplotlib's ``wrap=True`` measures the words as mathtext even with
        ``parse_math=False``, and raises on a ``$\\frac$``).
        """
        like = fig if fig is not None else self.figure
        w, h, dpi = 10.8, 3.0, 72.0
        try:
            if like is not None:
                lw, lh = (float(v) for v in like.get_size_inches())
                if np.isfinite(lw) and np.isfinite(lh) and lw > 0 and lh > 0:
                    w, h = lw, float(np.clip(lh, 0.05 * lw, 2 * lw))
                if np.isfinite(like.dpi) and like.dpi > 0:
                    dpi = float(like.dpi)
            dpi = self.width_px / w if self.width_px is not None else min(dpi, 2000 / w)
            if self._blank is None:
                self._blank = Figure()
                self._blank.text(
                    0.5, 0.5, "", ha="center", va="center", color="0.15",
                    parse_math=False, usetex=False,
                )  # fmt: skip
            self._blank.set_size_inches(w, h)
            self._blank.set_dpi(dpi)
            label = self._blank.texts[0]
            size = max(10.0, 12.5 * 72 / dpi)  # points
            label.set_fontsize(size)
            columns = max(20, int(0.9 * w * 72 / (0.6 * size)))  # ~0.6 em a character
            label.set_text("\n".join(textwrap.wrap(text, columns)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a glyph missing from the font
                return render_png(self._blank)
        except Exception:
            return None

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

    def timed_draws(self, positions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Draw every position as a sweep does and time it (nothing is shown; never raises).

        Returns one record per position: ``values``, ``wall_s`` and ``cpu_s`` (the whole
        draw: ``update`` and the render, wall clock and :func:`time.process_time`),
        ``update_s`` and ``render_s`` (CPU seconds of each part; None for a part that did
        not run), ``message`` (the banner or the plain message drawn instead of a figure,
        "" for none) and ``defects`` (the :class:`Problem` texts other than
        ConvergenceWarnings: each is a bug). ``bench/bench_sweep.py`` times every
        explorer of the course this way.
        """
        records = []
        for values in positions:
            self.message = ""
            wall, cpu = time.perf_counter(), time.process_time()
            _, problems = self._draw(dict(values))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            parts = self.last_timing
            records.append(
                {
                    "values": dict(values),
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "update_s": parts["update"][1] if "update" in parts else None,
                    "render_s": parts["render"][1] if "render" in parts else None,
                    "message": self.message,
                    "defects": [str(p) for p in problems if p.defect],
                }
            )
        return records

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


class _Clock:
    """Wall and CPU seconds of consecutive laps: ``laps[name] = (wall, cpu)``."""

    def __init__(self) -> None:
        self.laps: dict[str, tuple[float, float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


def find_explorers(namespace: Mapping[str, Any]) -> dict[str, Explorer]:
    """The :class:`Explorer` objects of a namespace (a notebook's ``globals()``), by name.

    Names starting with ``_`` are left out (the sweep and benchmark code that runs in a
    notebook's kernel keeps its own variables there). The nbval slider sweep
    (``tests/nbval_slider_ends.py``) and the benchmarks (``bench/``) find a notebook's
    explorers this way.
    """
    return {
        name: value
        for name, value in list(namespace.items())
        if not name.startswith("_") and isinstance(value, Explorer)
    }


def _warning_problem(w: warnings.WarningMessage, values: dict[str, Any]) -> Problem:
    return Problem(dict(values), "warning", w.category, _text(w.message))


def _text(obj: object) -> str:
    """``str(obj)``, or a stand-in when even that raises."""
    try:
        return str(obj)
    except Exception:
        return f"<{type(obj).__name__} whose text cannot be shown>"


def _figure_hint(obj: object) -> str:
    """What to return instead of ``obj`` when it holds a figure (an Axes, ``plt.subplots()``)."""
    if isinstance(obj, tuple) and any(isinstance(o, Figure) for o in obj):
        return ": return the figure alone, fig of fig, ax = ..."
    if isinstance(obj, SubFigure):
        return ": return its .figure"
    if isinstance(getattr(obj, "figure", None), (Figure, SubFigure)):
        return ": return ax.figure"
    return ""


#: control -> the explorer it drives (weakly): a new explorer detaches the old one.
_DRIVERS: weakref.WeakKeyDictionary[widgets.Widget, weakref.ref[Explorer]] = (
    weakref.WeakKeyDictionary()
)


def _pyplot_figures() -> list[Figure]:
    """The figures pyplot keeps open ([] while pyplot was never imported)."""
    if "matplotlib.pyplot" not in sys.modules:
        return []
    from matplotlib._pylab_helpers import Gcf

    return [m.canvas.figure for m in Gcf.get_all_fig_managers()]


def _close_pyplot(figures: Iterable[Figure]) -> None:
    """Close ``figures`` in pyplot (those it still holds; the Figure objects stay usable)."""
    figures = list(figures)
    if not figures or "matplotlib.pyplot" not in sys.modules:
        return
    pyplot = sys.modules["matplotlib.pyplot"]
    held = {id(f) for f in _pyplot_figures()}
    for f in figures:
        if id(f) in held:
            pyplot.close(f)


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
