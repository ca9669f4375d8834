"""Tests of relunet.info: entropy, cross entropy, KL divergence, Huffman and Shannon codes and the
prefix-code encoder and decoder (Tomasi, Appendix A).  Huffman's optimality is checked against a
brute-force search, its fast construction against the textbook heap version, and the decoder
against a bit-by-bit reference decoder."""

from __future__ import annotations

import heapq
import itertools
import math
import warnings
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet.info import (
    PrefixCode,
    bits_to_blocks,
    block_probabilities,
    blocks_to_bits,
    code_from_lengths,
    cross_entropy,
    entropy,
    huffman_code,
    is_prefix_free,
    kl_divergence,
    mean_code_length,
    shannon_code,
)

PROPERTY = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def random_distribution(rng, k, zeros=False):
    p = rng.dirichlet(np.full(k, 0.7))
    if zeros and k > 2:
        p[rng.integers(0, k)] = 0.0
        p /= p.sum()
    return p


@cache
def length_vectors(n):
    """Every vector of code-word lengths in [1, n-1] that satisfies Kraft's inequality.

    By Kraft's theorem each is realised by a prefix code, and an optimal prefix code for n >= 2
    symbols never needs a word longer than n - 1, so minimising over these is the exact optimum.
    """
    lengths = np.array(list(itertools.product(range(1, n), repeat=n)))
    kraft = np.sum(2.0 ** (n - 1 - lengths), axis=1)  # exact integers: sum 2^-l <= 1 scaled
    return lengths[kraft <= 2.0 ** (n - 1)]


def brute_force_optimum(p):
    return float(np.min(length_vectors(len(p)) @ p))


def code_lengths(code):
    return np.array([len(c) for c in code])


# --------------------------------------------------------------------------- entropy & friends


@pytest.mark.parametrize("k", [1, 2, 3, 8, 10])
def test_entropy_of_uniform_is_log_k(k):
    assert entropy(np.full(k, 1 / k)) == pytest.approx(np.log2(k), abs=1e-14)
    assert entropy(np.full(k, 1 / k), base=np.e) == pytest.approx(np.log(k), abs=1e-14)


def test_entropy_known_values():
    assert entropy([1.0]) == 0.0
    assert entropy([0.5, 0.5]) == pytest.approx(1.0, abs=1e-15)
    assert entropy([0.5, 0.25, 0.25]) == pytest.approx(1.5, abs=1e-15)
    q = 0.1
    assert entropy([q, 1 - q]) == pytest.approx(-q * np.log2(q) - (1 - q) * np.log2(1 - q))


def test_zero_log_zero_is_zero():
    assert entropy([1.0, 0.0]) == 0.0
    assert entropy([0.5, 0.0, 0.5]) == entropy([0.5, 0.5])
    assert cross_entropy([0.5, 0.0, 0.5], [0.25, 0.5, 0.25]) == pytest.approx(2.0, abs=1e-15)
    assert kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    for value in (entropy([0.0, 1.0]), kl_divergence([1.0, 0.0], [0.5, 0.5])):
        assert np.isfinite(value)
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(1.0, abs=1e-15)


def test_coding_with_an_impossible_model_costs_infinitely_much():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf by the rule p_i = 0 < q_i, not by a division by 0
        assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == float("inf")
        assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == float("inf")


@PROPERTY
@given(k=st.integers(1, 8), seed=seeds, zeros=st.booleans())
def test_cross_entropy_and_kl_properties(k, seed, zeros):
    rng = np.random.default_rng(seed)
    q = random_distribution(rng, k, zeros)
    p = random_distribution(rng, k)  # no zeros: finite
    h_q, h_qp, kl = entropy(q), cross_entropy(q, p), kl_divergence(q, p)
    assert h_qp >= h_q - 1e-12  # Gibbs' inequality
    # KL >= 0 up to the rounding of the inputs themselves (a Dirichlet draw with k = 1 can be
    # 1 - 2^-53, and then q log(q/p) = -1.1e-16 is the exact value for those inputs)
    assert kl >= -1e-15
    assert kl == pytest.approx(h_qp - h_q, abs=1e-12)
    assert kl_divergence(q, q) == 0.0 and cross_entropy(q, q) == pytest.approx(h_q, abs=1e-12)
    if not np.allclose(p, q, atol=1e-6):
        assert kl > 0.0  # = 0 only if equal
    assert -1e-15 <= h_q <= np.log2(k) + 1e-12


