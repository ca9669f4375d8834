"""``Sequential``: a stack of layers, forward in order and backward in reverse (Tomasi, Algorithm 1, batched)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ._checks import as_flag, as_float_array
from .layers import Layer


class Sequential:
    r"""The composition :math:`F = F^L\circ\cdots\circ F^1` of its layers; its output is the scores :math:`\mathbf z`.

    ``forward`` validates the network's input once (real, finite, the first layer's rank) and
    ``backward`` its ``grad_out`` once; in between, each layer gets the array the previous one
    computed, unchecked but for the layers' own shape checks (see :mod:`relunet.layers`).  A layer
    that overrides ``forward``/``backward`` itself is called through them, and what it returns is
    validated before the next layer sees it.
    """

    def __init__(self, layers: list[Layer]):
        if isinstance(layers, Layer):
            raise ValueError(
                f"layers must be a list of relunet layers, got a single {type(layers).__name__}: "
                "write Sequential([layer])"
            )
        if isinstance(layers, str | bytes | Mapping) or not hasattr(layers, "__iter__"):
            raise ValueError(
                f"layers must be a list of relunet layers, got {type(layers).__name__}"
            )
        layers = list(layers)
        if not layers or not all(isinstance(lay, Layer) for lay in layers):
            raise ValueError("layers must be a non-empty list of relunet layers")
        self.layers = layers

    def forward(self, x, *, train: bool = False) -> np.ndarray:
        """The scores :math:`\\mathbf z = F(\\mathbf x)` of the batch ``x`` (dropout active if ``train``)."""
        train = as_flag(train, "train")
        x = as_float_array(x, "x", ndim=getattr(self.layers[0], "_ndim", None))
        trusted = True  # x is a finite floating array
        for layer in self.layers:
            if layer._direct_forward:
                if not trusted:
                    x = as_float_array(x, "x")
                x, trusted = layer._forward(x, train), True
            else:
                x, trusted = layer.forward(x, train=train), False
        return x

    __call__ = forward

    def backward(self, grad_out) -> np.ndarray:
        """Back-propagate :math:`\\partial L/\\partial z`; fills every layer's ``grads``, returns :math:`\\partial L/\\partial x`."""
        g, trusted = grad_out, False
        for layer in reversed(self.layers):
            if layer._direct_backward:
                if not trusted:
                    layer._require_cache()
                    g = as_float_array(g, "grad_out")
                g, trusted = layer._backward(g), True
            else:
                g, trusted = layer.backward(g), False
        return g

    def predict(self, x) -> np.ndarray:
        """The class :math:`\\hat y = \\arg\\max_i z_i` (test mode: no dropout)."""
        return np.argmax(self.forward(x, train=False), axis=1)

    def named_parameters(self):
        """``(name, array, gradient)`` triples, named ``"<layer index>.<key>"``, in a stable order."""
        for i, layer in enumerate(self.layers):
            for key in layer.params:
                yield f"{i}.{key}", layer.params[key], layer.grads[key]

    def parameters(self):
        """``(array, gradient)`` pairs in a stable order."""
        for _, p, g in self.named_parameters():
            yield p, g

    def gradient_norm(self) -> float:
        """Euclidean norm of the whole gradient vector :math:`\\|\\partial L/\\partial\\mathbf w\\|`."""
        return float(np.sqrt(sum(np.sum(g * g) for _, g in self.parameters())))

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter, keyed by qualified name."""
        return {name: p.copy() for name, p, _ in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters in place; names and shapes must match exactly."""
        own = {name: p for name, p, _ in self.named_parameters()}
        if set(state) != set(own):
            raise ValueError(f"state must have the keys {sorted(own)}, got {sorted(state)}")
        for name, p in own.items():
            if state[name].shape != p.shape:
                raise ValueError(
                    f"state[{name!r}] must have shape {p.shape}, got {state[name].shape}"
                )
        for name, p in own.items():
            p[...] = state[name]

    def save(self, path) -> None:
        """Save the weights with ``np.savez`` (no pickle) to exactly ``path``, which :meth:`load` reads.

        (``np.savez`` given a file name would append ``.npz``, and ``load(path)`` would then miss it.)
        """
        if isinstance(path, str | os.PathLike):
            with open(path, "wb") as f:
                np.savez(f, **self.state_dict())
        else:  # an open binary file
            np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        """Load weights saved by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as f:
            self.load_state_dict({k: f[k] for k in f.files})

    def __repr__(self) -> str:
        inner = ",\n  ".join(map(repr, self.layers))
        return f"Sequential([\n  {inner}\n])"
