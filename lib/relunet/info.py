r"""Information theory for Tomasi's Appendix A: entropy, cross entropy, KL divergence, Huffman codes.

All take probability vectors (non-negative, summing to 1) and a logarithm ``base`` (2 gives bits).
The convention :math:`0\log 0 = 0` is applied exactly, by leaving those terms out.
"""

from __future__ import annotations

import heapq

import numpy as np


def _distribution(p, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-9):
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {p.sum():.6g}")
    return p


def entropy(q, base: float = 2.0) -> float:
    r""":math:`H(\mathbf q) = -\sum_i q_i\log q_i`."""
    q = _distribution(q, "q")
    nz = q > 0
    return float(-np.sum(q[nz] * np.log(q[nz])) / np.log(base))


def _on_support(q, p) -> tuple[np.ndarray, np.ndarray]:
    """Validate two distributions of equal length; return their entries where :math:`q_i > 0`."""
    q, p = _distribution(q, "q"), _distribution(p, "p")
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same length, got {q.size} and {p.size}")
    nz = q > 0
    return q[nz], p[nz]


def cross_entropy(q, p, base: float = 2.0) -> float:
    r""":math:`H(\mathbf q, \mathbf p) = -\sum_i q_i\log p_i`; infinite if some :math:`p_i = 0 < q_i`."""
    q, p = _on_support(q, p)
    if np.any(p == 0):
        return float("inf")
    return float(-np.sum(q * np.log(p)) / np.log(base))


def kl_divergence(q, p, base: float = 2.0) -> float:
    r""":math:`D(\mathbf q\|\mathbf p) = H(\mathbf q, \mathbf p) - H(\mathbf q) = \sum_i q_i\log(q_i/p_i) \ge 0`."""
    q, p = _on_support(q, p)
    if np.any(p == 0):
        return float("inf")
    return float(np.sum(q * np.log(q / p)) / np.log(base))


def huffman_code(p) -> list[str]:
    """A binary Huffman code for symbols with probabilities ``p``: the code word of each symbol.

    Repeatedly merges the two least probable subtrees (ties broken by creation order, so the
    result is deterministic).  A single symbol gets the one-bit word ``"0"``.
    """
    p = _distribution(p, "p")
    if p.size == 1:
        return ["0"]
    heap = [(float(pi), i, (i,)) for i, pi in enumerate(p)]
    heapq.heapify(heap)
    codes = [""] * p.size
    counter = p.size
    while len(heap) > 1:
        p0, _, s0 = heapq.heappop(heap)
        p1, _, s1 = heapq.heappop(heap)
        for s in s0:
            codes[s] = "0" + codes[s]
        for s in s1:
            codes[s] = "1" + codes[s]
        heapq.heappush(heap, (p0 + p1, counter, s0 + s1))
        counter += 1
    return codes


def mean_code_length(code: list[str], p) -> float:
    """Expected code-word length :math:`\\sum_i p_i |c_i|` in bits."""
    p = _distribution(p, "p")
    if len(code) != p.size:
        raise ValueError(f"code must have one word per symbol ({p.size}), got {len(code)}")
    return float(np.dot(p, [len(c) for c in code]))


def is_prefix_free(code: list[str]) -> bool:
    """Whether no code word is a prefix of another (so a stream decodes uniquely)."""
    words = sorted(code)
    return all(not b.startswith(a) for a, b in zip(words, words[1:], strict=False))


def block_probabilities(q: float, m: int) -> np.ndarray:
    """Probabilities of the :math:`2^m` blocks of ``m`` independent bits that are 1 with probability ``q``.

    Block ``i`` is the binary expansion of ``i``; its probability is :math:`q^{k}(1-q)^{m-k}`, ``k`` its ones.
    """
    if not 0.0 <= q <= 1.0 or int(m) < 1:
        raise ValueError(f"q must lie in [0, 1] and m be >= 1, got {q}, {m}")
    ones = np.array([bin(i).count("1") for i in range(2**m)])
    return q**ones * (1.0 - q) ** (m - ones)
