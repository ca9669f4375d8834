r"""Layers: forward/backward pairs with an explicit cache (cs231n style).

Every layer has ``params`` and ``grads`` (dicts with the same keys and shapes), a
``forward(x, train=False)`` that stores in ``self._cache`` what ``backward`` needs, and a
``backward(grad_out)`` that *assigns* ``self.grads`` and returns :math:`\partial L/\partial x`.
In Zhang's notation, ``backward`` maps the error term :math:`e^l` to :math:`e^{l-1} = e^l J_{F^l}`.
Arrays are batch-first: ``(N, d)`` for vectors, ``(N, C, L)`` for 1-D signals.  Computations stay
in the dtype they are given: float32 inputs and weights give float32 outputs and gradients.

Where the checks happen.  ``forward`` and ``backward`` validate what a user hands them (a real,
finite array of the right rank; the output's shape for ``grad_out``) and then call the layer's
``_forward``/``_backward``, which trust their arrays.  :class:`~relunet.Sequential` validates the
network's input once and drives its layers through ``_forward``/``_backward`` directly, so a value
the library computed itself is not scanned again between layers.  The cheap shape checks (the
width a ``Linear`` expects, a signal too short for a kernel, a ``grad_out`` of the wrong shape)
run on both paths, with the same messages.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import (
    as_count,
    as_flag,
    as_float_array,
    as_real,
    check_generator,
    check_shape,
)


def _float_dtype(dtype) -> np.dtype:
    """``np.float32`` or ``np.float64`` (as a type, a name or a dtype); anything else is refused."""
    try:
        d = None if dtype is None or isinstance(dtype, bool) else np.dtype(dtype)
    except TypeError:
        d = None
    if d not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}")
    return d


def _expect_shape(x: np.ndarray, shape: tuple) -> None:
    """Raise the contract's message for an ``x`` whose shape is not ``shape`` (``None``: any size)."""
    if x.ndim != len(shape):
        raise ValueError(f"x must have {len(shape)} dimensions, got shape {x.shape}")
    check_shape(x, shape, "x")


