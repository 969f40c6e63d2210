"""Rotary position embeddings: rotations, relative positions, exact frequencies, inputs with a conv basis."""

import pytest
import torch

from simple_algebra.attention import rope


def test_rotation_preserves_norms_and_scores_depend_on_the_offset_alone():
    draw = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, dtype=torch.float64, generator=draw), torch.randn(8, dtype=torch.float64, generator=draw)
    frequencies = rope.rope_frequencies(8)
    positions = torch.arange(40)
    Q = rope.rotate(q.expand(40, -1), positions, frequencies)
    K = rope.rotate(k.expand(40, -1), positions, frequencies)
    torch.testing.assert_close(Q.norm(dim=1), q.norm().expand(40), rtol=1e-12, atol=0)
    scores = Q @ K.T
    # q R(i)^T R(j) k = q R(j - i) k: every diagonal of the score matrix is constant.
    for offset in (-7, 0, 3, 20):
        diagonal = torch.diagonal(scores, offset)
        assert float((diagonal - diagonal[0]).abs().max()) < 1e-12
    # ...and the scores really do change with the offset (a rotation by zero would pass the line above).
    assert float((torch.diagonal(scores, 1)[0] - torch.diagonal(scores, 5)[0]).abs()) > 1e-3


def test_frequencies_are_exact_multiples_so_positions_times_theta_are_exact():
    frequencies = rope.rope_frequencies(64)
    assert frequencies.shape == (32,) and float(frequencies[0]) == 1.0
    assert torch.all(frequencies[1:] < frequencies[:-1])
    assert torch.equal(frequencies * 2**20, torch.round(frequencies * 2**20))
    large = torch.tensor(2.0**29, dtype=torch.float64)
    assert torch.equal((large * frequencies) / large, frequencies)


def test_queries_and_keys_have_toeplitz_scores_inside_each_segment():
    Q, K, _, points = rope.rope_inputs(48, 6, 3, seed=1)
    scores = torch.tril(Q @ K.T)
    bounds = points + [48]
    for start, stop in zip(bounds, bounds[1:]):
        for column in range(start + 1, stop):
            # column j inside the segment is column `start` shifted down by j - start rows
            shift = column - start
            torch.testing.assert_close(scores[column:, column], scores[start:48 - shift, start], rtol=0, atol=1e-12)


def test_same_seed_same_inputs():
    first, second = rope.rope_inputs(32, 4, 2, seed=5), rope.rope_inputs(32, 4, 2, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(first[:3], second[:3])) and first[3] == second[3]
    assert not torch.equal(first[0], rope.rope_inputs(32, 4, 2, seed=6)[0])


@pytest.mark.parametrize("call", [
    lambda: rope.rope_frequencies(7),
    lambda: rope.rope_frequencies(1),
    lambda: rope.rope_queries_keys(torch.ones(4), torch.ones(2, 4), [1, 3], 8),
    lambda: rope.rope_queries_keys(torch.ones(4), torch.ones(2, 4), [0, 0], 8),
    lambda: rope.rope_queries_keys(torch.ones(4), torch.ones(3, 4), [0, 3], 8),
    lambda: rope.rope_inputs(8, 4, 9),
    lambda: rope.rope_inputs(8, 4, 2, eps=-1.0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
