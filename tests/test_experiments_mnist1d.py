"""The MNIST-1D protocol (experiments/mnist1d_table.py) in a reduced setting, and the committed
results it wrote in the full setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from experiment_scripts import load

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mnist1d_table.py"


@pytest.fixture(scope="module")
def table():
    return load("mnist1d_table.py")


@pytest.fixture(scope="module")
def quick(table, tmp_path_factory):
    """The protocol end to end on 200 training signals, two epochs, three models."""
    cfg = replace(table.QUICK, models=("linear", "mlp_paper", "cnn"), n_train=200)
    out = tmp_path_factory.mktemp("mnist1d")
    logged = []
    doc = table.run(cfg, out, log=logged.append)
    return cfg, out, doc, logged


def test_the_script_runs_in_the_quick_setting(table, tmp_path):
    """``python experiments/mnist1d_table.py --quick``: the command line, end to end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    doc = json.loads((tmp_path / table.TABLE_FILE).read_text())
    assert table.config_from(doc) == table.QUICK
    for key, r in doc["results"].items():
        assert f"{key:<22} test accuracy {r['test_acc']['mean']:.4f}" in out
    assert (tmp_path / table.WEIGHTS_FILE).exists()


def test_reduced_run_writes_the_table_and_the_weights(table, quick):
    cfg, out, doc, logged = quick
    assert json.loads((out / table.TABLE_FILE).read_text()) == doc
    assert set(doc["results"]) == {f"{m}/{i}" for m in cfg.models for i in cfg.inputs}
    assert sorted(doc["permutation"]) == list(range(40)) and doc["permutation"] != list(range(40))
    for r in doc["results"].values():
        assert [f["seed"] for f in r["finals"]] == list(cfg.final_seeds)
        assert all(0.0 <= f["test_acc"] <= 1.0 for f in r["finals"])
        t = r["tuning"]
        assert t["lr"] in t["grids"][table.setting_name(t["keep"], t["batch_size"])]["lr"]
        assert r["test_acc"]["n"] == len(cfg.final_seeds)
    assert any(isinstance(item, dict) and "test_acc" in item for item in logged)
    weights = np.load(out / table.WEIGHTS_FILE)
    assert sum(name.endswith(".W") for name in weights.files) == 4  # three convolutions, one linear


def test_a_saved_run_reproduces_exactly(table, quick):
    """Same machine, same kernel: retraining a final run gives its recorded test accuracy."""
    cfg, out, doc, _ = quick
    r = doc["results"]["cnn/plain"]
    rec = r["finals"][0]
    data = table.load("plain", cfg)
    net, again = table.train(
        "cnn", rec["lr"], rec["keep"], rec["batch_size"], rec["seed"], data, cfg
    )
    assert table.test_accuracy(net, data) == rec["test_acc"]
    assert again["val_acc"] == rec["val_acc"]
    saved = table.build("cnn", np.random.default_rng(0), rec["keep"])
    saved.load(out / table.WEIGHTS_FILE)
    assert table.test_accuracy(saved, data) == rec["test_acc"]


def test_a_cache_resumes_with_the_same_results(table, tmp_path):
    cfg = replace(table.QUICK, models=("linear", "cnn"), inputs=("plain",), n_train=200)
    path = tmp_path / "runs.jsonl"
    first = table.run(cfg, tmp_path / "a", log=lambda item: None, cache=table.RunCache(path))
    cache = table.RunCache(path)
    second = table.run(cfg, tmp_path / "b", log=lambda item: None, cache=cache)
    assert first == second
    n_runs = sum(len(r["tuning"]["runs"]) + len(r["finals"]) for r in first["results"].values())
    assert cache.reused == n_runs  # the CNN run whose weights are saved is rerun and checked
    assert (tmp_path / "b" / table.WEIGHTS_FILE).read_bytes() == (
        tmp_path / "a" / table.WEIGHTS_FILE
    ).read_bytes()


class FakeCache:
    """Validation accuracy that grows as the keep probability falls to 0.4, peaks at alpha 0.1."""

    def train(self, model, inputs, lr, keep, batch, seed, data, cfg):
        acc = 0.5 - abs(keep - 0.4) - 0.01 * abs(np.log10(lr) + 1)
        return None, {"lr": lr, "keep": keep, "batch_size": batch, "seed": seed, "val_acc": acc}

    def store(self, *args):
        pass


def test_keep_grid_extends_downwards_until_interior(table):
    cfg = replace(table.Config(), recipes={"cnn": table.Recipe(keeps=(1.0, 0.8))})
    tuned = table.tune("cnn", "plain", {}, cfg, lambda item: None, FakeCache())
    assert tuned["keep_grids"]["100"] == {
        "keeps": [0.2, 0.4, 0.6, 0.8, 1.0],
        "best_keep": 0.4,
        "interior_or_none": True,
    }
    assert (tuned["keep"], tuned["lr"]) == (0.4, 0.1)
    assert all(g["interior"] for g in tuned["grids"].values())


