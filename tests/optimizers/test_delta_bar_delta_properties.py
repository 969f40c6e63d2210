"""Property tests of delta-bar-delta: the optimizers equal the float64 per-weight reference on any gradient sequence,
refuse a NaN gradient before the state moves, and the test problems and trajectories refuse bad input by name."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core.validation import MAX_STEPS
from simple_algebra.optimizers import delta_bar_delta as dbd
from tests.optimizers.test_delta_bar_delta import run_on_gradients
from tests.properties import bad_reals, bad_tensors, covers, finite, refuses, seeds, tensors

rules = st.fixed_dictionaries({"lr": st.floats(1e-3, 0.2), "theta": st.floats(0.0, 1.0), "kappa": st.floats(0.0, 0.05),
                               "phi": st.floats(0.0, 0.9)})


@covers(dbd.DeltaBarDelta, dbd.RegrettableDeltaBarDelta, dbd.delta_bar_delta_reference, dbd.constant_rate)
@given(st.integers(1, 5), st.integers(1, 12), seeds, rules, st.booleans(),
       st.sampled_from([math.nan, math.inf, -math.inf]))
def test_optimizers_match_the_reference_and_refuse_a_nan_gradient(d, steps, seed, rule, regret, bad):
    draw = torch.Generator().manual_seed(seed)
    gradients = (0.5 + torch.randn(steps, d, generator=draw, dtype=torch.float64)).tolist()
    start = torch.randn(d, generator=draw, dtype=torch.float64).tolist()
    cls = dbd.RegrettableDeltaBarDelta if regret else dbd.DeltaBarDelta
    clip = (0.01, 100.0) if regret else (0.0, math.inf)
    weights, rates, optimizer = run_on_gradients(cls, gradients, start, **rule)
    ref_weights, ref_rates = dbd.delta_bar_delta_reference(gradients, start, regret=regret, clip=clip, **rule)
    torch.testing.assert_close(torch.tensor(weights), torch.tensor(ref_weights), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(torch.tensor(rates), torch.tensor(ref_rates), rtol=1e-11, atol=1e-12)
    assert len(optimizer.log["step"]) == steps and finite(torch.tensor(optimizer.log["lr_max"]))
    # kappa = phi = 0 is the base optimizer: every rate stays lr
    _, constant, _ = run_on_gradients(lambda p, **o: dbd.constant_rate(p, lr=rule["lr"], **o), gradients, start)
    assert all(r == rule["lr"] for row in constant for r in row)
    # a non-finite gradient is refused and leaves weights and rates as they were
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = cls([w], **rule)
    w.grad = torch.tensor(gradients[0], dtype=torch.float64)
    optimizer.step()
    before = (w.detach().clone(), optimizer.learning_rates().clone())
    w.grad = torch.full((d,), bad, dtype=torch.float64)
    refuses(optimizer.step, argument="gradient", shows="NaN or inf")
    assert torch.equal(w.detach(), before[0]) and torch.equal(optimizer.learning_rates(), before[1])


@covers(dbd.DeltaBarDelta, dbd.delta_bar_delta_reference)
@given(bad_reals, st.sampled_from(["lr", "theta", "kappa", "phi"]))
def test_the_rule_and_its_reference_refuse_the_same_bad_numbers(bad, name):
    value, shown = bad
    rule = {"lr": 0.1, "theta": 0.7, "kappa": 0.01, "phi": 0.2}
    w = torch.zeros(2, requires_grad=True)
    refuses(dbd.DeltaBarDelta, [w], **{**rule, name: value}, argument=name, shows=shown)
    refuses(dbd.delta_bar_delta_reference, [[1.0, 2.0]], [0.0, 0.0], **{**rule, name: value}, argument=name, shows=shown)
    out_of_range = {"lr": -0.1, "theta": 1.5, "kappa": -0.01, "phi": 1.0}[name]
    refuses(dbd.delta_bar_delta_reference, [[1.0, 2.0]], [0.0, 0.0], **{**rule, name: out_of_range}, argument=name,
            shows=str(out_of_range))
    refuses(dbd.delta_bar_delta_reference, [[1.0, value]], [0.0, 0.0], **rule, argument="gradients[0][1]", shows=shown)
    refuses(dbd.delta_bar_delta_reference, [], [0.0], **rule, argument="gradients", shows="[]")
    refuses(dbd.delta_bar_delta_reference, [[1.0]], [], **rule, argument="start", shows="[]")
    refuses(dbd.delta_bar_delta_reference, [[1.0, 2.0]], [0.0], **rule, argument="gradients[0]", shows="2")
    refuses(dbd.DeltaBarDelta, [w], clip=(0.0, "high"), argument="clip[1]", shows="'high'")
    refuses(dbd.DeltaBarDelta, [w], betas=(0.9, 1.5), argument="betas[1]", shows="1.5")
    refuses(dbd.DeltaBarDelta, [w], base="newton", argument="base", shows="'newton'")


@covers(dbd.ill_conditioned_quadratic, dbd.rosenbrock, dbd.diagonal_quadratic)
@given(tensors(5, 2), st.floats(1.0, 100.0), bad_tensors(3, 2).filter(lambda bad: bad[0].ndim != 1))  # (2,) is a point
def test_test_problems_are_nonnegative_zero_at_the_minimum_and_refuse_bad_points(w, condition, bad):
    quadratic = dbd.ill_conditioned_quadratic(w, condition)
    assert quadratic.shape == (5,) and bool((quadratic >= 0).all())
    torch.testing.assert_close(quadratic, 0.5 * (w[:, 0] ** 2 + condition * w[:, 1] ** 2))
    assert float(dbd.ill_conditioned_quadratic(torch.zeros(2, dtype=torch.float64), condition)) == 0
    assert bool((dbd.rosenbrock(w) >= 0).all()) and float(dbd.rosenbrock(torch.ones(2, dtype=torch.float64))) == 0
    curvatures = torch.tensor([1.0, condition], dtype=torch.float64)
    torch.testing.assert_close(dbd.diagonal_quadratic(curvatures)(w), quadratic)  # the same function, two ways
    tensor, shown = bad
    for f in (dbd.ill_conditioned_quadratic, dbd.rosenbrock, dbd.diagonal_quadratic(curvatures)):
        refuses(f, tensor, argument="w", shows=shown)
        refuses(f, torch.ones(4, 3, dtype=torch.float64), argument="w", shows="(4, 3)")
    refuses(dbd.ill_conditioned_quadratic, w, -condition, argument="condition", shows=str(-condition))
    refuses(dbd.diagonal_quadratic, -curvatures, argument="curvatures", shows=str(-condition))


@covers(dbd.trajectory, dbd.steps_to_reach)
@given(seeds, st.floats(0.0, 1.0), st.sampled_from(["quadratic", "rosenbrock"]))
def test_trajectories_are_seeded_descend_and_refuse_bad_runs(seed, sigma, problem):
    loss = dbd.diagonal_quadratic(torch.tensor([1.0, 4.0], dtype=torch.float64)) if problem == "quadratic" \
        else dbd.rosenbrock
    run = lambda: dbd.trajectory(loss, lambda p: dbd.DeltaBarDelta(p, lr=1e-3), [-1.0, 1.0], 8,  # noqa: E731
                                 sigma=sigma, seed=seed)
    first, second = run(), run()
    assert torch.equal(first.points, second.points) and torch.equal(first.losses, second.losses)
    assert first.points.shape == (9, 2) and first.losses.shape == (9,) and finite(first.points)
    torch.testing.assert_close(first.losses, loss(first.points))  # losses are f at the recorded points
    if sigma == 0:
        assert float(first.losses[-1]) < float(first.losses[0])
    losses = first.losses.tolist()
    reached = dbd.steps_to_reach(losses, losses[3])
    assert reached is not None and reached <= 3 and losses[reached] <= losses[3]
    assert dbd.steps_to_reach(losses, min(losses) - 1) is None
    sgd = lambda p: torch.optim.SGD(p, lr=1e-3)  # noqa: E731
    refuses(dbd.trajectory, loss, sgd, [0.0, 0.0], MAX_STEPS + 1, argument="steps", shows=str(MAX_STEPS + 1))
    refuses(dbd.trajectory, loss, sgd, [math.nan, 0.0], 3, argument="start[0]", shows="nan")
    refuses(dbd.trajectory, loss, sgd, [], 3, argument="start", shows="[]")
    refuses(dbd.trajectory, loss, sgd, [0.0, 0.0], 3, seed=-1 - seed, argument="seed", shows=str(-1 - seed))
    refuses(dbd.trajectory, loss, sgd, [0.0, 0.0], 3, dtype=torch.int64, argument="dtype", shows="int64")
    if not torch.cuda.is_available():
        refuses(dbd.trajectory, loss, sgd, [0.0, 0.0], 3, device="cuda", argument="device", shows="cuda")
    refuses(dbd.steps_to_reach, losses, math.nan, argument="target", shows="nan")
    refuses(dbd.steps_to_reach, [1.0, math.nan], 0.5, argument="losses[1]", shows="nan")
    refuses(dbd.steps_to_reach, [], 0.5, argument="losses", shows="[]")
    with pytest.raises(ValueError, match="diverged"):
        dbd.trajectory(dbd.rosenbrock, lambda p: dbd.DeltaBarDelta(p, lr=1.0), [-1.0, 1.5], steps=20)


@covers(dbd.noise_stationary_rate)
@given(st.floats(0.0, 0.1), st.floats(0.01, 0.99), bad_reals)
def test_noise_stationary_rate_is_linear_in_kappa_regret_adds_kappa_and_bad_numbers_are_refused(kappa, phi, bad):
    plain = dbd.noise_stationary_rate(kappa, phi)
    assert plain >= 0 and math.isclose(dbd.noise_stationary_rate(2 * kappa, phi), 2 * plain, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(dbd.noise_stationary_rate(kappa, phi, regret=True), plain + kappa, rel_tol=1e-12, abs_tol=1e-15)
    value, shown = bad
    refuses(dbd.noise_stationary_rate, value, phi, argument="kappa", shows=shown)
    refuses(dbd.noise_stationary_rate, kappa, value, argument="phi", shows=shown)
    refuses(dbd.noise_stationary_rate, kappa, 1.0, argument="phi", shows="1.0")
