"""Tests of one-pass streaming attention and its CountSketch (arXiv 2311.14652 chapter)."""

import pytest
import torch

from simple_algebra.attention import streaming as st
from simple_algebra.attention.exact import exact_attention
from simple_algebra.core.metrics import relative_error
from simple_algebra.core.runtime import one_thread


@pytest.fixture(autouse=True)
def single_thread():
    # many small tensor operations: two threads only spin-wait on each other (see runtime.one_thread)
    with one_thread():
        yield


def inputs(n=300, dim=4, bound=0.7, active=8, seed=0):
    return st.bounded_inputs(n, dim, bound, active=active, seed=seed)


@pytest.mark.parametrize("chunk", [2, 7, 64, 300, 1000])
def test_chunked_equals_token_by_token(chunk):
    Q, K, V = inputs(active=None)
    one, state_one = st.streaming_attention(Q, K, V, 4, chunk=1, width=16)
    many, state_many = st.streaming_attention(Q, K, V, 4, chunk=chunk, width=16)
    assert torch.allclose(one, many, rtol=0, atol=1e-13)
    for a, b in ((state_one.M, state_many.M), (state_one.z, state_many.z), (state_one.sketch, state_many.sketch)):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    assert state_one.tokens == state_many.tokens == Q.shape[0]


def test_hashes_are_in_range_and_balanced():
    buckets, signs = st.bucket_and_sign(torch.arange(20000), st._hash_parameters(3, 4), 64)
    assert buckets.shape == signs.shape == (4, 20000)
    assert buckets.min() >= 0 and buckets.max() < 64 and set(signs.unique().tolist()) == {-1, 1}
    counts = torch.stack([torch.bincount(row, minlength=64) for row in buckets])
    assert counts.min() > 200 and counts.max() < 425 and abs(float(signs.double().mean())) < 0.05


def test_streamed_outputs_match_the_polynomial_reference():
    Q, K, V = inputs(active=None)
    streamed, _ = st.streaming_attention(Q, K, V, 3, chunk=50, scale=0.5)
    assert torch.allclose(streamed, st.polynomial_attention_reference(Q, K, V, 3, scale=0.5), rtol=0, atol=1e-13)


