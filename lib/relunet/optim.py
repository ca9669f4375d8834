r"""Stochastic gradient descent with momentum (Tomasi §4) or Nesterov's accelerated gradient, and
learning-rate schedules.

Classical momentum (Polyak, 1964), as the notes write it:

.. math:: \mathbf v_{t+1} = \mu_t\mathbf v_t - \alpha\nabla L_T(\mathbf w_t),\qquad
          \mathbf w_{t+1} = \mathbf w_t + \mathbf v_{t+1}.

Nesterov's accelerated gradient in the form of Sutskever, Martens, Dahl & Hinton (2013), eqs. (3)-(4),
evaluates the gradient at the look-ahead point :math:`\mathbf w_t + \mu_t\mathbf v_t`:

.. math:: \mathbf v_{t+1} = \mu_t\mathbf v_t - \alpha\nabla L_T(\mathbf w_t + \mu_t\mathbf v_t),\qquad
          \mathbf w_{t+1} = \mathbf w_t + \mathbf v_{t+1}.

Plain gradient descent is :math:`\mu_t = 0`.  Velocities live in the optimizer, keyed by the
parameter's qualified name (``"0.W"``), never on the layers.  A learning-rate schedule
(:class:`StepDecay`, :class:`ReduceOnPlateau`) changes :math:`\alpha` between epochs of
:func:`relunet.fit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._checks import as_count, as_real


def sutskever_momentum(t: int, mu_max: float = 0.99) -> float:
    r"""The momentum schedule of Sutskever, Martens, Dahl & Hinton (2013), eq. (5):

    :math:`\mu_t = \min\{1 - 2^{-1-\log_2(\lfloor t/250\rfloor + 1)},\ \mu_{\max}\}`,

    whose first term is :math:`1 - 1/(2(\lfloor t/250\rfloor + 1))`: it starts at 0.5 and rises
    at every multiple of 250 (0.75 at t = 250, 0.833 at 500, 0.875 at 750, 0.9375 at 1750, ...)
    until it saturates at :math:`\mu_{\max}`.
    """
    t = as_count(t, "t", 0)
    mu_max = as_real(mu_max, "mu_max", 0.0, 1.0, high_open=True)
    return float(min(1.0 - 2.0 ** (-1.0 - np.log2(t // 250 + 1)), mu_max))


class SGD:
    r"""``SGD(lr, momentum=0.0, nesterov=False)``: one update of every parameter per :meth:`step`.

    ``lr`` is :math:`\alpha > 0` (settable between steps, e.g. by a schedule); ``momentum`` is a
    constant :math:`\mu\in[0, 1]` or a schedule ``t -> mu_t`` such as :func:`sutskever_momentum`
    (``t`` counts the steps taken, from 0).

    **Which point the network holds.**  The library's gradients are always computed at the
    network's current parameters, so:

    * classical momentum: the network holds :math:`\mathbf w_t`, and ``step`` applies
      :math:`\mathbf v_{t+1} = \mu_t\mathbf v_t - \alpha\mathbf g_t`,
      :math:`\mathbf w_{t+1} = \mathbf w_t + \mathbf v_{t+1}` with
      :math:`\mathbf g_t = \nabla L_T(\mathbf w_t)`;
    * ``nesterov=True``: between steps the network holds the *look-ahead point*
      :math:`\mathbf u_t = \mathbf w_t + \mu_t\mathbf v_t`, so the gradient that ``backward``
      writes is :math:`\mathbf g_t = \nabla L_T(\mathbf u_t)`, exactly the one eq. (3) asks for.
      ``step`` applies :math:`\mathbf v_{t+1} = \mu_t\mathbf v_t - \alpha\mathbf g_t` and moves
      the network to the next look-ahead point,

      .. math:: \mathbf u_{t+1} = \mathbf w_{t+1} + \mu_{t+1}\mathbf v_{t+1}
                = \mathbf u_t - \mu_t\mathbf v_t + (1 + \mu_{t+1})\mathbf v_{t+1}
                = \mathbf u_t + \mu_{t+1}\mathbf v_{t+1} - \alpha\mathbf g_t,

      (the last form uses :math:`\mathbf v_{t+1} - \mu_t\mathbf v_t = -\alpha\mathbf g_t`), which
      needs the *next* coefficient :math:`\mu_{t+1}` -- known, since a schedule is a function of
      :math:`t`.  With :math:`\mathbf v_0 = \mathbf 0`, :math:`\mathbf u_0 = \mathbf w_0`: the
      initial weights.  :meth:`iterate` returns :math:`\mathbf w_t = \mathbf u_t - \mu_t\mathbf v_t`.

    An optimizer serves one network: it binds to the layers of the first network it steps (a
    :class:`~relunet.Sequential`, or any object with ``named_parameters()``) and keeps one velocity
    array per parameter, updated in place.
    """

    def __init__(
        self,
        lr: float,
        momentum: float | Callable[[int], float] = 0.0,
        *,
        nesterov: bool = False,
    ):
        self.lr = lr
        if not callable(momentum):
            momentum = as_real(momentum, "momentum", 0.0, 1.0)
        if not isinstance(nesterov, bool):
            raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
        self.momentum, self.nesterov = momentum, nesterov
        self.t = 0
        self.velocity: dict[str, np.ndarray] = {}
        self._net, self._slots = None, []

    @property
    def lr(self) -> float:
        r"""The learning rate :math:`\alpha > 0` of the next step."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = as_real(value, "lr", 0.0, math.inf, low_open=True)

    def mu(self, t: int | None = None) -> float:
        r"""The momentum coefficient :math:`\mu_t` of step ``t`` (default: the next step)."""
        if not callable(self.momentum):
            return self.momentum
        t = self.t if t is None else t
        return as_real(self.momentum(t), f"momentum({t})", 0.0, 1.0)

    def _bind(self, net) -> list:
        """Cache, once per network, where each parameter lives and its velocity array."""
        if not callable(getattr(net, "named_parameters", None)):
            raise ValueError(
                f"net must be a relunet Sequential (or have named_parameters()), got "
                f"{type(net).__name__}"
            )
        if hasattr(net, "layers"):
            owners = [(f"{i}.{k}", lay, k) for i, lay in enumerate(net.layers) for k in lay.params]
            arrays = [lay.params[k] for _, lay, k in owners]
        else:  # any object with named_parameters(): looked up again at every step
            owners = [(name, None, name) for name, _, _ in net.named_parameters()]
            arrays = [p for _, p, _ in net.named_parameters()]
        slots = []
        for (name, layer, key), p in zip(owners, arrays, strict=True):
            v = self.velocity.get(name)
            if v is None or v.shape != p.shape:
                v = self.velocity[name] = np.zeros_like(p)
            slots.append((name, layer, key, v))
        self._net, self._slots = net, slots
        return slots

    def _pairs(self, net):
        """``(parameter, gradient, velocity)`` for every slot."""
        slots = self._slots if net is self._net and net is not None else self._bind(net)
        if slots and slots[0][1] is None:
            found = {name: (p, g) for name, p, g in net.named_parameters()}
            return [(*found[name], v) for name, _, _, v in slots]
        return [(layer.params[key], layer.grads[key], v) for _, layer, key, v in slots]

    def step(self, net) -> None:
        """One update of every parameter of ``net`` from the gradients its last ``backward`` wrote."""
        lr, mu = self._lr, self.mu()
        mu_next = self.mu(self.t + 1) if self.nesterov else 0.0
        for p, g, v in self._pairs(net):
            if g.shape != p.shape:
                raise ValueError(f"gradient of shape {g.shape} for a parameter of shape {p.shape}")
            if mu == 0.0:
                np.multiply(g, -lr, out=v)  # v_{t+1} = -alpha g_t
            else:
                v *= mu
                v -= lr * g  # v_{t+1} = mu_t v_t - alpha g_t
            if self.nesterov:  # u_{t+1} = u_t + mu_{t+1} v_{t+1} - alpha g_t
                p += mu_next * v
                p -= lr * g
            else:  # w_{t+1} = w_t + v_{t+1}
                p += v
        self.t += 1

    def iterate(self, net) -> dict[str, np.ndarray]:
        r"""A copy of the iterate :math:`\mathbf w_t`, keyed by name: the network's parameters for
        classical momentum, :math:`\mathbf u_t - \mu_t\mathbf v_t` for Nesterov."""
        pairs = self._pairs(net)  # binds to net if needed
        if not self.nesterov:
            return {s[0]: p.copy() for s, (p, _, _) in zip(self._slots, pairs, strict=True)}
        mu = self.mu()
        return {s[0]: p - mu * v for s, (p, _, v) in zip(self._slots, pairs, strict=True)}


