"""Delta-bar-delta and RDBD: the update rules on hand-computed cases, the reference, clipping, determinism, errors."""

import math

import pytest
import torch

from simple_algebra.optimizers import delta_bar_delta as dbd


def run_on_gradients(optimizer_class, gradients, start, **options):
    """Feed a fixed gradient sequence to the optimizer (the gradient does not depend on the weights)."""
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([w], log_every=1, **options)
    weights, rates = [], []
    for g in gradients:
        w.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        weights.append(w.detach().tolist())
        rates.append(optimizer.learning_rates().tolist())
    return weights, rates, optimizer


def test_delta_bar_delta_by_hand():
    # lr 0.1, theta 0.5, kappa 0.05, phi 0.5; gradients 1, 1, -1 on one weight.
    # step 1: bar_prev = 0, no change, eps 0.1, w = 1 - 0.1 = 0.9, bar = 0.5
    # step 2: 0.5 * 1 > 0: eps 0.15, w = 0.9 - 0.15 = 0.75, bar = 0.75
    # step 3: 0.75 * -1 < 0: eps 0.075, w = 0.75 + 0.075 = 0.825, bar = -0.125
    weights, rates, _ = run_on_gradients(dbd.DeltaBarDelta, [[1.0], [1.0], [-1.0]], [1.0], lr=0.1, theta=0.5,
                                         kappa=0.05, phi=0.5)
    assert [r[0] for r in rates] == pytest.approx([0.1, 0.15, 0.075])
    assert [w[0] for w in weights] == pytest.approx([0.9, 0.75, 0.825])


def test_regret_undoes_a_contradicted_change():
    # Same numbers: step 3 contradicts step 2's increase, so RDBD restores eps = 0.1 (DBD gave 0.075).
    # step 4 (gradient -1): bar = -0.125 agrees; no change is pending after a regret, so this is a plain increase.
    options = dict(lr=0.1, theta=0.5, kappa=0.05, phi=0.5, clip=(0.0, math.inf))
    weights, rates, optimizer = run_on_gradients(dbd.RegrettableDeltaBarDelta, [[1.0], [1.0], [-1.0], [-1.0]],
                                                 [1.0], **options)
    assert [r[0] for r in rates] == pytest.approx([0.1, 0.15, 0.1, 0.15])
    assert weights[2][0] == pytest.approx(0.75 + 0.1)
    assert optimizer.log["regrets"][-1] == 1
    # A decrease followed by agreement is also undone: gradients 1, -1, -1.
    _, rates, _ = run_on_gradients(dbd.RegrettableDeltaBarDelta, [[1.0], [-1.0], [-1.0]], [0.0], **options)
    # step 2: bar 0.5 vs -1: decrease to 0.05; step 3: bar -0.25 vs -1 agrees: regret, back to 0.1
    assert [r[0] for r in rates] == pytest.approx([0.1, 0.05, 0.1])


def test_learning_rates_are_clipped():
    ups = [[1.0]] * 50
    _, rates, _ = run_on_gradients(dbd.RegrettableDeltaBarDelta, ups, [0.0], lr=0.1, kappa=0.5, clip=(0.5, 3.0))
    assert max(r[0] for r in rates) == pytest.approx(0.3)
    flips = [[(-1.0) ** t] for t in range(50)]
    _, rates, _ = run_on_gradients(dbd.DeltaBarDelta, flips, [0.0], lr=0.1, phi=0.5, clip=(0.5, 3.0))
    assert min(r[0] for r in rates) == pytest.approx(0.05)


@pytest.mark.parametrize("regret", [False, True])
def test_optimizer_matches_the_float64_reference(regret):
    draw = torch.Generator().manual_seed(3)
    drift = torch.tensor([1.0, -0.5, 0.0, 2.0, 0.2], dtype=torch.float64)
    gradients = (drift + torch.randn(40, 5, generator=draw, dtype=torch.float64)).tolist()
    options = dict(lr=0.05, theta=0.7, kappa=0.02, phi=0.3, clip=(0.1, 5.0))
    start = [0.5, -1.0, 2.0, 0.0, 1.0]
    cls = dbd.RegrettableDeltaBarDelta if regret else dbd.DeltaBarDelta
    weights, rates, _ = run_on_gradients(cls, gradients, start, **options)
    ref_weights, ref_rates = dbd.delta_bar_delta_reference(gradients, start, regret=regret, **options)
    assert torch.allclose(torch.tensor(weights), torch.tensor(ref_weights), rtol=1e-12, atol=1e-12)
    assert torch.allclose(torch.tensor(rates), torch.tensor(ref_rates), rtol=1e-12, atol=1e-12)


