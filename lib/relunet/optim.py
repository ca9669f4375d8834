r"""Stochastic gradient descent with momentum, written as in Tomasi §4:

.. math:: \mathbf v_{t+1} = \mu_t\mathbf v_t - \alpha\nabla L_T(\mathbf w_t),\qquad \mathbf w_{t+1} = \mathbf w_t + \mathbf v_{t+1}.

Plain gradient descent is :math:`\mu_t = 0`.  Velocities live in the optimizer, keyed by the
parameter's qualified name (``"0.W"``), never on the layers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def sutskever_momentum(t: int, mu_max: float = 0.99) -> float:
    r"""The momentum schedule of Sutskever, Martens, Dahl & Hinton (2013), eq. (5):

    :math:`\mu_t = \min\{1 - 2^{-1-\log_2(\lfloor t/250\rfloor + 1)},\ \mu_{\max}\}`,

    whose first term is :math:`1 - 1/(2(\lfloor t/250\rfloor + 1))`: it starts at 0.5 and rises
    at every multiple of 250 (0.75 at t = 250, 0.833 at 500, 0.875 at 750, 0.9375 at 1750, ...)
    until it saturates at :math:`\mu_{\max}`.
    """
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    if not 0.0 <= mu_max < 1.0:
        raise ValueError(f"mu_max must lie in [0, 1), got {mu_max}")
    return float(min(1.0 - 2.0 ** (-1.0 - np.log2(t // 250 + 1)), mu_max))


class SGD:
    """``SGD(lr, momentum)``: ``momentum`` is a constant :math:`\\mu` or a schedule ``t -> mu_t``."""

    def __init__(self, lr: float, momentum: float | Callable[[int], float] = 0.0):
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not callable(momentum) and not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"momentum must lie in [0, 1] or be a schedule t -> mu_t, got {momentum!r}"
            )
        self.lr, self.momentum = float(lr), momentum
        self.t = 0
        self.velocity: dict[str, np.ndarray] = {}

    def mu(self) -> float:
        """The momentum coefficient :math:`\\mu_t` of the current step."""
        return float(self.momentum(self.t) if callable(self.momentum) else self.momentum)

    def step(self, net) -> None:
        """One update of every parameter of ``net`` from the gradients its last ``backward`` wrote."""
        mu = self.mu()
        for name, p, g in net.named_parameters():
            v = self.velocity.get(name)
            v = -self.lr * g if v is None else mu * v - self.lr * g
            self.velocity[name] = v
            p += v
        self.t += 1
