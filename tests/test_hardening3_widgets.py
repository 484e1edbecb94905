"""Issue 18, widget items (1, 12, 13, 14) and ``ladder_limit``: each test failed before.

- 1: an ``update`` that opens a pyplot figure on every move no longer piles them up in
  pyplot (nor shows matplotlib's "More than 20 figures" warning as a banner);
- 12: :meth:`Explorer.redraw` never raises, whatever the text of a warning or exception
  (invalid mathtext) and whatever ``update`` returns (an Axes, None after figures, a figure
  of zero or enormous size, a figure whose title cannot be drawn); each is a plain message;
- 13: running an ``explore`` cell again with the same controls leaves one ``update`` call
  per move;
- 14: ``control_ends`` of a ``SelectionRangeSlider`` are pairs, like its value;
- ``ladder_limit`` of a subnormal is its 1-2-5 end; bad input names the argument.
"""

import base64
import gc
import io
import warnings
import weakref

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import em_helpers as emh
from em_helpers.display.widgets import control_ends, control_sample

YELLOW = [0xFF, 0xF3, 0xC4]  # the banner's face colour


def _shown(ex):
    from PIL import Image

    (out,) = ex.output.outputs
    png = base64.b64decode(out["data"]["image/png"])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


@pytest.fixture
def no_pyplot_figures():
    plt.close("all")
    yield
    plt.close("all")


# ---- 1. pyplot figures opened by update ------------------------------------------------


def test_habitual_pyplot_update_does_not_pile_up_figures(no_pyplot_figures):
    made = []

    def update(k):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, k])
        made.append(weakref.ref(fig))
        return fig

    control = widgets.IntSlider(min=0, max=400)
    ex = emh.explore(update, {"k": control}, width_px=200)
    for k in range(1, 31):  # past matplotlib's 20-figure warning
        control.value = k
        assert len(plt.get_fignums()) == 0, k  # pyplot holds none of them
    assert ex.message == "" and ex.problems == []  # no "More than 20 figures" banner
    assert _shown(ex).shape[1] == 200
    gc.collect()
    alive = [r for r in made if r() is not None]
    assert alive == [made[-1]]  # every earlier figure is freed; the shown one is kept
    assert ex.figure is made[-1]()
    ex.redraw(k=5)  # the figure is still rendered with Agg
    assert len(made) == 32 and ex.message == ""


def test_figures_update_opens_and_does_not_return_are_closed(no_pyplot_figures):
    kept = plt.figure()  # opened elsewhere (an earlier cell): left alone
    fig, ax = emh.new_figure(fast=True)

    def update(k):
        plt.figure()  # a scratch figure, never shown
        ax.set_xlim(0, k + 1)
        return fig

    control = widgets.IntSlider(min=0, max=10)
    emh.explore(update, {"k": control}, width_px=200)
    for k in range(1, 6):
        control.value = k
    assert plt.get_fignums() == [kept.number]

    def raises(k):
        plt.figure()
        raise ValueError("no figure for this one")

    other = widgets.IntSlider(min=0, max=10)
    ex = emh.explore(lambda k: fig if k == 0 else raises(k), {"k": other}, width_px=200)
    other.value = 3
    assert ex.message.endswith("no figure for this one")
    assert plt.get_fignums() == [kept.number]


def test_an_update_that_displays_by_itself_keeps_only_the_figure_on_display(
    no_pyplot_figures,
):
    def update(k):
        fig, ax = plt.subplots()  # displayed by update itself (e.g. IPython's display)
        ax.plot([0, k])

    control = widgets.IntSlider(min=0, max=10)
    ex = emh.explore(update, {"k": control})
    for k in range(1, 8):
        control.value = k
        assert len(plt.get_fignums()) == 1  # the one on display, closed once replaced
    on_display = plt.get_fignums()
    assert ex.check_ends() == 2 and plt.get_fignums() == on_display  # a sweep leaves it
    ex.detach()
    assert plt.get_fignums() == []


# ---- 12. redraw never raises -----------------------------------------------------------


