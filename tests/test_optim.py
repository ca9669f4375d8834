"""Tests of relunet.optim: the momentum update by hand, plain gradient descent, where velocities
live, Nesterov's accelerated gradient against its definition (with the gradient at the look-ahead
point checked by finite differences), the Sutskever et al. (2013) momentum schedule, the
learning-rate schedules, and the ValueErrors of every public name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet import (
    SGD,
    Linear,
    Quadratic,
    ReLU,
    Sequential,
    numerical_gradient,
    relative_error,
    sutskever_momentum,
)
from relunet.optim import ReduceOnPlateau, StepDecay

PROPERTY = settings(max_examples=25, deadline=None)
BAD_REALS = [True, "0.1", None, float("nan"), float("inf"), -float("inf")]
BAD_COUNTS = [True, 2.0, 2.5, "3", None, float("nan")]


def tiny_net(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Linear(3, 2, rng=rng), ReLU(), Linear(2, 2, rng=rng)])


def set_grads(net, value):
    for layer in net.layers:
        for k in layer.grads:
            layer.grads[k] = np.full_like(layer.params[k], value)


def test_momentum_update_by_hand_with_given_gradients():
    """lr = 1/2, mu = 1/2 and gradients 1, 2, -1: every number below is exact in binary.

    v1 = -1/2 * 1 = -0.5;  v2 = 0.5 * -0.5 - 0.5 * 2 = -1.25;  v3 = 0.5 * -1.25 + 0.5 = -0.125,
    so the weights move by -0.5, -1.75, -1.875 in total.
    """
    net = tiny_net()
    w0 = net.state_dict()
    opt = SGD(lr=0.5, momentum=0.5)
    for g, v_expected, total in [(1.0, -0.5, -0.5), (2.0, -1.25, -1.75), (-1.0, -0.125, -1.875)]:
        set_grads(net, g)
        opt.step(net)
        for name, p, _ in net.named_parameters():
            assert np.array_equal(opt.velocity[name], np.full(p.shape, v_expected))
            assert np.array_equal(p, w0[name] + total)
    assert opt.t == 3


def test_momentum_update_by_hand_with_backprop(rng):
    """Three steps on a one-layer network, gradients and updates written out independently."""
    net = Sequential([Linear(3, 2, rng=rng)])
    x, q = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    W, b = net.layers[0].params["W"].copy(), net.layers[0].params["b"].copy()
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    lr, mu = 0.1, 0.9
    opt, loss = SGD(lr=lr, momentum=mu), Quadratic()
    for _ in range(3):
        # by hand: L = 1/(2N) sum_n ||W x_n + b - q_n||^2
        r = np.array([W @ x[n] + b - q[n] for n in range(4)]) / 4
        gW = sum(np.outer(r[n], x[n]) for n in range(4))
        gb = r.sum(axis=0)
        vW, vb = mu * vW - lr * gW, mu * vb - lr * gb
        W, b = W + vW, b + vb
        # the library
        net.backward(loss.grad(net.forward(x), q))
        opt.step(net)
        np.testing.assert_allclose(net.layers[0].params["W"], W, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(net.layers[0].params["b"], b, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(opt.velocity["0.W"], vW, rtol=1e-12, atol=1e-15)


def test_zero_momentum_is_plain_gradient_descent(rng):
    net = tiny_net(1)
    opt = SGD(lr=0.3)  # default momentum 0
    assert opt.mu() == 0.0
    for step in range(3):
        before = net.state_dict()
        grads = {}
        for layer in net.layers:
            for k in layer.grads:
                layer.grads[k] = rng.standard_normal(layer.params[k].shape)
        grads = {name: g.copy() for name, _, g in net.named_parameters()}
        opt.step(net)
        for name, p, _ in net.named_parameters():
            assert np.array_equal(p, before[name] - 0.3 * grads[name]), (step, name)


def test_step_leaves_gradients_and_layers_alone(rng):
    net = tiny_net(2)
    set_grads(net, 0.25)
    attrs = [set(vars(layer)) for layer in net.layers]
    grads = {name: g.copy() for name, _, g in net.named_parameters()}
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(net)
    assert sorted(opt.velocity) == ["0.W", "0.b", "2.W", "2.b"]
    for name, _, g in net.named_parameters():
        assert np.array_equal(g, grads[name])
        assert opt.velocity[name] is not g
    assert [set(vars(layer)) for layer in net.layers] == attrs  # no velocity stored on layers


def test_momentum_schedule_is_used_step_by_step():
    net = Sequential([Linear(1, 1, rng=np.random.default_rng(0))])
    w0 = net.layers[0].params["W"].copy()
    mus = [0.0, 0.5, 0.25]
    opt = SGD(lr=1.0, momentum=lambda t: mus[t])
    v, w = 0.0, w0.copy()
    for t in range(3):
        assert opt.mu() == mus[t]
        set_grads(net, 1.0)
        opt.step(net)
        v = mus[t] * v - 1.0
        w = w + v
        assert np.array_equal(net.layers[0].params["W"], w)


def test_sgd_with_sutskever_schedule():
    opt = SGD(lr=0.1, momentum=sutskever_momentum)
    assert opt.mu() == 0.5
    opt.t = 250
    assert opt.mu() == 0.75


@pytest.mark.parametrize(
    ("t", "mu"),
    [(0, 0.5), (1, 0.5), (249, 0.5), (250, 0.75), (749, 1 - 1 / 6), (750, 0.875), (1750, 0.9375)],
)
def test_sutskever_momentum_values(t, mu):
    # mu_t = 1 - 2^(-1 - log2(floor(t/250) + 1)) = 1 - 1 / (2 (floor(t/250) + 1))
    assert sutskever_momentum(t) == pytest.approx(mu, abs=1e-15)
    assert sutskever_momentum(t) == pytest.approx(1 - 1 / (2 * (t // 250 + 1)), abs=1e-15)


def test_sutskever_momentum_saturates_at_mu_max():
    ts = np.arange(0, 100_000, 50)
    mus = np.array([sutskever_momentum(int(t)) for t in ts])
    assert np.all(np.diff(mus) >= 0)
    assert mus.max() == 0.99
    assert sutskever_momentum(10**7) == 0.99
    assert sutskever_momentum(15_750) == 0.99  # 1 - 1/128 > 0.99
    assert sutskever_momentum(7_750) == pytest.approx(1 - 1 / 64)  # below the cap
    assert sutskever_momentum(1750, mu_max=0.9) == 0.9
    assert sutskever_momentum(750, mu_max=0.9) == 0.875
    assert sutskever_momentum(0, mu_max=0.3) == 0.3


def test_sutskever_momentum_rejects_bad_arguments():
    with pytest.raises(ValueError, match="t must be >= 0"):
        sutskever_momentum(-1)
    for t in BAD_COUNTS:
        with pytest.raises(ValueError, match="t must be an integer"):
            sutskever_momentum(t)
    for mu_max in [1.0, -0.1, 1.5, *BAD_REALS]:
        with pytest.raises(ValueError, match="mu_max must be"):
            sutskever_momentum(10, mu_max=mu_max)
    assert sutskever_momentum(np.int64(250)) == 0.75  # NumPy integers are counts too


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, *BAD_REALS])
def test_sgd_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="lr must be"):
        SGD(lr=lr)
    opt = SGD(lr=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = lr  # a schedule cannot set a bad rate either
    assert opt.lr == 0.1


@pytest.mark.parametrize("momentum", [-0.1, 1.5, *BAD_REALS])
def test_sgd_rejects_bad_momentum(momentum):
    with pytest.raises(ValueError, match="momentum must be"):
        SGD(lr=0.1, momentum=momentum)


@pytest.mark.parametrize("value", [1.5, -0.5, float("nan"), "0.9", True])
def test_sgd_rejects_a_schedule_returning_a_bad_coefficient(value):
    opt = SGD(lr=0.1, momentum=lambda t: 0.5 if t == 0 else value)
    assert opt.mu() == 0.5
    with pytest.raises(ValueError, match=r"momentum\(1\) must be"):
        opt.mu(1)


@pytest.mark.parametrize("nesterov", [1, 0, "yes", None])
def test_sgd_rejects_non_bool_nesterov(nesterov):
    with pytest.raises(ValueError, match="nesterov must be True or False"):
        SGD(lr=0.1, momentum=0.9, nesterov=nesterov)


def test_step_rejects_a_gradient_of_the_wrong_shape():
    net = tiny_net()
    set_grads(net, 1.0)
    net.layers[0].grads["b"] = np.ones((1, 2))  # would broadcast silently into a (2,) parameter
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 2\)"):
        SGD(lr=0.1).step(net)


# ---------------------------------------------------------------- Nesterov against its definition
def quadratic_problem(seed):
    """A one-layer network under the quadratic loss: its risk is a quadratic in (W, b)."""
    rng = np.random.default_rng(seed)
    x, q = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    net = Sequential([Linear(3, 2, rng=rng)])

    def risk(W, b):  # written out independently of relunet: L = 1/(2N) sum_n ||W x_n + b - q_n||^2
        return 0.5 * np.mean(np.sum((x @ W.T + b - q) ** 2, axis=1))

    return net, x, q, risk


def fd_gradient(risk, W, b):
    """Central differences of the risk at (W, b): exact for a quadratic up to rounding."""
    W, b = W.copy(), b.copy()
    return numerical_gradient(lambda: risk(W, b), W), numerical_gradient(lambda: risk(W, b), b)


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    lr=st.floats(0.01, 0.5),
    mus=st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8),
    nesterov=st.booleans(),
)
def test_momentum_and_nesterov_follow_their_definitions(seed, lr, mus, nesterov):
    """Seven steps with a time-varying mu_t: the library against eqs. (3)-(4) of Sutskever et al.
    (2013) (or the classical update), whose gradient is taken by finite differences at the point
    the definition names: w_t + mu_t v_t for Nesterov, w_t for classical momentum."""
    net, x, q, risk = quadratic_problem(seed)
    layer, loss = net.layers[0], Quadratic()
    w = {"W": layer.params["W"].copy(), "b": layer.params["b"].copy()}
    v = {k: np.zeros_like(a) for k, a in w.items()}
    opt = SGD(lr=lr, momentum=lambda t: mus[t], nesterov=nesterov)
    for t in range(7):
        mu = mus[t]
        point = {k: w[k] + mu * v[k] if nesterov else w[k] for k in w}
        # the network holds that point, and backward's gradient is the gradient there
        for k in w:
            np.testing.assert_allclose(layer.params[k], point[k], rtol=1e-9, atol=1e-9)
        net.backward(loss.grad(net.forward(x), q))
        g = dict(zip("Wb", fd_gradient(risk, point["W"], point["b"]), strict=True))
        for k in w:
            assert relative_error(layer.grads[k], g[k]) < 1e-7, (t, k)
        # the definition, with the finite-difference gradient
        for k in w:
            v[k] = mu * v[k] - lr * g[k]
            w[k] = w[k] + v[k]
        opt.step(net)
        iterate = opt.iterate(net)
        for k in w:
            # the finite-difference gradients carry ~1e-11 of rounding into w and v; a wrong
            # point or coefficient would be off by ~lr * |g| (~1e-2)
            np.testing.assert_allclose(iterate[f"0.{k}"], w[k], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(opt.velocity[f"0.{k}"], v[k], rtol=1e-9, atol=1e-9)
    assert opt.t == 7


def test_nesterov_holds_the_look_ahead_point_exactly():
    """lr = 1/2, mu = 1/2, unit gradients: u_1 = w_1 + mu v_1 with v_1 = -1/2, w_1 = w_0 - 1/2."""
    net = tiny_net()
    for _, p, _ in net.named_parameters():
        p[...] = np.arange(p.size).reshape(p.shape)  # integers: every number below is exact
    w0 = net.state_dict()
    opt = SGD(lr=0.5, momentum=0.5, nesterov=True)
    set_grads(net, 1.0)
    opt.step(net)
    for name, p, _ in net.named_parameters():
        assert np.array_equal(p, w0[name] - 0.5 - 0.25)
        assert np.array_equal(opt.iterate(net)[name], w0[name] - 0.5)


def test_nesterov_without_momentum_is_plain_gradient_descent(rng):
    a, b = tiny_net(3), tiny_net(3)
    opt_a, opt_b = SGD(lr=0.2, nesterov=True), SGD(lr=0.2)
    x = rng.standard_normal((4, 3))
    q = rng.standard_normal((4, 2))
    for _ in range(3):
        for net, opt in ((a, opt_a), (b, opt_b)):
            net.backward(Quadratic().grad(net.forward(x), q))
            opt.step(net)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)


class Flat:
    """Not a Sequential: just named_parameters(), as the optimizer's generic path expects."""

    def __init__(self, w):
        self.w, self.g = w, np.zeros_like(w)

    def named_parameters(self):
        yield "w", self.w, self.g


