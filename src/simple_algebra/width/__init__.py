"""Part I, width: networks in the kernel regime and what width buys.

- ``kernels``: empirical tangent kernels of any model (torch.func), kernel movement and spectra, recorded training.
- ``relu_mlp``: the NTK-parametrised ReLU network, its factorised kernel and its arc-cosine infinite-width limit.
- ``one_bit``: 1-bit vs full-precision two-layer networks trained with the straight-through estimator.
- ``softmax_networks``: two-layer softmax / exp / ReLU networks in the NTK regime, and score learning.
- ``fourier_circuits``: modular addition with k inputs: the data, the network, its margins, training.
- ``fourier_construction``: the largest margin gamma* (Theorem 4.1) and the construction that attains it (Lemma 4.3).
- ``fourier_spectra``: power spectra, dominant frequencies and phases of trained Fourier-circuit neurons.
"""
