"""Tests of simple_algebra.sketching.kronecker_sampling (chapter: Gao, Song, Zhang; arXiv 2402.07027)."""

import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.sketching import kronecker_sampling as ks
from simple_algebra.sketching.leverage_scores import leverage_scores


def factors(n1=12, n2=9, d1=3, d2=2, tail=1.5):
    return ks.coherent_factor(n1, d1, tail, seed=0), ks.coherent_factor(n2, d2, tail, seed=1)


def test_gram_matches_materialised_product():
    A1, A2 = factors()
    torch.testing.assert_close(ks.kronecker_gram(A1, A2), ks.kronecker_gram_reference(A1, A2), rtol=1e-12, atol=1e-10)


def test_leverage_scores_factor_into_an_outer_product():
    A1, A2 = factors()
    product = ks.kronecker_leverage_scores(A1, A2)
    torch.testing.assert_close(product, ks.kronecker_leverage_scores_reference(A1, A2), rtol=0, atol=1e-12)
    assert math.isclose(float(product.sum()), 6.0, rel_tol=1e-12)


def test_rows_match_torch_kron_order():
    A1, A2 = factors()
    i, j = torch.tensor([0, 3, 11, 5]), torch.tensor([8, 0, 4, 4])
    torch.testing.assert_close(ks.kronecker_rows(A1, A2, i, j), torch.kron(A1, A2)[i * A2.shape[0] + j])


def test_pair_sampler_frequencies_match_the_product_distribution():
    p1 = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    p2 = torch.tensor([0.1, 0.9], dtype=torch.float64)
    s = 60_000
    i, j, weights = ks.sample_kronecker_pairs(p1, p2, s, seed=3)
    counts = torch.bincount(i * 2 + j, minlength=6).to(torch.float64)
    expected = s * torch.outer(p1, p2).flatten()
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 20.5  # 99.9% quantile of chi-square with 5 degrees of freedom
    torch.testing.assert_close(weights, 1 / (s * p1[i] * p2[j]))


@pytest.mark.parametrize("scheme", ks.SCHEMES)
def test_sampled_gram_is_unbiased(scheme):
    A1, A2 = factors(8, 7, 2, 2)
    exact = ks.kronecker_gram(A1, A2)
    with sa.one_thread():
        mean = sum(ks.sampled_kronecker_gram(A1, A2, 50, scheme, seed) for seed in range(0, 600, 3)) / 200
    assert float(torch.linalg.matrix_norm(mean - exact, ord=2) / torch.linalg.matrix_norm(exact, ord=2)) < 0.15


def test_leverage_beats_uniform_on_coherent_rows():
    A1, A2 = ks.coherent_factor(400, 3, 1.0, seed=0), ks.coherent_factor(400, 3, 1.0, seed=1)
    leverage = [ks.kronecker_spectral_error(A1, A2, 3000, "leverage", seed) for seed in range(3)]
    uniform = [ks.kronecker_spectral_error(A1, A2, 3000, "uniform", seed) for seed in range(3)]
    assert max(leverage) < 0.3 < min(uniform)


def test_determinism():
    A1, A2 = factors()
    for scheme in ks.SCHEMES:
        torch.testing.assert_close(ks.sampled_kronecker_gram(A1, A2, 40, scheme, 5),
                                   ks.sampled_kronecker_gram(A1, A2, 40, scheme, 5), rtol=0, atol=0)
    torch.testing.assert_close(ks.coherent_factor(10, 2, seed=4), ks.coherent_factor(10, 2, seed=4), rtol=0, atol=0)


def test_incoherent_factor_has_flat_scores():
    scores = leverage_scores(ks.coherent_factor(2000, 3, math.inf, seed=0))
    assert float(scores.max()) < 0.02  # mean 3/2000; a heavy-tailed factor has scores near 1


def test_cost_model():
    cost = ks.query_cost_model(1e6, 4, 0.1)
    assert cost == {"materialised": 1e12, "classical": 2e6, "quantum": 2 * math.sqrt(4e6) / 0.1}
    n_star = ks.quantum_crossover(4, 0.1)
    at = ks.query_cost_model(n_star, 4, 0.1)
    assert math.isclose(at["classical"], at["quantum"], rel_tol=1e-12)