@PROPERTY
@given(k=st.integers(2, 8), seed=seeds, base=st.sampled_from([np.e, 10.0, 3.0, 16.0]))
def test_base_conversion(k, seed, base):
    rng = np.random.default_rng(seed)
    q, p = random_distribution(rng, k), random_distribution(rng, k)
    factor = np.log(2) / np.log(base)  # bits -> base-b units
    assert entropy(q, base=base) == pytest.approx(entropy(q) * factor, rel=1e-12, abs=1e-15)
    assert cross_entropy(q, p, base) == pytest.approx(cross_entropy(q, p) * factor, rel=1e-12)
    assert kl_divergence(q, p, base) == pytest.approx(
        kl_divergence(q, p) * factor, rel=1e-10, abs=1e-15
    )


@pytest.mark.parametrize(
    ("q", "match"),
    [
        ([0.5, 0.6], "q must be non-negative and sum to 1"),
        ([1.5, -0.5], "q must be non-negative and sum to 1"),
        ([np.nan, 1.0], "q must be non-negative and sum to 1"),
        ([], "q must be a non-empty 1-D probability vector"),
        ([[0.5, 0.5]], "q must be a non-empty 1-D probability vector"),
    ],
)
def test_bad_distributions_are_rejected(q, match):
    with pytest.raises(ValueError, match=match):
        entropy(q)
    with pytest.raises(ValueError, match=match):
        cross_entropy(q, [0.5, 0.5])


@pytest.mark.parametrize("q", [["0.5", "0.5"], [True, False], np.array([0.5, 0.5], dtype=object)])
def test_non_numeric_distributions_are_rejected(q):
    with pytest.raises(ValueError, match="q must be a real probability vector"):
        entropy(q)


@pytest.mark.parametrize("base", [1, 1.0, 0.0, -2.0, float("nan"), float("inf"), True, "2"])
def test_bad_bases_are_rejected(base):
    for f, args in ((entropy, ([0.5, 0.5],)), (cross_entropy, ([0.5, 0.5], [0.5, 0.5]))):
        with pytest.raises(ValueError, match="base must be"):
            f(*args, base=base)
    with pytest.raises(ValueError, match="base must be"):
        kl_divergence([0.5, 0.5], [0.5, 0.5], base=base)


def test_sums_must_be_one_to_rounding_so_gibbs_cannot_break():
    """A relative tolerance of 1e-5 once let p = (0.500004, 0.500004) through, with
    H(q, p) = 0.99999 < H(q) = 1: a mass above 1 breaks Gibbs' inequality."""
    with pytest.raises(ValueError, match="q must be non-negative and sum to 1"):
        entropy([0.5, 0.500009])
    with pytest.raises(ValueError, match="p must be non-negative and sum to 1"):
        cross_entropy([0.5, 0.5], [0.500004, 0.500004])
    with pytest.raises(ValueError, match="p must be non-negative and sum to 1"):
        kl_divergence([0.5, 0.5], [0.5 + 1e-9, 0.5 + 1e-9])
    rounded = np.full(10, 0.1)  # sums to 0.9999999999999999
    assert cross_entropy(rounded, rounded) == pytest.approx(np.log2(10), abs=1e-14)
    assert entropy([0.5, 0.5 + 5e-10]) == pytest.approx(1.0, abs=1e-9)  # within 1e-9: rounding


