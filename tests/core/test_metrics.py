"""The shared relative error: its value, and clear errors instead of NaN."""

import pytest
import torch

from simple_algebra.core.metrics import relative_error


def test_relative_error_is_the_relative_frobenius_norm():
    exact = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    assert relative_error(exact, exact) == 0.0
    assert relative_error(exact + torch.tensor([[0.0, 1.0], [0.0, 0.0]]), exact) == pytest.approx(1 / 5)


@pytest.mark.parametrize("estimate, exact, message", [
    (torch.ones(2), torch.ones(3), "same shape"),
    (torch.ones(2), torch.zeros(2), "zero"),
    (torch.tensor([float("nan"), 1.0]), torch.ones(2), "finite"),
])
def test_bad_input_raises_value_error(estimate, exact, message):
    with pytest.raises(ValueError, match=message):
        relative_error(estimate, exact)
