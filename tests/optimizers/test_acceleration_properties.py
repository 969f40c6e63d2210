"""Property tests of the acceleration framework: the fast direction equals its matrix form, the geometry's identities
hold for every draw, the optimizer equals torch's and refuses a NaN gradient before any buffer moves."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.optimizers import acceleration as acc
from simple_algebra.optimizers import runs
from tests.properties import bad_integers, bad_reals, bad_tensors, covers, finite, refuses, seeds


@covers(acc.framework_direction, acc.framework_direction_reference, acc.householder, acc.cos_squared)
@given(st.integers(1, 6), seeds, bad_tensors(4))
def test_direction_matches_its_matrix_form_and_the_cos_squared_identities(d, seed, bad):
    draw = torch.Generator().manual_seed(seed)
    g = torch.randn(d, generator=draw, dtype=torch.float64)
    vs = torch.randn(3, d, generator=draw, dtype=torch.float64)
    out, cos2 = acc.framework_direction(g, vs), acc.cos_squared(g, vs)
    assert out.shape == vs.shape and cos2.shape == (3,) and finite(out) and finite(cos2)
    assert bool(((cos2 >= 0) & (cos2 <= 1 + 1e-12)).all())
    for j in range(3):
        torch.testing.assert_close(out[j], acc.framework_direction_reference(g, vs[j]), rtol=1e-12, atol=1e-12)
        H = acc.householder(vs[j])
        torch.testing.assert_close(H @ H, torch.eye(d, dtype=torch.float64), rtol=0, atol=1e-12)  # an involution
    # descent relative to SGD: 1 + 2 cos^2 for a stretch (<v, g> >= 0), 1 - 2 cos^2 for a reflection
    sign = torch.where(vs @ g < 0, -1.0, 1.0).double()
    torch.testing.assert_close(out @ g / (g @ g), 1 + 2 * sign * cos2, rtol=1e-10, atol=1e-12)
    refuses(acc.cos_squared, torch.zeros(d, dtype=torch.float64), vs, argument="gradient", shows="0.0")
    refuses(acc.framework_direction, g, torch.zeros(2, d, dtype=torch.float64), argument="v", shows="2 zero")
    refuses(acc.householder, torch.zeros(d, dtype=torch.float64), argument="v", shows="0.0")
    refuses(acc.framework_direction, g.float(), vs, argument="v", shows="float32")
    tensor, shown = bad
    refuses(acc.framework_direction, tensor, torch.ones(4, dtype=torch.float64), argument="gradient", shows=shown)
    refuses(acc.cos_squared, torch.ones(4, dtype=torch.float64), tensor, argument="v", shows=shown)


@covers(acc.householder, acc.framework_direction_reference)
@given(st.sampled_from([10**6, 2 * 10**6]))
def test_householder_refuses_a_terabyte_matrix(size):
    v = torch.ones(size, dtype=torch.float64)  # 8 MB: only the d x d matrix (8 TB) is too big
    refuses(acc.householder, v, argument=f"d = {size}", shows="GiB")
    refuses(acc.framework_direction_reference, v, v, argument=f"d = {size}", shows="GiB")


@covers(acc.acceleration_split, acc.random_vector_gain)
@given(st.integers(1, 6), seeds, st.floats(-3, 3))
def test_split_recovers_the_paper_gain_and_rva_gain_is_two_over_d(d, seed, scale):
    draw = torch.Generator().manual_seed(seed)
    g = torch.randn(d, generator=draw, dtype=torch.float64)
    v = torch.randn(d, generator=draw, dtype=torch.float64)
    direction = acc.framework_direction(g, v)
    term, gain, cos2 = acc.acceleration_split(direction, g)
    assert finite(term) and math.isfinite(gain) and 0 <= cos2 <= 1 + 1e-12
    sign = 1.0 if float(v @ g) >= 0 else -1.0  # +2 cos^2 for a stretch, -2 cos^2 for a reflection
    assert gain == pytest.approx(sign * 2 * float(acc.cos_squared(g, v)), rel=1e-9, abs=1e-12)
    _, scaled_gain, _ = acc.acceleration_split(g + scale * g, g)  # a term along g: gain = scale, cos^2 = 1
    assert scaled_gain == pytest.approx(scale, abs=1e-12)
    assert acc.random_vector_gain(d) == pytest.approx(2 / d)
    refuses(acc.acceleration_split, direction, torch.zeros(d, dtype=torch.float64), argument="plain", shows="0.0")
    refuses(acc.acceleration_split, direction.float(), g, argument="plain", shows="float64")
    refuses(acc.acceleration_split, direction[None], g, argument="direction", shows=f"(1, {d})")
    for bad, shown in ((0, "0"), (-d, str(-d)), (2.5, "2.5"), (True, "True")):
        refuses(acc.random_vector_gain, bad, argument="dimension", shows=shown)


@covers(acc.bound_factor, acc.bound_estimates, acc.bound_factor_curve)
@given(st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=30), st.integers(1, 60), bad_reals)
def test_bound_estimates_agree_with_the_factor_and_the_curve_ends_there(gains, points, bad):
    log = {"gain": gains, "stretch": [2 * abs(g) for g in gains]}
    estimates = acc.bound_estimates(log)
    assert estimates["T"] == len(gains) and estimates["k"] + estimates["l"] <= len(gains)
    assert estimates["factor"] == acc.bound_factor(estimates["T"], estimates["k"], estimates["l"], estimates["u_a"],
                                                   estimates["u_b"], estimates["B"])
    assert acc.bound_factor(len(gains), 0, 0, 0.0, 0.0, 0.0) == pytest.approx(1 / math.sqrt(len(gains)))
    times, ratios = acc.bound_factor_curve(log, points)
    assert times == sorted(set(times)) and times[-1] == len(gains) and len(times) <= points
    assert ratios[-1] == pytest.approx(estimates["factor"] * math.sqrt(len(gains)))
    value, shown = bad
    refuses(acc.bound_factor, 10, 1, 1, value, 0.0, 0.0, argument="u_a", shows=shown)
    refuses(acc.bound_factor, 10, 11, 0, 0.0, 0.0, 0.0, argument="accelerating", shows="11")
    refuses(acc.bound_estimates, {"gain": gains}, argument="stretch")
    refuses(acc.bound_estimates, {"gain": gains + [0.1], "stretch": log["stretch"]}, argument="log['stretch']",
            shows=str(len(gains)))
    refuses(acc.bound_estimates, {"gain": [math.nan] + gains, "stretch": [0.0] + log["stretch"]},
            argument="log['gain']", shows="NaN")
    refuses(acc.bound_estimates, [1, 2], argument="log", shows="list")
    refuses(acc.bound_factor_curve, log, 10**12, argument="points", shows=str(10**12))


def _quadratic_steps(optimizer, w, steps=5):
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * (torch.arange(1, len(w) + 1, dtype=torch.float64) * w**2).sum()).backward()
        optimizer.step()
    return w.detach().clone()


@covers(acc.Accelerated)
@given(st.sampled_from(acc.WRITINGS), st.sampled_from(acc.RULES), seeds, st.floats(1e-3, 0.1),
       st.sampled_from([math.nan, math.inf, -math.inf]), bad_integers.filter(lambda b: b[0] != 0))
def test_accelerated_matches_torch_is_seeded_and_refuses_bad_gradients(base, rule, seed, lr, bad, bad_seed):
    start = torch.linspace(-1, 1, 4, dtype=torch.float64)
    runs = []
    for _ in range(2):
        w = start.clone().requires_grad_(True)
        optimizer = acc.Accelerated([w], base=base, rule=rule, lr=lr, seed=seed)
        runs.append((_quadratic_steps(optimizer, w), optimizer.log))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]  # same seed, same numbers
    assert finite(runs[0][0]) and runs[0][1]["steps"] == 5
    if rule == "none":
        w = start.clone().requires_grad_(True)
        reference = {"sgd": lambda p: torch.optim.SGD(p, lr=lr), "momentum": lambda p: torch.optim.SGD(p, lr=lr,
                     momentum=0.9), "adam": lambda p: torch.optim.Adam(p, lr=lr),
                     "average": lambda p: torch.optim.SGD(p, lr=lr * (1 - 0.9), momentum=0.9)}[base]([w])
        torch.testing.assert_close(runs[0][0], _quadratic_steps(reference, w), rtol=1e-12, atol=1e-14)
    if rule == "ra":
        assert runs[0][1]["decelerating"] == 0
    # A non-finite gradient: refused, and the weights and buffers are left exactly as they were.
    w = start.clone().requires_grad_(True)
    optimizer = acc.Accelerated([w], base=base, rule=rule, lr=lr, seed=seed)
    _quadratic_steps(optimizer, w, 2)
    before = (w.detach().clone(), {k: v.clone() for k, v in optimizer.state[w].items()})
    w.grad = torch.ones_like(w)
    w.grad[1] = bad
    refuses(optimizer.step, argument="gradient", shows="NaN or inf")
    assert torch.equal(w.detach(), before[0])
    assert all(torch.equal(optimizer.state[w][k], v) for k, v in before[1].items())
    value, shown = bad_seed
    refuses(acc.Accelerated, [w], seed=value, argument="seed", shows=shown)
    refuses(acc.Accelerated, [w], lr=-lr, argument="lr", shows=str(-lr))
    refuses(acc.Accelerated, [w], base="lbfgs", argument="base", shows="'lbfgs'")
    refuses(acc.Accelerated, [w], betas=None, argument="betas", shows="None")


def _tiny(seed, rows=40):
    draw = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 5, generator=draw, dtype=torch.float64)
    return runs.mlp(inputs=5, hidden=3, outputs=3, seed=seed % 1000), x, torch.randint(3, (rows,), generator=draw)


@covers(acc.flip_probability)
@given(seeds, st.integers(1, 40), bad_tensors(4))
def test_flip_probability_is_a_probability_odd_in_the_direction_and_refuses_bad_input(seed, batch, bad):
    model, x, y = _tiny(seed)
    d = sum(w.numel() for w in model.parameters())
    direction = torch.randn(d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    p, q = acc.flip_probability(model, x, y, direction, batch), acc.flip_probability(model, x, y, -direction, batch)
    assert 0 <= p <= 1 and math.isfinite(p)
    assert abs(p + q - 1) < 1e-12  # the batch mean along -direction is minus the one along direction
    if batch == len(x):  # the whole pool: no randomness, the sign of the full-data inner product
        assert p in (0.0, 1.0)
    refuses(acc.flip_probability, model, x, y, direction[:-1], batch, argument="direction", shows=str(d))
    refuses(acc.flip_probability, model, x, y, direction, len(x) + 1, argument="batch_size", shows=str(len(x) + 1))
    refuses(acc.flip_probability, model, x, y.double(), direction, batch, argument="y")
    refuses(acc.flip_probability, model, x.float(), y, direction, batch, argument="x", shows="float32")
    tensor, shown = bad
    refuses(acc.flip_probability, model, x, y, tensor, batch, argument="direction", shows=shown)


@covers(acc.deceleration_forecast)
@given(seeds, st.sampled_from(["none", "ra"]), st.integers(1, 12), bad_integers.filter(lambda b: b[0] != 0))
def test_forecast_probabilities_labels_and_refusals(seed, rule, steps, bad_seed):
    data = runs.digits(seed=seed % 7)
    found = acc.deceleration_forecast(runs.mlp(hidden=2, seed=seed % 7), data, 0.05, 50 * steps, 50, seed=seed,
                                      rule=rule)
    p = found["probability"]
    assert len(p) == len(found["decelerating"]) == found["log"]["steps"] == steps
    assert p[0] == 0.0 and not found["decelerating"][0]  # no buffer yet: the first step cannot decelerate
    assert all(0 <= value <= 1 for value in p)
    key = "rejected" if rule == "ra" else "decelerating"
    assert sum(found["decelerating"]) == found["log"][key]
    model = runs.mlp(hidden=2)
    refuses(acc.deceleration_forecast, model, "digits", 0.05, 100, 50, argument="data", shows="str")
    refuses(acc.deceleration_forecast, model, data, 0.05, 100, 50, rule="rva", argument="rule", shows="'rva'")
    refuses(acc.deceleration_forecast, model, data, 0.05, 10, 50, argument="budget", shows="10")
    value, shown = bad_seed
    refuses(acc.deceleration_forecast, model, data, 0.05, 100, 50, seed=value, argument="seed", shows=shown)
