"""Dropout against over-fitting on a small MNIST-1D subset, and Monte-Carlo averaging of
sub-networks against weight scaling (chapter 06, "Dropout").

For every dropout configuration (keep probabilities p_in of the inputs and p_h of the hidden
units) the learning rate is chosen on the validation set from a grid spaced by a factor sqrt(10),
extended until the best value is interior; at the chosen rate the test error is measured for
several seeds, once with the final weights and once with the weights of the lowest validation
error (early stopping with the best weights restored).  The test set is read only for the chosen
rates.  Then, for trained dropout networks, the Monte-Carlo average of M sampled sub-networks'
soft-max outputs is compared with the weight-scaled network as M grows.

    python experiments/dropout_overfit.py --jobs 2   # the full protocol (about an hour on 2 cores)
    python experiments/dropout_overfit.py --tiny     # a few seconds: checks that it runs

Results go to experiments/results/dropout_overfit.json (--out to change), which the chapter loads.
Run it with one BLAS thread (the Makefile's environment) so that it reproduces.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import relunet as rn
from relunet import SGD, CrossEntropy, Dropout, Linear, ReLU, Sequential, evaluate, fit
from relunet.dropout import ensemble_softmax, sample_scores

FULL = dict(
    n_train=500,  # the small training subset
    n_val=1000,  # validation samples, from the rest of the MNIST-1D training set
    width=256,
    epochs=100,
    batch_size=50,
    momentum=0.9,
    split_seed=0,
    seeds=[0, 1, 2, 3, 4],
    lr_exponents=[-4, -3, -2],  # lr = 10 ** (k / 2): 0.01, 0.0316, 0.1 to start
    configs=[
        [1.0, 1.0],
        [1.0, 0.75],
        [1.0, 0.5],
        [1.0, 0.25],
        [0.9, 1.0],
        [0.8, 1.0],
        [0.9, 0.5],
        [0.8, 0.5],
    ],
    mc_configs=[[1.0, 0.75], [1.0, 0.5], [1.0, 0.25]],
    mc_sizes=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    mc_seed=2024,
)
TINY = dict(
    FULL,
    num_samples=400,
    n_train=60,
    n_val=60,
    width=16,
    epochs=3,
    seeds=[0, 1],
    configs=[[1.0, 1.0], [1.0, 0.5]],
    mc_configs=[[1.0, 0.5]],
    mc_sizes=[1, 2, 4],
)


def load_data(s):
    """The MNIST-1D training pool split into a small training set and a validation set; the test set."""
    d = rn.data.mnist1d(num_samples=s.get("num_samples", 5000))  # 5000: the paper's data set
    order = np.random.default_rng(s["split_seed"]).permutation(len(d.x))
    tr, va = order[: s["n_train"]], order[s["n_train"] : s["n_train"] + s["n_val"]]
    return dict(
        x=d.x[tr], y=d.y[tr], x_val=d.x[va], y_val=d.y[va], x_test=d.x_test, y_test=d.y_test
    )


def build(p_in, p_h, width, seed):
    """40 -> width -> width -> 10 ReLU network; dropout (the notes' scale mode) where p < 1."""
    r = np.random.default_rng(seed)
    layers = [Dropout(p_in, rng=r, mode="scale")] if p_in < 1 else []
    for d_in in (40, width):
        layers += [Linear(d_in, width, rng=r), ReLU()]
        if p_h < 1:
            layers.append(Dropout(p_h, rng=r, mode="scale"))
    return Sequential([*layers, Linear(width, 10, rng=r)])


def order_rng(seed):
    """The generator of a run's mini-batch orders (the network's own generator draws the masks)."""
    return np.random.default_rng(1000 + seed)


def mc_mask_rng(s, seed):
    """The generator of the masks sampled for the Monte-Carlo averages of a trained network."""
    return np.random.default_rng([s["mc_seed"], seed])


def train(cfg, lr, seed, s, data):
    """One run; per-epoch curves, and the final and the best-validation weights."""
    net = build(*cfg, s["width"], seed)
    loss, opt = CrossEntropy(), SGD(lr, s["momentum"])
    orders = order_rng(seed)
    curves = {"train_loss": [], "train_error": [], "val_loss": [], "val_error": []}
    for key, v in zip(
        curves,
        evaluate(net, loss, data["x"], data["y"])
        + evaluate(net, loss, data["x_val"], data["y_val"]),
        strict=True,
    ):
        curves[key].append(float(v))  # index 0: before training, as in fit's History
    best = (curves["val_error"][0], 0, net.state_dict())
    diverged = False
    for epoch in range(1, s["epochs"] + 1):
        try:
            with np.errstate(over="raise", invalid="raise"):
                h = fit(
                    net,
                    loss,
                    opt,
                    data["x"],
                    data["y"],
                    epochs=1,
                    batch_size=s["batch_size"],
                    rng=orders,
                )
                val_loss, val_err = evaluate(net, loss, data["x_val"], data["y_val"])
        except (ValueError, FloatingPointError):
            diverged = True
            break
        for key, v in zip(curves, (h.loss[-1], h.train_error[-1], val_loss, val_err), strict=True):
            curves[key].append(float(v))
        if val_err < best[0]:
            best = (val_err, epoch, net.state_dict())
    return dict(
        curves=curves,
        diverged=diverged,
        best_epoch=best[1],
        best_val_error=float(best[0]),
        final_val_error=curves["val_error"][-1] if not diverged else 1.0,
        final_state=None if diverged else net.state_dict(),
        best_state=best[2],
    )


def choose_lr(runs_by_k, key):
    """The exponent k whose runs have the lowest mean validation error (``key``)."""
    ks = sorted(runs_by_k)
    means = [np.mean([r[key] for r in runs_by_k[k]]) for k in ks]
    return ks[int(np.argmin(means))], dict(zip(ks, means, strict=True))


def run_config(cfg, s, data, log):
    """Tune the learning rate on validation for both stopping rules; test at the chosen rates."""
    runs = {}

    def ensure(k):
        if k not in runs:
            runs[k] = [train(cfg, 10 ** (k / 2), seed, s, data) for seed in s["seeds"]]
            log(
                f"  p_in={cfg[0]} p_h={cfg[1]} lr={10 ** (k / 2):.4g}: val error final "
                f"{np.mean([r['final_val_error'] for r in runs[k]]):.3f}, best "
                f"{np.mean([r['best_val_error'] for r in runs[k]]):.3f}"
            )

    for k in s["lr_exponents"]:
        ensure(k)
    out = {"p_in": cfg[0], "p_h": cfg[1]}
    net = build(*cfg, s["width"], 0)
    loss = CrossEntropy()
    for rule, key, state in (
        ("final", "final_val_error", "final_state"),
        ("early_stopping", "best_val_error", "best_state"),
    ):
        while True:  # extend the grid until the best exponent is interior
            k, means = choose_lr(runs, key)
            if k == min(runs):
                ensure(k - 1)
            elif k == max(runs):
                ensure(k + 1)
            else:
                break
        test = []
        for r in runs[k]:
            if r[state] is None:  # diverged: no final weights
                test.append((float("nan"), float("nan")))
                continue
            net.load_state_dict(r[state])
            test.append(evaluate(net, loss, data["x_test"], data["y_test"]))
        out[rule] = dict(
            lr=10 ** (k / 2),
            lr_exponent=k,
            val_error_by_lr={f"{10 ** (j / 2):.6g}": float(m) for j, m in sorted(means.items())},
            test_loss=[float(t[0]) for t in test],
            test_error=[float(t[1]) for t in test],
            val_error=[float(r[key]) for r in runs[k]],
            best_epoch=[int(r["best_epoch"]) for r in runs[k]],
            diverged=[bool(r["diverged"]) for r in runs[k]],
        )
        if rule == "early_stopping":
            out["curves"] = [r["curves"] for r in runs[k]]  # at the early-stopping rate
            out["nets"] = [r["best_state"] for r in runs[k]]
    return out


def mc_study(cfg, states, s, data):
    """Gap between the Monte-Carlo average of M sub-networks and weight scaling, as M grows."""
    res = []
    y = data["y_test"]
    for seed, state in zip(s["seeds"], states, strict=True):
        net = build(*cfg, s["width"], seed)
        net.load_state_dict(state)
        mask_rng = mc_mask_rng(s, seed)  # fresh, seeded masks for the sampling
        for lay in net.layers:
            if isinstance(lay, Dropout):
                lay.rng = mask_rng
        z = sample_scores(net, data["x_test"], max(s["mc_sizes"]))  # (M, N, K)
        p_ws = rn.softmax(net.forward(data["x_test"]))  # scale mode at test time: weight scaling
        row = {
            "seed": seed,
            "ws_error": float(np.mean(p_ws.argmax(1) != y)),
            "ws_loss": float(np.mean(-np.log(p_ws[np.arange(len(y)), y]))),
            "tv_arith": [],
            "tv_geo": [],
            "disagree_arith": [],
            "mc_error": [],
            "mc_loss": [],
            "geo_error": [],
            "geo_loss": [],
        }
        for m in s["mc_sizes"]:
            pa = ensemble_softmax(z[:m])
            pg = ensemble_softmax(z[:m], mean="geometric")
            row["tv_arith"].append(float(np.mean(0.5 * np.abs(pa - p_ws).sum(1))))
            row["tv_geo"].append(float(np.mean(0.5 * np.abs(pg - p_ws).sum(1))))
            row["disagree_arith"].append(float(np.mean(pa.argmax(1) != p_ws.argmax(1))))
            row["mc_error"].append(float(np.mean(pa.argmax(1) != y)))
            row["mc_loss"].append(float(np.mean(-np.log(pa[np.arange(len(y)), y]))))
            row["geo_error"].append(float(np.mean(pg.argmax(1) != y)))
            row["geo_loss"].append(float(np.mean(-np.log(pg[np.arange(len(y)), y]))))
        res.append(row)
    return res


def _logger(quiet):
    return (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))


