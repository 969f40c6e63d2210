"""Defences: clip and noise, the privacy accountant, noisy SGD."""
import math

import pytest
import torch

import simple_algebra as sa
from simple_algebra.privacy import attention_model as am
from simple_algebra.privacy import defences


@pytest.fixture(autouse=True)
def single_thread():
    # Tiny tensors: a second torch thread only spin-waits (see sa.one_thread).
    with sa.one_thread():
        yield


def test_clip_and_noise():
    parts = (torch.full((2, 2), 3.0, dtype=torch.float64), torch.full((2, 1), 4.0, dtype=torch.float64))
    clipped = defences.clip_and_noise(parts, clip=1.0, noise_multiplier=0.0, seed=0)
    assert math.isclose(float(am.gradient_norm(clipped)), 1.0, rel_tol=1e-12)
    unclipped = defences.clip_and_noise(parts, clip=1e6, noise_multiplier=0.0, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(unclipped, parts))
    noisy = defences.clip_and_noise(parts, clip=2.0, noise_multiplier=0.5, seed=3)
    again = defences.clip_and_noise(parts, clip=2.0, noise_multiplier=0.5, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(noisy, again))
    big = defences.clip_and_noise((torch.zeros(200, 200, dtype=torch.float64),), clip=2.0, noise_multiplier=0.5, seed=0)
    assert abs(float(big[0].std()) - 1.0) < 0.02


def test_accountant_formula_and_monotonicity():
    sigma = defences.gaussian_noise_multiplier(0.5, 1e-5)
    assert math.isclose(sigma, math.sqrt(2 * math.log(1.25e5)) / 0.5)
    assert math.isclose(defences.gaussian_epsilon(sigma, 1e-5), 0.5)
    assert math.isclose(defences.gaussian_noise_multiplier(0.5, 1e-5, "replace_one"), 2 * sigma)
    epsilons = [defences.gaussian_epsilon(s, 1e-5) for s in (0.5, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(epsilons, epsilons[1:]))
    assert defences.composed_privacy(0.1, 1e-6, 10, "basic") == pytest.approx((1.0, 1e-5))
    eps, delta = defences.composed_privacy(0.1, 1e-6, 100, "advanced", delta_slack=1e-6)
    assert eps == pytest.approx(math.sqrt(200 * math.log(1e6)) * 0.1 + 100 * 0.1 * math.expm1(0.1))
    assert delta == pytest.approx(1e-4 + 1e-6)
    totals = [defences.composed_privacy(defences.gaussian_epsilon(s, 1e-5), 1e-5, 50)[0] for s in (5, 10, 20)]
    assert totals[0] > totals[1] > totals[2]


def test_noisy_sgd_decreases_loss_and_is_deterministic():
    task = defences.teacher_task(64, 4, 3, seed=0)
    run = defences.noisy_sgd(task, noise_multiplier=0.5, lr=0.5, steps=60, batch=16, seed=1)
    again = defences.noisy_sgd(task, noise_multiplier=0.5, lr=0.5, steps=60, batch=16, seed=1)
    assert run.losses.shape == (61,)
    assert float(run.losses[-10:].mean()) < 0.2 * float(run.losses[0])
    assert torch.equal(run.losses, again.losses)


@pytest.mark.parametrize("call", [
    lambda: defences.clip_and_noise((torch.ones(2),), clip=0.0, noise_multiplier=1.0, seed=0),
    lambda: defences.clip_and_noise((torch.ones(2),), clip=1.0, noise_multiplier=-1.0, seed=0),
    lambda: defences.clip_and_noise((), clip=1.0, noise_multiplier=1.0, seed=0),
    lambda: defences.gaussian_noise_multiplier(1.5, 1e-5),
    lambda: defences.gaussian_noise_multiplier(0.5, 0.0),
    lambda: defences.gaussian_epsilon(0.0, 1e-5),
    lambda: defences.gaussian_epsilon(1.0, 1e-5, convention="swap"),
    lambda: defences.composed_privacy(1.0, 1e-5, 0),
    lambda: defences.composed_privacy(1.0, 1e-5, 10, "moments"),
    lambda: defences.noisy_sgd(defences.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, batch=5),
    lambda: defences.noisy_sgd(defences.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, lr=0.0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
