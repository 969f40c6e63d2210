import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra import gradient_leakage as gl


@pytest.fixture(autouse=True)
def single_thread():
    # Tiny tensors: a second torch thread only spin-waits (see sa.one_thread).
    with sa.one_thread():
        yield


def test_closed_form_gradients_match_autograd():
    instance = gl.random_instance(5, 3, seed=1)
    fast = gl.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    reference = gl.shared_gradients_reference(instance.X, instance.W, instance.V, instance.Y)
    for a, b in zip(fast, reference):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_batched_gradients_are_per_sequence():
    task = gl.teacher_task(3, 4, 2, seed=0)
    W = 0.3 * torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    V = 0.3 * torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batched = gl.shared_gradients(task.X, W, V, task.Y)
    for i in range(3):
        single = gl.shared_gradients_reference(task.X[i], W, V, task.Y[i])
        assert torch.allclose(batched[0][i], single[0], atol=1e-12)
        assert torch.allclose(batched[1][i], single[1], atol=1e-12)


def test_gradient_matches_finite_differences():
    instance = gl.random_instance(3, 2, seed=4)
    grad_W, _ = gl.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    step = 1e-6
    for i in range(2):
        for j in range(2):
            bump = torch.zeros_like(instance.W)
            bump[i, j] = step
            up = gl.attention_loss(instance.X, instance.W + bump, instance.V, instance.Y)
            down = gl.attention_loss(instance.X, instance.W - bump, instance.V, instance.Y)
            assert abs(float((up - down) / (2 * step)) - float(grad_W[i, j])) < 1e-7


def test_matching_loss_is_differentiable_in_x_and_zero_at_the_secret():
    instance = gl.random_instance(4, 3, seed=2)
    target = gl.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    assert float(gl.matching_loss(instance.X, instance.W, instance.V, instance.Y, target)) == 0.0
    guess = (instance.X + 0.1).requires_grad_(True)
    loss = gl.matching_loss(guess, instance.W, instance.V, instance.Y, target)
    (grad,) = torch.autograd.grad(loss, guess)
    numeric = torch.autograd.gradcheck(
        lambda x: gl.matching_loss(x, instance.W, instance.V, instance.Y, target), (guess.detach().requires_grad_(),))
    assert numeric and torch.isfinite(grad).all() and float(grad.norm()) > 0


def test_attack_recovers_a_tiny_instance_and_is_deterministic():
    first = gl.leakage_trial(2, 3, seed=2, restarts=4)
    second = gl.leakage_trial(2, 3, seed=2, restarts=4)
    assert first.error < 1e-6
    assert first.attack.matching_loss < 1e-15
    assert torch.equal(first.attack.X, second.attack.X)


def test_attack_chooses_by_matching_loss():
    trial = gl.leakage_trial(4, 3, seed=0, restarts=3, iterations=30)
    assert trial.attack.matching_loss == min(trial.attack.restart_losses)
    assert trial.attack.restart_losses[trial.attack.chosen_restart] == trial.attack.matching_loss


def test_jacobian_rank_is_min_of_unknowns_and_equations():
    assert gl.gradient_jacobian_rank(gl.random_instance(4, 3, 0)) == (12, 12, 18)
    assert gl.gradient_jacobian_rank(gl.random_instance(8, 3, 0)) == (18, 24, 18)


def test_clip_and_noise():
    parts = (torch.full((2, 2), 3.0, dtype=torch.float64), torch.full((2, 1), 4.0, dtype=torch.float64))
    clipped = gl.clip_and_noise(parts, clip=1.0, noise_multiplier=0.0, seed=0)
    assert math.isclose(float(gl.gradient_norm(clipped)), 1.0, rel_tol=1e-12)
    unclipped = gl.clip_and_noise(parts, clip=1e6, noise_multiplier=0.0, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(unclipped, parts))
    noisy = gl.clip_and_noise(parts, clip=2.0, noise_multiplier=0.5, seed=3)
    again = gl.clip_and_noise(parts, clip=2.0, noise_multiplier=0.5, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(noisy, again))
    big = gl.clip_and_noise((torch.zeros(200, 200, dtype=torch.float64),), clip=2.0, noise_multiplier=0.5, seed=0)
    assert abs(float(big[0].std()) - 1.0) < 0.02


