"""Louis' method against the numerical observed information, at and away from the MLE."""

import warnings

import numpy as np
import pytest

import em_helpers as emh
from em_helpers.core.louis import louis_information, score_moments
from em_helpers.models import examples as ex

AWAY = {
    "exponential": np.array([0.7]),
    "moths": np.array([0.2, 0.3]),
    "gaussians": np.array([-0.3, 1.2, 0.6]),
    "coins": np.array([0.6, 0.45]),
}


def mle(m):
    res = emh.run_em(m.e_step, m.m_step, m.theta0, loglik=m.loglik, tol=1e-12)
    return res, np.atleast_1d(res.theta)


@pytest.mark.parametrize("name", list(ex.EXAMPLES))
def test_louis_equals_inverse_observed_information_at_and_away_from_the_mle(name):
    m = ex.EXAMPLES[name]
    for theta in (mle(m)[1], AWAY[name]):
        _, cov = m.score_moments(theta)
        louis = louis_information(m.complete_info(theta), cov)
        numeric = emh.observed_information(m.loglik, theta)
        np.testing.assert_allclose(louis.observed, numeric, rtol=1e-6,
                                   atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("name", ["moths", "coins"])
def test_second_moment_form_needs_the_score_term_away_from_the_mle(name):
    m = ex.EXAMPLES[name]
    theta = AWAY[name]
    mean, cov = m.score_moments(theta)
    second = cov + np.outer(mean, mean)
    louis = louis_information(m.complete_info(theta), score_second_moment=second, score=mean)
    np.testing.assert_allclose(louis.observed, louis_information(m.complete_info(theta),
                                                                 cov).observed)
    numeric = emh.observed_information(m.loglik, theta)
    np.testing.assert_allclose(louis.observed, numeric, rtol=1e-6)
    # dropping S S^T (valid only at the MLE) is wrong here by S S^T
    wrong = louis_information(m.complete_info(theta), second)
    assert np.abs(wrong.observed - numeric).max() > 0.1 * np.abs(np.outer(mean, mean)).max()


@pytest.mark.parametrize("name", ["moths", "gaussians", "coins"])
def test_fractions_and_dm_match_sem_at_the_mle(name):
    m = ex.EXAMPLES[name]
    res, theta = mle(m)
    louis = louis_information(m.complete_info(theta), m.score_moments(theta)[1])
    sem = emh.sem_covariance(m.e_step, m.m_step, res, m.complete_info)
    np.testing.assert_allclose(louis.dm, sem.dm, atol=1e-6)
    np.testing.assert_allclose(louis.fractions, np.sort(np.real(sem.rates))[::-1], atol=1e-6)
    np.testing.assert_allclose(louis.cov, sem.cov, rtol=1e-5)
    np.testing.assert_allclose(louis.se, np.sqrt(np.diag(sem.cov)), rtol=1e-5)


def test_saddle_of_the_symmetric_start_warns_and_has_a_rate_above_one():
    theta = np.array([0.66, 0.66])  # notebook 04's symmetric fixed point
    np.testing.assert_allclose(ex.coins.m_step(ex.coins.e_step(theta)), theta)
    louis = louis_information(ex.coins.complete_info(theta), ex.coins.score_moments(theta)[1])
    assert not louis.positive_definite
    assert louis.fractions[0] > 1
    with pytest.warns(emh.InformationWarning, match="not positive definite"):
        louis.cov  # noqa: B018


def test_score_moments_adds_independent_observations_and_ignores_impossible_values():
    probs = np.array([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0]])
    scores = np.zeros((2, 3, 1))
    scores[0, :, 0] = [1.0, 3.0, np.inf]
    scores[1, :, 0] = [2.0, np.nan, 5.0]
    mean, cov = score_moments(probs, scores, counts=[2, 1])
    assert mean == pytest.approx([2 * 2.5 + 2.0])
    np.testing.assert_allclose(cov, [[2 * 0.75]])  # Var = 0.25*0.75*(3-1)^2 per copy


def test_input_errors_name_the_argument():
    eye = np.eye(2)
    with pytest.raises(ValueError, match="probs"):
        score_moments(np.array([[0.5, 0.6]]), np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="scores"):
        score_moments(np.array([[0.5, 0.5]]), np.zeros((1, 3, 1)))
    with pytest.raises(ValueError, match="counts"):
        score_moments(np.array([[0.5, 0.5]]), np.zeros((1, 2, 1)), counts=[-1])
    with pytest.raises(ValueError, match="complete_info"):
        louis_information(-eye, eye)
    with pytest.raises(ValueError, match="complete_info"):
        louis_information(np.array([[1.0, 2.0], [0.0, 1.0]]), eye)
    with pytest.raises(ValueError, match="score_cov"):
        louis_information(eye, np.eye(3))
    with pytest.raises(TypeError, match="exactly one"):
        louis_information(eye)
    with pytest.raises(TypeError, match="score"):
        louis_information(eye, score_second_moment=eye)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        louis_information(eye, -eye)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert louis_information(2 * eye, eye).se == pytest.approx([1.0, 1.0])
