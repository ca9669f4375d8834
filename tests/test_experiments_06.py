"""Tests of experiments/dropout_overfit.py (chapter 06), run in its tiny setting: it completes,
writes the record the chapter reads, chooses interior learning rates, and its
per-epoch record is the same computation as ``relunet.fit`` with a validation set (the chapter's
rerun relies on that)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from experiment_scripts import load
from relunet import SGD, CrossEntropy, evaluate, fit

experiment = load("dropout_overfit.py")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("dropout") / "record.json"
    experiment.main(["--tiny", "--quiet", "--out", str(out)])
    return json.loads(out.read_text())


def test_record_has_every_configuration_and_rule(record):
    s = record["settings"]
    assert s == json.loads(json.dumps(experiment.TINY))
    assert [(r["p_in"], r["p_h"]) for r in record["results"]] == [tuple(c) for c in s["configs"]]
    for r in record["results"]:
        for rule in ("final", "early_stopping"):
            q = r[rule]
            grid = sorted(round(2 * np.log10(float(v))) for v in q["val_error_by_lr"])
            assert grid[0] < q["lr_exponent"] < grid[-1]  # interior
            assert grid == list(range(grid[0], grid[-1] + 1))  # a factor sqrt(10) apart
            assert len(q["test_error"]) == len(s["seeds"])
            assert all(0.0 <= e <= 1.0 for e in q["test_error"])
        assert len(r["curves"]) == len(s["seeds"])
        assert all(len(c["val_error"]) == s["epochs"] + 1 for c in r["curves"])


def test_monte_carlo_record(record):
    s = record["settings"]
    for runs in record["mc"].values():
        assert [r["seed"] for r in runs] == s["seeds"]
        for r in runs:
            assert len(r["tv_arith"]) == len(s["mc_sizes"])
            assert all(0.0 <= v <= 1.0 for v in r["tv_arith"] + r["tv_geo"])
            # one sample: the arithmetic and geometric means coincide
            assert r["tv_arith"][0] == pytest.approx(r["tv_geo"][0], rel=1e-12)


def test_record_is_what_fit_computes(record):
    s = record["settings"]
    data = experiment.load_data(s)
    cfg = (1.0, 0.5)
    r = next(r for r in record["results"] if (r["p_in"], r["p_h"]) == cfg)
    seed, chosen = s["seeds"][0], r["early_stopping"]
    net = experiment.build(*cfg, s["width"], seed)
    hist = fit(
        net,
        CrossEntropy(),
        SGD(chosen["lr"], s["momentum"]),
        data["x"],
        data["y"],
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        rng=experiment.order_rng(seed),
        x_val=data["x_val"],
        y_val=data["y_val"],
    )
    assert hist.val_error == r["curves"][0]["val_error"]
    assert hist.train_error == r["curves"][0]["train_error"]
    assert hist.loss == r["curves"][0]["train_loss"]
    assert hist.best_epoch == chosen["best_epoch"][0]
    _, test_error = evaluate(net, CrossEntropy(), data["x_test"], data["y_test"])
    assert test_error == chosen["test_error"][0]


def test_committed_record_is_the_full_protocol():
    """The record the chapter loads was written by this script's full setting."""
    path = Path(experiment.__file__).parent / "results" / "dropout_overfit.json"
    committed = json.loads(path.read_text())
    assert committed["settings"] == json.loads(json.dumps(experiment.FULL))
    s = committed["settings"]
    assert len(s["seeds"]) >= 3
    assert [(r["p_in"], r["p_h"]) for r in committed["results"]] == [tuple(c) for c in s["configs"]]
    for r in committed["results"]:
        for rule in ("final", "early_stopping"):
            q = r[rule]
            grid = sorted(round(2 * np.log10(float(v))) for v in q["val_error_by_lr"])
            assert grid[0] < q["lr_exponent"] < grid[-1]
            assert not any(q["diverged"])
    assert sorted(committed["mc"]) == sorted(f"{c[0]},{c[1]}" for c in s["mc_configs"])
