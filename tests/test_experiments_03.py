"""Tests of experiments/03_pooling_ties.py (chapter 03): its tie rules against hand-computed
gradients and finite differences, the script in a tiny setting, and the committed results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import relunet as rn
from experiment_scripts import load


@pytest.fixture(scope="module")
def ties():
    return load("03_pooling_ties.py")


def backward_of(layer, x, g):
    layer.forward(x)
    return layer.backward(g)


def test_tie_rules_at_a_positive_tie(ties):
    x = np.array([[[3.0, 3.0, 1.0, 2.0]]])  # window 1 ties at 3, window 2 does not
    g = np.array([[[1.0, 5.0]]])
    np.testing.assert_array_equal(backward_of(rn.MaxPool1d(2), x, g), [[[1.0, 0.0, 0.0, 5.0]]])
    split = backward_of(ties.TieRulePool(2, rule="split"), x, g)
    np.testing.assert_array_equal(split, [[[0.5, 0.5, 0.0, 5.0]]])
    last = backward_of(ties.TieRulePool(2, rule="last"), x, g)
    np.testing.assert_array_equal(last, [[[0.0, 1.0, 0.0, 5.0]]])


def test_tie_rules_split_a_three_way_tie_and_handle_overlapping_windows(ties):
    x = np.array([[[2.0, 2.0, 2.0, 0.0, 1.0]]])  # windows of 3, stride 2: (2, 2, 2), (2, 0, 1)
    g = np.array([[[3.0, 1.0]]])
    split = backward_of(ties.TieRulePool(3, stride=2, rule="split"), x, g)
    np.testing.assert_allclose(split, [[[1.0, 1.0, 2.0, 0.0, 0.0]]])  # 1 + 1 + (1 + 1)
    last = backward_of(ties.TieRulePool(3, stride=2, rule="last"), x, g)
    np.testing.assert_array_equal(last, [[[0.0, 0.0, 4.0, 0.0, 0.0]]])


@pytest.mark.parametrize("rule", ["split", "last"])
def test_tie_rules_equal_relunet_without_ties_and_pass_the_gradient_check(ties, rule):
    rng = np.random.default_rng(4)
    x = 0.1 * rng.permutation(2 * 3 * 12).reshape(2, 3, 12)  # all entries distinct
    layer = ties.TieRulePool(3, stride=2, rule=rule)
    g = rng.standard_normal((2, 3, 5))
    np.testing.assert_array_equal(backward_of(layer, x, g), backward_of(rn.MaxPool1d(3, 2), x, g))
    rn.check_layer(layer, x, rng, tol=1e-7)


def test_tie_rule_rejects_unknown_rule(ties):
    with pytest.raises(ValueError, match="rule"):
        ties.TieRulePool(2, rule="random")


def test_relu_one_at_zero(ties):
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(
        backward_of(ties.ReLUOneAtZero(), x, np.ones((1, 3))), [[0, 1, 1]]
    )
    np.testing.assert_array_equal(backward_of(rn.ReLU(), x, np.ones((1, 3))), [[0, 0, 1]])


def test_conventions_differ_where_a_kink_is_on_the_slope(ties):
    """A control: with an exact zero pre-activation that matters, the variants do disagree."""
    net = ties.build_cnn(np.random.default_rng(0))
    for _, p, _ in net.named_parameters():
        p[...] = 0.0
    net.layers[7].params["W"][...] = np.random.default_rng(1).standard_normal((10, 160))
    x = np.zeros((2, 1, 40))
    y = np.array([0, 1])
    counts = ties.kink_counts(net, x)
    assert counts["relu"][0]["zeros"] == counts["relu"][0]["total"]  # every a is exactly 0
    diffs = ties.convention_differences(net, x, y)
    assert diffs["split ties"]["all"] == 0.0 and diffs["last maximum"]["all"] == 0.0  # h'(0) = 0
    assert diffs["h'(0) = 1, split ties"]["all"] > 0.1  # with h'(0) = 1 the kinks pass gradient


def test_kink_counts_on_a_known_signal(ties):
    net = ties.build_cnn(np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((3, 1, 40))
    counts = ties.kink_counts(net, x)
    assert [r["total"] for r in counts["relu"]] == [3 * 16 * 40, 3 * 16 * 20]
    assert [p["windows"] for p in counts["pool"]] == [3 * 16 * 20, 3 * 16 * 10]
    for p in counts["pool"]:
        assert 0 <= p["ties_positive"] <= p["ties"] <= p["near_ties"] <= p["windows"]


def test_quick_run_writes_consistent_results(ties, tmp_path):
    out = tmp_path / "ties.json"
    ties.main(["--quick", "--out", str(out)])
    results = json.loads(out.read_text())
    assert set(results["quick"]) == set(ties.SETUPS)
    for setup, result in results["quick"].items():
        assert result["setup"] == setup and result["setting"] == ties.QUICK
        (run,) = result["runs"]
        assert len(run["checks"]) == ties.QUICK["check_batches"]
        for when in ("init", "trained"):
            m = run[when]
            assert 0.0 <= m["test_accuracy"] <= 1.0
            for p in m["pool"]:
                assert p["ties_positive_zero_field"] <= p["ties_positive"] <= p["ties"]
                assert p["ties_zero_field"] <= p["ties"] and p["ties_same_field"] <= p["ties"]
            no_kink_on_a_slope = all(r["zeros"] == 0 for r in m["relu"]) and all(
                p["ties_positive"] == 0 for p in m["pool"]
            )
            if no_kink_on_a_slope:  # then every convention must give relunet's gradient
                assert max(d["all"] for d in m["convention_differences"].values()) <= 1e-15
    background = results["quick"]["flat background"]["input_zero_fraction"]
    assert results["quick"]["standard"]["input_zero_fraction"] == 0.0 < background


def test_committed_results_have_the_protocol(ties):
    saved = json.loads(ties.RESULTS.read_text())
    assert set(saved["full"]) == set(ties.SETUPS) and saved["reduced"]["setting"] == ties.REDUCED
    full_runs = []
    for setup, result in saved["full"].items():
        assert result["setup"] == setup and result["setting"] == ties.FULL
        assert [r["seed"] for r in result["runs"]] == ties.FULL["seeds"]
        full_runs += result["runs"]
    for run in full_runs + saved["reduced"]["runs"]:
        for when in ("init", "trained"):
            assert set(run[when]["convention_differences"]) == set(ties.VARIANTS)
            keys = {"ties_zero_field", "ties_same_field", "ties_positive_zero_field"}
            assert all(keys <= set(p) for p in run[when]["pool"])


def test_pool_first_is_the_same_function_and_order_is_checked(ties):
    x = np.random.default_rng(3).standard_normal((4, 1, 40))
    standard = ties.build_cnn(np.random.default_rng(5))
    pool_first = ties.build_cnn(np.random.default_rng(5), order="pool-relu")
    np.testing.assert_array_equal(standard(x), pool_first(x))  # max h(a) = h(max a), exactly
    with pytest.raises(ValueError, match="order"):
        ties.build_cnn(np.random.default_rng(5), order="relu-relu")


def test_ties_of_a_bias_are_traced_to_all_zero_fields(ties):
    net = ties.build_cnn(np.random.default_rng(6))
    net.layers[0].params["b"][...] = np.linspace(-1.0, 1.0, 16)  # 8 negative, 8 positive
    x = np.zeros((2, 1, 40))  # conv 1 outputs its bias everywhere: every window is tied
    (pool1, _) = ties.kink_counts(net, x)["pool"]
    assert pool1["windows"] == pool1["ties"] == pool1["ties_zero_field"] == 2 * 16 * 20
    assert pool1["ties_same_field"] == pool1["ties"]
    assert pool1["ties_positive"] == pool1["ties_positive_zero_field"] == 2 * 8 * 20
    assert pool1["ties_positive_same_field"] == pool1["ties_positive"]
    x[1, 0, 20:] = np.random.default_rng(7).standard_normal(20)  # signal 2: half not zero
    (pool1, _) = ties.kink_counts(net, x)["pool"]
    # signal 1 and the first 9 windows of signal 2 read all-zero fields, signal 2's last 11 do not
    assert pool1["ties_zero_field"] == 16 * (20 + 9) < pool1["ties"]  # ties at 0 of other fields
    assert 8 * (20 + 9) <= pool1["ties_positive_zero_field"] <= 8 * (20 + 11)
    assert pool1["ties_positive_zero_field"] <= pool1["ties_positive_same_field"]
    assert pool1["ties_positive_same_field"] <= pool1["ties_positive"]


def test_flat_background_zeroes_most_inputs(ties):
    data = rn.data.mnist1d(num_samples=100, as_signal=True)
    flat = ties.with_background(data, ties.BACKGROUND)
    assert np.mean(flat.x == 0.0) > 0.5 and np.all(flat.x >= 0.0)
    np.testing.assert_array_equal(flat.x, np.maximum(data.x - ties.BACKGROUND, 0.0))
    assert flat.y is data.y


def test_summary_and_span(ties):
    saved = json.loads(ties.RESULTS.read_text())
    m = saved["reduced"]["runs"][0]["trained"]
    s = ties.summary(m)
    assert s["ties"] == sum(p["ties"] for p in m["pool"]) and len(s["tie_frac"]) == 2
    assert s["zero_field"] <= s["ties_positive"] <= s["ties"]
    assert s["max_difference"] >= s["rule_diff"] and s["acc"] == m["test_accuracy"]
    assert ties.span([0.5, 0.25], "{:.2f}") == "0.25\u20130.50"
    assert ties.span([0.501, 0.502], "{:.1f}") == "0.5"