def test_value_errors():
    A1, A2 = factors()
    with pytest.raises(ValueError, match="scheme"):
        ks.sampled_kronecker_gram(A1, A2, 10, scheme="grover")
    with pytest.raises(ValueError, match="samples"):
        ks.sampled_kronecker_gram(A1, A2, 0)
    with pytest.raises(ValueError, match="at least as many rows"):
        ks.kronecker_leverage_scores(A1.T, A2)
    with pytest.raises(ValueError, match="share dtype"):
        ks.kronecker_gram(A1, A2.float())
    with pytest.raises(ValueError, match="full column rank"):
        ks.kronecker_leverage_scores(torch.cat([A1[:, :1], A1[:, :1]], 1), A2)
    with pytest.raises(ValueError, match="out of range"):
        ks.kronecker_rows(A1, A2, torch.tensor([12]), torch.tensor([0]))
    with pytest.raises(ValueError, match="tail"):
        ks.coherent_factor(10, 2, tail=0)
    with pytest.raises(ValueError, match="eps"):
        ks.query_cost_model(100, 2, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        ks.sample_kronecker_pairs(torch.tensor([-1.0, 2.0]), torch.ones(2), 5)


def whitened_rows(A1, A2):
    """The rows of the materialised product, whitened by the exact Gram matrix: u_r with ||u_r||^2 = sigma_r."""
    A = torch.kron(A1, A2)
    values, vectors = torch.linalg.eigh(A.T @ A)
    return A @ (vectors / values.sqrt())


@pytest.mark.parametrize("samples", [1, 7])
@pytest.mark.parametrize("scheme", ["leverage", "uniform"])
def test_expected_frobenius_error_equals_the_enumerated_second_moment(scheme, samples):
    A1, A2 = factors(5, 4, 2, 2)
    U = whitened_rows(A1, A2)
    sigma = (U * U).sum(dim=1)
    p = sigma / sigma.sum() if scheme == "leverage" else torch.full_like(sigma, 1 / sigma.shape[0])
    eye = torch.eye(4, dtype=torch.float64)
    one_draw = sum(float(p[r]) * float((torch.outer(U[r], U[r]) / p[r] - eye).square().sum()) for r in range(20))
    assert math.isclose(ks.expected_frobenius_error(A1, A2, samples, scheme), one_draw / samples, rel_tol=1e-9)


def test_expected_frobenius_error_of_two_sketches_equals_the_enumerated_second_moment():
    A1, A2 = factors(5, 4, 2, 3)
    moments = []
    for factor in (A1, A2):  # one leverage-sampled row per factor (s = 1, so ceil(sqrt(s)) = 1)
        values, vectors = torch.linalg.eigh(factor.T @ factor)
        U = factor @ (vectors / values.sqrt())
        sigma = (U * U).sum(dim=1)
        moments.append((U, sigma / sigma.sum()))
    (U1, p1), (U2, p2) = moments
    eye = torch.eye(6, dtype=torch.float64)
    exact = sum(float(p1[i] * p2[j]) * float((torch.kron(torch.outer(U1[i], U1[i]) / p1[i],
                                                         torch.outer(U2[j], U2[j]) / p2[j]) - eye).square().sum())
                for i in range(5) for j in range(4))
    assert math.isclose(ks.expected_frobenius_error(A1, A2, 1, "sketches"), exact, rel_tol=1e-9)


@pytest.mark.parametrize("scheme, tail", [("leverage", 1.5), ("sketches", 1.5), ("uniform", math.inf)])
def test_measured_frobenius_error_averages_to_the_expected_value(scheme, tail):
    A1, A2 = ks.coherent_factor(60, 3, tail, seed=0), ks.coherent_factor(50, 2, tail, seed=1)
    with sa.one_thread():
        measured = torch.tensor([ks.kronecker_error_norms(A1, A2, 40, scheme, seed)[1] for seed in range(400)])
    expected = ks.expected_frobenius_error(A1, A2, 40, scheme)
    standard_error = float(measured.std()) / math.sqrt(400)
    assert abs(float(measured.mean()) - expected) < 4 * standard_error


def test_leverage_spectral_error_sits_at_the_marchenko_pastur_edge():
    assert math.isclose(ks.marchenko_pastur_edge(36, 10_000), 2 * 0.06 + 0.0036)
    A1, A2 = ks.coherent_factor(300, 4, math.inf, seed=0), ks.coherent_factor(300, 4, math.inf, seed=1)
    with sa.one_thread():
        errors = sorted(ks.kronecker_error_norms(A1, A2, 2000, "leverage", seed)[0] for seed in range(15))
    assert abs(errors[7] / ks.marchenko_pastur_edge(16, 2000) - 1) < 2 * 16 ** (-2 / 3)
