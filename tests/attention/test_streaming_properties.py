"""Property tests of one-pass streaming attention: any chunking gives the float64 polynomial reference, the
streamed CountSketch equals the dense one, recovery is optimal for sparse columns, and sizes are refused before
any allocation."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import streaming as st_
from simple_algebra.attention.taylor_features import feature_dimension
from tests.attention.prop_helpers import rand
from tests.properties import bad_tensors, covers, huge_sizes, refuses, seeds

even_degrees = st.sampled_from([0, 2, 4])


@covers(st_.new_state, st_.stream_update, st_.streaming_attention, st_.polynomial_attention_reference,
        st_.state_bytes)
@given(st.integers(1, 10), st.integers(1, 3), st.integers(1, 3), even_degrees, st.integers(1, 4), seeds,
       st.floats(0.25, 2.0), bad_tensors(4, 2), huge_sizes)
def test_every_chunking_gives_the_polynomial_reference(n, d, e, degree, chunk, seed, scale, bad, huge):
    Q, K, V = rand(seed, n, d), rand(seed + 1, n, d), rand(seed + 2, n, e)
    reference = st_.polynomial_attention_reference(Q, K, V, degree, scale)
    T, state = st_.streaming_attention(Q, K, V, degree, chunk=chunk, width=8, repetitions=3, scale=scale, seed=seed)
    torch.testing.assert_close(T, reference, rtol=1e-10, atol=1e-12)
    assert state.tokens == n
    last = 1 + seed % n  # the reference for the last queries only: the rows of the full one
    torch.testing.assert_close(st_.polynomial_attention_reference(Q[n - last:], K, V, degree, scale), reference[n - last:],
                               rtol=1e-12, atol=1e-14)
    refuses(st_.polynomial_attention_reference, Q, K[:n - 1], V[:n - 1], degree, argument="K", shows=f"({n - 1}, {d})")
    manual = st_.new_state(d, e, degree, width=8, repetitions=3, scale=scale, seed=seed)
    pieces = [st_.stream_update(manual, Q[i:i + 1], K[i:i + 1], V[i:i + 1]) for i in range(n)]  # token by token
    torch.testing.assert_close(torch.cat(pieces), T, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(manual.sketch, state.sketch, rtol=1e-10, atol=1e-12)
    t = feature_dimension(d, degree)
    assert st_.state_bytes(state) == 8 * (t * e + t + 3 * 8 * e) + 8 * 3 * 4  # independent of n

    refuses(st_.new_state, d, e, 65, argument="degree", shows="65")
    refuses(st_.new_state, d, e, degree, width=huge, argument="width", shows=str(huge))
    refuses(st_.new_state, 64, e, 20, argument="dim", shows="64")  # C(84, 20) features
    refuses(st_.new_state, d, e, degree, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(st_.new_state, d, e, degree, seed=-1, argument="seed", shows="-1")
    refuses(st_.polynomial_attention_reference, Q, K, V, huge, argument="degree", shows=str(huge))  # was a hang
    refuses(st_.polynomial_attention_reference, Q, K, V, degree, 0.0, argument="scale", shows="0.0")
    refuses(st_.polynomial_attention_reference, 3 + Q.abs(), -3 - K.abs(), V, 1, argument="denominator")
    refuses(st_.streaming_attention, Q, K.float(), V, degree, argument="k", shows="float32")
    refuses(st_.stream_update, "state", Q, K, V, argument="state", shows="str")
    refuses(st_.state_bytes, None, argument="state", shows="NoneType")
    tensor, shown = bad
    good = rand(seed, 4, 2)
    refuses(st_.streaming_attention, tensor, good, good, degree, argument="Q", shows=shown)
    refuses(st_.polynomial_attention_reference, good, good, tensor, degree, argument="V", shows=shown)


@covers(st_.bucket_and_sign, st_.sketch_outputs, st_.count_sketch_reference, st_.sketch_estimates,
        st_.recover_sparse, st_.best_k_sparse, st_.recovery_ratio)
@given(st.integers(2, 8), st.integers(1, 3), st.integers(1, 16), st.sampled_from([1, 3, 5]), seeds,
       st.integers(1, 3), huge_sizes)
def test_streamed_sketch_is_the_dense_sketch_and_recovery_is_optimal(n, e, width, repetitions, seed, k, huge):
    k = min(k, n)
    X = rand(seed, n, e)
    parameters = torch.randint(1, st_.PRIME, (repetitions, 4), generator=torch.Generator().manual_seed(seed))
    buckets, signs = st_.bucket_and_sign(torch.arange(n), parameters, width)
    assert buckets.shape == (repetitions, n) and ((buckets >= 0) & (buckets < width)).all()
    assert set(signs.unique().tolist()) <= {-1, 1}
    state = st_.new_state(2, e, 0, width=width, repetitions=repetitions, seed=seed)
    st_.sketch_outputs(state, X[:1], 0)
    st_.sketch_outputs(state, X[1:], 1)  # in two parts: the sketch is linear
    torch.testing.assert_close(state.sketch, st_.count_sketch_reference(X, width, repetitions, seed))
    estimates = st_.sketch_estimates(state, n, block=3)
    assert estimates.shape == (n, e) and torch.isfinite(estimates).all()
    # one nonzero row and a wide sketch: no collision in most repetitions, so the median recovers it exactly
    sparse = torch.zeros(n, e, dtype=torch.float64)
    sparse[n // 2] = X[0]
    wide = st_.new_state(2, e, 0, width=4096, repetitions=5, seed=seed)
    st_.sketch_outputs(wide, sparse, 0)
    torch.testing.assert_close(st_.recover_sparse(wide, n, 1), sparse)
    best = st_.best_k_sparse(X, k)
    assert ((best != 0).sum(dim=0) <= k).all()
    kept_smallest = torch.where(best != 0, X.abs(), math.inf).amin(dim=0)
    dropped_largest = torch.where(best == 0, X.abs(), 0.0).amax(dim=0)
    assert (kept_smallest >= dropped_largest).all()
    if bool((torch.linalg.norm(X - best, dim=0) > 0).all()):
        torch.testing.assert_close(st_.recovery_ratio(X, best, k), torch.ones(e, dtype=torch.float64))
        other = st_.best_k_sparse(rand(seed + 1, n, e), k)  # any k-sparse vector does no better than the best
        assert (st_.recovery_ratio(X, other, k) >= 1 - 1e-12).all()

    refuses(st_.bucket_and_sign, torch.arange(n), parameters, 0, argument="width", shows="0")
    refuses(st_.bucket_and_sign, torch.arange(n) - 1, parameters, width, argument="positions", shows="-1")
    refuses(st_.bucket_and_sign, torch.arange(n).double(), parameters, width, argument="positions", shows="float64")
    refuses(st_.bucket_and_sign, torch.arange(n), parameters[:, :3], width, argument="parameters", shows="3")
    refuses(st_.count_sketch_reference, X, huge, repetitions, argument="width", shows=str(huge))
    refuses(st_.count_sketch_reference, X, width, huge, argument="repetitions", shows=str(huge))
    refuses(st_.sketch_outputs, state, X[:, :1].expand(n, e + 1).contiguous(), 0, argument="outputs",
            shows=f"({n}, {e + 1})")
    refuses(st_.sketch_outputs, state, X, -1, argument="start", shows="-1")
    refuses(st_.sketch_estimates, state, huge, argument="n", shows=str(huge))
    refuses(st_.sketch_estimates, state, n, block=0, argument="block", shows="0")
    refuses(st_.recover_sparse, state, n, 0, argument="k", shows="0")
    refuses(st_.best_k_sparse, X, n + 1, argument="k", shows=str(n + 1))
    refuses(st_.recovery_ratio, X, best.float(), k, argument="recovered", shows="float32")
    refuses(st_.recovery_ratio, X, best[:1], k, argument="recovered", shows=f"(1, {e})")


@covers(st_.kv_cache_bytes, st_.bounded_inputs)
@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 4), st.floats(0.0, 2.0), st.integers(1, 8), seeds,
       st.sampled_from([torch.float32, torch.float64]), huge_sizes)
def test_bounded_inputs_respect_the_bound_and_cache_bytes_count(n, dim, value_dim, bound, active, seed, dtype, huge):
    assert st_.kv_cache_bytes(n, dim, value_dim, dtype) == n * (dim + value_dim) * (4 if dtype == torch.float32
                                                                                   else 8)
    Q, K, V = st_.bounded_inputs(n, dim, bound, value_dim=value_dim, active=active, seed=seed, dtype=dtype)
    again = st_.bounded_inputs(n, dim, bound, value_dim=value_dim, active=active, seed=seed, dtype=dtype)
    assert all(torch.equal(a, b) for a, b in zip((Q, K, V), again))
    assert Q.shape == K.shape == (n, dim) and V.shape == (n, value_dim) and Q.dtype == dtype
    assert float(Q.abs().max()) <= bound and float(K.abs().max()) <= bound
    assert (V[active:] == 0).all()

    refuses(st_.kv_cache_bytes, n, dim, value_dim, "float32", argument="dtype", shows="'float32'")
    refuses(st_.kv_cache_bytes, 0, dim, value_dim, argument="n", shows="0")
    refuses(st_.bounded_inputs, huge, dim, bound, argument="n", shows=str(huge))
    refuses(st_.bounded_inputs, n, dim, math.inf, argument="bound", shows="inf")
    refuses(st_.bounded_inputs, n, dim, bound, seed=-1, argument="seed", shows="-1")
    refuses(st_.bounded_inputs, n, dim, bound, dtype=torch.bool, argument="dtype", shows="bool")
    if not torch.cuda.is_available():
        refuses(st_.bounded_inputs, n, dim, bound, device="cuda", argument="device", shows="cuda")
