"""Optimizer dynamics (Part IV): training runs at equal budgets and the optimizers they compare.

- ``runs``: bundled digits, a small MLP, equal gradient budgets over seeds, quartile bands.
- ``acceleration``: the unified framework's geometry, RA and RVA around SGD, momentum and Adam.
- ``delta_bar_delta``: delta-bar-delta and the regret-corrected RDBD learning rates.
"""
