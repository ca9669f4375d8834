"""Tests of relunet.dropout: the Dropout layer (mask statistics, both modes, gradients with the
mask held fixed, the ValueErrors of the contract), mask enumeration, ensemble averages of
sub-networks and the weight-scaled test-time network."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet import (
    Conv1d,
    CrossEntropy,
    Dropout,
    Flatten,
    Linear,
    ReLU,
    Sequential,
    check_layer,
    numerical_gradient,
    relative_error,
    softmax,
)
from relunet.dropout import (
    all_masks,
    ensemble_softmax,
    held_masks,
    mask_probabilities,
    sample_scores,
    weight_scaled,
)

PROPERTY = settings(max_examples=25, deadline=None)
TOL = 1e-7
seeds = st.integers(0, 2**32 - 1)


def dropout_mlp(seed, *, d_in=5, hidden=6, k=3, keep_in=0.8, keep_hidden=0.5, mode="inverted"):
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Dropout(keep_in, rng=rng, mode=mode),
            Linear(d_in, hidden, rng=rng),
            ReLU(),
            Dropout(keep_hidden, rng=rng, mode=mode),
            Linear(hidden, k, rng=rng),
        ]
    )


# --------------------------------------------------------------------------- gradient checks


@PROPERTY
@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=3),
    keep_prob=st.floats(0.05, 1.0),
    mode=st.sampled_from(Dropout.MODES),
    train=st.booleans(),
    seed=seeds,
)
def test_dropout_gradients(shape, keep_prob, mode, train, seed):
    """Test mode, and training mode with the mask of a first forward held fixed."""
    rng = np.random.default_rng(seed)
    layer = Dropout(keep_prob, rng=rng, mode=mode)
    x = rng.standard_normal(shape)
    if train:
        layer.forward(x, train=True)
        layer.hold_mask()
    check_layer(layer, x, rng, train=train, tol=TOL)


@pytest.mark.parametrize("mode", Dropout.MODES)
def test_network_gradient_with_held_masks_matches_finite_differences(rng, mode):
    net = dropout_mlp(1, mode=mode)
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    loss = CrossEntropy()
    net.backward(loss.grad(net.forward(x, train=True), y))
    analytic = {name: g.copy() for name, _, g in net.named_parameters()}
    masks = [lay.mask.copy() for lay in net.layers if isinstance(lay, Dropout)]
    assert all(0 < m.sum() < m.size for m in masks)  # some units dropped, some kept
    with held_masks(net):
        for name, p, _ in net.named_parameters():
            fd = numerical_gradient(lambda: loss(net.forward(x, train=True), y), p)
            assert relative_error(analytic[name], fd) < 1e-6, name  # ReLU kinks nearby
        # the masks really were held: a forward did not draw new ones
        assert all(
            np.array_equal(lay.mask, m)
            for lay, m in zip(
                [la for la in net.layers if isinstance(la, Dropout)], masks, strict=True
            )
        )
    assert not any(lay.holds_mask for lay in net.layers if isinstance(lay, Dropout))


def test_wrong_backward_is_rejected_with_held_mask(rng):
    class WrongDropout(Dropout):  # forgets the 1/p of inverted dropout in backward
        def backward(self, grad_out):
            return super().backward(grad_out) * self.keep_prob

    layer = WrongDropout(0.5, rng=rng)
    x = rng.standard_normal((4, 6))
    layer.forward(x, train=True)
    layer.hold_mask()
    with pytest.raises(AssertionError, match="relative errors above"):
        check_layer(layer, x, rng, train=True, tol=TOL)


# --------------------------------------------------------------------------- dropout statistics


@pytest.mark.parametrize("mode", Dropout.MODES)
@pytest.mark.parametrize("keep_prob", [0.2, 0.5, 0.8])
def test_dropout_mask_frequency(keep_prob, mode):
    layer = Dropout(keep_prob, rng=np.random.default_rng(11), mode=mode)
    x = np.ones((400, 250))
    out = layer.forward(x, train=True)
    kept = out != 0
    se = np.sqrt(keep_prob * (1 - keep_prob) / kept.size)  # standard error of a frequency
    assert abs(kept.mean() - keep_prob) < 5 * se
    expected_value = 1 / keep_prob if mode == "inverted" else 1.0
    assert np.all(out[kept] == expected_value)
    assert np.array_equal(layer.mask, kept)


@pytest.mark.parametrize("keep_prob", [0.3, 0.5, 0.9])
def test_inverted_dropout_is_unbiased(keep_prob):
    rng = np.random.default_rng(5)
    n = 4000
    x_row = rng.uniform(0.5, 2.0, 50) * rng.choice([-1.0, 1.0], 50)
    layer = Dropout(keep_prob, rng=rng)  # the default mode is "inverted"
    assert layer.mode == "inverted"
    out = layer.forward(np.tile(x_row, (n, 1)), train=True)
    # each column mean is x_j * Binomial(n, p) / (n p): standard error |x_j| sqrt((1-p)/(p n))
    se = np.abs(x_row) * np.sqrt((1 - keep_prob) / (keep_prob * n))
    assert np.all(np.abs(out.mean(axis=0) - x_row) < 5 * se)
    # test time is the identity
    x = rng.standard_normal((3, 4))
    assert np.array_equal(layer.forward(x, train=False), x)


def test_scale_dropout_test_time_multiplies_by_keep_prob(rng):
    layer = Dropout(0.7, rng=rng, mode="scale")
    x = rng.standard_normal((5, 6))
    assert np.array_equal(layer.forward(x), 0.7 * x)
    assert np.array_equal(layer.backward(np.ones((5, 6))), np.full((5, 6), 0.7))
    # training keeps units unscaled: every output is 0 or exactly x
    out = layer.forward(x, train=True)
    assert np.all((out == 0) | (out == x))
    # E[train output] = p x: the mean over many rows of the same x
    big = layer.forward(np.ones((200, 200)), train=True)
    assert abs(big.mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / big.size)


@pytest.mark.parametrize("mode", Dropout.MODES)
def test_dropout_backward_uses_forward_mask(rng, mode):
    layer = Dropout(0.5, rng=rng, mode=mode)
    x = rng.uniform(1.0, 2.0, (20, 30))  # no zeros: out / x recovers the factor
    out = layer.forward(x, train=True)
    factor = out / x
    assert 0 < np.count_nonzero(factor) < factor.size
    g = rng.standard_normal(x.shape)
    dx = layer.backward(g)
    assert np.array_equal(dx == 0, out == 0)
    np.testing.assert_allclose(dx, g * factor, rtol=1e-15)
    assert np.array_equal(layer.backward(g), dx)  # backward does not redraw the mask
    out2 = layer.forward(x, train=True)  # a new forward draws a new mask
    assert not np.array_equal(out2 == 0, out == 0)


def test_dropout_keep_prob_one_is_identity(rng):
    x = rng.standard_normal((4, 5))
    for mode in Dropout.MODES:
        layer = Dropout(1.0, rng=rng, mode=mode)
        assert np.array_equal(layer.forward(x, train=True), x)
        assert np.array_equal(layer.forward(x, train=False), x)


def test_dropout_same_seed_same_mask():
    x = np.ones((10, 10))
    a = Dropout(0.5, rng=np.random.default_rng(3)).forward(x, train=True)
    b = Dropout(0.5, rng=np.random.default_rng(3)).forward(x, train=True)
    c = Dropout(0.5, rng=np.random.default_rng(4)).forward(x, train=True)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_the_dtype(rng, dtype):
    layer = Dropout(0.5, rng=rng, mode="inverted")
    x = rng.standard_normal((4, 5)).astype(dtype)
    assert layer.forward(x, train=True).dtype == dtype
    assert layer.backward(np.ones((4, 5), dtype=dtype)).dtype == dtype


# --------------------------------------------------------------------------- holding a mask


@pytest.mark.parametrize("mode", Dropout.MODES)
def test_held_mask_is_used_and_released(rng, mode):
    layer = Dropout(0.5, rng=rng, mode=mode)
    x = rng.uniform(1.0, 2.0, (6, 8))
    first = layer.forward(x, train=True)
    layer.hold_mask()
    assert layer.holds_mask
    for _ in range(3):
        assert np.array_equal(layer.forward(x, train=True), first)
    # test mode ignores the held mask
    assert np.array_equal(layer.forward(x), x if mode == "inverted" else 0.5 * x)
    layer.release_mask()
    assert not layer.holds_mask
    assert not np.array_equal(layer.forward(x, train=True), first)


def test_explicit_mask_per_sample_or_shared(rng):
    layer = Dropout(0.25, rng=rng, mode="scale")
    x = rng.standard_normal((3, 4))
    mask = np.array([True, False, True, False])
    layer.hold_mask(mask)  # one sub-network for every sample of the batch
    assert np.array_equal(layer.forward(x, train=True), x * mask)
    full = rng.random((3, 4)) < 0.5
    layer.hold_mask(full)
    assert np.array_equal(layer.forward(x, train=True), x * full)
    mask[0] = False  # the layer holds a copy
    layer.hold_mask(np.array([True, False, True, False]))
    assert np.array_equal(layer.forward(x, train=True)[:, 0], x[:, 0])


def test_hold_mask_rejects_bad_masks(rng):
    layer = Dropout(0.5, rng=rng)
    with pytest.raises(ValueError, match="mask is None"):
        layer.hold_mask()
    with pytest.raises(ValueError, match="mask must be a boolean"):
        layer.hold_mask(np.ones(4))
    with pytest.raises(ValueError, match="mask must have at least one dimension"):
        layer.hold_mask(np.array(True))
    layer.hold_mask(np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="x must have shape"):
        layer.forward(np.ones((2, 5)), train=True)


def test_held_masks_rejects_nets_without_dropout(rng):
    with pytest.raises(ValueError, match="no Dropout layer"):
        with held_masks(Sequential([Linear(2, 2, rng=rng)])):
            pass
    with pytest.raises(ValueError, match="net must be a relunet Sequential"):
        with held_masks([Dropout(0.5, rng=rng)]):
            pass


def test_held_masks_releases_on_error(rng):
    net = dropout_mlp(0)
    net.forward(rng.standard_normal((2, 5)), train=True)
    with pytest.raises(RuntimeError), held_masks(net):
        raise RuntimeError
    assert not any(lay.holds_mask for lay in net.layers if isinstance(lay, Dropout))


# --------------------------------------------------------------------------- sub-networks


@pytest.mark.parametrize("n", [1, 3, 6])
def test_all_masks_enumerates_every_mask_once(n):
    masks = all_masks(n)
    assert masks.shape == (2**n, n) and masks.dtype == bool
    assert len({row.tobytes() for row in masks}) == 2**n
    assert not masks[0].any() and masks[-1].all()


@pytest.mark.parametrize("keep_prob", [0.1, 0.5, 0.8, 1.0])
def test_mask_probabilities_sum_to_one_and_match_frequencies(keep_prob):
    masks = all_masks(4)
    prob = mask_probabilities(masks, keep_prob)
    np.testing.assert_allclose(prob.sum(), 1.0, rtol=1e-14)
    assert prob[-1] == pytest.approx(keep_prob**4)
    # the frequency of each mask among Dropout's own draws
    layer = Dropout(keep_prob, rng=np.random.default_rng(2))
    layer.forward(np.ones((20000, 4)), train=True)
    codes = layer.mask @ (1 << np.arange(4))
    freq = np.bincount(codes, minlength=16) / 20000
    assert np.all(np.abs(freq - prob) < 5 * np.sqrt(prob * (1 - prob) / 20000) + 1e-12)


def test_geometric_mean_of_a_softmax_layer_is_weight_scaling(rng):
    """Baldi & Sadowski (2013): the NWGM over all masks of a dropped-out soft-max layer."""
    n, k, p = 8, 4, 0.7
    W, b, x = rng.standard_normal((k, n)), rng.standard_normal(k), rng.standard_normal(n)
    masks = all_masks(n)
    z = (masks * x) @ W.T + b  # the scores of every sub-network, (2^n, K)
    w = mask_probabilities(masks, p)
    scaled = softmax(p * W @ x + b)
    np.testing.assert_allclose(ensemble_softmax(z, w, mean="geometric"), scaled, rtol=1e-12)
    arithmetic = ensemble_softmax(z, w)
    np.testing.assert_allclose(arithmetic.sum(), 1.0, rtol=1e-14)
    assert np.max(np.abs(arithmetic - scaled)) > 1e-3  # the arithmetic mean is a different point


def test_ensemble_softmax_uniform_weights_and_shapes(rng):
    z = rng.standard_normal((5, 3, 4))
    np.testing.assert_allclose(ensemble_softmax(z), softmax(z).mean(axis=0), rtol=1e-14)
    g = ensemble_softmax(z, mean="geometric")
    assert g.shape == (3, 4)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-14)
    # a single sub-network is its own mean
    np.testing.assert_allclose(ensemble_softmax(z[:1], mean="geometric"), softmax(z[0]))


def test_ensemble_softmax_is_finite_for_huge_scores(rng):
    z = 1e4 * rng.standard_normal((6, 2, 5))
    for mean in ("arithmetic", "geometric"):
        out = ensemble_softmax(z, mean=mean)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)


def test_ensemble_softmax_rejects_bad_input(rng):
    z = rng.standard_normal((3, 2, 4))
    with pytest.raises(ValueError, match="mean must be"):
        ensemble_softmax(z, mean="harmonic")
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        ensemble_softmax(z, np.ones(4) / 4)
    with pytest.raises(ValueError, match="weights must be non-negative and sum to 1"):
        ensemble_softmax(z, np.array([0.5, 0.6, -0.1]))
    with pytest.raises(ValueError, match="weights must be non-negative and sum to 1"):
        ensemble_softmax(z, np.ones(3))
    with pytest.raises(ValueError, match="z must have shape"):
        ensemble_softmax(np.ones(4))
    with pytest.raises(ValueError, match="z contains NaN"):
        ensemble_softmax(np.full((2, 3), np.nan))


def test_sample_scores_draws_independent_subnetworks(rng):
    net = dropout_mlp(3)
    x = rng.standard_normal((4, 5))
    z = sample_scores(net, x, 50)
    assert z.shape == (50, 4, 3)
    assert len({zz.tobytes() for zz in z}) > 40  # fresh masks for every draw
    again = sample_scores(dropout_mlp(3), x, 50)
    assert np.array_equal(z, again)  # reproducible from the seeds


def test_sample_scores_rejects_bad_counts(rng):
    net = dropout_mlp(0)
    x = rng.standard_normal((2, 5))
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="n_samples"):
            sample_scores(net, x, bad)
    with pytest.raises(ValueError, match="no Dropout layer"):
        sample_scores(Sequential([Linear(5, 2, rng=rng)]), x, 3)


# --------------------------------------------------------------------------- weight scaling


@pytest.mark.parametrize("mode", Dropout.MODES)
def test_weight_scaled_computes_the_test_mode_network(rng, mode):
    net = dropout_mlp(4, mode=mode)
    net.layers[1].params["b"] = rng.standard_normal(6)  # non-zero biases must not be scaled
    net.layers[4].params["b"] = rng.standard_normal(3)
    before = net.state_dict()
    scaled = weight_scaled(net)
    assert not any(isinstance(lay, Dropout) for lay in scaled.layers)
    x = rng.standard_normal((9, 5))
    np.testing.assert_allclose(scaled.forward(x), net.forward(x), rtol=1e-13, atol=1e-14)
    factor = (0.8, 0.5) if mode == "scale" else (1.0, 1.0)
    assert np.array_equal(scaled.layers[0].params["W"], factor[0] * before["1.W"])
    assert np.array_equal(scaled.layers[2].params["W"], factor[1] * before["4.W"])
    assert np.array_equal(scaled.layers[0].params["b"], before["1.b"])
    assert np.array_equal(scaled.layers[2].params["b"], before["4.b"])
    after = net.state_dict()  # the original is untouched
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_weight_scaled_conv_and_expectation_of_last_layer(rng):
    """E over masks of the last linear layer's scores is exactly the weight-scaled scores."""
    conv = Sequential([Dropout(0.6, rng=rng, mode="scale"), Conv1d(1, 2, 3, rng=rng), Flatten()])
    x = rng.standard_normal((2, 1, 7))
    np.testing.assert_allclose(weight_scaled(conv).forward(x), conv.forward(x), rtol=1e-13)
    lin = Linear(5, 3, rng=rng)
    lin.params["b"] = rng.standard_normal(3)
    x = rng.standard_normal(5)
    masks = all_masks(5)
    expected = mask_probabilities(masks, 0.6) @ lin.forward(masks * x)
    net = Sequential([Dropout(0.6, rng=rng, mode="scale"), lin])
    np.testing.assert_allclose(weight_scaled(net).forward(x[None])[0], expected, rtol=1e-12)


