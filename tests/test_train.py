"""Tests of relunet.train: reproducibility of fit, its history, mini-batches, early stopping with
restoration of the best weights, learning-rate schedules, evaluate, and the ValueErrors of the
contract."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import relunet as rn
from relunet import SGD, CrossEntropy, Dropout, Layer, Linear, ReLU, Sequential, evaluate, fit
from relunet.data import spirals
from relunet.optim import ReduceOnPlateau, StepDecay

X, Y = spirals(40, 3, rng=np.random.default_rng(1), noise=0.3)
X_VAL, Y_VAL = spirals(30, 3, rng=np.random.default_rng(2), noise=0.3)


def make_net(seed, dropout=False):
    rng = np.random.default_rng(seed)
    layers = [Linear(2, 32, rng=rng), ReLU(), Linear(32, 32, rng=rng), ReLU()]
    if dropout:
        layers.append(Dropout(0.8, rng=rng))
    return Sequential([*layers, Linear(32, 3, rng=rng)])


def run(init_seed=0, fit_seed=100, *, epochs=40, dropout=False, val=True, patience=None, **extra):
    net = make_net(init_seed, dropout)
    kwargs = {"x_val": X_VAL, "y_val": Y_VAL, "patience": patience} if val else {}
    kwargs.update(extra)
    hist = fit(
        net,
        CrossEntropy(),
        SGD(lr=0.1, momentum=0.9),
        X,
        Y,
        epochs=epochs,
        batch_size=8,
        rng=np.random.default_rng(fit_seed),
        **kwargs,
    )
    return net, hist


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k


def weights_differ(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return any(not np.array_equal(sa[k], sb[k]) for k in sa)


def test_same_seed_gives_identical_weights_and_history():
    net1, h1 = run(dropout=True, epochs=10, record_grad_norm=True)
    net2, h2 = run(dropout=True, epochs=10, record_grad_norm=True)
    assert_same_weights(net1, net2)
    for field in ("loss", "train_error", "val_error", "grad_norm", "step_norm", "lr"):
        np.testing.assert_array_equal(getattr(h1, field), getattr(h2, field))  # NaN == NaN here
    assert h1.best_epoch == h2.best_epoch


def test_different_seeds_give_different_weights():
    base, _ = run(epochs=3, val=False)
    other_order, _ = run(fit_seed=101, epochs=3, val=False)
    other_init, _ = run(init_seed=1, epochs=3, val=False)
    assert weights_differ(base, other_order)
    assert weights_differ(base, other_init)
    with_dropout_a, _ = run(init_seed=5, fit_seed=7, epochs=3, val=False, dropout=True)
    with_dropout_b, _ = run(init_seed=5, fit_seed=8, epochs=3, val=False, dropout=True)
    assert weights_differ(with_dropout_a, with_dropout_b)


def test_history_without_validation():
    net0 = make_net(0)
    risk0, err0 = evaluate(net0, CrossEntropy(), X, Y)
    net, hist = run(epochs=5, val=False, record_grad_norm=True)
    assert len(hist.loss) == len(hist.train_error) == len(hist.grad_norm) == 6
    assert len(hist.step_norm) == len(hist.lr) == 6
    assert hist.val_error == []
    assert hist.best_epoch == 5 and not hist.stopped_early
    assert hist.loss[0] == risk0 and hist.train_error[0] == err0  # index 0: before training
    assert np.isnan(hist.grad_norm[0]) and np.isnan(hist.step_norm[0])
    assert all(np.isfinite(g) and g > 0 for g in hist.grad_norm[1:] + hist.step_norm[1:])
    assert hist.lr == [0.1] * 6  # no schedule: constant
    assert (hist.loss[-1], hist.train_error[-1]) == evaluate(net, CrossEntropy(), X, Y)


def test_training_reduces_the_risk():
    _, hist = run(epochs=40, val=False)
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert hist.train_error[-1] < hist.train_error[0] - 0.3


def test_history_with_validation_has_one_entry_per_epoch():
    _, hist = run(epochs=7)
    assert len(hist.loss) == len(hist.train_error) == len(hist.step_norm) == len(hist.val_error)
    assert len(hist.loss) == 8
    assert hist.grad_norm == []  # opt-in
    assert evaluate(make_net(0), CrossEntropy(), X_VAL, Y_VAL)[1] == hist.val_error[0]


def test_early_stopping_restores_the_best_weights():
    epochs = 40
    net, hist = run(epochs=epochs)
    best = hist.best_epoch
    assert 0 < best < epochs, "the set-up must have its best epoch strictly inside the run"
    assert hist.val_error[best] == min(hist.val_error)
    assert best == int(np.argmin(hist.val_error))  # the first minimum: improvements are strict
    assert not hist.stopped_early and len(hist.val_error) == epochs + 1
    # the network holds the weights of the best epoch, not of the last one
    risk, _ = evaluate(net, CrossEntropy(), X, Y)
    assert evaluate(net, CrossEntropy(), X_VAL, Y_VAL)[1] == hist.val_error[best]
    assert risk == hist.loss[best] != hist.loss[-1]
    # ... which we reconstruct by training for exactly `best` epochs from the same seeds
    replay, _ = run(epochs=best, val=False)
    assert_same_weights(net, replay)
    last, _ = run(epochs=epochs, val=False)
    assert weights_differ(net, last)


def test_patience_stops_where_the_rule_says():
    """Patience changes nothing until it stops: compare with the run that never stops."""
    _, full = run(epochs=40)
    patience = 3
    best, stop = 0, None
    for epoch in range(1, 41):
        if full.val_error[epoch] < full.val_error[best]:
            best = epoch
        elif epoch - best >= patience:
            stop = epoch
            break
    assert stop is not None, "the set-up must trigger early stopping"
    net, hist = run(epochs=40, patience=patience)
    assert hist.stopped_early
    assert len(hist.val_error) == len(hist.loss) == stop + 1
    assert hist.val_error == full.val_error[: stop + 1]
    assert hist.best_epoch == best == stop - patience
    assert_same_weights(net, run(epochs=best, val=False)[0])


def test_patience_stops_when_validation_cannot_improve():
    # one point three times, once with each label: whatever the prediction, the error is 2/3
    x_val, y_val = np.zeros((3, 2)), np.array([0, 1, 2])
    net = make_net(3)
    initial = make_net(3)
    hist = fit(
        net,
        CrossEntropy(),
        SGD(lr=0.1, momentum=0.9),
        X,
        Y,
        epochs=50,
        batch_size=8,
        rng=np.random.default_rng(0),
        x_val=x_val,
        y_val=y_val,
        patience=4,
    )
    assert hist.val_error == [2 / 3] * 5
    assert hist.stopped_early and hist.best_epoch == 0
    assert len(hist.loss) == len(hist.step_norm) == len(hist.lr) == 5
    assert hist.loss[-1] < hist.loss[0]  # it did train ...
    assert_same_weights(net, initial)  # ... but the best (initial) weights were restored


class Spy(Layer):
    """An identity layer that records what it sees in training mode."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, *, train=False):
        if train:
            self.seen.append(np.array(x))
        self._cache, self._out_shape = True, np.shape(x)
        return x

    def backward(self, grad_out):
        _, g = self._take_cache(grad_out)
        return g


