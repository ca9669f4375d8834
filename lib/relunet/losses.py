r"""Losses on scores (logits) and the soft-max family.

Every loss takes the scores ``z`` of shape ``(N, K)`` -- the network's output *before* any
soft-max -- and targets ``y``: either integer labels of shape ``(N,)`` (turned into one-hot
vectors :math:`\mathbf q`) or a target array of shape ``(N, K)``.  The value is the **batch
mean** :math:`L = \frac1N\sum_n \ell_n`, so ``grad`` returns :math:`\partial L/\partial z`, which
carries the factor :math:`1/N`.

Constants.  The quadratic losses use the factor :math:`\tfrac12` of Zhang/Hofmann's slides,
:math:`\ell = \tfrac12\|\mathbf y - \boldsymbol\nu\|^2`, whose gradient is :math:`\boldsymbol\nu - \mathbf y`
with no stray 2.  The "NN loss exploration" note uses :math:`\tfrac1K\|\cdot\|^2` instead: its
losses are ours times :math:`2/K`, which rescales gradients and never changes their direction.

Stability.  Log-sum-exp subtracts the row maximum before exponentiating; no ``eps``, no
clipping.  Values and gradients of ``CrossEntropy``, ``SoftmaxQuadratic`` and ``Quadratic`` are
finite for scores of any finite size.  ``ExpQuadratic`` is different: its true value grows like
:math:`e^{2s}` and exceeds the largest float64 once a score passes :math:`\tfrac12\log(\text{max})
\approx 354.9`; it raises a ``ValueError`` there rather than return ``inf``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, as_labels

#: The largest score for which :math:`e^{2s}` is a finite float64.
EXP_QUADRATIC_MAX_SCORE = 0.5 * np.log(np.finfo(np.float64).max) - 1.0


def _axis(z: np.ndarray, axis) -> int:
    """``axis`` as an index of ``z``'s axes, along which ``z`` must have at least one entry."""
    if isinstance(axis, bool | np.bool_) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(
            f"axis must lie in [{-z.ndim}, {z.ndim}) for z of shape {z.shape}, got {axis}"
        )
    if z.shape[axis] == 0:
        raise ValueError(f"z must have at least one entry along axis {axis}, got shape {z.shape}")
    return int(axis)


def _scores(z, axis) -> tuple[np.ndarray, int]:
    """Validated scores (real, finite, at least one axis; float32 stays float32) and axis."""
    z = as_float_array(z, "z")
    if z.ndim == 0:
        raise ValueError("z must have at least one axis, got a scalar")
    return z, _axis(z, axis)


# The computations, on arrays the caller has validated (the losses call these directly).


def _logsumexp(z: np.ndarray, axis: int) -> np.ndarray:
    m = z.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(z - m).sum(axis=axis))


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = z - z.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _softmax_jvp(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    return p * (u - np.sum(p * u, axis=-1, keepdims=True))


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    r""":math:`\log\sum_i e^{z_i}` along ``axis``, computed as :math:`m + \log\sum_i e^{z_i - m}`, :math:`m=\max_i z_i`."""
    return _logsumexp(*_scores(z, axis))


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    r""":math:`\log p_i = z_i - \log\sum_j e^{z_j}`, stable for large scores."""
    z, axis = _scores(z, axis)
    return z - np.expand_dims(_logsumexp(z, axis), axis)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""The soft-max :math:`p_i = e^{z_i}/\sum_j e^{z_j}`, a point of the simplex (Tomasi, §1)."""
    return _softmax(*_scores(z, axis))


def softmax_jvp(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""Row-wise :math:`J\mathbf u` with :math:`J = \operatorname{diag}(\mathbf p) - \mathbf p\mathbf p^T` (symmetric).

    ``p`` (soft-max outputs along the last axis) and ``u`` are real, finite and of one shape.
    """
    p, u = as_float_array(p, "p"), as_float_array(u, "u")
    if p.ndim == 0 or p.shape != u.shape:
        raise ValueError(
            f"p and u must have one shape with at least one axis, got {p.shape} and {u.shape}"
        )
    return _softmax_jvp(p, u)


def softmax_jacobian(p) -> np.ndarray:
    r"""The soft-max Jacobian :math:`J = \partial\mathbf p/\partial\mathbf z = \operatorname{diag}(\mathbf p) - \mathbf p\mathbf p^T`.

    Entry :math:`J_{ij} = p_i(\delta_{ij} - p_j)`.  ``p`` is one point of the simplex, shape
    ``(K,)``, giving ``(K, K)``, or a batch ``(N, K)``, giving ``(N, K, K)`` with
    :math:`J_n = \operatorname{diag}(\mathbf p_n) - \mathbf p_n\mathbf p_n^T`.  The matrix is
    symmetric, :math:`J\mathbf 1 = \mathbf 0`, and it is also the Hessian of
    :math:`\log\sum_i e^{z_i}`.  For products :math:`J\mathbf u` use :func:`softmax_jvp`, which
    never forms :math:`J`.
    """
    p = as_float_array(p, "p", ndim=(1, 2))
    atol = max(1e-9, 100 * np.finfo(p.dtype).eps)
    if p.shape[-1] == 0 or np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, atol=atol):
        raise ValueError(
            f"p must be points of the simplex (entries >= 0 summing to 1), got shape {p.shape}"
        )
    return p[..., :, None] * np.eye(p.shape[-1], dtype=p.dtype) - p[..., :, None] * p[..., None, :]


def _finite(compute, *args):
    """``compute(*args)``, refusing a value beyond float64: a ``ValueError`` naming ``z``, never ``inf``."""
    with np.errstate(over="ignore"):
        value = compute(*args)
    if not np.all(np.isfinite(value)):
        raise ValueError("z is too large: the loss value overflows float64")
    return value


