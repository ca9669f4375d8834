r"""Information theory for Tomasi's Appendix A: entropy, cross entropy, KL divergence, and binary
prefix codes (Huffman's and Shannon's) with an encoder and a decoder.

Probability vectors are non-negative and sum to 1; ``base`` is the base of the logarithm (2 gives
bits).  The convention :math:`0\log 0 = 0` is applied exactly, by leaving those terms out.

A binary prefix code for the symbols :math:`0,\dots,n-1` is a list of ``n`` code words, strings
of ``"0"`` and ``"1"``, none a prefix of another; :class:`PrefixCode` encodes symbols into a bit
stream (a 1-D ``uint8`` array of 0s and 1s) and decodes such a stream.  A source of independent
bits, 1 with probability :math:`q`, is coded in *blocks* of ``m`` bits: block ``i`` is the
binary expansion of ``i``, first bit most significant (:func:`bits_to_blocks`).
"""

from __future__ import annotations

import numpy as np

SUM_TOLERANCE = 1e-9
"""How far from 1 the sum of a probability vector may be: an absolute bound, for rounding only.

A looser check would let a "distribution" of mass :math:`1 + \\epsilon` break Gibbs' inequality
:math:`H(\\mathbf q, \\mathbf p) \\ge H(\\mathbf q)` by :math:`\\log_2(1 + \\epsilon)` bits."""


