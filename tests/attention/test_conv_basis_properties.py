"""Property tests of conv-basis attention: FFT products equal the dense matrices, the decomposition rebuilds
its matrix, the telescoped exp basis is M o exp(H), and attention from Q, K equals exact causal attention."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import conv_basis as cb
from simple_algebra.attention import conv_matrices as cm
from simple_algebra.attention import rope
from simple_algebra.attention.exact import exact_attention
from tests.attention.prop_helpers import rand
from tests.properties import bad_reals, bad_tensors, covers, huge_sizes, refuses, seeds


@st.composite
def bases(draw):
    """A conv basis ``b (k, n)`` with strictly decreasing sizes ``n >= m_1 > ... > m_k >= 1``."""
    n = draw(st.integers(1, 8))
    sizes = sorted(draw(st.sets(st.integers(1, n), min_size=1, max_size=min(n, 3))), reverse=True)
    return rand(draw(seeds), len(sizes), n), sizes


@covers(cm.conv_decomposition, cm.telescoped_exp_basis, cb.conv_basis_attention_from_basis,
        cb.conv_basis_attention_reference)
@given(bases(), seeds, bad_reals, bad_tensors(4, 4))
def test_decomposition_rebuilds_and_exp_basis_telescopes(basis, seed, bad_number, bad):
    b, sizes = basis
    n = b.shape[1]
    H = cm.conv_basis_matrix(b, sizes)
    found, found_sizes = cm.conv_decomposition(H)
    assert len(found_sizes) <= len(sizes) + 1 and found_sizes[0] == n
    torch.testing.assert_close(cm.conv_basis_matrix(found, found_sizes), H, rtol=0, atol=1e-12)
    a, exp_sizes, shift = cm.telescoped_exp_basis(b, sizes)
    mask = torch.ones(n, n, dtype=torch.float64).tril()
    torch.testing.assert_close(cm.conv_basis_matrix(a, exp_sizes), mask * torch.exp(H - shift), rtol=1e-12,
                               atol=1e-12)
    V = rand(seed, n, 2)
    out = cb.conv_basis_attention_from_basis(b, sizes, V)
    torch.testing.assert_close(out, cb.conv_basis_attention_reference(b, sizes, V), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out, exact_attention(H, torch.eye(n, dtype=torch.float64), V, causal=True))

    value, shown = bad_number
    refuses(cm.conv_decomposition, H, tolerance=value, argument="tolerance", shows=shown)
    if value is not None:  # None is the default shift (the largest score)
        refuses(cm.telescoped_exp_basis, b, sizes, shift=value, argument="shift", shows=shown)
    refuses(cm.telescoped_exp_basis, b, sizes, shift=torch.ones(2, dtype=torch.float64), argument="shift",
            shows="(2,)")
    refuses(cm.conv_decomposition, torch.ones(3, 3, dtype=torch.float64), argument="H", shows="lower-triangular")
    refuses(cm.conv_decomposition, torch.ones(3, 2, dtype=torch.float64), argument="H", shows="(3, 2)")
    tensor, shown = bad
    refuses(cm.conv_decomposition, tensor, argument="H", shows=shown)
    refuses(cb.conv_basis_attention_reference, b, sizes, rand(seed, n + 1, 2), argument="V", shows=f"({n + 1}, 2)")
    refuses(cb.conv_basis_attention_from_basis, b, sizes, V.float(), argument="V", shows="float32")
    if len(sizes) > 1:
        refuses(cm.telescoped_exp_basis, b, sizes[::-1], argument="sizes", shows=str(sizes[::-1]))


@covers(cb.find_break_points, cb.score_basis, cb.score_column, cb.conv_basis_attention, cb.default_tolerance)
@given(st.integers(2, 12), st.sampled_from([2, 4]), st.integers(1, 4), seeds, bad_tensors(6, 4), huge_sizes)
def test_attention_from_queries_and_keys_is_exact_causal_attention(n, d, k_true, seed, bad, huge):
    k_true = min(k_true, n)
    Q, K, V, points = rope.rope_inputs(n, d, k_true, seed=seed)
    scores = Q @ K.T
    for j in range(n):
        torch.testing.assert_close(cb.score_column(Q, K, j, scale=0.5), 0.5 * scores[j:, j])
    found = cb.find_break_points(Q, K, k_true)
    assert found[0] == 0 and set(found) <= set(points)  # RoPE inputs: every break changes the diagonal
    b, sizes = cb.score_basis(Q, K, points)
    torch.testing.assert_close(cm.conv_basis_matrix(b, sizes), scores.tril(), rtol=1e-10, atol=1e-10)
    out = cb.conv_basis_attention(Q, K, V, k_true)
    torch.testing.assert_close(out, exact_attention(Q, K, V, causal=True), rtol=1e-9, atol=1e-9)
    assert cb.default_tolerance(torch.float64) == 1000 * torch.finfo(torch.float64).eps
    assert cb.default_tolerance(torch.float32) > cb.default_tolerance(torch.float64)

    refuses(cb.find_break_points, Q, K, huge, argument="k", shows=str(huge))
    refuses(cb.conv_basis_attention, Q, K, V, 0, argument="k", shows="0")
    refuses(cb.conv_basis_attention, Q, K, V, 1, fft_dtype=torch.int64, argument="fft_dtype", shows="int64")
    refuses(cb.conv_basis_attention, Q, K.float(), V, 1, argument="K", shows="float32")
    refuses(cb.score_column, Q, K, n, argument="j", shows=str(n))
    refuses(cb.score_column, Q, K, -1, argument="j", shows="-1")
    refuses(cb.score_column, Q, K, 0, scale=math.nan, argument="scale", shows="nan")
    refuses(cb.score_basis, Q, K, [0, n], argument="break point", shows=str(n))
    refuses(cb.score_basis, Q, K, "01", argument="break_points", shows="'01'")
    refuses(cb.default_tolerance, torch.int64, argument="dtype", shows="int64")
    tensor, shown = bad
    good = rand(seed, 6, 4)
    refuses(cb.conv_basis_attention, tensor, good, good, 1, argument="Q", shows=shown)
    refuses(cb.find_break_points, good, tensor, 1, argument="K", shows=shown)
