"""Conv-basis attention: FFT attention in O(k n d log n) vs dense causal softmax attention.

Chapter: Conv-Basis (Gu, Liang, Liu, Shi, Song, Yin; arXiv 2405.05219). The input has an exact k-conv score matrix
(RoPE-style queries and keys, a different key vector in each of k = 8 column segments), d = 64, float32. The
baseline is PyTorch's fused causal attention, ``scaled_dot_product_attention(is_causal=True, scale=1.0)`` (the
same scores as ours: its default scale would be 1/sqrt(d)). Ours finds the break points by binary search, reads
the basis off k columns and applies the telescoped exp basis by FFT (float64 FFTs, see the chapter), including
all of that in the timed call. Three sizes, n = 4096, 16384 and 65536, show where the crossover lies; quick mode
uses n = 1024, d = 16, k = 4. The measurements record the float64 error against the exact reference at n = 2048.
"""

from __future__ import annotations

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.attention import conv_basis as cb
from simple_algebra.attention import rope

DIM, TERMS = 64, 8


def make_setup(n: int):
    def setup(quick: bool):
        import torch

        length, dim, terms = (1024, 16, 4) if quick else (n, DIM, TERMS)
        Q, K, V, points = rope.rope_inputs(length, dim, terms, seed=0, dtype=torch.float32, device=sa.device())

        # (batch, heads, n, d): the layout that selects PyTorch's fused (flash) kernel on the CPU too; a 3-D input
        # falls back to the math path, which forms the n x n matrix (17 GB at n = 65536) and is 20x slower.
        Q4, K4, V4 = (x[None, None] for x in (Q, K, V))

        def dense():
            return torch.nn.functional.scaled_dot_product_attention(Q4, K4, V4, is_causal=True, scale=1.0)[0, 0]

        def ours():
            return cb.conv_basis_attention(Q, K, V, terms)

        sizes = {"n": length, "d": dim, "k": terms, "k_true": terms, "dtype": "float32", "fft_dtype": "float64"}
        return dense, ours, sizes
    return setup


def measurements(quick: bool) -> dict:
    import torch

    from simple_algebra.attention.exact import exact_attention
    from simple_algebra.core.metrics import relative_error

    n, dim, terms = (512, 16, 4) if quick else (2048, DIM, TERMS)
    Q, K, V, _ = rope.rope_inputs(n, dim, terms, seed=1, dtype=torch.float64, device=sa.device())
    error = relative_error(cb.conv_basis_attention(Q, K, V, terms), exact_attention(Q, K, V, causal=True))
    Q32, K32, V32 = (x.float() for x in (Q, K, V))
    error32 = relative_error(cb.conv_basis_attention(Q32, K32, V32, terms, fft_dtype=torch.float32).double(),
                             exact_attention(Q, K, V, causal=True))
    return {f"float64_relative_error_n{n}": error, f"float32_fft_relative_error_n{n}": error32}


BENCHMARKS = [
    Benchmark("conv-basis-attention", baseline="dense causal SDPA", ours="conv-basis FFT attention (k = 8)",
              target_ratio=5.0, tolerance=1e-4, setup=make_setup(65536), measurements=measurements),
    Benchmark("conv-basis-attention-16k", baseline="dense causal SDPA", ours="conv-basis FFT attention (k = 8)",
              target_ratio=0.5, tolerance=1e-4, setup=make_setup(16384)),
    Benchmark("conv-basis-attention-4k", baseline="dense causal SDPA", ours="conv-basis FFT attention (k = 8)",
              target_ratio=0.25, tolerance=1e-4, setup=make_setup(4096)),
]
