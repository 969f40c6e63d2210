import math

import pytest
import torch

from simple_algebra.core.runtime import one_thread
from simple_algebra.diffusion import gaussian_mixture as gm


@pytest.fixture(autouse=True)
def single_thread():
    with one_thread():  # many small tensor operations: two threads only spin-wait on a busy machine
        yield


def mixtures():
    one_d = gm.gaussian_mixture([0.4, 0.6], [-2.0, 1.5], [0.25, 0.5])
    generator = torch.Generator().manual_seed(0)
    three_d = gm.gaussian_mixture(torch.rand(4, generator=generator, dtype=torch.float64) + 0.1,
                                  torch.randn(4, 3, generator=generator, dtype=torch.float64),
                                  torch.rand(4, generator=generator, dtype=torch.float64) + 0.2)
    return [one_d, three_d, gm.ring_mixture(8, 2.0, 0.3)]


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize("t", [0.0, 0.1, 1.0])
def test_score_is_the_gradient_of_the_log_density(index, t):
    mixture = mixtures()[index].at_time(t)
    x = torch.randn(20, mixture.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    x.requires_grad_(True)
    (autograd,) = torch.autograd.grad(mixture.log_density(x).sum(), x)
    torch.testing.assert_close(mixture.score(x.detach()), autograd, rtol=1e-10, atol=1e-10)
    step = 1e-5
    for axis in range(mixture.dim):
        shift = torch.zeros(mixture.dim, dtype=torch.float64)
        shift[axis] = step
        central = (mixture.log_density(x.detach() + shift) - mixture.log_density(x.detach() - shift)) / (2 * step)
        torch.testing.assert_close(central, autograd[:, axis], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", range(3))
def test_score_jacobian_is_the_hessian(index):
    mixture = mixtures()[index].at_time(0.2)
    x = torch.randn(5, mixture.dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    hessians = torch.stack([torch.autograd.functional.hessian(lambda p: mixture.log_density(p[None])[0], point)
                            for point in x])
    torch.testing.assert_close(mixture.score_jacobian(x), hessians, rtol=1e-9, atol=1e-9)


def test_hessian_bound_holds_and_needs_a_shared_variance():
    for t in (0.05, 0.3, 1.0):
        mixture = gm.ring_mixture(16, 2.0, 0.3).at_time(t)
        x = mixture.sample(500, torch.Generator().manual_seed(3))
        norms = torch.linalg.matrix_norm(mixture.score_jacobian(x), ord=2)
        assert norms.max() <= mixture.hessian_bound() + 1e-9
    with pytest.raises(ValueError, match="shared"):
        mixtures()[0].hessian_bound()


def test_diffusion_matches_simulation_and_the_moments():
    mixture = mixtures()[0]
    generator = torch.Generator().manual_seed(4)
    x0 = mixture.sample(40000, generator)
    xt = gm.ou_forward(x0, 0.5, generator)
    diffused = mixture.at_time(0.5)
    for sample, law in ((x0, mixture), (xt, diffused)):
        mean, second = sample.mean(0), (sample**2).sum(1).mean()
        standard_error = math.sqrt(float((sample**2).sum(1).var()) / sample.shape[0])
        assert abs(float(mean[0] - law.mean()[0])) < 3 * float(sample.std()) / math.sqrt(sample.shape[0]) + 1e-12
        assert abs(float(second) - law.second_moment()) < 3 * standard_error
    # a long time forgets the data: N(0, 1)
    far = mixture.at_time(20.0)
    torch.testing.assert_close(far.variances, torch.ones(2, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_sampling_is_seeded():
    mixture = mixtures()[2]
    first = mixture.sample(10, torch.Generator().manual_seed(5))
    second = mixture.sample(10, torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    points, labels = mixture.sample(10, torch.Generator().manual_seed(5), return_components=True)
    assert torch.equal(points, first) and labels.shape == (10,)


def test_log_density_is_stable_far_away():
    mixture = mixtures()[0]
    far = torch.tensor([[1e3], [-1e3]], dtype=torch.float64)
    assert torch.isfinite(mixture.log_density(far)).all()
    assert torch.isfinite(mixture.score(far)).all()


@pytest.mark.parametrize("weights, means, variances, message", [
    ([1.0, -1.0], [0.0, 1.0], 1.0, "positive"),
    ([1.0], [0.0, 1.0], 1.0, "one entry per component"),
    ([1.0, 1.0], [0.0, 1.0], [1.0, 0.0], "positive"),
    ([1.0, 1.0], [0.0, math.nan], 1.0, "finite"),
])
def test_bad_mixtures_raise(weights, means, variances, message):
    with pytest.raises(ValueError, match=message):
        gm.gaussian_mixture(weights, means, variances)


def test_bad_inputs_raise():
    mixture = mixtures()[1]
    with pytest.raises(ValueError, match="shape"):
        mixture.score(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="t must be"):
        mixture.at_time(-1.0)


def test_ou_is_the_constant_schedule_and_vp_matches_its_ou_time():
    mixture = mixtures()[1]
    for t in (0.0, 0.07, 0.5, 3.0):
        ou_a, ou_b = gm.ou_coefficients(t)
        a, b = gm.ou_schedule().coefficients(t)
        assert math.isclose(a, ou_a, rel_tol=1e-14) and math.isclose(b, ou_b, rel_tol=1e-14, abs_tol=1e-300)
    vp = gm.vp_schedule()
    for t in (0.01, 0.3, 1.0):
        torch.testing.assert_close(mixture.at_time(t, vp).variances, mixture.at_time(vp.ou_time(t)).variances)
        torch.testing.assert_close(mixture.at_time(t, vp).means, mixture.at_time(vp.ou_time(t)).means)
        a, b = vp.coefficients(t)
        assert math.isclose(a * a + b * b, 1.0, rel_tol=1e-14)  # variance preserving
    # B(t) is the integral of beta: compare with a fine trapezoid rule
    grid = torch.linspace(0, 0.8, 20001, dtype=torch.float64)
    trapezoid = float(torch.trapezoid(torch.tensor([vp.beta(float(s)) for s in grid[::100]]), grid[::100]))
    assert math.isclose(vp.integrated_beta(0.8), trapezoid, rel_tol=1e-9)


def test_vp_diffusion_matches_simulation():
    mixture = gm.ring_mixture(8, 2.0, 0.3)
    vp = gm.vp_schedule()
    generator = torch.Generator().manual_seed(6)
    xt = gm.diffuse(mixture.sample(40000, generator), 0.2, generator, schedule=vp)
    law = mixture.at_time(0.2, vp)
    standard_error = math.sqrt(float((xt**2).sum(1).var()) / xt.shape[0])
    assert abs(float((xt**2).sum(1).mean()) - law.second_moment()) < 3 * standard_error
    a, b = vp.coefficients(0.2)
    assert math.isclose(law.second_moment(), a * a * mixture.second_moment() + 2 * b * b, rel_tol=1e-12)
    assert law.second_moment() <= law.second_moment_bound() + 1e-12


def test_second_moment_bound_is_k_free_and_holds():
    for k in (1, 2, 8, 128):
        ring = gm.ring_mixture(k, 2.0, 0.3)
        assert math.isclose(ring.second_moment(), 4.0 + 2 * 0.09, rel_tol=1e-12)
        assert math.isclose(ring.second_moment_bound(), 4.18, rel_tol=1e-12)
    lopsided = mixtures()[1]
    assert lopsided.second_moment() <= lopsided.second_moment_bound()


def test_lipschitz_bound_is_attained_by_two_components_at_the_midpoint():
    for t in (0.01, 0.1, 1.0):
        pair = gm.ring_mixture(2, 2.0, 0.3).at_time(t)
        midpoint = torch.zeros(1, 2, dtype=torch.float64)
        norm = float(torch.linalg.matrix_norm(pair.score_jacobian(midpoint), ord=2)[0])
        assert math.isclose(norm, pair.lipschitz_bound(), rel_tol=1e-10)
        assert pair.lipschitz_bound() <= pair.hessian_bound()
        many = gm.ring_mixture(64, 2.0, 0.3).at_time(t)
        x = torch.randn(400, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 2
        assert torch.linalg.matrix_norm(many.score_jacobian(x), ord=2).max() <= many.lipschitz_bound() + 1e-9


def test_score_function_and_schedule_validation():
    mixture = mixtures()[2]
    x = mixture.sample(5, torch.Generator().manual_seed(8))
    vp = gm.vp_schedule()
    torch.testing.assert_close(mixture.score_function(vp)(x, 0.4), mixture.at_time(0.4, vp).score(x))
    torch.testing.assert_close(mixture.score_function()(x, 0.4), mixture.at_time(0.4).score(x))
    with pytest.raises(ValueError, match="beta_min"):
        gm.vp_schedule(beta_min=0.0)
    with pytest.raises(ValueError, match="horizon"):
        gm.NoiseSchedule(1.0, 2.0, -1.0)
    with pytest.raises(ValueError, match="t must be"):
        vp.coefficients(-0.1)


def test_the_lipschitz_bound_holds_on_random_mixtures_and_fails_when_the_diameter_is_understated():
    grid_1d = torch.linspace(-3.0, 3.0, 41, dtype=torch.float64)
    grid = torch.cartesian_prod(grid_1d, grid_1d)
    for seed in range(3):
        for k in (3, 30):
            law = gm.random_mixture(k, 4.0, 0.3, generator=torch.Generator().manual_seed(seed)).at_time(0.05)
            norms = torch.linalg.matrix_norm(law.score_jacobian(grid), ord=2)
            assert float(norms.max()) <= law.lipschitz_bound() * (1 + 1e-9)
    # a bound computed for a smaller diameter than the means have is broken by two components at their midpoint
    pair = gm.random_mixture(2, 4.0, 0.3, generator=torch.Generator().manual_seed(0)).at_time(0.05)
    narrower = gm.gaussian_mixture(pair.weights, 0.8 * pair.means, pair.variances)
    midpoint = pair.means.mean(0, keepdim=True)
    measured = float(torch.linalg.matrix_norm(pair.score_jacobian(midpoint), ord=2).max())
    assert measured > 1.2 * narrower.lipschitz_bound()