def test_weight_scaled_rejects_unsupported_nets(rng):
    bad = Sequential([Linear(3, 3, rng=rng), Dropout(0.5, rng=rng), ReLU(), Linear(3, 2, rng=rng)])
    with pytest.raises(ValueError, match="index 1 must be followed by a Linear or Conv1d"):
        weight_scaled(bad)
    last = Sequential([Linear(3, 3, rng=rng), Dropout(0.5, rng=rng)])
    with pytest.raises(ValueError, match="followed by a Linear"):
        weight_scaled(last)
    with pytest.raises(ValueError, match="no Dropout layer"):
        weight_scaled(Sequential([Linear(3, 3, rng=rng)]))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("keep_prob", [0, 0.0, 1.5, -0.1, float("nan"), float("inf")])
def test_dropout_rejects_keep_prob_outside_unit_interval(rng, keep_prob):
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(keep_prob, rng=rng)


@pytest.mark.parametrize("keep_prob", [1, 0.5, np.float64(0.5), np.float32(0.5), np.int64(1)])
def test_dropout_accepts_any_real_keep_prob(rng, keep_prob):
    layer = Dropout(keep_prob, rng=rng)
    assert layer.keep_prob == float(keep_prob)
    assert isinstance(layer.keep_prob, float)


@pytest.mark.parametrize("keep_prob", ["0.5", None, 0.5j, True, np.True_])
def test_dropout_rejects_non_real_keep_prob(rng, keep_prob):
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(keep_prob, rng=rng)


