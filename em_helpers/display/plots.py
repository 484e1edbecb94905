"""Convergence plots of an EM run.

Figures are built with :class:`matplotlib.figure.Figure` (not ``pyplot``), so they never
pile up in pyplot's registry: a notebook shows one by ending a cell with it, and a widget
callback returns it to its :class:`~em_helpers.Explorer`, which renders it.

:class:`ConvergencePanels` creates its artists once and only moves their data on
:meth:`~ConvergencePanels.update`, which is what keeps a slider move fast.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from ..core.loop import ConvergenceWarning, EMResult, convergence_rate, run_em

__all__ = [
    "BudgetedRun",
    "ConvergencePanels",
    "autoscale",
    "axes_title",
    "budgeted_em",
    "ladder_limit",
    "new_figure",
    "plot_convergence",
]


def new_figure(
    ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2, fast: bool = False
):
    """A :class:`~matplotlib.figure.Figure` and its axes, without pyplot.

    Parameters
    ----------
    ncols, nrows : int
        Grid of axes.
    width, height : float
        Size of one panel in inches.
    fast : bool
        For figures redrawn by widgets: fixed margins instead of the constrained layout
        (which costs a full extra draw), 72 dpi, at most about five ticks per axis, and
        data margins of 0 in x and 2% in y (an :class:`~em_helpers.Explorer` snaps the
        limits to round tick values).

    Returns
    -------
    fig : Figure
    axes : Axes or ndarray of Axes
        As :meth:`Figure.subplots` returns them.
    """
    size = (width * ncols, height * nrows)
    if fast:
        fig = Figure(figsize=size, dpi=72)
        axes = fig.subplots(nrows, ncols, squeeze=True)
        for ax in np.atleast_1d(axes).ravel():
            ax.locator_params(nbins=4)  # fewer tick labels: text is most of a redraw
            # tight=None keeps round-number snapping (Explorer.redraw) in force
            ax.margins(x=0, y=0.02, tight=None)
        fig.subplots_adjust(
            left=0.9 / size[0],
            right=1 - 0.25 / size[0],
            bottom=0.55 / size[1],
            top=1 - 0.45 / size[1],
            wspace=0.45,
            hspace=0.5,
        )
        return fig, axes
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=True)


def axes_title(ax: Axes, text: str = "") -> Text:
    """A title above ``ax`` as a plain text artist; keep it and call ``set_text`` to change it.

    It looks like :meth:`Axes.set_title`, but ``set_title`` re-measures every tick label on
    each draw to place the title, which costs about a quarter of a widget redraw.
    """
    return ax.text(0.5, 1.02, text, transform=ax.transAxes, ha="center", va="bottom")


def autoscale(ax: Axes, *, keep: float = 0.4) -> None:
    """Fit ``ax``'s limits to its data, but keep them while the data still fit them well.

    The limits change only when the data leave them or fill less than ``keep`` of their
    span (on each axis; in log10 units on a log axis). A widget figure whose limits stay
    put skips redrawing its ticks and labels (:class:`~em_helpers.FrameRenderer`), and the
    reader's eye is not thrown by axes that jitter with every slider step. A larger
    ``keep`` makes the limits follow shrinking data sooner.

    The costly :meth:`Axes.autoscale_view` (round-number limits) runs only when an axis
    must change.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    old = (ax.get_xlim(), ax.get_ylim())
    ax.relim()
    data = ax.dataLim
    fits = []
    for axis, (lo, hi), (dlo, dhi) in (
        (ax.xaxis, old[0], data.intervalx),
        (ax.yaxis, old[1], data.intervaly),
    ):
        log = axis.get_scale() == "log"
        if log and min(lo, hi, dlo, dhi) <= 0:
            fits.append(False)
            continue
        f = np.log10 if log else (lambda v: v)
        span, dspan = f(hi) - f(lo), f(dhi) - f(dlo)
        inside = lo <= dlo and dhi <= hi
        fits.append(bool(np.isfinite(dspan) and inside and dspan >= keep * span))
    if all(fits):
        return
    ax.autoscale_view()
    for fit, (lo, hi), setter in zip(fits, old, (ax.set_xlim, ax.set_ylim), strict=True):
        if fit:
            setter(lo, hi, auto=None)  # auto=None: autoscaling stays on for the next call


