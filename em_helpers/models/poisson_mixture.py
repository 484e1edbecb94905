"""Two-component Poisson mixture on grouped counts, and Hasselblad's (1969) data.

Counts :math:`k = 0, 1, \\dots` observed with frequencies :math:`n_k`; each observation comes
from :math:`\\mathrm{Poisson}(\\lambda_1)` with probability :math:`\\pi`, else from
:math:`\\mathrm{Poisson}(\\lambda_2)`; the component is missing. With
:math:`\\theta = (\\pi, \\lambda_1, \\lambda_2)` and the responsibility

.. math:: w_k = \\frac{\\pi\\, p(k; \\lambda_1)}
              {\\pi\\, p(k; \\lambda_1) + (1-\\pi)\\, p(k; \\lambda_2)},

the EM map is :math:`\\pi' = \\sum_k n_k w_k / N`,
:math:`\\lambda_1' = \\sum_k n_k w_k k / \\sum_k n_k w_k`,
:math:`\\lambda_2' = \\sum_k n_k (1-w_k) k / \\sum_k n_k (1-w_k)`. Used by notebook 06, the
tests and ``bench/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, gammaln, xlogy

__all__ = ["HASSELBLAD", "PoissonMixture"]

#: Deaths per day of women aged 80+ in The Times, 1910-1912 (Hasselblad 1969, JASA 64,
#: 1459-1471): number of days with k = 0..9 deaths.
HASSELBLAD = np.array([162, 267, 271, 185, 111, 61, 27, 8, 3, 1], dtype=float)


@dataclass(frozen=True)
class PoissonMixture:
    """EM steps of the two-component Poisson mixture for frequencies ``freq[k]`` of count k.

    Parameters
    ----------
    freq : array of shape (m,)
        :math:`n_k \\ge 0` for :math:`k = 0, \\dots, m-1`: finite, not all zero (whole numbers
        for counted data, though expected counts are accepted). Stored as a read-only float
        copy.

    Raises
    ------
    TypeError
        ``freq`` not an array of real numbers (strings, booleans, complex, None).
    ValueError
        ``freq`` not 1-D or empty, with a negative, NaN or infinite entry, or all zero.
    """

    freq: np.ndarray = field(default_factory=HASSELBLAD.copy)

    def __post_init__(self) -> None:
        value = self.freq
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError(f"freq must be a 1-D array of frequencies, got {value!r}")
        arr = np.asarray(value)
        if arr.dtype == bool or np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"freq must hold real numbers, got dtype {arr.dtype}")
        arr = np.array(arr, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"freq must be a non-empty 1-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"freq[{bad}] = {arr[bad]}: frequencies must be finite")
        if np.any(arr < 0):
            bad = int(np.flatnonzero(arr < 0)[0])
            raise ValueError(f"freq[{bad}] = {arr[bad]:g}: frequencies must be >= 0")
        if not arr.sum() > 0:
            raise ValueError("freq is all zero: there are no observations")
        arr.flags.writeable = False
        object.__setattr__(self, "freq", arr)

    @property
    def k(self) -> np.ndarray:
        return np.arange(len(self.freq), dtype=float)

    def _log_parts(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log[pi p(k; l1)] and log[(1 - pi) p(k; l2)] for every k."""
        pi, lam1, lam2 = theta
        k = self.k
        log_fact = gammaln(k + 1)
        a = np.log(pi) + xlogy(k, lam1) - lam1 - log_fact
        b = np.log1p(-pi) + xlogy(k, lam2) - lam2 - log_fact
        return a, b

    def e_step(self, theta: np.ndarray) -> np.ndarray:
        """Responsibilities :math:`w_k` of component 1, by ``expit`` of the log-odds."""
        a, b = self._log_parts(theta)
        return expit(a - b)

    def m_step(self, w: np.ndarray) -> np.ndarray:
        """Weighted proportions and means: the complete-data MLE at the expected counts."""
        n1, n2 = self.freq * w, self.freq * (1 - w)
        k = self.k
        return np.array([n1.sum() / self.freq.sum(), n1 @ k / n1.sum(), n2 @ k / n2.sum()])

    def loglik(self, theta: np.ndarray) -> float:
        """Observed-data log-likelihood, with the :math:`-\\log k!` terms."""
        a, b = self._log_parts(theta)
        return float(self.freq @ np.logaddexp(a, b))

    @staticmethod
    def valid(theta: np.ndarray) -> bool:
        """Inside the parameter space: :math:`0 < \\pi < 1`, :math:`\\lambda_1, \\lambda_2 > 0`."""
        pi, lam1, lam2 = theta
        return bool(0 < pi < 1 and lam1 > 0 and lam2 > 0)

    def complete_info(self, theta: np.ndarray) -> np.ndarray:
        """Expected complete-data information at ``theta`` given the data (diagonal)."""
        pi, lam1, lam2 = theta
        w = self.e_step(theta)
        n1, n2 = self.freq * w, self.freq * (1 - w)
        k = self.k
        return np.diag(
            [n1.sum() / pi**2 + n2.sum() / (1 - pi) ** 2, n1 @ k / lam1**2, n2 @ k / lam2**2]
        )
