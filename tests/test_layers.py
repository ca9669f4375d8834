"""Tests of relunet.layers: gradients against finite differences, forward passes against direct
loops, and the ValueErrors of the contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet import Conv1d, Flatten, Linear, MaxPool1d, ReLU, check_layer

PROPERTY = settings(max_examples=25, deadline=None)
TOL = 1e-7
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape, margin=1e-3):
    """Standard normal entries pushed away from the ReLU kink: every ``|x| > margin``."""
    x = rng.standard_normal(shape)
    return x + np.copysign(margin, x)


def tie_free(rng, shape):
    """Entries that are all distinct, at least 0.09 apart (far more than 2h = 2e-5)."""
    size = int(np.prod(shape))
    x = 0.1 * rng.permutation(size) - 0.05 * size + rng.uniform(0.0, 0.01, size)
    return x.reshape(shape)


def conv1d_reference(x, W, b, stride, padding):
    """:math:`a_{o,t} = b_o + \\sum_c\\sum_j W_{o,c,j} x_{c, st+j}` by explicit loops."""
    n, c_in, length = x.shape
    c_out, _, k = W.shape
    xp = np.zeros((n, c_in, length + 2 * padding))
    xp[:, :, padding : padding + length] = x
    t_out = (length + 2 * padding - k) // stride + 1
    out = np.empty((n, c_out, t_out))
    for i in range(n):
        for o in range(c_out):
            for t in range(t_out):
                out[i, o, t] = b[o] + np.sum(W[o] * xp[i, :, t * stride : t * stride + k])
    return out


def maxpool_reference(x, k, stride):
    n, c, length = x.shape
    t_out = (length - k) // stride + 1
    out = np.empty((n, c, t_out))
    for t in range(t_out):
        out[:, :, t] = x[:, :, t * stride : t * stride + k].max(axis=2)
    return out


# --------------------------------------------------------------------------- gradient checks


@PROPERTY
@given(n=st.integers(1, 5), d_in=st.integers(1, 6), d_out=st.integers(1, 6), seed=seeds)
def test_linear_gradients(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(d_in, d_out, rng=rng)
    layer.params["b"] = rng.standard_normal(d_out)  # a non-zero bias
    errors = check_layer(layer, rng.standard_normal((n, d_in)), rng, tol=TOL)
    assert set(errors) == {"x", "W", "b"}


@PROPERTY
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=3), seed=seeds)
def test_relu_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    errors = check_layer(ReLU(), away_from_zero(rng, shape), rng, tol=TOL)
    assert set(errors) == {"x"}


@PROPERTY
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=seeds)
def test_flatten_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    check_layer(Flatten(), rng.standard_normal(shape), rng, tol=TOL)


@PROPERTY
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    extra=st.integers(0, 5),
    seed=seeds,
)
def test_conv1d_gradients(n, c_in, c_out, k, stride, padding, extra, seed):
    rng = np.random.default_rng(seed)
    length = max(1, k - 2 * padding) + extra
    layer = Conv1d(c_in, c_out, k, rng=rng, stride=stride, padding=padding)
    layer.params["b"] = rng.standard_normal(c_out)
    errors = check_layer(layer, rng.standard_normal((n, c_in, length)), rng, tol=TOL)
    assert set(errors) == {"x", "W", "b"}


@PROPERTY
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 5),
    extra=st.integers(0, 6),
    seed=seeds,
)
def test_maxpool1d_gradients(n, c, k, stride, extra, seed):
    """Overlapping (stride < k), adjacent and gapped (stride > k) windows, all tie-free."""
    rng = np.random.default_rng(seed)
    x = tie_free(rng, (n, c, k + extra))
    check_layer(MaxPool1d(k, stride=stride), x, rng, tol=TOL)


def test_maxpool1d_overlapping_gradient_check_explicit(rng):
    x = tie_free(rng, (2, 3, 11))
    assert check_layer(MaxPool1d(4, stride=1), x, rng, tol=TOL)["x"] < TOL


def test_conv1d_gradient_check_with_stride_and_padding_explicit(rng):
    layer = Conv1d(2, 3, 3, rng=rng, stride=2, padding=1)
    layer.params["b"] = rng.standard_normal(3)
    check_layer(layer, rng.standard_normal((4, 2, 9)), rng, tol=TOL)


# --------------------------------------------------------------------------- forward passes


def test_linear_forward_and_backward_formulas(rng):
    layer = Linear(3, 2, rng=rng)
    layer.params["b"] = np.array([0.5, -1.0])
    x = rng.standard_normal((4, 3))
    out = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    expected = np.array([[W[i] @ x[n] + b[i] for i in range(2)] for n in range(4)])
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-15)
    g = rng.standard_normal((4, 2))
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, sum(np.outer(g[:, i], W[i]) for i in range(2)), rtol=1e-14)
    np.testing.assert_allclose(layer.grads["W"], sum(np.outer(g[n], x[n]) for n in range(4)))
    np.testing.assert_allclose(layer.grads["b"], g.sum(axis=0))


def test_linear_init_he_and_scale():
    rng = np.random.default_rng(0)
    layer = Linear(400, 300, rng=rng)
    assert layer.params["W"].shape == (300, 400)
    assert np.array_equal(layer.params["b"], np.zeros(300))
    # std of 120000 draws from N(0, 2/400): standard error of the sample std ~ std/sqrt(2n)
    std = np.sqrt(2 / 400)
    assert abs(layer.params["W"].std() - std) < 5 * std / np.sqrt(2 * 120000)
    small = Linear(400, 300, rng=rng, scale=1e-3)
    assert abs(small.params["W"].std() - 1e-3) < 5e-3 / np.sqrt(2 * 120000)


def test_backward_assigns_not_accumulates_and_keeps_grad_out(rng):
    layer = Linear(3, 2, rng=rng)
    x = rng.standard_normal((5, 3))
    layer.forward(x)
    g = rng.standard_normal((5, 2))
    g_copy = g.copy()
    layer.backward(g)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(g)
    for k in first:
        assert np.array_equal(layer.grads[k], first[k])
    assert np.array_equal(g, g_copy)
    W_before = layer.params["W"].copy()
    layer.backward(g)
    assert np.array_equal(layer.params["W"], W_before)  # only an optimizer updates parameters


def test_relu_forward_and_subgradient_at_zero():
    x = np.array([[-2.0, 0.0, 3.0, -0.0]])
    r = ReLU()
    assert np.array_equal(r.forward(x), np.array([[0.0, 0.0, 3.0, 0.0]]))
    assert np.array_equal(r.backward(np.ones((1, 4))), np.array([[0.0, 0.0, 1.0, 0.0]]))
    assert r.params == {} and r.grads == {}


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (3, 2), (1, 3)])
def test_conv1d_forward_matches_loops(rng, stride, padding):
    layer = Conv1d(2, 3, 4, rng=rng, stride=stride, padding=padding)
    layer.params["b"] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 10))
    out = layer.forward(x)
    ref = conv1d_reference(x, layer.params["W"], layer.params["b"], stride, padding)
    assert out.shape == ref.shape == (2, 3, (10 + 2 * padding - 4) // stride + 1)
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("k", "stride"), [(2, 2), (3, 1), (3, 2), (2, 3)])
def test_maxpool1d_forward_matches_loops(rng, k, stride):
    x = rng.standard_normal((2, 3, 11))
    out = MaxPool1d(k, stride=stride).forward(x)
    assert np.array_equal(out, maxpool_reference(x, k, stride))


def test_maxpool1d_overlapping_windows_add_gradients():
    # windows of 3 with stride 1 over [0, 1, 5, 2, 3]: the 5 is the max of all three windows
    pool = MaxPool1d(3, stride=1)
    x = np.array([[[0.0, 1.0, 5.0, 2.0, 3.0]]])
    assert np.array_equal(pool.forward(x), np.array([[[5.0, 5.0, 5.0]]]))
    dx = pool.backward(np.array([[[1.0, 10.0, 100.0]]]))
    assert np.array_equal(dx, np.array([[[0.0, 0.0, 111.0, 0.0, 0.0]]]))


def test_maxpool1d_default_stride_is_kernel_size():
    pool = MaxPool1d(2)
    x = np.array([[[1.0, 4.0, 3.0, 2.0, 9.0]]])
    assert np.array_equal(pool.forward(x), np.array([[[4.0, 3.0]]]))


def test_flatten_shapes_roundtrip(rng):
    x = rng.standard_normal((3, 2, 5))
    f = Flatten()
    out = f.forward(x)
    assert out.shape == (3, 10)
    assert np.array_equal(out[1], x[1].ravel())
    g = rng.standard_normal((3, 10))
    assert np.array_equal(f.backward(g), g.reshape(3, 2, 5))


# --------------------------------------------------------------------------- bad input


def test_constructors_reject_bad_sizes(rng):
    with pytest.raises(ValueError, match="d_in"):
        Linear(0, 3, rng=rng)
    with pytest.raises(ValueError, match="rng"):
        Linear(2, 3, rng=0)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv1d(1, 1, 0, rng=rng)
    with pytest.raises(ValueError, match="padding"):
        Conv1d(1, 1, 2, rng=rng, padding=-1)
    with pytest.raises(ValueError, match="stride"):
        MaxPool1d(2, stride=0)


def test_linear_rejects_wrong_width(rng):
    layer = Linear(3, 2, rng=rng)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\)"):
        layer.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        layer.forward(np.ones(3))


def test_conv1d_rejects_2d_input_and_wrong_channels(rng):
    layer = Conv1d(2, 3, 3, rng=rng)
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        layer.forward(np.ones((4, 10)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2, N\)"):
        layer.forward(np.ones((4, 1, 10)))
    with pytest.raises(ValueError, match="x is too short"):
        layer.forward(np.ones((4, 2, 2)))


def test_maxpool1d_rejects_2d_and_short_input():
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        MaxPool1d(2).forward(np.ones((4, 10)))
    with pytest.raises(ValueError, match="x is too short"):
        MaxPool1d(4).forward(np.ones((1, 1, 3)))


def test_flatten_rejects_1d_input():
    with pytest.raises(ValueError, match="x must have a batch axis"):
        Flatten().forward(np.ones(3))


def _layers(rng):
    return {
        "Linear": (Linear(3, 2, rng=rng), (4, 3)),
        "ReLU": (ReLU(), (4, 3)),
        "Flatten": (Flatten(), (4, 2, 3)),
        "Conv1d": (Conv1d(2, 3, 3, rng=rng, stride=2, padding=1), (4, 2, 7)),
        "MaxPool1d": (MaxPool1d(2, stride=1), (4, 2, 7)),
    }


LAYER_NAMES = ["Linear", "ReLU", "Flatten", "Conv1d", "MaxPool1d"]


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_backward_before_forward_raises(rng, name):
    layer, _ = _layers(rng)[name]
    with pytest.raises(ValueError, match=f"{name}.backward called before forward"):
        layer.backward(np.ones((4, 2)))


@pytest.mark.parametrize("name", LAYER_NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_forward_rejects_nan_and_inf(rng, name, bad):
    layer, shape = _layers(rng)[name]
    x = rng.standard_normal(shape)
    x.flat[3] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        layer.forward(x)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_backward_rejects_grad_out_of_wrong_shape(rng, name):
    layer, shape = _layers(rng)[name]
    out = layer.forward(rng.standard_normal(shape))
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones(out.shape[:-1] + (out.shape[-1] + 1,)))
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones(out.shape[1:]))  # the batch axis dropped: no silent broadcasting
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones(out.size))  # as many entries, but flattened: no silent reshaping
    bad = np.ones(out.shape)
    bad.flat[0] = np.nan
    with pytest.raises(ValueError, match="grad_out contains NaN"):
        layer.backward(bad)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_forward_rejects_non_numeric_input(rng, name):
    layer, shape = _layers(rng)[name]
    with pytest.raises(ValueError, match="x must be a real numeric array"):
        layer.forward(np.full(shape, "a"))


# --------------------------------------------------------------------------- dtypes and layouts

DIRECT = ["Linear", "ReLU", "Flatten", "Conv1d", "MaxPool1d"]


@pytest.mark.parametrize("name", DIRECT)
def test_float32_stays_float32(rng, name):
    layer, shape = _layers(rng)[name]
    for k in layer.params:
        layer.params[k] = layer.params[k].astype(np.float32)
    out = layer.forward(rng.standard_normal(shape).astype(np.float32))
    dx = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert out.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


@pytest.mark.parametrize("cls", ["Linear", "Conv1d"])
def test_dtype_argument_stores_the_float64_draw_rounded(cls):
    args = (3, 4) if cls == "Linear" else (2, 3, 5)
    make = getattr(__import__("relunet"), cls)
    w64 = make(*args, rng=np.random.default_rng(7))
    w32 = make(*args, rng=np.random.default_rng(7), dtype=np.float32)
    for k in w64.params:
        assert w32.params[k].dtype == w32.grads[k].dtype == np.float32
        assert np.array_equal(w32.params[k], w64.params[k].astype(np.float32))


@pytest.mark.parametrize("name", DIRECT)
def test_non_contiguous_inputs_give_the_same_results(rng, name):
    """A transposed view (as a channels-last array would arrive) computes what a copy computes."""
    layer, shape = _layers(rng)[name]
    x = rng.standard_normal(shape)
    x_view = np.ascontiguousarray(np.swapaxes(x, 0, -1)).swapaxes(0, -1)
    assert not x_view.flags.c_contiguous and np.array_equal(x_view, x)
    out = layer.forward(x)
    g = rng.standard_normal(out.shape)
    dx, grads = layer.backward(g), {k: v.copy() for k, v in layer.grads.items()}
    np.testing.assert_allclose(layer.forward(x_view), out, rtol=1e-14, atol=1e-15)
    g_view = np.ascontiguousarray(np.swapaxes(g, 0, -1)).swapaxes(0, -1)
    np.testing.assert_allclose(layer.backward(g_view), dx, rtol=1e-14, atol=1e-15)
    for k in grads:
        np.testing.assert_allclose(layer.grads[k], grads[k], rtol=1e-13, atol=1e-15)


def test_relu_gives_positive_zero():
    out = ReLU().forward(np.array([[-0.0, -3.0, 0.0, 2.0]]))
    assert not np.any(np.signbit(out))


def maxpool_backward_reference(x, g, k, stride):
    """Each window hands its gradient to its first maximum, by loops."""
    dx = np.zeros_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            for t in range(g.shape[2]):
                window = x[i, c, t * stride : t * stride + k]
                dx[i, c, t * stride + int(np.argmax(window))] += g[i, c, t]
    return dx


@PROPERTY
@given(k=st.integers(1, 4), stride=st.integers(1, 5), extra=st.integers(0, 6), seed=seeds)
def test_maxpool1d_backward_matches_loops_with_many_ties(k, stride, extra, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (2, 3, k + extra)).astype(float)  # three values: ties everywhere
    pool = MaxPool1d(k, stride=stride)
    out = pool.forward(x)
    assert np.array_equal(out, maxpool_reference(x, k, stride))
    g = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        pool.backward(g), maxpool_backward_reference(x, g, k, stride), rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("name", ["Linear", "Conv1d"])
def test_param_grads_alone_equal_those_of_backward(rng, name):
    layer, shape = _layers(rng)[name]
    out = layer.forward(rng.standard_normal(shape))
    g = rng.standard_normal(out.shape)
    layer.backward(g)
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer._param_grads(g)
    for k in full:
        assert np.array_equal(layer.grads[k], full[k])


@pytest.mark.parametrize("name", DIRECT)
def test_an_empty_batch_passes_through(rng, name):
    layer, shape = _layers(rng)[name]
    out = layer.forward(np.zeros((0, *shape[1:])))
    assert out.shape[0] == 0
    assert layer.backward(np.zeros(out.shape)).shape == (0, *shape[1:])
