"""Tests of relunet.network.Sequential: composition, parameter names, the loss of a fresh
classifier, and saving/loading weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
from relunet import (
    Conv1d,
    CrossEntropy,
    Dropout,
    Flatten,
    Layer,
    Linear,
    MaxPool1d,
    ReLU,
    Sequential,
)


def mlp(seed, d_in=4, hidden=8, k=3, last_scale=None):
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Linear(d_in, hidden, rng=rng),
            ReLU(),
            Linear(hidden, hidden, rng=rng),
            ReLU(),
            Linear(hidden, k, rng=rng, scale=last_scale),
        ]
    )


def convnet(seed):
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Conv1d(1, 4, 5, rng=rng, stride=1, padding=2),
            ReLU(),
            MaxPool1d(2),
            Flatten(),
            Dropout(0.8, rng=rng),
            Linear(4 * 20, 16, rng=rng),
            ReLU(),
            Linear(16, 10, rng=rng),
        ]
    )


def test_forward_is_the_composition(rng):
    net = mlp(0)
    x = rng.standard_normal((5, 4))
    h = x
    for layer in net.layers:
        h = layer.forward(h)
    assert np.array_equal(net.forward(x), h)
    assert np.array_equal(net(x), h)


def test_backward_chains_the_layers_in_reverse(rng):
    net = mlp(1)
    x = rng.standard_normal((5, 4))
    z = net.forward(x)
    g = rng.standard_normal(z.shape)
    dx = net.backward(g)
    # by hand, through the cached layers in reverse
    h = g
    for layer in reversed(net.layers):
        h = layer.backward(h)
    assert np.array_equal(dx, h)
    assert dx.shape == x.shape


def test_named_parameters_are_qualified_and_stable():
    net = convnet(0)
    names = [name for name, _, _ in net.named_parameters()]
    assert names == ["0.W", "0.b", "5.W", "5.b", "7.W", "7.b"]
    assert names == [name for name, _, _ in net.named_parameters()]
    # the arrays are the layers' own (an optimizer updates them in place)
    pairs = list(net.parameters())
    assert pairs[0][0] is net.layers[0].params["W"]
    assert pairs[0][1] is net.layers[0].grads["W"]
    assert pairs[5][0] is net.layers[7].params["b"]
    assert len(pairs) == 6


def test_gradient_norm(rng):
    net = mlp(2)
    z = net.forward(rng.standard_normal((6, 4)))
    net.backward(CrossEntropy().grad(z, rng.integers(0, 3, 6)))
    flat = np.concatenate([g.ravel() for _, g in net.parameters()])
    assert net.gradient_norm() == pytest.approx(np.linalg.norm(flat), rel=1e-14)
    assert net.gradient_norm() > 0


def test_predict_is_argmax_in_test_mode(rng):
    net = convnet(3)
    x = rng.standard_normal((7, 1, 40))
    expected = np.argmax(net.forward(x, train=False), axis=1)
    assert np.array_equal(net.predict(x), expected)
    assert np.array_equal(net.predict(x), net.predict(x))  # dropout is off: deterministic
    assert not np.array_equal(net.forward(x, train=True), net.forward(x, train=False))


@pytest.mark.parametrize("k", [2, 10, 50])
def test_fresh_classifier_loss_is_log_k(k):
    """A fresh classifier with a small last layer predicts ~uniform soft-max: CE ~ log K."""
    rng = np.random.default_rng(k)
    net = Sequential(
        [
            Linear(40, 100, rng=rng),
            ReLU(),
            Linear(100, 100, rng=rng),
            ReLU(),
            Linear(100, k, rng=rng, scale=1e-3),
        ]
    )
    x = rng.standard_normal((500, 40))
    y = rng.integers(0, k, 500)
    z = net.forward(x)
    assert np.max(np.abs(z)) < 0.5  # the premise: scores near 0
    assert abs(CrossEntropy()(z, y) - np.log(k)) < 0.01
    # He-initialised last layer: scores of order 1, so the loss is visibly above log K
    net.layers[-1] = Linear(100, k, rng=rng)
    assert CrossEntropy()(net.forward(x), y) - np.log(k) > 0.05


def test_state_dict_is_a_copy():
    net = mlp(4)
    state = net.state_dict()
    assert set(state) == {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}
    state["0.W"][...] = 0.0
    assert not np.array_equal(net.layers[0].params["W"], state["0.W"])


@pytest.mark.parametrize("name", ["weights.npz", "weights", "weights.bin"])
def test_save_load_round_trip_is_bitwise(tmp_path, rng, name):
    src, dst = convnet(10), convnet(11)
    assert not np.array_equal(src.layers[0].params["W"], dst.layers[0].params["W"])
    path = tmp_path / name
    src.save(path)
    dst.load(path)
    for (n1, p1, _), (n2, p2, _) in zip(
        src.named_parameters(), dst.named_parameters(), strict=True
    ):
        assert n1 == n2
        assert p1.dtype == p2.dtype == np.float64
        assert p1.tobytes() == p2.tobytes()  # bit for bit
    x = rng.standard_normal((3, 1, 40))
    assert np.array_equal(src.forward(x), dst.forward(x))
    # str paths too, and the arrays are stored without pickle
    dst2 = convnet(12)
    dst2.load(str(path))
    assert np.array_equal(dst2.layers[-1].params["W"], src.layers[-1].params["W"])
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(src.state_dict())


def test_save_load_file_objects():
    src, dst = mlp(20), mlp(21)
    buf = io.BytesIO()
    src.save(buf)
    buf.seek(0)
    dst.load(buf)
    assert np.array_equal(dst.layers[4].params["W"], src.layers[4].params["W"])


def test_load_keeps_arrays_in_place(tmp_path):
    """Loading copies into the existing arrays, so references held by an optimizer stay valid."""
    src, dst = mlp(5), mlp(6)
    W = dst.layers[0].params["W"]
    src.save(tmp_path / "w.npz")
    dst.load(tmp_path / "w.npz")
    assert dst.layers[0].params["W"] is W
    assert np.array_equal(W, src.layers[0].params["W"])


def test_load_rejects_mismatched_shapes(tmp_path):
    mlp(7, hidden=8).save(tmp_path / "w.npz")
    other = mlp(8, hidden=9)
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"state\['0.W'\] must have shape \(9, 4\)"):
        other.load(tmp_path / "w.npz")
    # nothing was half-loaded
    for name, p, _ in other.named_parameters():
        assert np.array_equal(p, before[name])


def test_load_rejects_mismatched_keys(tmp_path):
    mlp(7).save(tmp_path / "w.npz")
    deeper = Sequential(
        [
            Linear(4, 8, rng=np.random.default_rng(0)),
            ReLU(),
            Linear(8, 3, rng=np.random.default_rng(1)),
        ]
    )
    with pytest.raises(ValueError, match="state must have the keys"):
        deeper.load(tmp_path / "w.npz")
    state = mlp(7).state_dict()
    state["9.W"] = np.zeros(1)
    with pytest.raises(ValueError, match="state must have the keys"):
        mlp(7).load_state_dict(state)
    del state["9.W"], state["4.b"]
    with pytest.raises(ValueError, match="state must have the keys"):
        mlp(7).load_state_dict(state)


def test_sequential_rejects_bad_layers(rng):
    with pytest.raises(ValueError, match="layers"):
        Sequential([])
    with pytest.raises(ValueError, match="layers"):
        Sequential([Linear(2, 2, rng=rng), np.tanh])


def test_shape_errors_propagate_from_layers(rng):
    net = mlp(9)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\)"):
        net.forward(rng.standard_normal((3, 5)))
    net.forward(rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        net.backward(np.ones((3, 4)))
    with pytest.raises(ValueError, match="backward called before forward"):
        mlp(9).backward(np.ones((3, 3)))


# --------------------------------------------------------------------------- checked once, at the boundary


class Doubler(Layer):
    """A layer written to the public contract only (forward/backward overridden): x -> 2x."""

    def forward(self, x, *, train=False):
        self._cache, self._out_shape = True, np.shape(x)
        return 2 * np.asarray(x)

    def backward(self, grad_out):
        _, g = self._take_cache(grad_out)
        return 2 * g


def by_layers(net, x, g, train):
    """Forward and backward through each layer's public (checking) methods, in turn."""
    for layer in net.layers:
        x = layer.forward(x, train=train)
    z = x
    for layer in reversed(net.layers):
        g = layer.backward(g)
    return z, g, {name: gr.copy() for name, _, gr in net.named_parameters()}


