"""Tests of relunet.symbolic: the SymPy soft-max family against relunet's numbers and against
SymPy's own derivatives, the exact equality test (it must reject wrong identities), and the
ValueErrors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from relunet import CrossEntropy, SoftmaxQuadratic, softmax, softmax_jacobian
from relunet.symbolic import (
    cross_entropy_sym,
    equal,
    score_symbols,
    softmax_jacobian_sym,
    softmax_quadratic_sym,
    softmax_sym,
)


def test_score_symbols_are_numbered_from_one():
    z = score_symbols(3)
    assert z.shape == (3, 1)
    assert [str(s) for s in z] == ["z_1", "z_2", "z_3"]
    assert all(s.is_real for s in z)
    p = score_symbols(2, "p", positive=True)
    assert [str(s) for s in p] == ["p_1", "p_2"] and all(s.is_positive for s in p)


@pytest.mark.parametrize("K", [2, 3, 5])
def test_softmax_sym_matches_relunet(K, rng):
    z = score_symbols(K)
    f = sp.lambdify(list(z), softmax_sym(z), "numpy")
    for _ in range(5):
        zz = 3.0 * rng.standard_normal(K)
        np.testing.assert_allclose(np.array(f(*zz), dtype=float).ravel(), softmax(zz), rtol=1e-13)


@pytest.mark.parametrize("K", [2, 3, 4])
def test_softmax_jacobian_sym_is_the_derivative(K, rng):
    z = score_symbols(K)
    p = softmax_sym(z)
    J = softmax_jacobian_sym(p)
    assert equal(p.jacobian(z), J, scores=z)
    assert not equal(p.jacobian(z), sp.diag(*p), scores=z)  # the wrong candidate is rejected
    zz = rng.standard_normal(K)
    J_num = np.array(sp.lambdify(list(z), J, "numpy")(*zz), dtype=float)
    np.testing.assert_allclose(J_num, softmax_jacobian(softmax(zz)), rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_sym_of_probability_symbols():
    p = score_symbols(3, "p", positive=True)
    J = softmax_jacobian_sym(p)
    assert J[0, 0] == p[0] - p[0] ** 2 and J[0, 1] == -p[0] * p[1]
    assert J == J.T


def test_softmax_sym_of_expressions_and_rows():
    x = sp.Symbol("x", real=True)
    p = softmax_sym(sp.Matrix([[x, 2 * x]]))  # a row vector of expressions
    assert p.shape == (2, 1)
    assert sp.simplify(p[0] - 1 / (1 + sp.exp(x))) == 0


@pytest.mark.parametrize("K", [2, 3, 4])
def test_losses_sym_match_relunet_values_and_gradients(K, rng):
    z = score_symbols(K)
    for y in range(1, K + 1):  # labels in the book's numbering 1..K
        for expr, loss in (
            (cross_entropy_sym(z, y), CrossEntropy()),
            (softmax_quadratic_sym(z, y), SoftmaxQuadratic()),
        ):
            grad = sp.Matrix([sp.diff(expr, zi) for zi in z])
            f, g = sp.lambdify(list(z), expr, "numpy"), sp.lambdify(list(z), grad, "numpy")
            zz = 2.0 * rng.standard_normal((1, K))
            label = np.array([y - 1])  # relunet's labels start at 0
            assert f(*zz[0]) == pytest.approx(loss(zz, label), rel=1e-12)
            np.testing.assert_allclose(
                np.array(g(*zz[0]), dtype=float).ravel(),
                loss.sample_grad(zz, label)[0],
                rtol=1e-10,
                atol=1e-14,
            )


def test_closed_form_gradients_are_decided_exactly():
    """grad CE = p - q and grad of the soft-max quadratic = J (p - q), for every label of K = 3."""
    z = score_symbols(3)
    p = softmax_sym(z)
    J = softmax_jacobian_sym(p)
    for y in (1, 2, 3):
        q = sp.Matrix([int(k == y) for k in (1, 2, 3)])
        g_ce = sp.Matrix([sp.diff(cross_entropy_sym(z, y), zi) for zi in z])
        g_sq = sp.Matrix([sp.diff(softmax_quadratic_sym(z, q), zi) for zi in z])
        assert equal(g_ce, p - q, scores=z) and equal(g_sq, J * (p - q), scores=z)
        assert not equal(g_sq, p - q, scores=z)


def test_cross_entropy_sym_with_a_target_vector():
    z = score_symbols(2)
    q = sp.Matrix([sp.Rational(1, 4), sp.Rational(3, 4)])
    expected = sp.log(sp.exp(z[0]) + sp.exp(z[1])) - z[0] / 4 - 3 * z[1] / 4
    assert sp.simplify(cross_entropy_sym(z, q) - expected) == 0
    assert equal(cross_entropy_sym(z, q), expected)


def test_equal_without_scores():
    x = sp.Symbol("x", real=True)
    assert equal(sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.Integer(1))
    assert not equal(sp.sin(x), sp.cos(x))
    assert equal(sp.Matrix([x, 2 * x]), sp.Matrix([x, x + x]))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: score_symbols(0), "K must be a positive integer"),
        (lambda: score_symbols(2.0), "K must be a positive integer"),
        (lambda: score_symbols(True), "K must be a positive integer"),
        (lambda: score_symbols(3, "z 1"), "name must be a plain symbol name"),
        (lambda: softmax_sym([]), "z must have at least one entry"),
        (lambda: softmax_sym(sp.zeros(2, 2)), "z must be a vector"),
        (lambda: softmax_sym("z"), "z must be a SymPy vector, list or tuple"),
        (lambda: softmax_sym(["not an expression ("]), "z must hold SymPy expressions"),
        (lambda: softmax_jacobian_sym(np.zeros(2)), "p must be a SymPy vector"),
        (lambda: cross_entropy_sym(score_symbols(3), 0), r"q as a class label must lie in 1\.\.3"),
        (lambda: cross_entropy_sym(score_symbols(3), 4), r"q as a class label must lie in 1\.\.3"),
        (lambda: softmax_quadratic_sym(score_symbols(3), [1, 0]), "q must have K = 3 entries"),
        (lambda: equal(sp.zeros(2, 1), sp.zeros(3, 1)), "a and b must have the same shape"),
        (lambda: equal(sp.Integer(0), sp.Integer(0), scores=[sp.Integer(1)]), "scores must be"),
    ],
)
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_import_relunet_leaves_sympy_and_matplotlib_unloaded():
    """relunet.symbolic and relunet.plotting load on first use, so `import relunet` stays light."""
    import subprocess
    import sys

    code = (
        "import sys, relunet as rn; loaded = {'sympy', 'matplotlib'} & set(sys.modules); "
        "assert not loaded, loaded; assert rn.symbolic.softmax_sym([0])[0] == 1; "
        "assert rn.plotting.simplex_grid(2).shape == (3, 3)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
