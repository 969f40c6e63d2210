import math

import pytest
import torch

from simple_algebra.core.runtime import one_thread
from simple_algebra.diffusion import gaussian_mixture as gm
from simple_algebra.diffusion import samplers as df


@pytest.fixture(autouse=True)
def single_thread():
    with one_thread():  # many small tensor operations: two threads only spin-wait on a busy machine
        yield


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_time_grid():
    for spacing in df.SPACINGS:
        times = df.time_grid(5.0, 1e-3, 10, spacing)
        assert len(times) == 11 and math.isclose(times[0], 5.0) and math.isclose(times[-1], 1e-3)
        assert all(later < earlier for earlier, later in zip(times, times[1:]))
    ratios = [a / b for a, b in zip(df.time_grid(5.0, 1e-3, 10), df.time_grid(5.0, 1e-3, 10)[1:])]
    assert max(ratios) - min(ratios) < 1e-9
    for args, message in [((1.0, 2.0, 5), "delta must be smaller"), ((1.0, 0.0, 5), "delta"),
                          ((1.0, 0.1, 0), "steps"), ((1.0, 0.1, 5, "cubic"), "spacing")]:
        with pytest.raises(ValueError, match=message):
            df.time_grid(*args)


@pytest.mark.parametrize("schedule", [None, gm.vp_schedule()])
def test_probability_flow_converges_to_the_exact_gaussian_flow(schedule):
    target = gm.gaussian_mixture([1.0], [[1.0, -0.5]], 0.5)
    horizon = 5.0 if schedule is None else 1.0
    x_start = torch.randn(200, 2, generator=gen(0), dtype=torch.float64)
    exact = df.gaussian_flow_reference(x_start, target.means[0], 0.5, horizon, 1e-3, schedule)
    errors = [float((df.probability_flow_sample(target.score_function(schedule), x_start, steps, horizon, 1e-3,
                                                  schedule, spacing="uniform") - exact).abs().max())
              for steps in (100, 200, 400)]
    assert errors[2] < 0.05
    assert 1.6 < errors[0] / errors[1] < 2.4 and 1.6 < errors[1] / errors[2] < 2.4  # first order


def test_ddpm_reaches_the_target_moments():
    target = gm.gaussian_mixture([1.0], [[1.0, -0.5]], 0.5)
    x_start = torch.randn(4000, 2, generator=gen(1), dtype=torch.float64)
    samples = df.ddpm_sample(target.score_function(), x_start, 100, generator=gen(2))
    law = target.at_time(1e-3)
    standard_error = samples.std(0) / math.sqrt(samples.shape[0])
    assert ((samples.mean(0) - law.means[0]).abs() < 4 * standard_error + 0.02).all()
    assert abs(float(samples.var(0).mean()) - float(law.variances[0])) < 0.05


def test_samplers_are_deterministic_and_follow_the_dtype():
    ring = gm.ring_mixture(4)
    x_start = torch.randn(50, 2, generator=gen(3), dtype=torch.float32)
    first = df.ddpm_sample(ring.score_function(), x_start, 20, generator=gen(4))
    second = df.ddpm_sample(ring.score_function(), x_start, 20, generator=gen(4))
    assert torch.equal(first, second)
    flow = df.probability_flow_sample(ring.score_function(), x_start.double(), 20)
    assert flow.dtype == torch.float64 and torch.isfinite(flow).all()


def test_perturbed_score_has_the_requested_size():
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    x = torch.randn(4000, 3, generator=gen(5), dtype=torch.float64)
    sizes = [float((df.perturbed_score(zero, 0.3, 3, seed=seed)(x, 0.5) ** 2).sum(1).mean().sqrt())
             for seed in range(20)]
    assert 0.2 < sum(sizes) / len(sizes) < 0.4
    assert torch.equal(df.perturbed_score(zero, 0.0, 3)(x, 0.1), zero(x, 0.1))


def test_sampler_errors():
    ring = gm.ring_mixture(4)
    x_start = torch.zeros(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="score must be"):
        df.ddpm_sample("not a function", x_start, 5)
    with pytest.raises(ValueError, match="shape"):
        df.probability_flow_sample(lambda x, t: x[:, :1], x_start, 5)
    with pytest.raises(ValueError, match="non-finite"):
        df.probability_flow_sample(lambda x, t: x * math.inf, x_start, 5)
    with pytest.raises(ValueError, match="finite"):
        df.ddpm_sample(ring.score_function(), x_start * math.nan, 5)
    with pytest.raises(ValueError, match="eps0"):
        df.perturbed_score(ring.score_function(), -1.0, 2)


def test_sliced_wasserstein_matches_the_assignment_reference_and_the_gaussian_value():
    x = torch.randn(40, 3, generator=gen(6), dtype=torch.float64)
    y = torch.randn(40, 3, generator=gen(7), dtype=torch.float64) + 0.5
    assert math.isclose(df.sliced_wasserstein(x, y, 16, seed=3), df.sliced_wasserstein_reference(x, y, 16, seed=3),
                        rel_tol=1e-10)
    assert df.sliced_wasserstein(x, x) == 0.0
    # two unit Gaussians with means a distance 2 apart in d = 2: every projection gives W_2 = |<theta, shift>|
    big_x = torch.randn(4000, 2, generator=gen(8), dtype=torch.float64)
    big_y = torch.randn(4000, 2, generator=gen(9), dtype=torch.float64) + torch.tensor([2.0, 0.0], dtype=torch.float64)
    assert abs(df.sliced_wasserstein(big_x, big_y, 256) - math.sqrt(2.0)) < 0.06


def test_mmd_matches_the_double_sum_and_is_a_distance():
    x = torch.randn(30, 2, generator=gen(10), dtype=torch.float64)
    y = torch.randn(25, 2, generator=gen(11), dtype=torch.float64) + 1.0
    assert math.isclose(df.mmd(x, y, 0.7), df.mmd_reference(x, y, 0.7), rel_tol=1e-9)
    assert df.mmd(x, x) < 1e-7
    assert df.mmd(x, y + 1.0) > df.mmd(x, y)


def test_distance_errors():
    x = torch.zeros(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of samples"):
        df.sliced_wasserstein(x, torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="same dimension"):
        df.mmd(x, torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="bandwidth"):
        df.mmd(x, x, bandwidth=0.0)
    with pytest.raises(ValueError, match="count"):
        df.random_directions(0, 2)


def test_the_kl_start_term_is_exact_for_one_component_and_the_bound_matches_hand_arithmetic():
    single = gm.gaussian_mixture([1.0], [[1.0, 2.0]], 0.25)
    assert df.mixture_kl_to_standard(single) == pytest.approx(0.5 * (2 * 0.25 + 5.0 - 2 - 2 * math.log(0.25)))
    ring = gm.ring_mixture(8, radius=2.0, std=0.3)
    assert df.mixture_kl_to_standard(ring) >= df.mixture_kl_to_standard(gm.gaussian_mixture([1.0], [[0.0, 0.0]], 0.09))
    bound = df.sde_error_bound(100.0, 4.0, 2, 1000, horizon=5.0, delta=1e-3, score_error=0.1, initial_kl=2.0)
    h = 4.999 / 1000
    assert bound["tv"] == pytest.approx(math.sqrt(2.0) * math.exp(-5) + (100 * math.sqrt(2 * h) + 100 * 2 * h + 0.1)
                                        * math.sqrt(5))
    assert bound["kl"] == pytest.approx(2.0 * math.exp(-10) + (100**2 * 2 * h + (100 * 2 * h) ** 2 + 0.01) * 5)