def test_certain_outcomes_give_plus_zero():
    for value in (cross_entropy([1, 0], [1, 0]), entropy([1.0]), entropy([0.0, 1.0])):
        assert value == 0.0 and np.copysign(1.0, value) == 1.0  # not -0.0


def test_cross_entropy_rejects_bad_model_and_length_mismatch():
    with pytest.raises(ValueError, match="p must be non-negative and sum to 1"):
        cross_entropy([0.5, 0.5], [0.9, 0.9])
    with pytest.raises(ValueError, match="q and p must have the same length"):
        cross_entropy([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="q and p must have the same length"):
        kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])


# --------------------------------------------------------------------------- Huffman codes


def test_is_prefix_free():
    assert is_prefix_free(["0", "10", "110", "111"])
    assert is_prefix_free(["1", "0"])
    assert not is_prefix_free(["0", "01"])
    assert not is_prefix_free(["10", "0", "101"])
    assert not is_prefix_free(["0", "0"])  # duplicates cannot be decoded either
    assert not is_prefix_free(["01", "1", "0110"])


def test_huffman_dyadic_known_case():
    code = huffman_code([0.5, 0.25, 0.125, 0.125])
    assert list(code_lengths(code)) == [1, 2, 3, 3]
    assert is_prefix_free(code)
    assert all(set(c) <= {"0", "1"} for c in code)
    assert (
        mean_code_length(code, [0.5, 0.25, 0.125, 0.125])
        == 1.75
        == entropy([0.5, 0.25, 0.125, 0.125])
    )


@PROPERTY
@given(n_splits=st.integers(1, 12), seed=seeds)
def test_huffman_dyadic_lengths_are_minus_log2_p(n_splits, seed):
    """A random full binary tree gives dyadic probabilities 2^-depth; Huffman recovers the depths."""
    rng = np.random.default_rng(seed)
    depths = [0]
    for _ in range(n_splits):
        d = depths.pop(rng.integers(len(depths)))
        depths += [d + 1, d + 1]
    depths = np.array(depths)
    p = 2.0**-depths
    code = huffman_code(p)
    assert np.array_equal(code_lengths(code), depths)
    assert mean_code_length(code, p) == pytest.approx(entropy(p), abs=1e-12)


@PROPERTY
@given(n=st.integers(2, 6), seed=seeds, zeros=st.booleans())
def test_huffman_is_optimal_against_brute_force(n, seed, zeros):
    p = random_distribution(np.random.default_rng(seed), n, zeros)
    code = huffman_code(p)
    assert is_prefix_free(code)
    assert mean_code_length(code, p) == pytest.approx(brute_force_optimum(p), abs=1e-12)


def test_huffman_beats_suboptimal_reference_cases():
    # [0.4, 0.2, 0.2, 0.1, 0.1]: the optimum is 2.2 bits (several optimal trees)
    p = [0.4, 0.2, 0.2, 0.1, 0.1]
    assert mean_code_length(huffman_code(p), p) == pytest.approx(2.2)
    # [1/3, 1/3, 1/3]: lengths {1, 2, 2}, 5/3 bits
    code = huffman_code([1 / 3] * 3)
    assert sorted(code_lengths(code)) == [1, 2, 2]


@PROPERTY
@given(n=st.integers(2, 40), seed=seeds, zeros=st.booleans())
def test_huffman_kraft_equality_and_entropy_bounds(n, seed, zeros):
    p = random_distribution(np.random.default_rng(seed), n, zeros)
    code = huffman_code(p)
    assert len(code) == n
    assert is_prefix_free(code)
    assert sum(Fraction(1, 2 ** len(c)) for c in code) == 1  # a full binary tree
    h, mean = entropy(p), mean_code_length(code, p)
    assert h - 1e-12 <= mean < h + 1