def test_dropout_rejects_bad_mode_and_rng(rng):
    with pytest.raises(ValueError, match="mode"):
        Dropout(0.5, rng=rng, mode="drop")
    with pytest.raises(ValueError, match="rng"):
        Dropout(0.5, rng=np.random.RandomState(0))  # noqa: NPY002 -- a legacy generator is refused


@pytest.mark.parametrize("n", [0, 21, -1, 2.0, True, "3"])
def test_all_masks_rejects_bad_sizes(n):
    with pytest.raises(ValueError, match="n must"):
        all_masks(n)


def test_mask_probabilities_rejects_bad_input():
    with pytest.raises(ValueError, match="masks must be a 2-D boolean"):
        mask_probabilities(np.ones((2, 3)), 0.5)
    with pytest.raises(ValueError, match="masks must be a 2-D boolean"):
        mask_probabilities(np.ones(3, dtype=bool), 0.5)
    with pytest.raises(ValueError, match="keep_prob"):
        mask_probabilities(all_masks(2), 0.0)
    with pytest.raises(ValueError, match="masks must have at least one unit"):
        mask_probabilities(np.ones((4, 0), dtype=bool), 0.5)


def test_backward_before_forward_raises(rng):
    with pytest.raises(ValueError, match="Dropout.backward called before forward"):
        Dropout(0.5, rng=rng).backward(np.ones((4, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("train", [False, True])
def test_forward_rejects_nan_and_inf(rng, bad, train):
    x = rng.standard_normal((4, 3))
    x.flat[3] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        Dropout(0.5, rng=rng).forward(x, train=train)


def test_backward_rejects_grad_out_of_wrong_shape(rng):
    layer = Dropout(0.5, rng=rng)
    out = layer.forward(rng.standard_normal((4, 3)), train=True)
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones(out.shape[1:]))  # the batch axis dropped: no silent broadcasting
    with pytest.raises(ValueError, match=r"grad_out must have shape"):
        layer.backward(np.ones(out.size))  # as many entries, but flattened: no silent reshaping
    bad = np.ones(out.shape)
    bad.flat[0] = np.nan
    with pytest.raises(ValueError, match="grad_out contains NaN"):
        layer.backward(bad)


def test_forward_rejects_non_numeric_input(rng):
    with pytest.raises(ValueError, match="x must be a real numeric array"):
        Dropout(0.5, rng=rng).forward(np.full((4, 3), "a"))
