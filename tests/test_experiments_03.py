"""Tests of experiments/03_pooling_ties.py (chapter 03): its tie rules against hand-computed
gradients and finite differences, the script in a tiny setting, and the committed results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import relunet as rn

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "03_pooling_ties.py"


@pytest.fixture(scope="module")
def ties():
    spec = importlib.util.spec_from_file_location("pooling_ties", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert diffs["split ties"] == 0.0 and diffs["last maximum"] == 0.0  # h'(0) = 0 kills all
    assert diffs["h'(0) = 1, split ties"] > 0.1  # with h'(0) = 1 the kinks pass gradient


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
    (run,) = results["quick"]["runs"]
    for when in ("init", "trained"):
        m = run[when]
        assert 0.0 <= m["test_accuracy"] <= 1.0
        no_kink_on_a_slope = all(r["zeros"] == 0 for r in m["relu"]) and all(
            p["ties_positive"] == 0 for p in m["pool"]
        )
        if no_kink_on_a_slope:  # then every convention must give relunet's gradient
            assert max(m["convention_differences"].values()) <= 1e-15


def test_committed_results_have_the_protocol(ties):
    saved = json.loads(ties.RESULTS.read_text())
    assert saved["full"]["setting"] == ties.FULL and saved["reduced"]["setting"] == ties.REDUCED
    assert [r["seed"] for r in saved["full"]["runs"]] == ties.FULL["seeds"]
    for run in saved["full"]["runs"] + saved["reduced"]["runs"]:
        for when in ("init", "trained"):
            assert set(run[when]["convention_differences"]) == set(ties.VARIANTS)
