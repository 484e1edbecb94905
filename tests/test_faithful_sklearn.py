"""Old Faithful (notebook 03, Part 2): EM agrees with scikit-learn's GaussianMixture.

The model is re-implemented here (tests do not import notebook code): two normal
components with one shared sigma ("tied" covariance in scikit-learn), then separate ones
("full"). Both fits start from the same point, with scikit-learn's covariance
regularisation switched off, and must agree to 1e-5. The notebook's printed Part 2
estimate must be the same numbers.
"""

import hashlib
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import em_helpers as emh

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "faithful.csv"
SHA256 = "35755e109446ec911891b1eae5cb33bc2f18367ce712145e4f9d27d19f575bad"


def test_data_checksum_matches_sources():
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()
    assert digest == SHA256
    assert SHA256 in (ROOT / "data" / "SOURCES.md").read_text()


@pytest.fixture(scope="module")
def wait():
    return np.loadtxt(DATA, delimiter=",", skiprows=1)[:, 1]


def em_fit(x, theta0, shared):
    def log_joint(theta):
        mu1, mu2, pi = theta[:3]
        s1, s2 = (theta[3], theta[3]) if shared else (theta[3], theta[4])
        return np.stack(
            [
                np.log(pi) - 0.5 * ((x - mu1) / s1) ** 2 - np.log(s1),
                np.log1p(-pi) - 0.5 * ((x - mu2) / s2) ** 2 - np.log(s2),
            ]
        )

    def e_step(theta):
        la, lb = log_joint(theta)
        return np.exp(la - np.logaddexp(la, lb))

    def m_step(g):
        w1, w2 = g.sum(), (1 - g).sum()
        mu1, mu2 = g @ x / w1, (1 - g) @ x / w2
        r1, r2 = g @ (x - mu1) ** 2, (1 - g) @ (x - mu2) ** 2
        if shared:
            return np.array([mu1, mu2, w1 / x.size, np.sqrt((r1 + r2) / x.size)])
        return np.array([mu1, mu2, w1 / x.size, np.sqrt(r1 / w1), np.sqrt(r2 / w2)])

    def loglik(theta):
        return float(np.logaddexp(*log_joint(theta)).sum())

    return emh.run_em(e_step, m_step, theta0, loglik=loglik, tol=1e-13, max_iter=10_000)


def sklearn_fit(x, theta0, shared):
    mu1, mu2, pi = theta0[:3]
    sigmas = [theta0[3], theta0[3]] if shared else theta0[3:]
    gm = GaussianMixture(
        n_components=2,
        covariance_type="tied" if shared else "full",
        weights_init=[pi, 1 - pi],
        means_init=[[mu1], [mu2]],
        precisions_init=(
            np.array([[sigmas[0] ** -2]]) if shared else np.array([[[s**-2]] for s in sigmas])
        ),
        reg_covar=0.0,
        tol=1e-14,
        max_iter=10_000,
    ).fit(x[:, None])
    assert gm.converged_
    sd = np.sqrt(np.ravel(gm.covariances_))
    theta = [gm.means_[0, 0], gm.means_[1, 0], gm.weights_[0]]
    return np.array(theta + ([sd[0]] if shared else list(sd)))


@pytest.mark.parametrize(
    ("theta0", "shared"),
    [([50.0, 80.0, 0.5, 10.0], True), ([50.0, 80.0, 0.5, 10.0, 10.0], False)],
    ids=["shared-sigma", "separate-sigmas"],
)
def test_em_matches_sklearn_from_the_same_start(wait, theta0, shared):
    ours = em_fit(wait, theta0, shared)
    assert ours.converged
    np.testing.assert_allclose(ours.theta, sklearn_fit(wait, theta0, shared), atol=1e-5)


def test_notebook_prints_the_same_part2_estimate(wait):
    nb = nbformat.read(ROOT / "notebooks" / "03_gaussian_mixture.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    m = re.search(r"Part 2 estimate: mu1=(\S+) mu2=(\S+) pi=(\S+) sigma=(\S+)", text)
    assert m, "the notebook no longer prints its Part 2 estimate"
    printed = np.array([float(v) for v in m.groups()])
    ours = em_fit(wait, [50.0, 80.0, 0.5, 10.0], shared=True)
    np.testing.assert_allclose(printed, ours.theta, atol=2e-6)
