"""Property tests of the fair-comparison harness: digits and MLPs are seeded, losses and accuracies agree with their
definitions, equal budgets give one grid, and bad models, data, sizes and seeds are refused by name."""

import copy
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.optimizers import runs
from tests.properties import bad_integers, covers, finite, huge_sizes, refuses


@pytest.fixture(scope="module")
def data():
    return runs.digits(seed=0)


def _small(data, rows=40):
    return runs.Dataset(data.x_train[:rows], data.y_train[:rows], data.x_test[:rows], data.y_test[:rows])


@covers(runs.digits, runs.mlp)
@given(st.integers(0, 3), st.floats(0.1, 0.5), st.integers(0, 6), huge_sizes, bad_integers.filter(lambda b: b[0] != 0))
def test_digits_and_mlps_are_seeded_standardised_and_sized(seed, fraction, hidden, huge, bad_seed):
    first, again = runs.digits(fraction, seed=seed), runs.digits(fraction, seed=seed)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert len(first.y_train) + len(first.y_test) == 1797 and first.classes == 10
    assert len(first.y_test) == round(fraction * 1797) and finite(first.x_train)
    assert float(first.x_train.mean(0).abs().max()) < 1e-9  # standardised with the training statistics
    model, twin = runs.mlp(hidden=hidden, seed=seed), runs.mlp(hidden=hidden, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
    count = sum(p.numel() for p in model.parameters())
    assert count == (65 * 10 if hidden == 0 else 65 * hidden + (hidden + 1) * 10)
    refuses(runs.mlp, hidden=huge, argument="hidden", shows="GiB")
    value, shown = bad_seed
    refuses(runs.mlp, seed=value, argument="seed", shows=shown)
    refuses(runs.digits, seed=value, argument="seed", shows=shown)
    refuses(runs.digits, 0.0, argument="test_fraction", shows="0.0")
    refuses(runs.mlp, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(runs.digits, dtype=torch.complex128, argument="dtype", shows="complex128")
    if not torch.cuda.is_available():
        refuses(runs.mlp, device="cuda", argument="device", shows="cuda")
        refuses(runs.digits, device="cuda", argument="device", shows="cuda")


@covers(runs.full_loss, runs.accuracy)
@given(seed=st.integers(0, 5), rows=st.integers(1, 30),
       bad=st.sampled_from(["nan weight", "nan x", "float32 x", "labels", "width", "rows"]))
def test_loss_and_accuracy_follow_their_definitions_and_refuse_bad_input(seed, rows, bad, data):
    model = runs.mlp(hidden=4, seed=seed)
    x, y = data.x_train[:rows], data.y_train[:rows]
    logits = model(x).detach()
    assert runs.full_loss(model, x, y) == pytest.approx(float(-logits.log_softmax(1)[range(rows), y].mean()),
                                                        rel=1e-12)
    assert runs.accuracy(model, x, y) == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    assert runs.accuracy(model, x, logits.argmax(1)) == 1.0
    call, argument, shown = {
        "nan weight": (lambda: _with_nan(model), "model weight", "NaN"),
        "nan x": (lambda: (model, x * math.nan, y), "x", "NaN"),
        "float32 x": (lambda: (model, x.float(), y), "x", "float32"),
        "labels": (lambda: (model, x, y + 10), "y", str(int(y.max()) + 10)),
        "width": (lambda: (model, x[:, :3], y), "x", f"({rows}, 3)"),
        "rows": (lambda: (model, x, y[:rows - 1]), "y", f"({rows - 1},)"),
    }[bad]
    for function in (runs.full_loss, runs.accuracy):
        refuses(function, *call(), argument=argument, shows=shown)


def _with_nan(model):
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken[0].weight[0, 0] = math.nan
    return broken, torch.zeros(2, 64, dtype=torch.float64), torch.zeros(2, dtype=torch.long)


def sgd(parameters):
    return torch.optim.SGD(parameters, lr=0.1)


@covers(runs.train, runs.run_seeds, runs.quartiles)
@given(steps=st.integers(1, 4), every=st.integers(1, 3), seed_list=st.lists(st.integers(0, 50), min_size=1, max_size=3))
def test_equal_budgets_give_one_grid_same_seeds_same_numbers_and_ordered_quartiles(steps, every, seed_list, data):
    small = _small(data)
    budget, batch = 8 * steps, 8
    make = lambda seed: runs.mlp(hidden=2, seed=seed)  # noqa: E731
    first = runs.run_seeds(make, sgd, small, seed_list, budget, batch, 8 * every)
    again = runs.run_seeds(make, sgd, small, seed_list, budget, batch, 8 * every)
    assert [r.losses for r in first] == [r.losses for r in again]
    grid, low, median, high = runs.quartiles(first)
    assert grid == [0] + [8 * every * j for j in range(1, steps // every + 1)]
    assert all(len(run.losses) == len(grid) and 0 <= run.test_accuracy <= 1 for run in first)
    assert bool((low <= median).all() and (median <= high).all()) and finite(median)
    assert first[0].losses[0] == pytest.approx(runs.full_loss(make(seed_list[0]), small.x_train, small.y_train))
    refuses(runs.train, make(0), sgd, small, budget, batch_size=41, record_every=8, argument="batch_size", shows="41")
    refuses(runs.train, make(0), sgd, small, 10**15, batch_size=8, record_every=8, argument="budget",
            shows=str(10**15))
    refuses(runs.train, make(0), sgd, small, budget, 8, 8, seed=-1, argument="seed", shows="-1")
    refuses(runs.train, _with_nan(make(0))[0], sgd, small, budget, 8, 8, argument="model weight", shows="NaN")
    refuses(runs.train, make(0), sgd, (small.x_train, small.y_train), budget, 8, 8, argument="data", shows="tuple")
    wide = runs.Dataset(small.x_train.float(), small.y_train, small.x_test.float(), small.y_test)
    refuses(runs.train, make(0), sgd, wide, budget, 8, 8, argument="data.x_train", shows="float32")
    refuses(runs.run_seeds, make, sgd, small, [0, -2], budget, 8, 8, argument="seeds[1]", shows="-2")
    refuses(runs.run_seeds, make, sgd, small, [], budget, 8, 8, argument="seeds", shows="[]")
    refuses(runs.quartiles, [], argument="runs", shows="[]")
    refuses(runs.quartiles, [runs.Run([0, 8], [1.0, math.nan], 0.5)], argument="runs[0].losses", shows="NaN")
    refuses(runs.quartiles, [runs.Run([0, 8], [1.0], 0.5)], argument="runs[0]", shows="1 losses")
    with pytest.raises(ValueError, match="diverged"):
        runs.train(make(0), lambda p: torch.optim.SGD(p, lr=math.nan), small, budget, 8, 8)