def ladder_limit(value: float, shown: float | None = None, keep: float = 0.4) -> float:
    """An axis end on the 1-2-5 ladder (…, 1, 2, 5, 10, 20, …) at or above ``value`` > 0.

    The result is the smallest :math:`f \\cdot 10^k` with :math:`f \\in \\{1, 2, 5\\}` and
    integer :math:`k` that is :math:`\\ge` ``value``, as the double nearest that decimal
    (``5e-4``, not ``5 * 10.0**-4``). Every positive finite double has one, subnormals
    included (``ladder_limit(1e-320) == 1e-320``, ``ladder_limit(3e-321) == 5e-321``).

    ``shown`` (the end on display now) is kept while ``keep * shown <= value <= shown``: a
    value that moves a little leaves the axis, and so a widget figure's cached static frame
    (:class:`~em_helpers.FrameRenderer`), alone; it changes only when the value leaves the
    axis or fills less than ``keep`` of it.

    Raises
    ------
    TypeError
        If ``value`` or ``shown`` is not a real number.
    ValueError
        If ``value`` is not positive and finite or is above ``1e308`` (the last ladder end
        below the largest double), if ``shown`` is not positive and finite, or if ``keep``
        is not in (0, 1].
    """
    value = _real(value, "value")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"value must be positive and finite, got {value!r}")
    keep = _real(keep, "keep")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep!r}")
    if shown is not None:
        shown = _real(shown, "shown")
        if not (np.isfinite(shown) and shown > 0):
            raise ValueError(f"shown must be positive and finite (or None), got {shown!r}")
        if keep * shown <= value <= shown:
            return shown
    # the decimal exponent of value, exact for subnormals too (log10 is not: log10(1e-320)
    # is -320.0000048, whose floor would start the ladder a decade too low)
    k = int(f"{value:.16e}".split("e")[1]) - 1
    for _ in range(4):  # at most 1e(k+2) is needed; k-1 absorbs the rounding of value
        for f in (1, 2, 5):
            end = float(f"{f}e{k}")
            if end >= value:
                if not np.isfinite(end):
                    break
                return end
        k += 1
    raise ValueError(f"value={value!r} has no 1-2-5 axis end below the largest float")


