"""Property tests of kronecker_sampling: everything built from the factors equals the materialised product, the
samplers draw from the product distribution, and bad factors, indices and sizes are refused by name."""

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.sketching import kronecker_sampling as ks
from simple_algebra.sketching import leverage_scores as ls
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors

layouts = st.sampled_from(["contiguous", "transposed", "strided"])


def laid_out(A: torch.Tensor, layout: str) -> torch.Tensor:
    """The same matrix in another memory layout: column-major, or every other column of a wider one."""
    if layout == "transposed":
        return A.T.contiguous().T
    if layout == "strided":
        wide = torch.zeros(A.shape[0], 2 * A.shape[1], dtype=A.dtype)
        wide[:, ::2] = A
        return wide[:, ::2]
    return A


@covers(ks.kronecker_gram, ks.kronecker_gram_reference, ks.kronecker_leverage_scores,
        ks.kronecker_leverage_scores_reference)
@given(tensors(5, 2), tensors(4, 3), layouts, bad_tensors(5, 2))
def test_factored_gram_and_scores_equal_the_materialised_product(A1, A2, layout, bad):
    A1, A2 = laid_out(A1, layout), laid_out(A2, layout)
    gram = ks.kronecker_gram(A1, A2)
    assert gram.shape == (6, 6) and torch.allclose(gram, ks.kronecker_gram_reference(A1, A2), rtol=1e-10, atol=1e-9)
    scores = ks.kronecker_leverage_scores(A1, A2)
    assert scores.shape == (5, 4) and math.isclose(float(scores.sum()), 6.0, rel_tol=1e-10)
    assert torch.allclose(scores, ks.kronecker_leverage_scores_reference(A1, A2), atol=1e-10)
    tensor, shown = bad
    for function in (ks.kronecker_gram, ks.kronecker_gram_reference, ks.kronecker_leverage_scores,
                     ks.kronecker_leverage_scores_reference):
        refuses(function, tensor, A2, argument="A1", shows=shown)
        refuses(function, A1, A2.float(), argument="A1 and A2", shows="float32")
    refuses(ks.kronecker_leverage_scores, A1.T, A2, argument="A1", shows="(2, 5)")
    big = torch.ones(10**6, 1, dtype=torch.float64)
    refuses(ks.kronecker_gram_reference, big, big, argument="A1 (1000000, 1)", shows="GiB")


@covers(ks.sample_kronecker_pairs, ks.kronecker_rows)
@given(tensors(5, 2), tensors(4, 3), st.integers(1, 40), seeds, bad_tensors(5), huge_sizes)
def test_pairs_are_rows_of_the_product_with_weights_one_over_s_p(A1, A2, samples, seed, bad, huge):
    p1, p2 = ls.leverage_scores(A1), ls.leverage_scores(A2)
    i, j, weights = ks.sample_kronecker_pairs(p1, p2, samples, seed)
    assert i.shape == j.shape == weights.shape == (samples,) and finite(weights)
    product = (p1 / p1.sum())[i] * (p2 / p2.sum())[j]
    assert torch.allclose(weights, 1.0 / (samples * product), rtol=1e-12)
    rows = ks.kronecker_rows(A1, A2, i, j)
    assert torch.allclose(rows, torch.kron(A1, A2)[i * 4 + j], atol=1e-12)
    again = ks.sample_kronecker_pairs(p1, p2, samples, seed)
    assert all(torch.equal(x, y) for x, y in zip(again, (i, j, weights)))
    tensor, shown = bad
    refuses(ks.sample_kronecker_pairs, tensor, p2, samples, argument="p1", shows=shown)
    refuses(ks.sample_kronecker_pairs, p1, -p2, samples, argument="p2", shows="minimum -")
    refuses(ks.sample_kronecker_pairs, p1, p2, huge, argument="samples", shows="GiB")
    refuses(ks.sample_kronecker_pairs, p1, p2, samples, -1, argument="seed", shows="-1")
    refuses(ks.kronecker_rows, A1, A2, i.double(), j, argument="i", shows="float64")
    refuses(ks.kronecker_rows, A1, A2, i, j + 4, argument="j", shows=f"to {int(j.max()) + 4}")
    refuses(ks.kronecker_rows, A1, A2, i, j[:0], argument="i and j", shows="(0,)")


@covers(ks.sampled_kronecker_gram, ks.kronecker_spectral_error)
@given(tensors(6, 2), tensors(5, 2), st.sampled_from(ks.SCHEMES), st.integers(1, 60), st.floats(0.1, 10.0), seeds,
       huge_sizes)
def test_sampled_gram_is_psd_and_its_error_is_scale_invariant(A1, A2, scheme, samples, scale, seed, huge):
    gram = ks.sampled_kronecker_gram(A1, A2, samples, scheme, seed)
    assert gram.shape == (4, 4) and finite(gram) and torch.allclose(gram, gram.T, atol=1e-10)
    assert float(torch.linalg.eigvalsh(gram).min()) >= -1e-8 * float(gram.abs().max())
    assert torch.equal(ks.sampled_kronecker_gram(A1, A2, samples, scheme, seed), gram)
    # Scaling a factor scales H and H~ alike (the sampling distributions do not move): the error does not change.
    eps = ks.kronecker_spectral_error(A1, A2, samples, scheme, seed)
    assert math.isfinite(eps) and eps >= 0
    assert math.isclose(eps, ks.kronecker_spectral_error(scale * A1, A2, samples, scheme, seed), rel_tol=1e-7,
                        abs_tol=1e-9)
    assert math.isclose(eps, ls.spectral_error(ks.kronecker_gram(A1, A2), gram), rel_tol=1e-12)
    refuses(ks.sampled_kronecker_gram, A1, A2, huge, scheme, argument="samples", shows="GiB")
    refuses(ks.sampled_kronecker_gram, A1, A2, 0, scheme, argument="samples", shows="0")
    refuses(ks.sampled_kronecker_gram, A1, A2, samples, "grover", argument="scheme", shows="'grover'")
    refuses(ks.kronecker_spectral_error, A1.tolist(), A2, samples, argument="A1", shows="list")
    refuses(ks.kronecker_spectral_error, A1, A2 * math.nan, samples, argument="A2", shows="finite")


