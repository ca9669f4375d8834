"""Tests of relunet.models: the MLP builder (same weights as the layers built by hand), the flat
weight and gradient vectors (order, norm, finite differences), the accuracy, the score Jacobian
(finite differences, A^T g, the output layer's block), and the ValueErrors."""

from __future__ import annotations

import numpy as np
import pytest
from relunet import (
    Conv1d,
    CrossEntropy,
    Dropout,
    Flatten,
    Linear,
    ReLU,
    Sequential,
    SoftmaxQuadratic,
    accuracy,
    evaluate,
    flat_gradient,
    flat_parameters,
    jacobian,
    loss_gradient,
    mlp,
    numerical_gradient,
    numerical_jacobian,
    relative_error,
)
from relunet.models import score_jacobian

# --------------------------------------------------------------------------- mlp


def test_mlp_equals_the_layers_built_by_hand():
    net = mlp((2, 64, 64, 3), rng=np.random.default_rng(2019))
    rng = np.random.default_rng(2019)
    by_hand = Sequential(
        [Linear(2, 64, rng=rng), ReLU(), Linear(64, 64, rng=rng), ReLU(), Linear(64, 3, rng=rng)]
    )
    assert [type(lay) for lay in net.layers] == [type(lay) for lay in by_hand.layers]
    for (n1, p1, _), (n2, p2, _) in zip(
        net.named_parameters(), by_hand.named_parameters(), strict=True
    ):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2)


def test_mlp_two_widths_is_the_linear_classifier(rng):
    net = mlp([2, 3], rng=rng)
    assert len(net.layers) == 1 and isinstance(net.layers[0], Linear)


def test_mlp_initial_scales():
    """He init sqrt(2/d_in) by default; scale for hidden layers, final_scale for the last one."""
    net = mlp((400, 500, 600, 700), rng=np.random.default_rng(0))
    stds = [lay.params["W"].std() for lay in net.layers[::2]]
    np.testing.assert_allclose(stds, np.sqrt(2 / np.array([400, 500, 600])), rtol=0.02)
    net = mlp((400, 500, 600, 700), rng=np.random.default_rng(0), scale=0.3, final_scale=0.01)
    stds = [lay.params["W"].std() for lay in net.layers[::2]]
    np.testing.assert_allclose(stds, [0.3, 0.3, 0.01], rtol=0.02)
    assert all(np.all(lay.params["b"] == 0) for lay in net.layers[::2])


def test_mlp_shapes_and_output(rng):
    net = mlp((5, 7, 3), rng=rng)
    assert [lay.params["W"].shape for lay in net.layers[::2]] == [(7, 5), (3, 7)]
    assert isinstance(net.layers[1], ReLU)
    assert net.forward(rng.standard_normal((4, 5))).shape == (4, 3)


@pytest.mark.parametrize(
    ("widths", "match"),
    [
        ((3,), "at least an input size and K"),
        ((), "at least an input size and K"),
        ((3, 0), "positive integers"),
        ((3, -2), "positive integers"),
        ((3, 2.0), "positive integers"),
        ((3, True), "positive integers"),
        ("32", "sequence of layer sizes"),
        (32, "sequence of layer sizes"),
    ],
)
def test_mlp_rejects_bad_widths(widths, match, rng):
    with pytest.raises(ValueError, match=f"widths must .*{match}"):
        mlp(widths, rng=rng)


@pytest.mark.parametrize("name", ["scale", "final_scale"])
@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf, True, "0.1"])
def test_mlp_rejects_bad_scales(name, value, rng):
    with pytest.raises(ValueError, match=name):
        mlp((3, 4, 2), rng=rng, **{name: value})


def test_mlp_rejects_a_seed_for_rng():
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        mlp((3, 2), rng=0)


# --------------------------------------------------------------------------- flat vectors


@pytest.fixture
def net_and_batch(rng):
    net = mlp((4, 6, 3), rng=rng)
    net.layers[0].params["b"][:] = rng.normal(0.0, 0.5, size=6)
    return net, rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])


