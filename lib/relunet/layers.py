r"""Layers: forward/backward pairs with an explicit cache (cs231n style).

Every layer has ``params`` and ``grads`` (dicts with the same keys and shapes), a
``forward(x, train=False)`` that stores in ``self._cache`` what ``backward`` needs, and a
``backward(grad_out)`` that *assigns* ``self.grads`` and returns :math:`\partial L/\partial x`.
In Zhang's notation, ``backward`` maps the error term :math:`e^l` to :math:`e^{l-1} = e^l J_{F^l}`.
Arrays are batch-first: ``(N, d)`` for vectors, ``(N, C, L)`` for 1-D signals.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import as_float_array, check_shape


class Layer:
    """Base class: parameter dicts, the cache, and the shape checks of the contract."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def forward(self, x, *, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out) -> np.ndarray:
        raise NotImplementedError

    def _take_cache(self, grad_out, out_shape_name: str = "grad_out"):
        """Return the cache and the validated ``grad_out`` (same shape as the last output)."""
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward called before forward")
        g = as_float_array(grad_out, out_shape_name)
        if g.shape != self._out_shape:
            raise ValueError(
                f"{out_shape_name} must have shape {self._out_shape} (the output's), got {g.shape}"
            )
        return self._cache, g

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Layer):
    r"""Affine map :math:`\mathbf a = W\mathbf x + \mathbf b` for every sample (``x @ W.T + b``).

    ``W`` has shape ``(d_out, d_in)``, as in Tomasi's :math:`W^{(k)}\tilde{\mathbf x}^{(k-1)}`.
    He initialisation: :math:`W_{ij}\sim\mathcal N(0, 2/d_{in})`, :math:`\mathbf b = 0`.
    Gradients: :math:`\partial L/\partial W = G^T X`, :math:`\partial L/\partial\mathbf b = \sum_n \mathbf g_n`,
    :math:`\partial L/\partial X = G W`.
    """

    def __init__(
        self, d_in: int, d_out: int, *, rng: np.random.Generator, scale: float | None = None
    ):
        super().__init__()
        if int(d_in) < 1 or int(d_out) < 1:
            raise ValueError(f"d_in and d_out must be positive, got {d_in}, {d_out}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator")
        std = np.sqrt(2.0 / d_in) if scale is None else float(scale)
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.params = {"W": rng.normal(0.0, std, size=(d_out, d_in)), "b": np.zeros(d_out)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x", ndim=2)
        check_shape(x, (None, self.d_in), "x")
        self._cache = x
        out = x @ self.params["W"].T + self.params["b"]
        self._out_shape = out.shape
        return out

    def backward(self, grad_out):
        x, g = self._take_cache(grad_out)
        self.grads["W"] = g.T @ x
        self.grads["b"] = g.sum(axis=0)
        return g @ self.params["W"]

    def __repr__(self):
        return f"Linear({self.d_in}, {self.d_out})"


class ReLU(Layer):
    r"""Rectifier :math:`h(a) = \max(0, a)` elementwise, any shape.

    Sub-gradient convention at the kink: :math:`h'(0) = 0` (as in PyTorch).  Tomasi's appendix
    takes :math:`h'(0) = 1`; both are valid sub-gradients and the choice matters only on a set of
    measure zero.
    """

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x")
        self._cache = x > 0
        self._out_shape = x.shape
        return np.where(self._cache, x, 0.0)

    def backward(self, grad_out):
        mask, g = self._take_cache(grad_out)
        return g * mask


class Flatten(Layer):
    """``(N, C, L) -> (N, C*L)``: the bridge from convolutional to linear layers."""

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
        self._cache = x.shape
        out = x.reshape(x.shape[0], -1)
        self._out_shape = out.shape
        return out

    def backward(self, grad_out):
        shape, g = self._take_cache(grad_out)
        return g.reshape(shape)


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """View ``(N, C, L) -> (N, C, L_out, k)`` of the length-``k`` windows, every ``stride``."""
    return sliding_window_view(x, k, axis=2)[:, :, ::stride, :]


class Conv1d(Layer):
    r"""1-D convolution (cross-correlation, as in every deep-learning library).

    :math:`a_{o,t} = b_o + \sum_{c}\sum_{j<k} W_{o,c,j}\,x_{c,\,st+j}` on the zero-padded input.
    ``W`` has shape ``(c_out, c_in, k)``; He initialisation with fan-in :math:`c_{in}k`.
    Implemented as one matrix product on the unfolded windows (im2col).
    """

    def __init__(self, c_in, c_out, kernel_size, *, rng, stride=1, padding=0):
        super().__init__()
        if min(c_in, c_out, kernel_size, stride) < 1 or padding < 0:
            raise ValueError("c_in, c_out, kernel_size, stride must be >= 1 and padding >= 0")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator")
        self.c_in, self.c_out, self.k, self.stride, self.padding = (
            c_in,
            c_out,
            kernel_size,
            stride,
            padding,
        )
        std = np.sqrt(2.0 / (c_in * kernel_size))
        self.params = {
            "W": rng.normal(0.0, std, size=(c_out, c_in, kernel_size)),
            "b": np.zeros(c_out),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x", ndim=3)
        check_shape(x, (None, self.c_in, None), "x")
        n, _, length = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (self.padding, self.padding)))
        if xp.shape[2] < self.k:
            raise ValueError(
                f"x is too short ({length}) for kernel_size {self.k} with padding {self.padding}"
            )
        win = _windows(xp, self.k, self.stride)  # (N, C, T, k)
        t = win.shape[2]
        cols = win.transpose(0, 2, 1, 3).reshape(n * t, self.c_in * self.k)
        out = cols @ self.params["W"].reshape(self.c_out, -1).T + self.params["b"]
        out = out.reshape(n, t, self.c_out).transpose(0, 2, 1)
        self._cache = (cols, xp.shape)
        self._out_shape = out.shape
        return out

    def backward(self, grad_out):
        (cols, xp_shape), g = self._take_cache(grad_out)
        n, _, t = g.shape
        g2 = g.transpose(0, 2, 1).reshape(n * t, self.c_out)
        self.grads["W"] = (g2.T @ cols).reshape(self.params["W"].shape)
        self.grads["b"] = g2.sum(axis=0)
        dcols = (g2 @ self.params["W"].reshape(self.c_out, -1)).reshape(n, t, self.c_in, self.k)
        dxp = np.zeros(xp_shape, dtype=g.dtype)
        starts = self.stride * np.arange(t)
        for j in range(self.k):  # scatter each tap back onto the positions it read
            dxp[:, :, starts + j] += dcols[:, :, :, j].transpose(0, 2, 1)
        return dxp[:, :, self.padding : xp_shape[2] - self.padding]

    def __repr__(self):
        return f"Conv1d({self.c_in}, {self.c_out}, kernel_size={self.k}, stride={self.stride}, padding={self.padding})"