@pytest.mark.parametrize("train", [False, True])
def test_sequential_computes_what_its_layers_compute_one_by_one(rng, train):
    """The unchecked internal path is the same arithmetic as the public one, bit for bit."""

    def make():
        net = convnet(30)
        net.layers.insert(5, Doubler())  # a layer Sequential must call through its public methods
        return net

    x = rng.standard_normal((6, 1, 40))
    a, b = make(), make()
    z = a.forward(x, train=train)
    g = rng.standard_normal(z.shape)
    dx = a.backward(g)
    z_ref, dx_ref, grads_ref = by_layers(b, x, g, train)
    assert np.array_equal(z, z_ref) and np.array_equal(dx, dx_ref)
    for name, _, gr in a.named_parameters():
        assert np.array_equal(gr, grads_ref[name])


class ListMaker(Layer):
    def forward(self, x, *, train=False):
        return np.asarray(x).tolist()  # not an array: the next layer must still check it


def test_what_a_custom_layer_returns_is_checked_before_the_next_layer(rng):
    net = Sequential([ListMaker(), Linear(3, 2, rng=rng)])
    assert net.forward(np.ones((2, 3))).shape == (2, 2)
    net = Sequential([Doubler(), Linear(3, 2, rng=rng)])
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="x contains NaN or inf"):
        net.forward(np.full((2, 3), 1e308))  # 2x overflows inside the custom layer


