"""Sketching and sampling (Part III): leverage scores and the algorithms that sample by them.

- ``leverage_scores``: exact and fast (CountSketch + JL) leverage scores, row sampling, spectral error.
- ``sketched_regression``: leverage-score sketch-and-solve regression and the classical/quantum cost models.
- ``kronecker_sampling``: sampling a Kronecker product by leverage scores from its factors; query models.
- ``heavy_inner_products``: planted heavy pairs, brute force vs grouped search, the omega cost model.
"""
