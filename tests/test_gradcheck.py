"""Tests of relunet.gradcheck: the checker itself (it must reject wrong gradients), the relative
error, Jacobians read off backward, and a whole-network check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from relunet import (
    Conv1d,
    CrossEntropy,
    Flatten,
    Linear,
    MaxPool1d,
    ReLU,
    Sequential,
    check_layer,
    check_loss,
    check_network,
    jacobian,
    numerical_gradient,
    numerical_jacobian,
    relative_error,
)
from relunet.gradcheck import GradientCheckError

TOL = 1e-7
seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- numerical gradient


def test_numerical_gradient_of_a_cubic(rng):
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    g = numerical_gradient(lambda: float(np.sum(x**3)), x)
    assert relative_error(g, 3 * x0**2) < 1e-9
    assert np.array_equal(x, x0)  # every perturbation was undone


def test_numerical_gradient_perturbs_non_contiguous_arrays_in_place(rng):
    base = rng.standard_normal((3, 4))
    x = base.T  # a transposed view: not C-contiguous
    g = numerical_gradient(lambda: float(np.sum(base**2)), x)
    assert g.shape == x.shape
    assert relative_error(g, 2 * x) < 1e-9
    strided = base[:, ::2]
    g = numerical_gradient(lambda: float(np.sum(np.sin(base))), strided)
    assert relative_error(g, np.cos(strided)) < 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_numerical_gradient_refuses_other_dtypes(dtype):
    x = np.ones(3, dtype=dtype)
    with pytest.raises(ValueError, match="x must be float64"):
        numerical_gradient(lambda: float(np.sum(x)), x)


def test_check_layer_refuses_float32_parameters(rng):
    layer = Linear(2, 2, rng=rng)
    layer.params["W"] = layer.params["W"].astype(np.float32)
    with pytest.raises(ValueError, match="parameter W must be float64"):
        check_layer(layer, rng.standard_normal((3, 2)), rng)


# --------------------------------------------------------------------------- relative error


def test_relative_error_values():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1)
    # taken over the whole array: a tiny entry does not dominate
    assert relative_error([100.0, 1e-3], [100.0, 2e-3]) == pytest.approx(1e-3 / 200.0)
    # the floor 1e-8 in the denominator
    assert relative_error([0.0], [1e-10]) == pytest.approx(1e-2)
    assert relative_error([3.0, -4.0], [-3.0, 4.0]) == pytest.approx(1.0)


def test_relative_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.zeros(3), np.zeros((3, 1)))


# --------------------------------------------------------------------------- the checker is checked


class NoBiasGrad(Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.grads["b"] = np.zeros_like(self.grads["b"])
        return dx


class ScaledWeightGrad(Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.grads["W"] = 1.01 * self.grads["W"]
        return dx


class WrongInputGrad(Linear):
    def backward(self, grad_out):
        return 1.01 * super().backward(grad_out)


class TransposedReLU(ReLU):
    """Returns the gradient with the mask of the wrong sample (a plausible indexing bug)."""

    def backward(self, grad_out):
        return super().backward(grad_out)[::-1] if len(grad_out) > 1 else 0 * grad_out


def _linear_case(cls, seed=0):
    rng = np.random.default_rng(seed)
    layer = cls(4, 3, rng=rng)
    layer.params["b"] = rng.standard_normal(3)
    return layer, rng.standard_normal((5, 4)), rng


def test_correct_linear_passes():
    layer, x, rng = _linear_case(Linear)
    errors = check_layer(layer, x, rng, tol=TOL)
    assert max(errors.values()) < 1e-9


@pytest.mark.parametrize(
    ("cls", "key"), [(NoBiasGrad, "b"), (ScaledWeightGrad, "W"), (WrongInputGrad, "x")]
)
def test_check_layer_rejects_wrong_backward(cls, key):
    layer, x, rng = _linear_case(cls)
    with pytest.raises(GradientCheckError, match=f"'{key}'"):
        check_layer(layer, x, rng, tol=1e-7)
    # and it is an AssertionError, so a bare check fails a test too
    layer, x, rng = _linear_case(cls)
    with pytest.raises(AssertionError):
        check_layer(layer, x, rng, tol=1e-7)


def test_check_layer_measures_the_error_of_a_scaled_gradient():
    """1.01 a against a: relative error 0.01 |a| / 2.01 |a|, other keys still pass."""
    layer, x, rng = _linear_case(ScaledWeightGrad)
    errors = check_layer(layer, x, rng)  # no tol: just report
    assert errors["W"] == pytest.approx(0.01 / 2.01, rel=1e-5)
    assert errors["x"] < TOL and errors["b"] < TOL


def test_tolerance_is_a_sharp_threshold():
    """An error of 0.01/2.01 = 0.004975 fails tol = 0.00497 and passes tol = 0.00498."""
    layer, x, rng = _linear_case(ScaledWeightGrad)
    with pytest.raises(GradientCheckError, match="'W'"):
        check_layer(layer, x, rng, tol=0.00497)
    layer, x, rng = _linear_case(ScaledWeightGrad)
    assert check_layer(layer, x, rng, tol=0.00498)["W"] < 0.00498


def test_check_layer_rejects_wrong_relu(rng):
    x = rng.standard_normal((4, 5)) + 0.01
    with pytest.raises(GradientCheckError):
        check_layer(TransposedReLU(), x, rng, tol=1e-7)


class DoubledCE(CrossEntropy):
    def _sample_grad(self, z, q):
        return 2 * super()._sample_grad(z, q)


class ShiftedCE(CrossEntropy):
    """p - q + c: a constant shift, invisible to the soft-max but not to the check."""

    def _sample_grad(self, z, q):
        return super()._sample_grad(z, q) + 1e-3


def test_check_loss_rejects_wrong_gradients(rng):
    z, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    assert check_loss(CrossEntropy(), z, y, tol=TOL) < TOL
    for bad in (DoubledCE(), ShiftedCE()):
        with pytest.raises(GradientCheckError, match="'z'"):
            check_loss(bad, z, y, tol=1e-7)


def test_check_network_rejects_a_wrong_layer_and_names_it(rng):
    net = Sequential([Linear(3, 4, rng=rng), ReLU(), ScaledWeightGrad(4, 2, rng=rng)])
    x = rng.standard_normal((6, 3))
    y = rng.integers(0, 2, 6)
    errors = check_network(net, CrossEntropy(), x, y)
    assert errors["0.W"] < TOL and errors["0.b"] < TOL and errors["2.b"] < TOL
    assert errors["2.W"] > 1e-3
    with pytest.raises(GradientCheckError, match="'2.W'"):
        check_network(net, CrossEntropy(), x, y, tol=1e-7)


# --------------------------------------------------------------------------- Jacobians


def test_jacobian_of_linear(rng):
    layer = Linear(4, 3, rng=rng)
    x = rng.standard_normal((1, 4))
    W = layer.params["W"]
    assert np.array_equal(jacobian(layer, x), W)  # d(Wx+b)/dx = W
    # d a_i / d W_kl = delta_ik x_l: with W flattened row by row, J = I_3 (kron) x^T
    assert np.array_equal(jacobian(layer, x, wrt="W"), np.kron(np.eye(3), x))
    assert np.array_equal(jacobian(layer, x, wrt="b"), np.eye(3))


def test_jacobian_of_relu_is_diagonal_mask(rng):
    x = rng.standard_normal((1, 7))
    x[0, 3] = 0.0  # the kink: h'(0) = 0 by the library's convention
    assert np.array_equal(jacobian(ReLU(), x), np.diag((x[0] > 0).astype(float)))


def test_jacobian_of_relu_on_signals(rng):
    x = rng.standard_normal((1, 2, 3))
    assert np.array_equal(jacobian(ReLU(), x), np.diag((x.ravel() > 0).astype(float)))


@settings(max_examples=25, deadline=None)
@given(
    c=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 4),
    extra=st.integers(0, 5),
    seed=seeds,
)
def test_jacobian_of_maxpool_selects_the_argmax(c, k, stride, extra, seed):
    rng = np.random.default_rng(seed)
    length = k + extra
    x = rng.standard_normal((1, c, length))
    pool = MaxPool1d(k, stride=stride)
    J = jacobian(pool, x)
    t_out = (length - k) // stride + 1
    assert J.shape == (c * t_out, c * length)
    assert set(np.unique(J)) <= {0.0, 1.0}
    assert np.all(J.sum(axis=1) == 1)  # each output reads exactly one input
    flat = x.ravel()
    for row, (ch, t) in enumerate(np.ndindex(c, t_out)):
        window = x[0, ch, t * stride : t * stride + k]
        assert np.argmax(J[row]) == ch * length + t * stride + np.argmax(window)
        assert flat[np.argmax(J[row])] == window.max()


def test_jacobian_of_maxpool_tie_rule_first_maximum():
    # windows of 2, stride 1 over [1, 3, 3, 2]: [1,3] -> pos 1, [3,3] -> pos 1 (first), [3,2] -> pos 2
    pool = MaxPool1d(2, stride=1)
    J = jacobian(pool, np.array([[[1.0, 3.0, 3.0, 2.0]]]))
    assert np.array_equal(J, [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    # all equal: every window picks its first entry
    J = jacobian(MaxPool1d(3, stride=2), np.full((1, 1, 7), 4.0))
    assert np.array_equal(J, [[1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0]])
    # non-overlapping windows with ties inside
    J = jacobian(MaxPool1d(2), np.array([[[5.0, 5.0, -1.0, -1.0]]]))
    assert np.array_equal(J, [[1, 0, 0, 0], [0, 0, 1, 0]])


def test_jacobian_of_conv1d_matches_finite_differences(rng):
    layer = Conv1d(2, 3, 3, rng=rng, stride=2, padding=1)
    x = rng.standard_normal((1, 2, 7))
    J = jacobian(layer, x)
    fd = np.empty_like(J)
    for i in range(J.shape[0]):
        fd[i] = numerical_gradient(lambda i=i: float(layer.forward(x).ravel()[i]), x).ravel()
    assert relative_error(J, fd) < TOL
    for key in ("W", "b"):
        Jp = jacobian(layer, x, wrt=key)
        p = layer.params[key]
        fdp = np.array(
            [
                numerical_gradient(lambda i=i: float(layer.forward(x).ravel()[i]), p).ravel()
                for i in range(J.shape[0])
            ]
        )
        assert relative_error(Jp, fdp) < TOL


def test_jacobian_rejects_batches_and_unknown_keys(rng):
    layer = Linear(2, 2, rng=rng)
    with pytest.raises(ValueError, match="x must hold exactly one sample"):
        jacobian(layer, np.ones((2, 2)))
    with pytest.raises(ValueError, match="wrt must be 'x' or one of"):
        jacobian(layer, np.ones((1, 2)), wrt="V")


# --------------------------------------------------------------------------- a whole network


def conv_net(rng, c_out, k, hidden, n_classes, length):
    pad = k // 2
    conv_len = length + 2 * pad - k + 1
    return Sequential(
        [
            Conv1d(1, c_out, k, rng=rng, padding=pad),
            ReLU(),
            MaxPool1d(2),
            Flatten(),
            Linear(c_out * ((conv_len - 2) // 2 + 1), hidden, rng=rng),
            ReLU(),
            Linear(hidden, n_classes, rng=rng),
        ]
    )


def distance_to_kinks(net, x):
    """The smallest |pre-activation| at a ReLU and the smallest gap between the two largest
    positive entries of a pooling window: both must exceed the finite-difference reach."""
    dists = []
    h = x
    for layer in net.layers:
        if isinstance(layer, ReLU):
            dists.append(np.min(np.abs(h)))
        if isinstance(layer, MaxPool1d):
            w = np.sort(np.lib.stride_tricks.sliding_window_view(h, layer.k, axis=2), axis=3)
            w = w[:, :, :: layer.stride]
            top, second = w[..., -1], w[..., -2]
            live = top > 0  # windows of zeros (all inputs negative) cannot switch
            if np.any(live):
                dists.append(np.min((top - second)[live]))
        h = layer.forward(h)
    return min(dists)


@settings(max_examples=15, deadline=None)
@given(
    c_out=st.integers(1, 3),
    k=st.sampled_from([3, 5]),
    hidden=st.integers(2, 6),
    n_classes=st.integers(2, 4),
    n=st.integers(1, 4),
    seed=seeds,
)
def test_whole_network_gradients(c_out, k, hidden, n_classes, n, seed):
    """Conv1d -> ReLU -> MaxPool1d -> Flatten -> Linear -> ReLU -> Linear with cross-entropy."""
    rng = np.random.default_rng(seed)
    length = 10
    net = conv_net(rng, c_out, k, hidden, n_classes, length)
    for layer in net.layers:
        if "b" in layer.params:
            layer.params["b"] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal((n, 1, length))
    y = rng.integers(0, n_classes, n)
    assume(distance_to_kinks(net, x) > 1e-3)
    # Central differences carry a round-off error of about eps |L| / h ~ 1e-11 here, so a gradient
    # array whose largest entry is ~1e-5 (two samples cancelling in a bias gradient, say) cannot
    # be resolved to a relative 1e-7; such draws say nothing about backward and are skipped.
    loss = CrossEntropy()
    net.backward(loss.grad(net.forward(x), y))
    assume(all(np.max(np.abs(g)) > 1e-3 for _, g in net.parameters()))
    errors = check_network(net, loss, x, y, tol=TOL)
    assert set(errors) == {"0.W", "0.b", "4.W", "4.b", "6.W", "6.b"}


def test_whole_network_gradients_fixed_case():
    rng = np.random.default_rng(7)
    net = conv_net(rng, 4, 5, 8, 3, 16)
    x = rng.standard_normal((6, 1, 16))
    y = rng.integers(0, 3, 6)
    assert distance_to_kinks(net, x) > 1e-4
    errors = check_network(net, CrossEntropy(), x, y, tol=TOL)
    assert max(errors.values()) < TOL


# --------------------------------------------------------------------------- numerical Jacobian


def test_numerical_jacobian_of_a_known_map(rng):
    """f(x) = (x1 x2, sin x1, x2^2, x3) has J = [[x2, x1, 0], [cos x1, 0, 0], [0, 2 x2, 0], [0, 0, 1]]."""
    x = rng.standard_normal(3)
    x0 = x.copy()
    J = numerical_jacobian(lambda: np.array([x[0] * x[1], np.sin(x[0]), x[1] ** 2, x[2]]), x)
    exact = np.array([[x0[1], x0[0], 0], [np.cos(x0[0]), 0, 0], [0, 2 * x0[1], 0], [0, 0, 1.0]])
    assert J.shape == (4, 3)
    assert relative_error(J, exact) < 1e-9
    assert np.array_equal(x, x0)  # every perturbation was undone


def test_numerical_jacobian_rows_are_numerical_gradients(rng):
    """Entry (i, j) is the same central difference numerical_gradient takes for f_i: bit for bit."""
    W = rng.standard_normal((2, 3, 4))[:, ::2, :]  # a non-contiguous view, perturbed in place

    def f():
        return np.tanh(W).sum(axis=(1, 2)) * np.array([1.0, -2.0])

    J = numerical_jacobian(f, W)
    assert J.shape == (2, W.size)
    for i in range(2):
        np.testing.assert_array_equal(J[i], numerical_gradient(lambda i=i: f()[i], W).ravel())


def test_numerical_jacobian_matches_the_layer_jacobian(rng):
    """For a layer, the C-order layout is the one of gradcheck.jacobian (read off backward)."""
    lin = Linear(4, 3, rng=rng)
    x = rng.standard_normal((1, 4))
    for wrt in ("x", "W", "b"):
        arr = x if wrt == "x" else lin.params[wrt]
        fd = numerical_jacobian(lambda: lin.forward(x), arr)
        assert relative_error(fd, jacobian(lin, x, wrt)) < TOL


def test_numerical_jacobian_of_a_gradient_is_the_hessian(rng):
    """The Hessian of the cross-entropy in z is diag(p) - p p^T (a Jacobian of the gradient)."""
    ce = CrossEntropy()
    z, y = 2.0 * rng.standard_normal((1, 5)), np.array([2])
    H = numerical_jacobian(lambda: ce.sample_grad(z, y)[0], z)
    e = np.exp(z[0] - z[0].max())
    p = e / e.sum()
    assert relative_error(H, np.diag(p) - np.outer(p, p)) < TOL
    assert relative_error(H, np.eye(5) * p) > 0.1  # a wrong Hessian is rejected


def test_numerical_jacobian_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("boom")
        return x.copy()

    with pytest.raises(RuntimeError):
        numerical_jacobian(f, x)
    assert x.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("f", "x", "h", "match"),
    [
        ("not callable", np.zeros(2), 1e-5, "f must be a callable"),
        (lambda: np.zeros(2), [0.0, 1.0], 1e-5, "x must be a NumPy array"),
        (lambda: np.zeros(2), np.zeros(2, dtype=np.float32), 1e-5, "x must be float64"),
        (lambda: np.zeros(2), np.zeros(0), 1e-5, "x must have at least one entry"),
        (lambda: np.zeros(2), np.zeros(2), 0.0, "h must be a positive finite step"),
        (lambda: np.zeros(2), np.zeros(2), -1e-5, "h must be a positive finite step"),
        (lambda: np.zeros(2), np.zeros(2), np.nan, "h must be a positive finite step"),
        (lambda: np.zeros(2), np.zeros(2), np.inf, "h must be a positive finite step"),
        (lambda: np.zeros(2), np.zeros(2), True, "h must be a positive number"),
        (lambda: np.zeros(2), np.zeros(2), "1e-5", "h must be a positive number"),
        (lambda: np.array(["a"]), np.zeros(2), 1e-5, "f must return a real numeric array"),
        (lambda: np.array([np.nan]), np.zeros(2), 1e-5, "f returned NaN or inf"),
    ],
)
def test_numerical_jacobian_rejects_bad_input(f, x, h, match):
    with pytest.raises(ValueError, match=match):
        numerical_jacobian(f, x, h)


def test_numerical_jacobian_rejects_read_only_x_and_a_changing_output_size():
    x = np.zeros(2)
    x.setflags(write=False)
    with pytest.raises(ValueError, match="x must be writeable"):
        numerical_jacobian(lambda: x.copy(), x)
    y = np.zeros(2)
    with pytest.raises(ValueError, match="f must return the same number of entries"):
        numerical_jacobian(lambda: np.zeros(3 if y[0] > 0 else 2), y)


def test_numerical_gradient_restores_x_when_f_fails():
    x = np.array([1.0, 2.0, 3.0])

    def f():
        if x[1] != 2.0:
            raise RuntimeError("f fails off the base point")
        return float(np.sum(x))

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, [1.0, 2.0, 3.0])


def test_numerical_gradient_accepts_numpy_scalars_and_one_entry_arrays():
    x = np.array([0.5, -1.0])
    for f in (lambda: np.sum(x**2), lambda: np.array([np.sum(x**2)]), lambda: np.float64(x @ x)):
        np.testing.assert_allclose(numerical_gradient(f, x), 2 * x, rtol=1e-6)
