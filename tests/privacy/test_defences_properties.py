"""Property tests of the defences: clipping bounds the norm, the noise is seeded and of the stated size, the Gaussian
mechanism's two formulas are inverse, the accountant's epsilon grows with the releases and shrinks with the noise and
with subsampling, noisy SGD is seeded, and bad input is refused by name."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.privacy import defences as dp
from simple_algebra.privacy.attention_model import gradient_norm
from tests.properties import bad_reals, covers, finite, huge_sizes, refuses, seeds


@covers(dp.clip_and_noise)
@given(seeds, st.floats(0.01, 10.0), st.floats(0.01, 100.0), bad_reals)
def test_clipping_bounds_the_norm_and_the_noise_is_seeded(seed, clip, scale, bad):
    draw = torch.Generator().manual_seed(seed)
    parts = (scale * torch.randn(3, 3, generator=draw, dtype=torch.float64),
             scale * torch.randn(3, 2, generator=draw, dtype=torch.float64))
    clipped = dp.clip_and_noise(parts, clip, 0.0, seed)
    assert float(gradient_norm(clipped)) <= clip * (1 + 1e-12)
    inside = tuple(p * (0.5 * clip / float(gradient_norm(parts))) for p in parts)  # norm clip / 2
    assert all(torch.equal(a, b) for a, b in zip(dp.clip_and_noise(inside, clip, 0.0, seed), inside))  # inactive
    noisy = dp.clip_and_noise(parts, clip, 1.0, seed)
    assert all(torch.equal(a, b) for a, b in zip(noisy, dp.clip_and_noise(parts, clip, 1.0, seed)))
    noise = torch.cat([(a - b).reshape(-1) for a, b in zip(noisy, clipped)]) / clip  # N(0, 1) per entry
    assert finite(noise) and 0.2 < float(noise.std()) < 2.5
    value, shown = bad
    refuses(dp.clip_and_noise, parts, value, 1.0, seed, argument="clip", shows=shown)
    refuses(dp.clip_and_noise, parts, clip, value, seed, argument="noise_multiplier", shows=shown)
    refuses(dp.clip_and_noise, parts, clip, 1.0, -1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(dp.clip_and_noise, parts, 1e300, 1e10, seed, argument="noise_multiplier * clip", shows="1e+300")
    refuses(dp.clip_and_noise, parts[0], clip, 1.0, seed, argument="gradients", shows="Tensor")
    refuses(dp.clip_and_noise, (parts[0].long(),), clip, 1.0, seed, argument="gradients[0]", shows="int64")


@covers(dp.gaussian_noise_multiplier, dp.gaussian_epsilon, dp.dp_sgd_epsilon)
@given(st.floats(0.01, 0.99), st.floats(1e-9, 0.1), st.sampled_from(dp.CONVENTIONS), st.integers(1, 10**4),
       st.floats(0.001, 0.999), bad_reals)
def test_the_gaussian_mechanism_inverts_and_the_accountant_is_monotone(epsilon, delta, convention, releases, rate,
                                                                       bad):
    sigma = dp.gaussian_noise_multiplier(epsilon, delta, convention)
    assert dp.gaussian_epsilon(sigma, delta, convention) == pytest.approx(epsilon, rel=1e-12)
    if convention == "replace_one":
        assert sigma == pytest.approx(2 * dp.gaussian_noise_multiplier(epsilon, delta))
    total = dp.dp_sgd_epsilon(sigma, releases, delta)
    assert math.isfinite(total) and total > 0
    assert dp.dp_sgd_epsilon(sigma, releases + 1, delta) >= total  # more releases never cost less
    assert dp.dp_sgd_epsilon(2 * sigma, releases, delta) <= total  # more noise never costs more
    assert dp.dp_sgd_epsilon(sigma, releases, delta, rate) <= total * (1 + 1e-9)  # subsampling amplifies
    value, shown = bad
    refuses(dp.gaussian_noise_multiplier, value, delta, argument="epsilon", shows=shown)
    refuses(dp.gaussian_noise_multiplier, 1.0, delta, argument="epsilon", shows="1.0")
    refuses(dp.gaussian_epsilon, sigma, value, argument="delta", shows=shown)
    refuses(dp.gaussian_epsilon, 1e-320, delta, argument="noise_multiplier", shows="1e-320")
    refuses(dp.gaussian_epsilon, sigma, delta, "swap", argument="convention", shows="'swap'")
    refuses(dp.dp_sgd_epsilon, value, releases, delta, argument="noise_multiplier", shows=shown)
    refuses(dp.dp_sgd_epsilon, sigma, 0, delta, argument="steps", shows="0")
    refuses(dp.dp_sgd_epsilon, sigma, releases, value, argument="delta", shows=shown)
    refuses(dp.dp_sgd_epsilon, sigma, releases, 1.0, argument="delta", shows="1.0")
    refuses(dp.dp_sgd_epsilon, sigma, releases, delta, 1.5, argument="sample_rate", shows="1.5")


@covers(dp.teacher_task, dp.noisy_sgd)
@given(seeds, st.floats(0.0, 2.0), st.integers(1, 4), huge_sizes)
def test_noisy_sgd_is_seeded_and_noiseless_sgd_descends(seed, sigma, batch, huge):
    task = dp.teacher_task(4, 3, 2, seed)
    assert task.X.shape == task.Y.shape == (4, 3, 2) and finite(task.Y)
    assert torch.equal(task.Y, dp.teacher_task(4, 3, 2, seed).Y)
    run = dp.noisy_sgd(task, noise_multiplier=sigma, lr=0.1, steps=5, batch=batch, seed=seed)
    again = dp.noisy_sgd(task, noise_multiplier=sigma, lr=0.1, steps=5, batch=batch, seed=seed)
    assert torch.equal(run.losses, again.losses) and run.losses.shape == (6,) and finite(run.W)
    clean = dp.noisy_sgd(task, noise_multiplier=0.0, lr=0.1, steps=5, batch=4, seed=seed)
    assert float(clean.losses[-1]) <= float(clean.losses[0])  # full-batch clipped descent at a small rate
    refuses(dp.noisy_sgd, task, noise_multiplier=sigma, batch=5, argument="batch", shows="5")
    refuses(dp.noisy_sgd, task, noise_multiplier=sigma, steps=huge, argument="steps", shows=str(huge))
    refuses(dp.noisy_sgd, (task.X, task.Y), noise_multiplier=sigma, argument="task", shows="tuple")
    refuses(dp.noisy_sgd, dp.RegressionTask(task.X.float(), task.Y), noise_multiplier=sigma, batch=1,
            argument="task.Y", shows="float32")
    refuses(dp.noisy_sgd, task, noise_multiplier=-1.0, argument="noise_multiplier", shows="-1.0")
    refuses(dp.teacher_task, 1 << 20, 4096, 4096, seed, argument="sequences = 1048576", shows="GiB")
    refuses(dp.teacher_task, 2, 2, 2, -1, argument="seed", shows="-1")
    refuses(dp.teacher_task, 2, 2, 2, seed, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(dp.teacher_task, 2, 2, 2, seed, device="cuda", argument="device", shows="cuda")