def test_accountant_formula_and_monotonicity():
    sigma = gl.gaussian_noise_multiplier(0.5, 1e-5)
    assert math.isclose(sigma, math.sqrt(2 * math.log(1.25e5)) / 0.5)
    assert math.isclose(gl.gaussian_epsilon(sigma, 1e-5), 0.5)
    assert math.isclose(gl.gaussian_noise_multiplier(0.5, 1e-5, "replace_one"), 2 * sigma)
    epsilons = [gl.gaussian_epsilon(s, 1e-5) for s in (0.5, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(epsilons, epsilons[1:]))
    assert gl.composed_privacy(0.1, 1e-6, 10, "basic") == pytest.approx((1.0, 1e-5))
    eps, delta = gl.composed_privacy(0.1, 1e-6, 100, "advanced", delta_slack=1e-6)
    assert eps == pytest.approx(math.sqrt(200 * math.log(1e6)) * 0.1 + 100 * 0.1 * math.expm1(0.1))
    assert delta == pytest.approx(1e-4 + 1e-6)
    totals = [gl.composed_privacy(gl.gaussian_epsilon(s, 1e-5), 1e-5, 50)[0] for s in (5, 10, 20)]
    assert totals[0] > totals[1] > totals[2]


def test_noisy_sgd_decreases_loss_and_is_deterministic():
    task = gl.teacher_task(64, 4, 3, seed=0)
    run = gl.noisy_sgd(task, noise_multiplier=0.5, lr=0.5, steps=60, batch=16, seed=1)
    again = gl.noisy_sgd(task, noise_multiplier=0.5, lr=0.5, steps=60, batch=16, seed=1)
    assert run.losses.shape == (61,)
    assert float(run.losses[-10:].mean()) < 0.2 * float(run.losses[0])
    assert torch.equal(run.losses, again.losses)


@pytest.mark.parametrize("call", [
    lambda: gl.random_instance(0, 3, 0),
    lambda: gl.random_instance(2, 3, -1),
    lambda: gl.attention_loss(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64),
                              torch.ones(3, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)),
    lambda: gl.shared_gradients(torch.full((2, 3), float("nan")), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3)),
    lambda: gl.shared_gradients_reference(torch.ones(1, 2, 3), torch.ones(3, 3), torch.ones(3, 3), torch.ones(1, 2, 3)),
    lambda: gl.dlg_attack((torch.ones(2, 2), torch.ones(3, 3)), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3),
                          2),
    lambda: gl.dlg_attack((torch.ones(3, 3), torch.ones(3, 3)), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3), 2,
                          restarts=0),
    lambda: gl.clip_and_noise((torch.ones(2),), clip=0.0, noise_multiplier=1.0, seed=0),
    lambda: gl.clip_and_noise((torch.ones(2),), clip=1.0, noise_multiplier=-1.0, seed=0),
    lambda: gl.clip_and_noise((), clip=1.0, noise_multiplier=1.0, seed=0),
    lambda: gl.gaussian_noise_multiplier(1.5, 1e-5),
    lambda: gl.gaussian_noise_multiplier(0.5, 0.0),
    lambda: gl.gaussian_epsilon(0.0, 1e-5),
    lambda: gl.gaussian_epsilon(1.0, 1e-5, convention="swap"),
    lambda: gl.composed_privacy(1.0, 1e-5, 0),
    lambda: gl.composed_privacy(1.0, 1e-5, 10, "moments"),
    lambda: gl.noisy_sgd(gl.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, batch=5),
    lambda: gl.noisy_sgd(gl.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, lr=0.0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