def test_invalid_mathtext_in_warnings_and_exceptions_is_drawn_as_plain_text():
    fig, ax = emh.new_figure(fast=True)
    (line,) = ax.plot([0, 1], [0, 1], color="red", lw=3)

    def update(a):
        line.set_ydata([0, a])
        if a == 1:
            warnings.warn(r"bad $\frac$ here", UserWarning, stacklevel=1)
        if a == 2:
            raise ValueError(r"cannot fit $\frac$")
        return fig

    control = widgets.IntSlider(value=1, min=0, max=2)
    ex = emh.explore(update, {"a": control})  # the first draw (strict) warns: no raise
    assert ex.message == r"UserWarning: bad $\frac$ here"
    shown = _shown(ex)
    assert (shown == YELLOW).all(axis=-1).sum() > 500  # the banner, over the figure
    red = (shown[..., 0] > 200) & (shown[..., 1] < 80) & (shown[..., 2] < 80)
    assert red.sum() > 100  # the figure is drawn, not blanked
    control.value = 2  # an exception with invalid mathtext: no raise
    assert ex.message == r"This setting cannot be drawn: ValueError: cannot fit $\frac$"
    assert (_shown(ex) < 100).all(axis=-1).sum() > 50  # the message is in the image
    assert [p.category for p in ex.defects] == [UserWarning, ValueError]


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("str() fails too")


def _degenerate(kind):
    fig, ax = emh.new_figure(fast=True)
    ax.plot([0, 1])

    def update(k):
        if k == 0:
            return fig
        if kind == "axes":
            return ax
        if kind == "subplots":
            return fig, ax
        if kind == "array":
            return np.zeros(3)
        if kind == "none":
            return None
        if kind == "zero size":
            fig.set_size_inches(0, 3)
        if kind == "enormous":
            fig.set_size_inches(4, 4000)  # 820 x 820000 px
        if kind == "mathtext title":
            ax.set_title(r"$\frac$")
        if kind == "unprintable":
            raise _Unprintable()
        if kind == "recursion":
            return update(k)
        return fig

    return update


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("axes", "got Axes: return ax.figure"),
        ("subplots", "got tuple: return the figure alone"),
        ("array", "got ndarray"),
        ("none", "update returned None here, a Figure before"),
        ("zero size", "update returned a figure of size 0 x 3 inches"),
        ("enormous", "820 x 820000 px"),
        ("mathtext title", r"invalid mathtext \frac: Expected \frac{num}{den}"),
        ("unprintable", "_Unprintable: <_Unprintable whose text cannot be shown>"),
        ("recursion", "RecursionError"),
    ],
)
def test_whatever_update_returns_redraw_shows_a_plain_message(kind, says):
    control = widgets.IntSlider(value=0, min=0, max=1)
    ex = emh.explore(_degenerate(kind), {"k": control})
    good = _shown(ex)
    control.value = 1  # never raises
    assert ex.message.startswith("This setting cannot be drawn: ") and says in ex.message
    blank = _shown(ex)
    assert blank.shape[1] == good.shape[1] and blank.shape[0] <= 2 * blank.shape[1]
    assert (blank == 255).all(axis=-1).mean() > 0.9
    assert ex.defects and ex.defects[-1].kind == "exception"
    with pytest.raises(emh.SweepError, match="k': 1"):
        ex.check(iter([{"k": 1}]))  # and a test sweep reports it


def test_a_changed_set_title_is_redrawn():
    fig, ax = emh.new_figure(fast=True)
    ax.plot([0, 1])

    def update(k):
        ax.set_title("x" * (1 + 30 * k))
        return fig

    control = widgets.IntSlider(value=0, min=0, max=1)
    ex = emh.explore(update, {"k": control})
    short = _shown(ex)
    control.value = 1  # same limits: the cached static frame had the old title
    title_rows = slice(0, int(0.12 * short.shape[0]))
    assert (_shown(ex)[title_rows] < 100).all(axis=-1).sum() > 2 * (
        (short[title_rows] < 100).all(axis=-1).sum()
    )


# ---- 13. one explorer per control ------------------------------------------------------


