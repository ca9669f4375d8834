"""Tests of ``experiments/04_gradient_norms.py``, the script behind the chapter "Gradient
norms in weight space".

The chapter loads the script's saved results and re-runs a reduced setting with its own copy of
the script's functions; these tests check that the copy is the same code, run every protocol in
a tiny setting and check the invariants of what it writes, and check that the committed results
have the protocol the chapter describes.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import relunet as rn
from experiment_scripts import load

ROOT = Path(__file__).resolve().parents[1]
exp = load("04_gradient_norms.py")

NOTEBOOK = ROOT / "chapters" / "04b_gradient_norms_weights.ipynb"
SAVED = ROOT / "experiments" / "results"


def _functions(source: str) -> dict[str, str]:
    """Top-level function definitions of ``source``, as syntax-tree dumps without docstrings."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:]
            out[node.name] = ast.dump(node)
    return out


def test_the_chapter_runs_the_scripts_code():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    in_chapter = _functions(code)
    in_script = _functions(Path(exp.__file__).read_text())
    for name in exp.SHARED:
        assert name in in_chapter, f"the chapter does not define {name}"
        assert in_chapter[name] == in_script[name], f"{name} differs between chapter and script"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return exp.main(["--tiny", "--out-dir", str(out)]), out


def test_tiny_run_writes_every_protocol(tiny):
    results, out = tiny
    assert set(results) == set(exp.PROTOCOLS)
    for name, result in results.items():
        saved = json.loads((out / f"04_{name}.json").read_text())
        assert saved["runs"] == json.loads(json.dumps(result["runs"]))
        assert saved["made_with"]["cpu_seconds"] >= 0


def test_tiny_saturation_and_random(tiny):
    results, _ = tiny
    for run in results["saturation"]["runs"].values():
        assert run["tau"] == [1, 4, 16, 64]
        assert np.all(np.diff(run["wrong"]) >= 0)  # larger tau, more confidently wrong
        assert np.all(np.diff(run["ce_median"]) > 0)
        assert all(1 <= k <= 100 for k in run["carriers"])
    for run in results["random"]["runs"].values():
        assert 0 < run["draws"] <= 50 and run["single"] <= run["draws"]
        assert -1 <= run["cos_min"] <= 1 and 0 <= run["obtuse"] <= 1


def test_tiny_ratio_runs_obey_the_bounds(tiny):
    results, _ = tiny
    run = results["ratio"]["runs"]["1"]
    assert len(run["acc"]) == results["ratio"]["protocol"]["epochs"] + 1
    for key in ("margin_half", "margin_gamK", "margin_gam2", "margin_pmin", "margin_lab"):
        assert min(run[key]) >= -1e-14, key
    for w, r in zip(run["w_ratio"], run["rho_S"], strict=True):
        assert 0 < w and 0 < r <= 0.5
    scatter = results["ratio"]["scatter"]
    assert scatter["epochs"] == [0]  # of (0, 5, 15, 30), those within 2 epochs
    rho, py = np.array(scatter["rho"][0]), np.array(scatter["py"][0])
    assert rho.shape == py.shape == (results["ratio"]["protocol"]["n_train"],)
    assert np.all((0 < py) & (py < 1)) and np.all(rho <= 0.5)
    assert np.median(rho) == pytest.approx(run["rho_med"][0], rel=1e-8)


def test_ratio_summary_by_hand():
    """rho_S is the |u_i|^2-weighted root-mean-square of the rho_i; share and unfit count."""
    rng = np.random.default_rng(0)
    net = rn.mlp((5, 8, 4), rng=rng, final_scale=2.0)
    x, y = rng.normal(size=(30, 5)), rng.integers(0, 4, size=30)
    m = exp.ratio_measure(net, x, y)
    s = exp.ratio_summary(m)
    u2, rho = m["u2"], m["rho"]
    assert s["rho_S"] == pytest.approx(np.sqrt(np.sum(u2 * rho**2) / np.sum(u2)), rel=1e-12)
    unfit = m["py"] < 0.5
    assert s["unfit"] == np.mean(unfit)
    assert s["share"] == pytest.approx(u2[unfit].sum() / u2.sum(), rel=1e-12)
    g_ce = rn.loss_gradient(net, rn.CrossEntropy(), x, y)
    g_q = rn.loss_gradient(net, rn.SoftmaxQuadratic(), x, y)
    assert s["w_ratio"] == pytest.approx(np.linalg.norm(g_q) / np.linalg.norm(g_ce), rel=1e-12)


def test_tiny_saturated_runs(tiny):
    results, _ = tiny
    proto, runs = results["saturated"]["protocol"], results["saturated"]["runs"]
    assert len(runs) == len(proto["configs"]) * len(proto["lrs"]) * len(proto["seeds"])
    for key, run in runs.items():
        n = proto["epochs"] + 1 if run["diverged"] is None else run["diverged"]
        for k in ("accuracy", "confidently_wrong", "grad_ce", "grad_quad"):
            assert len(run[k]) == n, key
        assert all(0 <= a <= 1 for a in run["accuracy"] + run["confidently_wrong"])
        assert all(g > 0 for g in run["grad_ce"] + run["grad_quad"])
    # the saturated start makes most samples confidently wrong; He's start does not
    lr, seed = proto["lrs"][0], proto["seeds"][0]
    sat, he = (runs[f"CE/{start}/{lr:g}/{seed}"] for start in ("saturated", "He"))
    assert sat["confidently_wrong"][0] > 0.5 > he["confidently_wrong"][0]