def test_each_epoch_visits_every_sample_once_in_mini_batches():
    n, batch, epochs = len(X), 7, 3  # 120 samples: 17 batches of 7 and one of 1
    spy = Spy()
    rng = np.random.default_rng(0)
    net = Sequential([spy, Linear(2, 3, rng=rng)])
    opt = SGD(lr=0.01)
    fit(net, CrossEntropy(), opt, X, Y, epochs=epochs, batch_size=batch, rng=rng)
    per_epoch = -(-n // batch)
    assert opt.t == epochs * per_epoch
    assert len(spy.seen) == epochs * per_epoch
    for e in range(epochs):
        batches = spy.seen[e * per_epoch : (e + 1) * per_epoch]
        assert [len(b) for b in batches] == [batch] * (per_epoch - 1) + [n % batch]
        rows = np.concatenate(batches)
        order = np.lexsort(rows.T)
        assert np.array_equal(rows[order], X[np.lexsort(X.T)])  # a permutation of X
    assert not np.array_equal(spy.seen[0], spy.seen[per_epoch])  # reshuffled each epoch


@pytest.mark.parametrize("nesterov", [False, True])
def test_one_epoch_by_hand(nesterov):
    """fit's epoch is: permute with rng, then forward/backward/step per mini-batch; the recorded
    gradient norm is the mean of the mini-batch norms, the step norm ||w_1 - w_0||."""
    net, ref = make_net(0), make_net(0)
    w0 = np.concatenate([p.ravel() for p, _ in ref.parameters()])
    opt = SGD(lr=0.1, momentum=0.5, nesterov=nesterov)
    ref_opt, loss = SGD(lr=0.1, momentum=0.5, nesterov=nesterov), CrossEntropy()
    hist = fit(
        net,
        loss,
        opt,
        X,
        Y,
        epochs=1,
        batch_size=50,
        rng=np.random.default_rng(3),
        record_grad_norm=True,
    )
    order = np.random.default_rng(3).permutation(len(X))
    norms = []
    for start in range(0, len(X), 50):
        idx = order[start : start + 50]
        ref.backward(loss.grad(ref.forward(X[idx], train=True), Y[idx]))
        norms.append(ref.gradient_norm())
        ref_opt.step(ref)
    assert len(norms) == 3 and len(set(norms)) == 3
    assert hist.grad_norm[1] == pytest.approx(np.mean(norms), rel=1e-12)
    assert_same_weights(net, ref)
    w1 = np.concatenate([p.ravel() for p, _ in ref.parameters()])
    assert hist.step_norm[1] == pytest.approx(np.linalg.norm(w1 - w0), rel=1e-12)


def test_zero_epochs_changes_nothing():
    net = make_net(0)
    hist = fit(
        net,
        CrossEntropy(),
        SGD(lr=0.1),
        X,
        Y,
        epochs=0,
        batch_size=8,
        rng=np.random.default_rng(0),
        x_val=X_VAL,
        y_val=Y_VAL,
    )
    assert len(hist.loss) == len(hist.val_error) == 1
    assert hist.best_epoch == 0
    assert_same_weights(net, make_net(0))


def test_evaluate_matches_a_direct_computation():
    net = make_net(4)
    loss = CrossEntropy()
    z = net.forward(X)
    risk, err = evaluate(net, loss, X, Y)
    assert risk == pytest.approx(loss(z, Y), rel=1e-14)
    assert err == np.mean(np.argmax(z, axis=1) != Y)
    risk_b, err_b = evaluate(net, loss, X, Y, batch_size=7)
    assert risk_b == pytest.approx(risk, rel=1e-13)
    assert err_b == err


def test_evaluate_uses_test_mode():
    net = make_net(4, dropout=True)
    a = evaluate(net, CrossEntropy(), X, Y)
    b = evaluate(net, CrossEntropy(), X, Y)
    assert a == b


def _fit(**overrides):
    kwargs = {
        "net": make_net(0),
        "loss": CrossEntropy(),
        "opt": SGD(lr=0.1),
        "x": X,
        "y": Y,
        "epochs": 1,
        "batch_size": 8,
        "rng": np.random.default_rng(0),
    }
    kwargs.update(overrides)
    return fit(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"y": Y[:-1]}, r"y must have shape \(120,\) to match the batch"),
        ({"epochs": -1}, "epochs must be >= 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        *[({"epochs": v}, "epochs must be an integer") for v in (True, 2.0, 2.5, "3", None)],
        *[({"batch_size": v}, "batch_size must be an integer") for v in (False, 8.0, "8")],
        ({"lr_schedule": 0.1}, "lr_schedule must have a method step"),
        ({"lr_schedule": lambda e, r, lr: lr}, "lr_schedule must have a method step"),
        ({"record_grad_norm": 1}, "record_grad_norm must be True or False"),
        ({"rng": 0}, "rng must be a numpy.random.Generator"),
        ({"x_val": X_VAL}, "x_val and y_val must be given together"),
        ({"y_val": Y_VAL}, "x_val and y_val must be given together"),
        ({"patience": 3}, "patience needs a validation set"),
        ({"x": np.where(np.arange(240).reshape(120, 2) == 5, np.nan, X)}, "x contains NaN"),
        ({"y": Y.astype(float)}, "y must hold integer class labels"),
        ({"y": Y + 1}, r"y must lie in \[0, 3\)"),
    ],
)
def test_fit_rejects_bad_input(overrides, match):
    with pytest.raises(ValueError, match=match):
        _fit(**overrides)