def _distribution(p, name: str) -> np.ndarray:
    p = np.asarray(p)
    if p.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real probability vector, got dtype {p.dtype}")
    p = p.astype(float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {p.shape}")
    total = p.sum()
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not abs(total - 1.0) <= SUM_TOLERANCE:
        raise ValueError(
            f"{name} must be non-negative and sum to 1 (within {SUM_TOLERANCE:g}), "
            f"got sum {float(total)!r}"
        )
    return p


def _log_base(base) -> float:
    if isinstance(base, (bool, np.bool_)) or not isinstance(base, (int, float, np.number)):
        raise ValueError(f"base must be a real number, got {base!r}")
    if not (np.isfinite(base) and base > 0 and base != 1):
        raise ValueError(f"base must be finite, positive and not 1, got {base}")
    return float(np.log(base))


def entropy(q, base: float = 2.0) -> float:
    r""":math:`H(\mathbf q) = -\sum_i q_i\log q_i`."""
    q, log_b = _distribution(q, "q"), _log_base(base)
    nz = q > 0
    return 0.0 - float(np.sum(q[nz] * np.log(q[nz])) / log_b)  # 0.0 - 0.0 is +0.0


def _on_support(q, p) -> tuple[np.ndarray, np.ndarray]:
    """Validate two distributions of equal length; return their entries where :math:`q_i > 0`."""
    q, p = _distribution(q, "q"), _distribution(p, "p")
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same length, got {q.size} and {p.size}")
    nz = q > 0
    return q[nz], p[nz]


def cross_entropy(q, p, base: float = 2.0) -> float:
    r""":math:`H(\mathbf q, \mathbf p) = -\sum_i q_i\log p_i`; infinite if some :math:`p_i = 0 < q_i`."""
    (q, p), log_b = _on_support(q, p), _log_base(base)
    if np.any(p == 0):
        return float("inf")
    return 0.0 - float(np.sum(q * np.log(p)) / log_b)  # +0.0, not -0.0, when p_i = 1


def kl_divergence(q, p, base: float = 2.0) -> float:
    r""":math:`D(\mathbf q\|\mathbf p) = H(\mathbf q, \mathbf p) - H(\mathbf q) = \sum_i q_i\log(q_i/p_i) \ge 0`."""
    (q, p), log_b = _on_support(q, p), _log_base(base)
    if np.any(p == 0):
        return float("inf")
    return float(np.sum(q * np.log(q / p)) / log_b)


# --------------------------------------------------------------------------- building codes


def huffman_code(p) -> list[str]:
    """A binary Huffman code for symbols with probabilities ``p``: the code word of each symbol.

    Huffman's construction: take the two least probable subtrees (at first, single symbols), make
    them the children of a new node whose probability is their sum, and repeat until one tree is
    left; a symbol's code word spells the path from the root to it ("0" for the first subtree
    taken, "1" for the second).  Ties go to the subtree made first (symbols before merged
    nodes, lower index first), so the code is deterministic.  Implemented with two queues (the
    sorted symbols, and the merged nodes, which are made in order of probability): a sort and
    then ``n - 1`` constant-time merges.  A single symbol gets the one-bit word ``"0"``.
    """
    p = _distribution(p, "p")
    n = p.size
    if n == 1:
        return ["0"]
    order = np.argsort(p, kind="stable")
    leaf_p, leaf_id = p[order].tolist(), order.tolist()
    node_p: list[float] = []  # probabilities of the merged nodes n, n+1, ... in creation order
    first, second = [], []  # their two children
    i = j = 0
    for k in range(n - 1):
        if j == k or (i < n and leaf_p[i] <= node_p[j]):
            a_p, a, i = leaf_p[i], leaf_id[i], i + 1
        else:
            a_p, a, j = node_p[j], n + j, j + 1
        if j == k or (i < n and leaf_p[i] <= node_p[j]):
            b_p, b, i = leaf_p[i], leaf_id[i], i + 1
        else:
            b_p, b, j = node_p[j], n + j, j + 1
        node_p.append(a_p + b_p)
        first.append(a)
        second.append(b)
    words = [""] * (2 * n - 1)
    for k in range(n - 2, -1, -1):  # from the root down
        words[first[k]], words[second[k]] = words[n + k] + "0", words[n + k] + "1"
    return words[:n]


def code_from_lengths(lengths) -> list[str]:
    r"""The canonical prefix code with the given word lengths :math:`l_i \ge 1`.

    Kraft's inequality :math:`\sum_i 2^{-l_i} \le 1` (checked exactly) is necessary and sufficient
    for such a code to exist.  Words are handed out in order of length (then of symbol), each the
    previous word plus one, shifted left to its length.
    """
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu" or lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths must be a non-empty 1-D integer array, got {lengths!r}")
    if lengths.min() < 1:
        raise ValueError(f"lengths must be >= 1, got {lengths.min()}")
    longest = int(lengths.max())
    if sum(1 << (longest - int(ell)) for ell in lengths) > 1 << longest:
        raise ValueError(
            "lengths violate Kraft's inequality sum 2^-l <= 1: no prefix code has them"
        )
    words = [""] * lengths.size
    value, previous = 0, int(lengths.min())
    for s in np.argsort(lengths, kind="stable").tolist():
        ell = int(lengths[s])
        value <<= ell - previous
        words[s] = format(value, f"0{ell}b")
        value, previous = value + 1, ell
    return words


def shannon_code(p) -> list[str]:
    r"""Shannon's code for ``p``: a prefix code with lengths :math:`l_i = \max(1, \lceil -\log_2 p_i \rceil)`.

    These lengths satisfy Kraft's inequality, so the code exists (:func:`code_from_lengths`), and
    under any distribution :math:`\mathbf q` its mean length lies in
    :math:`[H(\mathbf q,\mathbf p),\, H(\mathbf q,\mathbf p) + 1)`.  The lengths are computed
    exactly: with :math:`p = f\,2^e`, :math:`f\in[\tfrac12, 1)`, :math:`\lceil -\log_2 p\rceil = 1 - e`.
    A word has at least one bit, so an entry equal to 1 (a probability within rounding of 1,
    beside others that round away) gets a 1-bit word; Kraft's inequality still holds, since the
    other entries sum to at most ``SUM_TOLERANCE`` and need words of 30 bits or more.  The upper
    bound then reads :math:`\le`: that symbol costs exactly :math:`-\log_2 p_i + 1` bits.
    Every :math:`p_i` must be positive (a symbol of probability 0 would need an infinite word).
    """
    p = _distribution(p, "p")
    if np.any(p == 0):
        raise ValueError("p must be positive everywhere for a Shannon code")
    if p.size == 1:
        return ["0"]
    lengths = np.maximum(1, 1 - np.frexp(p)[1])
    longest = int(lengths.max())
    if sum(1 << (longest - int(ell)) for ell in lengths) > 1 << longest:  # sum p > 1 by rounding
        raise ValueError(
            "p sums to more than 1 (by rounding) by enough that Shannon's lengths break Kraft's "
            "inequality; divide p by its sum"
        )
    return code_from_lengths(lengths)