def _config_job(job):
    cfg, s, data, quiet = job
    return run_config(cfg, s, data, _logger(quiet))


def _mc_job(job):
    return mc_study(*job)


def _map(fn, jobs, n_jobs):
    """``map`` over the jobs, in ``n_jobs`` processes; every run is seeded, so results do not depend on it."""
    if n_jobs == 1:
        return list(map(fn, jobs))
    with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
        return pool.map(fn, jobs, chunksize=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="a few seconds: a smoke test")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "dropout_overfit.json"
    )
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument(
        "--jobs", type=int, default=1, help="processes (configurations run in parallel)"
    )
    args = ap.parse_args(argv)
    s = TINY if args.tiny else FULL
    log = _logger(args.quiet)
    data = load_data(s)
    t0 = time.perf_counter()
    results = _map(_config_job, [(c, s, data, args.quiet) for c in s["configs"]], args.jobs)
    states = {(r["p_in"], r["p_h"]): r["nets"] for r in results}
    jobs = [(c, states[tuple(c)], s, data) for c in s["mc_configs"]]
    mc = dict(
        zip(
            [f"{c[0]},{c[1]}" for c in s["mc_configs"]], _map(_mc_job, jobs, args.jobs), strict=True
        )
    )
    log("  Monte-Carlo studies done")
    for r in results:
        del r["nets"]
    out = dict(
        settings=s,
        versions={"numpy": np.__version__, "relunet": rn.__version__},
        results=results,
        mc=mc,
        seconds=round(time.perf_counter() - t0),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {args.out} ({out['seconds']} s)")
    return out


if __name__ == "__main__":
    main()