def test_polynomial_error_falls_with_degree():
    Q, K, V = inputs(n=512, active=None)
    exact = exact_attention(Q, K, V, causal=True)
    errors = [relative_error(st.streaming_attention(Q, K, V, g, sketch=False)[0], exact) for g in (2, 4, 6, 8)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-6


def test_count_sketch_is_the_dense_reference_and_linear():
    Q, K, V = inputs(n=200, active=None)
    T, state = st.streaming_attention(Q, K, V, 3, chunk=32, width=16, repetitions=3, seed=5)
    assert torch.allclose(state.sketch, st.count_sketch_reference(T, 16, 3, seed=5), atol=1e-12)
    at_once = st.new_state(4, 4, 3, width=16, repetitions=3, seed=5)
    st.sketch_outputs(at_once, T, 0)
    assert torch.allclose(at_once.sketch, state.sketch, atol=1e-12)
    X, Y = torch.randn(200, 3, dtype=torch.float64), torch.randn(200, 3, dtype=torch.float64)
    combined = st.count_sketch_reference(2 * X - Y, 32, 3)
    assert torch.allclose(combined, 2 * st.count_sketch_reference(X, 32, 3) - st.count_sketch_reference(Y, 32, 3),
                          atol=1e-12)


def test_recovery_is_exact_without_collisions():
    # width much larger than n: with high probability no two of the few nonzero rows collide in any repetition
    n, k = 64, 5
    X = torch.zeros(n, 2, dtype=torch.float64)
    X[torch.tensor([3, 10, 20, 40, 63])] = torch.randn(5, 2, dtype=torch.float64)
    state = st.new_state(1, 2, 0, width=4096, repetitions=5)
    state.sketch += st.count_sketch_reference(X, 4096, 5)
    assert torch.equal(st.recover_sparse(state, n, k), X)


def test_sparse_recovery_of_streamed_outputs_is_good_on_compressible_outputs():
    Q, K, V = inputs(n=2048)
    T, state = st.streaming_attention(Q, K, V, 5, width=512)
    ratio = st.recovery_ratio(T, st.recover_sparse(state, 2048, 16), 16)
    assert ratio.max() < 1.5, ratio


def test_state_size_does_not_depend_on_n():
    sizes = []
    for n in (100, 3000):
        Q, K, V = inputs(n=n)
        _, state = st.streaming_attention(Q, K, V, 5, width=64, keep_outputs=False)
        sizes.append(st.state_bytes(state))
    assert sizes[0] == sizes[1] == 8 * (126 * 4 + 126 + 5 * 64 * 4 + 5 * 4)
    assert st.kv_cache_bytes(3000, 4, 4) == 3000 * 8 * 8


def test_determinism_and_seeds():
    Q, K, V = inputs()
    a = st.streaming_attention(Q, K, V, 3, width=8, seed=1)[1].sketch
    b = st.streaming_attention(Q, K, V, 3, width=8, seed=1)[1].sketch
    c = st.streaming_attention(Q, K, V, 3, width=8, seed=2)[1].sketch
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert all(torch.equal(x, y) for x, y in zip(inputs(seed=3), inputs(seed=3)))


def test_bounded_inputs():
    Q, K, V = st.bounded_inputs(50, 3, 0.5, active=4, value_dim=2)
    assert Q.abs().max() <= 0.5 and K.abs().max() <= 0.5 and V.shape == (50, 2)
    assert V[4:].abs().max() == 0 and V[:4].abs().min() > 0


def test_float32_follows_dtype():
    Q, K, V = st.bounded_inputs(100, 4, 0.7, dtype=torch.float32)
    T, state = st.streaming_attention(Q, K, V, 4)
    assert T.dtype == state.sketch.dtype == torch.float32
    assert relative_error(T.double(), exact_attention(Q.double(), K.double(), V.double(), causal=True)) < 1e-3


def test_value_errors():
    Q, K, V = inputs(n=10)
    state = st.new_state(4, 4, 2)
    with pytest.raises(ValueError, match="features"):
        st.stream_update(state, Q[:, :3], K[:, :3], V)
    with pytest.raises(ValueError, match="same shape"):
        st.stream_update(state, Q, K[:5], V)
    with pytest.raises(ValueError, match="finite"):
        st.stream_update(state, Q * float("nan"), K, V)
    with pytest.raises(ValueError, match="width"):
        st.new_state(4, 4, 2, width=0)
    with pytest.raises(ValueError, match="degree"):
        st.new_state(4, 4, -1)
    with pytest.raises(ValueError, match="scale"):
        st.new_state(4, 4, 2, scale=0.0)
    with pytest.raises(ValueError, match="not positive"):
        st.streaming_attention(3 * Q, -3 * Q, V, 1)
    with pytest.raises(ValueError, match="k must be"):
        st.recover_sparse(state, 10, 0)
    with pytest.raises(ValueError, match="bound"):
        st.bounded_inputs(10, 2, -1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_results_on_cuda():
    Q, K, V = inputs()
    cpu, state_cpu = st.streaming_attention(Q, K, V, 4, width=32)
    gpu, state_gpu = st.streaming_attention(Q.cuda(), K.cuda(), V.cuda(), 4, width=32)
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-12)
    assert torch.allclose(state_cpu.sketch, state_gpu.sketch.cpu(), atol=1e-12)
    assert torch.allclose(st.recover_sparse(state_cpu, 300, 8), st.recover_sparse(state_gpu, 300, 8).cpu(), atol=1e-12)


def test_the_state_after_n_tokens_continues_the_stream():
    # The chapter's check (a): the fixed-size state is sufficient for the rest of the stream, a fresh one is not.
    import copy

    from simple_algebra.core.metrics import relative_error

    Q, K, V = st.bounded_inputs(600, 4, 0.7, active=8, seed=0)
    Qn, Kn, Vn = st.bounded_inputs(64, 4, 0.7, active=None, seed=1)
    _, state = st.streaming_attention(Q, K, V, 4, sketch=False)
    reference = st.polynomial_attention_reference(Qn, torch.cat((K, Kn)), torch.cat((V, Vn)), 4)
    assert relative_error(st.stream_update(copy.deepcopy(state), Qn, Kn, Vn, sketch=False), reference) < 1e-12
    assert relative_error(st.streaming_attention(Qn, Kn, Vn, 4, sketch=False)[0], reference) > 1.0
