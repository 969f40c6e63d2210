"""Small helpers of the attention property tests: seeded random tensors of a drawn shape."""

import torch
from hypothesis import strategies as st

sizes = st.integers(1, 6)


def rand(seed: int, *shape: int, scale: float = 1.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniform on [-scale, scale], drawn from ``seed`` (so Hypothesis shrinks to a small seed)."""
    draw = torch.Generator().manual_seed(seed)
    return (scale * (2 * torch.rand(shape, generator=draw, dtype=torch.float64) - 1)).to(dtype)
