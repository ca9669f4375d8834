"""The loss-comparison protocol of chapter 2 (``experiments/02_loss_comparison.py``), run tiny."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from experiment_scripts import load


@pytest.fixture(scope="module")
def lc():
    return load("02_loss_comparison.py")


@pytest.fixture(scope="module")
def tiny(lc, tmp_path_factory):
    out = tmp_path_factory.mktemp("losses") / "tiny.json"
    lc.main(["--tiny", "--out", str(out)])
    return json.loads(out.read_text())


def test_grid_is_sqrt10_spaced(lc):
    lrs = [lc.lr_of(k) for k in range(lc.K_MIN, lc.K_MAX + 1)]
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, np.sqrt(10), rtol=1e-3)
    assert lc.lr_of(-2) == 0.1 and lc.lr_of(-1) == 0.3162


def test_score_counts_a_divergence_as_error_one(lc):
    runs = {1: {"val_error": 0.2}, 2: {"status": "diverged", "val_error": 1.0}}
    assert lc.score(runs) == pytest.approx(0.6)
    grid = {-3: {1: {"val_error": 0.5}}, -2: {1: {"val_error": 0.3}}, -1: {1: {"val_error": 0.3}}}
    assert lc.best_k(grid) == -2  # a tie goes to the smaller learning rate


def test_tiny_run_chooses_on_validation_and_tests_only_the_choice(tiny):
    assert tiny["meta"]["tiny"] and tiny["meta"]["seeds"] == [1, 2]
    for loss, chosen in tiny["chosen"].items():
        grids = {init: tiny["grid"][f"{loss}|{init}"] for init in ("He", "small")}
        best = {init: min(g["score"]) for init, g in grids.items()}
        assert best[chosen["init"]] == min(best.values())
        g = grids[chosen["init"]]
        assert chosen["k"] == g["best_k"] and g["score"][g["k"].index(g["best_k"])] == min(
            g["score"]
        )
        assert len(chosen["test_accuracy"]) == 2
        assert all(0.0 <= a <= 1.0 or math.isnan(a) for a in chosen["test_accuracy"])
        # the grid's records carry no test accuracy: the test set is used for the choice only
        for runs in g["runs"].values():
            assert all("test_accuracy" not in r for r in runs.values())
        assert set(tiny["long"][loss]) == {"1", "2"}
        # the chosen runs keep their curves, starting with the initial network (epoch 0)
        for r in chosen["runs"].values():
            if r["status"] != "diverged":
                assert len(r["curves"]["val_error"]) == r["epochs_run"] + 1


def test_grids_are_extended_until_interior_or_bounded(tiny):
    for g in tiny["grid"].values():
        ks = g["k"]
        assert ks == list(range(ks[0], ks[-1] + 1))  # contiguous, sqrt(10) apart
        assert g["interior"] == (ks[0] < g["best_k"] < ks[-1])
        if not g["interior"]:  # only a bound of the tiny grid may stop the extension
            assert g["best_k"] in (-3, 0)


def test_train_reports_divergence(lc):
    data = lc.split(tiny=True)
    rec, net = lc.train(data, "quadratic", "He", 1000.0, 1, epochs=2, patience=1)
    assert rec["status"] == "diverged" and net is None and rec["val_error"] == 1.0
