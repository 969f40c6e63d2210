"""The unified acceleration framework: identities, base optimizers equal torch's, RA and RVA, the bound's factor."""

import math

import pytest
import torch

from simple_algebra.core.runtime import generator, one_thread
from simple_algebra.optimizers import acceleration as acc
from simple_algebra.optimizers import runs


def random_pair(seed, d=7):
    draw = generator(seed)
    return torch.randn(d, generator=draw, dtype=torch.float64), torch.randn(d, generator=draw, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_matrix_reference_and_geometry(seed):
    g, v = random_pair(seed)
    for w in (v, -v):  # one reflection, one stretch
        out = acc.framework_direction(g, w)
        assert torch.allclose(out, acc.framework_direction_reference(g, w), atol=1e-12, rtol=0)
        cos2 = float(acc.cos_squared(g, w))
        if float(w @ g) < 0:
            assert abs(float(out.norm() - g.norm())) < 1e-12
            assert abs(float(out @ g) - float(g @ g) * (1 - 2 * cos2)) < 1e-12
        else:
            assert abs(float(out @ out) - float(g @ g) * (1 + 8 * cos2)) < 1e-12
            assert abs(float(out @ g) - float(g @ g) * (1 + 2 * cos2)) < 1e-12
        _, gain, split_cos2 = acc.acceleration_split(out, g)
        assert abs(gain - math.copysign(2 * cos2, float(w @ g))) < 1e-12
        assert abs(split_cos2 - cos2) < 1e-12


def test_householder_is_an_orthogonal_involution_and_batches_work():
    g, v = random_pair(0, d=5)
    h = acc.householder(v)
    assert torch.allclose(h @ h, torch.eye(5, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(h, h.T, atol=0)
    assert torch.allclose(h @ v, -v, atol=1e-12)
    many = torch.randn(4, 5, generator=generator(1), dtype=torch.float64)
    rows = torch.stack([acc.framework_direction(g, row) for row in many])
    assert torch.allclose(acc.framework_direction(g, many), rows, atol=1e-14)


def test_random_vectors_gain_order_one_over_dimension():
    d = 50
    g = torch.randn(d, generator=generator(0), dtype=torch.float64)
    cos2 = acc.cos_squared(g, torch.randn(20000, d, generator=generator(1), dtype=torch.float64))
    assert abs(float(cos2.mean()) * d - 1) < 0.05
    assert acc.random_vector_gain(d) == 2 / d


def problem(seed=0):
    draw = generator(100)  # random labels: minibatch gradients disagree, so some momentum steps decelerate
    x = torch.randn(64, 10, generator=draw, dtype=torch.float64)
    return runs.mlp(inputs=10, hidden=8, outputs=3, seed=seed), x, torch.randint(3, (64,), generator=draw)


def trajectory(make, steps=15, seed=0):
    model, x, y = problem(seed)
    optimizer = make(model.parameters())
    with one_thread():
        _steps(model, x, y, optimizer, steps)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), optimizer


def _steps(model, x, y, optimizer, steps):
    for step in range(steps):
        batch = slice(16 * (step % 4), 16 * (step % 4 + 1))

        def closure():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            return loss

        optimizer.step(closure)


@pytest.mark.parametrize("base, reference", [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01)),
])
def test_base_rules_equal_torch_step_for_step(base, reference):
    lr = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01}[base]
    ours, _ = trajectory(lambda p: acc.Accelerated(p, base=base, lr=lr))
    theirs, _ = trajectory(reference)
    assert torch.allclose(ours, theirs, atol=1e-12, rtol=0)


def test_average_form_moves_like_the_sum_form_but_labels_differently():
    beta = 0.9
    total, summed = trajectory(lambda p: acc.Accelerated(p, base="momentum", lr=0.05, momentum=beta))
    average, averaged = trajectory(lambda p: acc.Accelerated(p, base="average", lr=0.05 / (1 - beta), momentum=beta))
    assert torch.allclose(total, average, atol=1e-12, rtol=0)
    assert averaged.log["decelerating"] > summed.log["decelerating"]
    # the sum form decelerates when <b_prev, g> < 0, the average form when (1 - beta) <b_prev, g> < ||g||^2; the
    # first step already has a = m_1 - g = -beta g
    assert averaged.log["gain"][0] == pytest.approx(-beta) and summed.log["gain"][0] == 0


def _per_row_gradients(model, x, y):
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


@pytest.mark.parametrize("seed", range(4))
def test_flip_probability_matches_a_monte_carlo_of_batches(seed):
    model, x, y = problem(seed)
    direction = torch.randn(sum(p.numel() for p in model.parameters()), generator=generator(seed), dtype=torch.float64)
    c = _per_row_gradients(model, x, y) @ direction  # backward, row by row: independent of the forward-mode pass
    draw = generator(seed + 10)
    batches = torch.rand(40000, len(x), generator=draw, dtype=torch.float64).argsort(dim=1)[:, :16]
    monte_carlo = float((c[batches].mean(dim=1) < 0).double().mean())
    p = acc.flip_probability(model, x, y, direction, 16, draws=8192)
    assert 0.05 < monte_carlo < 0.95  # a probability that is not trivially 0 or 1 (these seeds: 0.47 to 0.78)
    assert abs(p - monte_carlo) < 0.03  # two Monte Carlo estimates, 8192 and 40000 draws: 5 standard errors
    assert acc.flip_probability(model, x, y, direction, 16, draws=8192, seed=1) != p  # a second seed, a new estimate


