"""Newton methods (Part III): approximate Newton with sampled Hessians, and the problems it solves.

- ``iteration``: approximate Newton with backtracking and gradient descent: one loop, one record.
- ``leverage_inversion``: leverage scores of diag(Ax - b)^-1 A, their gradient, and recovering x from it.
- ``softmax_regression``: a softmax-first regression, its closed-form Hessian, exact and sampled Newton.
"""
