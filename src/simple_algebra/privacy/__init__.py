"""Privacy (Part V): gradient leakage in attention, and the defences against it.

- ``attention_model``: the one-layer attention model, its loss and the gradient a client shares.
- ``gradient_leakage``: the DLG attack, the rank of the gradient map, leakage trials.
- ``defences``: clip and noise (the Gaussian mechanism), its privacy cost, noisy SGD.
"""
