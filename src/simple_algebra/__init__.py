"""simple_algebra: the shared, tested implementation behind the Simple Algebra book.

Subpackages, by algorithm family (each public function's docstring names its chapter and paper; each subpackage's
docstring lists its modules):

- ``core``: infrastructure: runtime (device, seeds, profiles), validation, metrics, plotting, explorers.
- ``width``: Part I: neural tangent kernels, 1-bit and softmax networks, Fourier circuits.
- ``attention``: the exact reference, Taylor features, polynomial, low-rank gradient, conv-basis, streaming and
  prefix attention (Parts I and II).
- ``sketching``: leverage scores and the algorithms that sample by them (Part III).
- ``newton``: approximate Newton with sampled Hessians and the problems it solves (Part III).
- ``optimizers``: training runs at equal budgets, RA/RVA acceleration, delta-bar-delta (Part IV).
- ``diffusion``: Gaussian mixtures under the diffusion process and samplers (Part V).
- ``privacy``: gradient leakage in attention and its defences (Part V).

Data flows one way: the book's notebooks import this package, which imports torch and numpy; no subpackage imports
a chapter or a benchmark. The runtime's everyday names and ``glue`` are re-exported here (``sa.sizes``,
``sa.one_thread``, ``sa.glue``, ...), and so is ``sa.check``, which checks a
student's answer to an exercise (``core.checking``; the exercises are registered in ``exercises``).
"""

from .core.checking import check, exercise_inputs
from .core.glue import glue
from .core.runtime import describe, device, generator, one_thread, profile, progress, seed_everything, sizes

__version__ = "0.1.0"
__all__ = ["check", "describe", "device", "exercise_inputs", "generator", "glue", "one_thread", "profile", "progress",
           "seed_everything", "sizes"]
