"""Input validation shared by the modules: every bad input becomes a ValueError naming the argument.

Scalars: :func:`as_count` (an integer, never a float, a bool or a string), :func:`as_real` (a
finite real in an interval), :func:`as_flag` (``True`` or ``False``), :func:`as_choice` (one of a
few strings) and :func:`check_generator`.  Arrays: :func:`as_float_array` (real, finite, of a
given rank), :func:`as_finite_array` (the same without the conversion to float), :func:`as_labels`
and :func:`check_shape`.  Public functions and constructors validate what the *user* hands them,
once, where it enters; the library's internal paths trust what the library itself computed.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def as_count(value, name: str, minimum: int | None = 1) -> int:
    """``value`` as an ``int`` >= ``minimum`` (``None``: any); floats (even ``3.0``), bools and strings are refused."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def as_real(
    value,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval from ``low`` to ``high`` (closed unless open).

    Bools, strings, ``None``, complex numbers, arrays, NaN and infinities are refused.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if v < low or v > high or (low_open and v == low) or (high_open and v == high):
        if high == math.inf:
            want = f"{'>' if low_open else '>='} {low:g}"
        elif low == -math.inf:
            want = f"{'<' if high_open else '<='} {high:g}"
        else:
            want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return v


def as_flag(value, name: str) -> bool:
    """``True`` or ``False`` (NumPy bools too); ``0``, ``1``, ``"yes"``, ``None`` are refused."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_choice(value, name: str, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_generator(rng, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator`` (the legacy ``RandomState`` and integer seeds are refused)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{name} must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _real_array(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as err:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a real numeric array: {err}") from None
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a


def _check_ndim(a: np.ndarray, name: str, ndim) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in allowed:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {a.shape}"
        )


def as_finite_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a real numeric array in its own dtype (integers stay integers), without NaN/inf."""
    a = _real_array(x, name)
    if ndim is not None:
        _check_ndim(a, name, ndim)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a floating array, rejecting NaN/inf and wrong ranks with a ValueError.

    A floating array is returned as it is (float32 stays float32, no copy); integers become float64.
    """
    a = _real_array(x, name)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if ndim is not None:
        _check_ndim(a, name, ndim)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def as_labels(y, name: str, n: int, n_classes: int) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` with values in ``[0, n_classes)``."""
    try:
        a = np.asarray(y)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must hold integer class labels: {err}") from None
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {a.shape}")
    if n and (a.min() < 0 or a.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}), got values in [{a.min()}, {a.max()}]"
        )
    return a


def check_shape(a: np.ndarray, shape: tuple, name: str) -> None:
    """Raise if ``a.shape`` differs from ``shape`` (``None`` entries match anything)."""
    if a.ndim != len(shape) or any(
        s is not None and s != t for s, t in zip(shape, a.shape, strict=False)
    ):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
