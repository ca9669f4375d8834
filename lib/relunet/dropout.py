r"""Dropout (Srivastava et al. 2014; Tomasi §5): the layer, its sub-networks and their averages.

Training with dropout multiplies the input :math:`\mathbf x` of a layer by a random mask
:math:`\mathbf m` with independent entries :math:`m_j\sim\mathrm{Bernoulli}(p_{\text{keep}})`: each
mask picks one of the :math:`2^n` *sub-networks* that share the weights.  At test time one wants
the average of their predictions.  This module has

- :class:`Dropout`, the layer, with a mask that can be *held* fixed (for gradient checks, or to
  evaluate one chosen sub-network), and :func:`held_masks` for every dropout layer of a network;
- :func:`all_masks` and :func:`mask_probabilities`, to enumerate the sub-networks exactly;
- :func:`sample_scores` and :func:`ensemble_softmax`, the Monte-Carlo and the exact averages
  of sub-networks' soft-max outputs, arithmetic or normalised geometric;
- :func:`weight_scaled`, the notes' test-time network: the *outgoing* weights of every unit that
  can be dropped multiplied by :math:`p_{\text{keep}}`, and nothing else.
"""

from __future__ import annotations

import copy
import numbers
from contextlib import contextmanager

import numpy as np

from ._checks import as_float_array
from .layers import Conv1d, Layer, Linear
from .losses import log_softmax, softmax
from .network import Sequential

#: Enumerating every mask is refused beyond this many units (2**20 rows).
MAX_ENUMERATED_UNITS = 20


def _check_keep_prob(keep_prob) -> float:
    if isinstance(keep_prob, bool) or not (
        isinstance(keep_prob, numbers.Real) and 0.0 < keep_prob <= 1.0  # np.float32 too
    ):
        raise ValueError(f"keep_prob must be a real number in (0, 1], got {keep_prob!r}")
    return float(keep_prob)


class Dropout(Layer):
    r"""Dropout with *keep* probability ``keep_prob`` :math:`= p_{\text{keep}}` (Tomasi's :math:`p`).

    In training mode every entry of the input is kept with probability :math:`p_{\text{keep}}`
    and zeroed otherwise, independently (PyTorch's ``p`` is the *drop* probability
    :math:`1 - p_{\text{keep}}`).  Two modes, equal in expectation:

    - ``mode="inverted"`` (the default, as in PyTorch): training outputs
      :math:`\mathbf m\odot\mathbf x/p_{\text{keep}}`, testing is the identity;
    - ``mode="scale"`` (the notes): training outputs :math:`\mathbf m\odot\mathbf x`, testing
      outputs :math:`p_{\text{keep}}\mathbf x` -- the same as multiplying the outgoing weights
      by :math:`p_{\text{keep}}` (see :func:`weight_scaled`).

    The backward pass multiplies by the same factor: :math:`J = \operatorname{diag}(\mathbf m)/p_{\text{keep}}`
    (inverted) or :math:`\operatorname{diag}(\mathbf m)` (scale) in training,
    :math:`I` or :math:`p_{\text{keep}}I` in testing.  ``mask`` is the boolean mask of the last
    training forward (``True`` = kept); :meth:`hold_mask` fixes it for later training forwards.
    """

    MODES = ("inverted", "scale")

    def __init__(self, keep_prob: float, *, rng: np.random.Generator, mode: str = "inverted"):
        super().__init__()
        keep_prob = _check_keep_prob(keep_prob)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator")
        self.keep_prob, self.mode, self.rng = keep_prob, mode, rng
        self.mask: np.ndarray | None = None
        self._held: np.ndarray | None = None

    def forward(self, x, *, train=False):
        x = as_float_array(x, "x")
        p = self.keep_prob
        if train:
            if self._held is None:
                mask = self.rng.random(x.shape) < p
            elif self._held.shape in (x.shape, x.shape[1:]):
                mask = np.broadcast_to(self._held, x.shape)
            else:
                raise ValueError(
                    f"x must have shape {self._held.shape} or (N, *{self._held.shape}) to match "
                    f"the held mask, got {x.shape}"
                )
            self.mask = mask
            factor = (mask / p if self.mode == "inverted" else mask).astype(x.dtype)
        else:
            factor = np.full(x.shape, 1.0 if self.mode == "inverted" else p, dtype=x.dtype)
        self._cache = factor
        self._out_shape = x.shape
        return x * factor

    def backward(self, grad_out):
        factor, g = self._take_cache(grad_out)
        return g * factor

    def hold_mask(self, mask=None) -> None:
        """Use ``mask`` in every training forward until :meth:`release_mask`; draw no new one.

        ``mask`` is a boolean array (``True`` = kept) of the input's shape, or of one sample's
        shape, which then applies the same sub-network to every sample of a batch.  With
        ``mask=None`` the mask of the last training forward is held.  Test-mode forwards ignore
        the held mask.  Holding the mask makes a training forward a deterministic function of
        its input and weights, so finite differences can check its backward.
        """
        if mask is None:
            if self.mask is None:
                raise ValueError("mask is None and no training forward has drawn a mask to hold")
            mask = self.mask
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"mask must be a boolean array (True = kept), got dtype {m.dtype}")
        if m.ndim == 0:
            raise ValueError("mask must have at least one dimension")
        self._held = m.copy()

    def release_mask(self) -> None:
        """Draw a fresh mask in every training forward again (the default)."""
        self._held = None

    @property
    def holds_mask(self) -> bool:
        """Whether a held mask replaces the random draw."""
        return self._held is not None

    def __repr__(self):
        return f"Dropout(keep_prob={self.keep_prob}, mode={self.mode!r})"


