"""Property tests of the Fourier circuits: the gathered network against a one-hot reference, homogeneity of norms
and margins, the max-margin construction attaining gamma*, training, and every bad input refused by name."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction
from tests.properties import covers, finite, refuses, seeds

primes = st.sampled_from([3, 5, 7])


@covers(fc.modular_addition_data, fc.network_output, fc.initial_parameters)
@given(primes, st.integers(2, 3), st.integers(1, 5), seeds)
def test_the_network_is_the_one_hot_formula_on_every_tuple(p, k, width, seed):
    tuples, labels = fc.modular_addition_data(p, k)
    assert tuples.shape == (p**k, k) and torch.equal(labels, tuples.sum(1) % p)
    assert torch.equal(tuples[1] - tuples[0], torch.tensor([0] * (k - 1) + [1]))  # the last position moves fastest
    u, w = fc.initial_parameters(p, k, width, seed=seed)
    again = fc.initial_parameters(p, k, width, seed=seed)
    assert torch.equal(again[0], u) and torch.equal(again[1], w)
    one_hot = torch.nn.functional.one_hot(tuples, p).to(u.dtype)  # (n, k, p)
    hidden = torch.einsum("nkp,mkp->nm", one_hot, u)
    assert torch.allclose(fc.network_output(u, w, tuples), hidden.pow(k) @ w)
    refuses(fc.network_output, u, w, tuples.double(), argument="tuples", shows="float64")
    refuses(fc.network_output, u, w, tuples + p, argument="tuple entries", shows=str(2 * p - 1))
    refuses(fc.network_output, u, w, tuples[:0], argument="tuples", shows=f"(0, {k})")
    refuses(fc.network_output, u.float(), w, tuples, argument="w", shows="float32")
    refuses(fc.network_output, u, w[:, :-1], tuples, argument="w", shows=f"({width}, {p - 1})")
    broken = u.clone()
    broken[0, 0, 0] = math.nan
    refuses(fc.network_output, broken, w, tuples, argument="u", shows="finite")
    refuses(fc.modular_addition_data, p + 1, k, argument="p", shows=str(p + 1))
    refuses(fc.modular_addition_data, p, 1, argument="k", shows="1")
    refuses(fc.initial_parameters, p, k, width, seed=-1, argument="seed", shows="-1")
    refuses(fc.initial_parameters, p, k, width, dtype=torch.int32, argument="dtype", shows="int32")
    if not torch.cuda.is_available():
        refuses(fc.modular_addition_data, p, k, device="cuda", argument="device", shows="cuda")


@covers(fc.neuron_norms, fc.parameter_norm, fc.margins, fc.normalised_margin)
@given(primes, st.integers(2, 3), st.integers(1, 5), seeds, st.sampled_from([1e-3, 0.5, 3.0, 1e120, 1e200]))
def test_norms_are_homogeneous_margins_are_logit_gaps_and_the_normalised_margin_is_scale_free(p, k, width, seed,
                                                                                               scale):
    u, w = fc.initial_parameters(p, k, width, seed=seed)
    norms = fc.neuron_norms(u, w)
    assert torch.allclose(norms, torch.cat([u.reshape(width, -1), w], 1).norm(dim=1))
    assert torch.allclose(fc.parameter_norm(u, w), norms.pow(k + 1).sum().pow(1 / (k + 1)))
    assert torch.allclose(fc.parameter_norm(scale * u, scale * w), scale * fc.parameter_norm(u, w), rtol=1e-10)
    tuples, labels = fc.modular_addition_data(p, k)
    logits = fc.network_output(u, w, tuples)
    gaps = logits.gather(1, labels[:, None])[:, 0] - logits.scatter(1, labels[:, None], -math.inf).max(1).values
    assert torch.allclose(fc.margins(u, w), gaps) and torch.allclose(fc.margins(u, w, tuples[3:5], labels[3:5]),
                                                                       gaps[3:5])
    margin = fc.normalised_margin(u, w)
    assert math.isfinite(margin) and math.isclose(fc.normalised_margin(scale * u, scale * w), margin, rel_tol=1e-8,
                                                  abs_tol=1e-12)
    assert margin <= construction.max_margin(p, k) + 1e-12
    refuses(fc.margins, u, w, tuples, argument="labels", shows="NoneType")
    refuses(fc.margins, u, w, tuples, labels + p, argument="labels", shows=str(2 * p - 1))
    refuses(fc.margins, u, w, tuples, labels.double(), argument="labels", shows="float64")
    refuses(fc.normalised_margin, 0 * u, 0 * w, argument="zero network", shows="zero")
    refuses(fc.parameter_norm, u[:, 0], w, argument="u", shows=f"({width}, {p})")
    refuses(fc.neuron_norms, u[:, :, :2], w[:, :2], argument="u", shows="p >= 3")


@covers(fc.train)
@settings(max_examples=4)
@given(seeds, st.integers(1, 3), st.sampled_from([1.0, 0.6]), st.sampled_from([None, 4]))
def test_training_is_reproducible_records_what_it_promises_and_refuses_bad_settings(seed, steps, fraction, batch):
    run = fc.train(3, 2, 4, steps, lr=0.05, seed=seed, record_every=1, train_fraction=fraction, batch_size=batch)
    assert run.recorded_steps == list(range(steps + 1)) and finite(run.losses) and finite(run.normalised_margins)
    assert math.isclose(run.normalised_margins[-1], fc.normalised_margin(run.u, run.w), rel_tol=1e-9)
    assert torch.equal(run.initial_u, fc.initial_parameters(3, 2, 4, seed=seed)[0])
    again = fc.train(3, 2, 4, steps, lr=0.05, seed=seed, record_every=1, train_fraction=fraction, batch_size=batch)
    assert torch.equal(again.u, run.u) and again.losses == run.losses  # same seed, same numbers
    refuses(fc.train, 3, 2, 4, 10**12, argument="steps", shows=str(10**12))
    refuses(fc.train, 3, 2, 4, 1, betas=(1.5, 0.9), argument="betas[0]", shows="1.5")
    refuses(fc.train, 3, 2, 4, 1, betas=(0.9, math.nan), argument="betas[1]", shows="nan")
    refuses(fc.train, 3, 2, 4, 1, lr=-0.1, argument="lr", shows="-0.1")
    refuses(fc.train, 3, 2, 4, 1, seed=-2, argument="seed", shows="-2")
    refuses(fc.train, 3, 2, 4, 1, train_fraction=0.0, argument="train_fraction", shows="0.0")
    refuses(fc.train, 3, 2, 4, 1, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(fc.train, 3, 2, 4, 3, lr=1e200, argument="the gradient of", shows="NaN or inf")