@pytest.mark.parametrize("nesterov", [False, True])
def test_any_object_with_named_parameters_is_stepped_like_a_network(nesterov):
    net = Sequential([Linear(1, 3, rng=np.random.default_rng(0))])
    flat = Flat(net.layers[0].params["W"][:, 0].copy())
    opt_net = SGD(lr=0.1, momentum=0.8, nesterov=nesterov)
    opt_flat = SGD(lr=0.1, momentum=0.8, nesterov=nesterov)
    for t in range(4):
        g = np.array([1.0, -2.0, 0.5]) * (t + 1)
        net.layers[0].grads["W"] = g[:, None].copy()
        net.layers[0].grads["b"] = np.zeros(3)
        flat.g = g.copy()  # a new gradient array each step, as backward writes
        opt_net.step(net)
        opt_flat.step(flat)
        assert np.array_equal(net.layers[0].params["W"][:, 0], flat.w)
    assert np.array_equal(opt_flat.iterate(flat)["w"], opt_net.iterate(net)["0.W"][:, 0])


def test_parameters_replaced_between_steps_are_still_updated():
    net = tiny_net()
    opt = SGD(lr=0.5, momentum=0.5)
    set_grads(net, 1.0)
    opt.step(net)
    new = np.zeros((2, 3))
    net.layers[0].params["W"] = new
    set_grads(net, 1.0)
    opt.step(net)  # v = 0.5 * -0.5 - 0.5 = -0.75
    assert net.layers[0].params["W"] is new
    assert np.array_equal(new, np.full((2, 3), -0.75))


