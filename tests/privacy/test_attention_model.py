"""The attention model of the leakage chapter: closed-form shared gradients against autograd and finite differences."""

import pytest
import torch

import simple_algebra as sa
from simple_algebra.privacy import attention_model as am
from simple_algebra.privacy import defences
from simple_algebra.privacy import gradient_leakage as gl


@pytest.fixture(autouse=True)
def single_thread():
    # Tiny tensors: a second torch thread only spin-waits (see sa.one_thread).
    with sa.one_thread():
        yield


def test_closed_form_gradients_match_autograd():
    instance = gl.random_instance(5, 3, seed=1)
    fast = am.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    reference = am.shared_gradients_reference(instance.X, instance.W, instance.V, instance.Y)
    for a, b in zip(fast, reference):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_batched_gradients_are_per_sequence():
    task = defences.teacher_task(3, 4, 2, seed=0)
    W = 0.3 * torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    V = 0.3 * torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batched = am.shared_gradients(task.X, W, V, task.Y)
    for i in range(3):
        single = am.shared_gradients_reference(task.X[i], W, V, task.Y[i])
        assert torch.allclose(batched[0][i], single[0], atol=1e-12)
        assert torch.allclose(batched[1][i], single[1], atol=1e-12)


def test_gradient_matches_finite_differences():
    instance = gl.random_instance(3, 2, seed=4)
    grad_W, _ = am.shared_gradients(instance.X, instance.W, instance.V, instance.Y)
    step = 1e-6
    for i in range(2):
        for j in range(2):
            bump = torch.zeros_like(instance.W)
            bump[i, j] = step
            up = am.attention_loss(instance.X, instance.W + bump, instance.V, instance.Y)
            down = am.attention_loss(instance.X, instance.W - bump, instance.V, instance.Y)
            assert abs(float((up - down) / (2 * step)) - float(grad_W[i, j])) < 1e-7


@pytest.mark.parametrize("call", [
    lambda: am.attention_loss(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64),
                              torch.ones(3, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)),
    lambda: am.shared_gradients(torch.full((2, 3), float("nan")), torch.ones(3, 3), torch.ones(3, 3), torch.ones(2, 3)),
    lambda: am.shared_gradients_reference(torch.ones(1, 2, 3), torch.ones(3, 3), torch.ones(3, 3), torch.ones(1, 2, 3)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
