"""Tests of relunet.losses: gradients against finite differences, analytic identities computed
independently, stability at scores of +-1e4, and the ValueErrors of the contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet import (
    CrossEntropy,
    ExpQuadratic,
    Quadratic,
    SoftmaxQuadratic,
    check_loss,
    log_softmax,
    logsumexp,
    softmax,
)
from relunet.gradcheck import numerical_jacobian, relative_error
from relunet.losses import EXP_QUADRATIC_MAX_SCORE, softmax_jacobian, softmax_jvp

PROPERTY = settings(max_examples=25, deadline=None)
TOL = 1e-7
seeds = st.integers(0, 2**32 - 1)
LOSSES = [CrossEntropy(), SoftmaxQuadratic(), Quadratic(), ExpQuadratic()]
LOSS_IDS = [type(loss).__name__ for loss in LOSSES]


def scores_for(loss, rng, shape):
    """Moderate scores; ExpQuadratic's grow like e^{2z}, so keep them below 2."""
    if isinstance(loss, ExpQuadratic):
        return rng.uniform(-3.0, 2.0, shape)
    return 2.0 * rng.standard_normal(shape)


def random_simplex(rng, n, k):
    return rng.dirichlet(np.ones(k), size=n)


# --------------------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("loss", LOSSES, ids=LOSS_IDS)
@PROPERTY
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=seeds)
def test_gradient_integer_labels(loss, n, k, seed):
    rng = np.random.default_rng(seed)
    z = scores_for(loss, rng, (n, k))
    y = rng.integers(0, k, n)
    assert check_loss(loss, z, y, tol=TOL) < TOL


@pytest.mark.parametrize("loss", LOSSES, ids=LOSS_IDS)
@PROPERTY
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=seeds)
def test_gradient_target_arrays(loss, n, k, seed):
    rng = np.random.default_rng(seed)
    z = scores_for(loss, rng, (n, k))
    q = random_simplex(rng, n, k)  # soft targets on the simplex (accepted by every loss)
    assert check_loss(loss, z, q, tol=TOL) < TOL


@pytest.mark.parametrize("loss", [Quadratic(), ExpQuadratic()], ids=["Quadratic", "ExpQuadratic"])
@PROPERTY
@given(n=st.integers(1, 6), k=st.integers(1, 6), seed=seeds)
def test_gradient_regression_targets(loss, n, k, seed):
    """The losses without a simplex requirement accept arbitrary real targets."""
    rng = np.random.default_rng(seed)
    z = scores_for(loss, rng, (n, k))
    assert check_loss(loss, z, rng.standard_normal((n, k)), tol=TOL) < TOL


# --------------------------------------------------------------------------- analytic identities


@PROPERTY
@given(n=st.integers(1, 8), k=st.integers(1, 8), scale=st.floats(0.0, 50.0), seed=seeds)
def test_softmax_rows_on_simplex(n, k, scale, seed):
    z = scale * np.random.default_rng(seed).standard_normal((n, k))
    p = softmax(z)
    assert p.shape == (n, k)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    # invariant to adding a constant to each row
    np.testing.assert_allclose(softmax(z + 7.0), p, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.exp(log_softmax(z)), p, rtol=1e-12, atol=1e-300)


def test_softmax_axis_argument(rng):
    z = rng.standard_normal((3, 4))
    np.testing.assert_allclose(softmax(z, axis=0), softmax(z.T).T, rtol=1e-15)
    np.testing.assert_allclose(logsumexp(z, axis=0), np.log(np.exp(z).sum(axis=0)), rtol=1e-14)


@PROPERTY
@given(n=st.integers(1, 8), k=st.integers(2, 8), seed=seeds)
def test_cross_entropy_is_minus_log_p_y(n, k, seed):
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # the naive soft-max, safe for |z| ~ 10
    direct = -np.log(p[np.arange(n), y])
    ce = CrossEntropy()
    np.testing.assert_allclose(ce.per_sample(z, y), direct, rtol=1e-12, atol=1e-14)
    assert ce(z, y) == pytest.approx(direct.mean(), rel=1e-12, abs=1e-14)
    # one-hot targets give the same value and gradient as labels
    q = np.eye(k)[y]
    assert ce(z, q) == pytest.approx(ce(z, y), rel=1e-15, abs=1e-15)
    np.testing.assert_array_equal(ce.grad(z, q), ce.grad(z, y))
    # gradient (p - q) / N
    np.testing.assert_allclose(ce.grad(z, y), (p - q) / n, rtol=1e-12, atol=1e-15)