@covers(ks.coherent_factor)
@given(st.integers(1, 12), st.integers(1, 4), st.sampled_from([0.5, 1.5, 5.0, math.inf]), seeds, huge_sizes)
def test_coherent_factor_is_seeded_gaussian_rows_scaled_by_student_t(n, d, tail, seed, huge):
    d = min(d, n)
    A = ks.coherent_factor(n, d, tail, seed)
    assert A.shape == (n, d) and A.dtype == torch.float64 and finite(A)
    gaussian = torch.as_tensor(np.random.default_rng(seed).standard_normal((n, d)))
    if math.isinf(tail):
        assert torch.equal(A, gaussian)
    else:  # each row is the Gaussian row times one |t| draw
        ratios = A / gaussian
        assert torch.allclose(ratios, ratios[:, :1].expand(n, d)) and bool((ratios >= 0).all())
    assert torch.equal(ks.coherent_factor(n, d, tail, seed, dtype=torch.float32), A.float())
    refuses(ks.coherent_factor, huge, d, argument="n", shows=str(huge))
    refuses(ks.coherent_factor, n, n + 1, argument="d", shows=str(n + 1))
    refuses(ks.coherent_factor, n, d, 0, argument="tail", shows="0")
    refuses(ks.coherent_factor, n, d, math.nan, argument="tail", shows="nan")
    refuses(ks.coherent_factor, n, d, seed=-1, argument="seed", shows="-1")
    refuses(ks.coherent_factor, n, d, dtype=torch.int32, argument="dtype", shows="int32")


@covers(ks.query_cost_model, ks.quantum_crossover)
@given(st.floats(1.0, 1e12), st.floats(1.0, 100.0), st.floats(1e-3, 1.0), st.floats(0.1, 10.0), bad_reals)
def test_query_models_cross_at_the_stated_n(n, d, eps, constant, bad):
    model = ks.query_cost_model(n, d, eps, constant)
    assert model["materialised"] == n * n and model["classical"] == 2 * n and all(map(math.isfinite, model.values()))
    crossing = ks.quantum_crossover(d, eps, constant)
    assert math.isclose(crossing, constant**2 * d / eps**2)
    if crossing >= 1:
        at = ks.query_cost_model(crossing, d, eps, constant)
        assert math.isclose(at["classical"], at["quantum"], rel_tol=1e-9)
    value, shown = bad
    refuses(ks.query_cost_model, value, d, eps, argument="n", shows=shown)
    refuses(ks.query_cost_model, n, d, value, argument="eps", shows=shown)
    refuses(ks.quantum_crossover, d, eps, value, argument="constant", shows=shown)
    refuses(ks.quantum_crossover, 0.5, eps, argument="d", shows="0.5")


@covers(ks.kronecker_error_norms, ks.expected_frobenius_error, ks.marchenko_pastur_edge)
@given(tensors(6, 2), tensors(5, 2), st.sampled_from(ks.SCHEMES), st.integers(1, 60), seeds, bad_tensors(6, 2))
def test_error_norms_bound_each_other_and_the_leverage_moment_is_the_smallest(A1, A2, scheme, samples, seed, bad):
    spectral, frobenius = ks.kronecker_error_norms(A1, A2, samples, scheme, seed)
    assert math.isclose(spectral, ks.kronecker_spectral_error(A1, A2, samples, scheme, seed), rel_tol=1e-9,
                        abs_tol=1e-12)
    assert spectral**2 * (1 - 1e-9) <= frobenius + 1e-12 <= 4 * spectral**2 * (1 + 1e-9) + 2e-12
    expected = {name: ks.expected_frobenius_error(A1, A2, samples, name) for name in ks.SCHEMES}
    assert math.isclose(expected["leverage"], 12 / samples)  # (D^2 - D) / s with D = 4, whatever the data
    # sum sigma^2 / p >= (sum sigma)^2 = D^2 for every p (Cauchy-Schwarz): leverage sampling minimises the moment
    assert all(value >= expected["leverage"] * (1 - 1e-9) for value in expected.values())
    edge = ks.marchenko_pastur_edge(4, samples)
    assert edge > ks.marchenko_pastur_edge(4, samples + 1) > 0
    tensor, shown = bad
    refuses(ks.kronecker_error_norms, tensor, A2, samples, argument="A1", shows=shown)
    refuses(ks.kronecker_error_norms, A1, A2, 0, scheme, argument="samples", shows="0")
    refuses(ks.expected_frobenius_error, A1, A2, samples, "grover", argument="scheme", shows="'grover'")
    refuses(ks.expected_frobenius_error, A1, tensor, samples, argument="A2", shows=shown)
    refuses(ks.marchenko_pastur_edge, 4, 0, argument="samples", shows="0")
    refuses(ks.marchenko_pastur_edge, 2.5, samples, argument="dimension", shows="2.5")
