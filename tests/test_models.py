"""Tests of relunet.models: the MLP builder (same weights as the layers built by hand), the flat
weight and gradient vectors (order, norm, finite differences), the accuracy, and the ValueErrors."""

from __future__ import annotations

import numpy as np
import pytest
from relunet import (
    CrossEntropy,
    Linear,
    ReLU,
    Sequential,
    SoftmaxQuadratic,
    accuracy,
    evaluate,
    flat_gradient,
    flat_parameters,
    loss_gradient,
    mlp,
    numerical_gradient,
    relative_error,
)

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
