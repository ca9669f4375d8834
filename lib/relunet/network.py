"""``Sequential``: a stack of layers, forward in order and backward in reverse (Tomasi, Algorithm 1, batched)."""

from __future__ import annotations

import os
import pickle
import zipfile
import zlib
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

    def backward(self, grad_out, *, input_grad: bool = True) -> np.ndarray | None:
        r"""Back-propagate :math:`\partial L/\partial z`; fills every layer's ``grads``, returns :math:`\partial L/\partial x`.

        With ``input_grad=False`` (a training step, where nothing needs :math:`\partial L/\partial x`)
        back-propagation stops at the first layer with parameters, which fills only its ``grads``,
        and ``None`` is returned.
        """
        input_grad = as_flag(input_grad, "input_grad")
        layers = self.layers
        stop = 0
        if not input_grad:  # the layers below the first with parameters need nothing
            stop = next((i for i, lay in enumerate(layers) if lay.params), 0)
        g, trusted = grad_out, False
        for i in range(len(layers) - 1, stop - 1, -1):
            layer = layers[i]
            if layer._direct_backward:
                if not trusted:
                    layer._require_cache()
                    g = as_float_array(g, "grad_out")
                if i == stop and not input_grad:
                    layer._param_grads(g)
                    return None
                g, trusted = layer._backward(g), True
            else:
                g, trusted = layer.backward(g), False
        return g if input_grad else None

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
        """Copy ``state`` into the parameters in place; names and shapes must match exactly.

        Every value must be a real, finite array of its parameter's shape; nothing is copied
        unless all are (a refused ``state`` leaves the network as it was).
        """
        if not isinstance(state, Mapping):
            raise ValueError(
                f"state must be a dict of arrays keyed by parameter name, got {type(state).__name__}"
            )
        own = {name: p for name, p, _ in self.named_parameters()}
        if set(state) != set(own):
            raise ValueError(
                f"state must have the keys {sorted(own)}, got {sorted(state, key=str)}"
            )
        arrays = {name: as_float_array(state[name], f"state[{name!r}]") for name in own}
        for name, p in own.items():
            if arrays[name].shape != p.shape:
                raise ValueError(
                    f"state[{name!r}] must have shape {p.shape}, got {arrays[name].shape}"
                )
        for name, p in own.items():
            p[...] = arrays[name]

    def save(self, path) -> None:
        """Save the weights with ``np.savez`` (no pickle) to exactly ``path``, which :meth:`load` reads.

        ``path`` is a file name (``str`` or path-like) or a binary file object open for writing.
        (``np.savez`` given a file name would append ``.npz``, and ``load(path)`` would then miss it.)
        """
        if isinstance(path, str | os.PathLike):
            try:
                f = open(path, "wb")
            except OSError as err:
                raise ValueError(f"path {str(path)!r} cannot be written: {err}") from err
            with f:
                np.savez(f, **self.state_dict())
        elif callable(getattr(path, "write", None)):  # an open binary file
            np.savez(path, **self.state_dict())
        else:
            raise ValueError(
                f"path must be a file name or a binary file open for writing, got {type(path).__name__}"
            )

    def load(self, path) -> None:
        """Load weights saved by :meth:`save` (``np.load`` with ``allow_pickle=False``).

        ``path`` is a file name or a binary file object open for reading.  Anything but an
        ``.npz`` archive of real, finite arrays with this network's names and shapes is refused
        with a ``ValueError`` naming ``path`` (and nothing is loaded).
        """
        if isinstance(path, str | os.PathLike):
            where = f"path {str(path)!r}"
        elif callable(getattr(path, "read", None)):
            where = "path (a file object)"
        else:
            raise ValueError(
                f"path must be a file name or a binary file open for reading, got {type(path).__name__}"
            )
        not_weights = f"{where} is not a weights archive written by save (an .npz of arrays)"
        try:
            archive = np.load(path, allow_pickle=False)
        except OSError as err:  # missing, a directory, unreadable
            raise ValueError(f"{where} cannot be read: {err}") from err
        except (ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
            raise ValueError(not_weights) from err  # text, a pickle, a damaged zip, ...
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{not_weights}: it holds a single array (.npy)")
        with archive:
            try:
                state = {k: archive[k] for k in archive.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                raise ValueError(f"{where} has an entry that cannot be read: {err}") from err
        try:
            self.load_state_dict(state)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def __repr__(self) -> str:
        inner = ",\n  ".join(map(repr, self.layers))
        return f"Sequential([\n  {inner}\n])"
