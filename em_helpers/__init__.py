"""em_helpers: the shared code of the EM course, in four layers.

``core/`` — the EM machinery; numpy and scipy only, everything importable from the top:
    ``loop`` :func:`run_em` / :class:`EMResult` (E, M, check, stop), ``squarem`` its SQUAREM
    acceleration (``run_em(accelerate="squarem")``), ``stopping`` the stopping rule and the
    step/ascent checks both share, ``variance`` :func:`sem_covariance` and
    :func:`observed_information`, ``louis`` :func:`louis_information`.
``models/`` — the models the course runs, one module per family, imported by path:
    ``examples`` (the source essay's four worked examples, notebooks 01–05),
    ``poisson_mixture`` (Hasselblad's deaths, 06), ``gmm`` (K-component Gaussian mixtures,
    MAP-EM, 07) and ``gmm_noise`` (with a uniform noise component, 07), ``normal_mixture``
    (two normals in exponential-family form, 08), ``hmm`` (Poisson hidden Markov models,
    Baum–Welch, 09), ``mvn_missing`` (the normal and normal mixtures with values missing in
    any pattern, 10), ``student_t`` (the t distribution by EM, ECM, ECME and PX-EM, 11).
``display/`` — what a reader sees: ``plots`` (:func:`plot_convergence`, extra
    ``em_helpers[plots]``) and ``widgets`` (:func:`explore`, extra ``em_helpers[widgets]``).
``streaming/`` — EM at scale over additive statistics: ``blocks`` (pytrees,
    :class:`~em_helpers.streaming.SeededBlocks`), ``disk`` (blocks read from a ``.npy``
    file), ``chunked``, ``on_dask``, ``online`` and ``incremental`` — one protocol,
    ``suff_stats(theta, chunk)`` / ``m_step(stats)``, for every model that has one.

``import em_helpers`` loads only the core (numpy and scipy). The plotting and widget names are
resolved on first use (a module ``__getattr__``, PEP 562), so a library user who never plots
never imports matplotlib, ipywidgets or IPython.
"""

from __future__ import annotations

import importlib
from typing import Any

from .core.loop import AscentError, ConvergenceWarning, EMResult, convergence_rate, run_em
from .core.louis import LouisResult, louis_information, score_moments
from .core.variance import (
    InformationWarning,
    SEMResult,
    SEMWarning,
    observed_information,
    sem_covariance,
)

#: Lazily imported names: public name -> (submodule, the extra that provides its imports).
_LAZY = {
    "BudgetedRun": ("display.plots", "plots"),
    "ConvergencePanels": ("display.plots", "plots"),
    "autoscale": ("display.plots", "plots"),
    "axes_title": ("display.plots", "plots"),
    "budgeted_em": ("display.plots", "plots"),
    "ladder_limit": ("display.plots", "plots"),
    "new_figure": ("display.plots", "plots"),
    "plot_convergence": ("display.plots", "plots"),
    "Explorer": ("display.widgets", "widgets"),
    "FrameRenderer": ("display.widgets", "widgets"),
    "explore": ("display.widgets", "widgets"),
    "Problem": ("display.widgets", "widgets"),
    "SweepError": ("display.widgets", "widgets"),
    "render_png": ("display.widgets", "widgets"),
}

__all__ = [
    "AscentError",
    "BudgetedRun",
    "ConvergencePanels",
    "ConvergenceWarning",
    "EMResult",
    "Explorer",
    "FrameRenderer",
    "InformationWarning",
    "LouisResult",
    "Problem",
    "SEMResult",
    "SEMWarning",
    "SweepError",
    "autoscale",
    "axes_title",
    "budgeted_em",
    "convergence_rate",
    "explore",
    "ladder_limit",
    "louis_information",
    "new_figure",
    "observed_information",
    "plot_convergence",
    "render_png",
    "run_em",
    "score_moments",
    "sem_covariance",
]

__version__ = "0.1.0"


def _import_extra(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(f".{module}", __name__)
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"em_helpers.{module} needs the package {exc.name!r}, which is not installed; "
            f"install the extra: pip install 'em_helpers[{extra}]'"
        ) from exc


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, extra = _LAZY[name]
        value = getattr(_import_extra(module, extra), name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module 'em_helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