def _words(code) -> list[str]:
    """Validate a code: a non-empty sequence (not a string) of non-empty strings of 0s and 1s."""
    try:
        words = None if isinstance(code, (str, bytes)) else list(code)
    except TypeError:  # not iterable
        words = None
    if not words or not all(isinstance(w, str) and w and set(w) <= {"0", "1"} for w in words):
        raise ValueError(
            f"code must be a non-empty list of non-empty strings of 0s and 1s, got {code!r:.80}"
        )
    return words


def mean_code_length(code: list[str], p) -> float:
    r"""Expected code-word length :math:`L = \sum_i p_i |c_i|` in bits."""
    words, p = _words(code), _distribution(p, "p")
    if len(words) != p.size:
        raise ValueError(f"code must have one word per symbol ({p.size}), got {len(words)}")
    return float(np.sum(p * np.array([len(c) for c in words])))


def is_prefix_free(code: list[str]) -> bool:
    """Whether no code word is a prefix of another (so a stream decodes uniquely)."""
    words = sorted(_words(code))
    return all(not b.startswith(a) for a, b in zip(words, words[1:], strict=False))


# --------------------------------------------------------------------------- blocks of bits


def _block_size(m, limit: int) -> int:
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)):
        raise ValueError(f"m must be an integer block length, got {m!r}")
    if not 1 <= m <= limit:
        raise ValueError(f"m must lie in [1, {limit}], got {m}")
    return int(m)


def block_probabilities(q: float, m: int) -> np.ndarray:
    """Probabilities of the :math:`2^m` blocks of ``m`` independent bits that are 1 with probability ``q``.

    Block ``i`` is the binary expansion of ``i``; its probability is :math:`q^{k}(1-q)^{m-k}`, ``k`` its ones.
    """
    if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, float, np.number)):
        raise ValueError(f"q must be a probability, got {q!r}")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    m = _block_size(m, 26)
    index = np.arange(2**m, dtype=np.int64)
    ones = np.zeros_like(index)
    for k in range(m):
        ones += (index >> k) & 1
    return q**ones * (1.0 - q) ** (m - ones)


def _bit_array(bits, name: str = "bits") -> np.ndarray:
    b = np.asarray(bits)
    if b.ndim == 1 and b.size == 0:  # an empty list is float64 to NumPy, yet a valid stream
        return np.zeros(0, dtype=np.uint8)
    if b.dtype.kind not in "biu" or b.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of 0s and 1s, got dtype {b.dtype}, shape {b.shape}"
        )
    if b.size and (b.min() < 0 or b.max() > 1):
        raise ValueError(f"{name} must hold only 0s and 1s, got values in [{b.min()}, {b.max()}]")
    return b.astype(np.uint8)


def bits_to_blocks(bits, m: int) -> np.ndarray:
    """The block indices of a bit stream cut into blocks of ``m`` bits (first bit most significant)."""
    b, m = _bit_array(bits), _block_size(m, 62)
    if b.size % m:
        raise ValueError(f"bits must have a multiple of m = {m} bits, got {b.size}")
    return b.reshape(-1, m).astype(np.int64) @ (np.int64(1) << np.arange(m - 1, -1, -1))


def blocks_to_bits(blocks, m: int) -> np.ndarray:
    """The bit stream of a sequence of block indices in ``[0, 2^m)``: inverse of :func:`bits_to_blocks`."""
    m = _block_size(m, 62)
    s = _symbol_array(blocks, 2**m, "blocks")
    return ((s[:, None] >> np.arange(m - 1, -1, -1)) & 1).astype(np.uint8).ravel()