def _real(x: object, name: str) -> float:
    """``x`` as a float, or a TypeError naming ``name`` (bools and strings are refused)."""
    if isinstance(x, (bool, np.bool_, str, bytes)) or not isinstance(x, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    return float(x)


@dataclass(frozen=True)
class BudgetedRun:
    """What :func:`budgeted_em` returns: plain EM as far as its budget let it go, and the
    point it was heading for.

    Attributes
    ----------
    em : EMResult
        Plain EM's own run: its path and whether it met the stopping rule
        (``em.converged``) within the budget.
    theta : float or ndarray
        The end point: ``em.theta`` when EM converged, else the limit SQUAREM reached from
        EM's last iterate (or ``em.theta`` when that failed too).
    finish : EMResult or None
        The SQUAREM run from ``em.theta`` (None when EM converged by itself).
    rate : float
        EM's linear rate :math:`\\rho` measured on its path,
        :func:`~em_helpers.convergence_rate` (the rate :class:`ConvergencePanels` draws
        and prints; NaN when unknown).
    limit_rate : float
        EM's rate at the end point: the spectral radius of the EM map's Jacobian at
        SQUAREM's limit (forward differences, :math:`d + 1` map evaluations, for up to 20
        parameters), else ``rate``. Far from the limit EM's steps may shrink more slowly
        than they will near it (notebook 03's mixture at N = 100,000: 0.9987 on its first
        150 iterations, 0.991 at the limit), or faster.
    more : int or None
        Iterations plain EM would still need to meet ``tol``, estimated from
        ``limit_rate`` and its distance to the end point (None when EM converged or the
        rate is unknown).
    message : str
        "" when EM converged; else one plain line for a figure (no mathtext), e.g.
        "EM stopped after 120 iterations (rate ρ = 0.991, about 1900 more needed); the
        fit shown is SQUAREM's limit".
    """

    em: EMResult
    theta: Any
    finish: EMResult | None
    rate: float
    limit_rate: float
    more: int | None
    message: str

    @property
    def converged(self) -> bool:
        """Whether plain EM met the stopping rule within the budget."""
        return self.em.converged

    @property
    def note(self) -> str:
        """The message in two short lines for a panel title ("" when EM converged)."""
        if self.em.converged:
            return ""
        rate = _rate_text(self, short=True)
        if self.finish is None or not self.finish.converged:
            tail = f"{rate}; no limit found"
        elif self.more is not None:
            tail = f"{rate}: about {self.more:,} more"
        else:
            tail = rate
        return f"EM stopped after {self.em.n_iter} iterations\n({tail})"

    @property
    def loglik(self) -> float | None:
        """The log-likelihood at the end point (None without ``loglik``)."""
        run = self.finish if self.finish is not None and self.finish.converged else self.em
        return run.loglik


def budgeted_em(
    e_step: Callable[[Any], Any],
    m_step: Callable[[Any], Any],
    theta0: Any,
    *,
    max_iter: int = 500,
    work: float | None = None,
    size: int | None = None,
    finish_iter: int | None = None,
    **kwargs: Any,
) -> BudgetedRun:
    """Plain EM under an iteration budget, finished by SQUAREM, for a widget callback.

    A slider that puts EM where it is slow (rate :math:`\\rho` near 1) must not freeze the
    figure for seconds, and must not hide EM's own behaviour either. So plain EM
    (:func:`~em_helpers.run_em`) runs for at most ``max_iter`` iterations, and fewer on a
    large data set: at most ``work / size`` (each iteration is a pass over ``size`` data
    points), never fewer than 20. If it has not converged by then, SQUAREM
    (``run_em(accelerate="squarem")``) continues from EM's last iterate to the limit,
    which is the fit to show and the point to measure EM's error against; it gets at most
    ``finish_iter`` cycles of three EM map evaluations, by default a sixth of EM's budget
    (half as many evaluations again) and at least 30 cycles (enough for rates up to about
    0.999). EM would need about

    .. math:: k = \\max_j \\frac{\\log(\\mathrm{tol}\\, w_j / d_j)}{\\log \\rho}

    more iterations, with :math:`d_j = |\\theta_j^{(n)} - \\hat\\theta_j|` its distance to
    the limit, :math:`w_j = \\max(|\\hat\\theta_j|, s_j)` the stopping rule's width and
    :math:`\\rho` EM's rate at the limit, the spectral radius of the EM map's Jacobian
    there (``limit_rate``; its rate on its own path when that is unknown): the error of a
    linearly convergent iteration shrinks by :math:`\\rho` a step. Once EM is in its
    linear phase the count is close (within a few per cent in notebooks 02 and 04); a
    path still in a slower early phase needs more (notebook 03 at N = 100,000: about
    1,490 estimated after 150 iterations, 1,560 run). The budget is in
    iterations, not seconds, so a position always draws the same figure.

    :class:`~em_helpers.ConvergenceWarning` s are caught and become the returned
    ``message``; any other warning or exception propagates (to the explorer, which shows
    it as a plain message).

    Parameters
    ----------
    e_step, m_step, theta0
        As for :func:`~em_helpers.run_em`.
    max_iter : int
        Most plain EM iterations.
    work, size : float, int, optional
        With both: at most ``max(20, work // size)`` iterations (``work`` is a budget in
        point-iterations, e.g. ``2e7``).
    finish_iter : int, optional
        Most SQUAREM cycles for the end point (default ``max(30, budget // 6)``, the
        budget being EM's iteration cap).
    **kwargs
        Passed to both runs (``loglik``, ``tol``, ``names``, ``scale``, ``valid``, ...).

    Returns
    -------
    BudgetedRun
    """
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if (work is None) != (size is None):
        raise ValueError("work and size go together: give both or neither")
    if work is not None:
        work, size = _real(work, "work"), _real(size, "size")
        if not (work > 0 and size > 0 and np.isfinite(work) and np.isfinite(size)):
            raise ValueError(f"work and size must be positive and finite, got {work}, {size}")
        max_iter = int(min(max_iter, max(20, work // size)))
    if finish_iter is None:
        finish_iter = max(30, int(max_iter) // 6)
    if "accelerate" in kwargs:
        raise TypeError("budgeted_em runs plain EM (then SQUAREM): accelerate is not an option")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # said in the message
        em = run_em(e_step, m_step, theta0, max_iter=int(max_iter), **kwargs)
        if em.converged:
            return BudgetedRun(em, em.theta, None, _rate(em), _rate(em), None, "")
        finish = run_em(
            e_step, m_step, em.theta, max_iter=finish_iter, accelerate="squarem", **kwargs
        )
    rho = _rate(em)
    if not finish.converged:
        run = BudgetedRun(em, em.theta, finish, rho, rho, None, "")
        text = "); SQUAREM did not reach the limit either: the fit shown is EM's last iterate"
    else:
        near = _limit_rate(e_step, m_step, em, finish, kwargs.get("valid"))
        run = BudgetedRun(em, finish.theta, finish, rho, near if _known(near) else rho, None, "")
        tol = kwargs.get("tol", inspect.signature(run_em).parameters["tol"].default)
        more = _more_iterations(em, finish, run.limit_rate, tol, kwargs.get("scale"))
        tail = f", about {more:,} more needed" if more is not None else ""
        text = tail + "); the fit shown is SQUAREM's limit"
        run = replace(run, more=more)
    head = f"EM stopped after {em.n_iter} iterations ({_rate_text(run)}"
    return replace(run, message=head + text)


def _rate(em: EMResult) -> float:
    """EM's rate on its path (NaN for a path too short to tell)."""
    return float(convergence_rate(em)) if em.n_iter >= 2 else float("nan")


def _known(rho: float) -> bool:
    return bool(np.isfinite(rho) and 0 < rho < 1)


def _limit_rate(
    e_step: Callable, m_step: Callable, em: EMResult, finish: EMResult, valid: Any
) -> float:
    """The spectral radius of the EM map's Jacobian at SQUAREM's limit (see
    :class:`BudgetedRun`); NaN for more than 20 parameters, or when the map fails, a
    perturbed point is not valid on either side, or the radius is not in (0, 1)."""
    hat = np.atleast_1d(np.asarray(finish.theta, dtype=float))
    d = hat.size
    if d > 20:
        return float("nan")

    def em_map(x: np.ndarray) -> np.ndarray:
        arg = float(x[0]) if em.scalar else x.copy()
        if valid is not None and not valid(arg):
            raise ValueError("outside the parameter space")
        out = np.atleast_1d(np.asarray(m_step(e_step(arg)), dtype=float))
        if out.shape != hat.shape or not np.all(np.isfinite(out)):
            raise ValueError("the map failed")
        return out

    jac = np.empty((d, d))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            base = em_map(hat)
            for j in range(d):
                h = 1e-6 * (1.0 + abs(hat[j]))
                for step in (h, -h):  # forward, or backward at an edge of the space
                    x = hat.copy()
                    x[j] += step
                    try:
                        jac[:, j] = (em_map(x) - base) / step
                        break
                    except Exception:
                        if step < 0:
                            raise
        rho = float(np.max(np.abs(np.linalg.eigvals(jac))))
    except Exception:
        return float("nan")
    return rho if _known(rho) else float("nan")


def _rate_text(run: BudgetedRun, short: bool = False) -> str:
    """"rate ρ = 0.993 near the limit", "... on its path" or "rate unknown"."""
    near = run.finish is not None and run.finish.converged and _known(run.limit_rate)
    near = near and run.limit_rate != run.rate
    rho = run.limit_rate if near else run.rate
    if not _known(rho):
        return "rate unknown"
    where = "near the limit" if near else "on its path"
    return f"ρ = {rho:.4g} {where}" if short else f"rate ρ = {rho:.4g} {where}"


def _more_iterations(
    em: EMResult, finish: EMResult, rho: float, tol: float, scale: Any
) -> int | None:
    """Iterations plain EM still needs, :math:`\\max_j \\log(\\mathrm{tol}\\,w_j/d_j)/\\log\\rho`
    (see :func:`budgeted_em`)."""
    if not (np.isfinite(rho) and 0 < rho < 1):
        return None
    limit = np.atleast_1d(np.asarray(finish.theta, dtype=float))
    dist = np.abs(np.atleast_1d(np.asarray(em.theta, dtype=float)) - limit)
    width = np.abs(limit)
    if scale is not None:
        width = np.maximum(width, np.broadcast_to(np.asarray(scale, dtype=float), limit.shape))
    pairs = zip(dist, width, strict=True)
    need = [math.log(tol * w / d) / math.log(rho) for d, w in pairs if d > tol * w > 0]
    return int(math.ceil(max(need))) if need else 0


def _iteration_limits(ax: Axes, n: float) -> None:
    """Put the iteration axis on 0..:func:`ladder_limit` (0..10, 0..20, 0..50, …)."""
    lo, hi = ax.get_xlim()
    top = ladder_limit(max(float(n), 1.0), hi if lo == 0 else None)
    if (lo, hi) != (0, top):
        ax.set_xlim(0, top, auto=None)


def _is_mixed_scale(thetas: np.ndarray) -> bool:
    """True when the components' magnitudes differ by more than 20x (plot ratios then).

    Only when every estimate is larger than its own path's range: an estimate near 0 (a mean
    that ends at -0.01) is a location, not a scale, and dividing by it would blow the path
    up to hundreds.
    """
    final = thetas[-1]
    mags = np.abs(final)
    if final.size < 2 or not np.all(mags > 0) or mags.max() / mags.min() <= 20:
        return False
    return bool(np.all(mags >= np.ptp(thetas, axis=0)))


class ConvergencePanels:
    """Three panels of an EM run, drawn into given axes and updated in place.

    1. :math:`\\theta_j^{(t)}` against :math:`t`, one line per component, labelled with
       the names (divided by :math:`\\hat\\theta_j` when the components' scales differ by
       more than 20x, so that all fit one axis), and dashed reference values if given,
       labelled ``label`` in the legend.
    2. The gap to the final log-likelihood,
       :math:`\\log_{10}\\big(\\hat\\ell - \\ell(\\theta^{(t)})\\big)` with
       :math:`\\hat\\ell = \\ell(\\theta^{(n)})`. EM never lowers :math:`\\ell`, so the gap
       is positive and falls; near :math:`\\hat\\theta` it is a quadratic form in the error,
       :math:`\\hat\\ell - \\ell(\\theta^{(t)}) \\approx \\tfrac12 e_t^\\top I_o e_t` with
       :math:`e_t = \\theta^{(t)} - \\hat\\theta`, so it falls on a line of slope
       :math:`2\\log_{10}\\rho` (:math:`\\rho`: EM's rate), drawn dotted through the middle
       of the path. (The log-likelihood itself looks flat after a few iterations.)
    3. :math:`\\log_{10} \\lVert \\theta^{(t)} - \\hat\\theta \\rVert` with
       :math:`\\hat\\theta = \\theta^{(n)}`: a straight line for linear convergence, of slope
       :math:`\\log_{10} \\rho`; the line with :math:`\\rho` from
       :func:`~em_helpers.convergence_rate` is drawn through the middle of the path and
       printed.

    Parameters
    ----------
    axes : sequence of three Axes (or None)
        Where panels 1, 2, 3 go; None leaves a panel out (a widget figure that already
        shows the log-likelihood saves a redraw that way).
    names : sequence of str
        Component labels (``EMResult.names``).
    reference : float or sequence of float, optional
        Values to compare the path with (a published estimate, an exact MLE, the truth
        used to simulate), drawn dashed.
    label : str
        Legend entry of the reference lines: say what they are.
    sticky : bool
        Rescale with :func:`autoscale` (limits kept while the data fit them), for figures
        that widgets redraw; otherwise fit the limits to every run.
    """

    def __init__(
        self,
        axes: Sequence[Axes | None],
        names: Sequence[str],
        reference: float | Sequence[float] | None = None,
        *,
        label: str = "published",
        sticky: bool = False,
    ):
        axes = list(axes)
        self.sticky = sticky
        if len(axes) != 3:
            raise ValueError(f"ax must hold three Axes (or None), got {len(axes)}")
        self.axes = axes
        self.names = list(names)
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        self.label = label
        self.reference = None
        if reference is not None:
            self.reference = np.atleast_1d(np.asarray(reference, dtype=float))
            if self.reference.size != len(self.names):
                raise ValueError(
                    f"reference has {self.reference.size} values for {len(self.names)} parameters"
                )
        a_path, a_ll, a_err = axes
        if all(a is None for a in axes):
            raise ValueError("axes: give at least one Axes (None leaves a panel out)")
        self._titled: tuple[Text, str] | None = None  # a title the budget note replaced
        if a_path is not None:
            self._init_path(a_path)
        if a_ll is not None:
            (self.ll_line,) = a_ll.plot([], [], ".-", color="C3", ms=3, lw=1, label="EM")
            (self.ll_rate_line,) = a_ll.plot([], [], "k:", lw=1, label=r"slope $2\log_{10}\rho$")
            self.ll_note = a_ll.text(
                0.5, 0.5, "", ha="center", va="center", transform=a_ll.transAxes
            )
            a_ll.set_xlabel("iteration t")
            a_ll.set_ylabel(r"$\log_{10}(\hat\ell-\ell(\theta^{(t)}))$")
            self._legend(a_ll, fontsize="small", loc="upper right")
            self.ll_title = axes_title(a_ll, "log-likelihood gap")
        if a_err is not None:
            (self.err_line,) = a_err.plot([], [], ".-", color="C2", ms=3, lw=1, label="EM")
            (self.rate_line,) = a_err.plot([], [], "k:", lw=1, label="fitted rate")
            a_err.set_xlabel("iteration t")
            a_err.set_ylabel(r"$\log_{10}\Vert\theta^{(t)}-\hat\theta\Vert$")
            self._legend(a_err, fontsize="small", loc="upper right")
            self.err_title = axes_title(a_err)

    def _init_path(self, ax: Axes) -> None:
        self.path_lines = [
            ax.plot([], [], ".-", color=f"C{j}", ms=3, lw=1, label=name)[0]
            for j, name in enumerate(self.names)
        ]
        self.ref_lines = []
        if self.reference is not None:
            self.ref_lines = [
                ax.axhline(r, color=f"C{j}", ls="--", lw=0.8) for j, r in enumerate(self.reference)
            ]
            ax.plot([], [], "k--", lw=0.8, label=self.label)
        ax.set_xlabel("iteration t")
        self.path_title = axes_title(ax, "parameter path")
        self._legend_cols = 1 if len(self.names) <= 3 else 2
        # static figures get headroom for it (update); widget figures keep "best"
        loc = "best" if self.sticky else "upper right"
        self._legend(ax, fontsize="small", ncol=self._legend_cols, loc=loc)

    def _legend(self, ax: Axes, **kwargs: object) -> None:
        """The panel's legend. Its entries never change, so for widget figures (``sticky``)
        it is added as an extra artist (matplotlib's idiom for a second legend): a
        :class:`~em_helpers.FrameRenderer` then draws it into the cached static frame
        instead of again on every slider move (about 9 ms a frame for two panels)."""
        legend = ax.legend(**kwargs)
        if self.sticky:
            legend.remove()
            ax.add_artist(legend)

    def update(
        self, res: EMResult | BudgetedRun, reference: float | Sequence[float] | None = None
    ) -> None:
        """Move every artist to the run ``res`` and rescale the axes.

        ``res`` may be a :class:`BudgetedRun` (:func:`budgeted_em`): the panels then show
        plain EM's path as far as it went, and measure its error and log-likelihood gap
        against the run's end point (SQUAREM's limit when EM stopped short), so that the
        error line keeps the slope :math:`\\log_{10}\\rho` to its last point instead of
        diving towards :math:`\\theta^{(n)}`.

        ``reference`` replaces the reference values (for this and later updates) when the
        panels were created with some, e.g. an exact MLE that moves with a slider.
        """
        limit, top = None, None
        if isinstance(res, BudgetedRun):
            if res.finish is not None and res.finish.converged:
                limit, top = np.asarray(res.theta, dtype=float).reshape(-1), res.loglik
            self._show_note(res.note)
            res = res.em
        if not isinstance(res, EMResult):
            raise TypeError(
                f"ConvergencePanels.update needs an EMResult or a BudgetedRun, got "
                f"{type(res).__name__}"
            )
        if len(res.names) != len(self.names):
            raise ValueError(f"res has {len(res.names)} parameters, the panels {len(self.names)}")
        if reference is not None:
            if self.reference is None:
                raise ValueError("reference: these panels were created without reference lines")
            new = np.atleast_1d(np.asarray(reference, dtype=float))
            if new.shape != self.reference.shape:
                raise ValueError(
                    f"reference has {new.size} values for {self.reference.size} parameters"
                )
            self.reference = new
        a_path, a_ll, a_err = self.axes
        t = np.arange(res.thetas.shape[0])
        if a_path is not None:
            self._update_path(a_path, res, t)
        if a_err is not None or a_ll is not None:
            rate = convergence_rate(res)
        if a_ll is not None:
            self._update_gap(res, t, rate, top)
        if a_err is not None:
            self._update_error(res, t, rate, limit)
        for a in self.axes:
            if a is None:
                continue
            if self.sticky:
                _iteration_limits(a, t[-1])  # first: autoscale then keeps it
                autoscale(a)
            else:
                a.relim()
                a.autoscale_view()
        if a_path is not None and not self.sticky:
            # headroom above the paths, where the legend goes: it never covers them
            rows = -(-(len(self.names) + bool(self.ref_lines)) // self._legend_cols)
            share = min(0.6, 0.05 + 0.1 * rows)  # of the axes height
            lo, hi = a_path.get_ylim()
            a_path.set_ylim(lo, hi + (hi - lo) * share / (1 - share), auto=None)

    def _show_note(self, note: str) -> None:
        """A budgeted run's note in the first panel's title (its own title comes back when
        a later run converged)."""
        title = next(
            (getattr(self, n) for n in ("path_title", "ll_title", "err_title") if hasattr(self, n)),
        )
        if note:
            if self._titled is None:
                self._titled = (title, title.get_text())
            title.set_text(note)
        elif self._titled is not None:
            self._titled[0].set_text(self._titled[1])
            self._titled = None

    def clear(self, message: str = "") -> None:
        """Empty every panel (e.g. when a widget's input is invalid) and show ``message``."""
        lines = getattr(self, "path_lines", []) + [
            getattr(self, name)
            for name in ("ll_line", "ll_rate_line", "err_line", "rate_line")
            if hasattr(self, name)
        ]
        for line in lines:
            line.set_data([], [])
        if hasattr(self, "err_title"):
            self.err_title.set_text(message)

    def _update_path(self, ax: Axes, res: EMResult, t: np.ndarray) -> None:
        final = res.thetas[-1]
        scaled = _is_mixed_scale(res.thetas)
        divisor = final if scaled else np.ones_like(final)
        for j, line in enumerate(self.path_lines):
            line.set_data(t, res.thetas[:, j] / divisor[j])
        for j, line in enumerate(self.ref_lines):
            line.set_ydata([self.reference[j] / divisor[j]] * 2)
        ax.set_ylabel(r"$\theta^{(t)}_j\,/\,\hat\theta_j$" if scaled else r"$\theta^{(t)}$")

    def _update_gap(
        self, res: EMResult, t: np.ndarray, rate: float, top: float | None = None
    ) -> None:
        if res.logliks is None:
            self.ll_line.set_data([], [])
            self.ll_rate_line.set_data([], [])
            self.ll_note.set_text("no loglik given")
            return
        # the gap to the end point's l when it is known beyond the path, else to the last
        final = res.logliks[-1] if top is None else max(top, res.logliks[-1])
        n = t.size if top is not None else t.size - 1
        gap = (final - res.logliks)[:n]
        # gaps at round-off size (or negative ones from round-off) carry no information
        keep = gap > 1e-13 * (1 + abs(final))
        tg, lg = t[:n][keep], np.log10(gap[keep])
        self.ll_line.set_data(tg, lg)
        self.ll_note.set_text("" if tg.size else "no gap above round-off")
        if np.isfinite(rate) and 0 < rate < 1 and tg.size:
            mid = tg.size // 2
            self.ll_rate_line.set_data(tg, lg[mid] + (tg - tg[mid]) * 2 * np.log10(rate))
        else:
            self.ll_rate_line.set_data([], [])

    def _update_error(
        self, res: EMResult, t: np.ndarray, rate: float, limit: np.ndarray | None = None
    ) -> None:
        # the distance to the limit when it is known beyond the path, else to theta(n)
        final = res.thetas[-1] if limit is None else limit
        n = t.size if limit is not None else t.size - 1
        err = np.linalg.norm(res.thetas - final, axis=1)[:n]
        keep = err > 1e-15 * (1 + np.linalg.norm(final))
        te, le = t[:n][keep], np.log10(err[keep])
        self.err_line.set_data(te, le)
        if np.isfinite(rate) and 0 < rate < 1 and te.size:
            mid = te.size // 2  # anchor mid-path: early steps are not yet linear, and the
            # last ones measure distance to theta^(n) rather than to the limit
            self.rate_line.set_data(te, le[mid] + (te - te[mid]) * np.log10(rate))
            self.err_title.set_text(f"log error: linear rate {rate:.3f}")
        else:
            self.rate_line.set_data([], [])
            self.err_title.set_text("log error")


def plot_convergence(
    res: EMResult,
    *,
    reference: float | Sequence[float] | None = None,
    label: str = "published",
    ax: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """Plot the parameter path, the log-likelihood gap and the log error of an EM run.

    The three panels are described in :class:`ConvergencePanels`.

    Parameters
    ----------
    res : EMResult
    reference : float or sequence of float, optional
        Values to compare the path with, drawn as dashed lines on panel 1.
    label : str
        What the reference values are ("published", "exact MLE", "truth used to
        simulate"): their legend entry.
    ax : sequence of three Axes, optional
        Empty axes to draw into; by default a new 1x3 figure.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    if not isinstance(res, EMResult):
        raise TypeError(f"plot_convergence needs an EMResult, got {type(res).__name__}")
    if ax is None:
        fig, ax = new_figure(3, width=4.0, height=3.1)
    fig = ax[0].figure
    ConvergencePanels(ax, res.names, reference, label=label).update(res)
    if title:
        fig.suptitle(title)
    return fig
