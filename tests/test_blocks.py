"""Tests of relunet.blocks.Residual: gradients against finite differences, the Jacobian I + J_f,
parameters shared live with the body, and the ValueErrors of the contract."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from relunet import (
    SGD,
    Conv1d,
    CrossEntropy,
    Dropout,
    Linear,
    ReLU,
    Residual,
    Sequential,
    check_layer,
    check_network,
    jacobian,
)

PROPERTY = settings(max_examples=25, deadline=None)
TOL = 1e-7
seeds = st.integers(0, 2**32 - 1)


def dense_block(d, rng):
    return Residual(Sequential([Linear(d, d, rng=rng), ReLU()]))


def paper_mlp(rng, d_in=6, width=5, k=3):
    """The shape of Greydanus & Kobak's MLP: linear-ReLU, a residual linear-ReLU, linear."""
    return Sequential(
        [
            Linear(d_in, width, rng=rng),
            ReLU(),
            dense_block(width, rng),
            Linear(width, k, rng=rng),
        ]
    )


# --------------------------------------------------------------------------- gradient checks


@PROPERTY
@given(n=st.integers(1, 5), d=st.integers(1, 6), seed=seeds)
def test_residual_dense_gradients(n, d, seed):
    rng = np.random.default_rng(seed)
    block = dense_block(d, rng)
    block.params["0.b"] = rng.standard_normal(d)
    x = rng.standard_normal((n, d))
    pre = block.body.layers[0].forward(x)
    assume(np.abs(pre).min() > 1e-3)  # away from the ReLU kink
    errors = check_layer(block, x, rng, tol=TOL)
    assert set(errors) == {"x", "0.W", "0.b"}


@PROPERTY
@given(n=st.integers(1, 3), c=st.integers(1, 4), length=st.integers(3, 9), seed=seeds)
def test_residual_conv_gradients(n, c, length, seed):
    rng = np.random.default_rng(seed)
    block = Residual([Conv1d(c, c, 3, rng=rng, padding=1)])  # a list becomes a Sequential
    errors = check_layer(block, rng.standard_normal((n, c, length)), rng, tol=TOL)
    assert set(errors) == {"x", "0.W", "0.b"}


def test_jacobian_is_identity_plus_the_body_jacobian(rng):
    block = dense_block(4, rng)
    x = rng.standard_normal((1, 4))
    expected = np.eye(4) + jacobian(block.body.layers[1], block.body.layers[0].forward(x)) @ (
        jacobian(block.body.layers[0], x)
    )
    np.testing.assert_allclose(jacobian(block, x), expected, rtol=0, atol=1e-15)
    # the parameter Jacobians are the body's
    np.testing.assert_allclose(
        jacobian(block, x, wrt="0.W"), _body_param_jacobian(block, x, "0.W"), rtol=0, atol=1e-15
    )


def _body_param_jacobian(block, x, name):
    """Rows ``body.backward(e_i)`` read from the body's layer: the skip path adds no parameter term."""
    index, key = name.split(".")
    out = block.body.forward(x)
    rows = []
    for i in range(out.size):
        e = np.zeros(out.size)
        e[i] = 1.0
        block.body.backward(e.reshape(out.shape))
        rows.append(block.body.layers[int(index)].grads[key].ravel().copy())
    return np.array(rows)


def test_whole_network_with_a_residual_block(rng):
    net = paper_mlp(rng)
    x = rng.standard_normal((7, 6))
    errors = check_network(net, CrossEntropy(), x, rng.integers(0, 3, 7), tol=1e-6)
    assert set(errors) == {"0.W", "0.b", "2.0.W", "2.0.b", "3.W", "3.b"}


def test_check_layer_rejects_a_block_without_the_skip_gradient(rng):
    class NoSkip(Residual):
        def backward(self, grad_out):
            super().backward(grad_out)
            return self.body.backward(grad_out)  # forgets the identity term

    block = NoSkip([Linear(3, 3, rng=rng)])
    with pytest.raises(AssertionError, match="relative errors above"):
        check_layer(block, rng.standard_normal((4, 3)), rng, tol=TOL)


# --------------------------------------------------------------------------- the contract


def test_forward_adds_the_input(rng):
    block = dense_block(3, rng)
    x = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(block.forward(x), x + block.body.forward(x))


