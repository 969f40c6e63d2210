"""Property tests of gamma* and Lemma 4.3's construction."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.width import fourier_circuits as fc
from simple_algebra.width import fourier_construction as construction
from tests.properties import covers, finite, huge_sizes, refuses

primes = st.sampled_from([3, 5, 7])


@covers(construction.max_margin, construction.construction_width, construction.max_margin_construction)
@given(st.sampled_from([(3, 2), (5, 2), (7, 2), (3, 3), (5, 3)]), huge_sizes)
def test_the_construction_has_the_promised_width_and_attains_gamma_star(problem, huge):
    p, k = problem
    u, w = construction.max_margin_construction(p, k)
    assert u.shape == (construction.construction_width(p, k), k, p) == (2 ** (2 * k - 2) * (p - 1), k, p) and finite((u, w))
    gamma = construction.max_margin(p, k)
    assert math.isclose(gamma, 2 * math.factorial(k) / ((2 * k + 2) ** ((k + 1) / 2) * (p - 1) * p ** ((k - 1) / 2)))
    assert math.isclose(fc.normalised_margin(u, w), gamma, rel_tol=1e-9)
    refuses(construction.max_margin, 9, k, argument="p", shows="9")
    refuses(construction.construction_width, p, 65, argument="k", shows="65")
    refuses(construction.max_margin_construction, 7, 8, argument="neurons", shows="98304")
    refuses(construction.max_margin_construction, p, k, dtype=torch.int64, argument="dtype", shows="int64")
    refuses(construction.max_margin_construction, huge, k, argument="p", shows=str(huge))
