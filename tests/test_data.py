"""Tests of relunet.data: MNIST-1D generated locally, spirals, one-hot codes and splits."""

from __future__ import annotations

import numpy as np
import pytest
from relunet.data import Dataset, mnist1d, one_hot, spirals, train_val_split


@pytest.fixture(scope="module")
def mnist():
    return mnist1d()


def test_mnist1d_default_shapes_and_types(mnist):
    assert mnist.x.shape == (4000, 40)
    assert mnist.x_test.shape == (1000, 40)
    assert mnist.y.shape == (4000,) and mnist.y_test.shape == (1000,)
    assert mnist.x.dtype == mnist.x_test.dtype == np.float64
    assert mnist.y.dtype.kind == mnist.y_test.dtype.kind == "i"
    assert mnist.n_classes == 10
    assert set(np.unique(mnist.y)) == set(range(10)) == set(np.unique(mnist.y_test))
    assert np.all(np.isfinite(mnist.x)) and np.all(np.isfinite(mnist.x_test))
    assert mnist.x.std() > 0.1  # not a constant array


def test_mnist1d_is_deterministic(mnist):
    again = mnist1d()
    for field in ("x", "y", "x_test", "y_test"):
        assert np.array_equal(getattr(again, field), getattr(mnist, field))
    other = mnist1d(seed=7, num_samples=100)
    assert not np.array_equal(other.x, mnist1d(seed=8, num_samples=100).x)


def test_mnist1d_sizes_follow_arguments():
    d = mnist1d(num_samples=200, train_split=0.75)
    assert d.x.shape == (150, 40) and d.x_test.shape == (50, 40)


def test_mnist1d_as_signal():
    flat = mnist1d(num_samples=100)
    signal = mnist1d(num_samples=100, as_signal=True)
    assert signal.x.shape == (80, 1, 40) and signal.x_test.shape == (20, 1, 40)
    assert np.array_equal(signal.x[:, 0, :], flat.x)
    assert np.array_equal(signal.x_test[:, 0, :], flat.x_test)
    assert np.array_equal(signal.y, flat.y)


def test_mnist1d_leaves_global_random_state_alone():
    # a state of our own: an earlier mnist1d call may have left the one mnist1d would set
    outer = np.random.get_state()  # noqa: NPY002 -- the legacy global generator is the point
    np.random.seed(2024)  # noqa: NPY002
    state = np.random.get_state()  # noqa: NPY002
    expected = np.random.random(5)  # noqa: NPY002
    np.random.set_state(state)  # noqa: NPY002
    mnist1d(num_samples=100)
    after = np.random.random(5)  # noqa: NPY002
    np.random.set_state(outer)  # noqa: NPY002
    assert np.array_equal(after, expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_samples": 5}, "num_samples must be >= 10"),
        ({"train_split": 1.0}, r"train_split in \(0, 1\)"),
        ({"train_split": 0.0}, r"train_split in \(0, 1\)"),
    ],
)
def test_mnist1d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mnist1d(**kwargs)


def test_spirals_shapes_classes_and_determinism():
    x, y = spirals(50, 4, rng=np.random.default_rng(3))
    assert x.shape == (200, 2) and y.shape == (200,)
    assert y.dtype.kind == "i"
    assert np.array_equal(np.bincount(y), [50] * 4)  # every class, equally often
    x2, y2 = spirals(50, 4, rng=np.random.default_rng(3))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = spirals(50, 4, rng=np.random.default_rng(4))
    assert not np.array_equal(x, x3)
    radius = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(radius, np.tile(np.linspace(0.05, 1.0, 50), 4), rtol=1e-12)


def test_spirals_without_noise_lie_on_the_arms():
    x, y = spirals(20, 3, rng=np.random.default_rng(0), noise=0.0, turns=0.5)
    r = np.linalg.norm(x, axis=1)
    angle = np.arctan2(x[:, 1], x[:, 0])
    expected = 2 * np.pi * (y / 3 + 0.5 * r)
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-12)


