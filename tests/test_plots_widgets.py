"""Convergence plots and the widget explorer."""

import asyncio
import base64
import io
import warnings

import ipywidgets as widgets
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from models import Exponential, Mixture

import em_helpers as emh


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6])
def test_plot_convergence_any_dimension(d):
    rate = np.linspace(0.3, 0.6, d)
    target = np.arange(1, d + 1, dtype=float)
    res = emh.run_em(
        lambda t: t,
        lambda t: target + rate * (t - target),
        np.zeros(d),
        loglik=lambda t: -np.sum((t - target) ** 2),
        names=[f"a{j}" for j in range(d)],
    )
    fig = emh.plot_convergence(res, reference=target, title="test")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:d] == res.names and "published" in labels
    # the slowest component sets the rate
    assert f"{rate.max():.3f}" in " ".join(t.get_text() for t in fig.axes[2].texts)
    fig.savefig(io.BytesIO(), format="png")  # renders without error


def test_plot_convergence_scales_mixed_magnitudes_and_reuses_axes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(50, 1, 100), rng.normal(80, 1, 150)])
    model = Mixture(x)
    res = emh.run_em(model.e_step, model.m_step, [45.0, 85.0, 0.5], loglik=model.loglik)
    fig, axes = emh.new_figure(3)
    out = emh.plot_convergence(res, ax=axes)
    assert out is fig
    assert "hat" in axes[0].get_ylabel()  # divided by theta-hat: mu ~ 60 next to pi ~ 0.4
    assert len(axes[0].lines) == 3


def test_panels_update_in_place():
    model = Exponential()
    fig, axes = emh.new_figure(3, fast=True)
    panels = emh.ConvergencePanels(axes, ["theta"], reference=0.2)
    n_artists = [len(a.get_children()) for a in axes]
    for start in (3.0, 0.01):
        res = emh.run_em(model.e_step, model.m_step, start, loglik=model.loglik)
        panels.update(res)
        np.testing.assert_array_equal(panels.path_lines[0].get_ydata(), res.thetas[:, 0])
        gap = (res.logliks[-1] - res.logliks)[:-1]  # the panel shows log10 of the gap
        keep = gap > 1e-13 * (1 + abs(res.logliks[-1]))
        np.testing.assert_array_equal(panels.ll_line.get_ydata(), np.log10(gap[keep]))
        lo, hi = axes[0].get_ylim()
        assert lo <= res.thetas.min() and hi >= res.thetas.max()  # rescaled
    assert [len(a.get_children()) for a in axes] == n_artists
    assert emh.render_png(fig)[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="parameters"):
        panels.update(emh.run_em(lambda t: t, lambda t: t, [0.1, 0.2]))


def test_panels_can_leave_one_out():
    model = Exponential()
    res = emh.run_em(model.e_step, model.m_step, 1.0, loglik=model.loglik)
    fig, axes = emh.new_figure(2, fast=True)
    panels = emh.ConvergencePanels([axes[0], None, axes[1]], ["theta"])
    panels.update(res)
    assert not hasattr(panels, "ll_line") and len(axes[1].lines) == 2
    emh.render_png(fig)
    panels.clear("nothing to show")
    assert all(len(line.get_xdata()) == 0 for a in axes for line in a.lines)
    assert panels.err_title.get_text() == "nothing to show"


def test_plot_without_loglik_and_bad_args():
    model = Exponential()
    res = emh.run_em(model.e_step, model.m_step, 1.0)
    fig = emh.plot_convergence(res)
    assert fig.axes[1].texts[0].get_text() == "no loglik given"
    with pytest.raises(ValueError, match="reference"):
        emh.plot_convergence(res, reference=[1, 2])
    with pytest.raises(TypeError, match="EMResult"):
        emh.plot_convergence(res.thetas)
    with pytest.raises(ValueError, match="three"):
        emh.plot_convergence(res, ax=fig.axes[:2])


