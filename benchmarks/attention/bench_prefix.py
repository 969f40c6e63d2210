"""NTK-Attention: attention over a long prefix from its closed-form summary, vs exact attention over all keys.

Chapter: Infinite-long prefixes (Gu, Liang, Shi, Song, Yang; arXiv 2406.14036). L = 128 queries and input keys
of dimension d = 64 attend to a prefix of m = 65536 keys (quick: L = 32, d = 16, m = 4096), float32. The summary
``(Z, k)`` of the prefix (Taylor features of degree 2, C(d + 2, 2) = 2145 of them for d = 64) is computed once in
``setup`` and is not timed: at inference its cost does not depend on m. Queries and keys have standard deviation
0.6 (attention scores of standard deviation about 0.36), where degree-2 features approximate ``exp`` to about 10%
of the output's largest entry; the tolerance says so.
"""

from __future__ import annotations

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.attention import prefix as pa

DEGREE = 2
SCALE = 0.6


def setup(quick: bool):
    import torch

    length, dim, prefix = (32, 16, 4096) if quick else (128, 64, 65536)
    options = dict(dtype=torch.float32, device=sa.device())
    Q, K, V = (x[0] for x in pa.random_inputs(1, length, dim, seed=0, scale=SCALE, **options))
    KP, VP = pa.random_prefix(prefix, dim, seed=1, scale=SCALE, **options)
    Z, k = pa.prefix_summary(KP, VP, DEGREE)
    sizes = {"queries": length, "input_keys": length, "dim": dim, "prefix_length": prefix, "degree": DEGREE,
             "features": Z.shape[0], "score_scale": SCALE, "dtype": "float32"}
    return (lambda: pa.prefix_attention(Q, K, V, KP, VP)), (lambda: pa.ntk_attention(Q, K, V, Z, k, DEGREE)), sizes


BENCHMARKS = [
    Benchmark("ntk-attention-prefix", baseline="exact attention over the prefix",
              ours="NTK-Attention (closed-form summary)", target_ratio=50.0, tolerance=0.2, setup=setup),
]