def test_huffman_breaks_ties_as_documented_and_handles_one_symbol():
    """The words follow from the tie rule (symbols before merged nodes, lower index first), worked
    out by hand; the input's type does not matter."""
    assert huffman_code([0.25] * 4) == ["00", "01", "10", "11"]  # joins (0,1), (2,3), root
    assert huffman_code(np.full(3, 1 / 3)) == ["10", "11", "0"]  # (0,1) first, then 2 before it
    # joins: (3,4) -> a; 1 and 2 (leaves before the tied node a) -> b; a and 0 -> c; (b, c)
    p = [0.4, 0.2, 0.2, 0.1, 0.1]
    assert huffman_code(p) == ["11", "00", "01", "100", "101"]
    assert huffman_code(np.array(p)) == huffman_code(tuple(p))
    assert huffman_code([1.0]) == ["0"]


def test_mean_code_length_rejects_wrong_length_and_bad_codes():
    assert mean_code_length(["0", "10", "11"], [0.5, 0.25, 0.25]) == 1.5
    with pytest.raises(ValueError, match="code must have one word per symbol"):
        mean_code_length(["0", "1"], [0.5, 0.25, 0.25])
    for bad in ("01", [0, 1], ["0", ""], ["0", "2"], [], None):
        with pytest.raises(ValueError, match="code must be a non-empty list"):
            mean_code_length(bad, [0.5, 0.5])
    with pytest.raises(ValueError, match="code must be a non-empty list"):
        is_prefix_free("01")


# --------------------------------------------------------------------------- blocks of bits


def test_block_probabilities_order():
    # block i is the binary expansion of i: 00, 01, 10, 11
    np.testing.assert_allclose(block_probabilities(0.3, 2), [0.49, 0.21, 0.21, 0.09], rtol=1e-14)
    np.testing.assert_allclose(block_probabilities(0.3, 1), [0.7, 0.3], rtol=1e-15)


