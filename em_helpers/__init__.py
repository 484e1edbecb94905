"""em_helpers: the shared code of the EM course.

- :func:`run_em` / :class:`EMResult` — the EM loop (``loop.py``)
- :func:`sem_covariance`, :func:`observed_information` — uncertainty (``variance.py``)
- :func:`plot_convergence` — convergence figures (``plots.py``)
- :func:`explore` — sliders that re-run EM (``widgets.py``)
"""

from .loop import AscentError, ConvergenceWarning, EMResult, convergence_rate, run_em
from .plots import ConvergencePanels, autoscale, axes_title, new_figure, plot_convergence
from .variance import SEMResult, SEMWarning, observed_information, sem_covariance
from .widgets import Explorer, FrameRenderer, explore, render_png

__all__ = [
    "AscentError",
    "ConvergencePanels",
    "ConvergenceWarning",
    "EMResult",
    "Explorer",
    "FrameRenderer",
    "SEMResult",
    "SEMWarning",
    "autoscale",
    "axes_title",
    "convergence_rate",
    "explore",
    "new_figure",
    "observed_information",
    "plot_convergence",
    "render_png",
    "run_em",
    "sem_covariance",
]

__version__ = "0.1.0"
