"""``fit``: mini-batch SGD with per-epoch history, learning-rate schedules and early stopping
(Tomasi §4, "Termination")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_count, as_flag, as_float_array, as_labels, check_generator
from .losses import Loss
from .models import _network, flat_parameters


@dataclass
class History:
    """Per-epoch records of a run of :func:`fit` (index 0 is the state *before* training)."""

    loss: list[float] = field(default_factory=list)  # training risk L_T, test mode (record_train)
    train_error: list[float] = field(default_factory=list)  # training zero-one error
    val_error: list[float] = field(default_factory=list)  # validation zero-one error (if given)
    lr: list[float] = field(default_factory=list)  # alpha in force after the epoch (0: initial)
    step_norm: list[float] = field(default_factory=list)  # ||w_e - w_{e-1}|| (0: NaN)
    grad_norm: list[float] = field(default_factory=list)  # mean mini-batch ||dL/dw|| (opt-in)
    best_epoch: int = 0  # the epoch whose weights fit() leaves in the network
    stopped_early: bool = False


def _loss(loss) -> Loss:
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be a relunet Loss, got {type(loss).__name__}")
    return loss


def evaluate(net, loss, x, y, batch_size: int = 4096) -> tuple[float, float]:
    """Risk and zero-one error of ``net`` on ``(x, y)`` in test mode (dropout off)."""
    net, loss = _network(net), _loss(loss)
    x = as_float_array(x, "x")
    y = as_labels(y, "y", len(x), np.iinfo(np.int64).max)
    batch_size = as_count(batch_size, "batch_size", 1)
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
    lr_schedule=None,
    record_grad_norm: bool = False,
    record_train: bool = True,
) -> History:
    r"""Train ``net`` on ``(x, y)`` by mini-batch SGD; return the :class:`History`.

    Each epoch visits the training set once in an order drawn from ``rng``, in mini-batches of
    ``batch_size`` (the last one may be smaller), one ``opt.step`` per mini-batch.  After each
    epoch the training risk and zero-one error are recorded (test mode), with the step length
    :math:`\|\mathbf w_e - \mathbf w_{e-1}\|` over the epoch; ``record_grad_norm`` also records
    the mean mini-batch gradient norm (it costs a pass over the gradients per step).  The
    training risk costs a forward pass over the training set per epoch; ``record_train=False``
    skips it (``loss`` and ``train_error`` stay empty and a schedule is given ``nan``).

    ``lr_schedule`` (e.g. :class:`~relunet.optim.StepDecay`,
    :class:`~relunet.optim.ReduceOnPlateau`, or any object with a method
    ``step(epoch, train_risk, lr) -> lr``) sets ``opt.lr`` after every epoch from that epoch's
    training risk; without it the learning rate is constant.

    With a validation set, the weights with the lowest validation zero-one error are kept, and
    training stops once ``patience`` epochs have passed without improving it (never, if
    ``patience`` is ``None``); the best weights are restored at the end.
    """
    net, loss = _network(net), _loss(loss)
    if not callable(getattr(opt, "step", None)) or not hasattr(opt, "lr"):
        raise ValueError(f"opt must be an optimizer such as relunet.SGD, got {type(opt).__name__}")
    x = as_float_array(x, "x")
    # zero-one errors need class labels; the loss itself sees the scores' width K
    y = as_labels(y, "y", len(x), np.iinfo(np.int64).max)
    epochs = as_count(epochs, "epochs", 0)
    batch_size = as_count(batch_size, "batch_size", 1)
    rng = check_generator(rng)
    has_val = x_val is not None
    if has_val != (y_val is not None):
        raise ValueError("x_val and y_val must be given together")
    if has_val:
        x_val = as_float_array(x_val, "x_val")
        y_val = as_labels(y_val, "y_val", len(x_val), np.iinfo(np.int64).max)
    if patience is not None:
        if not has_val:
            raise ValueError("patience needs a validation set (x_val, y_val)")
        patience = as_count(patience, "patience", 1)
    if lr_schedule is not None and not callable(getattr(lr_schedule, "step", None)):
        raise ValueError("lr_schedule must have a method step(epoch, train_risk, lr) -> lr")
    record_grad_norm = as_flag(record_grad_norm, "record_grad_norm")
    record_train = as_flag(record_train, "record_train")

    hist = History()

    def record(step_norm: float, grad_norm: float) -> None:
        if record_train:
            risk, err = evaluate(net, loss, x, y)
            hist.loss.append(risk)
            hist.train_error.append(err)
        hist.step_norm.append(step_norm)
        if record_grad_norm:
            hist.grad_norm.append(grad_norm)
        if has_val:
            hist.val_error.append(evaluate(net, loss, x_val, y_val)[1])

    record(float("nan"), float("nan"))
    hist.lr.append(opt.lr)
    best_state, best_err = (net.state_dict(), hist.val_error[0]) if has_val else (None, None)
    n = len(x)
    w_prev = flat_parameters(net)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        xs, ys = x[order], y[order]  # one gather per epoch; the mini-batches are views
        norms = []
        for start in range(0, n, batch_size):
            xb, yb = xs[start : start + batch_size], ys[start : start + batch_size]
            # a training step needs no gradient with respect to the data
            net.backward(loss.grad(net.forward(xb, train=True), yb), input_grad=False)
            if record_grad_norm:
                norms.append(net.gradient_norm())
            opt.step(net)
        w = flat_parameters(net)
        record(float(np.linalg.norm(w - w_prev)), float(np.mean(norms)) if norms else 0.0)
        w_prev = w
        if lr_schedule is not None:
            risk = hist.loss[-1] if record_train else float("nan")
            opt.lr = lr_schedule.step(epoch, risk, opt.lr)
        hist.lr.append(opt.lr)
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