@PROPERTY
@given(q=st.floats(0.0, 1.0), m=st.integers(1, 8))
def test_block_probabilities_sum_and_entropy(q, m):
    blocks = block_probabilities(q, m)
    assert blocks.shape == (2**m,)
    assert np.all(blocks >= 0)
    assert blocks.sum() == pytest.approx(1.0, abs=1e-12)
    assert entropy(blocks) == pytest.approx(m * entropy([q, 1 - q]), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("q", [0.1, 0.3])
def test_huffman_on_blocks_approaches_entropy(q):
    """Tomasi Appendix A: the mean length per bit of a block code lies in [H(q), H(q) + 1/m)."""
    h = entropy([q, 1 - q])
    per_bit = []
    for m in range(1, 9):
        blocks = block_probabilities(q, m)
        per_bit.append(mean_code_length(huffman_code(blocks), blocks) / m)
        assert h - 1e-12 <= per_bit[-1] < h + 1 / m
    assert per_bit[-1] < per_bit[0]
    assert per_bit[-1] - h < 0.05


@pytest.mark.parametrize(
    ("q", "m", "match"),
    [
        (-0.1, 2, "q must lie in"),
        (1.1, 2, "q must lie in"),
        (float("nan"), 2, "q must lie in"),
        (True, 2, "q must be a probability"),
        ("0.5", 2, "q must be a probability"),
        (0.5, 0, "m must lie in"),
        (0.5, 27, "m must lie in"),
        (0.5, 2.0, "m must be an integer"),
        (0.5, True, "m must be an integer"),
    ],
)
def test_block_probabilities_rejects_bad_arguments(q, m, match):
    with pytest.raises(ValueError, match=match):
        block_probabilities(q, m)


@PROPERTY
@given(q=st.floats(0.0, 1.0), m=st.integers(1, 10), seed=seeds)
def test_bits_and_blocks_round_trip_in_the_order_of_block_probabilities(q, m, seed):
    rng = np.random.default_rng(seed)
    bits = (rng.random(m * 7) < 0.5).astype(np.uint8)
    blocks = bits_to_blocks(bits, m)
    assert blocks.shape == (7,) and np.array_equal(blocks_to_bits(blocks, m), bits)
    probs = block_probabilities(q, m)
    for block, row in zip(blocks, bits.reshape(7, m), strict=True):
        assert int("".join(map(str, row)), 2) == block  # first bit most significant
        k = int(row.sum())
        assert probs[block] == pytest.approx(q**k * (1 - q) ** (m - k), rel=1e-12, abs=1e-300)


def test_bits_and_blocks_reject_bad_input():
    with pytest.raises(ValueError, match="multiple of m"):
        bits_to_blocks(np.array([0, 1, 1], dtype=np.uint8), 2)
    with pytest.raises(ValueError, match="m must be an integer"):
        bits_to_blocks(np.array([0, 1], dtype=np.uint8), 2.0)
    with pytest.raises(ValueError, match="only 0s and 1s"):
        bits_to_blocks(np.array([0, 2]), 1)
    with pytest.raises(ValueError, match="1-D array of 0s and 1s"):
        bits_to_blocks(np.array([0.0, 1.0]), 1)
    with pytest.raises(ValueError, match=r"blocks must lie in \[0, 4\)"):
        blocks_to_bits(np.array([4]), 2)
    with pytest.raises(ValueError, match="blocks must be a 1-D integer array"):
        blocks_to_bits(np.array([1.0]), 2)


# --------------------------------------------------------------------------- fast Huffman, Shannon


def heap_huffman(p):
    """The textbook construction with a heap keyed by (probability, creation order)."""
    if len(p) == 1:
        return ["0"]
    heap = [(float(pi), i, (i,)) for i, pi in enumerate(p)]
    heapq.heapify(heap)
    codes, counter = [""] * len(p), len(p)
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


@PROPERTY
@given(n=st.integers(1, 300), seed=seeds, ties=st.booleans())
def test_two_queue_huffman_equals_the_heap_construction(n, seed, ties):
    rng = np.random.default_rng(seed)
    p = rng.integers(1, 4, n) if ties else rng.dirichlet(np.full(n, 0.3)) + 1e-12
    p = p / p.sum()
    assert huffman_code(p) == heap_huffman(p)


@pytest.mark.parametrize(("q", "m"), [(0.1, 10), (0.3, 8), (0.5, 6)])
def test_two_queue_huffman_equals_heap_on_block_sources(q, m):
    blocks = block_probabilities(q, m)  # many exact ties
    assert huffman_code(blocks) == heap_huffman(blocks)


@PROPERTY
@given(n=st.integers(1, 30), seed=seeds)
def test_code_from_lengths_is_a_canonical_prefix_code(n, seed):
    rng = np.random.default_rng(seed)
    lengths = np.array([len(c) for c in huffman_code(rng.dirichlet(np.ones(n)))])
    lengths = lengths + rng.integers(0, 3, n)  # Kraft sum <= 1 still
    code = code_from_lengths(lengths)
    assert [len(c) for c in code] == lengths.tolist() and is_prefix_free(code)
    by_length = sorted(range(n), key=lambda s: (lengths[s], s))
    values = [int(code[s], 2) << (lengths.max() - lengths[s]) for s in by_length]
    assert values == sorted(values) and values[0] == 0  # canonical: in order, from 0...0


def test_code_from_lengths_rejects_kraft_violations_and_bad_input():
    assert code_from_lengths(np.array([1, 2, 3, 3])) == ["0", "10", "110", "111"]
    with pytest.raises(ValueError, match="Kraft"):
        code_from_lengths(np.array([1, 2, 2, 3]))
    with pytest.raises(ValueError, match="lengths must be >= 1"):
        code_from_lengths(np.array([0, 1]))
    for bad in (np.array([1.0, 1.0]), np.array([], dtype=int), np.array([[1, 1]])):
        with pytest.raises(ValueError, match="lengths must be a non-empty 1-D integer array"):
            code_from_lengths(bad)


@PROPERTY
@given(k=st.integers(2, 12), seed=seeds)
def test_shannon_code_lengths_and_the_mismatched_bound(k, seed):
    """Lengths ceil(-log2 p); under any q the mean length lies in [H(q, p), H(q, p) + 1)."""
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), random_distribution(rng, k, zeros=True)
    code = shannon_code(p)
    assert is_prefix_free(code)
    assert [len(c) for c in code] == [math.ceil(-math.log2(pi)) for pi in p]
    h_qp = cross_entropy(q, p)
    assert h_qp - 1e-12 <= mean_code_length(code, q) < h_qp + 1


