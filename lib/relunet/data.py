"""Data sets: MNIST-1D generated locally, a small 2-D K-class set, one-hot codes and splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import as_count, as_finite_array, as_flag, as_real, check_generator


@dataclass(frozen=True)
class Dataset:
    """Training and test arrays; ``x`` is ``(N, d)`` (or ``(N, 1, L)`` for signals), ``y`` integer ``(N,)``.

    Checked when made: real, finite inputs with a batch axis, non-negative integer labels, one
    label per sample.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        for xn, yn in (("x", "y"), ("x_test", "y_test")):
            x = as_finite_array(getattr(self, xn), xn)
            y = np.asarray(getattr(self, yn))
            if x.ndim < 2:
                raise ValueError(f"{xn} must have a batch axis and a feature axis, got {x.shape}")
            if y.dtype.kind not in "iu" or y.shape != (len(x),):
                raise ValueError(
                    f"{yn} must hold {len(x)} integer labels (one per row of {xn}), "
                    f"got shape {y.shape} and dtype {y.dtype}"
                )
            if y.size and y.min() < 0:
                raise ValueError(f"{yn} must be class labels >= 0, got {y.min()}")

    @property
    def n_classes(self) -> int:
        return int(max(self.y.max(), self.y_test.max()) + 1)


def mnist1d(
    *, seed: int = 42, num_samples: int = 5000, train_split: float = 0.8, as_signal: bool = False
) -> Dataset:
    """The MNIST-1D data set of Greydanus (2020), generated locally by the ``mnist1d`` package.

    The defaults are the paper's: 5000 signals of length 40 in 10 classes, 4000 for training and
    1000 for testing, generation seed 42.  Nothing is downloaded.  ``mnist1d`` seeds NumPy's
    *global* generator; its state is saved and restored so the caller's global state is untouched.
    With ``as_signal`` the inputs have shape ``(N, 1, 40)`` for ``Conv1d``.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    seed = as_count(seed, "seed", 0)
    if seed >= 2**32:
        raise ValueError(
            f"seed must be < 2**32 (mnist1d seeds NumPy's legacy generator), got {seed}"
        )
    num_samples = as_count(num_samples, "num_samples", None)
    train_split = as_real(train_split, "train_split")
    as_signal = as_flag(as_signal, "as_signal")
    if num_samples < 10 or not 0.0 < train_split < 1.0:
        raise ValueError(
            f"num_samples must be >= 10 and train_split in (0, 1), got {num_samples}, {train_split}"
        )
    n = num_samples // 10 * 10  # mnist1d makes the same number of signals of each class
    if not 1 <= int(n * train_split) < n:
        raise ValueError(
            f"train_split {train_split} of {n} signals leaves an empty training or test set"
        )
    args = get_dataset_args()
    args.seed, args.num_samples, args.train_split = seed, num_samples, train_split
    state = np.random.get_state()  # noqa: NPY002 -- mnist1d seeds the global generator
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    shape = (lambda a: a[:, None, :]) if as_signal else (lambda a: a)
    return Dataset(
        x=shape(d["x"].astype(np.float64)),
        y=d["y"].astype(np.int64),
        x_test=shape(d["x_test"].astype(np.float64)),
        y_test=d["y_test"].astype(np.int64),
    )


def spirals(
    n_per_class: int,
    n_classes: int = 3,
    *,
    rng: np.random.Generator,
    noise: float = 0.2,
    turns: float = 0.75,
):
    """``n_classes`` interleaved spiral arms in the plane: a K-class 2-D set no linear classifier separates.

    Arm ``c`` at radius :math:`r\\in[0.05, 1]` sits at angle :math:`2\\pi(c/K + \\text{turns}\\cdot r)`
    plus Gaussian angle noise of standard deviation ``noise``.  Returns ``x`` ``(K n, 2)`` and ``y``.
    """
    n_per_class = as_count(n_per_class, "n_per_class", None)
    n_classes = as_count(n_classes, "n_classes", None)
    if n_per_class < 1 or n_classes < 2:
        raise ValueError(
            f"n_per_class must be >= 1 and n_classes >= 2, got {n_per_class}, {n_classes}"
        )
    check_generator(rng)
    noise = as_real(noise, "noise", 0.0)
    turns = as_real(turns, "turns")
    r = np.tile(np.linspace(0.05, 1.0, n_per_class), n_classes)
    y = np.repeat(np.arange(n_classes), n_per_class)
    angle = 2 * np.pi * (y / n_classes + turns * r) + noise * rng.standard_normal(r.size)
    x = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    return x, y


def one_hot(y, n_classes: int) -> np.ndarray:
    """The one-hot codes :math:`\\mathbf q` of integer labels ``y``, shape ``(N, n_classes)``."""
    n_classes = as_count(n_classes, "n_classes", 1)
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as err:
        raise ValueError(f"y must be a 1-D integer array: {err}") from None
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-D integer array, got shape {y.shape} and dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y must lie in [0, {n_classes}), got values in [{y.min()}, {y.max()}]")
    q = np.zeros((y.size, n_classes))
    q[np.arange(y.size), y] = 1.0
    return q


def train_val_split(x, y, val_fraction: float, *, rng: np.random.Generator):
    """Shuffle with ``rng`` and split off ``val_fraction`` of the samples: ``x_tr, y_tr, x_val, y_val``."""
    x, y = as_finite_array(x, "x"), as_finite_array(y, "y")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"x and y must have a sample axis, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    val_fraction = as_real(val_fraction, "val_fraction")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    check_generator(rng)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(val_fraction * len(x))))
    if n_val >= len(x):
        raise ValueError(
            f"val_fraction {val_fraction} of {len(x)} samples leaves no training samples"
        )
    val, tr = order[:n_val], order[n_val:]
    return x[tr], y[tr], x[val], y[val]