def test_long_and_perturbed_runs_extend_the_grid(tiny):
    """A long run repeats the grid's run over the common epochs; a jitter of 1e-15 is a jitter."""
    x, y = exp.standardised(exp.mnist1d_train())
    x, y = x[:100], y[:100]
    short = exp.saturated_run(x, y, "quad", "He", 0.3, seed=2, epochs=1)
    long = exp.saturated_run(x, y, "quad", "He", 0.3, seed=2, epochs=2)
    assert short == exp.saturated_run(x, y, "quad", "He", 0.3, seed=2, epochs=1)
    for k in ("accuracy", "confidently_wrong", "grad_ce", "grad_quad"):
        assert long[k][:2] == short[k]
    jittered = exp.saturated_run(x, y, "quad", "He", 0.3, seed=2, epochs=0, jitter=0)
    np.testing.assert_allclose(jittered["grad_quad"], short["grad_quad"][:1], rtol=1e-6)
    results, _ = tiny
    for run in results["perturbed"]["runs"].values():
        assert len(run["jittered"]) == 2
        assert len(run["plain"]["accuracy"]) == results["perturbed"]["protocol"]["epochs"] + 1


def test_tiny_kernel_runs_obey_the_bounds(tiny):
    results, _ = tiny
    for protocol in ("kernel", "hidden", "kernel_long"):
        proto, runs = results[protocol]["protocol"], results[protocol]["runs"]
        for key, run in runs.items():
            cols = {c: np.array(run[c]) for c in exp.KER_COLUMNS}
            assert len(cols["step"]) == proto["steps"] // proto["every"] + 1
            assert np.all(cols["lam_min"] <= cols["lam_minus"] + 1e-12 * cols["lam_plus"])
            assert np.all(cols["lam_minus"] <= cols["lam_plus"])
            if key.startswith("sq/"):  # PL for the squared loss (for the weights trained)
                assert np.all(cols["pl_ratio"] >= cols["lam_min"] * (1 - 1e-9))
            else:  # the two bounds of the no-PL theorem
                assert np.all(cols["pl_ratio"] <= 8 * cols["lam_plus"] * cols["loss"] * (1 + 1e-9))
                low = 2 * cols["lam_minus"] * cols["min_py"] ** 2 * cols["loss"] / proto["n"]
                assert np.all(cols["pl_ratio"] >= low * (1 - 1e-9))
            assert run["kernel_change"] >= 0
    for split in results["kernel"]["split"].values():
        assert 0 < split["output_share"] < 1
        assert split["lam_min"] >= max(split["lam_min_output"], split["lam_min_hidden"]) - 1e-9


def test_hidden_training_leaves_the_output_layer():
    """trained="hidden" moves the first layer only: the kernel of the first layer's weights."""
    x, y = exp.three_class_subset(exp.mnist1d_train(), per_class=2)
    a = exp.kernel_run(x, y, "sq", 8, seed=7, steps=0, every=1, trained="hidden")
    net = rn.mlp((x.shape[1], 8, 3), rng=np.random.default_rng(7))
    jac = rn.models.score_jacobian(net, x)[:, : 8 * x.shape[1] + 8]
    assert a["lam_min"][0] == pytest.approx(np.linalg.eigvalsh(jac @ jac.T)[0], rel=1e-10)


def test_basis_S_is_an_orthonormal_basis_of_S():
    q = exp.basis_S(4, 3)
    assert q.shape == (12, 8)
    np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(q.reshape(4, 3, 8).sum(axis=1), 0.0, atol=1e-12)


def test_saved_results_follow_the_protocol():
    load = {name: json.loads((SAVED / f"04_{name}.json").read_text()) for name in exp.PROTOCOLS}
    sat = load["saturated"]
    assert sat["protocol"]["seeds"] == list(exp.SAT_SEEDS) and len(exp.SAT_SEEDS) >= 3
    assert sat["protocol"]["lrs"] == list(exp.SAT_LRS)
    assert np.all(np.diff(np.log10(exp.SAT_LRS)) <= 0.5 + 1e-6)  # factors of at most sqrt(10)
    assert len(sat["runs"]) == 4 * len(exp.SAT_LRS) * len(exp.SAT_SEEDS)
    # the long runs and the unjittered perturbed runs repeat the grid over its 20 epochs
    for key, run in load["long"]["runs"].items():
        for k in ("accuracy", "confidently_wrong"):
            assert run[k][:21] == sat["runs"][key][k][:21], key
    for key, run in load["perturbed"]["runs"].items():
        assert run["plain"]["accuracy"] == sat["runs"][key]["accuracy"], key
    assert load["ratio"]["protocol"]["seeds"] == [1, 2, 3, 4, 5]
    # the chapter's scatter plot: seed 1's per-sample values, the saved medians
    scatter, seed1 = load["ratio"]["scatter"], load["ratio"]["runs"]["1"]
    assert scatter["epochs"] == list(exp.SCATTER_EPOCHS)
    for j, epoch in enumerate(scatter["epochs"]):
        assert len(scatter["rho"][j]) == len(scatter["py"][j]) == 800
        med = np.median(scatter["rho"][j])
        assert med == pytest.approx(seed1["rho_med"][epoch], rel=1e-8)
    assert load["saturation"]["protocol"]["seeds"] == [3, 4, 5, 6]
    assert load["random"]["protocol"]["seeds"] == list(range(8))
    ker = load["kernel"]
    assert ker["protocol"]["seeds"] == list(exp.KER_SEEDS)
    assert ker["protocol"]["widths"] == list(exp.KER_WIDTHS) and ker["protocol"]["steps"] == 1000
    assert load["hidden"]["protocol"]["widths"] == list(exp.HIDDEN_WIDTHS)
    assert load["kernel_long"]["protocol"]["steps"] == 20000