@pytest.mark.parametrize(
    "p", [[1.0, 1e-20], [1 - 1e-17, 1e-17], [1 - 5e-324, 5e-324], [1e-12, 1.0, 1e-12]]
)
def test_shannon_code_gives_a_probability_of_one_a_one_bit_word(p):
    """frexp(1.0) has exponent 1, so ceil(-log2 1) = 0: the word is lengthened to one bit."""
    code = shannon_code(p)
    assert is_prefix_free(code)
    assert sum(Fraction(1, 2 ** len(c)) for c in code) <= 1  # Kraft
    lengths = [len(c) for c in code]
    assert [n for n, pi in zip(lengths, p, strict=True) if pi == 1.0] == [1]
    assert all(n == math.ceil(-math.log2(pi)) for n, pi in zip(lengths, p, strict=True) if pi < 1)
    q = np.array(p) == 1.0  # all the mass on that symbol: mean length 1 = H(q, p) + 1
    assert mean_code_length(code, q.astype(float)) == cross_entropy(q.astype(float), p) + 1


def test_shannon_code_rejects_sums_above_one_that_break_kraft():
    with pytest.raises(ValueError, match="p sums to more than 1"):
        shannon_code([0.5, 0.5, 1e-10])  # lengths 1, 1, 34: no prefix code


def test_shannon_code_is_exact_at_powers_of_two_and_rejects_zeros():
    p = [0.5, 0.25, 0.125, 0.0625, 0.0625]
    assert [len(c) for c in shannon_code(p)] == [1, 2, 3, 4, 4]
    below = np.nextafter(0.25, 0)  # -log2 rounds to 2.0, yet 2^-2 > p: needs 3 bits
    assert len(shannon_code([below, 1 - below])[0]) == 3
    assert shannon_code([1.0]) == ["0"]
    with pytest.raises(ValueError, match="p must be positive"):
        shannon_code([0.5, 0.5, 0.0])


# --------------------------------------------------------------------------- encoder and decoder


def reference_decode(bits, code):
    """Bit by bit with a dictionary of words: the obvious decoder, for comparison."""
    table, out, word = {w: s for s, w in enumerate(code)}, [], ""
    for bit in bits:
        word += str(int(bit))
        if word in table:
            out.append(table[word])
            word = ""
        elif not any(w.startswith(word) for w in code):
            raise ValueError("no code word")
    if word:
        raise ValueError("ends inside a code word")
    return out


def random_code(rng, n, complete):
    lengths = np.array([len(c) for c in huffman_code(rng.dirichlet(np.full(n, 0.5)))])
    return code_from_lengths(lengths if complete else lengths + rng.integers(0, 2, n))


@PROPERTY
@given(n=st.integers(1, 40), size=st.integers(0, 200), seed=seeds, complete=st.booleans())
def test_decoding_inverts_encoding(n, size, seed, complete):
    rng = np.random.default_rng(seed)
    code = random_code(rng, n, complete) if rng.random() < 0.5 else huffman_code(np.ones(n) / n)
    coder = PrefixCode(code)
    symbols = rng.integers(0, n, size)
    bits = coder.encode(symbols)
    assert bits.dtype == np.uint8 and bits.size == sum(len(code[s]) for s in symbols)
    assert "".join(map(str, bits)) == "".join(code[s] for s in symbols)
    assert np.array_equal(coder.decode(bits), symbols)
    pos = 0
    for s in symbols:  # read() word by word agrees
        got, pos = coder.read(bits, pos)
        assert got == s
    assert pos == bits.size