def test_kernel_check_reruns_in_fresh_processes(table, quick):
    """Under the kernel that made the results the reruns are exact; the report has both kernels."""
    _, out, doc, _ = quick
    report = table.kernel_check(out, log=lambda item: None)
    assert report["kernels"] == ["default", table.SECOND_KERNEL]
    default = report["found"]["default"]
    for model in table.RERUN_MODELS:
        saved = doc["results"][f"{model}/plain"]["finals"][0]
        assert default[model]["test_acc"] == saved["test_acc"]
        assert default[model]["val_acc"] == saved["val_acc"]
    assert (
        default["cnn_weights"]["test_acc"] == doc["results"]["cnn/plain"]["finals"][0]["test_acc"]
    )
    assert set(report["max_gap"]) == {*table.RERUN_MODELS, "cnn_weights"}
    assert json.loads((out / table.KERNELS_FILE).read_text()) == report


def test_grid_extends_until_the_best_is_interior(table, tmp_path):
    """A learning rate far too small at the start: the grid grows upwards past the optimum."""
    cfg = replace(
        table.QUICK,
        models=("linear",),
        inputs=("plain",),
        lr_start=(-6, -5),  # 0.001 and 0.00316
        lr_bounds=(-8, 2),
        recipes={"linear": table.Recipe(epochs=5, decay_every=10, patience=5)},
        n_train=1000,
    )
    doc = table.run(cfg, tmp_path, log=lambda item: None)
    grid = doc["results"]["linear/plain"]["tuning"]["grids"]["keep=1,batch=100"]
    assert len(grid["lr"]) > 2 and grid["interior"]
    ratios = np.diff(np.log10(grid["lr"]))
    np.testing.assert_allclose(ratios, 0.5, rtol=1e-9)  # a factor sqrt(10) apart


def test_config_roundtrips_through_json(table, quick):
    cfg, _, doc, _ = quick
    assert table.config_from(doc) == cfg
    assert table.config_from(json.loads(json.dumps({"config": table.asdict(table.Config())}))) == (
        table.Config()
    )


def test_bad_names_are_rejected(table):
    with pytest.raises(ValueError, match="model must be one of"):
        table.build("resnet", np.random.default_rng(0))
    with pytest.raises(ValueError, match="inputs must be"):
        table.load("reversed", table.QUICK)


# --------------------------------------------------------------------------- committed results


@pytest.fixture(scope="module")
def committed(table):
    path = table.RESULTS / table.TABLE_FILE
    if not path.exists():
        pytest.skip("no committed results yet")
    return json.loads(path.read_text())


def test_committed_results_follow_the_protocol(table, committed):
    cfg = table.config_from(committed)
    assert len(cfg.final_seeds) >= 5 and not set(cfg.final_seeds) & set(cfg.tune_seeds)
    for key, r in committed["results"].items():
        tuning = r["tuning"]
        assert all(g["interior_or_none"] for g in tuning["keep_grids"].values()), key
        for grid in tuning["grids"].values():
            ratios = np.diff(np.log10(grid["lr"]))
            assert np.all(ratios <= 0.5 + 1e-9), key  # at most sqrt(10) apart
            assert grid["interior"], key
        accs = [f["test_acc"] for f in r["finals"]]
        assert [f["seed"] for f in r["finals"]] == list(cfg.final_seeds), key
        assert all(
            (f["lr"], f["keep"], f["batch_size"])
            == (tuning["lr"], tuning["keep"], tuning["batch_size"])
            for f in r["finals"]
        )
        assert r["test_acc"]["mean"] == pytest.approx(np.mean(accs), abs=1e-12)
        assert r["test_acc"]["sd"] == pytest.approx(np.std(accs, ddof=1), abs=1e-12)
        chosen = tuning["grids"][table.setting_name(tuning["keep"], tuning["batch_size"])]
        assert chosen["best_lr"] == tuning["lr"]
        assert chosen["best_val_acc"] == max(g["val_acc"][g["lr"].index(g["best_lr"])]
                                             for g in tuning["grids"].values())  # fmt: skip
        assert len(tuning["runs"]) == len(cfg.tune_seeds) * sum(
            len(g["lr"]) for g in tuning["grids"].values()
        )


def test_committed_files_are_small(table, committed):
    total = sum(p.stat().st_size for p in table.RESULTS.glob("mnist1d_*"))
    assert total < 400_000
