"""Property tests of the conv matrices: FFT products equal the dense conv matrices; bad input is refused by name."""


import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import conv_matrices as cm
from tests.attention.prop_helpers import rand
from tests.properties import bad_tensors, covers, refuses, seeds


@st.composite
def bases(draw):
    """A conv basis ``b (k, n)`` with strictly decreasing sizes ``n >= m_1 > ... > m_k >= 1``."""
    n = draw(st.integers(1, 8))
    sizes = sorted(draw(st.sets(st.integers(1, n), min_size=1, max_size=min(n, 3))), reverse=True)
    return rand(draw(seeds), len(sizes), n), sizes


@covers(cm.conv_matrix, cm.conv_basis_matrix, cm.conv_basis_matmul, cm.conv_basis_matmul_reference)
@given(bases(), seeds, st.integers(1, 3), bad_tensors(6, 2))
def test_fft_products_equal_the_dense_conv_matrices(basis, seed, e, bad):
    b, sizes = basis
    n = b.shape[1]
    V = rand(seed, n, e)
    dense = cm.conv_basis_matrix(b, sizes)
    for row, size in zip(b, sizes):
        single = cm.conv_matrix(row, size)
        for i in range(n):
            for j in range(n):
                expected = float(row[i - j]) if (i >= j and j >= n - size) else 0.0
                assert float(single[i, j]) == expected
    torch.testing.assert_close(dense, sum(cm.conv_matrix(row, size) for row, size in zip(b, sizes)))
    fast = cm.conv_basis_matmul(b, sizes, V)
    torch.testing.assert_close(fast, cm.conv_basis_matmul_reference(b, sizes, V), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fast, dense @ V, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cm.conv_basis_matmul(b, sizes, V.T.contiguous().T, chunk=1), fast)  # strided V

    tensor, shown = bad
    if "shape" not in shown or tensor.numel() == 0:  # a 1-D b is a valid single basis vector
        refuses(cm.conv_basis_matmul, tensor, [2], V, argument="b", shows=shown)
    refuses(cm.conv_basis_matmul, b, sizes, tensor, argument="V", shows=shown)
    refuses(cm.conv_basis_matmul_reference, b, sizes, rand(seed, n + 1, e), argument="V", shows=f"({n + 1}, {e})")
    refuses(cm.conv_basis_matmul_reference, b, sizes, V.float(), argument="V", shows="float32")
    refuses(cm.conv_basis_matrix, b, [n + 1] * len(sizes), argument="m", shows=str(n + 1))
    refuses(cm.conv_basis_matrix, b, None, argument="m", shows="None")
    refuses(cm.conv_basis_matrix, b, sizes + [1], argument="m", shows=str(len(sizes) + 1))
    refuses(cm.conv_matrix, b[0], 0, argument="m", shows="0")
    refuses(cm.conv_basis_matmul, b, sizes, V, chunk=0, argument="chunk", shows="0")