def test_explorer_shows_the_returned_figure():
    fig, ax = emh.new_figure(fast=True)
    ex = emh.explore(lambda a: fig, {"a": widgets.FloatSlider()})
    (out,) = ex.output.outputs  # one PNG, also outside IPython
    png = base64.b64decode(out["data"]["image/png"])
    assert png[:4] == b"\x89PNG"
    assert _pixels(png).shape[1] == emh.Explorer.__init__.__kwdefaults__["width_px"]
    assert ex.check_ends() == 2


def test_explorer_calls_update_and_visits_every_end():
    calls = []
    controls = {
        "a": widgets.FloatSlider(value=1, min=0, max=2),
        "b": widgets.IntSlider(value=3, min=1, max=5),
        "kind": widgets.Dropdown(options=[("one", 1), ("two", 2)], value=1),
        "flag": widgets.Checkbox(value=False),
        "log": widgets.FloatLogSlider(value=1, base=10, min=-2, max=1),
    }
    ex = emh.explore(lambda **kw: calls.append(kw), controls)
    assert calls == [{"a": 1.0, "b": 3, "kind": 1, "flag": False, "log": 1.0}]  # first draw
    controls["a"].value = 1.5
    assert calls[-1]["a"] == 1.5
    assert ex.check_ends() == 10
    visited = calls[2:]
    assert {c["a"] for c in visited} == {0, 1.5, 2}
    assert {c["b"] for c in visited} == {1, 3, 5}
    assert {c["kind"] for c in visited} == {1, 2}
    assert {c["log"] for c in visited} == {0.01, 1.0, 10.0}  # values, not exponents


def test_explorer_check_ends_fails_on_warning_and_error():
    def update(a):
        if a == 0:
            warnings.warn("divide by zero", RuntimeWarning, stacklevel=1)
        if a == 2:
            raise ZeroDivisionError("boom")

    ex = emh.explore(update, {"a": widgets.FloatSlider(value=1, min=0, max=2)})
    with pytest.raises(RuntimeError, match=r"'a': 0.*divide by zero"):
        ex.check_ends()
    ex2 = emh.explore(update, {"a": widgets.FloatSlider(value=1, min=1, max=2)})
    with pytest.raises(RuntimeError, match=r"'a': 2.*boom"):
        ex2.check_ends()


def test_explore_raises_outside_ipython_on_first_draw():
    def update(a):
        raise ValueError("bad start")

    with pytest.raises(ValueError, match="bad start"):
        emh.explore(update, {"a": widgets.FloatSlider()})
    with pytest.raises(ValueError, match="at least one"):
        emh.explore(update, {})


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_frame_renderer_skips_static_redraw_and_matches_full_render():
    def figure(xy, text):
        fig, ax = emh.new_figure(fast=True)
        (line,) = ax.plot(*xy, color="red", lw=3, label="line")
        ax.legend(loc="upper left")
        title = emh.axes_title(ax, text)
        ax.set_xlim(0, 2)
        ax.set_ylim(0, 2)
        return fig, ax, line, title

    fig, ax, line, title = figure(([0, 1], [0, 1]), "first")
    frames = emh.FrameRenderer(fig)
    frames.png()
    line.set_data([0, 1.5], [1.5, 0])  # same limits: only the dynamic layer is redrawn
    title.set_text("second")
    fast = _pixels(frames.png())
    assert (frames.frames, frames.full_draws) == (2, 1)
    full = _pixels(emh.render_png(figure(([0, 1.5], [1.5, 0]), "second")[0]))
    assert fast.shape == full.shape
    assert np.any(fast != full, axis=-1).mean() < 1e-3  # the same picture
    red = (fast[..., 0] > 200) & (fast[..., 1] < 80) & (fast[..., 2] < 80)
    assert red.sum() > 100  # the moved line is there
    again = _pixels(emh.render_png(fig))  # savefig still draws every artist afterwards
    assert np.any(again != full, axis=-1).mean() < 1e-3
    ax.set_xlim(0, 3)  # a limit changed: the static layer is redrawn
    frames.png()
    assert frames.full_draws == 2
    ax.set_xlim(0, 2)  # back: that static layer was kept
    line.set_data([0, 1], [0, 1])
    title.set_text("first")
    back = _pixels(frames.png())
    assert frames.full_draws == 2
    first = _pixels(emh.render_png(figure(([0, 1], [0, 1]), "first")[0]))
    assert np.any(back != first, axis=-1).mean() < 1e-3
    frames.cache = 2  # keep two: 0..4 is new, 0..2 kept, 0..3 (least recently used) out
    for hi, full_draws in ((4, 3), (2, 3), (3, 4)):
        ax.set_xlim(0, hi)
        frames.png()
        assert frames.full_draws == full_draws, hi