def _dropout_layers(net) -> list[Dropout]:
    if not isinstance(net, Sequential):
        raise ValueError(f"net must be a relunet Sequential, got {type(net).__name__}")
    layers = [lay for lay in net.layers if isinstance(lay, Dropout)]
    if not layers:
        raise ValueError("net has no Dropout layer")
    return layers


@contextmanager
def held_masks(net):
    """Within the ``with`` block, every :class:`Dropout` layer of ``net`` reuses its last mask.

    Run one training forward first (it draws the masks); inside the block, training forwards
    of ``net`` on inputs of the same shape use the same masks, so
    ``loss(net.forward(x, train=True), y)`` is a deterministic function of the weights whose
    gradient :func:`relunet.numerical_gradient` can estimate.  The masks are released on exit.
    """
    layers = _dropout_layers(net)
    for lay in layers:
        lay.hold_mask()
    try:
        yield net
    finally:
        for lay in layers:
            lay.release_mask()


def all_masks(n: int) -> np.ndarray:
    r"""Every mask :math:`\mathbf m\in\{0,1\}^n`, as the rows of a boolean ``(2**n, n)`` array.

    Row :math:`i` holds the binary digits of :math:`i`, least significant first, so row 0 drops
    every unit and the last row keeps them all.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"n must be an integer number of units, got {n!r}")
    if not 1 <= n <= MAX_ENUMERATED_UNITS:
        raise ValueError(f"n must lie in [1, {MAX_ENUMERATED_UNITS}], got {n}")
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


def mask_probabilities(masks, keep_prob: float) -> np.ndarray:
    r""":math:`P(\mathbf m) = p_{\text{keep}}^{|\mathbf m|}(1-p_{\text{keep}})^{n-|\mathbf m|}` for every row of ``masks``.

    ``masks`` is a boolean ``(M, n)`` array; over all :math:`2^n` masks the probabilities sum to 1.
    """
    p = _check_keep_prob(keep_prob)
    m = np.asarray(masks)
    if m.dtype != bool or m.ndim != 2:
        raise ValueError(f"masks must be a 2-D boolean array (M, n), got {m.dtype} {m.shape}")
    if m.shape[1] == 0:
        raise ValueError("masks must have at least one unit (n >= 1), as in all_masks")
    kept = m.sum(axis=1)
    return p**kept * (1.0 - p) ** (m.shape[1] - kept)


def sample_scores(net, x, n_samples: int) -> np.ndarray:
    r"""Scores of ``n_samples`` sampled sub-networks: ``n_samples`` training-mode forwards of ``x``.

    Each forward draws fresh masks from the dropout layers' generators, independently for every
    sample of ``x`` and every draw.  Returns an array ``(M, N, K)``; ``softmax`` of entry
    :math:`m` is :math:`\mathbf p(\mathbf x;\mathbf m)`.  Average them with :func:`ensemble_softmax`.
    """
    _dropout_layers(net)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise ValueError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    x = as_float_array(x, "x")
    return np.stack([net.forward(x, train=True) for _ in range(int(n_samples))])


def ensemble_softmax(z, weights=None, *, mean: str = "arithmetic") -> np.ndarray:
    r"""The average of the soft-max outputs of :math:`M` sub-networks with scores ``z[m]``.

    ``z`` has shape ``(M, ..., K)``; ``weights`` (default: :math:`1/M` each) are
    :math:`M` non-negative numbers summing to 1, e.g. :func:`mask_probabilities`.

    - ``mean="arithmetic"``: :math:`\bar{\mathbf p} = \sum_m w_m\operatorname{softmax}(\mathbf z_m)`;
    - ``mean="geometric"``: the *normalised weighted geometric mean* (Baldi & Sadowski 2013)
      :math:`G_k/\sum_j G_j` with :math:`G_k = \prod_m \operatorname{softmax}(\mathbf z_m)_k^{w_m}`,
      computed as :math:`\operatorname{softmax}\bigl(\sum_m w_m\log\operatorname{softmax}(\mathbf z_m)\bigr)`.

    Returns an array of shape ``z.shape[1:]`` whose last axis lies on the simplex.
    """
    z = as_float_array(z, "z")
    if z.ndim < 2:
        raise ValueError(f"z must have shape (M, ..., K), got {z.shape}")
    if mean not in ("arithmetic", "geometric"):
        raise ValueError(f"mean must be 'arithmetic' or 'geometric', got {mean!r}")
    m = z.shape[0]
    if weights is None:
        w = np.full(m, 1.0 / m)
    else:
        w = as_float_array(weights, "weights", ndim=1)
        if w.shape != (m,):
            raise ValueError(f"weights must have shape ({m},), one per sub-network, got {w.shape}")
        if np.any(w < 0) or not np.isclose(w.sum(), 1.0, rtol=0.0, atol=1e-9):
            raise ValueError("weights must be non-negative and sum to 1")
    if mean == "arithmetic":
        return np.tensordot(w, softmax(z), axes=1)
    return softmax(np.tensordot(w, log_softmax(z), axes=1))


def weight_scaled(net) -> Sequential:
    r"""The notes' test-time network: ``net`` without its :class:`Dropout` layers, weights rescaled.

    For each dropout layer in ``mode="scale"``, the weights ``W`` of the layer right after it --
    the *outgoing* weights of the units that can be dropped -- are multiplied by
    :math:`p_{\text{keep}}`; its bias and every other weight stay as they are.  Dropout layers in
    ``mode="inverted"`` are simply removed (their test-time map is the identity).  The result
    computes exactly ``net.forward(x, train=False)``; ``net`` itself is not changed.  Each dropout
    layer must be followed directly by a ``Linear`` or ``Conv1d`` layer.
    """
    _dropout_layers(net)
    layers = [copy.deepcopy(lay) for lay in net.layers]
    out = []
    for i, lay in enumerate(layers):
        if not isinstance(lay, Dropout):
            out.append(lay)
            continue
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if not isinstance(nxt, Linear | Conv1d):
            raise ValueError(
                f"net: the Dropout layer at index {i} must be followed by a Linear or Conv1d layer"
            )
        if lay.mode == "scale":
            nxt.params["W"] = nxt.params["W"] * lay.keep_prob
    return Sequential(out)
