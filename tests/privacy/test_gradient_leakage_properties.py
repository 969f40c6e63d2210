"""Property tests of the attack: instances are seeded, the truth has zero matching loss, a short attack is seeded and
never worse than its restarts, the Jacobian's rank is bounded by both sides, the linearised reconstruction inverts the Jacobian
on its column space, and bad input is refused by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core.runtime import one_thread
from simple_algebra.core.validation import MAX_STEPS
from simple_algebra.privacy import gradient_leakage as gl
from simple_algebra.privacy.attention_model import shared_gradients
from tests.properties import covers, finite, refuses, seeds


@covers(gl.random_instance, gl.matching_loss)
@given(st.integers(1, 4), st.integers(1, 3), seeds, st.floats(0.1, 2.0))
def test_the_truth_matches_its_own_gradient_exactly(tokens, dim, seed, shift):
    instance = gl.random_instance(tokens, dim, seed)
    again = gl.random_instance(tokens, dim, seed)
    assert all(torch.equal(getattr(instance, f), getattr(again, f)) for f in ("X", "W", "V", "Y"))
    target = shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    assert float(gl.matching_loss(instance.X, instance.W, instance.V, instance.Y, target)) == 0.0
    moved = gl.matching_loss(instance.X + shift, instance.W, instance.V, instance.Y, target)
    assert float(moved) >= 0 and finite(moved)
    W, V, Y = instance.W, instance.V, instance.Y
    refuses(gl.matching_loss, instance.X, W, V, Y, target[0], argument="target", shows="Tensor")
    refuses(gl.matching_loss, instance.X, W, V, Y, (target[0] * math.nan, target[1]), argument="target[0]",
            shows="NaN")
    refuses(gl.matching_loss, instance.X, W, V, Y, (target[0].float(), target[1]), argument="target[1]",
            shows="float32")
    refuses(gl.random_instance, tokens, dim, -1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(gl.random_instance, 5000, dim, seed, argument="tokens", shows="5000")
    refuses(gl.random_instance, tokens, dim, seed, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(gl.random_instance, tokens, dim, seed, device="cuda", argument="device", shows="cuda")


@covers(gl.dlg_attack, gl.leakage_trial)
@given(st.integers(1, 3), seeds, st.floats(0.0, 0.1))
def test_a_short_attack_is_seeded_and_keeps_its_best_restart(tokens, seed, sigma):
    with one_thread():  # tiny problems: a second thread only spin-waits
        trial = gl.leakage_trial(tokens, 2, seed, sigma, restarts=2, iterations=3)
        again = gl.leakage_trial(tokens, 2, seed, sigma, restarts=2, iterations=3)
    assert torch.equal(trial.attack.X, again.attack.X) and trial.error == again.error
    attack = trial.attack
    assert attack.X.shape == (tokens, 2) and finite(attack.X) and attack.evaluations >= 1
    assert attack.matching_loss == min(attack.restart_losses) == attack.restart_losses[attack.chosen_restart]
    instance = trial.instance
    rescored = gl.matching_loss(attack.X, instance.W, instance.V, instance.Y, trial.shared)
    assert float(rescored) == attack.matching_loss
    assert trial.error == float((attack.X - instance.X).norm() / instance.X.norm())
    W, V, Y = instance.W, instance.V, instance.Y
    refuses(gl.dlg_attack, trial.shared, W, V, Y, tokens, restarts=10_000, iterations=100_000,
            argument="restarts * iterations", shows=str(10**9))
    refuses(gl.dlg_attack, trial.shared[0], W, V, Y, tokens, argument="target", shows="Tensor")
    refuses(gl.dlg_attack, trial.shared, W * math.nan, V, Y, tokens, argument="W", shows="NaN")
    refuses(gl.dlg_attack, trial.shared, W, V, Y, tokens + 1, argument="Y", shows=f"({tokens}, 2)")
    refuses(gl.dlg_attack, (trial.shared[0].float(), trial.shared[1]), W, V, Y, tokens, argument="target[1]",
            shows="float32")
    refuses(gl.dlg_attack, trial.shared, W, V, Y, tokens, seed=-1, argument="seed", shows="-1")
    refuses(gl.leakage_trial, tokens, 2, seed, restarts=0, argument="restarts", shows="0")
    refuses(gl.leakage_trial, tokens, 2, seed, restarts=MAX_STEPS, iterations=2, argument="restarts", shows="10000")
    refuses(gl.leakage_trial, tokens, 2, seed, -sigma - 1, argument="noise_multiplier", shows=str(-sigma - 1))


@covers(gl.gradient_jacobian_rank)
@given(st.integers(1, 5), st.integers(1, 3), seeds)
def test_the_jacobian_rank_is_at_most_the_unknowns_and_the_equations(tokens, dim, seed):
    rank, unknowns, equations = gl.gradient_jacobian_rank(gl.random_instance(tokens, dim, seed))
    assert unknowns == tokens * dim and equations == 2 * dim * dim
    assert 0 <= rank <= min(unknowns, equations)
    instance = gl.random_instance(tokens, dim, seed)
    refuses(gl.gradient_jacobian_rank, (instance.X, instance.W), argument="instance", shows="tuple")
    refuses(gl.gradient_jacobian_rank, instance, 0.0, argument="tolerance", shows="0.0")
    wide = gl.LeakageInstance(torch.zeros(2, 200, dtype=torch.float64), torch.zeros(200, 200, dtype=torch.float64),
                              torch.zeros(200, 301, dtype=torch.float64), torch.zeros(2, 301, dtype=torch.float64))
    refuses(gl.gradient_jacobian_rank, wide, argument="d^2 + d k", shows="100200")


@covers(gl.linearised_reconstruction)
@given(st.integers(1, 4), seeds, st.floats(1e-6, 1e-2))
def test_the_linearised_reconstruction_inverts_the_jacobian_on_its_column_space(tokens, seed, scale):
    # Below the line n = 2d (here d = 2, so n <= 4) J has full column rank, so a perturbation J D of the gradient
    # is attributed to exactly D: the predicted reconstruction is X + D.
    instance = gl.random_instance(tokens, 2, seed)
    X, W, V, Y = instance.X, instance.W, instance.V, instance.Y
    exact = shared_gradients(X, W, V, Y)
    assert torch.equal(gl.linearised_reconstruction(instance, exact), X)
    direction = scale * torch.randn(X.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    _, pushed = torch.autograd.functional.jvp(lambda x: shared_gradients(x, W, V, Y), (X,), (direction,))
    moved = tuple(a + b for a, b in zip(exact, pushed))
    rank = gl.gradient_jacobian_rank(instance)[0]
    step = gl.linearised_reconstruction(instance, moved) - X
    if rank == X.numel():
        assert float((step - direction).norm()) <= 1e-6 * float(direction.norm())
    assert float(step.norm()) <= float(direction.norm()) * (1 + 1e-6)  # the minimum-norm step is never longer
    refuses(gl.linearised_reconstruction, (X, W), exact, argument="instance", shows="tuple")
    refuses(gl.linearised_reconstruction, instance, exact[0], argument="target", shows="Tensor")
    refuses(gl.linearised_reconstruction, instance, (exact[0], exact[1][:1]), argument="shared", shows="(1, 2)")
