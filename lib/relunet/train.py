"""``fit``: mini-batch SGD with per-epoch history and early stopping (Tomasi §4, "Termination")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, as_labels


@dataclass
class History:
    """Per-epoch records of a run of :func:`fit` (index 0 is the state *before* training)."""

    loss: list[float] = field(default_factory=list)  # training risk L_T, test mode
    train_error: list[float] = field(default_factory=list)  # training zero-one error
    val_error: list[float] = field(default_factory=list)  # validation zero-one error (if given)
    grad_norm: list[float] = field(default_factory=list)  # mean mini-batch ||dL/dw|| in the epoch
    best_epoch: int = 0  # the epoch whose weights fit() leaves in the network
    stopped_early: bool = False


def evaluate(net, loss, x, y, batch_size: int = 4096) -> tuple[float, float]:
    """Risk and zero-one error of ``net`` on ``(x, y)`` in test mode (dropout off)."""
    total, wrong = 0.0, 0
    for start in range(0, len(x), batch_size):
        z = net.forward(x[start : start + batch_size], train=False)
        yb = y[start : start + batch_size]
        total += loss(z, yb) * len(z)
        wrong += int(np.sum(np.argmax(z, axis=1) != yb))
    return total / len(x), wrong / len(x)


def fit(
    net,
    loss,
    opt,
    x,
    y,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    x_val=None,
    y_val=None,
    patience: int | None = None,
) -> History:
    """Train ``net`` on ``(x, y)`` by mini-batch SGD; return the :class:`History`.

    Each epoch visits the training set once in an order drawn from ``rng``, in mini-batches of
    ``batch_size`` (the last one may be smaller).  With a validation set, the weights with the
    lowest validation zero-one error are kept, and training stops once ``patience`` epochs have
    passed without improving it (never, if ``patience`` is ``None``); the best weights are
    restored at the end.
    """
    x = as_float_array(x, "x")
    # zero-one errors need class labels; the loss itself sees the scores' width K
    y = as_labels(y, "y", len(x), np.iinfo(np.int64).max)
    if int(epochs) < 0 or int(batch_size) < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    has_val = x_val is not None
    if has_val != (y_val is not None):
        raise ValueError("x_val and y_val must be given together")
    if patience is not None and not has_val:
        raise ValueError("patience needs a validation set (x_val, y_val)")
    if patience is not None and int(patience) < 1:
        raise ValueError(f"patience must be a positive number of epochs, got {patience}")

    hist = History()

    def record(grad_norm: float) -> None:
        risk, err = evaluate(net, loss, x, y)
        hist.loss.append(risk)
        hist.train_error.append(err)
        hist.grad_norm.append(grad_norm)
        if has_val:
            hist.val_error.append(evaluate(net, loss, x_val, y_val)[1])

    record(float("nan"))
    best_state, best_err = (net.state_dict(), hist.val_error[0]) if has_val else (None, None)
    n = len(x)
    for epoch in range(1, int(epochs) + 1):
        order = rng.permutation(n)
        norms = []
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            z = net.forward(x[idx], train=True)
            net.backward(loss.grad(z, y[idx]))
            norms.append(net.gradient_norm())
            opt.step(net)
        record(float(np.mean(norms)))
        if has_val:
            if hist.val_error[-1] < best_err:
                best_state, best_err, hist.best_epoch = net.state_dict(), hist.val_error[-1], epoch
            elif patience is not None and epoch - hist.best_epoch >= patience:
                hist.stopped_early = True
                break
        else:
            hist.best_epoch = epoch
    if has_val:
        net.load_state_dict(best_state)
    return hist
