"""Tests of relunet.smooth: the soft-plus against its formula and finite differences (including at
the former kink a = 0), its bounds and limits, finiteness for |a| up to 1e4, and the ValueErrors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet import (
    CrossEntropy,
    Linear,
    ReLU,
    Sequential,
    Softplus,
    check_layer,
    check_network,
    numerical_gradient,
    relative_error,
)

PROPERTY = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
betas = st.sampled_from([0.25, 1.0, 3.0, 10.0, 40.0])


def reference(a, beta):
    """h_beta(a) = log(1 + e^(beta a)) / beta by NumPy's logaddexp, an independent formula."""
    return np.logaddexp(0.0, beta * a) / beta


def sigmoid(t):
    """1 / (1 + e^-t) through tanh, another independent formula: sigma(t) = (1 + tanh(t/2)) / 2."""
    return 0.5 * (1.0 + np.tanh(0.5 * t))


# --------------------------------------------------------------------------- gradient checks


@PROPERTY
@given(
    shape=st.sampled_from([(1, 1), (3, 5), (2, 3, 4), (6,)]),
    beta=betas,
    seed=seeds,
)
def test_softplus_gradients_everywhere(shape, beta, seed):
    """Smooth everywhere: the check passes at 1e-7 with no distance kept from a = 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([0.1, 1.0, 3.0])
    x.flat[0] = 0.0  # the former kink
    check_layer(Softplus(beta), x, rng, tol=1e-7)


def test_softplus_derivative_at_zero_is_one_half_for_every_beta():
    for beta in (1e-3, 0.5, 1.0, 7.0, 1e3, 1e12):
        layer = Softplus(beta)
        layer.forward(np.zeros((1, 3)))
        np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), 0.5)


def test_relu_fails_where_softplus_passes():
    """The control: at a = 0 the ReLU's backward (h'(0) = 0) disagrees with central differences."""
    x = np.array([[0.0, 1.0, -2.0]])
    errors = check_layer(ReLU(), x, np.random.default_rng(0))
    assert errors["x"] > 0.1
    check_layer(Softplus(2.0), x, np.random.default_rng(0), tol=1e-7)


def test_softplus_in_a_network_passes_check_network():
    rng = np.random.default_rng(3)
    net = Sequential([Linear(4, 6, rng=rng), Softplus(2.0), Linear(6, 3, rng=rng)])
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)
    check_network(net, CrossEntropy(), x, y, tol=1e-7)


# --------------------------------------------------------------------------- values


@PROPERTY
@given(beta=betas, seed=seeds)
def test_softplus_forward_and_derivative_match_independent_formulas(beta, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 7)) * 5.0
    layer = Softplus(beta)
    np.testing.assert_allclose(layer.forward(a), reference(a, beta), rtol=1e-12, atol=1e-300)
    g = rng.standard_normal(a.shape)
    np.testing.assert_allclose(layer.backward(g), g * sigmoid(beta * a), rtol=1e-12, atol=1e-15)


def test_softplus_is_above_relu_by_at_most_log2_over_beta():
    a = np.linspace(-6.0, 6.0, 1201)[None, :]
    for beta in (0.5, 1.0, 4.0, 16.0):
        gap = Softplus(beta).forward(a) - np.maximum(a, 0.0)
        assert np.all(gap >= 0) and np.all(gap[a <= 0] > 0)  # a + tiny rounds to a for a > 0
        assert np.all(gap <= np.log(2) / beta * (1 + 1e-15))
        assert gap[0, 600] == pytest.approx(np.log(2) / beta, rel=1e-15)  # a = 0: the largest gap


def test_softplus_tends_to_relu_as_beta_grows():
    a = np.array([[-2.0, -0.1, 0.1, 2.0]])
    gaps = [np.max(np.abs(Softplus(b).forward(a) - np.maximum(a, 0))) for b in (1, 10, 100, 1000)]
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-3


def test_softplus_odd_part_is_the_identity():
    """h_b(a) - h_b(-a) = a: the soft-plus version of h(x) - h(-x) = x is exact, derivative 1."""
    a = np.linspace(-30.0, 30.0, 241)[None, :]
    for beta in (0.5, 1.0, 3.0):
        layer = Softplus(beta)
        np.testing.assert_allclose(layer.forward(a) - layer.forward(-a), a, rtol=0, atol=1e-12)
        d_plus = Softplus(beta)
        d_plus.forward(a)
        d_minus = Softplus(beta)
        d_minus.forward(-a)
        ones = np.ones_like(a)
        np.testing.assert_allclose(d_plus.backward(ones) + d_minus.backward(ones), 1.0, rtol=1e-15)


@pytest.mark.parametrize("beta", [1e-3, 1.0, 1e3, 1e300])
def test_softplus_finite_for_large_inputs_without_warnings(beta):
    a = np.array([[-1e4, -1e3, -1.0, 0.0, 1.0, 1e3, 1e4]])
    layer = Softplus(beta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.forward(a)
        d = layer.backward(np.ones_like(a))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(d))
    assert np.all(out >= np.maximum(a, 0.0)) and np.all((d >= 0) & (d <= 1))
    if beta >= 1.0:  # far from 0 the soft-plus is the ReLU to within e^(-beta |a|) / beta
        np.testing.assert_allclose(out[0, [0, 1, 5, 6]], [0.0, 0.0, 1e3, 1e4], rtol=1e-15)
        np.testing.assert_array_equal(d[0, [0, 1, 5, 6]], [0.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("beta", [1e300, 1e308])
def test_softplus_where_beta_times_a_overflows(beta):
    """beta |a| = inf: t = e^(-inf) = 0, so the value is max(a, 0) and the derivative 0 or 1, exactly."""
    a = np.array([[-1e9, -1e300, 1e9, 1e300]])
    assert np.log10(beta) + 9 > np.log10(np.finfo(np.float64).max)  # beta |a| overflows
    layer = Softplus(beta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.forward(a)
        d = layer.backward(np.ones_like(a))
    np.testing.assert_array_equal(out, np.maximum(a, 0.0))
    np.testing.assert_array_equal(d, [[0.0, 0.0, 1.0, 1.0]])


def test_softplus_smallest_normal_beta_is_finite_and_subnormal_beta_is_rejected():
    tiny = np.finfo(np.float64).tiny
    a = np.array([[-1e307, -1.0, 0.0, 1.0, 1e307]])
    layer = Softplus(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.forward(a)
        d = layer.backward(np.ones_like(a))
    assert np.all(np.isfinite(out)) and np.all((d >= 0) & (d <= 1))
    assert out[0, 2] == pytest.approx(np.log(2) / tiny, rel=1e-15)  # the largest gap, log 2 / beta
    for subnormal in (tiny / 2, 5e-324):
        with pytest.raises(ValueError, match="beta must be at least"):
            Softplus(subnormal)


def test_softplus_keeps_float32_and_any_shape():
    a = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    layer = Softplus(2.0)
    out = layer.forward(a)
    assert out.dtype == np.float32 and out.shape == a.shape
    assert layer.backward(np.ones_like(a)).dtype == np.float32


def test_softplus_backward_uses_the_last_forward_and_leaves_grad_out_alone():
    layer = Softplus(1.0)
    layer.forward(np.array([[5.0]]))
    layer.forward(np.array([[-5.0]]))
    g = np.array([[2.0]])
    np.testing.assert_allclose(layer.backward(g), 2 * sigmoid(-5.0), rtol=1e-14)
    assert g[0, 0] == 2.0
    assert layer.params == {} and layer.grads == {}


def test_softplus_numerical_gradient_at_the_kink_agrees_to_1e_10():
    x = np.zeros((1, 1))
    layer = Softplus(5.0)
    fd = numerical_gradient(lambda: float(layer.forward(x).sum()), x)
    layer.forward(x)
    assert relative_error(layer.backward(np.ones((1, 1))), fd) < 1e-10


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("beta", [0, 0.0, -1.0, np.nan, np.inf, -np.inf])
def test_softplus_rejects_nonpositive_or_nonfinite_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        Softplus(beta)


@pytest.mark.parametrize("beta", [True, False, "1.0", None, [1.0], np.array([1.0]), 1 + 0j])
def test_softplus_rejects_non_real_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        Softplus(beta)


def test_softplus_accepts_numpy_and_integer_beta():
    assert Softplus(np.float32(2.0)).beta == 2.0
    assert Softplus(np.int64(3)).beta == 3.0
    assert Softplus(4).beta == 4.0
    assert repr(Softplus(4)) == "Softplus(beta=4)"


@pytest.mark.parametrize("bad", [np.array([[np.nan]]), np.array([[np.inf]]), np.array(["a"])])
def test_softplus_rejects_non_finite_or_non_numeric_input(bad):
    with pytest.raises(ValueError, match="x"):
        Softplus().forward(bad)


def test_softplus_backward_before_forward_and_wrong_shape():
    layer = Softplus()
    with pytest.raises(ValueError, match="before forward"):
        layer.backward(np.ones((1, 2)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="grad_out"):
        layer.backward(np.full((2, 3), np.nan))