def test_flat_parameters_order_and_copy(net_and_batch):
    net, _, _ = net_and_batch
    w = flat_parameters(net)
    expected = np.concatenate([p.ravel() for _, p, _ in net.named_parameters()])
    np.testing.assert_array_equal(w, expected)
    assert w.size == 4 * 6 + 6 + 6 * 3 + 3
    w[:] = 0.0  # a copy: the network is untouched
    assert np.any(flat_parameters(net) != 0)


def test_flat_gradient_norm_and_finite_differences(net_and_batch):
    net, x, y = net_and_batch
    loss = CrossEntropy()
    g = loss_gradient(net, loss, x, y)
    np.testing.assert_array_equal(g, flat_gradient(net))
    assert np.linalg.norm(g) == pytest.approx(net.gradient_norm(), rel=1e-14)
    fd = np.concatenate(
        [
            numerical_gradient(lambda: loss(net.forward(x), y), p).ravel()
            for p, _ in net.parameters()
        ]
    )
    assert relative_error(g, fd) < 1e-7


def test_loss_gradient_sum_is_n_times_the_mean(net_and_batch):
    net, x, y = net_and_batch
    loss = SoftmaxQuadratic()
    mean = loss_gradient(net, loss, x, y)
    total = loss_gradient(net, loss, x, y, reduction="sum")
    np.testing.assert_allclose(total, len(x) * mean, rtol=1e-12, atol=1e-15)
    single = sum(loss_gradient(net, loss, x[i : i + 1], y[i : i + 1]) for i in range(len(x)))
    np.testing.assert_allclose(total, single, rtol=1e-12, atol=1e-15)


def test_flat_vectors_and_loss_gradient_reject_bad_input(net_and_batch):
    net, x, y = net_and_batch
    for fn in (flat_parameters, flat_gradient):
        with pytest.raises(ValueError, match="net must be a relunet Sequential"):
            fn([Linear(2, 2, rng=np.random.default_rng(0))])
    with pytest.raises(ValueError, match="net must be a relunet Sequential"):
        loss_gradient("net", CrossEntropy(), x, y)
    with pytest.raises(ValueError, match="loss must be a relunet Loss"):
        loss_gradient(net, lambda z, y: 0.0, x, y)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        loss_gradient(net, CrossEntropy(), x, y, reduction="none")
    with pytest.raises(ValueError, match="y must lie in"):
        loss_gradient(net, CrossEntropy(), x, np.array([0, 1, 2, 3, 0]))


# --------------------------------------------------------------------------- accuracy


def test_accuracy_counts_the_arg_max():
    z = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    assert accuracy(z, np.array([0, 1, 1, 0])) == 0.5  # the tie in row 3 goes to class 0
    assert accuracy(z, np.array([0, 1, 0, 2])) == 1.0


def test_accuracy_is_one_minus_the_zero_one_error_and_agrees_with_predict(net_and_batch):
    net, x, _ = net_and_batch
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 4))
    y = rng.integers(0, 3, 200)
    acc = accuracy(net(x), y)
    assert acc == np.mean(net.predict(x) == y)
    assert acc == pytest.approx(1 - evaluate(net, CrossEntropy(), x, y)[1], abs=1e-15)
    assert 0 < acc < 1


@pytest.mark.parametrize(
    ("z", "y", "match"),
    [
        (np.zeros(3), np.array([0]), "z must have 2 dimensions"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "z must hold at least one sample"),
        (np.array([[np.nan, 0.0]]), np.array([0]), "z contains NaN or inf"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "y must hold integer class labels"),
        (np.zeros((2, 3)), np.array([0, 3]), "y must lie in"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), r"y must have shape \(2,\)"),
    ],
)
def test_accuracy_rejects_bad_input(z, y, match):
    with pytest.raises(ValueError, match=match):
        accuracy(z, y)


