"""Diffusion (Part V): Gaussian mixtures under the diffusion process, and samplers driven by a score.

- ``gaussian_mixture``: Gaussian mixtures under the OU process: density, score, Hessian, sampling.
- ``samplers``: DDPM and probability-flow samplers driven by any score; sliced Wasserstein and MMD.
"""
