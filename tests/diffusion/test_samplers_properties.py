"""Property tests of the samplers and distances: the probability flow of a Gaussian converges to its exact map, the
grids are capped, the fast distances equal their pure-Python references, and bad input is refused by name."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core.runtime import one_thread
from simple_algebra.core.validation import MAX_STEPS
from simple_algebra.diffusion import gaussian_mixture as gm
from simple_algebra.diffusion import samplers as df
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds


@covers(df.time_grid)
@given(st.floats(0.5, 10.0), st.floats(1e-4, 0.4), st.integers(1, 50), st.sampled_from(df.SPACINGS), bad_reals)
def test_time_grids_run_from_horizon_to_delta_and_cap_their_length(horizon, delta, steps, spacing, bad):
    times = df.time_grid(horizon, delta, steps, spacing)
    assert len(times) == steps + 1 and times[0] == horizon and times[-1] == pytest.approx(delta, rel=1e-12)
    assert all(later < earlier for earlier, later in zip(times, times[1:]))
    gaps = [earlier - later for earlier, later in zip(times, times[1:])]
    ratios = [later / earlier for earlier, later in zip(times, times[1:])]
    spread = (max(gaps) - min(gaps)) if spacing == "uniform" else (max(ratios) - min(ratios))
    assert spread < 1e-9  # equal steps, or equal ratios
    refuses(df.time_grid, horizon, delta, MAX_STEPS + 1, argument="steps", shows=str(MAX_STEPS + 1))
    refuses(df.time_grid, horizon, horizon, steps, argument="delta", shows=str(horizon))
    refuses(df.time_grid, horizon, delta, steps, "log", argument="spacing", shows="'log'")
    refuses(df.time_grid, bad[0], delta, steps, argument="horizon", shows=bad[1])


@covers(df.ddpm_sample, df.probability_flow_sample, df.gaussian_flow_reference)
@given(seeds, st.floats(0.2, 2.0), st.sampled_from([None, gm.vp_schedule()]), huge_sizes,
       bad_tensors(4, 2).filter(lambda bad: bad[0].ndim == 2))
def test_the_flow_of_a_gaussian_converges_to_its_exact_map_and_samplers_are_seeded(seed, variance, schedule, huge,
                                                                                    bad):
    mean = torch.tensor([1.0, -0.5], dtype=torch.float64)
    target = gm.gaussian_mixture([1.0], mean[None], variance)
    x_start = torch.randn(4, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    horizon = 1.0 if schedule is not None else 3.0
    exact = df.gaussian_flow_reference(x_start, mean, variance, horizon, 0.05, schedule)
    with one_thread():  # tiny tensors: a second thread only spin-waits
        errors = [float((df.probability_flow_sample(target.score_function(schedule), x_start, steps, horizon, 0.05,
                                                    schedule) - exact).abs().max()) for steps in (10, 40)]
    assert errors[1] < 0.5 * errors[0] + 1e-9  # Euler: first order in the step (4x the steps, about 1/4 the error)
    draw = lambda: torch.Generator().manual_seed(seed)  # noqa: E731
    first = df.ddpm_sample(target.score_function(schedule), x_start, 10, horizon, 0.05, schedule, draw())
    assert torch.equal(first, df.ddpm_sample(target.score_function(schedule), x_start, 10, horizon, 0.05, schedule,
                                             draw()))
    assert first.shape == x_start.shape and finite(first)
    score = target.score_function(schedule)
    for sampler in (df.ddpm_sample, df.probability_flow_sample):
        refuses(sampler, score, x_start, huge, argument="steps", shows=str(huge))
        refuses(sampler, score, bad[0], 5, argument="x_start", shows=bad[1])
        refuses(sampler, "score", x_start, 5, argument="score", shows="str")
        refuses(sampler, score, x_start, 5, schedule="vp", argument="schedule", shows="'vp'")
        refuses(sampler, lambda x, t: x.long(), x_start, 5, argument="score(x, t)", shows="int64")
        refuses(sampler, lambda x, t: x[:, :1], x_start, 5, argument="score(x, t)", shows="(4, 1)")
    refuses(df.ddpm_sample, score, x_start, 5, generator=seed, argument="generator", shows=str(seed))
    refuses(df.gaussian_flow_reference, x_start, mean[:1], variance, horizon, 0.05, argument="mean", shows="(1,)")
    refuses(df.gaussian_flow_reference, x_start, mean * math.nan, variance, horizon, 0.05, argument="mean",
            shows="NaN")
    refuses(df.gaussian_flow_reference, x_start, mean, variance, 0.05, horizon, argument="delta", shows=str(horizon))


@covers(df.perturbed_score, df.random_directions)
@given(seeds, st.floats(0.0, 1.0), st.integers(1, 4), huge_sizes)
def test_perturbed_scores_and_directions_are_seeded_and_sized(seed, eps0, dim, huge):
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    x = torch.randn(6, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    error = df.perturbed_score(zero, eps0, dim, seed=seed)(x, 0.5)
    assert torch.equal(error, df.perturbed_score(zero, eps0, dim, seed=seed)(x, 0.5)) and finite(error)
    torch.testing.assert_close(error, eps0 * df.perturbed_score(zero, 1.0, dim, seed=seed)(x, 0.5))  # linear in eps0
    directions = df.random_directions(5, dim, seed)
    assert torch.equal(directions, df.random_directions(5, dim, seed))
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(5, dtype=torch.float64))
    refuses(df.perturbed_score(zero, eps0, dim), torch.ones(3, dim + 1, dtype=torch.float64), 0.5, argument="x",
            shows=f"(3, {dim + 1})")
    refuses(df.perturbed_score, zero, eps0, dim, features=huge, argument=f"features = {huge}", shows="GiB")
    refuses(df.perturbed_score, zero, eps0, huge, argument=f"dim = {huge}", shows="GiB")
    refuses(df.perturbed_score, zero, -1.0 - eps0, dim, argument="eps0", shows=str(-1.0 - eps0))
    refuses(df.perturbed_score, 3, eps0, dim, argument="score", shows="int")
    refuses(df.perturbed_score, zero, eps0, dim, seed=-1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(df.random_directions, huge, dim, argument=f"count = {huge}", shows="GiB")
    refuses(df.random_directions, 3, dim, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(df.random_directions, 3, dim, device="cuda", argument="device", shows="cuda")


@covers(df.sliced_wasserstein, df.sliced_wasserstein_reference, df.mmd, df.mmd_reference)
@given(seeds, st.integers(1, 6), st.integers(1, 3), st.floats(0.3, 2.0), st.floats(-2.0, 2.0), huge_sizes)
def test_distances_equal_their_references_vanish_on_equal_sets_and_see_a_shift(seed, n, d, bandwidth, shift, huge):
    draw = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=draw, dtype=torch.float64)
    y = torch.randn(n, d, generator=draw, dtype=torch.float64)
    fast = df.sliced_wasserstein(x, y, 8, seed=seed)
    assert fast == pytest.approx(df.sliced_wasserstein_reference(x, y, 8, seed=seed), rel=1e-9, abs=1e-12)
    assert df.mmd(x, y, bandwidth) == pytest.approx(df.mmd_reference(x, y, bandwidth), rel=1e-7, abs=1e-7)
    assert df.sliced_wasserstein(x, x, 8) == 0.0 and df.mmd(x, x, bandwidth) < 1e-7
    moved = x + shift  # a shift along (1, ..., 1): every projection moves by <theta, 1> shift
    directions = df.random_directions(8, d, seed)
    expected = abs(shift) * float((directions.sum(1) ** 2).mean().sqrt())
    assert df.sliced_wasserstein(x, moved, 8, seed=seed) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    for function in (df.sliced_wasserstein, df.sliced_wasserstein_reference, df.mmd, df.mmd_reference):
        refuses(function, x, y.float(), argument="y", shows="float32")
        refuses(function, x, y[:, :0] if d > 1 else torch.ones(n, 2, dtype=torch.float64), argument="y")
        refuses(function, x * math.nan, y, argument="x", shows="NaN")
    refuses(df.sliced_wasserstein, x, y[:0] if n > 1 else torch.ones(2, d, dtype=torch.float64), argument="y")
    refuses(df.sliced_wasserstein, x, y, huge, argument=f"projections = {huge}", shows="GiB")
    refuses(df.sliced_wasserstein_reference, x, y, huge, argument="projections", shows="the reference")
    refuses(df.mmd, x, y, -bandwidth, argument="bandwidth", shows=str(-bandwidth))
    refuses(df.mmd, torch.full((2, d), 1e200, dtype=torch.float64), -x[:2], argument="x and y", shows="1e+200")
    big = torch.zeros(2000, 1, dtype=torch.float64)
    refuses(df.mmd_reference, big, big, argument="(n + m)^2", shows="16000000")


@covers(df.sde_error_bound, df.mixture_kl_to_standard)
@given(st.floats(0.1, 500.0), st.floats(0.0, 20.0), st.integers(1, 5), st.integers(1, 10**6), st.floats(0.0, 1.0),
       st.floats(0.0, 10.0), bad_reals)
def test_the_solver_bound_adds_its_terms_and_shrinks_with_the_step(lipschitz, moment, d, steps, eps, kl, bad):
    bound = df.sde_error_bound(lipschitz, moment, d, steps, score_error=eps, initial_kl=kl)
    assert bound["step"] == pytest.approx((5.0 - 1e-3) / steps) and bound["step_condition"] == pytest.approx(
        lipschitz * bound["step"])
    assert bound["tv"] == pytest.approx(bound["tv_start"] + bound["tv_discretisation"] + bound["tv_score"])
    assert bound["kl"] == pytest.approx(bound["kl_start"] + bound["kl_discretisation"] + bound["kl_score"])
    finer = df.sde_error_bound(lipschitz, moment, d, 2 * steps, score_error=eps, initial_kl=kl)
    assert finer["tv_discretisation"] < bound["tv_discretisation"] and finer["tv_score"] == bound["tv_score"]
    # halving h divides sqrt(h) by sqrt(2) and h by 2: the discretisation term falls by a factor in [sqrt 2, 2]
    assert math.sqrt(2) * (1 - 1e-9) <= bound["tv_discretisation"] / finer["tv_discretisation"] <= 2 * (1 + 1e-9)
    value, shown = bad
    refuses(df.sde_error_bound, value, moment, d, steps, argument="lipschitz", shows=shown)
    refuses(df.sde_error_bound, lipschitz, moment, d, steps, delta=6.0, argument="delta", shows="6.0")
    refuses(df.sde_error_bound, lipschitz, moment, d, 0, argument="steps", shows="0")
    refuses(df.mixture_kl_to_standard, "ring", argument="mixture", shows="str")
