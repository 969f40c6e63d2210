"""Property tests of RoPE: rotations keep norms, scores depend on the position difference alone, and the inputs
of ``rope_inputs`` are seeded, with Toeplitz scores inside each segment."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import rope
from tests.attention.prop_helpers import rand
from tests.properties import bad_reals, bad_tensors, covers, huge_sizes, refuses, seeds

even_d = st.sampled_from([2, 4, 6, 8])


@covers(rope.rope_frequencies, rope.rotate)
@given(even_d, st.floats(1.5, 1e5), st.integers(1, 8), seeds, st.integers(0, 20), bad_reals, bad_tensors(3, 4))
def test_rotations_keep_norms_and_scores_depend_on_the_offset(d, base, n, seed, shift, bad_base, bad):
    theta = rope.rope_frequencies(d, base=base)
    assert theta.shape == (d // 2,) and (theta > 0).all() and (theta <= 1).all()
    assert (theta[1:] <= theta[:-1]).all()  # base^(-2l/d) decreases
    assert torch.equal(theta * 2**20, torch.round(theta * 2**20))  # multiples of 2^-20
    x, q, k = rand(seed, n, d), rand(seed + 1, d), rand(seed + 2, d)
    positions = torch.arange(n)
    rotated = rope.rotate(x, positions, theta)
    torch.testing.assert_close(rotated.norm(dim=1), x.norm(dim=1))
    Q, K = rope.rotate(q.expand(n, -1), positions, theta), rope.rotate(k.expand(n, -1), positions, theta)
    Qs, Ks = (rope.rotate(t.expand(n, -1), positions + shift, theta) for t in (q, k))
    torch.testing.assert_close(Q @ K.T, Qs @ Ks.T)  # shifting every position leaves the scores unchanged

    value, shown = bad_base
    refuses(rope.rope_frequencies, d, base=value, argument="base", shows=shown)
    for base_bad in (0.0, -base):
        refuses(rope.rope_frequencies, d, base=base_bad, argument="base", shows=str(base_bad))  # was NaN
    refuses(rope.rope_frequencies, d + 1, argument="d", shows=str(d + 1))
    refuses(rope.rope_frequencies, 2 * 10**12, argument="d", shows=str(2 * 10**12))
    tensor, shown = bad
    refuses(rope.rotate, tensor, torch.arange(3), rope.rope_frequencies(4), argument="x", shows=shown)
    refuses(rope.rotate, x, torch.arange(n + 1), theta, argument="positions", shows=f"({n + 1},)")
    refuses(rope.rotate, x, torch.full((n,), math.nan), theta, argument="positions", shows="finite")
    refuses(rope.rotate, x, positions, theta[:-1] if d > 2 else theta[:0], argument="frequencies")


@covers(rope.rope_queries_keys, rope.rope_inputs)
@given(st.integers(1, 10), even_d, st.integers(1, 4), seeds, st.floats(0.0, 0.5), huge_sizes)
def test_rope_inputs_are_seeded_and_toeplitz_within_segments(n, d, k_true, seed, eps, huge):
    k_true = min(k_true, n)
    Q, K, V, points = rope.rope_inputs(n, d, k_true, seed=seed)
    again = rope.rope_inputs(n, d, k_true, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip((Q, K, V), again[:3])) and points == again[3]
    assert Q.shape == K.shape == (n, d) and V.shape == (n, d)
    assert points[0] == 0 and points == sorted(set(points)) and len(points) == k_true
    scores = Q @ K.T
    segment = torch.bucketize(torch.arange(n), torch.tensor(points), right=True) - 1
    for i in range(n - 1):
        for j in range(i + 1):
            if segment[j] == segment[j + 1]:  # j + 1 <= i + 1 < n
                assert abs(float(scores[i + 1, j + 1] - scores[i, j])) < 1e-9  # depends on i - j alone
    noisy = rope.rope_inputs(n, d, k_true, seed=seed, eps=eps)
    assert torch.isfinite(noisy[0]).all() and (eps > 0 or torch.equal(noisy[0], Q))
    query, keys = rand(seed, d), rand(seed + 1, k_true, d)
    Q2, K2 = rope.rope_queries_keys(query, keys, points, n)
    torch.testing.assert_close(Q2.norm(dim=1), query.norm().expand(n))

    refuses(rope.rope_inputs, huge, d, 1, argument="n", shows=str(huge))
    refuses(rope.rope_inputs, n, d, n + 1, argument="k_true", shows=str(n + 1))
    refuses(rope.rope_inputs, n, d, 1, seed=-1, argument="seed", shows="-1")
    refuses(rope.rope_inputs, n, d, 1, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(rope.rope_inputs, n, d, 1, eps=-eps - 1, argument="eps", shows=str(-eps - 1))
    refuses(rope.rope_queries_keys, query, keys, points, huge, argument="n", shows=str(huge))
    refuses(rope.rope_queries_keys, query, keys.float(), points, n, argument="keys", shows="float32")
    refuses(rope.rope_queries_keys, query, keys[:, :1], points, n, argument="keys", shows=f"({k_true}, 1)")
    refuses(rope.rope_queries_keys, query, keys, [p + 1 for p in points], n + 1, argument="break points",
            shows=str([p + 1 for p in points]))
