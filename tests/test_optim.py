"""Tests of relunet.optim: the momentum update by hand, plain gradient descent, where velocities
live, and the Sutskever et al. (2013) momentum schedule."""

from __future__ import annotations

import numpy as np
import pytest
from relunet import SGD, Linear, Quadratic, ReLU, Sequential, sutskever_momentum


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
    for mu_max in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="mu_max"):
            sutskever_momentum(10, mu_max=mu_max)


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf")])
def test_sgd_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        SGD(lr=lr)


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_sgd_rejects_bad_momentum(momentum):
    with pytest.raises(ValueError, match="momentum must lie in"):
        SGD(lr=0.1, momentum=momentum)
