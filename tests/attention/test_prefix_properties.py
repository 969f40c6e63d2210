"""Property tests of prefix attention and NTK-Attention: prefix attention is exact attention over the joined
keys, the stable and naive NTK formulas agree where both are finite, a high-degree summary reproduces the
prefix, and the modules refuse NaN or mismatched inputs."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.attention import prefix as pf
from simple_algebra.attention.exact import exact_attention
from tests.attention.prop_helpers import rand
from tests.properties import bad_tensors, covers, huge_sizes, refuses, seeds

small = st.integers(1, 4)


@covers(pf.prefix_attention, pf.random_prefix, pf.random_inputs)
@given(small, small, small, st.integers(1, 6), seeds, st.floats(0.2, 2.0), bad_tensors(5, 3), huge_sizes)
def test_prefix_attention_is_attention_over_the_joined_keys(batch, length, dim, m, seed, scale, bad, huge):
    Q, K, V = pf.random_inputs(batch, length, dim, seed=seed, scale=scale)
    KP, VP = pf.random_prefix(m, dim, seed=seed, scale=scale)
    again = pf.random_prefix(m, dim, seed=seed, scale=scale), pf.random_inputs(batch, length, dim, seed=seed,
                                                                                scale=scale)
    assert torch.equal(again[0][0], KP) and torch.equal(again[1][2], V)
    out = pf.prefix_attention(Q, K, V, KP, VP)
    joined_K = torch.cat([K, KP.expand(batch, -1, -1)], dim=1)
    joined_V = torch.cat([V, VP.expand(batch, -1, -1)], dim=1)
    torch.testing.assert_close(out, exact_attention(Q, joined_K, joined_V, scale=1 / math.sqrt(dim)))

    refuses(pf.random_prefix, huge, dim, argument="length", shows=str(huge))
    refuses(pf.random_prefix, m, dim, seed=-1, argument="seed", shows="-1")
    refuses(pf.random_prefix, m, dim, dtype=torch.complex64, argument="dtype", shows="complex64")
    refuses(pf.random_inputs, huge, length, dim, argument="batch", shows=str(huge))
    refuses(pf.random_inputs, batch, length, dim, scale=0.0, argument="scale", shows="0.0")
    refuses(pf.prefix_attention, Q, K, V, KP.float(), VP.float(), argument="KP", shows="float32")
    refuses(pf.prefix_attention, Q, K, V, KP, VP[:, :0] if dim > 1 else VP[:0], argument="VP")
    tensor, shown = bad
    good = rand(seed, 2, 5, 3)
    refuses(pf.prefix_attention, good, good, good, tensor, tensor, argument="KP", shows=shown)
    nan_K = good.clone()
    nan_K[0, 0, 0] = math.inf
    refuses(pf.prefix_attention, good, nan_K, good, good[0], good[0], argument="K", shows="finite")


@covers(pf.feature_map, pf.prefix_summary, pf.ntk_attention, pf.ntk_attention_naive)
@given(small, small, st.sampled_from([2, 4]), st.integers(1, 6), seeds, st.sampled_from([0, 2, 4, None]),
       st.integers(1, 4), huge_sizes)
def test_ntk_attention_is_the_prefix_through_a_summary(batch, length, dim, m, seed, degree, chunk, huge):
    Q, K, V = pf.random_inputs(batch, length, dim, seed=seed, scale=0.5)
    KP, VP = pf.random_prefix(m, dim, seed=seed + 1, scale=0.5)
    phi = pf.feature_map(KP, degree)
    if degree is None:
        assert (phi > 0).all() and phi.shape == (m, dim)
    Z, k = pf.prefix_summary(KP, VP, 8 if degree is None else degree, chunk=chunk)
    whole = pf.prefix_summary(KP, VP, 8 if degree is None else degree, chunk=m)
    torch.testing.assert_close(Z, whole[0])  # chunking is exact
    torch.testing.assert_close(k, whole[1])
    g = 8 if degree is None else degree
    stable = pf.ntk_attention(Q, K, V, Z, k, g)
    torch.testing.assert_close(stable, pf.ntk_attention_naive(Q, K, V, Z, k, g), rtol=1e-10, atol=1e-12)
    if degree is None:  # degree 8 and |scores| <= a few: the summary reproduces the prefix
        exact = pf.prefix_attention(Q, K, V, KP, VP)
        assert float((stable - exact).abs().max()) < 1e-3 * (1 + float(exact.abs().max()))

    refuses(pf.feature_map, KP, huge, argument="degree", shows=str(huge))
    refuses(pf.feature_map, torch.tensor(1.0, dtype=torch.float64), 2, argument="x", shows="()")
    refuses(pf.prefix_summary, KP, VP, g, chunk=0, argument="chunk", shows="0")
    refuses(pf.prefix_summary, KP, VP.float(), g, argument="VP", shows="float32")
    refuses(pf.prefix_summary, KP, VP, -1, argument="degree", shows="-1")
    for function in (pf.ntk_attention, pf.ntk_attention_naive):
        nan_Z = Z.clone()
        nan_Z[0, 0] = math.nan
        refuses(function, Q, K, V, nan_Z, k, g, argument="Z", shows="finite")  # was a NaN output
        refuses(function, Q, K, V, torch.cat([Z, Z[:1]]), k, g, argument="Z", shows=f"({Z.shape[0] + 1}, {dim})")
        refuses(function, Q, K, V, Z, k.float(), g, argument="k", shows="float32")
        refuses(function, Q, K.float(), V, Z, k, g, argument="K", shows="float32")


@covers(pf.NTKAttention, pf.PrefixAttentionLayer, pf.fit_summary)
@given(small, small, st.sampled_from([2, 4]), st.integers(1, 8), seeds, bad_tensors(2, 3, 4), huge_sizes)
def test_trainable_modules_are_seeded_and_refuse_bad_inputs(batch, length, dim, m, seed, bad, huge):
    Q, K, V = pf.random_inputs(batch, length, dim, seed=seed)
    module = pf.NTKAttention(dim)
    out = module(Q, K, V)
    torch.testing.assert_close(out, pf.ntk_attention(Q, K, V, module.Z, module.k, None))
    assert (module.k > 0).all() and torch.equal(module.Z, torch.zeros(dim, dim, dtype=torch.float64))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
    layer = pf.PrefixAttentionLayer(dim, m, seed=seed)
    X = rand(seed, batch, length, dim)
    y = layer(X)
    torch.testing.assert_close(y, pf.PrefixAttentionLayer(dim, m, seed=seed)(X))
    keys = torch.cat([layer.prefix_keys.expand(batch, -1, -1), X], dim=1)
    values = torch.cat([layer.prefix_values.expand(batch, -1, -1), X], dim=1)
    direct = math.sqrt(m) * exact_attention(X[:, -1:], keys, values, scale=1 / math.sqrt(dim))[:, 0] @ layer.readout
    torch.testing.assert_close(y, direct)
    KP, VP = pf.random_prefix(m, dim, seed=seed)
    fit = pf.fit_summary(KP, VP, steps=2, train_batch=2, test_batch=2, length=3, seed=seed)
    again = pf.fit_summary(KP, VP, steps=2, train_batch=2, test_batch=2, length=3, seed=seed)
    assert fit.losses == again.losses and len(fit.losses) == 2 and all(map(math.isfinite, fit.losses))
    assert math.isfinite(fit.test_error) and math.isfinite(fit.no_prefix_error)

    refuses(pf.NTKAttention, huge, argument="dim", shows=str(huge))
    refuses(pf.NTKAttention, dim, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(module, Q.float(), K.float(), V.float(), argument="Q", shows="float32")
    refuses(pf.PrefixAttentionLayer, huge, m, argument="dim", shows=str(huge))
    refuses(pf.PrefixAttentionLayer, dim, m, seed=-1, argument="seed", shows="-1")
    tensor, shown = bad
    refuses(pf.PrefixAttentionLayer(4, 2), tensor, argument="X", shows=shown)  # NaN was passed through
    refuses(layer, X.float(), argument="X", shows="float32")
    refuses(pf.fit_summary, KP, VP, steps=huge, argument="steps", shows=str(huge))  # was a hours-long loop
    refuses(pf.fit_summary, KP, VP, steps=1, lr=0.0, argument="lr", shows="0.0")
    refuses(pf.fit_summary, KP, VP, steps=1, train_batch=huge, argument="batch", shows=str(huge))


@covers(pf.prefix_limit_kernel)
@given(small, small, small, st.integers(1, 5), seeds, bad_tensors(2, 3, 4))
def test_limit_kernel_is_a_symmetric_psd_kernel_of_the_last_tokens(n1, n2, length, dim, seed, bad):
    X1, X2 = rand(seed, n1, length, dim), rand(seed + 1, n2, length + 1, dim)
    cross = pf.prefix_limit_kernel(X1, X2)
    assert cross.shape == (n1, n2)
    c = X1[:, -1] @ X2[:, -1].T / dim
    torch.testing.assert_close(cross, torch.exp(c) * (1 + c))
    scrambled = X1.clone()
    scrambled[:, :-1] = rand(seed + 2, n1, length - 1, dim) if length > 1 else scrambled[:, :-1]
    torch.testing.assert_close(pf.prefix_limit_kernel(scrambled, X2), cross)  # only the last token enters
    both = torch.cat([X1, X2[:, :length]])
    gram = pf.prefix_limit_kernel(both)
    torch.testing.assert_close(gram, gram.T)
    assert float(torch.linalg.eigvalsh(gram)[0]) > -1e-9 * float(gram.diagonal().max())  # exp(c) (1 + c) is PSD

    tensor, shown = bad
    refuses(pf.prefix_limit_kernel, tensor, argument="x1", shows=shown)
    refuses(pf.prefix_limit_kernel, X1, tensor, argument="x2", shows=shown)
    refuses(pf.prefix_limit_kernel, X1, rand(seed, n2, length, dim + 1), argument="x2", shows=str(dim + 1))
    refuses(pf.prefix_limit_kernel, X1, X2.float(), argument="x2", shows="float32")