def test_fit_rejects_soft_targets_and_bad_patience():
    net, opt = make_net(0), SGD(lr=0.1)
    onehot = np.eye(3)[Y]
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        fit(
            net,
            CrossEntropy(),
            opt,
            X,
            onehot,
            epochs=1,
            batch_size=8,
            rng=np.random.default_rng(0),
        )
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ValueError, match="patience must be"):
            fit(
                net,
                CrossEntropy(),
                opt,
                X,
                Y,
                epochs=1,
                batch_size=8,
                rng=np.random.default_rng(0),
                x_val=X_VAL,
                y_val=Y_VAL,
                patience=bad,
            )


# ---------------------------------------------------------------- learning-rate schedules in fit
def test_step_decay_in_fit_equals_changing_the_rate_by_hand():
    """fit with StepDecay(every=2) == fit one epoch at a time, dividing lr by 10 after epochs 2, 4."""
    net, hist = run(epochs=5, val=False, lr_schedule=StepDecay(every=2))
    np.testing.assert_allclose(hist.lr, [0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3], rtol=1e-14)
    ref, opt, rng = make_net(0), SGD(lr=0.1, momentum=0.9), np.random.default_rng(100)
    for epoch in range(1, 6):
        fit(ref, CrossEntropy(), opt, X, Y, epochs=1, batch_size=8, rng=rng)
        if epoch % 2 == 0:
            opt.lr = opt.lr * 0.1
    assert_same_weights(net, ref)


