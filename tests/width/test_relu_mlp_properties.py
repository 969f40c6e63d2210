"""Property tests of the NTK-parametrised ReLU network and its arc-cosine limit kernels."""


import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.width import relu_mlp
from tests.properties import bad_tensors, covers, huge_sizes, refuses, tensors


@covers(relu_mlp.NTKMLP, relu_mlp.ntk_mlp)
@given(huge_sizes, st.sampled_from([torch.int64, torch.complex128, torch.bool, "float64"]), st.integers(-5, -1))
def test_an_ntk_network_refuses_sizes_dtypes_seeds_and_devices_before_allocating(huge, dtype, seed):
    refuses(relu_mlp.ntk_mlp, huge, 4, 1, argument="input_dim", shows=str(huge))
    refuses(relu_mlp.ntk_mlp, 3, 4, 1, outputs=huge, argument="outputs", shows=str(huge))
    refuses(relu_mlp.ntk_mlp, 3, huge, 1, argument="width", shows=str(huge))
    refuses(relu_mlp.ntk_mlp, 3, 4, 1, dtype=dtype, argument="dtype", shows=str(dtype))
    refuses(relu_mlp.ntk_mlp, 3, 4, 1, seed=seed, argument="seed", shows=str(seed))
    if not torch.cuda.is_available():
        refuses(relu_mlp.ntk_mlp, 3, 4, 1, device="cuda", argument="device", shows="cuda")


@covers(relu_mlp.relu_kernels)
@given(tensors(4, 3), st.integers(1, 5), st.sampled_from([1e-3, 1.0, 7.0]), bad_tensors(4, 3))
def test_the_arc_cosine_kernels_keep_their_diagonal_and_are_two_homogeneous(x, depth, scale, bad):
    x = x + torch.tensor([3.5, 0.0, 0.0], dtype=torch.float64)  # no zero rows
    nngp, ntk = relu_mlp.relu_kernels(x, depth=depth)
    squared = (x * x).sum(1) / x.shape[1]
    # sqrt(2) relu keeps Sigma(x, x) = |x|^2 / d, and Theta(x, x) = (depth + 1) Sigma(x, x).
    assert torch.allclose(nngp.diagonal(), squared) and torch.allclose(ntk.diagonal(), (depth + 1) * squared)
    assert torch.allclose(nngp, nngp.T) and torch.allclose(ntk, ntk.T)
    scaled_nngp, scaled_ntk = relu_mlp.relu_kernels(scale * x, depth=depth)
    assert torch.allclose(scaled_nngp, scale**2 * nngp) and torch.allclose(scaled_ntk, scale**2 * ntk)
    cross_nngp, _ = relu_mlp.relu_kernels(x[:2], x, depth=depth)
    assert torch.allclose(cross_nngp, nngp[:2])
    tensor, shown = bad
    refuses(relu_mlp.relu_kernels, tensor, argument="x1", shows=shown)
    refuses(relu_mlp.relu_kernels, x, tensor, argument="x2", shows=shown)
    refuses(relu_mlp.relu_kernels, x, x.float(), argument="x2", shows="float32")
    refuses(relu_mlp.relu_kernels, x, depth=65 + depth, argument="depth", shows=str(65 + depth))
    zero = x.clone()
    zero[2] = 0.0
    refuses(relu_mlp.relu_kernels, zero, argument="x1[2]", shows="nonzero")
    refuses(relu_mlp.relu_kernels, x * 1e300, argument="inputs too large", shows="e+300")
    refuses(relu_mlp.relu_kernels, torch.ones(10**7, 1, dtype=torch.float64), argument="n1 = 10000000", shows="GiB")