@PROPERTY
@given(
    n=st.integers(1, 20),
    size=st.integers(1, 60),
    seed=seeds,
    complete=st.booleans(),
    window=st.sampled_from([1, 2, 5, 12]),
)
def test_decoder_agrees_with_reference_on_arbitrary_bits(n, size, seed, complete, window):
    """On random bits: either both decoders reject, or both return symbols that re-encode to them.

    The decoder's look-up window is varied so that words both shorter and longer than it occur.
    """
    rng = np.random.default_rng(seed)
    code = random_code(rng, n, complete)
    coder = PrefixCode(code)
    coder.WINDOW = window
    bits = rng.integers(0, 2, size).astype(np.uint8)
    try:
        expected = reference_decode(bits, code)
    except ValueError:
        with pytest.raises(ValueError, match="bits do not decode"):
            coder.decode(bits)
    else:
        got = coder.decode(bits)
        assert got.tolist() == expected and np.array_equal(coder.encode(got), bits)


@PROPERTY
@given(n=st.integers(3, 30), size=st.integers(0, 50), seed=seeds)
def test_malformed_streams_raise(n, size, seed):
    rng = np.random.default_rng(seed)
    code = random_code(rng, n, complete=True)
    coder = PrefixCode(code)
    longest = int(np.argmax(coder.lengths))  # >= 2 bits, since n >= 3
    bits = coder.encode(np.append(rng.integers(0, n, size), longest))
    with pytest.raises(ValueError, match="ends inside a code word"):
        coder.decode(bits[:-1])  # a cut-off last word never decodes (the code is prefix-free)
    incomplete = PrefixCode(code_from_lengths(np.array([len(c) for c in code]) + 1))
    unused = "1" * int(max(len(c) for c in code) + 1)  # the all-ones branch has no word
    with pytest.raises(ValueError, match="no code word at bit 0"):
        incomplete.decode(np.array(list(unused), dtype=np.uint8))


def test_decode_error_messages_locate_the_problem():
    coder = PrefixCode(["0", "10", "110"])  # "111" is no word
    with pytest.raises(ValueError, match="no code word at bit 3"):
        coder.decode(np.array([0, 1, 0, 1, 1, 1], dtype=np.uint8))
    with pytest.raises(ValueError, match="ends inside a code word at bit 1"):
        coder.decode(np.array([0, 1, 1], dtype=np.uint8))
    with pytest.raises(ValueError, match="no code word at bit 2"):
        coder.read(np.array([0, 0, 1, 1, 1], dtype=np.uint8), 2)
    assert coder.decode(np.zeros(0, dtype=np.uint8)).size == 0
    assert coder.read([True, False], 0) == (1, 2)  # booleans are bits too


def test_read_a_cut_off_word_and_only_the_bits_it_reads():
    coder = PrefixCode(["0", "10", "110"])
    with pytest.raises(ValueError, match="the stream ends inside a code word at bit 2"):
        coder.read(np.array([0, 0, 1, 1], dtype=np.uint8), 2)
    with pytest.raises(ValueError, match="no code word at bit 0"):
        coder.read(np.array([1, 1, 1], dtype=np.uint8), 0)
    bits = np.array([1, 0, 2, 5])  # bad values after the word: not read, not checked
    assert coder.read(bits, 0) == (1, 2)
    with pytest.raises(ValueError, match="only 0s and 1s, got 2 at bit 2"):
        coder.read(bits, 2)
    for bad in (np.array([[0, 1]]), np.array([0.0, 1.0]), "01"):
        with pytest.raises(ValueError, match="1-D array of 0s and 1s"):
            coder.read(bad, 0)


