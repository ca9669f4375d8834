"""The experiment script of chapter 4 (``experiments/04_gradient_norms.py``), in its tiny setting.

The chapter loads the script's saved results and re-runs one seed of each protocol; these tests
run both protocols small, check the shape and the invariants of what they write, check the two
helpers the chapter imports (``score_jacobian``, ``basis_S``) against ``relunet``, and check
that the saved results have the protocol the chapter describes.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import relunet as rn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "04_gradient_norms.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("gradnorms_experiments", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(exp, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    results = exp.main(["--tiny", "--out-dir", str(out)])
    return results, out


def test_tiny_run_writes_both_protocols(tiny):
    results, out = tiny
    for name, filename in (
        ("saturated", "04_saturated_start.json"),
        ("kernel", "04_tangent_kernel.json"),
    ):
        saved = json.loads((out / filename).read_text())
        assert saved["runs"] == results[name]["runs"]
        assert saved["made_with"]["cpu_seconds"] >= 0


def test_tiny_saturated_runs(tiny):
    results, _ = tiny
    proto, runs = results["saturated"]["protocol"], results["saturated"]["runs"]
    assert len(runs) == len(proto["losses"]) * len(proto["starts"]) * len(proto["lrs"]) * len(
        proto["seeds"]
    )
    for key, run in runs.items():
        n = proto["epochs"] + 1 if run["diverged"] is None else run["diverged"]
        assert all(
            len(run[k]) == n for k in ("accuracy", "confidently_wrong", "grad_ce", "grad_quad")
        ), key
        assert all(0 <= a <= 1 for a in run["accuracy"] + run["confidently_wrong"])
        assert all(g > 0 for g in run["grad_ce"] + run["grad_quad"])
    # the saturated start makes most samples confidently wrong; He's start does not
    first = {
        start: runs[f"CE/{start}/{proto['lrs'][0]:g}/{proto['seeds'][0]}"]
        for start in proto["starts"]
    }
    assert first["saturated"]["confidently_wrong"][0] > 0.5 > first["He"]["confidently_wrong"][0]


def test_saturated_run_is_reproducible(exp):
    x, y = exp.standardised(exp.mnist1d_train())
    a = exp.saturated_run(x[:100], y[:100], "quad", "He", 0.3, seed=2, epochs=1)
    b = exp.saturated_run(x[:100], y[:100], "quad", "He", 0.3, seed=2, epochs=1)
    assert a == b


def test_tiny_kernel_runs_obey_the_bounds(tiny):
    results, _ = tiny
    proto, runs = results["kernel"]["protocol"], results["kernel"]["runs"]
    n = proto["n"]
    for key, run in runs.items():
        cols = {c: np.array(run[c]) for c in proto["columns"]}
        assert len(cols["step"]) == proto["steps"] // proto["every"] + 1
        assert np.all(cols["lam_min"] <= cols["lam_minus"] + 1e-12 * cols["lam_plus"])  # min-max
        assert np.all(cols["lam_minus"] <= cols["lam_plus"])
        if key.startswith("sq/"):  # PL for the squared loss on the scores
            assert np.all(cols["pl_ratio"] >= cols["lam_min"] * (1 - 1e-9))
        else:  # the two bounds of the no-PL theorem
            assert np.all(cols["pl_ratio"] <= 8 * cols["lam_plus"] * cols["loss"] * (1 + 1e-9))
            low = 2 * cols["lam_minus"] * cols["min_py"] ** 2 * cols["loss"] / n
            assert np.all(cols["pl_ratio"] >= low * (1 - 1e-9))
        assert run["kernel_change"] >= 0


def test_score_jacobian_matches_finite_differences(exp):
    rng = np.random.default_rng(0)
    net = rn.mlp((4, 6, 3), rng=rng)
    x = rng.normal(size=(2, 4))
    a = exp.score_jacobian(net, x)
    assert a.shape == (2 * 3, rn.flat_parameters(net).size)
    for i in range(2):
        fd = np.hstack(
            [
                rn.numerical_jacobian(lambda i=i: net(x[i : i + 1])[0], w)
                for w, _ in net.parameters()
            ]
        )
        assert rn.relative_error(a[3 * i : 3 * i + 3], fd) < 1e-7
    # and A^T g is the back-propagated gradient of the summed loss
    loss = rn.SoftmaxQuadratic()
    y = np.array([0, 2])
    g = loss.sample_grad(net(x), y).ravel()
    np.testing.assert_allclose(
        a.T @ g, rn.loss_gradient(net, loss, x, y, reduction="sum"), rtol=1e-10, atol=1e-13
    )


def test_basis_S_is_an_orthonormal_basis_of_S(exp):
    q = exp.basis_S(4, 3)
    assert q.shape == (12, 8)
    np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(q.reshape(4, 3, 8).sum(axis=1), 0.0, atol=1e-12)


def test_saved_results_follow_the_protocol(exp):
    sat = json.loads((ROOT / "experiments/results/04_saturated_start.json").read_text())
    assert sat["protocol"]["seeds"] == list(exp.SAT_SEEDS) and len(exp.SAT_SEEDS) >= 3
    assert sat["protocol"]["lrs"] == list(exp.SAT_LRS)
    ratios = np.diff(np.log10(exp.SAT_LRS))
    assert np.all(ratios <= 0.5 + 1e-6)  # factors of at most sqrt(10) (the grid has 6 digits)
    assert len(sat["runs"]) == 2 * 2 * len(exp.SAT_LRS) * len(exp.SAT_SEEDS)
    ker = json.loads((ROOT / "experiments/results/04_tangent_kernel.json").read_text())
    assert ker["protocol"]["seeds"] == list(exp.KER_SEEDS) and ker["protocol"]["widths"] == list(
        exp.KER_WIDTHS
    )
    assert ker["protocol"]["steps"] == exp.KER_STEPS