def _symbol_array(symbols, n: int, name: str = "symbols") -> np.ndarray:
    s = np.asarray(symbols)
    if s.ndim == 1 and s.size == 0:  # an empty list is float64 to NumPy, yet no symbols
        return np.zeros(0, dtype=np.int64)
    if s.dtype.kind not in "iu" or s.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D integer array, got dtype {s.dtype}, shape {s.shape}"
        )
    if s.size and (s.min() < 0 or s.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got values in [{s.min()}, {s.max()}]")
    return s.astype(np.int64)


# --------------------------------------------------------------------------- encoding, decoding


class PrefixCode:
    """A binary prefix code: an encoder and a decoder for the symbols ``0 .. len(code) - 1``.

    ``code`` is a list of code words (strings of "0" and "1"), e.g. from :func:`huffman_code`.
    The decoder walks a binary tree (a trie) of the words, stored as an array ``child`` of shape
    ``(nodes, 2)``: a positive entry is an inner node, ``-(s + 1)`` is the leaf of symbol ``s``,
    0 a branch no word uses.  :meth:`decode` finds the word that would start at every bit position
    at once (vectorised, with a table of ``WINDOW``-bit look-ups), then follows the chain of word
    boundaries from bit 0.
    """

    def __init__(self, code):
        words = _words(code)
        self.words = tuple(words)
        self.lengths = np.array([len(w) for w in words], dtype=np.int64)
        self._flat = np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8) - ord("0")
        self._start = np.cumsum(self.lengths) - self.lengths
        self.child = self._tree()

    def _tree(self) -> np.ndarray:
        """Build ``child`` depth by depth; the nodes made at one depth get consecutive ids."""
        n = len(self.words)
        node = np.zeros(n, dtype=np.int64)  # each word's node at the current depth
        alive = np.arange(n)  # the words longer than the current depth
        keys, values = [], []
        lo, hi = 0, 1  # the ids of the nodes at the current depth
        for depth in range(int(self.lengths.max())):
            slot = 2 * (node[alive] - lo) + self._flat[self._start[alive] + depth]
            ends = self.lengths[alive] == depth + 1
            leaves = np.bincount(slot[ends], minlength=2 * (hi - lo))
            inner = np.zeros(2 * (hi - lo), dtype=bool)
            inner[slot[~ends]] = True
            if leaves.max(initial=0) > 1:
                raise ValueError("code must not contain the same word twice")
            if np.any(inner & (leaves > 0)):
                raise ValueError("code must be prefix-free: a word is a prefix of another")
            new_id = hi + np.cumsum(inner) - 1
            keys += [2 * lo + slot[ends], 2 * lo + np.flatnonzero(inner)]
            values += [-(alive[ends] + 1), new_id[inner]]
            alive = alive[~ends]
            node[alive] = new_id[slot[~ends]]
            lo, hi = hi, hi + int(inner.sum())
        child = np.zeros(2 * lo, dtype=np.int64)
        child[np.concatenate(keys)] = np.concatenate(values)
        return child.reshape(lo, 2)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, symbols) -> np.ndarray:
        """The bit stream :math:`c_{s_1}c_{s_2}\\cdots` of the symbols, as a ``uint8`` array."""
        s = _symbol_array(symbols, len(self))
        ell = self.lengths[s]
        out_start = np.cumsum(ell) - ell
        source = np.arange(int(ell.sum())) + np.repeat(self._start[s] - out_start, ell)
        return self._flat[source]

    WINDOW = 12  # bits looked up at once by the decoder

    def _window_table(self) -> tuple[np.ndarray, ...]:
        """What the tree does with each ``k``-bit window, ``k = min(WINDOW, longest word)``.

        For each window value: ``state`` 1 if a word ends within it (``symbol``, ``depth`` its
        length), 2 if it leaves the tree (``depth`` the bits read), 0 if it stops at the inner
        ``node`` after ``depth = k`` bits.
        """
        if not hasattr(self, "_table"):
            k = int(min(self.WINDOW, self.lengths.max()))
            window = np.arange(2**k)
            state, symbol = np.zeros(2**k, dtype=np.int8), np.full(2**k, -1, dtype=np.int64)
            depth, node = np.full(2**k, k, dtype=np.int64), np.zeros(2**k, dtype=np.int64)
            for d in range(k):
                live = np.flatnonzero(state == 0)
                nxt = self.child[node[live], (window[live] >> (k - 1 - d)) & 1]
                leaf, gone, inner = live[nxt < 0], live[nxt == 0], nxt > 0
                symbol[leaf], state[leaf], state[gone] = -nxt[nxt < 0] - 1, 1, 2
                depth[leaf], depth[gone] = d + 1, d + 1
                node[live[inner]] = nxt[inner]
            self._table = (k, state, symbol, depth, node)
        return self._table

    def decode(self, bits) -> np.ndarray:
        """The symbols whose code words, concatenated, are ``bits``; ValueError if there are none.

        Every bit position is decoded at once, as if a word started there: its next ``k`` bits
        are looked up in a table of the tree (words longer than ``k`` bits then continue down the
        tree), giving the symbol and length of the word starting at each position.  A Python
        loop then follows the word boundaries from bit 0, one step per decoded symbol.
        """
        b = _bit_array(bits)
        n = b.size
        k, state_of, symbol_of, depth_of, node_of = self._window_table()
        padded = np.concatenate([b, np.zeros(k, dtype=np.uint8)])
        window = np.zeros(n, dtype=np.int64)
        for j in range(k):
            window = (window << 1) | padded[j : j + n]
        state, symbol, length = state_of[window], symbol_of[window], depth_of[window]
        symbol[state == 2] = -1  # -1: no word starts here
        active = np.flatnonzero(state == 0)  # words longer than k bits: continue in the tree
        node, depth = node_of[window[active]], k
        while active.size:
            inside = active + depth < n
            length[active[~inside]] = depth + 1  # reported as cut off below
            active, node = active[inside], node[inside]
            nxt = self.child[node, b[active + depth]]
            symbol[active[nxt < 0]], length[active[nxt < 0]] = -nxt[nxt < 0] - 1, depth + 1
            symbol[active[nxt == 0]] = -1
            active, node, depth = active[nxt > 0], nxt[nxt > 0], depth + 1
        tail = np.arange(max(0, n - int(self.lengths.max())), n)  # only these can run past the end
        symbol[tail[tail + length[tail] > n]] = -2  # -2: the stream ends inside the word
        step = np.where(symbol >= 0, length, 0).tolist()
        starts, pos = [], 0
        while pos < n and step[pos]:
            starts.append(pos)
            pos += step[pos]
        if pos < n:
            problem = "the stream ends inside a code word" if symbol[pos] == -2 else "no code word"
            raise ValueError(f"bits do not decode: {problem} at bit {pos}")
        return symbol[starts]

    def read(self, bits, start: int = 0) -> tuple[int, int]:
        """Decode the one code word that begins at bit ``start``: ``(symbol, end)``, ``end`` the next bit.

        Only the bits of that word are read and checked (pass a NumPy array: a list would be
        converted on every call), so reading a stream word by word takes time proportional to
        its length.
        """
        b = np.asarray(bits)
        if b.ndim != 1 or b.dtype.kind not in "biu":
            raise ValueError(
                f"bits must be a 1-D array of 0s and 1s, got dtype {b.dtype}, shape {b.shape}"
            )
        if isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer)):
            raise ValueError(f"start must be an integer bit position, got {start!r}")
        if not 0 <= start < b.size:
            raise ValueError(f"start must lie in [0, {b.size}), got {start}")
        node, pos = 0, int(start)
        while pos < b.size:
            bit = int(b[pos])
            if bit not in (0, 1):
                raise ValueError(f"bits must hold only 0s and 1s, got {bit} at bit {pos}")
            nxt = int(self.child[node, bit])
            pos += 1
            if nxt < 0:
                return -nxt - 1, pos
            if nxt == 0:
                raise ValueError(f"bits do not decode: no code word at bit {start}")
            node = nxt
        raise ValueError(f"bits do not decode: the stream ends inside a code word at bit {start}")