def test_forecast_trains_exactly_like_runs_train_and_predicts_the_count():
    data = runs.digits(seed=0)
    n = len(data.y_train)
    reference = runs.train(runs.mlp(hidden=8, seed=3), lambda p: acc.Accelerated(p, base="momentum", lr=0.05), data,
                           3 * n, 32, n, seed=3)
    found = acc.deceleration_forecast(runs.mlp(hidden=8, seed=3), data, 0.05, 3 * n, 32, seed=3)
    assert found["log"]["gain"] == reference.log["gain"]  # the same batches, weights and buffers, step for step
    assert found["decelerating"] == [g < 0 for g in reference.log["gain"]]
    count, forecast, variance = 0.0, 0.0, 0.0
    for seed in range(4):
        found = acc.deceleration_forecast(runs.mlp(hidden=8, seed=seed), data, 0.05, 3 * n, 32, seed=seed)
        p = torch.tensor(found["probability"], dtype=torch.float64)
        count, forecast, variance = count + sum(found["decelerating"]), forecast + float(p.sum()), \
            variance + float((p * (1 - p)).sum())
    assert variance > 10  # an informative forecast, not a run of zeros
    assert abs(count - forecast) < 3 * variance**0.5, (count, forecast, variance)


def test_reject_accelerating_takes_no_decelerating_step():
    for base in acc.BASES:
        _, optimizer = trajectory(lambda p: acc.Accelerated(p, base=base, rule="ra", lr=0.05))
        assert optimizer.log["decelerating"] == 0 and optimizer.log["steps"] == 15
        if base != "sgd":
            assert optimizer.log["rejected"] > 0
    plain, _ = trajectory(lambda p: acc.Accelerated(p, base="sgd", lr=0.1))
    rejecting, _ = trajectory(lambda p: acc.Accelerated(p, base="sgd", rule="ra", lr=0.1))
    assert torch.equal(plain, rejecting)  # SGD has no acceleration term to reject


def test_random_vector_accelerating_is_seeded_and_accelerates():
    first, optimizer = trajectory(lambda p: acc.Accelerated(p, base="sgd", rule="rva", lr=0.1, seed=3))
    again, _ = trajectory(lambda p: acc.Accelerated(p, base="sgd", rule="rva", lr=0.1, seed=3))
    other, _ = trajectory(lambda p: acc.Accelerated(p, base="sgd", rule="rva", lr=0.1, seed=4))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert optimizer.log["accelerating"] == optimizer.log["steps"] == 15
    assert all(abs(gain - 2 * c) < 1e-12 for gain, c in zip(optimizer.log["gain"], optimizer.log["cos_squared"]))


def test_bound_factor_and_estimates():
    assert acc.bound_factor(100, 0, 0, 0.0, 0.0, 0.0) == pytest.approx(0.1)
    assert acc.bound_factor(10, 0, 10, 0.0, 0.6, 0.0) == math.inf
    assert acc.bound_factor(100, 50, 0, 0.5, 0.0, 0.0) < 0.1  # acceleration without cost in B helps
    log = {"gain": [0.2, -0.4, 0.0, 0.6], "stretch": [0.8, 0.0, 0.0, 1.6]}
    estimates = acc.bound_estimates(log)
    assert (estimates["k"], estimates["l"]) == (2, 1)
    assert estimates["u_a"] == pytest.approx(0.2) and estimates["u_b"] == pytest.approx(0.2)
    assert estimates["B"] == pytest.approx(0.15)
    assert estimates["factor"] == pytest.approx(math.sqrt(4 + 8 * 2 * 0.15) / (4 + 0.8 - 0.4))
    times, ratios = acc.bound_factor_curve(log, points=4)
    assert times == [1, 2, 3, 4] and ratios[-1] == pytest.approx(estimates["factor"] * 2)


def test_bad_input_is_refused():
    g, v = random_pair(0)
    params = [torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError):
        acc.framework_direction(g, torch.zeros_like(v))
    with pytest.raises(ValueError):
        acc.framework_direction(g, v[:3])
    with pytest.raises(ValueError):
        acc.acceleration_split(g, torch.zeros_like(g))
    with pytest.raises(ValueError):
        acc.Accelerated(params, base="rmsprop")
    with pytest.raises(ValueError):
        acc.Accelerated(params, rule="fast")
    with pytest.raises(ValueError):
        acc.Accelerated(params, lr=-1.0)
    with pytest.raises(ValueError):
        acc.bound_factor(10, 11, 0, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError):
        acc.bound_estimates({"gain": [], "stretch": []})
    optimizer = acc.Accelerated(params, base="adam")
    params[0].grad = torch.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(ValueError):
        optimizer.step()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    model = torch.nn.Linear(4, 2).cuda()
    optimizer = acc.Accelerated(model.parameters(), base="adam", rule="rva", lr=0.01)
    model(torch.ones(3, 4, device="cuda")).sum().backward()
    optimizer.step()
    assert optimizer.log["steps"] == 1
