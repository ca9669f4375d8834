"""Input validation shared by the modules: every bad input becomes a ValueError naming the argument."""

from __future__ import annotations

import numpy as np


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a floating array, rejecting NaN/inf and wrong ranks with a ValueError."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu" or a.dtype == bool:
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if a.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {a.shape}"
            )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def as_labels(y, name: str, n: int, n_classes: int) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` with values in ``[0, n_classes)``."""
    a = np.asarray(y)
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