def test_autoscale_keeps_limits_while_the_data_fit():
    fig, ax = emh.new_figure(fast=True)
    (line,) = ax.plot([0, 10], [0, 10])
    emh.autoscale(ax)
    first = ax.get_xlim(), ax.get_ylim()
    line.set_data([1, 9], [1, 9])  # inside, fills > 40%: kept
    emh.autoscale(ax)
    assert (ax.get_xlim(), ax.get_ylim()) == first
    line.set_data([2, 4], [2, 4])  # fills < 40%: refitted
    emh.autoscale(ax)
    assert ax.get_xlim()[1] < first[0][1]
    line.set_data([0, 100], [0, 100])  # leaves the limits: refitted (autoscale still on)
    emh.autoscale(ax)
    assert ax.get_xlim()[1] >= 100 and ax.get_autoscalex_on()


def test_explorer_snaps_fast_figure_limits_to_ticks():
    fig, ax = emh.new_figure(fast=True)
    (line,) = ax.plot([], [])

    def update(n):
        line.set_data(np.arange(n), np.linspace(0.0656, 0.3386, n))
        emh.autoscale(ax)
        return fig

    emh.explore(update, {"n": widgets.IntSlider(value=12, min=2, max=40)})
    for lim, ticks in ((ax.get_xlim(), ax.get_xticks()), (ax.get_ylim(), ax.get_yticks())):
        assert np.isclose(ticks, lim[0]).any() and np.isclose(ticks, lim[1]).any(), (lim, ticks)


def test_frame_renderer_redraws_patches_and_collections():
    fig, ax = emh.new_figure(fast=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    bars = ax.bar([0.5], [0.2], width=0.3, color="red")
    frames = emh.FrameRenderer(fig)
    frames.png()
    bars[0].set_height(0.9)
    ax.fill_between([0, 0.2], [0, 0], [0.5, 0.5], color="blue")
    pixels = _pixels(frames.png())
    assert frames.full_draws == 1
    full = _pixels(emh.render_png(fig))
    # the same picture but where the new patches cross the axes frame (drawn on top)
    assert np.any(pixels != full, axis=-1).mean() < 5e-3
    blue = (pixels[..., 2] > 200) & (pixels[..., 0] < 80)
    assert blue.mean() > 0.02  # the new fill is in the frame


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        (widgets.Dropdown(options={"one": 1, "two": 2}), [1, 2]),
        (widgets.Dropdown(options=[("one", 1), ("two", 2)]), [1, 2]),
        (widgets.RadioButtons(options=["a", "b"]), ["a", "b"]),
        (widgets.ToggleButtons(options={"x": 0.5, "y": 2.0}), [0.5, 2.0]),
        (widgets.SelectMultiple(options=["x", "y"]), [(), ("x",), ("y",), ("x", "y")]),
        (widgets.IntRangeSlider(min=0, max=10, value=(2, 5)), [(0, 10), (0, 0), (10, 10)]),
        (widgets.FloatLogSlider(base=10, min=-2, max=1), [0.01, 10.0]),
        (widgets.IntSlider(min=1, max=5), [1, 5]),
        (widgets.BoundedFloatText(min=-1, max=1), [-1, 1]),
        (widgets.ToggleButton(value=True), [False, True]),
        (widgets.Checkbox(), [False, True]),
        (widgets.Text(value="abc"), ["", "abc"]),
    ],
)
def test_control_ends_are_values_update_receives(control, expected):
    from em_helpers.display.widgets import control_ends

    assert control_ends(control) == expected


