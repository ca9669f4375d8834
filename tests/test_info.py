"""Tests of relunet.info: entropy, cross entropy, KL divergence and Huffman codes (Tomasi,
Appendix A), with Huffman's optimality checked against a brute-force search."""

from __future__ import annotations

import itertools
import warnings
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relunet.info import (
    block_probabilities,
    cross_entropy,
    entropy,
    huffman_code,
    is_prefix_free,
    kl_divergence,
    mean_code_length,
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


def test_huffman_is_deterministic_and_handles_one_symbol():
    p = [0.25, 0.25, 0.25, 0.25]
    assert huffman_code(p) == huffman_code(p)
    assert sorted(code_lengths(huffman_code(p))) == [2, 2, 2, 2]
    assert huffman_code([1.0]) == ["0"]


def test_mean_code_length_rejects_wrong_length():
    with pytest.raises(ValueError, match="code must have one word per symbol"):
        mean_code_length(["0", "1"], [0.5, 0.25, 0.25])


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


@pytest.mark.parametrize(("q", "m"), [(-0.1, 2), (1.1, 2), (0.5, 0)])
def test_block_probabilities_rejects_bad_arguments(q, m):
    with pytest.raises(ValueError, match="q must lie in"):
        block_probabilities(q, m)
