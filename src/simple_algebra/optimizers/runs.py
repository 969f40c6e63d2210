"""Fair optimizer comparisons: the digits data set, a small MLP, equal gradient budgets, seeds and quartile bands.

Part IV compares update rules, and a comparison is only fair at an equal budget of *gradient evaluations*: one
per training example whose gradient a step uses (a step on a batch of 32 costs 32, a full-batch step costs the
whole training set). :func:`train` runs any ``torch.optim.Optimizer`` for such a budget and records the full
training loss on a fixed grid of budgets, so runs with different batch sizes line up; :func:`run_seeds` repeats
it over seeds and :func:`quartiles` gives the median and inter-quartile band the chapters plot.

The real data set is scikit-learn's bundled ``load_digits`` (1797 images of 8 x 8 pixels, ten classes; no
download). Chapters: the unified acceleration framework (Deng, Song, Yang; arXiv 2402.01515) and regret-corrected
delta-bar-delta (Song, Yang; arXiv 2310.11291).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.runtime import generator, one_thread, progress
from ..core.validation import check_int, check_real

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x (n, features)`` and integer class labels ``y (n,)`` for training and testing."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return torch.as_tensor(images, dtype=torch.float64), torch.as_tensor(labels, dtype=torch.long)


def digits(test_fraction: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float64,
           device: torch.device | str = "cpu") -> Dataset:
    """scikit-learn's bundled digits, shuffled by ``seed``, split, and standardised with the training statistics.

    Shapes: ``x`` (n, 64), ``y`` (n,) with ten classes; 1797 examples in all.
    """
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=0.9)
    x, y = _digits()
    order = torch.randperm(len(y), generator=generator(seed))
    x, y = x[order], y[order]
    cut = len(y) - int(round(test_fraction * len(y)))
    mean = x[:cut].mean(dim=0)
    std = x[:cut].std(dim=0).clamp(min=1e-3)  # border pixels are always 0 in training: keep them 0, not NaN
    x = (x - mean) / std
    move = dict(device=device)
    return Dataset(x[:cut].to(dtype=dtype, **move), y[:cut].to(**move), x[cut:].to(dtype=dtype, **move),
                   y[cut:].to(**move))


def mlp(inputs: int = 64, hidden: int = 32, outputs: int = 10, seed: int = 0, dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu") -> nn.Module:
    """A ``inputs-hidden-outputs`` tanh MLP (``hidden=0``: softmax regression), initialised from ``seed``."""
    inputs = check_int("inputs", inputs, 1)
    hidden = check_int("hidden", hidden, 0)
    outputs = check_int("outputs", outputs, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hidden == 0:
            model = nn.Linear(inputs, outputs)
        else:
            model = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, outputs))
    return model.to(dtype=dtype, device=device)


@dataclass
class Run:
    """One training run: the full training loss after each budget in ``evaluations`` and the optimizer's log.

    ``evaluations[j]`` gradient evaluations had been spent when ``losses[j]`` was measured (``evaluations[0]`` =
    0: the initial loss). ``log`` is a copy of ``optimizer.log`` if the optimizer keeps one (Part IV's do).
    """

    evaluations: list[int]
    losses: list[float]
    test_accuracy: float
    log: dict[str, Any] = field(default_factory=dict)


def full_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on all of ``(x, y)``, without gradients."""
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose arg-max class under ``model`` equals ``y``."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def train(model: nn.Module, make_optimizer: OptimizerFactory, data: Dataset, budget: int, batch_size: int,
          record_every: int, seed: int = 0) -> Run:
    """Train ``model`` with ``make_optimizer(model.parameters())`` until ``budget`` gradient evaluations are spent.

    Each step draws a batch of ``batch_size`` training examples (a fresh permutation every epoch, from ``seed``)
    and costs ``batch_size`` evaluations; ``batch_size`` equal to the training-set size is full-batch descent. The
    full training loss is recorded every ``record_every`` evaluations (rounded to whole steps). The optimizer sees
    ``step(closure)`` with a closure that recomputes the batch loss, as ``torch.optim.LBFGS`` expects, so rules
    that need a second look at the same batch can take it (and must count it themselves).
    A loss that becomes NaN or infinite raises ``ValueError`` (the learning rate is too large).
    On the CPU the loop runs on one thread: these models are tiny, and two threads spin-waiting on each other made
    the same runs 80 times slower on the book's two-core machine.
    """
    n = len(data.y_train)
    budget = check_int("budget", budget, 1)
    batch_size = check_int("batch_size", batch_size, 1, n)
    record_every = check_int("record_every", record_every, 1)
    if data.x_train.device.type == "cpu":
        with one_thread():
            return _train(model, make_optimizer, data, budget, batch_size, record_every, seed)
    return _train(model, make_optimizer, data, budget, batch_size, record_every, seed)


def _train(model: nn.Module, make_optimizer: OptimizerFactory, data: Dataset, budget: int, batch_size: int,
           record_every: int, seed: int) -> Run:
    n = len(data.y_train)
    optimizer = make_optimizer(model.parameters())
    draw = generator(seed)
    order, position = torch.randperm(n, generator=draw), 0
    spent, recorded = 0, 0
    evaluations, losses = [0], [full_loss(model, data.x_train, data.y_train)]
    while spent + batch_size <= budget:
        if position + batch_size > n:
            order, position = torch.randperm(n, generator=draw), 0
        batch = order[position:position + batch_size].to(data.y_train.device)
        position += batch_size
        x, y = data.x_train[batch], data.y_train[batch]

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)
        spent += batch_size
        if spent // record_every > recorded:  # crossed the next multiple of record_every
            recorded = spent // record_every
            losses.append(full_loss(model, data.x_train, data.y_train))
            evaluations.append(spent)
            if not math.isfinite(losses[-1]):
                raise ValueError(f"the training loss diverged after {spent} gradient evaluations; "
                                 "lower the learning rate")
    log = {key: list(value) if isinstance(value, list) else value
           for key, value in getattr(optimizer, "log", {}).items()}
    return Run(evaluations, losses, accuracy(model, data.x_test, data.y_test), log)


def run_seeds(make_model: Callable[[int], nn.Module], make_optimizer: OptimizerFactory, data: Dataset,
              seeds: Sequence[int], budget: int, batch_size: int, record_every: int,
              description: str = "seeds") -> list[Run]:
    """:func:`train` once per seed: ``make_model(seed)`` builds the model and ``seed`` also orders the batches."""
    if len(seeds) == 0:
        raise ValueError("seeds must not be empty")
    return [train(make_model(seed), make_optimizer, data, budget, batch_size, record_every, seed)
            for seed in progress(seeds, desc=description, leave=False)]


def quartiles(runs: Sequence[Run]) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Budgets and the 25th, 50th and 75th percentiles of the training loss over ``runs`` at each budget.

    Runs must share the grid of budgets (same budget, batch size and ``record_every``).
    """
    if len(runs) == 0:
        raise ValueError("runs must not be empty")
    grid = runs[0].evaluations
    if any(run.evaluations != grid for run in runs):
        raise ValueError("runs were recorded on different grids of gradient evaluations")
    losses = torch.tensor([run.losses for run in runs], dtype=torch.float64)
    low, median, high = torch.quantile(losses, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    return grid, low, median, high
