"""The experiment script of chapter 5 (``experiments/05_sgd.py``) in its tiny setting:
every protocol runs and writes what the chapter reads; a run is reproducible and a shorter run
is a prefix of a longer one (the chapter re-runs 3 epochs of a stored 20-epoch run)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from experiment_scripts import load


@pytest.fixture(scope="module")
def ex():
    return load("05_sgd.py")


@pytest.fixture(scope="module")
def tiny_data(ex):
    return ex.split(tiny=True)


def test_tiny_run_writes_every_protocol(ex, tmp_path):
    out = tmp_path / "r.json"
    results = ex.main(["--tiny", "--out", str(out)])
    assert json.loads(out.read_text(), parse_constant=float).keys() == results.keys()
    assert not out.with_suffix(".partial.json").exists()  # the checkpoint is removed at the end
    for protocol in ("momentum", "schedules", "batch_size", "termination", "late_momentum"):
        assert results[protocol], protocol
        for key, run in results[protocol].items():
            assert run["diverged"] is None, (protocol, key)
            assert len(run["loss"]) == len(run["val_error"]) == 3, (protocol, key)  # 2 epochs
            assert all(math.isfinite(v) and v > 0 for v in run["loss"]), (protocol, key)
    term = next(iter(results["termination"].values()))
    assert {"test_error", "weight_norm", "grad_norm", "step_norm"} <= term.keys()
    assert len(term["step_norm"]) == 3 and math.isnan(term["step_norm"][0])
    assert set(results["seconds_per_epoch"]) == {str(b) for b in ex.BATCH_LRS}
    assert all(t > 0 for t in results["seconds_per_epoch"].values())
    assert results["meta"]["tiny"] is True and results["meta"]["n_train"] == 300
    sched = results["schedules"]["step|0.03|0"]
    assert sched["lr"] == [0.03, 0.03, 0.03]  # StepDecay(every=10) does not act in 2 epochs


def test_train_is_reproducible_and_a_shorter_run_is_a_prefix(ex, tiny_data):
    a = ex.train(tiny_data, 1, lr=0.03, momentum=0.9, nesterov=True, epochs=3)
    b = ex.train(tiny_data, 1, lr=0.03, momentum=0.9, nesterov=True, epochs=3)
    short = ex.train(tiny_data, 1, lr=0.03, momentum=0.9, nesterov=True, epochs=2)
    assert a.keys() == b.keys()
    for field in a:
        np.testing.assert_equal(a[field], b[field])  # NaN == NaN here (step_norm[0])
    for field in ("loss", "train_error", "val_error"):
        assert short[field] == a[field][:3]


def test_train_switches_phases_and_detects_divergence(ex, tiny_data):
    plain = ex.train(tiny_data, 0, lr=0.1, epochs=2)
    switched = ex.train(tiny_data, 0, lr=0.1, epochs=2, phases={2: (0.01, 0.9)})
    assert switched["loss"][:2] == plain["loss"][:2] and switched["loss"][2] != plain["loss"][2]
    blown = ex.train(tiny_data, 0, lr=50.0, momentum=0.99, epochs=3)
    assert blown["diverged"] == 1 and len(blown["loss"]) == 1


def test_epoch_seconds_is_positive(ex, tiny_data):
    assert ex.epoch_seconds(tiny_data, 32, samples=64, reps=1) > 0
    assert np.isfinite(ex.epoch_seconds(tiny_data, 300, samples=300, reps=1))
