"""Property tests of the attention-loss gradient: the paper's formula equals autograd and central differences,
the low-rank gradient converges to it, and the sweeps refuse invalid degrees instead of reporting NaN."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import gradient as ag
from simple_algebra.core.metrics import relative_error
from tests.properties import bad_reals, bad_tensors, covers, huge_sizes, refuses, seeds

small_n = st.integers(1, 6)
small_d = st.integers(1, 3)
bounds = st.floats(0.1, 2.0)


@covers(ag.random_problem, ag.attention_loss, ag.attention_gradient_autograd, ag.attention_gradient_reference,
        ag.finite_difference_gradient)
@given(small_n, small_d, bounds, seeds, bad_tensors(4, 2), bad_reals, huge_sizes)
def test_gradient_formula_equals_autograd_and_differences(n, d, bound, seed, bad, bad_step, huge):
    problem = ag.random_problem(n, d, bound, seed=seed)
    again = ag.random_problem(n, d, bound, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip(problem, again))
    assert float((problem.A1 @ problem.X).abs().max()) == pytest.approx(bound)
    assert float(problem.A2.abs().max()) == pytest.approx(bound)
    loss = ag.attention_loss(*problem)
    assert loss.ndim == 0 and math.isfinite(float(loss)) and float(loss) >= 0
    reference = ag.attention_gradient_reference(*problem)
    torch.testing.assert_close(reference, ag.attention_gradient_autograd(*problem), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(reference, ag.finite_difference_gradient(*problem), rtol=1e-5, atol=1e-7)

    refuses(ag.random_problem, huge, d, bound, argument="n", shows=str(huge))
    refuses(ag.random_problem, n, d, bound, seed=-1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(ag.random_problem, n, d, bound, dtype=torch.int32, argument="dtype", shows="int32")
    value, shown = bad_step
    refuses(ag.random_problem, n, d, value, argument="bound", shows=shown)
    refuses(ag.finite_difference_gradient, *problem, step=value, argument="step", shows=shown)
    tensor, shown = bad
    base = ag.random_problem(4, 2, bound, seed=seed)
    for function in (ag.attention_loss, ag.attention_gradient_reference, ag.attention_gradient_autograd):
        refuses(function, *base._replace(A2=tensor), argument="A2", shows=shown)
        refuses(function, *base._replace(E=base.E.float()), argument="E", shows="float32")
        refuses(function, *base._replace(A3=base.A3[:3]), argument="A3", shows="3")


@covers(ag.low_rank_attention_factors, ag.attention_gradient_low_rank, ag.low_rank_errors, ag.smallest_degree)
@given(st.integers(2, 6), small_d, st.floats(0.1, 0.7), seeds, st.sampled_from([2, 4, 6]), huge_sizes)
def test_low_rank_gradient_converges_to_the_formula(n, d, bound, seed, degree, huge):
    problem = ag.random_problem(n, d, bound, seed=seed)
    U1, V1 = ag.low_rank_attention_factors(problem.X, problem.A1, problem.A2, degree)
    assert U1.shape == (n, math.comb(d + degree, degree)) and V1.shape == (n, U1.shape[1])
    torch.testing.assert_close((U1 @ V1.T).sum(dim=1), torch.ones(n, dtype=torch.float64))  # rows are normalised
    exact = ag.attention_gradient_reference(*problem)
    errors = ag.low_rank_errors(problem, [degree, 12])
    assert errors[0] == relative_error(ag.attention_gradient_low_rank(*problem, degree), exact)
    assert errors[1] < 1e-6  # |score| <= B^2 < 1/2: degree 12 is exp to rounding (n >= 2: a nonzero gradient)
    found = ag.smallest_degree(problem, 1e-3)
    assert found is not None
    g, error = found
    assert error <= 1e-3 and all(not (e <= 1e-3) for e in ag.low_rank_errors(problem, list(range(g))) if g)

    refuses(ag.attention_gradient_low_rank, *problem, huge, argument="degree", shows=str(huge))
    refuses(ag.attention_gradient_low_rank, *problem, -1, argument="degree", shows="-1")
    refuses(ag.low_rank_attention_factors, problem.X, problem.A1[:, :1].expand(n, d + 1).contiguous(), problem.A2,
            degree, argument="A1", shows=f"({n}, {d + 1})")
    refuses(ag.low_rank_attention_factors, problem.X, problem.A1, problem.A2.float(), degree, argument="A2",
            shows="float32")
    refuses(ag.low_rank_errors, problem, [degree, -1], argument="degrees", shows="-1")  # was a NaN entry
    refuses(ag.low_rank_errors, problem, [2.5], argument="degrees", shows="2.5")
    refuses(ag.low_rank_errors, problem[:2], [degree], argument="problem", shows="length 2")
    refuses(ag.smallest_degree, problem, 1e-3, max_degree=huge, argument="max_degree", shows=str(huge))
    refuses(ag.smallest_degree, problem, 0.0, argument="tolerance", shows="0.0")
