"""Fourier spectra of Fourier-circuit neurons: single-frequency power, phases, the construction's spectrum."""

import math

import pytest
import torch

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction
from simple_algebra.width import fourier_spectra as fs

PROBLEMS = [(5, 2), (7, 2), (11, 2), (5, 3), (7, 3), (11, 3), (5, 4)]


@pytest.mark.parametrize(("p", "k"), [(7, 2), (5, 3)])
def test_construction_is_a_fourier_circuit(p, k):
    u, w = construction.max_margin_construction(p, k)
    assert torch.allclose(fs.max_normalised_power(u, w), torch.ones(u.shape[0], dtype=u.dtype))
    assert fs.frequency_coverage(u, w) == 1.0
    assert fs.phase_alignment(u, w) == pytest.approx(1.0, abs=1e-12)
    # The margin is the same on every example: the construction's logits are cos(2 pi zeta (sum a - y) / p) sums.
    all_margins = fc.margins(u, w)
    assert torch.allclose(all_margins, all_margins[0].expand_as(all_margins))


def test_coverage_fails_at_initialisation_and_drops_with_a_missing_or_weak_frequency():
    # Every frequency is some random neuron's argmax, but no random neuron is single-frequency.
    for seed in range(10):
        u, w = fc.initial_parameters(11, 2, 40, seed=seed)
        assert fs.frequency_coverage(u, w) <= 0.2
        assert set(fs.dominant_frequencies(u, w).tolist()) >= {1, 2, 3, 4, 5}  # the old argmax count: full
    u, w = construction.max_margin_construction(11, 2)
    zeta = fs.dominant_frequencies(u, w)
    keep = zeta != 1
    assert fs.frequency_coverage(u[keep], w[keep]) == pytest.approx(0.8)  # frequency 1 removed
    weak = torch.where(zeta == 2, 0.7, 1.0).to(u)  # size share (0.7^3) x 1/5 < half of 1/5
    assert fs.frequency_coverage(u * weak[:, None, None], w * weak[:, None]) == pytest.approx(0.8)
    mild = torch.where(zeta == 2, 0.9, 1.0).to(u)  # 0.9^3 = 0.73: still counted
    assert fs.frequency_coverage(u * mild[:, None, None], w * mild[:, None]) == 1.0


def test_pure_cosine_has_full_power_and_its_phase():
    p, zeta, phase = 11, 3, 0.7
    residues = torch.arange(p, dtype=torch.float64)
    cosine = torch.cos(phase + 2 * math.pi * zeta * residues / p)
    u = cosine.expand(1, 2, p).clone()
    w = cosine[None].clone()
    assert fs.max_normalised_power(u, w).item() == pytest.approx(1.0, abs=1e-12)
    assert fs.dominant_frequencies(u, w).item() == zeta
    assert fs.neuron_phases(u, w)[0].tolist() == pytest.approx([phase] * 3, abs=1e-12)
    spectrum = fs.neuron_power_spectra(u, w)
    assert spectrum.shape == (1, (p + 1) // 2) and spectrum.sum().item() == pytest.approx(1.0)
