r"""The soft-max family in SymPy, for the chapters' derivations.

The same objects as in :mod:`relunet.losses`, written as exact expressions so that SymPy can
differentiate them: the scores :math:`\mathbf z = (z_1, \dots, z_K)` (indices from 1, as in the
book), the soft-max :math:`\mathbf p`, its Jacobian :math:`J = \operatorname{diag}(\mathbf p) -
\mathbf p\mathbf p^T`, the cross-entropy and the soft-max quadratic loss (with the factor
:math:`\tfrac12` of :class:`~relunet.losses.SoftmaxQuadratic`).  Vectors are SymPy column
matrices.  :func:`equal` decides the identities the chapters assert.
"""

from __future__ import annotations

import numbers

import sympy as sp


def _vector(v, name: str) -> sp.Matrix:
    """``v`` (a SymPy matrix with one row or column, or a sequence) as a column of SymPy expressions."""
    if isinstance(v, sp.MatrixBase):
        if 1 not in v.shape:
            raise ValueError(
                f"{name} must be a vector (one row or one column), got shape {v.shape}"
            )
        entries = list(v)
    elif isinstance(v, list | tuple):
        entries = list(v)
    else:
        raise ValueError(f"{name} must be a SymPy vector, list or tuple, got {type(v).__name__}")
    if not entries:
        raise ValueError(f"{name} must have at least one entry")
    try:
        entries = [sp.sympify(e, strict=True) for e in entries]
    except (sp.SympifyError, TypeError) as err:
        raise ValueError(f"{name} must hold SymPy expressions or numbers: {err}") from None
    if any(isinstance(e, sp.MatrixBase) or not isinstance(e, sp.Expr) for e in entries):
        raise ValueError(f"{name} must hold scalar SymPy expressions")
    return sp.Matrix(entries)


def score_symbols(K: int, name: str = "z", **assumptions) -> sp.Matrix:
    r"""The column :math:`(z_1, \dots, z_K)^T` of real symbols ``name_1 .. name_K`` (indices from 1).

    Extra ``assumptions`` are passed to :func:`sympy.symbols` (default ``real=True``; e.g.
    ``positive=True`` for probabilities :math:`p_1, \dots, p_K`).
    """
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a plain symbol name such as 'z', got {name!r}")
    assumptions = assumptions or {"real": True}
    return sp.Matrix([sp.Symbol(f"{name}_{i}", **assumptions) for i in range(1, int(K) + 1)])


def softmax_sym(z) -> sp.Matrix:
    r"""The soft-max :math:`p_i = e^{z_i}/\sum_{j=1}^K e^{z_j}` of the scores ``z`` (symbols or expressions)."""
    z = _vector(z, "z")
    total = sum(sp.exp(zi) for zi in z)
    return z.applyfunc(lambda zi: sp.exp(zi) / total)


def softmax_jacobian_sym(p) -> sp.Matrix:
    r""":math:`J = \operatorname{diag}(\mathbf p) - \mathbf p\mathbf p^T`, entry :math:`p_i(\delta_{ij} - p_j)`.

    ``p`` may be :func:`softmax_sym` of scores, or symbols :math:`p_1, \dots, p_K` standing for a
    point of the simplex.  Numerically: :func:`relunet.losses.softmax_jacobian`.
    """
    p = _vector(p, "p")
    return sp.diag(*p) - p * p.T


def _target(q, K: int) -> sp.Matrix:
    """A label ``y`` in 1..K becomes the one-hot column e_y; a vector is taken as it is."""
    if isinstance(q, numbers.Integral) and not isinstance(q, bool):
        if not 1 <= q <= K:
            raise ValueError(f"q as a class label must lie in 1..{K}, got {q}")
        return sp.Matrix([int(k == q) for k in range(1, K + 1)])
    q = _vector(q, "q")
    if q.shape[0] != K:
        raise ValueError(f"q must have K = {K} entries like z, got {q.shape[0]}")
    return q


def cross_entropy_sym(z, q) -> sp.Expr:
    r"""The cross-entropy :math:`\ell = \log\sum_{i=1}^K e^{z_i} - \mathbf q^T\mathbf z = -\sum_k q_k\log p_k`.

    ``q`` is a target vector, or a class label :math:`y\in\{1, \dots, K\}` (numbered from 1, as in
    the book), which gives :math:`\ell = -\log p_y`.  Numerically: :class:`~relunet.losses.CrossEntropy`.
    """
    z = _vector(z, "z")
    q = _target(q, z.shape[0])
    return sp.log(sum(sp.exp(zi) for zi in z)) - (q.T * z)[0]


def softmax_quadratic_sym(z, q) -> sp.Expr:
    r"""The soft-max quadratic loss :math:`\ell = \tfrac12\|\mathbf p - \mathbf q\|^2`, :math:`\mathbf p` = :func:`softmax_sym` of ``z``.

    ``q`` as in :func:`cross_entropy_sym`.  Numerically: :class:`~relunet.losses.SoftmaxQuadratic`.
    """
    z = _vector(z, "z")
    d = softmax_sym(z) - _target(q, z.shape[0])
    return sp.Rational(1, 2) * (d.T * d)[0]


def equal(a, b, scores=None) -> bool:
    r"""Whether the SymPy expressions (or matrices of the same shape) ``a`` and ``b`` are equal.

    Without ``scores``: ``True`` when :func:`sympy.simplify` reduces every entry of :math:`a - b`
    to 0; ``False`` means only that SymPy did not show it.  With ``scores`` (the symbols
    :math:`z_1, \dots, z_K` of a soft-max): each :math:`z_i` is replaced by :math:`\log t_i`,
    :math:`t_i > 0`, and logarithms are expanded, which turns rational functions of
    :math:`e^{z_1}, \dots, e^{z_K}` (soft-max outputs, their Jacobians, gradients of the losses)
    into rational functions of :math:`t`, whose difference :func:`sympy.cancel` decides exactly:
    for those, ``False`` means not equal.  (Other terms, such as :math:`\log\sum_i e^{z_i}`, are
    kept as they are; for them ``False`` again means only "not shown".)
    """
    a_m, b_m = (x if isinstance(x, sp.MatrixBase) else sp.Matrix([x]) for x in (a, b))
    if a_m.shape != b_m.shape:
        raise ValueError(f"a and b must have the same shape, got {a_m.shape} and {b_m.shape}")
    diff = a_m - b_m
    if scores is None:
        return all(sp.simplify(d) == 0 for d in diff)
    z = _vector(scores, "scores")
    if not all(isinstance(zi, sp.Symbol) for zi in z):
        raise ValueError("scores must be SymPy symbols z_1, ..., z_K")
    t = [sp.Dummy(f"t_{i}", positive=True) for i in range(1, len(z) + 1)]
    back = {zi: sp.log(ti) for zi, ti in zip(z, t, strict=True)}
    return all(sp.cancel(sp.expand_log(d.subs(back), force=True)) == 0 for d in diff)
