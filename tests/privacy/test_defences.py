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


def test_rdp_accountant_without_sampling_is_the_gaussian_mechanisms_closed_form():
    # T releases of the Gaussian mechanism have Renyi-DP T alpha / (2 sigma^2) at order alpha; Balle et al. (2020)
    # convert it to eps = min_alpha [T alpha / (2 sigma^2) + log((alpha - 1) / alpha) - log(delta alpha) / (alpha - 1)].
    from opacus.accountants import RDPAccountant

    for sigma, steps, delta in ((1.0, 150, 1e-5), (5.0, 1, 1e-5), (3.0, 1000, 1e-6)):
        closed = min(steps * a / (2 * sigma**2) + math.log((a - 1) / a) - math.log(delta * a) / (a - 1)
                     for a in RDPAccountant.DEFAULT_ALPHAS)
        assert defences.dp_sgd_epsilon(sigma, steps, delta) == pytest.approx(closed, rel=1e-9)


def test_rdp_accountant_matches_stepping_opacus_and_beats_the_classical_bound():
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(40):
        accountant.step(noise_multiplier=1.3, sample_rate=0.125)
    assert defences.dp_sgd_epsilon(1.3, 40, 1e-5, 0.125) == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-12)
    for sigma in (5.0, 10.0):  # where the classical theorem applies (eps < 1), Renyi DP is tighter for one release
        assert defences.dp_sgd_epsilon(sigma, 1, 1e-5) < defences.gaussian_epsilon(sigma, 1e-5) < 1
    assert defences.dp_sgd_epsilon(1.0, 150, 1e-5, 32 / 256) < 0.2 * defences.dp_sgd_epsilon(1.0, 150, 1e-5)
    totals = [defences.dp_sgd_epsilon(s, 150, 1e-5) for s in (1.0, 3.0, 10.0)]
    assert totals[0] > totals[1] > totals[2]
    # sqrt(T) growth for large T at fixed sigma, the hallmark of Renyi (and advanced) composition, not basic's T.
    ratio = defences.dp_sgd_epsilon(30.0, 4000, 1e-5) / defences.dp_sgd_epsilon(30.0, 1000, 1e-5)
    assert 1.7 < ratio < 2.3


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
    lambda: defences.dp_sgd_epsilon(0.0, 10, 1e-5),
    lambda: defences.dp_sgd_epsilon(1.0, 0, 1e-5),
    lambda: defences.dp_sgd_epsilon(1.0, 10, 1.0),
    lambda: defences.dp_sgd_epsilon(1.0, 10, 1e-5, sample_rate=1.5),
    lambda: defences.noisy_sgd(defences.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, batch=5),
    lambda: defences.noisy_sgd(defences.teacher_task(4, 2, 2, 0), noise_multiplier=1.0, lr=0.0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
