r"""The soft-plus: a rectifier with its kink rounded out (Tomasi §3).

Tomasi notes that the points where the ReLU :math:`h(a) = \max(0, a)` has no derivative "could be
addressed by ... rounding out the cusps with differentiable joints".  The soft-plus of sharpness
:math:`\beta > 0` is such a joint:

.. math::

   h_\beta(a) = \frac1\beta\log\bigl(1 + e^{\beta a}\bigr), \qquad
   h_\beta'(a) = \sigma(\beta a) = \frac{1}{1 + e^{-\beta a}} .

It is infinitely differentiable, lies above the ReLU by at most
:math:`h_\beta(0) - h(0) = \log 2/\beta`, and tends to it as :math:`\beta\to\infty`; its derivative
at the former kink is :math:`\sigma(0) = \tfrac12` for every :math:`\beta`.  With :math:`\beta = 1`
it is the soft-plus :math:`\zeta` of Zhang's slides (Dugas et al. 2001).

Computed as :math:`\max(a, 0) + \log(1 + t)/\beta` and :math:`\sigma(\beta a) = 1/(1+t)` for
:math:`a \ge 0`, :math:`t/(1+t)` for :math:`a < 0`, with :math:`t = e^{-\beta|a|} \in [0, 1]`
(:math:`t = 0` when :math:`\beta|a|` overflows, which is then exact to the last bit): no
exponential can overflow.  The derivative is therefore finite, in :math:`[0, 1]`, for every input
and :math:`\beta`.  The value is at most :math:`\max(a, 0) + \log 2/\beta`; :math:`\beta` must be
at least the smallest normal float64, :math:`2.2\cdot10^{-308}` (a subnormal :math:`\beta` would
make :math:`\log 2/\beta` overflow), so :math:`\log 2/\beta < 3.2\cdot10^{307}` and the float64
value is finite for every :math:`|a| \le 10^{307}`.  For float32 input the value is finite while
that bound is below float32's largest number, :math:`3.4\cdot10^{38}` (beyond it, it overflows to
``inf`` with NumPy's warning).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array
from .layers import Layer


class Softplus(Layer):
    r"""Soft-plus :math:`h_\beta(a) = \log(1 + e^{\beta a})/\beta` elementwise, any shape (module docstring).

    ``beta`` :math:`= \beta > 0` is the sharpness: large :math:`\beta` is close to the ReLU,
    :math:`0 \le h_\beta(a) - \max(0, a) \le \log 2/\beta`.  ``backward`` multiplies by
    :math:`h_\beta'(a) = \sigma(\beta a)`, a derivative that exists everywhere, so no sub-gradient
    convention is needed.
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise ValueError(f"beta must be a positive number, got {beta!r}")
        if not (np.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be a positive finite number, got {beta}")
        if beta < np.finfo(np.float64).tiny:  # subnormal: log(2) / beta would overflow
            raise ValueError(
                f"beta must be at least {np.finfo(np.float64).tiny:.4g} (the smallest normal "
                f"float64), got {beta}"
            )
        self.beta = float(beta)

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x")
        with np.errstate(over="ignore"):  # beta |a| may overflow to inf: then t = 0, exactly right
            t = np.exp(-(self.beta * np.abs(x)))
        self._cache = (x >= 0, t)
        self._out_shape = x.shape
        return np.maximum(x, 0.0) + np.log1p(t) / self.beta

    def backward(self, grad_out):
        (nonneg, t), g = self._take_cache(grad_out)
        return g * (np.where(nonneg, 1.0, t) / (1.0 + t))  # sigma(beta a)

    def __repr__(self):
        return f"Softplus(beta={self.beta:g})"