class Loss:
    """A loss on scores: ``loss(z, y)`` is the batch mean, ``loss.grad(z, y)`` its gradient in ``z``."""

    #: whether (N, K) targets must lie on the probability simplex
    needs_distribution = False

    def _inputs(self, z, y) -> tuple[np.ndarray, np.ndarray]:
        z = as_float_array(z, "z", ndim=2)
        n, k = z.shape
        if n == 0:
            raise ValueError("z must hold at least one sample, got shape (0, K)")
        try:
            y_arr = np.asarray(y)
        except (ValueError, TypeError) as err:  # ragged nested lists and the like
            raise ValueError(f"y must be integer labels or an (N, K) target array: {err}") from None
        if y_arr.ndim == 2:
            q = as_float_array(y_arr, "y", ndim=2)
            if q.shape != z.shape:
                raise ValueError(f"y as targets must have the shape of z {z.shape}, got {q.shape}")
            atol = max(1e-9, 100 * np.finfo(q.dtype).eps)
            if self.needs_distribution and (
                np.any(q < 0) or not np.allclose(q.sum(axis=1), 1.0, atol=atol)
            ):
                raise ValueError(
                    "y as targets must be probability vectors (rows >= 0 summing to 1)"
                )
            q = q.astype(z.dtype, copy=False)  # float32 scores give float32 gradients
        else:
            labels = as_labels(y_arr, "y", n, k)
            q = np.zeros((n, k), dtype=z.dtype)
            q[np.arange(n), labels] = 1.0
        return z, q

    def per_sample(self, z, y) -> np.ndarray:
        """The per-sample losses :math:`\\ell_n`, shape ``(N,)``."""
        z, q = self._inputs(z, y)
        return _finite(self._per_sample, z, q)

    def __call__(self, z, y) -> float:
        return float(_finite(np.mean, self.per_sample(z, y)))

    def sample_grad(self, z, y) -> np.ndarray:
        """The per-sample gradients :math:`\\partial\\ell_n/\\partial z_n`, shape ``(N, K)`` (no 1/N)."""
        z, q = self._inputs(z, y)
        return self._sample_grad(z, q)

    def grad(self, z, y) -> np.ndarray:
        """:math:`\\partial L/\\partial z` for the batch mean :math:`L`, shape ``(N, K)``."""
        g = self.sample_grad(z, y)
        return g / g.shape[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    r"""Soft-max cross-entropy :math:`\ell = -\sum_k q_k\log p_k = \log\sum_i e^{z_i} - \mathbf q^T\mathbf z`.

    For a label :math:`y` this is :math:`-\log p_y` (Tomasi §2.2; Zhang eq. 25).  Gradient:
    :math:`\partial\ell/\partial\mathbf z = \mathbf p - \mathbf q`.
    """

    needs_distribution = True

    def _per_sample(self, z, q):
        return _logsumexp(z, -1) - np.sum(q * z, axis=1)

    def _sample_grad(self, z, q):
        p = _softmax(z, -1)
        p -= q
        return p


class SoftmaxQuadratic(Loss):
    r"""Quadratic loss on the soft-max output, :math:`\ell = \tfrac12\|\mathbf p - \mathbf q\|^2`.

    The :math:`L_1` of the Q&A on gradient norms and the "MSE variant" of the loss-exploration
    note (which uses :math:`1/K` instead of :math:`1/2`).  Gradient:
    :math:`\partial\ell/\partial\mathbf z = J(\mathbf p - \mathbf q)`, :math:`J = \operatorname{diag}(\mathbf p) - \mathbf p\mathbf p^T`.
    """

    def _per_sample(self, z, q):
        return 0.5 * np.sum((_softmax(z, -1) - q) ** 2, axis=1)

    def _sample_grad(self, z, q):
        p = _softmax(z, -1)
        return _softmax_jvp(p, p - q)


class Quadratic(Loss):
    r"""Quadratic loss on the scores themselves, :math:`\ell = \tfrac12\|\mathbf z - \mathbf q\|^2`.

    The regression loss of Zhang eq. (5) and Tomasi §2 (who writes :math:`\|\cdot\|^2` without the
    half), the "MSE" of the loss-exploration note (:math:`\tfrac1K\|\cdot\|^2`).  Gradient
    :math:`\mathbf z - \mathbf q`, i.e. the negative gradient :math:`\mathbf y - \boldsymbol\nu` of the slides.
    """

    def _per_sample(self, z, q):
        return 0.5 * np.sum((z - q) ** 2, axis=1)

    def _sample_grad(self, z, q):
        return z - q


class ExpQuadratic(Loss):
    r"""The loss-exploration note's proposal, :math:`\ell = \tfrac12\|\mathbf q - e^{\mathbf z}\|^2`.

    Gradient :math:`(e^{\mathbf z} - \mathbf q)\odot e^{\mathbf z}`.  Its value overflows float64 for
    scores above :data:`EXP_QUADRATIC_MAX_SCORE` (about 353.9); such scores raise ``ValueError``,
    and so does a value that still overflows because many scores lie just below that bound.
    """

    def _inputs(self, z, y):
        z, q = super()._inputs(z, y)
        if np.max(z) > EXP_QUADRATIC_MAX_SCORE:
            raise ValueError(
                f"z has a score {np.max(z):.4g} above {EXP_QUADRATIC_MAX_SCORE:.1f}: "
                "ExpQuadratic's value e^(2z) would overflow float64"
            )
        return z, q

    def _per_sample(self, z, q):  # many scores just below the bound can still sum past float64
        return 0.5 * np.sum((q - np.exp(z)) ** 2, axis=1)

    def _sample_grad(self, z, q):
        e = np.exp(z)
        return (e - q) * e
