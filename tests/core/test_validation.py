import math

import pytest
import torch

from simple_algebra.core.validation import check_finite_tensor, check_int, check_real


def test_check_int_accepts_and_rejects():
    assert check_int("width", 5, 1, 10) == 5
    for bad in (0, 11, 2.0, "3", True, None):
        with pytest.raises(ValueError, match="width"):
            check_int("width", bad, 1, 10)


def test_check_real_bounds_and_finiteness():
    assert check_real("b", 2, low=1.0, low_inclusive=False) == 2.0
    for bad in (1.0, math.nan, math.inf, "2", 20.0):
        with pytest.raises(ValueError, match="b"):
            check_real("b", bad, low=1.0, high=10.0, low_inclusive=False)


def test_check_finite_tensor():
    tensor = torch.ones(2, 3)
    assert check_finite_tensor("x", tensor, ndim=2) is tensor
    for bad, message in [(torch.tensor([1.0, math.nan]), "finite"), (torch.tensor([math.inf]), "finite"),
                         (torch.ones(2, dtype=torch.long), "floating"), ([1.0], "torch.Tensor"),
                         (torch.ones(3), "dimensions"), (torch.ones(0, 2), "empty")]:
        with pytest.raises(ValueError, match=message):
            check_finite_tensor("x", bad, ndim=2 if message == "dimensions" else None)
