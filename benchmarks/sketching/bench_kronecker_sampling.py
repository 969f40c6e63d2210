"""Leverage-score sampling of a Kronecker product from its factors vs from the materialised product.

Chapter: quantum speedup for spectral approximation of Kronecker products (Gao, Song, Zhang; arXiv 2402.07027).
Two coherent factors ``A1, A2`` of n = 1000 rows and d = 6 columns (quick: n = 100), rows scaled by Student-t(1.5)
draws, float64; the product ``A = A1 (x) A2`` has n^2 = 10^6 rows and 36 columns (288 MB). Both sides draw s = 10^4
rows of ``A`` by its leverage scores and return the sampled Gram matrix ``H~``:

- baseline: exact leverage scores of the materialised product (thin QR of the 10^6 x 36 matrix), then s rows drawn
  from the 10^6 probabilities. Building ``torch.kron(A1, A2)`` happens in ``setup`` and is NOT timed, which
  favours the baseline;
- ours: leverage scores of the two factors (two 1000 x 6 QRs), then ``(i, j)`` drawn from the product distribution
  ``sigma_i(A1) sigma_j(A2) / 36`` and the rows ``a1_i (x) a2_j`` built from the factors
  (``kronecker_sampling.sampled_kronecker_gram``). The product is never formed.

This is a classical measurement; the paper's quantum algorithm is not run (it cannot be).

The two samplers draw different random rows, so their ``H~`` differ. What should agree is what both claim: ``H~``
is a spectral approximation of ``H = A^T A``. Each side therefore returns the whitened estimate
``H^{-1/2} H~ H^{-1/2}`` (``H^{-1/2}`` computed once in setup), which is ``I`` up to the spectral error
``eps = ||H^{-1/2} H~ H^{-1/2} - I||_2`` (about 0.1 here for both). The harness compares the two by
``max |W_ours - W_base| / max |W_base|``, at most about ``eps_ours + eps_base``: tolerance 0.5 says that both are
good spectral approximations, not that they drew the same rows. ``measurements`` records both spectral errors.
"""

from __future__ import annotations

import functools

from harness import Benchmark

D = 6
SAMPLES = 10_000
TAIL = 1.5


@functools.cache
def _problem(quick: bool):
    import torch

    import simple_algebra as sa
    from simple_algebra.sketching import kronecker_sampling as ks

    n = 100 if quick else 1000
    A1 = ks.coherent_factor(n, D, TAIL, seed=0, device=sa.device())
    A2 = ks.coherent_factor(n, D, TAIL, seed=1, device=sa.device())
    H = ks.kronecker_gram(A1, A2)
    values, vectors = torch.linalg.eigh(H)
    root = vectors / values.sqrt()  # H^{-1/2} = V diag(lambda^{-1/2}) V^T; V^T cancels in the whitened norm
    return A1, A2, torch.kron(A1, A2), H, root


def _whitened(root, H_approx):
    return root.T @ H_approx @ root


def _materialised(quick: bool):
    from simple_algebra.sketching import leverage_scores as ls

    _, _, A, _, _ = _problem(quick)
    return ls.sampled_gram(A, SAMPLES, ls.leverage_scores(A), seed=0)


def _factored(quick: bool):
    from simple_algebra.sketching import kronecker_sampling as ks

    A1, A2, _, _, _ = _problem(quick)
    return ks.sampled_kronecker_gram(A1, A2, SAMPLES, "leverage", seed=0)


def setup(quick: bool):
    A1, _, _, _, root = _problem(quick)
    n = A1.shape[0]
    sizes = {"n_per_factor": n, "d_per_factor": D, "product_rows": n * n, "product_columns": D * D,
             "samples": SAMPLES, "student_t_tail": TAIL, "dtype": "float64", "materialised_product_untimed": True}
    return (lambda: _whitened(root, _materialised(quick))), (lambda: _whitened(root, _factored(quick))), sizes


def measurements(quick: bool):
    from simple_algebra.sketching.leverage_scores import spectral_error

    _, _, A, H, _ = _problem(quick)
    return {"spectral_error_materialised": spectral_error(H, _materialised(quick)),
            "spectral_error_factored": spectral_error(H, _factored(quick)),
            "materialised_megabytes": A.numel() * A.element_size() / 2**20}


BENCHMARKS = [
    Benchmark("kronecker-leverage-sampling", baseline="leverage sampling of the materialised n^2-row product",
              ours="product-distribution sampling from the two factors", target_ratio=100.0, tolerance=0.5,
              setup=setup, measurements=measurements),
]
