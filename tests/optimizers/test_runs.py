"""The Part IV experiment runner: data, models, equal budgets, determinism and quartiles."""

import pytest
import torch

from simple_algebra.optimizers import runs


@pytest.fixture(scope="module")
def data():
    return runs.digits(seed=0)


def test_digits_split_and_standardised(data):
    assert data.x_train.shape[1] == 64 and data.classes == 10
    assert len(data.y_train) + len(data.y_test) == 1797
    assert abs(len(data.y_test) - 0.25 * 1797) < 1
    assert torch.isfinite(data.x_train).all()
    assert data.x_train.mean(dim=0).abs().max() < 1e-10


def sgd(parameters):
    return torch.optim.SGD(parameters, lr=0.1)


def test_budget_grid_and_learning(data):
    run = runs.train(runs.mlp(seed=0), sgd, data, budget=3200, batch_size=32, record_every=640, seed=0)
    assert run.evaluations == [0, 640, 1280, 1920, 2560, 3200]
    assert run.losses[-1] < 0.5 * run.losses[0]
    assert 0.5 < run.test_accuracy <= 1.0
    full = runs.train(runs.mlp(seed=0), sgd, data, budget=4 * len(data.y_train), batch_size=len(data.y_train),
                      record_every=len(data.y_train), seed=0)
    assert full.evaluations == [0] + [k * len(data.y_train) for k in range(1, 5)]


def test_same_seed_same_numbers_and_quartiles(data):
    def model(seed):
        return runs.mlp(hidden=0, seed=seed)

    first = runs.run_seeds(model, sgd, data, [0, 1, 2], budget=640, batch_size=32, record_every=320)
    again = runs.run_seeds(model, sgd, data, [0, 1, 2], budget=640, batch_size=32, record_every=320)
    assert [run.losses for run in first] == [run.losses for run in again]
    grid, low, median, high = runs.quartiles(first)
    assert grid == [0, 320, 640]
    assert torch.all(low <= median) and torch.all(median <= high)


def test_bad_input_is_refused(data):
    with pytest.raises(ValueError):
        runs.train(runs.mlp(), sgd, data, budget=0, batch_size=32, record_every=10)
    with pytest.raises(ValueError):
        runs.train(runs.mlp(), sgd, data, budget=100, batch_size=10**6, record_every=10)
    with pytest.raises(ValueError, match="diverged"):
        runs.train(runs.mlp(), lambda p: torch.optim.SGD(p, lr=float("nan")), data, budget=3200, batch_size=32,
                   record_every=32)
    with pytest.raises(ValueError):
        runs.quartiles([])