def test_parameters_are_the_bodys_arrays_and_writes_reach_them(rng):
    block = dense_block(3, rng)
    inner = block.body.layers[0]
    assert list(block.params) == ["0.W", "0.b"] and len(block.params) == 2
    assert block.params["0.W"] is inner.params["W"]
    new = np.ones((3, 3), dtype=np.float32)
    block.params["0.W"] = new  # e.g. a conversion to float32
    assert inner.params["W"] is new
    with pytest.raises(KeyError):
        block.params["1.W"]  # ReLU has no parameters
    with pytest.raises(KeyError):
        block.params["W"]
    with pytest.raises(ValueError, match="cannot be deleted"):
        del block.params["0.W"]


def test_optimizer_updates_the_body_and_state_roundtrips(rng):
    net = paper_mlp(rng)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    w_before = net.layers[2].body.layers[0].params["W"].copy()
    loss, opt = CrossEntropy(), SGD(lr=0.1, momentum=0.9)
    net.backward(loss.grad(net.forward(x, train=True), y))
    opt.step(net)
    assert "2.0.W" in opt.velocity
    assert not np.array_equal(net.layers[2].body.layers[0].params["W"], w_before)
    buf = io.BytesIO()
    net.save(buf)
    buf.seek(0)
    twin = paper_mlp(np.random.default_rng(99))
    twin.load(buf)
    np.testing.assert_array_equal(twin.forward(x), net.forward(x))


def test_backward_assigns_not_accumulates_and_keeps_grad_out(rng):
    block = dense_block(3, rng)
    block.forward(rng.standard_normal((4, 3)))
    g = rng.standard_normal((4, 3))
    g_copy = g.copy()
    first = block.backward(g)
    grads = {k: v.copy() for k, v in block.grads.items()}
    second = block.backward(g)
    np.testing.assert_array_equal(first, second)
    for k, v in grads.items():
        np.testing.assert_array_equal(block.grads[k], v)
    np.testing.assert_array_equal(g, g_copy)


def test_nested_blocks_are_named_through(rng):
    outer = Residual([Linear(3, 3, rng=rng), ReLU(), dense_block(3, rng)])
    assert list(outer.params) == ["0.W", "0.b", "2.0.W", "2.0.b"]
    assert outer.params["2.0.W"] is outer.body.layers[2].body.layers[0].params["W"]
    x = rng.standard_normal((4, 3))
    pre = outer.body.layers[0].forward(x)
    pre2 = outer.body.layers[2].body.layers[0].forward(np.maximum(pre, 0))
    assert min(np.abs(pre).min(), np.abs(pre2).min()) > 1e-3  # away from the kinks
    check_layer(outer, x, rng, tol=TOL)


def test_dropout_in_the_body_follows_train(rng):
    block = Residual([Dropout(0.5, rng=rng)])
    x = np.ones((200, 10))
    np.testing.assert_array_equal(block.forward(x, train=False), 2 * x)
    assert len(np.unique(block.forward(x, train=True))) == 2  # 1 (dropped) and 1 + 1/0.5


def test_float32_stays_float32(rng):
    block = dense_block(3, rng)
    for k in list(block.params):
        block.params[k] = block.params[k].astype(np.float32)
    out = block.forward(rng.standard_normal((4, 3)).astype(np.float32))
    assert out.dtype == np.float32
    assert block.backward(np.ones((4, 3), dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("body", [None, 3, "Linear", np.eye(3), {"W": np.eye(3)}, [], [ReLU, 2]])
def test_rejects_a_body_that_is_not_a_network(body):
    with pytest.raises(ValueError, match="body must be|layers must be"):
        Residual(body)


def test_rejects_a_body_that_changes_the_shape(rng):
    block = Residual([Linear(3, 4, rng=rng)])
    with pytest.raises(ValueError, match="must keep the input's shape"):
        block.forward(rng.standard_normal((2, 3)))


def test_backward_before_forward_and_bad_grad_out(rng):
    block = dense_block(3, rng)
    with pytest.raises(ValueError, match="Residual.backward called before forward"):
        block.backward(np.ones((2, 3)))
    block.forward(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        block.backward(np.ones((2, 4)))
    bad = np.ones((2, 3))
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="grad_out contains NaN or inf"):
        block.backward(bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_forward_rejects_nan_and_non_numeric(rng, bad):
    block = dense_block(3, rng)
    x = rng.standard_normal((2, 3))
    x[1, 1] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        block.forward(x)
    with pytest.raises(ValueError, match="x must be a real numeric array"):
        block.forward(np.full((2, 3), "a"))


def test_repr(rng):
    assert repr(dense_block(2, rng)) == "Residual([Linear(2, 2), ReLU()])"