class Layer:
    """Base class: parameter dicts, the cache, and the checks of the contract.

    A layer implements ``_forward(x, train)`` and ``_backward(g)``; ``_ndim`` is the rank its input
    must have (``None``: any).  A subclass may instead override ``forward``/``backward`` themselves
    (validating with :meth:`_take_cache`); :class:`~relunet.Sequential` then always calls those.
    """

    _ndim: int | None = None
    _direct_forward = _direct_backward = False  # may Sequential call _forward/_backward directly?

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._direct_forward = cls.forward is Layer.forward and cls._forward is not Layer._forward
        cls._direct_backward = (
            cls.backward is Layer.backward and cls._backward is not Layer._backward
        )

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None
        self._out_shape = None

    def forward(self, x, *, train: bool = False) -> np.ndarray:
        """The layer's output for the batch ``x`` (a real, finite array of the layer's rank)."""
        return self._forward(as_float_array(x, "x", ndim=self._ndim), as_flag(train, "train"))

    def backward(self, grad_out) -> np.ndarray:
        """:math:`\\partial L/\\partial x` from ``grad_out`` :math:`= \\partial L/\\partial` output; fills ``grads``."""
        self._require_cache()
        return self._backward(as_float_array(grad_out, "grad_out"))

    def _forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _param_grads(self, g: np.ndarray) -> None:
        """Fill ``grads`` only (the first layer of a training step: nothing needs its input gradient)."""
        self._backward(g)

    def _require_cache(self) -> None:
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward called before forward")

    def _cache_for(self, g: np.ndarray):
        """The cache of the last ``forward``, once ``g`` is known to have its output's shape."""
        self._require_cache()
        if g.shape != self._out_shape:
            raise ValueError(
                f"grad_out must have shape {self._out_shape} (the output's), got {g.shape}"
            )
        return self._cache

    def _take_cache(self, grad_out, out_shape_name: str = "grad_out"):
        """For a layer that overrides ``backward``: the cache and the validated ``grad_out``."""
        self._require_cache()
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
    He initialisation: :math:`W_{ij}\sim\mathcal N(0, 2/d_{in})` (or standard deviation ``scale``),
    :math:`\mathbf b = 0`, drawn in float64 and stored as ``dtype`` (float64 or float32).
    Gradients: :math:`\partial L/\partial W = G^T X`, :math:`\partial L/\partial\mathbf b = \sum_n \mathbf g_n`,
    :math:`\partial L/\partial X = G W`.
    """

    _ndim = 2

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        rng: np.random.Generator,
        scale: float | None = None,
        dtype=np.float64,
    ):
        super().__init__()
        self.d_in, self.d_out = as_count(d_in, "d_in"), as_count(d_out, "d_out")
        check_generator(rng)
        std = np.sqrt(2.0 / self.d_in) if scale is None else as_real(scale, "scale", 0.0)
        dtype = _float_dtype(dtype)
        W = rng.normal(0.0, std, size=(self.d_out, self.d_in)).astype(dtype, copy=False)
        self.params = {"W": W, "b": np.zeros(self.d_out, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def _forward(self, x, train):
        if x.ndim != 2 or x.shape[1] != self.d_in:
            _expect_shape(x, (None, self.d_in))
        self._cache = x
        out = x @ self.params["W"].T
        b = self.params["b"]
        if b.dtype == out.dtype:
            out += b  # in place: no second (N, d_out) array
        else:
            out = out + b
        self._out_shape = out.shape
        return out

    def _param_grads(self, g):
        x = self._cache_for(g)
        self.grads["W"] = g.T @ x
        self.grads["b"] = g.sum(axis=0)

    def _backward(self, g):
        self._param_grads(g)
        return g @ self.params["W"]

    def __repr__(self):
        return f"Linear({self.d_in}, {self.d_out})"


class ReLU(Layer):
    r"""Rectifier :math:`h(a) = \max(0, a)` elementwise, any shape.

    Sub-gradient convention at the kink: :math:`h'(0) = 0` (as in PyTorch).  Tomasi's appendix
    takes :math:`h'(0) = 1`; both are valid sub-gradients and the choice matters only on a set of
    measure zero.  Non-positive inputs give :math:`+0` (never :math:`-0`).
    """

    def _forward(self, x, train):
        self._cache = x > 0
        self._out_shape = x.shape
        return np.maximum(x, 0)  # maximum(-0.0, 0) is +0.0

    def _backward(self, g):
        return g * self._cache_for(g)


class Flatten(Layer):
    """``(N, C, L) -> (N, C*L)``: the bridge from convolutional to linear layers."""

    def _forward(self, x, train):
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
        self._cache = x.shape
        out = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: an empty batch has no -1
        self._out_shape = out.shape
        return out

    def _backward(self, g):
        return g.reshape(self._cache_for(g))


def _windows(x: np.ndarray, k: int, stride: int, t: int) -> np.ndarray:
    """Read-only view ``(N, C, L) -> (N, C, t, k)`` of the ``t`` length-``k`` windows, every ``stride``."""
    sn, sc, sl = x.strides
    return as_strided(x, (x.shape[0], x.shape[1], t, k), (sn, sc, stride * sl, sl), writeable=False)


class Conv1d(Layer):
    r"""1-D convolution (cross-correlation, as in every deep-learning library).

    :math:`a_{o,t} = b_o + \sum_{c}\sum_{j<k} W_{o,c,j}\,x_{c,\,st+j}` on the zero-padded input.
    ``W`` has shape ``(c_out, c_in, k)``; He initialisation with fan-in :math:`c_{in}k`, drawn in
    float64 and stored as ``dtype``.  Implemented as one matrix product on the unfolded windows
    (im2col): the padded input is stored channels-last, so that window :math:`t` is one contiguous
    block :math:`x_{st..st+k-1,\,c}` and the unfolded matrix is a strided view copied once.
    Backward: :math:`\partial L/\partial W` and :math:`\partial L/\partial x` are again one
    product each; each of the :math:`k` taps then adds its columns back onto the positions it
    read (a strided slice, no index arrays).
    """

    _ndim = 3

    def __init__(self, c_in, c_out, kernel_size, *, rng, stride=1, padding=0, dtype=np.float64):
        super().__init__()
        self.c_in, self.c_out = as_count(c_in, "c_in"), as_count(c_out, "c_out")
        self.k = as_count(kernel_size, "kernel_size")
        self.stride = as_count(stride, "stride")
        self.padding = as_count(padding, "padding", minimum=0)
        check_generator(rng)
        dtype = _float_dtype(dtype)
        std = np.sqrt(2.0 / (self.c_in * self.k))
        W = rng.normal(0.0, std, size=(self.c_out, self.c_in, self.k)).astype(dtype, copy=False)
        self.params = {"W": W, "b": np.zeros(self.c_out, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def _unfolded_weights(self) -> np.ndarray:
        """``W`` as the ``(c_out, k c_in)`` matrix matching the columns: entry ``(o, j c_in + c)``."""
        return self.params["W"].transpose(0, 2, 1).reshape(self.c_out, self.k * self.c_in)

    def _forward(self, x, train):
        if x.ndim != 3 or x.shape[1] != self.c_in:
            _expect_shape(x, (None, self.c_in, None))
        n, c, length = x.shape
        k, s, p = self.k, self.stride, self.padding
        lp = length + 2 * p
        if lp < k:
            raise ValueError(f"x is too short ({length}) for kernel_size {k} with padding {p}")
        t = (lp - k) // s + 1
        xp = np.empty((n, lp, c), dtype=x.dtype)  # zero-padded, channels last
        xp[:, :p] = 0
        xp[:, p + length :] = 0
        xp[:, p : p + length] = x.transpose(0, 2, 1)
        it = xp.itemsize
        win = as_strided(xp, (n, t, k * c), (lp * c * it, s * c * it, it), writeable=False)
        cols = win.reshape(n * t, k * c)  # row (sample, t): the block x_{st..st+k-1, :}
        out = self._unfolded_weights() @ cols.T  # (c_out, N t)
        b = self.params["b"]
        if b.dtype == out.dtype:
            out += b[:, None]
        else:
            out = out + b[:, None]
        self._cache = (cols, length)
        out = np.ascontiguousarray(out.reshape(self.c_out, n, t).transpose(1, 0, 2))
        self._out_shape = out.shape
        return out

    def _param_grads(self, g):
        cols, length = self._cache_for(g)
        n, _, t = g.shape
        gt = g.transpose(1, 0, 2).reshape(self.c_out, n * t)  # (c_out, N t), as out was
        dw = (gt @ cols).reshape(self.c_out, self.k, self.c_in)
        self.grads["W"] = dw.transpose(0, 2, 1).copy()
        self.grads["b"] = gt.sum(axis=1)
        return gt, length

    def _backward(self, g):
        gt, length = self._param_grads(g)
        n, _, t = g.shape
        k, s, p, c = self.k, self.stride, self.padding, self.c_in
        dcols = (gt.T @ self._unfolded_weights()).reshape(n, t, k, c)
        dxp = np.zeros((n, length + 2 * p, c), dtype=dcols.dtype)  # channels last, as xp
        span = s * (t - 1) + 1
        for j in range(k):  # tap j read positions j, j + s, ..., j + s(t - 1)
            dxp[:, j : j + span : s] += dcols[:, :, j]
        return np.ascontiguousarray(dxp[:, p : p + length].transpose(0, 2, 1))

    def __repr__(self):
        return f"Conv1d({self.c_in}, {self.c_out}, kernel_size={self.k}, stride={self.stride}, padding={self.padding})"


class MaxPool1d(Layer):
    r"""Max-pooling :math:`x_i = \max_{q\in P(i)} a_q` over windows of ``kernel_size``.

    The gradient flows only to the arg-max of each window (Tomasi, Appendix).  Tie rule: the
    *first* (lowest-index) maximal entry of a window receives the gradient.  Windows may overlap
    (``stride < kernel_size``); gradients of overlapping windows add.

    Computed tap by tap on a strided view of the windows (tap :math:`j` of every window is one
    strided slice): the maximum is a running ``maximum`` over the :math:`k` taps, and ``up[j]``
    records where tap :math:`j` beats every earlier tap.  The first maximum of a window is the last
    tap that beat its predecessors, so tap :math:`j` receives the gradient where ``up[j]`` holds and
    no later tap's does; backward writes each tap's share back through one strided slice.
    """

    _ndim = 3

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        self.k = as_count(kernel_size, "kernel_size")
        self.stride = self.k if stride is None else as_count(stride, "stride")

    def _forward(self, x, train):
        if x.ndim != 3:
            _expect_shape(x, (None, None, None))
        n, c, length = x.shape
        k, s = self.k, self.stride
        if length < k:
            raise ValueError(f"x is too short ({length}) for kernel_size {k}")
        t = (length - k) // s + 1
        win = _windows(x, k, s, t)
        out, up = win[..., 0], []
        for j in range(1, k):
            up.append(win[..., j] > out)  # strictly: a tie leaves the earlier tap in front
            out = np.maximum(out, win[..., j])
        self._cache = (up, length)
        out = np.array(out) if k == 1 else out  # never a view of x
        self._out_shape = out.shape
        return out

    def _backward(self, g):
        up, length = self._cache_for(g)
        n, c, t = g.shape
        k, s = self.k, self.stride
        dx = np.zeros((n, c, length), dtype=g.dtype)
        span = s * (t - 1) + 1
        later = None  # where some later tap beat its predecessors
        for j in range(k - 1, -1, -1):
            if j == 0:
                mine = None if later is None else ~later
            else:
                mine = up[j - 1] if later is None else up[j - 1] & ~later
                later = up[j - 1] if later is None else later | up[j - 1]
            gj = g if mine is None else g * mine
            if s >= k:  # windows do not overlap: each position is written once
                dx[:, :, j : j + span : s] = gj
            else:
                dx[:, :, j : j + span : s] += gj
        return dx

    def __repr__(self):
        return f"MaxPool1d({self.k}, stride={self.stride})"
