r"""Ready-made networks and what the chapters read off them: the MLP, its weights and gradient as
one vector :math:`\mathbf w`, and the accuracy of its scores.

The weight vector :math:`\mathbf w` stacks every parameter array of a :class:`Sequential`,
each flattened in C order, in the order of :meth:`Sequential.named_parameters` (layer by layer,
``W`` before ``b``): :math:`\mathbf w = [\operatorname{vec}W^{(1)}; \mathbf b^{(1)}; \dots;
\operatorname{vec}W^{(L)}; \mathbf b^{(L)}]`.  Its Euclidean norm is
:meth:`Sequential.gradient_norm`; use the vectors below only where the book needs the entries
(inner products, angles, Jacobians with respect to :math:`\mathbf w`).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, as_labels
from .layers import Linear, ReLU
from .losses import Loss
from .network import Sequential


def _scale(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite standard deviation, got {value}")
    return float(value)


def mlp(widths, *, rng: np.random.Generator, scale=None, final_scale=None) -> Sequential:
    r"""The ReLU network :math:`F = F^L\circ h\circ F^{L-1}\circ\cdots\circ h\circ F^1` of ``widths``.

    ``widths`` :math:`= (d_0, d_1, \dots, d_L)`: input size, hidden widths, number of classes
    :math:`K = d_L`.  Layer :math:`l` is ``Linear(d_{l-1}, d_l)``, followed by a ``ReLU``
    :math:`h` except after the last, whose output is the scores :math:`\mathbf z`; with two widths
    this is the linear classifier :math:`\mathbf z = W\mathbf x + \mathbf b`.  Weights are drawn
    from ``rng`` layer by layer, in order (so the network equals the same ``Linear`` layers built
    by hand with that generator): :math:`W^{(l)}_{ij}\sim\mathcal N(0, \sigma_l^2)` with He's
    :math:`\sigma_l = \sqrt{2/d_{l-1}}` unless ``scale`` (hidden layers) or ``final_scale`` (the
    output layer :math:`L`) gives :math:`\sigma_l`; biases start at zero.
    """
    if isinstance(widths, str | bytes) or not hasattr(widths, "__len__"):
        raise ValueError(f"widths must be a sequence of layer sizes, got {widths!r}")
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least an input size and K, got {widths}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
            raise ValueError(f"widths must be positive integers, got {widths}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    scale, final_scale = _scale(scale, "scale"), _scale(final_scale, "final_scale")
    layers = []
    n_layers = len(widths) - 1
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = i == n_layers - 1
        layers.append(Linear(int(d_in), int(d_out), rng=rng, scale=final_scale if last else scale))
        if not last:
            layers.append(ReLU())
    return Sequential(layers)


def _network(net) -> Sequential:
    if not isinstance(net, Sequential):
        raise ValueError(f"net must be a relunet Sequential, got {type(net).__name__}")
    return net


def flat_parameters(net) -> np.ndarray:
    r"""A copy of the weight vector :math:`\mathbf w` of ``net`` (module docstring: the order)."""
    arrays = [p.ravel() for p, _ in _network(net).parameters()]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def flat_gradient(net) -> np.ndarray:
    r"""The gradient :math:`\partial L/\partial\mathbf w` left by the last ``net.backward``, as one vector.

    Entries in the order of :func:`flat_parameters`; its norm is ``net.gradient_norm()``.
    """
    arrays = [g.ravel() for _, g in _network(net).parameters()]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def loss_gradient(net, loss, x, y, *, reduction: str = "mean") -> np.ndarray:
    r"""The weight gradient of ``loss`` on ``(x, y)``, as one vector (forward in test mode, then backward).

    ``reduction="mean"`` gives :math:`\nabla_{\mathbf w} L` of the risk
    :math:`L = \frac1N\sum_n \ell_n` (back-propagating ``loss.grad``); ``"sum"`` gives
    :math:`\nabla_{\mathbf w}\sum_n \ell_n = N\,\nabla_{\mathbf w} L` (back-propagating
    ``loss.sample_grad``).  Overwrites the layers' ``grads``, like any backward pass.
    """
    net = _network(net)
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be a relunet Loss, got {type(loss).__name__}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    z = net.forward(x, train=False)
    net.backward(loss.grad(z, y) if reduction == "mean" else loss.sample_grad(z, y))
    return flat_gradient(net)


def accuracy(z, y) -> float:
    r"""The fraction of samples classified right, :math:`\frac1N\sum_n [\arg\max_i z_{ni} = y_n]`.

    ``z`` holds scores (or soft-max outputs :math:`\mathbf p`, which have the same arg max), shape
    ``(N, K)``; ``y`` integer labels in ``[0, K)``.  A tie goes to the first largest score, as in
    :meth:`Sequential.predict`.  For a network: ``accuracy(net(x), y)``, which is one minus the
    zero-one error of :func:`evaluate`.
    """
    z = as_float_array(z, "z", ndim=2)
    n, k = z.shape
    if n == 0:
        raise ValueError("z must hold at least one sample, got shape (0, K)")
    y = as_labels(y, "y", n, k)
    return float(np.mean(np.argmax(z, axis=1) == y))


def score_jacobian(net, x) -> np.ndarray:
    r"""The Jacobian :math:`A = \partial\mathbf z/\partial\mathbf w` of all scores of a batch.

    For inputs ``x`` of shape ``(N, d)`` (or ``(N, C, length)`` for a network that starts with a
    ``Conv1d``) the network's scores :math:`\mathbf z_i\in\mathbb R^K`
    are stacked into :math:`\mathbf z = (\mathbf z_1, \dots, \mathbf z_N)\in\mathbb R^{NK}`, and
    row :math:`iK + k` of :math:`A\in\mathbb R^{NK\times P}` is
    :math:`\partial z_{ik}/\partial\mathbf w`, with the :math:`P` weights in the order of
    :func:`flat_parameters`.  It is computed by back-propagation, one row at a time: a forward
    pass of sample :math:`i` alone (test mode), then the unit vector :math:`\mathbf e_k`
    back-propagated as the gradient of the scores, leaves :math:`\partial z_{ik}/\partial\mathbf w`
    in the layers' gradients (:math:`NK` backward passes in all).

    :math:`\Theta = AA^T` is the empirical tangent kernel, and for any loss
    :math:`L = \sum_i\ell_i(\mathbf z_i)` the chain rule gives :math:`\nabla_{\mathbf w}L =
    A^T\mathbf g`, where :math:`\mathbf g` stacks the score gradients
    :math:`\partial\ell_i/\partial\mathbf z_i` (``loss.sample_grad(z, y).ravel()``).  Overwrites
    the layers' ``grads``, like any backward pass.
    """
    net = _network(net)
    x = as_float_array(x, "x", ndim=(2, 3))
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one sample, got shape {x.shape}")
    rows = []
    for i in range(x.shape[0]):
        z = net.forward(x[i : i + 1], train=False)
        if z.ndim != 2:
            raise ValueError(f"net must output scores of shape (1, K), got shape {z.shape}")
        for e_k in np.eye(z.shape[1]):
            net.backward(e_k[None, :])
            rows.append(flat_gradient(net))
    return np.array(rows)