# ---------------------------------------------------------------- learning-rate schedules
def test_step_decay_divides_by_ten_every_few_epochs():
    sched = StepDecay(every=3)
    lr, lrs = 1.0, []
    for epoch in range(1, 10):
        lr = sched.step(epoch, 0.5, lr)
        lrs.append(lr)
    expected = [1.0 * 0.1 ** (e // 3) for e in range(1, 10)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15)
    assert StepDecay(2, factor=0.5).step(4, 0.0, 0.8) == 0.4


def test_reduce_on_plateau_by_hand():
    """patience 2, threshold 10 %: a risk must fall below 0.9 x the best to count as progress."""
    sched = ReduceOnPlateau(patience=2, factor=0.1, threshold=0.1)
    risks = [1.0, 0.8, 0.75, 0.74, 0.5, 0.49, 0.48, 0.47, 0.46]
    # epoch:   1 best  2 best 3 bad  4 bad->cut 5 best 6 bad 7 bad->cut 8 bad 9 bad->cut
    expected = [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001]
    lr, lrs = 1.0, []
    for epoch, risk in enumerate(risks, start=1):
        lr = sched.step(epoch, risk, lr)
        lrs.append(lr)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert sched.best == 0.5
    sched.reset()
    assert sched.best == math.inf and sched.bad_epochs == 0
    assert sched.step(1, 5.0, 1.0) == 1.0 and sched.best == 5.0


@PROPERTY
@given(
    risks=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30),
    patience=st.integers(1, 4),
    threshold=st.floats(0.0, 0.5),
)
def test_reduce_on_plateau_cuts_only_after_patience_epochs_without_progress(
    risks, patience, threshold
):
    sched = ReduceOnPlateau(patience=patience, factor=0.5, threshold=threshold)
    lr, best, since = 1.0, math.inf, 0
    for epoch, risk in enumerate(risks, start=1):
        new = sched.step(epoch, risk, lr)
        assert new in (lr, 0.5 * lr)
        if best == math.inf or risk < best * (1 - threshold):
            best, since = risk, 0
            assert new == lr
        else:
            since += 1
            assert (new < lr) == (since == patience)
            since %= patience
        lr = new


@pytest.mark.parametrize(
    ("make", "match"),
    [
        *[(lambda v=v: StepDecay(every=v), "every must be") for v in [0, -1, *BAD_COUNTS]],
        *[(lambda v=v: StepDecay(2, factor=v), "factor must be") for v in [0, 1, 1.5, *BAD_REALS]],
        *[(lambda v=v: ReduceOnPlateau(patience=v), "patience must be") for v in [0, *BAD_COUNTS]],
        *[
            (lambda v=v: ReduceOnPlateau(factor=v), "factor must be")
            for v in [0.0, 1.0, *BAD_REALS]
        ],
        *[
            (lambda v=v: ReduceOnPlateau(threshold=v), "threshold must be")
            for v in [-0.1, 1.0, *BAD_REALS]
        ],
        (lambda: StepDecay(2).step(0, 1.0, 0.1), "epoch must be >= 1"),
        (lambda: StepDecay(2).step(1.0, 1.0, 0.1), "epoch must be an integer"),
        (lambda: ReduceOnPlateau().step(1, float("nan"), 0.1), "train_risk must be"),
        (lambda: ReduceOnPlateau().step(1, -1.0, 0.1), "train_risk must be"),
    ],
)
def test_schedules_reject_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("net", ["net", None, 3, np.zeros(3)])
def test_step_names_net_when_it_is_not_a_network(net):
    with pytest.raises(ValueError, match=r"\bnet\b"):
        SGD(lr=0.1).step(net)