def test_reduce_on_plateau_in_fit_follows_the_training_risk():
    """The rates fit records are those the schedule gives when fed fit's own training risks."""
    _, hist = run(epochs=30, val=False, lr_schedule=ReduceOnPlateau(patience=2, threshold=0.05))
    replay, lr, lrs = ReduceOnPlateau(patience=2, threshold=0.05), 0.1, [0.1]
    for epoch in range(1, 31):
        lr = replay.step(epoch, hist.loss[epoch], lr)
        lrs.append(lr)
    assert hist.lr == lrs
    assert min(lrs) < 0.1, "the set-up must reach a plateau"


def test_schedule_records_the_rate_before_early_stopping():
    _, hist = run(epochs=40, patience=3, lr_schedule=StepDecay(every=1, factor=0.5))
    assert hist.stopped_early
    assert len(hist.lr) == len(hist.loss)
    np.testing.assert_allclose(hist.lr, 0.1 * 0.5 ** np.arange(len(hist.lr)), rtol=1e-14)


def test_nesterov_training_is_reproducible_and_reduces_the_risk():
    def go():
        net = make_net(0)
        opt = SGD(lr=0.1, momentum=0.9, nesterov=True)
        h = fit(
            net, CrossEntropy(), opt, X, Y, epochs=30, batch_size=8, rng=np.random.default_rng(1)
        )
        return net, h

    (a, ha), (b, hb) = go(), go()
    assert_same_weights(a, b)
    assert ha.loss == hb.loss
    assert ha.loss[-1] < 0.5 * ha.loss[0]