def test_a_mis_assembled_network_fails_with_the_layer_message(rng):
    net = Sequential([Linear(4, 8, rng=rng), ReLU(), Linear(9, 3, rng=rng)])
    with pytest.raises(ValueError, match=r"x must have shape \(N, 9\), got \(5, 8\)"):
        net.forward(np.ones((5, 4)))
    net = Sequential([Conv1d(1, 2, 3, rng=rng), Linear(76, 3, rng=rng)])
    with pytest.raises(ValueError, match="x must have 2 dimensions, got shape"):
        net.forward(np.ones((5, 1, 40)))


@pytest.mark.parametrize("make", [lambda: mlp(40), lambda: convnet(41)], ids=["mlp", "cnn"])
def test_backward_without_input_grad_fills_the_same_grads(rng, make):
    a, b = make(), make()
    x = rng.standard_normal((5, 4) if len(a.layers) == 5 else (5, 1, 40))
    z = a.forward(x, train=False)
    b.forward(x, train=False)
    g = rng.standard_normal(z.shape)
    a.backward(g)
    assert b.backward(g, input_grad=False) is None
    for (name, _, ga), (_, _, gb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert np.array_equal(ga, gb), name


def test_backward_without_input_grad_stops_at_the_first_parameters(rng):
    class Counting(Doubler):
        calls = 0

        def backward(self, grad_out):
            Counting.calls += 1
            return super().backward(grad_out)

    net = Sequential([Counting(), Flatten(), Linear(6, 2, rng=rng), ReLU(), Linear(2, 2, rng=rng)])
    z = net.forward(rng.standard_normal((3, 2, 3)))
    net.backward(np.ones(z.shape), input_grad=False)
    assert Counting.calls == 0
    net.backward(np.ones(z.shape))
    assert Counting.calls == 1
    relu_only = Sequential([ReLU()])  # no parameters at all: grad_out is still checked
    relu_only.forward(np.ones((2, 2)))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        relu_only.backward(np.ones((2, 3)), input_grad=False)


def test_float32_network_stays_float32(rng):
    net = convnet(50)
    for layer in net.layers:
        for k in layer.params:
            layer.params[k] = layer.params[k].astype(np.float32)
    x = rng.standard_normal((4, 1, 40)).astype(np.float32)
    z = net.forward(x, train=True)
    g = CrossEntropy().grad(z, rng.integers(0, 10, 4))
    dx = net.backward(g)
    assert z.dtype == g.dtype == dx.dtype == np.float32
    assert all(gr.dtype == np.float32 for _, gr in net.parameters())
