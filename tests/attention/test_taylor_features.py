"""Taylor features: their inner product is the truncated exponential series, exactly."""

import math

import pytest
import torch

from simple_algebra.attention.taylor_features import (
    feature_dimension,
    taylor_features,
    taylor_features_by_row,
    truncated_exp_kernel,
)


def _points(n, d, seed):
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dim,degree", [(1, 0), (1, 5), (3, 1), (4, 4), (5, 6)])
def test_inner_product_is_the_truncated_exponential(dim, degree):
    u, v = _points(6, dim, 0), _points(7, dim, 1)
    gram = taylor_features(u, degree) @ taylor_features(v, degree).T
    torch.testing.assert_close(gram, truncated_exp_kernel(u, v, degree), rtol=0, atol=1e-12)


def test_approaches_the_exponential_as_the_degree_grows():
    u, v = 0.5 * _points(5, 3, 2), 0.5 * _points(5, 3, 3)
    errors = [(taylor_features(u, g) @ taylor_features(v, g).T - torch.exp(u @ v.T)).abs().max().item()
              for g in range(0, 12, 2)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] < 1e-8


@pytest.mark.parametrize("dim,degree", [(1, 3), (4, 2), (7, 3), (64, 2)])
def test_feature_dimension(dim, degree):
    assert feature_dimension(dim, degree) == math.comb(dim + degree, degree)
    assert taylor_features(_points(2, dim, 0), degree).shape == (2, math.comb(dim + degree, degree))


def test_batch_axes_dtype_and_first_entries():
    u = _points(6, 3, 4).to(torch.float32).reshape(2, 3, 3)
    features = taylor_features(u, 2)
    assert features.shape == (2, 3, 10) and features.dtype == torch.float32
    torch.testing.assert_close(features[..., 0], torch.ones(2, 3))
    torch.testing.assert_close(features[..., 1:4], u)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        taylor_features(torch.tensor([[float("nan"), 1.0]]), 2)
    with pytest.raises(ValueError):
        taylor_features(_points(2, 3, 0), -1)
    with pytest.raises(ValueError):
        taylor_features(torch.ones(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError):
        taylor_features(_points(1, 512, 0), 6)
    with pytest.raises(ValueError):
        truncated_exp_kernel(_points(2, 3, 0), _points(2, 4, 0), 2)
    with pytest.raises(ValueError):
        feature_dimension(0, 2)


def test_by_row_layout_is_the_transpose():
    u = torch.randn(37, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for degree in (0, 1, 4):
        torch.testing.assert_close(taylor_features_by_row(u, degree).T, taylor_features(u, degree), rtol=0, atol=1e-14)
    with pytest.raises(ValueError):
        taylor_features_by_row(u[0], 2)