@PROPERTY
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=seeds)
def test_softmax_quadratic_grad_is_jacobian_times_residual(n, k, seed):
    rng = np.random.default_rng(seed)
    z = 2.0 * rng.standard_normal((n, k))
    q = random_simplex(rng, n, k)
    loss = SoftmaxQuadratic()
    expected = np.empty((n, k))
    values = np.empty(n)
    for i in range(n):
        p = np.exp(z[i]) / np.exp(z[i]).sum()
        J = np.diag(p) - np.outer(p, p)  # the soft-max Jacobian, written out as a matrix
        expected[i] = J @ (p - q[i]) / n
        values[i] = 0.5 * np.sum((p - q[i]) ** 2)
    np.testing.assert_allclose(loss.grad(z, q), expected, rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(loss.per_sample(z, q), values, rtol=1e-12, atol=1e-16)


def test_quadratic_and_exp_quadratic_formulas(rng):
    z = rng.standard_normal((4, 3))
    q = rng.standard_normal((4, 3))
    quad, expq = Quadratic(), ExpQuadratic()
    assert quad(z, q) == pytest.approx(np.mean(0.5 * np.sum((z - q) ** 2, axis=1)), rel=1e-14)
    np.testing.assert_allclose(quad.grad(z, q), (z - q) / 4, rtol=1e-15)
    e = np.exp(z)
    assert expq(z, q) == pytest.approx(np.mean(0.5 * np.sum((q - e) ** 2, axis=1)), rel=1e-14)
    np.testing.assert_allclose(expq.grad(z, q), (e - q) * e / 4, rtol=1e-14)


@pytest.mark.parametrize("loss", LOSSES, ids=LOSS_IDS)
def test_grad_is_mean_of_sample_grads(loss, rng):
    z = scores_for(loss, rng, (5, 4))
    y = rng.integers(0, 4, 5)
    g = loss.grad(z, y)
    assert g.shape == z.shape
    np.testing.assert_allclose(g, loss.sample_grad(z, y) / 5, rtol=1e-15)
    value = loss(z, y)
    assert isinstance(value, float)
    assert value == pytest.approx(loss.per_sample(z, y).mean(), rel=1e-15)


@pytest.mark.parametrize("k", [2, 3, 10, 17])
def test_cross_entropy_of_zero_scores_is_log_k(k):
    n = 5
    y = np.arange(n) % k
    ce = CrossEntropy()
    assert np.all(ce.per_sample(np.zeros((n, k)), y) == np.log(k))  # exactly, sample by sample
    assert ce(np.zeros((1, k)), y[:1]) == np.log(k)
    assert ce(np.zeros((n, k)), y) == pytest.approx(np.log(k), rel=4 * np.finfo(float).eps)


@pytest.mark.parametrize("loss", [CrossEntropy(), SoftmaxQuadratic(), Quadratic(), ExpQuadratic()])
def test_float32_scores_give_float32_gradients(rng, loss):
    """float32 stays float32 end to end (no silent promotion), and agrees with float64 to float32 precision."""
    z = rng.standard_normal((3, 4))
    y = np.array([0, 1, 3])
    g32 = loss.grad(z.astype(np.float32), y)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, loss.grad(z, y), rtol=1e-5, atol=1e-6)
    big = np.array([[1e4, -1e4, 0.0, 5.0]], dtype=np.float32)
    if not isinstance(loss, ExpQuadratic):
        assert np.isfinite(loss(big, y[:1])) and np.all(np.isfinite(loss.grad(big, y[:1])))


# --------------------------------------------------------------------------- stability


BIG = 1e4


