r"""Blocks: layers made of other layers.

``Residual(body)`` is the skip connection of He et al. (2016), the block of the MLP of
Greydanus & Kobak (2024): :math:`\mathbf y = \mathbf x + f(\mathbf x)`, where :math:`f` is a
sub-network whose output has the shape of its input.  Its Jacobian is :math:`I + J_f`, so the
error term splits and adds back:

.. math:: \mathbf e^{(l-1)} = \mathbf e^{(l)}\,(I + J_f) = \mathbf e^{(l)} + \mathbf e^{(l)} J_f,

which ``backward`` computes as ``grad_out + body.backward(grad_out)``; the body's own ``backward``
fills its parameters' gradients.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import numpy as np

from ._checks import as_float_array
from .layers import Layer
from .network import Sequential


class _Live(MutableMapping):
    """The body's parameters (or gradients) under their qualified names, read and written live.

    ``params["0.W"]`` *is* the array of the body's layer 0, and assigning
    ``params["0.W"] = a`` replaces that layer's array -- so an optimizer, ``load_state_dict`` or a
    dtype conversion done through the block reaches the layers that compute with it.
    """

    def __init__(self, body: Sequential, attr: str):
        self._body, self._attr = body, attr

    def _locate(self, name: str) -> tuple[dict, str]:
        index, _, key = name.partition(".")
        layers = self._body.layers
        if not (index.isdigit() and int(index) < len(layers)):
            raise KeyError(name)
        store = getattr(layers[int(index)], self._attr)
        if key not in store:
            raise KeyError(name)
        return store, key

    def __getitem__(self, name: str) -> np.ndarray:
        store, key = self._locate(name)
        return store[key]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        store, key = self._locate(name)
        store[key] = value

    def __delitem__(self, name: str) -> None:
        raise ValueError("the parameters of a Residual block cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        for name, _, _ in self._body.named_parameters():
            yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Residual(Layer):
    r"""Skip connection :math:`\mathbf y = \mathbf x + f(\mathbf x)` around a sub-network :math:`f`.

    ``body`` is a :class:`~relunet.Sequential`, a list of layers (made into one) or a single
    layer; :math:`f(\mathbf x)` must have the shape of :math:`\mathbf x`.  ``params`` and ``grads``
    are the body's, named ``"<index in body>.<key>"`` (so ``"2.0.W"`` in an enclosing network).
    Jacobian: :math:`\partial\mathbf y/\partial\mathbf x = I + J_f`.
    """

    def __init__(self, body):
        super().__init__()
        if isinstance(body, Layer):
            body = Sequential([body])
        elif isinstance(body, list | tuple):
            body = Sequential(body)  # raises ValueError unless a non-empty list of layers
        if not isinstance(body, Sequential):
            raise ValueError(
                f"body must be a Sequential, a list of layers or a layer, got {type(body).__name__}"
            )
        self.body = body
        self.params = _Live(body, "params")
        self.grads = _Live(body, "grads")

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x")
        h = self.body.forward(x, train=train)
        if h.shape != x.shape:
            raise ValueError(
                f"the body of a Residual block must keep the input's shape {x.shape}, got {h.shape}"
            )
        self._cache = True
        self._out_shape = x.shape
        return x + h

    def backward(self, grad_out):
        _, g = self._take_cache(grad_out)
        return g + self.body.backward(g)

    def __repr__(self):
        inner = ", ".join(map(repr, self.body.layers))
        return f"Residual([{inner}])"