@pytest.mark.parametrize(("n", "k"), [(0, 3), (5, 1)])
def test_spirals_rejects_bad_sizes(n, k):
    with pytest.raises(ValueError, match="n_per_class must be >= 1 and n_classes >= 2"):
        spirals(n, k, rng=np.random.default_rng(0))


def test_one_hot():
    y = np.array([2, 0, 1, 2])
    q = one_hot(y, 4)
    assert q.shape == (4, 4) and q.dtype == np.float64
    assert np.array_equal(q, np.eye(4)[y])
    assert np.array_equal(q.sum(axis=1), np.ones(4))
    assert np.array_equal(np.argmax(q, axis=1), y)
    assert one_hot(np.zeros(0, dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([0.0, 1.0]), "y must be a 1-D integer array"),
        (np.array([[0, 1]]), "y must be a 1-D integer array"),
        (np.array([0, 3]), r"y must lie in \[0, 3\)"),
        (np.array([-1, 0]), r"y must lie in \[0, 3\)"),
    ],
)
def test_one_hot_rejects_bad_labels(y, match):
    with pytest.raises(ValueError, match=match):
        one_hot(y, 3)


def test_train_val_split_sizes_disjoint_and_aligned():
    x = np.arange(100.0).reshape(50, 2)  # row i is (2i, 2i+1): identifiable
    y = np.arange(50)
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, 0.2, rng=np.random.default_rng(0))
    assert len(x_val) == len(y_val) == 10 and len(x_tr) == len(y_tr) == 40
    assert set(y_tr).isdisjoint(y_val)
    assert sorted(np.concatenate([y_tr, y_val])) == list(range(50))
    assert np.array_equal(x_tr[:, 0], 2 * y_tr) and np.array_equal(x_val[:, 0], 2 * y_val)
    assert not np.array_equal(y_tr, np.arange(10, 50))  # shuffled
    again = train_val_split(x, y, 0.2, rng=np.random.default_rng(0))
    assert np.array_equal(again[1], y_tr) and np.array_equal(again[3], y_val)


def test_train_val_split_keeps_at_least_one_validation_sample():
    _, y_tr, _, y_val = train_val_split(
        np.zeros((10, 1)), np.arange(10), 0.01, rng=np.random.default_rng(0)
    )
    assert len(y_val) == 1 and len(y_tr) == 9


@pytest.mark.parametrize(("n", "fraction"), [(10, 0.96), (10, 0.999), (1, 0.5)])
def test_train_val_split_refuses_to_leave_no_training_samples(n, fraction):
    with pytest.raises(ValueError, match="val_fraction .* leaves no training samples"):
        train_val_split(
            np.zeros((n, 2)), np.zeros(n, dtype=int), fraction, rng=np.random.default_rng(0)
        )


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(
            np.zeros((10, 2)), np.zeros(10, dtype=int), fraction, rng=np.random.default_rng(0)
        )


def test_train_val_split_rejects_length_mismatch():
    with pytest.raises(ValueError, match="x and y must have the same length"):
        train_val_split(
            np.zeros((10, 2)), np.zeros(9, dtype=int), 0.2, rng=np.random.default_rng(0)
        )


def test_mnist1d_refuses_a_split_that_leaves_a_set_empty():
    with pytest.raises(ValueError, match="train_split 0.05 of 10 signals leaves an empty"):
        mnist1d(num_samples=10, train_split=0.05)
    with pytest.raises(ValueError, match="seed must be < 2"):
        mnist1d(seed=2**32)


def test_dataset_checks_its_arrays():
    x, y = np.zeros((3, 2)), np.array([0, 1, 2])
    assert Dataset(x, y, x, y).n_classes == 3
    with pytest.raises(ValueError, match="y must hold 3 integer labels"):
        Dataset(x, y[:2], x, y)
    with pytest.raises(ValueError, match="y_test must hold 3 integer labels"):
        Dataset(x, y, x, y.astype(float))
    with pytest.raises(ValueError, match="x must have a batch axis"):
        Dataset(np.zeros(3), y, x, y)
    with pytest.raises(ValueError, match="y must be class labels >= 0"):
        Dataset(x, y - 1, x, y)
