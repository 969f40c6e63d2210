"""Property tests of Gaussian mixtures under the diffusion: the closed-form score and Hessian equal autograd, the
laws along the process keep their closed forms, and bad mixtures, points, times and sizes are refused by name."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.diffusion import gaussian_mixture as gm
from tests.properties import bad_reals, bad_tensors, covers, finite, huge_sizes, refuses, seeds, tensors


def _mixture(seed, k, d):
    draw = torch.Generator().manual_seed(seed)
    weights = 0.2 + torch.rand(k, generator=draw, dtype=torch.float64)
    means = 2 * torch.randn(k, d, generator=draw, dtype=torch.float64)
    variances = 0.2 + torch.rand(k, generator=draw, dtype=torch.float64)
    return gm.gaussian_mixture(weights, means, variances)


@covers(gm.GaussianMixture, gm.gaussian_mixture)
@given(seeds, st.integers(1, 4), st.integers(1, 3), st.floats(0.0, 2.0), bad_tensors(3, 2))
def test_score_and_hessian_equal_autograd_of_the_log_density(seed, k, d, t, bad):
    law = _mixture(seed, k, d).at_time(t)
    assert law.components == k and law.dim == d
    assert float(law.weights.sum()) == pytest.approx(1.0)
    x = torch.randn(3, d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).requires_grad_(True)
    (autograd_score,) = torch.autograd.grad(law.log_density(x).sum(), x)
    torch.testing.assert_close(law.score(x.detach()), autograd_score, rtol=1e-10, atol=1e-12)
    hessian = torch.stack([torch.autograd.functional.hessian(lambda p: law.log_density(p[None])[0], x[i].detach())
                           for i in range(3)])
    jacobian = law.score_jacobian(x.detach())
    torch.testing.assert_close(jacobian, hessian, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(jacobian, jacobian.transpose(1, 2))  # a Hessian is symmetric
    responsibilities = law.responsibilities(x.detach())
    torch.testing.assert_close(responsibilities.sum(1), torch.ones(3, dtype=torch.float64))
    mean = law.mean()
    assert mean.shape == (d,) and law.second_moment() >= float(mean @ mean) - 1e-12  # E||x||^2 >= ||E x||^2
    assert law.second_moment() <= law.second_moment_bound() + 1e-12
    shared = gm.gaussian_mixture(law.weights, law.means, float(law.variances[0]))
    assert shared.lipschitz_bound() <= shared.hessian_bound() + 1e-12
    norms = torch.linalg.matrix_norm(shared.score_jacobian(x.detach()), ord=2)
    assert float(norms.max()) <= shared.lipschitz_bound() * (1 + 1e-9)
    tensor, shown = bad
    if d == 2:
        refuses(law.score, tensor, argument="x", shows=shown)
    refuses(law.score, torch.ones(2, d + 1, dtype=torch.float64), argument="x", shows=f"(2, {d + 1})")
    refuses(law.score, torch.full((1, d), 1e200, dtype=torch.float64), argument="score", shows="1e+200")
    refuses(gm.gaussian_mixture, [1.0, math.nan], [[0.0], [1.0]], 1.0, argument="weights", shows="NaN")
    refuses(gm.gaussian_mixture, [1.0, -1.0], [[0.0], [1.0]], 1.0, argument="weights", shows="-1.0")
    refuses(gm.gaussian_mixture, [1.0], [[0.0]], 0.0, argument="variances", shows="0.0")
    refuses(gm.gaussian_mixture, [1.0, 1.0], [[0.0]], 1.0, argument="weights", shows="2")
    refuses(gm.gaussian_mixture, [1e308, 1e308], [[0.0], [1.0]], 1.0, argument="weights", shows="inf")
    refuses(gm.gaussian_mixture, [1.0], [["a"]], 1.0, argument="means", shows="a")
    refuses(gm.gaussian_mixture, [1.0], [[0.0]], 1.0, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(gm.GaussianMixture, torch.tensor([math.nan]), torch.zeros(1, 2), torch.ones(1), argument="weights",
            shows="NaN")
    refuses(gm.GaussianMixture, torch.ones(1), torch.zeros(1, 2, dtype=torch.float64), torch.ones(1),
            argument="weights", shows="float32")


@covers(gm.GaussianMixture, gm.ring_mixture)
@given(seeds, st.integers(1, 8), st.floats(0.1, 3.0), huge_sizes)
def test_sampling_is_seeded_and_ring_means_lie_on_the_circle(seed, k, radius, huge):
    ring = gm.ring_mixture(k, radius=radius, std=0.3)
    torch.testing.assert_close(ring.means.norm(dim=1), torch.full((k,), radius, dtype=torch.float64))
    if k > 1:  # evenly spaced on the circle: the mixture is centred
        torch.testing.assert_close(ring.mean(), torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    first, labels = ring.sample(16, torch.Generator().manual_seed(seed), return_components=True)
    again = ring.sample(16, torch.Generator().manual_seed(seed))
    assert torch.equal(first, again) and first.shape == (16, 2) and finite(first)
    assert int(labels.min()) >= 0 and int(labels.max()) < k
    refuses(ring.sample, huge, argument=f"n = {huge}", shows="GiB")
    refuses(ring.sample, 4, seed, argument="generator", shows=str(seed))
    refuses(gm.ring_mixture, huge, argument=f"components = {huge}", shows="GiB")
    refuses(gm.ring_mixture, 0, argument="components", shows="0")
    refuses(gm.ring_mixture, k, std=0.0, argument="std", shows="0.0")
    refuses(gm.ring_mixture, k, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(gm.ring_mixture, k, device="cuda", argument="device", shows="cuda")


@covers(gm.ou_coefficients, gm.ou_forward, gm.diffuse, gm.NoiseSchedule, gm.ou_schedule, gm.vp_schedule)
@given(st.floats(0.0, 5.0), st.floats(0.01, 1.0), st.floats(1.0, 30.0), tensors(6, 2), bad_reals)
def test_forward_processes_preserve_variance_and_ou_is_the_constant_schedule(t, beta_min, beta_max, x0, bad):
    a, b = gm.ou_coefficients(t)
    assert a * a + b * b == pytest.approx(1.0) and a == pytest.approx(math.exp(-t))
    assert gm.ou_schedule().coefficients(t) == pytest.approx((a, b), rel=1e-9, abs=1e-12)
    schedule = gm.vp_schedule(beta_min, beta_max)
    a_vp, b_vp = schedule.coefficients(t)
    assert a_vp * a_vp + b_vp * b_vp == pytest.approx(1.0)
    assert schedule.ou_time(t) == pytest.approx(0.5 * schedule.integrated_beta(t))
    assert schedule.coefficients(t) == pytest.approx(gm.ou_coefficients(schedule.ou_time(t)), rel=1e-9, abs=1e-12)
    assert schedule.beta(t) >= beta_min - 1e-12 and schedule.beta(0.0) == pytest.approx(beta_min)
    draw = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    torch.testing.assert_close(gm.ou_forward(x0, t, draw()), gm.diffuse(x0, t, draw()))
    torch.testing.assert_close(gm.diffuse(x0, t, draw(), schedule), gm.diffuse(x0, schedule.ou_time(t), draw()))
    value, shown = bad
    refuses(gm.ou_coefficients, value, argument="t", shows=shown)
    refuses(gm.vp_schedule, value, argument="beta_min", shows=shown)
    refuses(gm.NoiseSchedule, beta_min, beta_max, -1.0, argument="horizon", shows="-1.0")
    if beta_max > beta_min:  # B(t) grows like t^2: it overflows (a constant beta only reaches a_t = 0)
        refuses(schedule.coefficients, 1e300, argument="t", shows="1e+300")
    else:
        assert schedule.coefficients(1e300) == (0.0, 1.0)
    refuses(gm.diffuse, x0, t, schedule="vp", argument="schedule", shows="'vp'")
    refuses(gm.ou_forward, x0, t, 3, argument="generator", shows="3")
    refuses(gm.ou_forward, x0[0], t, argument="x0", shows="(2,)")


@covers(gm.random_mixture)
@given(seeds, st.integers(2, 40), st.integers(1, 4), st.floats(0.1, 6.0), huge_sizes, bad_reals)
def test_random_mixtures_have_exactly_the_asked_diameter(seed, k, d, diameter, huge, bad):
    mixture = gm.random_mixture(k, diameter, 0.3, d, torch.Generator().manual_seed(seed))
    assert mixture.components == k and mixture.dim == d and finite(mixture.means)
    distances = torch.cdist(mixture.means, mixture.means)
    assert float(distances.max()) == pytest.approx(diameter, rel=1e-12)  # the pair at +-D/2 attains it
    assert float(mixture.means.norm(dim=1).max()) <= diameter / 2 * (1 + 1e-12)  # the rest lies inside the ball
    again = gm.random_mixture(k, diameter, 0.3, d, torch.Generator().manual_seed(seed))
    assert torch.equal(again.means, mixture.means) and torch.equal(again.weights, mixture.weights)
    value, shown = bad
    refuses(gm.random_mixture, k, value, argument="diameter", shows=shown)
    refuses(gm.random_mixture, 1, argument="components", shows="1")
    refuses(gm.random_mixture, huge, argument=f"components = {huge}", shows="GiB")
    refuses(gm.random_mixture, k, diameter, 0.0, argument="std", shows="0.0")
    refuses(gm.random_mixture, k, generator=seed, argument="generator", shows=str(seed))
