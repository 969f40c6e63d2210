"""Conv matrices: the definition, FFT products against dense ones, the exact decomposition, the telescoping identity."""

import pytest
import torch

from simple_algebra.attention import conv_matrices as cm
from simple_algebra.attention.exact import causal_mask
from simple_algebra.core.metrics import relative_error


def draw(seed=0):
    return torch.Generator().manual_seed(seed)


def random_basis(n=48, sizes=(48, 31, 12, 3), seed=0):
    return torch.randn(len(sizes), n, generator=draw(seed), dtype=torch.float64), list(sizes)


def test_conv_matrix_definition():
    b = torch.arange(1.0, 6.0, dtype=torch.float64)
    C = cm.conv_matrix(b, 3)
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[2:, 2:] = torch.tensor([[1.0, 0, 0], [2, 1, 0], [3, 2, 1]])
    assert torch.equal(C, expected)
    columns = [torch.cat([b.new_zeros(j), b[:5 - j]]) for j in range(5)]
    assert torch.equal(cm.conv_matrix(b), torch.stack(columns, dim=1))


@pytest.mark.parametrize("n", [1, 7, 64, 100])
def test_fft_product_matches_dense(n):
    sizes = sorted({n, max(1, n // 2), max(1, n // 5), 1}, reverse=True)
    b, sizes = random_basis(n, sizes, seed=n)
    V = torch.randn(n, 5, generator=draw(1), dtype=torch.float64)
    fast = cm.conv_basis_matmul(b, sizes, V)
    torch.testing.assert_close(fast, cm.conv_basis_matmul_reference(b, sizes, V), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cm.conv_basis_matmul(b, sizes, V, chunk=1), fast, rtol=1e-12, atol=1e-12)


def test_fft_product_float32_and_gradient():
    b, sizes = random_basis()
    V = torch.randn(48, 3, generator=draw(2), dtype=torch.float64)
    fast32 = cm.conv_basis_matmul(b.float(), sizes, V.float())
    assert fast32.dtype == torch.float32
    assert relative_error(fast32.double(), cm.conv_basis_matmul_reference(b, sizes, V)) < 1e-5
    small_b, small_sizes = random_basis(6, (6, 2), seed=3)
    small_V = torch.randn(6, 1, generator=draw(4), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x, y: cm.conv_basis_matmul(x, small_sizes, y),
                                    (small_b.requires_grad_(), small_V.requires_grad_()))


def test_random_lower_triangular_needs_n_terms_and_is_recovered_exactly():
    H = torch.randn(64, 64, generator=draw(5), dtype=torch.float64).tril()
    b, sizes = cm.conv_decomposition(H)
    assert sizes == list(range(64, 0, -1))
    assert relative_error(cm.conv_basis_matrix(b, sizes), H) < 1e-12


def test_decomposition_of_a_basis_matrix_returns_it():
    b, sizes = random_basis()
    b = b.masked_fill(torch.arange(48)[None, :] >= torch.tensor(sizes)[:, None], 0.0)
    found_b, found_sizes = cm.conv_decomposition(cm.conv_basis_matrix(b, sizes))
    assert found_sizes == sizes
    torch.testing.assert_close(found_b, b, rtol=0, atol=1e-14)
    toeplitz = cm.conv_matrix(torch.randn(20, generator=draw(6), dtype=torch.float64))
    assert cm.conv_decomposition(toeplitz)[1] == [20]


@pytest.mark.parametrize("sizes", [(48, 31, 12, 3), (40, 7), (48,)])
def test_telescoping_identity(sizes):
    b, sizes = random_basis(48, sizes, seed=len(sizes))
    H = cm.conv_basis_matrix(b, sizes)
    a, exp_sizes, shift = cm.telescoped_exp_basis(b, sizes)
    expected = torch.exp(H - shift) * causal_mask(48)
    assert relative_error(cm.conv_basis_matrix(a, exp_sizes), expected) < 1e-14
    assert float(cm.conv_basis_matrix(a, exp_sizes).max()) <= 1 + 1e-15  # one global shift: entries at most 1
    assert len(exp_sizes) == len(sizes) + (sizes[0] < 48)


@pytest.mark.parametrize("bad", [
    lambda: cm.conv_matrix(torch.ones(4, dtype=torch.float64), 5),
    lambda: cm.conv_matrix(torch.ones(4, 4, dtype=torch.float64)),
    lambda: cm.conv_matrix(torch.ones(4, dtype=torch.int64)),
    lambda: cm.conv_basis_matmul(torch.ones(2, 4, dtype=torch.float64), [4], torch.ones(4, 1, dtype=torch.float64)),
    lambda: cm.conv_basis_matmul(torch.ones(1, 4, dtype=torch.float64), [4], torch.ones(5, 1, dtype=torch.float64)),
    lambda: cm.conv_basis_matmul(torch.ones(1, 4, dtype=torch.float64), [0], torch.ones(4, 1, dtype=torch.float64)),
    lambda: cm.conv_basis_matmul(torch.ones(1, 4, dtype=torch.float64), [4], torch.ones(4, 1, dtype=torch.float64),
                                 chunk=0),
    lambda: cm.conv_decomposition(torch.ones(4, 4, dtype=torch.float64)),
    lambda: cm.conv_decomposition(torch.ones(4, 3, dtype=torch.float64)),
    lambda: cm.conv_decomposition(torch.full((3, 3), float("nan"), dtype=torch.float64).tril()),
    lambda: cm.telescoped_exp_basis(torch.ones(2, 4, dtype=torch.float64), [2, 3]),
])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        bad()