def test_explorer_sweeps_values_not_labels():
    seen = []
    controls = {
        "k": widgets.Dropdown(options={"one": 1, "two": 2}),
        "s": widgets.SelectMultiple(options=["x"]),
        "r": widgets.IntRangeSlider(min=0, max=3, value=(1, 2)),
        "b": widgets.ToggleButton(),
    }
    ex = emh.explore(lambda **kw: seen.append(kw), controls)
    ex.check_ends()
    assert {c["k"] for c in seen} == {1, 2}
    assert {c["s"] for c in seen} == {(), ("x",)}
    assert {c["r"] for c in seen} == {(0, 3), (0, 0), (3, 3), (1, 2)}
    assert {c["b"] for c in seen} == {False, True}


@pytest.mark.parametrize(
    ("update", "controls", "match"),
    [
        (lambda a: "a figure", {"a": widgets.FloatSlider()}, "must return a matplotlib Figure"),
        (lambda a: None, [widgets.FloatSlider()], "controls must be a dict"),
        (lambda a: None, {"a": 0.5}, r"controls\['a'\] must be an ipywidgets value widget"),
        ("not callable", {"a": widgets.FloatSlider()}, "update must be callable"),
    ],
)
def test_explore_bad_input_names_the_argument(update, controls, match):
    with pytest.raises(TypeError, match=match):
        emh.explore(update, controls)


def _explorer_figure():
    fig, ax = emh.new_figure(3, width=3.6, height=3.0, fast=True)
    (line,) = ax[0].plot([0, 1], [0, 1])
    return fig, line


def _shown(ex):
    (out,) = ex.output.outputs
    return _pixels(base64.b64decode(out["data"]["image/png"]))