def test_constant_rate_is_plain_gradient_descent_and_bases():
    loss = dbd.diagonal_quadratic(torch.tensor([1.0, 10.0], dtype=torch.float64))
    ours = dbd.trajectory(loss, lambda p: dbd.constant_rate(p, lr=0.05), [1.0, 1.0], 20)
    theirs = dbd.trajectory(loss, lambda p: torch.optim.SGD(p, lr=0.05), [1.0, 1.0], 20)
    assert torch.allclose(ours.points, theirs.points, rtol=1e-13, atol=1e-15)
    heavy = dbd.trajectory(loss, lambda p: dbd.constant_rate(p, lr=0.05, base="momentum"), [1.0, 1.0], 20)
    torch_heavy = dbd.trajectory(loss, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), [1.0, 1.0], 20)
    assert torch.allclose(heavy.points, torch_heavy.points, rtol=1e-12, atol=1e-14)
    adam = dbd.trajectory(loss, lambda p: dbd.constant_rate(p, lr=0.05, base="adam"), [1.0, 1.0], 20)
    torch_adam = dbd.trajectory(loss, lambda p: torch.optim.Adam(p, lr=0.05), [1.0, 1.0], 20)
    assert torch.allclose(adam.points, torch_adam.points, rtol=1e-6, atol=1e-8)


def test_full_batch_dbd_beats_gradient_descent_at_one_over_l():
    curvatures = torch.logspace(0, 2, 10, dtype=torch.float64)  # condition number 100, L = 100
    loss = dbd.diagonal_quadratic(curvatures)
    start = [1.0] * 10
    gd = dbd.trajectory(loss, lambda p: dbd.constant_rate(p, lr=1 / 100), start, 700)
    fast = dbd.trajectory(loss, lambda p: dbd.DeltaBarDelta(p, lr=1 / 100, kappa=1e-2, phi=0.2), start, 100)
    gd_steps, dbd_steps = dbd.steps_to_reach(gd.losses, 1e-6), dbd.steps_to_reach(fast.losses, 1e-6)
    assert gd_steps is not None and dbd_steps is not None and dbd_steps < gd_steps / 5


def test_same_seed_same_trajectory_and_noise_matters():
    make = lambda p: dbd.RegrettableDeltaBarDelta(p, lr=1e-3, kappa=1e-4)  # noqa: E731
    first = dbd.trajectory(dbd.rosenbrock, make, [-1.0, 1.5], 50, sigma=1.0, seed=4)
    again = dbd.trajectory(dbd.rosenbrock, make, [-1.0, 1.5], 50, sigma=1.0, seed=4)
    other = dbd.trajectory(dbd.rosenbrock, make, [-1.0, 1.5], 50, sigma=1.0, seed=5)
    assert torch.equal(first.points, again.points) and first.log == again.log
    assert not torch.equal(first.points, other.points)
    assert first.points.shape == (51, 2) and first.losses.shape == (51,)
    assert float(dbd.rosenbrock(torch.tensor([1.0, 1.0]))) == 0.0
    assert float(dbd.ill_conditioned_quadratic(torch.tensor([1.0, 1.0]), 25.0)) == 13.0


def test_log_records_spread():
    _, _, optimizer = run_on_gradients(dbd.RegrettableDeltaBarDelta, [[1.0, -1.0]] * 5 + [[1.0, 1.0]] * 5,
                                       [0.0, 0.0], lr=0.1, kappa=0.1)
    log = optimizer.log
    assert log["step"] == list(range(1, 11))
    assert all(low <= q25 <= mid <= q75 <= high for low, q25, mid, q75, high in
               zip(log["lr_min"], log["lr_q25"], log["lr_median"], log["lr_q75"], log["lr_max"]))
    # weight 1 agrees from step 2 on (nine increases); weight 2 flips at step 6 (the increase is undone), flips
    # again at step 7 (a decrease) and agrees at step 8 (that decrease is undone): two regrets
    assert log["lr_max"][-1] == pytest.approx(0.1 + 9 * 0.1) and log["regrets"][-1] == 2


