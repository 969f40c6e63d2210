"""Property tests of the Taylor features: <phi(u), phi(v)> is the truncated exponential series, both layouts
agree, the count is C(d + g, g), and huge degrees are refused at once instead of looping."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import taylor_features as tf
from tests.attention.prop_helpers import rand, sizes
from tests.properties import bad_integers, bad_tensors, covers, huge_sizes, refuses, seeds

degrees = st.integers(0, 6)


@covers(tf.feature_dimension)
@given(sizes, degrees, bad_integers, huge_sizes)
def test_feature_dimension_counts_multi_indices(dim, degree, bad, huge):
    count = tf.feature_dimension(dim, degree)
    assert count == math.comb(dim + degree, degree)
    assert count == tf.taylor_features(torch.ones(dim, dtype=torch.float64), degree).shape[-1]
    if degree:
        assert count == tf.feature_dimension(dim, degree - 1) + math.comb(dim + degree - 1, degree)
    refuses(tf.feature_dimension, dim, huge, argument="degree", shows=str(huge))  # was a minutes-long comb()
    refuses(tf.feature_dimension, 0, degree, argument="dim", shows="0")
    value, shown = bad
    if value != 0:
        refuses(tf.feature_dimension, dim, value, argument="degree", shows=shown)


@covers(tf.taylor_features, tf.taylor_features_by_row, tf.truncated_exp_kernel)
@given(sizes, sizes, sizes, degrees, seeds, bad_tensors(3, 2), huge_sizes)
def test_feature_inner_products_are_the_truncated_exponential(n1, n2, d, degree, seed, bad, huge):
    u, v = rand(seed, n1, d), rand(seed + 1, n2, d)
    phi_u, phi_v = tf.taylor_features(u, degree), tf.taylor_features(v, degree)
    assert phi_u.shape == (n1, math.comb(d + degree, degree)) and torch.isfinite(phi_u).all()
    kernel = tf.truncated_exp_kernel(u, v, degree)
    torch.testing.assert_close(phi_u @ phi_v.T, kernel, rtol=1e-12, atol=1e-12)
    series = sum((u @ v.T) ** j / math.factorial(j) for j in range(degree + 1))
    torch.testing.assert_close(kernel, series, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tf.taylor_features_by_row(u, degree), phi_u.T)
    torch.testing.assert_close(tf.taylor_features_by_row(u.T.contiguous().T, degree), phi_u.T)  # non-contiguous
    # degree 24 with |<u, v>| <= 1 / 4 is exp to rounding
    small_u, small_v = u / (2 * math.sqrt(d)), v / (2 * math.sqrt(d))
    torch.testing.assert_close(tf.truncated_exp_kernel(small_u, small_v, 24), torch.exp(small_u @ small_v.T))

    tensor, shown = bad
    for function in (tf.taylor_features, tf.taylor_features_by_row):
        if function is tf.taylor_features and tensor.ndim == 1 and "shape" in shown:
            continue  # a single vector is a valid input of taylor_features
        refuses(function, tensor, degree, argument="u", shows=shown)
    refuses(tf.truncated_exp_kernel, u, tensor, degree, argument="v", shows=shown)
    for function in (tf.taylor_features, tf.taylor_features_by_row):
        refuses(function, u, huge, argument="degree", shows=str(huge))
    refuses(tf.truncated_exp_kernel, u, v, huge, argument="degree", shows=str(huge))  # was an endless loop
    refuses(tf.truncated_exp_kernel, u, v.float(), degree, argument="v", shows="float32")
    refuses(tf.truncated_exp_kernel, u, rand(seed, n2, d + 1), degree, argument="v", shows=f"({n2}, {d + 1})")
    refuses(tf.truncated_exp_kernel, 1e5 * u + 1e5, 1e5 * v + 1e5, 64, argument="degree", shows="overflow")
    refuses(tf.taylor_features, torch.ones(1, 64, dtype=torch.float64), 20, argument="features", shows="64")