# --------------------------------------------------------------------------- score Jacobian


def _fd_score_jacobian(net, x):
    """Central differences of every score of every sample, one parameter array at a time."""
    blocks = [
        numerical_jacobian(lambda: net.forward(x, train=False), p) for p, _ in net.parameters()
    ]
    return np.hstack(blocks)  # row i K + k: sample i, score k (C order of the (N, K) scores)


def test_score_jacobian_matches_finite_differences(net_and_batch):
    net, x, _ = net_and_batch
    a = score_jacobian(net, x)
    assert a.shape == (5 * 3, flat_parameters(net).size)
    pre = net.layers[0].forward(x)
    assert np.abs(pre).min() > 1e-3  # no pre-activation near the ReLU kink
    assert relative_error(a, _fd_score_jacobian(net, x)) < 1e-7
    # the rows of sample i do not depend on the other samples of the batch
    np.testing.assert_array_equal(a[3:6], score_jacobian(net, x[1:2]))


def test_score_jacobian_transpose_gives_the_summed_loss_gradient(net_and_batch):
    net, x, y = net_and_batch
    a = score_jacobian(net, x)
    for loss in (CrossEntropy(), SoftmaxQuadratic()):
        g = loss.sample_grad(net.forward(x), y).ravel()
        np.testing.assert_allclose(
            a.T @ g, loss_gradient(net, loss, x, y, reduction="sum"), rtol=1e-10, atol=1e-13
        )


def test_score_jacobian_output_layer_block_and_kernel(net_and_batch):
    """The output layer's block is relunet.jacobian; it adds (1 + |h_i|^2) I_K to Theta_ii."""
    net, x, _ = net_and_batch
    a = score_jacobian(net, x)
    h = Sequential(net.layers[:-1]).forward(x)
    k, n_last = 3, net.layers[-1].params["W"].size
    for i in range(len(x)):
        block = a[k * i : k * i + k, -k - n_last : -k]
        np.testing.assert_allclose(
            block, jacobian(net.layers[-1], h[i : i + 1], wrt="W"), rtol=1e-12, atol=0
        )
        theta_ii = a[k * i : k * i + k] @ a[k * i : k * i + k].T
        assert np.linalg.eigvalsh(theta_ii)[0] >= 1 + h[i] @ h[i] - 1e-9


def test_score_jacobian_of_a_convolutional_network(rng):
    net = Sequential([Conv1d(2, 3, 3, rng=rng), ReLU(), Flatten(), Linear(3 * 6, 4, rng=rng)])
    x = rng.standard_normal((2, 2, 8))
    a = score_jacobian(net, x)
    assert a.shape == (2 * 4, flat_parameters(net).size)
    assert relative_error(a, _fd_score_jacobian(net, x)) < 1e-7


def test_score_jacobian_uses_test_mode(rng):
    net = Sequential([Linear(4, 6, rng=rng), ReLU(), Dropout(0.5, rng=rng), Linear(6, 3, rng=rng)])
    x = rng.standard_normal((3, 4))
    no_dropout = Sequential([net.layers[0], net.layers[1], net.layers[3]])
    np.testing.assert_array_equal(score_jacobian(net, x), score_jacobian(no_dropout, x))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros(4), "x must have 2 or 3 dimensions"),
        (np.zeros((0, 4)), "x must hold at least one sample"),
        (np.array([[np.nan, 0.0, 0.0, 0.0]]), "x contains NaN or inf"),
        (np.array([["a", "b", "c", "d"]]), "x must be a real numeric array"),
        (np.zeros((2, 5)), "x must have shape"),
    ],
)
def test_score_jacobian_rejects_bad_input(net_and_batch, x, match):
    net, _, _ = net_and_batch
    with pytest.raises(ValueError, match=match):
        score_jacobian(net, x)
    with pytest.raises(ValueError, match="net must be a relunet Sequential"):
        score_jacobian(net.layers, np.zeros((2, 4)))
