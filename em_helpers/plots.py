"""Convergence plots of an EM run.

Figures are built with :class:`matplotlib.figure.Figure` (not ``pyplot``), so they never
pile up in pyplot's registry: a notebook shows one by ending a cell with it, or with
``IPython.display.display(fig)`` inside a widget callback.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .loop import EMResult, convergence_rate

__all__ = ["new_figure", "plot_convergence"]


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2):
    """A constrained-layout :class:`~matplotlib.figure.Figure` and its axes (no pyplot).

    Returns
    -------
    fig : Figure
    axes : Axes or ndarray of Axes
        As :meth:`Figure.subplots` returns them.
    """
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=True)


def _scaled(res: EMResult) -> tuple[np.ndarray, bool]:
    """The path, divided by the final value when the components' scales differ >20x."""
    thetas = res.thetas
    final = thetas[-1]
    mags = np.abs(final)
    if thetas.shape[1] > 1 and np.all(mags > 0) and mags.max() / mags.min() > 20:
        return thetas / final, True
    return thetas, False


def plot_convergence(
    res: EMResult,
    *,
    reference: float | Sequence[float] | None = None,
    ax: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """Three panels: the parameter path, :math:`\\ell(\\theta^{(t)})`, and the log error.

    1. :math:`\\theta_j^{(t)}` against :math:`t`, one line per component, labelled with
       ``res.names`` (divided by :math:`\\hat\\theta_j` when the components' scales differ
       by more than 20x, so that all fit one axis).
    2. The observed-data log-likelihood :math:`\\ell(\\theta^{(t)})`, which EM never lowers.
    3. :math:`\\log_{10} \\lVert \\theta^{(t)} - \\hat\\theta \\rVert` with
       :math:`\\hat\\theta = \\theta^{(n)}`: a straight line for linear convergence, of slope
       :math:`\\log_{10} \\lambda`, with :math:`\\lambda` from
       :func:`~em_helpers.convergence_rate` drawn and printed.

    Parameters
    ----------
    res : EMResult
    reference : float or sequence of float, optional
        Published values of :math:`\\hat\\theta`, drawn as dashed lines on panel 1.
    ax : sequence of three Axes, optional
        Axes to draw into (they are cleared); by default a new 1x3 figure.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    if not isinstance(res, EMResult):
        raise TypeError(f"plot_convergence needs an EMResult, got {type(res).__name__}")
    if ax is None:
        fig, axes = new_figure(3, width=4.0, height=3.1)
    else:
        axes = list(ax)
        if len(axes) != 3:
            raise ValueError(f"ax must hold three Axes, got {len(axes)}")
        fig = axes[0].figure
        for a in axes:
            a.clear()
    d = res.thetas.shape[1]
    t = np.arange(res.thetas.shape[0])
    path, scaled = _scaled(res)

    a = axes[0]
    colors = [f"C{j}" for j in range(d)]
    for j in range(d):
        a.plot(t, path[:, j], ".-", color=colors[j], ms=3, lw=1, label=res.names[j])
    if reference is not None:
        ref = np.atleast_1d(np.asarray(reference, dtype=float))
        if ref.size != d:
            raise ValueError(f"reference has {ref.size} values for {d} parameters")
        if scaled:
            ref = ref / res.thetas[-1]
        for j in range(d):
            a.axhline(ref[j], color=colors[j], ls="--", lw=0.8)
        a.plot([], [], "k--", lw=0.8, label="published")
    a.set_xlabel("iteration t")
    a.set_ylabel(r"$\theta^{(t)}_j\,/\,\hat\theta_j$" if scaled else r"$\theta^{(t)}$")
    a.set_title("parameter path")
    a.legend(fontsize="small", ncol=1 if d <= 3 else 2)

    a = axes[1]
    if res.logliks is None:
        a.text(0.5, 0.5, "no loglik given", ha="center", va="center", transform=a.transAxes)
        a.set_xticks([])
        a.set_yticks([])
    else:
        a.plot(t, res.logliks, ".-", color="C3", ms=3, lw=1)
        a.set_xlabel("iteration t")
        a.set_ylabel(r"$\ell(\theta^{(t)})$")
        a.ticklabel_format(axis="y", useOffset=False, style="plain")
    a.set_title("observed log-likelihood (never falls)")

    a = axes[2]
    err = np.linalg.norm(res.thetas - res.thetas[-1], axis=1)[:-1]
    floor = 1e-15 * (1 + np.linalg.norm(res.thetas[-1]))
    keep = err > floor
    a.plot(t[:-1][keep], np.log10(err[keep]), ".-", color="C2", ms=3, lw=1, label="EM")
    rate = convergence_rate(res)
    if np.isfinite(rate) and 0 < rate < 1 and keep.any():
        t0 = t[:-1][keep][0]
        line = np.log10(err[keep][0]) + (t[:-1][keep] - t0) * np.log10(rate)
        a.plot(t[:-1][keep], line, "k:", lw=1, label=rf"slope $\log_{{10}}{rate:.3f}$")
        a.set_title(f"log error: linear rate {rate:.3f}")
    else:
        a.set_title("log error")
    a.set_xlabel("iteration t")
    a.set_ylabel(r"$\log_{10}\Vert\theta^{(t)}-\hat\theta\Vert$")
    a.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