class StepDecay:
    r"""Multiply :math:`\alpha` by ``factor`` after every ``every``-th epoch:
    :math:`\alpha_e = \alpha_0\,\text{factor}^{\lfloor e/\text{every}\rfloor}` for epoch
    :math:`e + 1` -- the notes' "divide by 10" on a fixed timetable."""

    def __init__(self, every: int, factor: float = 0.1):
        self.every = as_count(every, "every", 1)
        self.factor = as_real(factor, "factor", 0.0, 1.0, low_open=True, high_open=True)

    def step(self, epoch: int, train_risk: float, lr: float) -> float:
        """The learning rate for the epoch after ``epoch`` (``train_risk`` is not used)."""
        return lr * self.factor if as_count(epoch, "epoch", 1) % self.every == 0 else lr

    def __repr__(self) -> str:
        return f"StepDecay(every={self.every}, factor={self.factor})"


class ReduceOnPlateau:
    r"""Multiply :math:`\alpha` by ``factor`` when the training risk has stopped improving -- the
    notes' "when progress starts to saturate, divide :math:`\alpha` by 10".

    An epoch *improves* if its training risk is below :math:`(1 - \text{threshold})` times the best
    risk seen so far.  After ``patience`` consecutive epochs without improvement, :math:`\alpha`
    is multiplied by ``factor`` and the count starts again.  The schedule remembers the best risk
    across calls of :func:`relunet.fit`; :meth:`reset` forgets it (use one instance per run).
    """

    def __init__(self, patience: int = 5, factor: float = 0.1, threshold: float = 1e-3):
        self.patience = as_count(patience, "patience", 1)
        self.factor = as_real(factor, "factor", 0.0, 1.0, low_open=True, high_open=True)
        self.threshold = as_real(threshold, "threshold", 0.0, 1.0, high_open=True)
        self.reset()

    def reset(self) -> None:
        self.best, self.bad_epochs = math.inf, 0

    def step(self, epoch: int, train_risk: float, lr: float) -> float:
        """The learning rate for the epoch after ``epoch``, given that epoch's training risk."""
        as_count(epoch, "epoch", 1)
        risk = as_real(train_risk, "train_risk", 0.0, math.inf)
        if risk < self.best * (1.0 - self.threshold) or self.best == math.inf:
            self.best, self.bad_epochs = risk, 0
            return lr
        self.bad_epochs += 1
        if self.bad_epochs < self.patience:
            return lr
        self.bad_epochs = 0
        return lr * self.factor

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(patience={self.patience}, factor={self.factor}, "
            f"threshold={self.threshold})"
        )
