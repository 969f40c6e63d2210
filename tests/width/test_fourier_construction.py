"""gamma* of Theorem 4.1 and Lemma 4.3's construction: the formula, known values, the width, the margin attained."""

import math

import pytest

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction

PROBLEMS = [(5, 2), (7, 2), (11, 2), (5, 3), (7, 3), (11, 3), (5, 4)]


def test_gamma_star_matches_the_formula_and_known_values():
    assert construction.max_margin(11, 2) == pytest.approx(8.206e-3, rel=1e-3)
    assert construction.max_margin(7, 3) == pytest.approx(4.464e-3, rel=1e-3)
    p, k = 13, 4
    expected = 2 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (p - 1) * p ** ((k - 1) / 2))
    assert construction.max_margin(p, k) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(("p", "k"), PROBLEMS)
def test_construction_attains_gamma_star_with_the_stated_width(p, k):
    u, w = construction.max_margin_construction(p, k)
    assert u.shape == (2 ** (2 * k - 2) * (p - 1), k, p) and w.shape == (u.shape[0], p)
    assert u.shape[0] == construction.construction_width(p, k)
    assert fc.normalised_margin(u, w) == pytest.approx(construction.max_margin(p, k), rel=1e-9)
