"""Tests of the Fourier-circuits module: gamma*, Lemma 4.3's construction, spectra, training."""


import pytest
import torch

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction
from simple_algebra.width import fourier_spectra as fs

PROBLEMS = [(5, 2), (7, 2), (11, 2), (5, 3), (7, 3), (11, 3), (5, 4)]


def test_gather_matches_one_hot_products():
    p, k, m = 5, 3, 7
    u, w = fc.initial_parameters(p, k, m, seed=3)
    tuples, labels = fc.modular_addition_data(p, k)
    assert tuples.shape == (p**k, k) and torch.equal(labels, tuples.sum(1) % p)
    one_hot = torch.nn.functional.one_hot(tuples, p).double()  # (n, k, p)
    hidden = torch.einsum("nkp,mkp->nm", one_hot, u)
    assert torch.allclose(fc.network_output(u, w, tuples), hidden.pow(k) @ w)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_networks_stay_below_gamma_star(seed):
    for p, k in [(5, 2), (7, 3)]:
        u, w = fc.initial_parameters(p, k, 2 * construction.construction_width(p, k), seed=seed)
        assert fc.normalised_margin(u, w) <= construction.max_margin(p, k)


def test_margin_is_scale_free():
    u, w = fc.initial_parameters(7, 2, 12, seed=0)
    assert fc.normalised_margin(3 * u, 3 * w) == pytest.approx(fc.normalised_margin(u, w), rel=1e-12)


def test_bad_inputs_raise():
    for p in (2, 4, 9, 1, 2.5):
        with pytest.raises(ValueError):
            construction.max_margin(p, 2)
    with pytest.raises(ValueError):
        construction.max_margin(7, 1)
    with pytest.raises(ValueError):
        fc.initial_parameters(7, 2, 0)
    with pytest.raises(ValueError):
        fc.train(7, 2, 8, 10, lr=-1.0)
    u, w = fc.initial_parameters(5, 2, 4)
    with pytest.raises(ValueError):
        fc.network_output(u, w[:, :3], fc.modular_addition_data(5, 2)[0])
    with pytest.raises(ValueError):
        fc.network_output(u, w, torch.tensor([[0, 5]]))
    with pytest.raises(ValueError):
        fc.normalised_margin(u * float("nan"), w)
    with pytest.raises(ValueError):
        fc.normalised_margin(torch.zeros_like(u), torch.zeros_like(w))


def test_same_seed_same_numbers():
    first = fc.train(5, 2, 8, 50, seed=4, record_every=10)
    second = fc.train(5, 2, 8, 50, seed=4, record_every=10)
    assert torch.equal(first.u, second.u) and first.normalised_margins == second.normalised_margins
    assert not torch.equal(first.u, fc.train(5, 2, 8, 50, seed=5).u)


def test_training_raises_the_margin_towards_gamma_star():
    run = fc.train(7, 2, construction.construction_width(7, 2), 600, lr=0.03, seed=0, record_every=100)
    assert run.normalised_margins[0] < 0 < run.normalised_margins[-1]
    assert 0.5 < run.margin_ratio <= 1 + 1e-6
    before = fs.max_normalised_power(run.initial_u, run.initial_w).median()
    assert fs.max_normalised_power(run.u, run.w).median() > before + 0.3


def test_split_and_minibatches_record_test_accuracy():
    run = fc.train(5, 2, 16, 30, seed=0, train_fraction=0.5, batch_size=8, record_every=10)
    assert len(run.test_accuracies) == len(run.recorded_steps) == 4
    assert all(0.0 <= value <= 1.0 for value in run.test_accuracies)
