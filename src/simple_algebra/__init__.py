"""simple_algebra: the shared, tested implementation behind the Simple Algebra book.

Modules (one per theme; each public function's docstring names its chapter and paper):

- ``runtime``: device, seeding, compute profiles, progress bars, thread control.
- ``validation``: input checks that raise clear ``ValueError``s.
- ``metrics``: the relative error every chapter reports (kernel movement, approximation and score errors).
- ``plotting``: the house style and log-log plots with a fitted slope.
- ``explorer``: sliders in Jupyter, pre-rendered frames in the built book.
- ``kernels``: empirical (torch.func) and analytic (arc-cosine) neural tangent kernels, kernel movement (Part I).
- ``one_bit``: 1-bit vs full-precision two-layer networks trained with the straight-through estimator (Part I).
- ``softmax_networks``: two-layer softmax / exp / ReLU networks in the NTK regime, and score learning (Part I).
- ``taylor_features``: Taylor features with <phi(u), phi(v)> ~ exp(<u, v>), shared by the attention chapters.
- ``prefix_attention``: prefix attention, NTK-Attention and its closed-form prefix summary (Part I).
- ``fourier_circuits``: modular addition with k inputs, the max-margin Fourier construction, spectra (Part I).
- ``gaussian_mixture``: Gaussian mixtures under the diffusion (OU) process: density, score, Hessian, sampling.
- ``polynomial_attention``: polynomial vs softmax attention and the planted-token experiment (Part II).
- ``attention``: exact (masked, max-subtracted, float64) softmax attention, the reference for Part II.
- ``attention_gradient``: the attention-loss gradient: the exact n x n formula and the low-rank one (Part II).
- ``conv_basis``: conv(b, m) matrices, conv-basis recovery from Q and K, FFT attention in O(k n d log n) (Part II).
- ``streaming_attention``: one-pass attention with a state of fixed size and a CountSketch of the outputs (Part II).
- ``leverage_scores``: exact and fast leverage scores, row sampling, spectral error, approximate Newton (Part III).
- ``leverage_inversion``: leverage scores of diag(Ax - b)^-1 A, their gradient, and recovering x from it (Part III).
- ``softmax_regression``: a softmax-first regression, its closed-form Hessian, exact and sampled Newton (Part III).
- ``kronecker_sampling``: sampling a Kronecker product by leverage scores from its factors; query models (Part III).
- ``sketched_regression``: leverage-score sketch-and-solve regression and the classical/quantum cost models (Part III).
- ``heavy_inner_products``: planted heavy pairs, brute force vs grouped search, the omega cost model (Part III).
- ``optimizer_runs``: digits, a small MLP, equal gradient budgets over seeds, quartile bands (Part IV).
- ``acceleration``: the unified framework's geometry, RA and RVA around SGD, momentum and Adam (Part IV).
- ``delta_bar_delta``: delta-bar-delta and the regret-corrected RDBD learning rates (Part IV).
- ``diffusion``: DDPM and probability-flow samplers driven by any score; sliced Wasserstein and MMD (Part V).
- ``gradient_leakage``: a one-layer attention model, the DLG attack, clipping and noise, a DP accountant (Part V).
"""

from .runtime import describe, device, generator, one_thread, profile, progress, seed_everything, sizes

__version__ = "0.1.0"
__all__ = ["describe", "device", "generator", "one_thread", "profile", "progress", "seed_everything", "sizes"]
