import math

import pytest
import torch

from simple_algebra import gaussian_mixture as gm


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
