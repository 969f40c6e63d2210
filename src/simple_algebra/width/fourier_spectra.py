"""The Fourier spectra of a trained Fourier-circuit network: power per frequency, dominant frequencies, phases.

Each neuron of :mod:`simple_algebra.width.fourier_circuits` has ``k`` embeddings and one output vector over the
``p`` residues; their DFT says whether the neuron is a single-frequency cosine (Theorem 4.1's max-margin neurons are),
which frequency it uses, and whether its phases obey ``theta_{u_1} + ... + theta_{u_k} = theta_w``.

Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
"""

from __future__ import annotations

import torch

from .fourier_circuits import _check_parameters, neuron_norms, normalised_margin
from .fourier_construction import max_margin


def _spectra(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Full two-sided DFT of every vector of every neuron: ``(m, k+1, p)`` complex."""
    _check_parameters(u, w)
    if u.shape[-1] % 2 == 0:
        # Folding zeta with p - zeta (neuron_power_spectra) pairs every frequency only for an odd p.
        raise ValueError(f"u and w must have an odd number p of residues, got shape {tuple(u.shape)}")
    return torch.fft.fft(torch.cat([u, w[:, None, :]], dim=1), dim=-1)


def neuron_power_spectra(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Normalised power of each neuron at each frequency ``zeta = 0..(p-1)/2``: shape ``(m, (p+1)/2)``.

    With ``F = DFT`` over the ``p`` residues of each of the neuron's ``k+1`` vectors, the power at ``zeta >= 1`` is
    ``sum_vectors (|F[zeta]|^2 + |F[p-zeta]|^2) / sum_vectors sum_z |F[z]|^2`` (both sides of the spectrum, so a
    pure cosine has power exactly 1); ``zeta = 0`` is the constant part. Rows sum to 1.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    power = _spectra(u, w).abs().pow(2).sum(dim=1)
    p = power.shape[-1]
    half = (p - 1) // 2
    folded = torch.cat([power[:, :1], power[:, 1:half + 1] + power[:, p - half:].flip(-1)], dim=1)
    total = folded.sum(dim=1, keepdim=True)
    return folded / torch.where(total > 0, total, torch.ones_like(total))


def dominant_frequencies(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The frequency ``zeta in 0..(p-1)/2`` that carries most of each neuron's power: ``(m,)`` long.

    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    return neuron_power_spectra(u, w).argmax(dim=1)


def max_normalised_power(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Each neuron's largest normalised power (1 for a single-frequency cosine neuron): ``(m,)``.

    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    return neuron_power_spectra(u, w).max(dim=1).values


def frequency_shares(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Share of the network's size carried by single-frequency neurons at each frequency ``zeta = 1..(p-1)/2``.

    A neuron counts for ``zeta`` when more than half of its normalised power is at ``zeta`` (so at most one
    frequency per neuron), with weight ``||theta_i||^{k+1} / ||theta||_{2,k+1}^{k+1}``, the measure in which the
    normalised margin is taken. Shape ``((p-1)/2,)``, entries in ``[0, 1]`` summing to at most 1. Lemma 4.3's
    construction gives every frequency the equal share ``2 / (p - 1)``; a random network, whose neurons spread
    their power over all frequencies, gives almost nothing to any. Chapter: Fourier circuits (Li, Liang, Shi,
    Song, Zhou; arXiv 2402.09469).
    """
    spectra = neuron_power_spectra(u, w)
    k = u.shape[1]
    size = neuron_norms(u, w).pow(k + 1)
    if float(size.sum()) == 0.0:
        raise ValueError("the zero network has no frequencies")
    single = (spectra[:, 1:] > 0.5).to(size.dtype)
    return (single * size[:, None]).sum(dim=0) / size.sum()


def frequency_coverage(u: torch.Tensor, w: torch.Tensor) -> float:
    """Fraction of the frequencies ``1..(p-1)/2`` that the network uses, in the sense of Theorem 4.1.

    A frequency counts as used when the single-frequency neurons at it (:func:`frequency_shares`) carry at least
    half of its equal share ``2 / (p - 1)`` of the network's size. 1 for Lemma 4.3's construction; near 0 for a
    random network. (Counting each neuron's dominant frequency instead would give 1 at initialisation already:
    any few dozen random neurons have every argmax.) Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou;
    arXiv 2402.09469).
    """
    shares = frequency_shares(u, w)
    return float((shares >= 0.5 / shares.numel()).double().mean())


def neuron_phases(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Phases ``(theta_{u_1}, ..., theta_{u_k}, theta_w)`` at each neuron's dominant frequency: ``(m, k+1)``.

    A vector ``beta cos(theta + 2 pi zeta a / p)`` has DFT ``F[zeta] = (p beta / 2) e^{i theta}``, so
    ``theta = arg F[zeta]``. Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    spectra = _spectra(u, w)
    zeta = dominant_frequencies(u, w)
    index = zeta[:, None, None].expand(-1, spectra.shape[1], 1)
    return spectra.gather(2, index)[..., 0].angle()


def single_cosine_fit(u: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The best single cosine ``beta cos(theta + 2 pi zeta a / p)`` for each vector at its neuron's dominant frequency.

    ``beta = 2 |F[zeta]| / p`` and ``theta = arg F[zeta]`` (least squares onto that frequency). Returns
    ``zeta (m,)``, ``beta (m, k+1)`` and ``theta (m, k+1)``, the last column for ``w``.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    spectra = _spectra(u, w)
    zeta = dominant_frequencies(u, w)
    index = zeta[:, None, None].expand(-1, spectra.shape[1], 1)
    coefficient = spectra.gather(2, index)[..., 0]
    return zeta, 2 * coefficient.abs() / u.shape[-1], coefficient.angle()


def phase_alignment(u: torch.Tensor, w: torch.Tensor) -> float:
    """Mean over neurons of ``cos(sum_j theta_{u_j} - theta_w)``: 1 when every neuron obeys Theorem 4.1's relation.

    Each neuron is weighted by its share ``||theta_i||^{k+1} / ||theta||_{2,k+1}^{k+1}`` of the network's size,
    so neurons the norm penalty has switched off do not count. Neurons whose dominant frequency is 0 are left out.
    Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    phases = neuron_phases(u, w)
    k = u.shape[1]
    relation = torch.cos(phases[:, :k].sum(dim=1) - phases[:, k])
    weight = neuron_norms(u, w).pow(k + 1) * (dominant_frequencies(u, w) > 0)
    if float(weight.sum()) == 0.0:
        raise ValueError("no neuron has a non-zero dominant frequency")
    return float((relation * weight).sum() / weight.sum())


def fourier_summary(u: torch.Tensor, w: torch.Tensor) -> dict[str, float]:
    """The chapter's numbers for one network: normalised margin, its ratio to ``gamma*``, median max power,
    frequency coverage (:func:`frequency_coverage`), the smallest frequency share times ``(p-1)/2``
    (``frequency_balance``, 1 for equal shares) and phase alignment. Chapter: Fourier circuits (Li, Liang, Shi, Song, Zhou; arXiv 2402.09469).
    """
    _, k, p = _check_parameters(u, w)
    margin = normalised_margin(u, w)
    return {"normalised_margin": margin, "margin_ratio": margin / max_margin(p, k),
            "median_max_power": float(max_normalised_power(u, w).median()),
            "frequency_coverage": frequency_coverage(u, w),
            "frequency_balance": float(frequency_shares(u, w).min()) * ((p - 1) // 2),
            "phase_alignment": phase_alignment(u, w)}