def test_explorer_draws_warnings_as_a_banner_and_records_them():
    fig, line = _explorer_figure()

    def update(a):
        line.set_ydata([0, a])
        if a > 1:
            warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        if a < 0.5:
            emh.run_em(lambda t: t, lambda t: 0.5 * t + 1, 0.0, max_iter=3)
        return fig

    controls = {"a": widgets.FloatSlider(value=1, min=0, max=2)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes the explorer as a warning
        ex = emh.explore(update, controls)
        plain = _shown(ex)
        assert ex.message == "" and ex.problems == []
        controls["a"].value = 2
        assert ex.message == "RuntimeWarning: invalid value encountered in divide"
        assert ex._banner.get_visible() and ex._banner.get_text() == ex.message
        assert ex.defects == ex.problems and ex.problems[0].values == {"a": 2.0}
        yellow = (_shown(ex) == [0xFF, 0xF3, 0xC4]).all(axis=-1)
        assert yellow.sum() > 500 and not (plain == [0xFF, 0xF3, 0xC4]).all(axis=-1).any()
        controls["a"].value = 0.1  # hits max_iter: a plain state, not a defect
        assert ex.message == "EM did not converge in max_iter=3 iterations"
        assert len(ex.problems) == 2 and len(ex.defects) == 1
        controls["a"].value = 1
        assert ex.message == "" and not ex._banner.get_visible()
        assert np.any(_shown(ex) != plain, axis=-1).mean() < 1e-3  # banner gone


def test_explorer_shows_a_message_instead_of_a_traceback():
    fig, line = _explorer_figure()

    def update(a):
        if a == 0:
            raise ValueError("EM iteration 1: the step returned non-finite values")
        line.set_ydata([0, a])
        return fig

    controls = {"a": widgets.FloatSlider(value=1, min=0, max=2)}
    ex = emh.explore(update, controls)
    good = _shown(ex)
    controls["a"].value = 0  # no exception escapes
    assert ex.message == (
        "This setting cannot be drawn: ValueError: EM iteration 1: the step returned "
        "non-finite values"
    )
    blank = _shown(ex)
    assert blank.shape == good.shape and (blank == 255).all(axis=-1).mean() > 0.95
    (problem,) = ex.defects
    assert problem.kind == "exception" and problem.category is ValueError
    controls["a"].value = 2  # the next good position draws the figure again
    assert ex.message == "" and np.any(_shown(ex) != blank)


def test_sweep_finds_pairwise_and_random_defects_and_names_the_values():
    def update(a, b, c):
        if a == 2 and b == -1:  # only two controls at their ends together
            np.float64(1.0) / np.float64(0.0)  # RuntimeWarning
        if 0.4 < c < 0.6 and a < 1:  # an interior region: only random positions find it
            raise ValueError("emptied component")

    controls = {
        "a": widgets.FloatSlider(value=1, min=0, max=2, step=0.1),
        "b": widgets.IntSlider(value=0, min=-1, max=1),
        "c": widgets.FloatSlider(value=0, min=0, max=1, step=0.05),
    }
    ex = emh.explore(update, controls)
    assert ex.check_ends() == 6  # no single end fails
    with pytest.raises(emh.SweepError if hasattr(emh, "SweepError") else RuntimeError) as info:
        ex.sweep(n_random=40, seed=1)
    failures = info.value.failures
    assert info.value.tried == 6 + 12 + 40
    pair = [p for p in failures if p.category is RuntimeWarning]
    assert len(pair) >= 1 and all(p.values["a"] == 2 and p.values["b"] == -1 for p in pair)
    assert any(p.category is ValueError for p in failures)
    assert "'a': 2" in str(info.value) and "divide by zero" in str(info.value)
    # reproducible: the same seed visits the same positions
    assert list(ex.random_positions(5, seed=3)) == list(ex.random_positions(5, seed=3))
    assert ex.problems == []  # sweeps do not count as what the reader saw


def test_sweep_caps_pairwise_ends():
    controls = {k: widgets.IntSlider(value=1, min=0, max=2) for k in "abcdef"}
    ex = emh.explore(lambda **kw: None, controls)
    assert len(list(ex.pair_positions())) == 15 * 4
    assert ex.sweep(n_random=0, max_pairs=10) == 12 + 10
    assert ex.sweep(n_random=3, max_pairs=None) == 12 + 60 + 3


def test_control_sample_stays_in_range_and_on_the_grid():
    from em_helpers.display.widgets import control_sample

    rng = np.random.default_rng(0)
    log = widgets.FloatLogSlider(base=10, min=-2, max=1, step=0.5)
    ints = widgets.IntSlider(min=3, max=9)
    floats = widgets.FloatSlider(min=-1, max=1, step=0.25)
    drop = widgets.Dropdown(options={"x": 1, "y": 2})
    for _ in range(50):
        assert np.log10(control_sample(log, rng)) * 2 % 1 == pytest.approx(0, abs=1e-9)
        v = control_sample(ints, rng)
        assert isinstance(v, int) and 3 <= v <= 9
        assert control_sample(floats, rng) * 4 % 1 == 0
        assert control_sample(drop, rng) in (1, 2)


def test_latest_value_wins_inside_an_event_loop():
    drawn = []
    control = widgets.IntSlider(value=0, min=0, max=100)
    ex = emh.explore(lambda a: drawn.append(a), {"a": control})

    async def messages(turns_between):
        for v in range(1, 21):  # slider messages read one per turn of the kernel's loop
            control.value = v
            for _ in range(turns_between):
                await asyncio.sleep(0)
        while ex._scheduled is not None:
            await asyncio.sleep(0)

    asyncio.run(messages(1))
    assert drawn == [0, 20]  # the queued positions 1..19 are never drawn
    asyncio.run(messages(ex.settle_turns + 1))  # the loop idles between messages: each drawn
    assert drawn == [0, 20, *range(1, 21)]

    async def flushed():
        control.value = 50
        ex.flush()  # draws at once, and the pending draw is dropped
        await asyncio.sleep(0.01)

    asyncio.run(flushed())
    assert drawn[-2:] == [20, 50] and ex._scheduled is None


def test_encode_png_round_trips_opaque_and_transparent_images():
    from PIL import Image

    from em_helpers.display.widgets import encode_png

    rng = np.random.default_rng(0)
    for opaque in (True, False):
        rgba = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
        if opaque:
            rgba[..., 3] = 255
        image = Image.open(io.BytesIO(encode_png(rgba)))
        assert image.mode == ("RGB" if opaque else "RGBA")
        np.testing.assert_array_equal(np.asarray(image.convert("RGBA")), rgba)
    with pytest.raises(ValueError, match="rgba"):
        encode_png(rgba[..., :3])


def test_explorer_image_fills_the_output_with_legible_text():
    fig, axes = emh.new_figure(3, width=3.6, height=3.0, fast=True)
    emh.ConvergencePanels([axes[1], None, axes[2]], ["a", "b"]).update(
        emh.run_em(lambda t: t, lambda t: 0.5 * t + 0.25, [0.1, 0.9], names=["a", "b"])
    )
    # "small" legends are 8.3 pt: 9.6 px at 820 px wide (83 dpi), 9 px at 777 px
    sizes = {t: t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()}
    assert min(sizes.values()) * (820 / 10.8) / 72 < 10
    ex = emh.explore(lambda a: fig, {"a": widgets.FloatSlider()})
    # shown at 100% in JupyterLab's 844-px output area (1280-px window, file browser open)
    assert _shown(ex).shape[1] == 820
    assert ex.smallest_text_px() >= 10  # enlarged to the floor
    assert 10 <= min(t.get_fontsize() for t in sizes) * fig.dpi / 72 < 10.01
    assert max(t.get_fontsize() for t in sizes) == max(sizes.values())  # larger kept
    small = emh.explore(lambda a: fig, {"a": widgets.FloatSlider()}, width_px=500)
    assert _shown(small).shape[1] == 500 and small.smallest_text_px() >= 10
    # tick labels made after the first frame (new limits, more ticks) are floored too
    fig.axes[1].set_xlim(0, 1000)
    small.redraw()
    labels = [t for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert labels and min(t.get_fontsize() for t in labels) * fig.dpi / 72 >= 10 - 1e-9


def test_explorer_floors_dynamic_texts_on_every_frame():
    fig, ax = emh.new_figure(fast=True)
    note = ax.text(0.5, 0.5, "", fontsize=5)

    def update(k):
        note.set_text(f"k = {k}")
        for t in ax.texts[1:]:
            t.remove()
        ax.text(0.1, 0.1, "new", fontsize=4)  # made by this call: dynamic
        return fig

    slider = widgets.IntSlider(value=0, max=3)
    ex = emh.explore(update, {"k": slider}, width_px=400)
    for k in (1, 2):
        slider.value = k
        assert ex._frames.full_draws == 1  # limits unchanged: cached frames
        assert ex.smallest_text_px() >= 10


def test_find_explorers_and_timed_draws():
    from em_helpers.display.widgets import find_explorers

    fig, ax = emh.new_figure(fast=True)
    (line,) = ax.plot([0, 1], [0, 1])

    def update(a):
        if a == 3:
            raise ValueError("a = 3 is not drawable")
        if a == 2:
            warnings.warn("EM did not converge in max_iter=7 iterations", emh.ConvergenceWarning, 2)
        line.set_ydata([0, a])
        return fig

    slider = widgets.IntSlider(value=0, max=3)
    ex = emh.explore(update, {"a": slider})
    space = {"explorer": ex, "_private": ex, "other": 5, "fig": fig}
    assert find_explorers(space) == {"explorer": ex}
    shown = ex.output.outputs
    records = ex.timed_draws([{"a": a} for a in range(4)])
    assert ex.output.outputs == shown and slider.value == 0  # nothing shown, nothing moved
    assert [r["values"] for r in records] == [{"a": a} for a in range(4)]
    for r in records:
        assert r["cpu_s"] >= 0 and r["wall_s"] > 0 and r["update_s"] is not None
    assert records[0]["render_s"] is not None and records[3]["render_s"] is None
    assert records[1]["message"] == "" and records[1]["defects"] == []
    assert records[2]["message"] == "EM did not converge in max_iter=7 iterations"
    assert records[2]["defects"] == []  # a ConvergenceWarning is a state, not a defect
    assert "a = 3 is not drawable" in records[3]["message"]
    assert records[3]["defects"] and "ValueError" in records[3]["defects"][0]
    assert set(ex.last_timing) == {"update"}


# ---- budgeted_em (issue 22): plain EM under a budget, SQUAREM for the end point ---------


def _linear(rate, target):
    """An EM map with a known rate: theta -> target + rate (theta - target)."""
    target = np.asarray(target, dtype=float)
    return (lambda t: t), (lambda t: target + rate * (t - target))


def test_budgeted_em_stops_plain_em_and_finds_the_limit():
    e, m = _linear(np.array([0.99, 0.5]), [2.0, -1.0])
    run = emh.budgeted_em(e, m, [0.0, 0.0], max_iter=60, tol=1e-8, names=["a", "b"])
    assert not run.converged and run.em.n_iter == 60 and run.em.method == "em"
    assert run.em.thetas.shape == (61, 2)  # EM's own path, as far as it got
    assert run.finish.method == "squarem" and run.finish.converged
    np.testing.assert_allclose(run.theta, [2.0, -1.0], rtol=1e-8)
    np.testing.assert_allclose(run.em.theta, run.em.thetas[-1])
    # the estimate of the iterations still needed is what plain EM then takes
    full = emh.run_em(e, m, [0.0, 0.0], max_iter=100_000, tol=1e-8)
    assert full.converged
    assert abs(60 + run.more - full.n_iter) <= 3, (run.more, full.n_iter)
    assert abs(run.rate - 0.99) < 1e-9 and run.rate == emh.convergence_rate(run.em)
    assert abs(run.limit_rate - 0.99) < 1e-6  # the Jacobian's spectral radius at the limit
    assert run.message == (
        f"EM stopped after 60 iterations (rate ρ = {run.limit_rate:.4g} near the limit, "
        f"about {run.more:,} more needed); the fit shown is SQUAREM's limit"
    )
    assert run.note == (
        f"EM stopped after 60 iterations\n(ρ = {run.limit_rate:.4g} near the limit: about "
        f"{run.more:,} more)"
    )


def test_budgeted_em_counts_with_the_rate_at_the_limit_not_on_the_path():
    # a scalar map whose rate is 0.9995 far from its fixed point 1 and 0.9 near it
    def m(t):
        return 1.0 + (0.9 + 0.0995 * np.tanh(abs(t - 1.0) / 5)) * (t - 1.0)

    run = emh.budgeted_em(lambda t: t, m, 60.0, max_iter=40, tol=1e-8)
    assert run.em.scalar and not run.converged and abs(run.theta - 1.0) < 1e-7
    assert run.rate > 0.999 and abs(run.limit_rate - 0.9) < 1e-4
    assert run.more == int(
        np.ceil(np.log(1e-8 / abs(run.em.theta - run.theta)) / np.log(run.limit_rate))
    )
    assert "ρ = 0.9 near the limit" in run.message


def test_budgeted_em_converged_run_is_plain_em():
    e, m = _linear(0.5, [1.0])
    run = emh.budgeted_em(e, m, [0.0], max_iter=500, tol=1e-10)
    ref = emh.run_em(e, m, [0.0], max_iter=500, tol=1e-10)
    assert run.converged and run.finish is None and run.more is None
    assert run.message == run.note == ""
    np.testing.assert_array_equal(run.em.thetas, ref.thetas)
    np.testing.assert_array_equal(run.theta, ref.theta)


def test_budgeted_em_work_budget_and_bad_arguments():
    e, m = _linear(0.999, [1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning leaks out
        run = emh.budgeted_em(e, m, [0.0], max_iter=500, work=1e6, size=20_000)
    assert run.em.n_iter == 50  # work / size
    assert emh.budgeted_em(e, m, [0.0], work=1e6, size=1e6).em.n_iter == 20  # at least 20
    with pytest.raises(ValueError, match="max_iter"):
        emh.budgeted_em(e, m, [0.0], max_iter=0)
    with pytest.raises(ValueError, match="work and size"):
        emh.budgeted_em(e, m, [0.0], work=1e6)
    with pytest.raises(ValueError, match="work and size"):
        emh.budgeted_em(e, m, [0.0], work=-1.0, size=10)
    with pytest.raises(TypeError, match="size"):
        emh.budgeted_em(e, m, [0.0], work=1.0, size="10")
    with pytest.raises(TypeError, match="accelerate"):
        emh.budgeted_em(e, m, [0.0], accelerate="squarem")


def test_budgeted_em_when_squarem_does_not_finish_either():
    # theta -> theta - theta^3 / 10 creeps to 0 sublinearly: neither method gets there fast
    run = emh.budgeted_em(lambda t: t, lambda t: t - t**3 / 10, [1.0], max_iter=30,
                          finish_iter=2, tol=1e-10, scale=1.0)  # fmt: skip
    assert not run.converged and not run.finish.converged and run.more is None
    np.testing.assert_array_equal(run.theta, run.em.theta)  # EM's last iterate
    assert "SQUAREM did not reach the limit either" in run.message
    assert run.note.endswith(f"(ρ = {run.rate:.4g} on its path; no limit found)")


def test_panels_measure_a_budgeted_run_against_its_limit():
    e, m = _linear(np.array([0.99, 0.6]), [2.0, -1.0])
    loglik = lambda t: -float(np.sum((t - [2.0, -1.0]) ** 2))  # noqa: E731
    fig, axes = emh.new_figure(3, fast=True)
    panels = emh.ConvergencePanels(axes, ["a", "b"], sticky=True)
    panels.path_title.set_text("my title")
    run = emh.budgeted_em(e, m, [0.0, 0.0], max_iter=40, tol=1e-8, loglik=loglik)
    panels.update(run)
    te, le = panels.err_line.get_data()
    assert te[-1] == 40  # the last iterate too: its distance to the limit is not 0
    np.testing.assert_allclose(
        le, np.log10(np.linalg.norm(run.em.thetas - [2.0, -1.0], axis=1)), rtol=1e-6
    )
    slopes = np.diff(le[20:])
    np.testing.assert_allclose(slopes, np.log10(0.99), rtol=1e-3)  # straight to the end
    tg, lg = panels.ll_line.get_data()
    assert tg[-1] == 40
    np.testing.assert_allclose(lg, np.log10(run.loglik - run.em.logliks), rtol=1e-6)
    assert panels.path_title.get_text() == run.note
    converged = emh.budgeted_em(e, m, [2.0, -1.0 + 1e-9], max_iter=400, tol=1e-8)
    assert converged.converged
    panels.update(converged)
    assert panels.path_title.get_text() == "my title"  # its own title back
    with pytest.raises(TypeError, match="EMResult or a BudgetedRun"):
        panels.update(run.theta)


def test_sweep_budget_keeps_the_ends_and_a_prefix_of_the_rest():
    import time

    def update(a, b):
        time.sleep(0.02)

    controls = {k: widgets.IntSlider(value=1, min=0, max=2) for k in "ab"}
    ex = emh.explore(update, controls)
    assert ex.sweep(n_random=20, budget_s=0.0) == 5  # the ends and one more
    assert ex.last_sweep["planned"] == 4 + 4 + 20 and ex.last_sweep["tried"] == 5
    n = ex.sweep(n_random=20, budget_s=0.1)
    assert 5 < n <= 4 + 1 + 6 and ex.last_sweep["seconds"] >= 0.1  # >= 20 ms each


def test_a_steady_stream_of_changes_still_draws():
    drawn = []
    control = widgets.IntSlider(value=0, min=0, max=1000)
    ex = emh.explore(lambda a: drawn.append(a), {"a": control})

    async def stream(pause):
        for v in range(1, 301):  # a change on every turn of the loop
            control.value = v
            await asyncio.sleep(pause)
        while ex._scheduled is not None:
            await asyncio.sleep(0)

    asyncio.run(stream(0))
    assert 2 <= len(drawn) - 1 <= 4 and drawn == sorted(drawn)  # about one frame per 100
    assert drawn[-1] == 300
