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
from ..core.validation import (
    MAX_STEPS,
    check_allocation,
    check_device,
    check_finite_tensor,
    check_float_dtype,
    check_int,
    check_real,
    check_same_kind,
    check_seed,
)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]




def _check_model(model: object) -> nn.Module:
    """A torch module whose weights are all finite (a NaN weight would turn every loss and prediction into NaN)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, weight in model.named_parameters():
        check_finite_tensor(f"model weight {name!r}", weight)
    return model


def _check_labelled(model: nn.Module, x: object, y: object, x_name: str = "x", y_name: str = "y") -> None:
    """Inputs ``x (n, features)`` finite, of the model's dtype and device; labels ``y (n,)`` integer class indices."""
    check_finite_tensor(x_name, x, ndim=2)
    weight = next(model.parameters(), None)
    if weight is not None:
        check_same_kind(**{x_name: x, "the model's weights": weight})
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8,
                                                          torch.uint8):
        raise ValueError(f"{y_name} must be a tensor of integer class labels, got "
                         f"{getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != x.shape[:1]:
        raise ValueError(f"{y_name} must have shape ({x.shape[0]},) (one label per row of {x_name}), got "
                         f"{tuple(y.shape)}")


def _logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, y_name: str = "y") -> torch.Tensor:
    try:
        logits = model(x)
    except RuntimeError as error:  # a width mismatch: torch's "mat1 and mat2 shapes cannot be multiplied"
        raise ValueError(f"model cannot be applied to x of shape {tuple(x.shape)} (does x have the model's number "
                         f"of input features?): {error}") from error
    if not isinstance(logits, torch.Tensor) or logits.shape[:1] != x.shape[:1] or logits.ndim != 2:
        raise ValueError(f"model must map x {tuple(x.shape)} to class scores (n, classes), got "
                         f"{tuple(getattr(logits, 'shape', ()))}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= logits.shape[1]:
        raise ValueError(f"{y_name} must hold class labels in [0, {logits.shape[1] - 1}], got labels from {low} to {high}")
    check_finite_tensor("the model's output", logits)
    return logits


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
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=0.9, low_inclusive=False)
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
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
    seed = check_seed("seed", seed)
    dtype = check_float_dtype("dtype", dtype)
    device = check_device("device", device)
    weights = (inputs + 1) * outputs if hidden == 0 else (inputs + 1) * hidden + (hidden + 1) * outputs
    # nn.Linear draws its weights in float32 before the cast; count the larger of the two copies.
    widest = dtype if torch.empty((), dtype=dtype).element_size() >= 4 else torch.float32
    check_allocation(f"the weights of a {inputs}-{hidden}-{outputs} MLP (inputs, hidden, outputs)", (weights,),
                     widest, device)
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
    _check_model(model)
    _check_labelled(model, x, y)
    with torch.no_grad():
        return float(nn.functional.cross_entropy(_logits(model, x, y), y))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose arg-max class under ``model`` equals ``y``."""
    _check_model(model)
    _check_labelled(model, x, y)
    with torch.no_grad():
        return float((_logits(model, x, y).argmax(dim=1) == y).double().mean())


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
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a Dataset (see digits()), got {type(data).__name__}")
    if not callable(make_optimizer):
        raise ValueError(f"make_optimizer must be a function of the parameters, got {type(make_optimizer).__name__}")
    _check_model(model)
    _check_labelled(model, data.x_train, data.y_train, "data.x_train", "data.y_train")
    _check_labelled(model, data.x_test, data.y_test, "data.x_test", "data.y_test")
    n = len(data.y_train)
    batch_size = check_int("batch_size", batch_size, 1, n)
    # The loop takes budget // batch_size steps: the cap on a loop's length, in gradient evaluations.
    budget = check_int("budget", budget, 1, MAX_STEPS * batch_size)
    record_every = check_int("record_every", record_every, 1)
    seed = check_seed("seed", seed)
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
    with torch.no_grad():  # the first loss, checked: labels in range, a finite output
        first = float(nn.functional.cross_entropy(_logits(model, data.x_train, data.y_train, "data.y_train"),
                                                  data.y_train))
    evaluations, losses = [0], [first]
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
            with torch.no_grad():  # unchecked: a diverged loss is reported below, by name
                losses.append(float(nn.functional.cross_entropy(model(data.x_train), data.y_train)))
            evaluations.append(spent)
            if not math.isfinite(losses[-1]):
                raise ValueError(f"the training loss diverged after {spent} gradient evaluations; "
                                 "lower the learning rate")
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise ValueError(f"the weights became NaN or inf after {spent} gradient evaluations (the training loss "
                         "diverged); lower the learning rate")
    log = {key: list(value) if isinstance(value, list) else value
           for key, value in getattr(optimizer, "log", {}).items()}
    with torch.no_grad():
        correct = _logits(model, data.x_test, data.y_test, "data.y_test").argmax(dim=1) == data.y_test
    return Run(evaluations, losses, float(correct.double().mean()), log)


def run_seeds(make_model: Callable[[int], nn.Module], make_optimizer: OptimizerFactory, data: Dataset,
              seeds: Sequence[int], budget: int, batch_size: int, record_every: int,
              description: str = "seeds") -> list[Run]:
    """:func:`train` once per seed: ``make_model(seed)`` builds the model and ``seed`` also orders the batches."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty list of seeds, got {seeds!r}")
    seeds = [check_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]
    if not callable(make_model):
        raise ValueError(f"make_model must be a function of the seed, got {type(make_model).__name__}")
    return [train(make_model(seed), make_optimizer, data, budget, batch_size, record_every, seed)
            for seed in progress(seeds, desc=description, leave=False)]


def quartiles(runs: Sequence[Run]) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Budgets and the 25th, 50th and 75th percentiles of the training loss over ``runs`` at each budget.

    Runs must share the grid of budgets (same budget, batch size and ``record_every``).
    """
    if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence) or len(runs) == 0:
        raise ValueError(f"runs must be a non-empty list of Run, got {runs!r}")
    for index, run in enumerate(runs):
        if not isinstance(run, Run):
            raise ValueError(f"runs[{index}] must be a Run (from train or run_seeds), got {type(run).__name__}")
        if len(run.losses) == 0 or len(run.losses) != len(run.evaluations):
            raise ValueError(f"runs[{index}] must have one loss per budget, got {len(run.losses)} losses and "
                             f"{len(run.evaluations)} budgets")
        check_finite_tensor(f"runs[{index}].losses", torch.tensor(run.losses, dtype=torch.float64))
    grid = runs[0].evaluations
    if any(run.evaluations != grid for run in runs):
        raise ValueError("runs were recorded on different grids of gradient evaluations")
    losses = torch.tensor([run.losses for run in runs], dtype=torch.float64)
    low, median, high = torch.quantile(losses, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    return grid, low, median, high
