"""Small EM models with known answers, used by the tests (independent of the notebooks)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


class Exponential:
    """Y_1..Y_{k+m} i.i.d. Exp(rate theta); k observed with sum s, m missing.

    Complete-data MLE (k+m)/(s + sum of missing); E[Y_miss] = 1/theta, so
    M(theta) = (k+m) / (s + m/theta); observed MLE k/s; DM = m/(k+m); var = theta^2/k.
    """

    def __init__(self, s: float = 5.0, k: int = 1, m: int = 1):
        self.s, self.k, self.m = s, k, m

    def e_step(self, theta):
        return self.m / theta  # expected sum of the missing values

    def m_step(self, missing_sum):
        return (self.k + self.m) / (self.s + missing_sum)

    def loglik(self, theta):
        return self.k * np.log(theta) - theta * self.s

    def complete_info(self, theta):
        return np.array([[(self.k + self.m) / theta**2]])

    @property
    def mle(self):
        return self.k / self.s


class Linkage:
    """Dempster, Laird & Rubin (1977) genetic linkage multinomial.

    Counts y = (125, 18, 20, 34) with cell probabilities (1/2 + t/4, (1-t)/4, (1-t)/4, t/4);
    the first cell is split into 1/2 and t/4 (missing). The MLE solves
    197 t^2 - 15 t - 68 = 0 for these counts.
    """

    y = np.array([125.0, 18.0, 20.0, 34.0])

    def e_step(self, t):
        return self.y[0] * (t / 4) / (0.5 + t / 4)  # expected count in the t/4 part

    def m_step(self, x2):
        y = self.y
        return (x2 + y[3]) / (x2 + y[1] + y[2] + y[3])

    def loglik(self, t):
        y = self.y
        return y[0] * np.log(0.5 + t / 4) + (y[1] + y[2]) * np.log(1 - t) + y[3] * np.log(t)

    def complete_info(self, t):
        y = self.y
        x2 = self.e_step(t)
        return np.array([[(x2 + y[3]) / t**2 + (y[1] + y[2]) / (1 - t) ** 2]])

    @property
    def mle(self):
        return (15 + np.sqrt(15**2 + 4 * 197 * 68)) / (2 * 197)


class Moths:
    """Peppered moths (C > I > T) in the free parameters theta = (p_C, p_I), p_T = 1 - p_C - p_I.

    counts = (n_C, n_I, n_T, n_U); n_U moths are insularia or typica.
    """

    def __init__(self, counts=(85, 196, 341, 0)):
        self.n = np.asarray(counts, dtype=float)

    @staticmethod
    def probs(theta):
        pc, pi = theta
        pt = 1 - pc - pi
        return pc, pi, pt

    def e_step(self, theta):
        pc, pi, pt = self.probs(theta)
        nc, ni, nt, nu = self.n
        c = pc**2 + 2 * pc * pi + 2 * pc * pt
        i = pi**2 + 2 * pi * pt
        u = i + pt**2
        cc, ci, ct = nc * pc**2 / c, nc * 2 * pc * pi / c, nc * 2 * pc * pt / c
        ii = ni * pi**2 / i + nu * pi**2 / u
        it = ni * 2 * pi * pt / i + nu * 2 * pi * pt / u
        tt = nt + nu * pt**2 / u
        return np.array([cc, ci, ct, ii, it, tt])

    def m_step(self, g):
        cc, ci, ct, ii, it, tt = g
        n2 = 2 * g.sum()
        return np.array([(2 * cc + ci + ct) / n2, (2 * ii + ci + it) / n2])

    def loglik(self, theta):
        pc, pi, pt = self.probs(theta)
        nc, ni, nt, nu = self.n
        c = pc**2 + 2 * pc * pi + 2 * pc * pt
        i = pi**2 + 2 * pi * pt
        return nc * np.log(c) + ni * np.log(i) + nt * np.log(pt**2) + nu * np.log(i + pt**2)

    def complete_info(self, theta):
        """Expected complete-data information of the allele-count multinomial in (p_C, p_I)."""
        pc, pi, pt = self.probs(theta)
        cc, ci, ct, ii, it, tt = self.e_step(theta)
        a_c, a_i, a_t = 2 * cc + ci + ct, 2 * ii + ci + it, 2 * tt + ct + it
        d = a_t / pt**2
        return np.array([[a_c / pc**2 + d, d], [d, a_i / pi**2 + d]])


class Mixture:
    """pi N(mu1, 1) + (1 - pi) N(mu2, 1); theta = (mu1, mu2, pi), or (mu1, mu2) with pi fixed."""

    def __init__(self, x, pi=None):
        self.x = np.asarray(x, dtype=float)
        self.fixed_pi = pi

    def _unpack(self, theta):
        if self.fixed_pi is None:
            return theta[0], theta[1], theta[2]
        return theta[0], theta[1], self.fixed_pi

    def log_joint(self, theta):
        mu1, mu2, pi = self._unpack(theta)
        x = self.x
        return np.stack([np.log(pi) - 0.5 * (x - mu1) ** 2, np.log1p(-pi) - 0.5 * (x - mu2) ** 2])

    def e_step(self, theta):
        lj = self.log_joint(theta)
        return np.exp(lj - logsumexp(lj, axis=0))

    def m_step(self, g):
        n = g.sum(axis=1)
        mu = g @ self.x / n
        if self.fixed_pi is None:
            return np.array([mu[0], mu[1], n[0] / self.x.size])
        return mu

    def loglik(self, theta):
        return float(logsumexp(self.log_joint(theta), axis=0).sum())

    def complete_info(self, theta):
        g = self.e_step(theta)
        n = g.sum(axis=1)
        if self.fixed_pi is None:
            pi = theta[2]
            return np.diag([n[0], n[1], n[0] / pi**2 + n[1] / (1 - pi) ** 2])
        return np.diag(n)