@pytest.mark.parametrize("options", [dict(lr=0.0), dict(lr=-1.0), dict(theta=1.5), dict(kappa=-0.1),
                                     dict(phi=1.0), dict(base="lion"), dict(clip=(2.0, 3.0)),
                                     dict(clip=(0.5, 0.1)), dict(momentum=1.0), dict(log_every=0),
                                     dict(lr=float("nan"))])
def test_bad_arguments_raise(options):
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError):
        dbd.DeltaBarDelta([w], **options)


def test_other_errors():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="gradient"):
        dbd.DeltaBarDelta([w]).step()
    with pytest.raises(ValueError):
        dbd.trajectory(dbd.rosenbrock, lambda p: dbd.DeltaBarDelta(p), [0.0, 0.0], steps=0)
    with pytest.raises(ValueError):
        dbd.trajectory(dbd.rosenbrock, lambda p: dbd.DeltaBarDelta(p), [0.0, 0.0], steps=5, sigma=-1.0)
    with pytest.raises(ValueError, match="diverged"):
        dbd.trajectory(dbd.rosenbrock, lambda p: dbd.DeltaBarDelta(p, lr=1.0), [-1.0, 1.5], steps=20)
    with pytest.raises(ValueError):
        dbd.diagonal_quadratic(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError):
        dbd.delta_bar_delta_reference([[1.0, 2.0]], [0.0], 0.1, 0.7, 0.01, 0.2)


def test_float32_follows_input_dtype():
    w = torch.ones(3, dtype=torch.float32, requires_grad=True)
    optimizer = dbd.RegrettableDeltaBarDelta([w], lr=0.1)
    (w**2).sum().backward()
    optimizer.step()
    assert w.dtype == torch.float32 and optimizer.learning_rates().dtype == torch.float32


def test_log_quartiles_match_torch_quantile():
    values = torch.randn(101, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).exp()
    levels = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    assert dbd._quartiles(values) == pytest.approx(torch.quantile(values, levels).tolist(), rel=1e-14)
    assert dbd._quartiles(values[:4]) == pytest.approx(torch.quantile(values[:4], levels).tolist(), rel=1e-14)
    assert dbd._quartiles(values[:1]) == pytest.approx([float(values[0])] * 5)


@pytest.mark.parametrize("regret", [False, True])
def test_pure_noise_rates_settle_at_the_stationary_mean(regret):
    # kappa 0.01, phi 0.2: DBD settles at 0.05, RDBD at 0.06; 4000 independent weights give a standard error of the
    # mean near 0.0006, so the two predictions (a kappa apart) are told apart and each is met within 4 errors.
    cls = dbd.RegrettableDeltaBarDelta if regret else dbd.DeltaBarDelta
    w = torch.zeros(4000, dtype=torch.float64, requires_grad=True)
    optimizer = cls([w], lr=0.1, kappa=0.01, phi=0.2)
    draw = torch.Generator().manual_seed(3)
    for _ in range(300):
        w.grad = torch.randn(4000, generator=draw, dtype=torch.float64)
        optimizer.step()
    rates = optimizer.learning_rates()
    error = float(rates.std()) / math.sqrt(rates.numel())
    assert abs(float(rates.mean()) - dbd.noise_stationary_rate(0.01, 0.2, regret=regret)) < 4 * error
    assert abs(float(rates.mean()) - dbd.noise_stationary_rate(0.01, 0.2, regret=not regret)) > 4 * error


def test_noise_stationary_rate_values_and_errors():
    assert dbd.noise_stationary_rate(0.01, 0.2) == pytest.approx(0.05)
    assert dbd.noise_stationary_rate(0.01, 0.2, regret=True) == pytest.approx(0.06)
    with pytest.raises(ValueError, match="phi"):
        dbd.noise_stationary_rate(0.01, 0.0)
    with pytest.raises(ValueError, match="kappa"):
        dbd.noise_stationary_rate(-0.01, 0.2)