@pytest.mark.parametrize("bad", [0, 2.0, True, "8"])
def test_evaluate_rejects_a_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size must be"):
        evaluate(make_net(0), CrossEntropy(), X, Y, batch_size=bad)


def test_record_train_false_skips_the_training_risk_and_changes_nothing_else():
    full_net, full = run(epochs=4, lr_schedule=StepDecay(every=2))
    lean_net, lean = run(epochs=4, lr_schedule=StepDecay(every=2), record_train=False)
    assert lean.loss == [] and lean.train_error == []
    assert lean.val_error == full.val_error and lean.lr == full.lr
    np.testing.assert_array_equal(lean.step_norm, full.step_norm)
    assert lean.best_epoch == full.best_epoch
    assert_same_weights(full_net, lean_net)
    with pytest.raises(ValueError, match="train_risk must be a finite real number"):
        run(epochs=1, val=False, lr_schedule=ReduceOnPlateau(), record_train=False)
    with pytest.raises(ValueError, match="record_train must be True or False"):
        run(epochs=1, val=False, record_train=None)


# --------------------------------------------------------------------------- objects at the boundary


def _small_problem():
    g = np.random.default_rng(0)
    net = rn.mlp((4, 5, 3), rng=g)
    return net, g.normal(size=(6, 4)), np.arange(6) % 3


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"net": rn.Linear(4, 3, rng=np.random.default_rng(1))}, "net"),
        ({"net": "net"}, "net"),
        ({"loss": "cross-entropy"}, "loss"),
        ({"loss": lambda z, y: 0.0}, "loss"),
        ({"opt": "sgd"}, "opt"),
        ({"opt": object()}, "opt"),
        ({"rng": np.random.RandomState(0)}, "rng"),
        ({"rng": 0}, "rng"),
        ({"y_val": np.array([0.5, 1.5])}, "y_val"),
        ({"x_val": np.full((2, 4), np.nan)}, "x_val"),
        ({"record_train": 1}, "record_train"),
    ],
)
def test_fit_names_a_bad_argument(change, name):
    net, x, y = _small_problem()
    args = {"net": net, "loss": rn.CrossEntropy(), "opt": rn.SGD(lr=0.1), "rng": np.random.default_rng(0),
            "x_val": x[:2], "y_val": y[:2], "record_train": True}  # fmt: skip
    args.update(change)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        rn.fit(args.pop("net"), args.pop("loss"), args.pop("opt"), x, y, epochs=1, batch_size=2,
               **args)  # fmt: skip


@pytest.mark.parametrize(
    ("net", "loss", "y", "name"),
    [
        ("net", rn.CrossEntropy(), None, "net"),
        (None, "ce", None, "loss"),
        (None, rn.CrossEntropy(), np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]), "y"),
        (None, rn.CrossEntropy(), np.array([0, 1, 2]), "y"),
    ],
)
def test_evaluate_names_a_bad_argument(net, loss, y, name):
    net0, x, y0 = _small_problem()
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        rn.evaluate(net0 if net is None else net, loss, x, y0 if y is None else y)


def test_fit_backward_skips_the_input_gradient_and_matches_a_hand_loop():
    """fit's step equals forward, loss.grad, full backward, SGD step by hand, bit for bit."""
    net, x, y = _small_problem()
    twin = rn.Sequential([copy.deepcopy(lay) for lay in net.layers])
    rn.fit(net, rn.CrossEntropy(), rn.SGD(lr=0.1, momentum=0.9), x, y, epochs=1, batch_size=6,
           rng=np.random.default_rng(3), record_train=False)  # fmt: skip
    order = np.random.default_rng(3).permutation(6)
    opt = rn.SGD(lr=0.1, momentum=0.9)
    twin.backward(rn.CrossEntropy().grad(twin.forward(x[order], train=True), y[order]))
    opt.step(twin)
    for (_, a, _), (_, b, _) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
        assert np.array_equal(a, b)
