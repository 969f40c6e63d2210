"""Property tests of the Fourier spectra: a pure cosine neuron has all its power, its frequency and its phase
where it was built; the max-margin construction uses every frequency with aligned phases; bad input is named."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction
from simple_algebra.width import fourier_spectra as fs
from tests.properties import covers, finite, refuses, seeds


def cosine_network(p, k, frequencies, phases, amplitudes):
    """Neurons whose every vector is ``beta cos(theta + 2 pi zeta a / p)``: u (m, k, p), w (m, p)."""
    residues = torch.arange(p, dtype=torch.float64)
    rows = [torch.stack([beta * torch.cos(theta + 2 * math.pi * zeta * residues / p) for theta, beta in
                         zip(neuron_phases, neuron_betas)]) for zeta, neuron_phases, neuron_betas in
            zip(frequencies, phases, amplitudes)]
    vectors = torch.stack(rows)  # (m, k + 1, p)
    return vectors[:, :k].contiguous(), vectors[:, k].contiguous()


@covers(fs.neuron_power_spectra, fs.dominant_frequencies, fs.max_normalised_power, fs.neuron_phases,
        fs.single_cosine_fit)
@given(st.sampled_from([5, 7, 11]), st.integers(2, 3), st.data())
def test_a_cosine_neuron_is_found_at_its_frequency_with_its_phase_and_amplitude(p, k, data):
    m = data.draw(st.integers(1, 4))
    frequencies = [data.draw(st.integers(1, (p - 1) // 2)) for _ in range(m)]
    phases = [[data.draw(st.floats(-3.0, 3.0)) for _ in range(k + 1)] for _ in range(m)]
    amplitudes = [[data.draw(st.floats(0.5, 2.0)) for _ in range(k + 1)] for _ in range(m)]
    u, w = cosine_network(p, k, frequencies, phases, amplitudes)
    power = fs.neuron_power_spectra(u, w)
    assert power.shape == (m, (p + 1) // 2) and torch.allclose(power.sum(1), torch.ones(m, dtype=torch.float64))
    assert fs.dominant_frequencies(u, w).tolist() == frequencies
    assert torch.allclose(fs.max_normalised_power(u, w), torch.ones(m, dtype=torch.float64))
    expected = torch.tensor(phases, dtype=torch.float64)
    assert torch.allclose(torch.cos(fs.neuron_phases(u, w) - expected), torch.ones(m, k + 1, dtype=torch.float64))
    zeta, beta, theta = fs.single_cosine_fit(u, w)
    assert zeta.tolist() == frequencies and torch.allclose(beta, torch.tensor(amplitudes, dtype=torch.float64))
    assert torch.allclose(torch.cos(theta - expected), torch.ones(m, k + 1, dtype=torch.float64))
    for function in (fs.neuron_power_spectra, fs.dominant_frequencies, fs.max_normalised_power, fs.neuron_phases,
                     fs.single_cosine_fit):
        refuses(function, u[:, :, :4], w[:, :4], argument="odd number p", shows="4)")
        refuses(function, u.float(), w, argument="w", shows="float32")
        refuses(function, u[:, 0], w, argument="u", shows=f"({m}, {p})")
        broken = w.clone()
        broken[0, 0] = math.inf
        refuses(function, u, broken, argument="w", shows="finite")


@covers(fs.frequency_coverage, fs.frequency_shares, fs.phase_alignment, fs.fourier_summary)
@given(st.sampled_from([(3, 2), (5, 2), (7, 2), (5, 3)]), seeds)
def test_the_max_margin_construction_uses_every_frequency_with_aligned_phases(problem, seed):
    p, k = problem
    u, w = construction.max_margin_construction(p, k)
    assert fs.frequency_coverage(u, w) == 1.0 and math.isclose(fs.phase_alignment(u, w), 1.0, rel_tol=1e-9)
    summary = fs.fourier_summary(u, w)
    assert math.isclose(summary["margin_ratio"], 1.0, rel_tol=1e-9) and summary["median_max_power"] > 0.999
    random_u, random_w = fc.initial_parameters(p, k, 6, seed=seed)
    random_summary = fs.fourier_summary(random_u, random_w)
    assert finite(list(random_summary.values())) and -1 <= random_summary["phase_alignment"] <= 1
    assert 0 <= random_summary["frequency_coverage"] <= 1 and random_summary["margin_ratio"] <= 1 + 1e-9
    shares = fs.frequency_shares(u, w)  # the construction: the equal share 2 / (p - 1) for every frequency
    assert torch.allclose(shares, torch.full(((p - 1) // 2,), 2 / (p - 1), dtype=torch.float64))
    assert math.isclose(summary["frequency_balance"], 1.0, rel_tol=1e-9)
    random_shares = fs.frequency_shares(random_u, random_w)
    assert (random_shares >= 0).all() and random_shares.sum() <= 1 + 1e-12
    for function in (fs.frequency_coverage, fs.frequency_shares, fs.phase_alignment, fs.fourier_summary):
        refuses(function, u[:, :, :2], w[:, :2], argument="u", shows="p >= 3")
        refuses(function, u, w.float(), argument="w", shows="float32")
        refuses(function, "u", w, argument="u", shows="str")
    refuses(fs.phase_alignment, torch.ones_like(u), torch.ones_like(w), argument="dominant frequency", shows="non-zero")
    refuses(fs.fourier_summary, 0 * u, 0 * w, argument="zero network", shows="zero")
    refuses(fs.frequency_shares, 0 * u, 0 * w, argument="zero network", shows="zero")


@covers(fs.frequency_shares, fs.frequency_coverage)
@given(st.sampled_from([7, 11, 13]), st.integers(2, 3), st.data())
def test_cosine_neurons_give_their_size_to_their_frequency(p, k, data):
    m = data.draw(st.integers(1, 6))
    frequencies = [data.draw(st.integers(1, (p - 1) // 2)) for _ in range(m)]
    phases = [[data.draw(st.floats(-3.0, 3.0)) for _ in range(k + 1)] for _ in range(m)]
    amplitudes = [[data.draw(st.floats(0.5, 2.0)) for _ in range(k + 1)] for _ in range(m)]
    u, w = cosine_network(p, k, frequencies, phases, amplitudes)
    size = fc.neuron_norms(u, w).pow(k + 1)
    expected = torch.zeros((p - 1) // 2, dtype=torch.float64)
    for zeta, neuron_size in zip(frequencies, size):
        expected[zeta - 1] += neuron_size / size.sum()
    assert torch.allclose(fs.frequency_shares(u, w), expected)
    used = sum(share >= 1 / (p - 1) for share in expected.tolist())
    assert fs.frequency_coverage(u, w) == used / ((p - 1) // 2)
