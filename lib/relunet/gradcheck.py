r"""Gradient checks by central differences (float64 only), as in the cs231n notes.

The derivative of a scalar :math:`f` is estimated entry by entry by
:math:`(f(x + h e_i) - f(x - h e_i)) / 2h`, whose error is :math:`O(h^2)` plus round-off
:math:`O(\epsilon f / h)`.  Discrepancies are measured by the relative error

.. math:: r(a, b) = \frac{\max_i |a_i - b_i|}{\max(10^{-8},\ \max_i (|a_i| + |b_i|))},

the cs231n ratio with numerator and denominator taken over the whole array: an entry that is
zero up to round-off would make an entrywise ratio meaningless.  Use :math:`r < 10^{-7}` for
smooth functions and :math:`10^{-5}` near ReLU or max-pooling kinks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._checks import as_flag, as_float_array, as_real, check_generator
from .layers import Layer
from .losses import Loss
from .network import Sequential


class GradientCheckError(AssertionError):
    """A gradient check found a relative error above its tolerance."""


def _require_float64(x: np.ndarray, name: str) -> None:
    if np.asarray(x).dtype != np.float64:
        raise ValueError(
            f"{name} must be float64 for finite differences, got {np.asarray(x).dtype}"
        )


def _check_perturbable(f, x, h) -> float:
    """The checks of :func:`numerical_gradient` and :func:`numerical_jacobian`; returns ``h``."""
    if not callable(f):
        raise ValueError(f"f must be a callable taking no argument, got {type(f).__name__}")
    if not isinstance(x, np.ndarray):
        raise ValueError(
            f"x must be a NumPy array (it is perturbed in place), got {type(x).__name__}"
        )
    _require_float64(x, "x")
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it is perturbed in place)")
    if x.size == 0:
        raise ValueError(f"x must have at least one entry, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    if isinstance(h, bool | np.bool_) or not isinstance(h, int | float | np.floating | np.integer):
        raise ValueError(f"h must be a positive number, got {h!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite step, got {h}")
    return float(h)


def _scalar_value(value) -> float:
    """``f()``'s value as a float: a real, finite number (a 0-d array or a one-entry array too)."""
    v = np.asarray(value)
    if v.dtype.kind not in "fiu" or v.size != 1:
        raise ValueError(f"f must return a real number, got {value!r}")
    v = float(v.reshape(()))
    if not math.isfinite(v):
        raise ValueError(f"f returned {v}, not a finite number")
    return v


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to the array ``x``, perturbed *in place*.

    ``f`` takes no argument, must read ``x`` (e.g. a parameter array of a layer) and return a real
    number; ``x`` is a writeable, finite float64 array, restored exactly afterwards.
    """
    h = _check_perturbable(f, x, h)
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):  # index x itself: reshape(-1) of a non-contiguous view is a copy
        old = x[i]
        try:
            x[i] = old + h
            fp = _scalar_value(f())
            x[i] = old - h
            fm = _scalar_value(f())
        finally:
            x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def relative_error(a, b) -> float:
    """:math:`\\max|a - b| / \\max(10^{-8}, \\max(|a| + |b|))` over whole arrays of the same shape."""
    a = as_float_array(a, "a").astype(np.float64, copy=False)
    b = as_float_array(b, "b").astype(np.float64, copy=False)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"a and b must have at least one entry, got shape {a.shape}")
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def _tol_h(tol, h) -> tuple[float | None, float]:
    tol = None if tol is None else as_real(tol, "tol", 0.0, low_open=True)
    return tol, as_real(h, "h", 0.0, low_open=True)


def _as_layer(layer) -> Layer:
    if not isinstance(layer, Layer):
        raise ValueError(f"layer must be a relunet Layer, got {type(layer).__name__}")
    return layer


def _as_loss(loss) -> Loss:
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be a relunet Loss, got {type(loss).__name__}")
    return loss


def _verdict(errors: dict[str, float], tol: float | None) -> dict[str, float]:
    if tol is not None:
        bad = {k: v for k, v in errors.items() if not v < tol}
        if bad:
            raise GradientCheckError(f"relative errors above {tol:g}: {bad}")
    return errors


def check_layer(
    layer, x, rng: np.random.Generator, *, train=False, tol=None, h=1e-5
) -> dict[str, float]:
    r"""Compare ``layer.backward`` with finite differences of :math:`f = \sum G\odot \mathrm{layer}(x)`.

    ``G`` is a random upstream gradient from ``rng``.  Returns the relative error for the input
    (key ``"x"``) and for every parameter; with ``tol``, raises :class:`GradientCheckError` if any
    is not below it.  Dropout layers are checked with ``train=False`` (a fresh mask per call
    would make ``f`` random).
    """
    layer, rng, train = _as_layer(layer), check_generator(rng), as_flag(train, "train")
    tol, h = _tol_h(tol, h)
    x = np.array(as_float_array(x, "x"), dtype=np.float64)
    out = layer.forward(x, train=train)
    g = rng.standard_normal(out.shape)
    analytic_x = layer.backward(g)
    analytic = {k: v.copy() for k, v in layer.grads.items()}

    def f():
        return float(np.sum(g * layer.forward(x, train=train)))

    errors = {"x": relative_error(analytic_x, numerical_gradient(f, x, h))}
    for k, p in layer.params.items():
        _require_float64(p, f"parameter {k}")
        errors[k] = relative_error(analytic[k], numerical_gradient(f, p, h))
    return _verdict(errors, tol)


def check_loss(loss, z, y, *, tol=None, h=1e-5) -> float:
    """Relative error of ``loss.grad(z, y)`` against finite differences of ``loss(z, y)``."""
    loss, (tol, h) = _as_loss(loss), _tol_h(tol, h)
    z = np.array(as_float_array(z, "z"), dtype=np.float64)
    err = relative_error(loss.grad(z, y), numerical_gradient(lambda: loss(z, y), z, h))
    return _verdict({"z": err}, tol)["z"]


def check_network(net, loss, x, y, *, tol=None, h=1e-5) -> dict[str, float]:
    """Relative error of back-propagated gradients of ``loss(net(x), y)`` for every parameter, by name."""
    if not isinstance(net, Sequential):
        raise ValueError(f"net must be a relunet Sequential, got {type(net).__name__}")
    loss, (tol, h) = _as_loss(loss), _tol_h(tol, h)
    x = np.array(as_float_array(x, "x"), dtype=np.float64)
    net.backward(loss.grad(net.forward(x), y))
    analytic = {name: g.copy() for name, _, g in net.named_parameters()}

    def f():
        return loss(net.forward(x), y)

    errors = {}
    for name, p, _ in net.named_parameters():
        _require_float64(p, f"parameter {name}")
        errors[name] = relative_error(analytic[name], numerical_gradient(f, p, h))
    return _verdict(errors, tol)


def jacobian(layer, x, wrt: str = "x") -> np.ndarray:
    r"""The Jacobian of one sample's output with respect to its input or a parameter, read off ``backward``.

    ``x`` holds one sample (batch size 1).  Row ``i`` is ``backward(e_i)`` for the unit upstream
    gradient :math:`e_i` on output entry ``i`` -- so the matrix is exactly what back-propagation
    uses, :math:`\partial x^{(k)}/\partial x^{(k-1)}` (``wrt="x"``) or
    :math:`\partial x^{(k)}/\partial w^{(k)}` (``wrt`` a key of ``layer.params``), entries flattened
    in C order.  Shape ``(output size, input or parameter size)``.
    """
    layer = _as_layer(layer)
    x = as_float_array(x, "x").astype(np.float64, copy=False)
    if x.shape[:1] != (1,):
        raise ValueError(f"x must hold exactly one sample (batch size 1), got shape {x.shape}")
    if not isinstance(wrt, str) or (wrt != "x" and wrt not in layer.params):
        raise ValueError(f"wrt must be 'x' or one of {sorted(layer.params)}, got {wrt!r}")
    out = layer.forward(x)
    rows = []
    for i in range(out.size):
        e = np.zeros(out.size)
        e[i] = 1.0
        dx = layer.backward(e.reshape(out.shape))
        rows.append((dx if wrt == "x" else layer.grads[wrt]).ravel())
    return np.array(rows)


def numerical_jacobian(f: Callable[[], np.ndarray], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    r"""Central-difference Jacobian of the vector ``f()`` with respect to the array ``x``, perturbed *in place*.

    Column :math:`j` is :math:`(\mathbf f(\mathbf x + h\mathbf e_j) - \mathbf f(\mathbf x - h\mathbf e_j))/2h`,
    so entry :math:`(i, j)` estimates :math:`\partial f_i/\partial x_j` with error :math:`O(h^2)`.
    As in :func:`numerical_gradient`, ``f`` takes no argument and must read ``x`` (an input array, or
    a parameter array of a layer); ``x`` is restored exactly afterwards.  Entries of ``f()`` and of
    ``x`` are flattened in C order: the shape is ``(f().size, x.size)``, the layout of
    :func:`jacobian`.  A Hessian is the Jacobian of a gradient: for the cross-entropy,
    ``numerical_jacobian(lambda: loss.sample_grad(z, y)[0], z)`` with ``z`` of shape ``(1, K)``.
    Costs :math:`2\,\mathrm{size}(x)` calls of ``f``.
    """
    h = _check_perturbable(f, x, h)

    def value() -> np.ndarray:
        out = np.asarray(f())
        if out.dtype.kind not in "fiu" or out.dtype == bool:
            raise ValueError(f"f must return a real numeric array, got dtype {out.dtype}")
        if not np.all(np.isfinite(out)):
            raise ValueError("f returned NaN or inf")
        return out.astype(np.float64).ravel()

    m = value().size
    jac = np.zeros((m, x.size))
    for j, i in enumerate(np.ndindex(x.shape)):  # index x itself: it may be a non-contiguous view
        old = x[i]
        try:
            x[i] = old + h
            fp = value()
            x[i] = old - h
            fm = value()
        finally:
            x[i] = old
        if fp.size != m or fm.size != m:
            raise ValueError(
                f"f must return the same number of entries on every call, got {m} first"
            )
        jac[:, j] = (fp - fm) / (2 * h)
    return jac
