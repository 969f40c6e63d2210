"""Attention: the exact reference and every fast or approximate attention of the book (Parts I and II).

- ``exact``: exact (masked, max-subtracted, float64) softmax attention, the reference for the rest.
- ``taylor_features``: Taylor features with <phi(u), phi(v)> ~ exp(<u, v>), shared by several chapters.
- ``polynomial``: polynomial vs softmax attention and the planted-token experiment.
- ``gradient``: the attention-loss gradient: the exact n x n formula and the low-rank one.
- ``conv_matrices``: conv(b, m) matrices, their FFT products, the exact k-conv decomposition, the exp telescoping.
- ``conv_basis``: conv-basis recovery from Q and K (break points), FFT attention in O(k n d log n).
- ``rope``: rotary position embeddings, and inputs whose scores have an exact conv basis.
- ``streaming``: one-pass attention with a state of fixed size and a CountSketch of the outputs.
- ``prefix``: prefix attention, NTK-Attention and its closed-form prefix summary.
"""
