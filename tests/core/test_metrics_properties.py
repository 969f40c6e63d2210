"""Property tests of the relative error: zero on equal inputs, scale-free, finite even where a norm overflows."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core.metrics import relative_error
from tests.properties import bad_tensors, covers, refuses, tensors


@covers(relative_error)
@given(tensors(4, 3), tensors(4, 3), st.sampled_from([1e-300, 1e-3, 1.0, 1e5, 1e300]), bad_tensors(4, 3))
def test_relative_error_is_the_ratio_of_norms_at_every_scale(exact, noise, scale, bad):
    exact = exact + 4.0  # entries in [1, 7]: never zero
    estimate = exact + noise
    expected = float(torch.linalg.norm(noise) / torch.linalg.norm(exact))
    assert relative_error(exact, exact) == 0.0
    assert abs(relative_error(estimate, exact) - expected) <= 1e-12 * max(1.0, expected)
    # Scale-free, including scales where the plain ||.||^2 over- or underflows float64.
    assert abs(relative_error(scale * estimate, scale * exact) - expected) <= 1e-9 * max(1.0, expected)
    small = (exact * 1e30).float()
    assert abs(relative_error(small * 3, small) - 2.0) < 1e-5  # ||.|| of 1e30-sized float32 entries overflows
    tensor, shown = bad
    refuses(relative_error, tensor, exact, argument="estimate", shows=shown)
    refuses(relative_error, exact, tensor, argument="exact", shows=shown)
    refuses(relative_error, estimate, torch.zeros_like(exact), argument="exact", shows="zero")
    refuses(relative_error, estimate.float(), exact, argument="estimate", shows="float32")
    refuses(relative_error, estimate[:, :2], exact, argument="estimate", shows="(4, 2)")