def test_rerunning_an_explore_cell_leaves_one_update_per_move():
    control = widgets.IntSlider(min=0, max=10)  # built in another cell
    calls = []
    explorers = [
        emh.explore(lambda k, run=run: calls.append((run, k)), {"k": control})
        for run in range(3)  # the explore cell run three times
    ]
    calls.clear()
    control.value = 4
    assert calls == [(2, 4)]
    assert [e.attached for e in explorers] == [False, False, True]
    assert "newer explorer" in explorers[0].message
    assert (_shown(explorers[1]) < 100).all(axis=-1).sum() > 50  # it says so
    explorers[2].detach()
    control.value = 5
    assert calls == [(2, 4)]


def test_a_control_under_two_names_draws_once_per_move():
    control = widgets.IntSlider(min=0, max=10)
    calls = []
    emh.explore(lambda a, b: calls.append((a, b)), {"a": control, "b": control})
    control.value = 3
    assert calls[1:] == [(3, 3)]


# ---- 14. SelectionRangeSlider ----------------------------------------------------------


def test_selection_range_slider_ends_and_samples_are_pairs():
    s = widgets.SelectionRangeSlider(options=[("low", 1), ("mid", 2), ("high", 3)], index=(0, 1))
    assert control_ends(s) == [(1, 3), (1, 1), (3, 3)]
    rng = np.random.default_rng(0)
    for _ in range(40):
        lo, hi = control_sample(s, rng)
        assert lo in (1, 2, 3) and hi in (1, 2, 3) and lo <= hi
    seen = []

    def update(r):
        lo, hi = r  # the value update receives is a pair
        seen.append(r)

    ex = emh.explore(update, {"r": s})
    assert ex.check_ends() == 3 and ex.sweep(n_random=10) == 13
    assert all(isinstance(r, tuple) and len(r) == 2 for r in seen)
    assert control_ends(widgets.Dropdown(options=[])) == [None]  # its value


# ---- ladder_limit ----------------------------------------------------------------------


def test_ladder_limit_of_subnormals():
    assert emh.ladder_limit(1e-320) == 1e-320
    assert emh.ladder_limit(3e-321) == 5e-321
    assert emh.ladder_limit(5e-324) == 5e-324  # the smallest double
    assert emh.ladder_limit(1e308) == 1e308


_PREVIOUS = {1: (5, -1), 2: (1, 0), 5: (2, 0)}  # the rung below f*10^k: f' * 10^(k + dk)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=5e-324, max_value=1e308))
def test_ladder_limit_is_the_smallest_rung_at_or_above(value):
    top = emh.ladder_limit(value)
    mantissa, exponent = f"{top:.0e}".split("e")
    assert float(f"{mantissa}e{exponent}") == top and int(mantissa) in (1, 2, 5)
    f, dk = _PREVIOUS[int(mantissa)]
    assert top >= value > float(f"{f}e{int(exponent) + dk}")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"value": float("inf")}, ValueError, "value must be positive and finite"),
        ({"value": float("nan")}, ValueError, "value must be positive and finite"),
        ({"value": -1e-320}, ValueError, "value must be positive and finite"),
        ({"value": 1.5e308}, ValueError, "value=1.5e"),
        ({"value": "5"}, TypeError, "value must be a real number"),
        ({"value": True}, TypeError, "value must be a real number"),
        ({"value": 3, "shown": 0.0}, ValueError, "shown must be positive"),
        ({"value": 3, "shown": "5"}, TypeError, "shown must be a real number"),
        ({"value": 3, "keep": 0}, ValueError, r"keep must be in \(0, 1\]"),
    ],
)
def test_ladder_limit_bad_input_names_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        emh.ladder_limit(**kwargs)


def test_an_explorer_whose_first_draw_fails_does_not_follow_the_controls():
    control = widgets.IntSlider(min=0, max=10)
    calls = []

    def update(k):
        calls.append(k)
        raise ValueError("a bug in the cell")

    with pytest.raises(ValueError, match="a bug in the cell"):
        emh.explore(update, {"k": control})
    control.value = 3  # the failed explorer is not attached
    assert calls == [0]
    ok = emh.explore(lambda k: calls.append(k), {"k": control})  # the fixed cell
    control.value = 4
    assert calls == [0, 3, 4] and ok.attached
