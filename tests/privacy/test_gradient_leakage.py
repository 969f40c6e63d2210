
import pytest
import torch

import simple_algebra as sa
from simple_algebra.privacy import attention_model as am
from simple_algebra.privacy import gradient_leakage as gl


@pytest.fixture(autouse=True)
def single_thread():
    # Tiny tensors: a second torch thread only spin-waits (see sa.one_thread).
    with sa.one_thread():
        yield


def test_matching_loss_is_differentiable_in_x_and_zero_at_the_secret():
    instance = gl.random_instance(4, 3, seed=2)
    target = am.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
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


def test_small_noise_moves_the_attack_to_the_linearised_prediction():
    # First-order perturbation theory: the best match of g + xi is X + J^+ xi, to within O(|J^+ xi|^2).
    for sigma in (1e-5, 1e-4):
        trial = gl.leakage_trial(2, 3, seed=2, noise_multiplier=sigma, restarts=4)
        predicted = gl.linearised_reconstruction(trial.instance, trial.shared)
        step = float((predicted - trial.instance.X).norm() / trial.instance.X.norm())
        assert 1e-2 * sigma < step < 1e3 * sigma
        assert float((trial.attack.X - predicted).norm() / trial.instance.X.norm()) < 0.02 * step
    exact = gl.random_instance(2, 3, 2)
    target = am.shared_gradients(exact.X, exact.W, exact.V, exact.Y)
    assert torch.equal(gl.linearised_reconstruction(exact, target), exact.X)


@pytest.mark.parametrize("call", [
    lambda: gl.random_instance(0, 3, 0),
    lambda: gl.random_instance(2, 3, -1),
    lambda: gl.dlg_attack((torch.ones(2, 2), torch.ones(3, 3)), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3),
                          2),
    lambda: gl.dlg_attack((torch.ones(3, 3), torch.ones(3, 3)), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3), 2,
                          restarts=0),
    lambda: gl.linearised_reconstruction((torch.ones(2, 3),), (torch.ones(3, 3), torch.ones(3, 3))),
    lambda: gl.linearised_reconstruction(gl.random_instance(2, 3, 0), (torch.ones(2, 2), torch.ones(3, 3))),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