class MaxPool1d(Layer):
    r"""Max-pooling :math:`x_i = \max_{q\in P(i)} a_q` over windows of ``kernel_size``.

    The gradient flows only to the arg-max of each window (Tomasi, Appendix).  Tie rule: the
    *first* (lowest-index) maximal entry of a window receives the gradient.  Windows may overlap
    (``stride < kernel_size``); gradients of overlapping windows add.
    """

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        stride = kernel_size if stride is None else stride
        if kernel_size < 1 or stride < 1:
            raise ValueError(f"kernel_size and stride must be >= 1, got {kernel_size}, {stride}")
        self.k, self.stride = kernel_size, stride

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x", ndim=3)
        if x.shape[2] < self.k:
            raise ValueError(f"x is too short ({x.shape[2]}) for kernel_size {self.k}")
        win = _windows(x, self.k, self.stride)  # (N, C, T, k)
        idx = np.argmax(win, axis=3)  # first maximum: the tie rule
        out = np.take_along_axis(win, idx[..., None], axis=3)[..., 0]
        n, c, t = out.shape
        pos = idx + self.stride * np.arange(t)  # input position of each arg-max
        flat = (np.arange(n * c)[:, None] * x.shape[2] + pos.reshape(n * c, t)).ravel()
        self._cache = (flat, x.shape)
        self._out_shape = out.shape
        return out

    def backward(self, grad_out):
        (flat, shape), g = self._take_cache(grad_out)
        dx = np.bincount(flat, weights=g.ravel(), minlength=int(np.prod(shape)))
        return dx.reshape(shape).astype(g.dtype, copy=False)

    def __repr__(self):
        return f"MaxPool1d({self.k}, stride={self.stride})"