def test_logsumexp_softmax_log_softmax_exact_at_large_scores():
    z = np.array([[BIG, 0.0, -BIG], [-BIG, -BIG, -BIG], [BIG, BIG, 0.0]])
    lse = logsumexp(z)
    assert np.all(np.isfinite(lse))
    assert lse[0] == BIG  # e^{-1e4} vanishes next to 1
    assert lse[1] == pytest.approx(-BIG + np.log(3), rel=1e-15)
    assert lse[2] == pytest.approx(BIG + np.log(2), rel=1e-15)
    assert np.array_equal(softmax(z)[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(softmax(z)[1], np.full(3, 1 / 3), rtol=1e-15)
    np.testing.assert_allclose(softmax(z)[2], [0.5, 0.5, 0.0], rtol=1e-15, atol=0)
    ls = log_softmax(z)
    assert np.all(np.isfinite(ls))
    assert np.array_equal(ls[0], [0.0, -BIG, -2 * BIG])
    np.testing.assert_allclose(ls[1], np.full(3, -np.log(3)), rtol=1e-12)
    np.testing.assert_allclose(ls[2], [-np.log(2), -np.log(2), -BIG - np.log(2)], rtol=1e-12)


def test_cross_entropy_exact_at_large_scores():
    z = np.array([[BIG, 0.0, -BIG]] * 3)
    y = np.array([0, 1, 2])
    ce = CrossEntropy()
    assert np.array_equal(ce.per_sample(z, y), [0.0, BIG, 2 * BIG])
    g = ce.grad(z, y)
    assert np.array_equal(g * 3, [[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [1.0, 0.0, -1.0]])


@pytest.mark.parametrize(
    "loss", [CrossEntropy(), SoftmaxQuadratic(), Quadratic()], ids=lambda x: type(x).__name__
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_losses_finite_at_large_scores(loss, sign, rng):
    z = sign * BIG * np.array([[1.0, 0.0, -1.0], [1.0, 1.0, 1.0], [0.5, -1.0, 1.0]])
    for y in (np.array([0, 1, 2]), np.array([2, 2, 0]), random_simplex(rng, 3, 3)):
        value = loss(z, y)
        g = loss.grad(z, y)
        assert np.isfinite(value)
        assert np.all(np.isfinite(g))


def test_saturated_softmax_quadratic_has_vanishing_gradient():
    """A saturated wrong soft-max: the quadratic loss is ~1 yet its gradient underflows to 0."""
    z = np.array([[BIG, -BIG]])
    sq = SoftmaxQuadratic()
    assert sq(z, np.array([1])) == 1.0  # 1/2 ((1-0)^2 + (0-1)^2)
    assert np.array_equal(sq.grad(z, np.array([1])), np.zeros((1, 2)))
    ce = CrossEntropy()
    assert ce(z, np.array([1])) == 2 * BIG
    assert np.array_equal(ce.grad(z, np.array([1])), [[1.0, -1.0]])


def test_exp_quadratic_finite_at_large_negative_scores():
    z = np.full((2, 3), -BIG)
    loss = ExpQuadratic()
    y = np.array([0, 2])
    assert loss(z, y) == 0.5  # e^{-1e4} = 0, so 1/2 ||q||^2 = 1/2
    assert np.array_equal(loss.grad(z, y), np.zeros((2, 3)))


def test_exp_quadratic_threshold():
    loss = ExpQuadratic()
    y = np.array([0])
    # at the threshold the value is enormous but finite
    z_ok = np.array([[EXP_QUADRATIC_MAX_SCORE, 0.0]])
    assert np.isfinite(loss(z_ok, y))
    assert np.all(np.isfinite(loss.grad(z_ok, y)))
    for z_bad in (np.array([[EXP_QUADRATIC_MAX_SCORE + 1e-6, 0.0]]), np.array([[0.0, BIG]])):
        with pytest.raises(ValueError, match=r"^z has a score"):
            loss(z_bad, y)
        with pytest.raises(ValueError, match=r"^z has a score"):
            loss.grad(z_bad, y)
    assert 350 < EXP_QUADRATIC_MAX_SCORE < 0.5 * np.log(np.finfo(np.float64).max)


@pytest.mark.parametrize("k", [2, 15])
@pytest.mark.parametrize("n", [1, 3])
def test_exp_quadratic_never_returns_inf(n, k):
    """All scores at the threshold: the value may exceed float64, which must raise, not give inf."""
    loss = ExpQuadratic()
    z = np.full((n, k), EXP_QUADRATIC_MAX_SCORE)
    y = np.zeros(n, dtype=int)
    try:
        value = loss(z, y)
    except ValueError as err:
        assert str(err).startswith("z ")
    else:
        assert np.isfinite(value)
    assert np.all(np.isfinite(loss.grad(z, y)))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("loss", LOSSES, ids=LOSS_IDS)
class TestBadInput:
    def test_float_labels(self, loss):
        with pytest.raises(ValueError, match="y must hold integer class labels"):
            loss(np.zeros((2, 3)), np.array([0.0, 1.0]))
        with pytest.raises(ValueError, match="y must hold integer class labels"):
            loss.grad(np.zeros((2, 3)), np.array([True, False]))

    @pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [5, 1]])
    def test_out_of_range_labels(self, loss, labels):
        with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
            loss(np.zeros((2, 3)), np.array(labels))
        with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
            loss.grad(np.zeros((2, 3)), np.array(labels))

    def test_labels_of_wrong_length(self, loss):
        with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
            loss(np.zeros((2, 3)), np.array([0, 1, 2]))

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_nan_inf_scores(self, loss, bad):
        z = np.zeros((2, 3))
        z[1, 2] = bad
        with pytest.raises(ValueError, match="z contains NaN or inf"):
            loss(z, np.array([0, 1]))
        with pytest.raises(ValueError, match="z contains NaN or inf"):
            loss.grad(z, np.array([0, 1]))

    def test_nan_targets(self, loss):
        q = np.full((2, 3), 1 / 3)
        q[0, 0] = np.nan
        with pytest.raises(ValueError, match="y contains NaN or inf"):
            loss(np.zeros((2, 3)), q)

    def test_scores_of_wrong_rank(self, loss):
        with pytest.raises(ValueError, match="z must have 2 dimensions"):
            loss(np.zeros(3), np.array([0]))
        with pytest.raises(ValueError, match="z must have 2 dimensions"):
            loss(np.zeros((2, 3, 1)), np.array([0, 1]))

    def test_empty_batch(self, loss):
        with pytest.raises(ValueError, match="z must hold at least one sample"):
            loss(np.zeros((0, 3)), np.zeros(0, dtype=int))

    def test_targets_of_wrong_shape(self, loss):
        with pytest.raises(ValueError, match="y as targets must have the shape of z"):
            loss(np.zeros((2, 3)), np.full((2, 4), 0.25))
        with pytest.raises(ValueError, match="y as targets must have the shape of z"):
            loss.grad(np.zeros((2, 3)), np.full((3, 3), 1 / 3))


@pytest.mark.parametrize(
    "q",
    [
        [[0.5, 0.5, 0.0], [0.7, 0.7, -0.4]],  # a negative entry
        [[0.5, 0.5, 0.0], [0.5, 0.5, 0.5]],  # sums to 1.5
        [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]],  # sums to 0
        [[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]],
    ],
)
def test_cross_entropy_rejects_targets_off_the_simplex(q):
    ce = CrossEntropy()
    with pytest.raises(ValueError, match="y as targets must be probability vectors"):
        ce(np.zeros((2, 3)), np.array(q))
    with pytest.raises(ValueError, match="y as targets must be probability vectors"):
        ce.grad(np.zeros((2, 3)), np.array(q))


# --------------------------------------------------------------------------- softmax_jacobian


def test_softmax_jacobian_entries_for_one_point():
    p = np.array([0.2, 0.3, 0.5])
    J = softmax_jacobian(p)
    assert J.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert J[i, j] == pytest.approx(p[i] * ((i == j) - p[j]), abs=1e-15)


def test_softmax_jacobian_is_the_derivative_of_softmax(rng):
    z = 2.0 * rng.standard_normal(5)
    fd = numerical_jacobian(lambda: softmax(z), z)
    assert relative_error(softmax_jacobian(softmax(z)), fd) < 1e-9


def test_softmax_jacobian_batch_matches_rows_and_jvp(rng):
    p = softmax(3.0 * rng.standard_normal((7, 4)))
    J = softmax_jacobian(p)
    assert J.shape == (7, 4, 4)
    u = rng.standard_normal((7, 4))
    np.testing.assert_allclose(np.einsum("nij,nj->ni", J, u), softmax_jvp(p, u), atol=1e-15)
    for n in range(7):
        np.testing.assert_array_equal(J[n], softmax_jacobian(p[n]))
        np.testing.assert_allclose(J[n], np.diag(p[n]) - np.outer(p[n], p[n]), atol=1e-16)


def test_softmax_jacobian_properties_for_extreme_scores(rng):
    """Symmetric, J 1 = 0, PSD with eigenvalues in [0, 1/2], for scores up to +-1e4."""
    z = rng.uniform(-1e4, 1e4, size=(200, 5))
    J = softmax_jacobian(softmax(z))
    assert np.all(np.isfinite(J))
    np.testing.assert_array_equal(J, np.swapaxes(J, 1, 2))
    assert np.abs(J @ np.ones(5)).max() < 1e-15
    eig = np.linalg.eigvalsh(J)
    assert eig.min() > -1e-15 and eig.max() <= 0.5 + 1e-15


def test_softmax_jacobian_keeps_float32():
    J = softmax_jacobian(np.array([0.25, 0.75], dtype=np.float32))
    assert J.dtype == np.float32


@pytest.mark.parametrize(
    ("p", "match"),
    [
        (np.array([0.5, 0.6]), "p must be points of the simplex"),  # sums to 1.1
        (np.array([1.5, -0.5]), "p must be points of the simplex"),  # a negative entry
        (np.array([[0.5, 0.5], [2.0, 1.0]]), "p must be points of the simplex"),  # scores, not p
        (np.array([np.nan, 1.0]), "p contains NaN or inf"),
        (np.full((2, 2, 2), 0.5), "p must have 1 or 2 dimensions"),
        (np.array(["a", "b"]), "p must be a real numeric array"),
        (np.array([True, False]), "p must be a real numeric array"),
        (np.zeros((3, 0)), "p must be points of the simplex"),
    ],
)
def test_softmax_jacobian_rejects_bad_p(p, match):
    with pytest.raises(ValueError, match=match):
        softmax_jacobian(p)