def test_empty_lists_are_empty_streams():
    coder = PrefixCode(["0", "1"])
    encoded, decoded = coder.encode([]), coder.decode([])
    assert encoded.dtype == np.uint8 and encoded.size == 0
    assert decoded.dtype == np.int64 and decoded.size == 0
    assert blocks_to_bits([], 3).size == 0 and bits_to_blocks([], 3).size == 0


@pytest.mark.parametrize(
    ("code", "match"),
    [
        (["0", "01"], "prefix-free"),
        (["01", "1", "0"], "prefix-free"),
        (["10", "0", "10"], "same word twice"),
        (["0", ""], "non-empty strings"),
        (["0", "12"], "strings of 0s and 1s"),
        ("0110", "non-empty list"),
        ([], "non-empty list"),
        ([0, 1], "non-empty list"),
    ],
)
def test_bad_codes_are_rejected(code, match):
    with pytest.raises(ValueError, match=match):
        PrefixCode(code)


def test_encoder_and_decoder_reject_bad_input():
    coder = PrefixCode(["0", "10", "11"])
    for bad, match in (
        (np.array([0, 3]), r"symbols must lie in \[0, 3\)"),
        (np.array([-1]), r"symbols must lie in \[0, 3\)"),
        (np.array([0.0, 1.0]), "symbols must be a 1-D integer array"),
        (np.array([True]), "symbols must be a 1-D integer array"),
        (np.array([[0, 1]]), "symbols must be a 1-D integer array"),
    ):
        with pytest.raises(ValueError, match=match):
            coder.encode(bad)
    for bad, match in (
        (np.array([0, 2]), "only 0s and 1s"),
        (np.array([0.0, 1.0]), "1-D array of 0s and 1s"),
        (np.array([[0, 1]]), "1-D array of 0s and 1s"),
        ("0101", "1-D array of 0s and 1s"),
    ):
        with pytest.raises(ValueError, match=match):
            coder.decode(bad)
    bits = np.array([0, 1, 0], dtype=np.uint8)
    for start, match in ((3, "start must lie in"), (-1, "start must lie in"), (1.0, "integer")):
        with pytest.raises(ValueError, match=match):
            coder.read(bits, start)


@pytest.mark.parametrize("q", [0.1, 0.3])
def test_a_long_block_coded_stream_costs_its_expected_length(q):
    """Tomasi's scheme run end to end: blocks of m = 8 bits, Huffman-coded, sent and decoded."""
    m, rng = 8, np.random.default_rng(5)
    source = (rng.random(m * 20000) < q).astype(np.uint8)
    blocks = block_probabilities(q, m)
    coder = PrefixCode(huffman_code(blocks))
    sent = coder.encode(bits_to_blocks(source, m))
    assert np.array_equal(blocks_to_bits(coder.decode(sent), m), source)
    lengths = coder.lengths.astype(float)
    mean = mean_code_length(coder.words, blocks)
    std = np.sqrt(np.sum(blocks * (lengths - mean) ** 2))
    assert abs(sent.size / 20000 - mean) < 4 * std / np.sqrt(20000)  # the law of large numbers


@pytest.mark.parametrize("window", [1, 4, 12])
def test_words_much_longer_than_the_lookup_window(window):
    """Fibonacci-like weights give Huffman words up to 29 bits: decoded past the window's table."""
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    p = np.array(fib, dtype=float) / sum(fib)
    coder = PrefixCode(huffman_code(p))
    coder.WINDOW = window
    assert coder.lengths.max() == 29
    symbols = np.random.default_rng(1).integers(0, 30, 300)
    bits = coder.encode(symbols)
    assert np.array_equal(coder.decode(bits), symbols)
    assert reference_decode(bits, coder.words) == symbols.tolist()
    longest = int(np.argmax(coder.lengths))
    cut = coder.encode(np.array([longest]))[:-1]
    with pytest.raises(ValueError, match="ends inside a code word at bit 0"):
        coder.decode(cut)
