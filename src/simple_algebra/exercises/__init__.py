"""The book's checkable exercises (``sa.check("ex-label", answer)``), one module per part of the book it serves.

- ``sketching``: Part III, Newton and sketching (the Kronecker chapter).

Importing this package registers every exercise with :mod:`simple_algebra.core.checking`.
"""

from . import sketching

__all__ = ["sketching"]
