"""One-pass streaming attention (Taylor degree 5 state + CountSketch of the outputs) vs exact causal attention.

Chapter: One-pass streaming attention in sublinear space (Addanki, Li, Song, Yang; arXiv 2311.14652). Tokens
with d = 4 and entries uniform in [-0.7, 0.7] (values on the first 8 tokens), float32, scores exp(<q, k>).

The ratio: exact causal attention (``scaled_dot_product_attention(is_causal=True, scale=1)``, which needs the whole
KV cache and O(n^2 d) work) against streaming the same n = 2^14 tokens through the state in chunks of 256 (O(n t
(256 + d)) work with t = 126 features), both returning all n outputs. Both run on one CPU thread (two threads only
spin-wait on the shared two-core machine this was tuned on). Target 20x: the exact cost grows like n^2 and ours
like n, and on the busy two-core machine we measured about 22x at n = 2^13, 41x to 55x at n = 2^14 (three runs)
and about 125x at n = 2^15, so 20x at n = 2^14 holds with room for load. (Quick mode, n = 2^11, is a smoke test and
stays below the target: there the fixed per-chunk costs dominate.) The tolerance 1e-3 is the degree-5 Taylor
error relative to the largest output (measured about 3e-5 to 8e-5).

The claim that is not a ratio goes in ``measurements``: streaming n = 2^20 tokens (quick: 2^14) without keeping
the outputs, the state's bytes measured from its tensors (must be <= 1 MiB), the KV cache's bytes (2 n d float32)
and the throughput in tokens per second (target >= 1e5 on the CPU; measured 1.4e5 to 1.7e5 under load).
"""

from __future__ import annotations

import time

from harness import Benchmark

import simple_algebra as sa
from simple_algebra.attention import streaming as st

DIM, DEGREE, BOUND, CHUNK, WIDTH, REPETITIONS = 4, 5, 0.7, 256, 512, 5


def _inputs(n: int):
    import torch

    return st.bounded_inputs(n, DIM, BOUND, active=8, seed=0, dtype=torch.float32, device=sa.device())


def setup(quick: bool):
    import torch.nn.functional as F

    n = 2**11 if quick else 2**14
    Q, K, V = _inputs(n)

    def exact():
        with sa.one_thread():
            return F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=True, scale=1.0)[0]

    def streaming():
        with sa.one_thread():
            return st.streaming_attention(Q, K, V, DEGREE, chunk=CHUNK, width=WIDTH, repetitions=REPETITIONS)[0]

    sizes = {"tokens": n, "dim": DIM, "degree": DEGREE, "features": 126, "bound": BOUND, "chunk": CHUNK,
             "sketch_width": WIDTH, "sketch_rows": REPETITIONS, "dtype": "float32", "threads": 1}
    return exact, streaming, sizes


def measurements(quick: bool) -> dict:
    import torch

    n = 2**14 if quick else 2**20
    Q, K, V = _inputs(n)
    best = float("inf")
    for _ in range(1 if quick else 3):
        with sa.one_thread():
            start = time.perf_counter()
            _, state = st.streaming_attention(Q, K, V, DEGREE, chunk=CHUNK, width=WIDTH, repetitions=REPETITIONS,
                                              keep_outputs=False)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
    state_bytes = st.state_bytes(state)
    return {"stream_tokens": n, "state_bytes": state_bytes, "state_at_most_1_MiB": state_bytes <= 2**20,
            "kv_cache_bytes": st.kv_cache_bytes(n, DIM, DIM, torch.float32),
            "tokens_per_second": n / best, "throughput_at_least_1e5": n / best >= 1e5}


BENCHMARKS = [
    Benchmark("streaming-attention", baseline="exact causal attention (SDPA, whole KV cache)",
              ours="one-pass streaming state + CountSketch", target_ratio=20.0, tolerance=1e-3, setup=setup,
              measurements=measurements),
]
