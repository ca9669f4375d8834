"""The experiments of the chapter "Gradient norms in weight space": full protocols, saved results.

The chapter (``chapters/04b_gradient_norms_weights.ipynb``) loads the results this script writes
to ``experiments/results/04_<protocol>.json`` and re-runs a reduced setting of most
protocols with its own copy of the functions listed in ``SHARED``; the test
``tests/test_experiments_04.py`` checks that the two copies are the same code (their
syntax trees, docstrings aside).  Run from the repository root with the Makefile's environment
(one BLAS thread)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python experiments/04_gradient_norms.py [protocol ...]

(all protocols: about five and a half minutes of CPU time, 322 s when last run).  ``--tiny``
runs them in a small setting (the test) and writes nothing unless ``--out-dir`` is given.

Data.  MNIST-1D (Greydanus 2020) generated locally with 1000 signals, of which the 800 training
signals are used, each feature standardised over them.  Labels are 0..9 in code (classes 1..10 in
the book).  Networks are ``relunet.mlp`` with He's initialisation unless said otherwise.

``saturation`` (counter-example 1).  The MLP 40-64-64-10 of initialisation seeds 3-6, its output
weights multiplied by tau = 1, 4, 16, 64; per tau: the fraction of confidently wrong samples
(p_y < 0.01), the medians over them of the per-sample weight-gradient norms of both losses, the
full-batch ratio |grad L_quad| / |grad L_CE|, and the number of samples (largest per-sample
quadratic gradients first) whose gradients sum to the full-batch quadratic gradient within 1 %.

``random``.  For generator seeds 0-7, 2000 random ReLU networks 3-4-3 (output standard deviation
uniform in [0.5, 3]) with 1-3 random samples: the angle between the two weight gradients and, for
one sample, their norm ratio.

``ratio`` (E1).  Cross-entropy training from He's start, SGD with momentum 0.9, learning rate
0.05, batches of 50, 30 epochs, seeds 1-5 (seed s draws the weights, 1000 + s the batch order);
after every epoch the summaries of :func:`ratio_summary`, and for seed 1 the per-sample p_y and
rho at epochs 0, 5, 15 and 30 (``scatter``, the chapter's scatter plot).  Variants on seed 1:
learning rate 0.01 and 0.2, no momentum, hidden width 256, 60 epochs.

``saturated`` (E2).  Plain SGD, batches of 50, 20 epochs, cross-entropy ("CE") or the quadratic
loss after the soft-max ("quad"), from He's start or a saturated one (output standard deviation 2:
most samples start with p_y < 0.01), learning rates 0.01 to 10 a factor sqrt(10) apart, seeds 1-5
(weights from s, batch order from 1000 + s).  After every epoch: training accuracy, fraction
confidently wrong, norms of the full-batch gradients of both losses (batch means).
``long``: the same runs continued to 100 epochs, at three learning rates around each column's
best.  ``perturbed``: seed 1 again with every initial weight multiplied by 1 + 1e-15 N(0, 1) (a
few units in the last place), 30 times at the quadratic loss's two best rates from the saturated
start and 10 times for each other column at its best rate.

``kernel`` (E3).  The first ten training signals of labels 0, 1, 2 (N = 30, K = 3), centred and
of unit norm; a one-hidden-layer ReLU network of width m in 16, 64, 256, 1024, seeds 7-9;
full-batch gradient descent on the summed loss, 1000 steps, with the squared loss on the scores
(``relunet.Quadratic``, learning rate 1/lambda_max(Theta_0)) or the quadratic loss after the
soft-max (4/lambda_max(Theta_0)); every 40 steps the columns ``KER_COLUMNS``; the kernel's
relative change; at the start, the share of the output layer in the kernel.  ``hidden``: the
squared loss with only the hidden layer trained (the output layer frozen, as in Du et al. 2019),
widths 256, 1024, 4096, 3000 steps.  ``kernel_long``: the quadratic loss at m = 1024 for 20,000
steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import relunet as rn

RESULTS = Path(__file__).resolve().parent / "results"
KER_COLUMNS = ("step", "loss", "pl_ratio", "lam_min", "lam_minus", "lam_plus", "min_py")
SHARED = (  # the functions the chapter re-runs from its own copy
    "standardised",
    "three_class_subset",
    "basis_S",
    "saturation_example",
    "random_angles",
    "ratio_measure",
    "ratio_summary",
    "ratio_run",
    "saturated_measure",
    "saturated_run",
    "kernel_run",
)


def mnist1d_train() -> rn.data.Dataset:
    """MNIST-1D with 1000 signals; the chapter uses its 800 training signals."""
    return rn.data.mnist1d(num_samples=1000)


# ---------------------------------------------------------------- shared with the chapter
def standardised(d):
    """The training signals, each feature standardised over them, and their labels."""
    return (d.x - d.x.mean(axis=0)) / d.x.std(axis=0), d.y


def three_class_subset(d, per_class=10):
    """The first ``per_class`` signals of labels 0, 1, 2, centred (mean of all) and of unit norm."""
    sel = np.concatenate([np.flatnonzero(d.y == c)[:per_class] for c in range(3)])
    x = d.x[sel] - d.x.mean(axis=0)
    return x / np.linalg.norm(x, axis=1, keepdims=True), d.y[sel]


def basis_S(n, k):
    """Orthonormal basis (columns) of S = {v in R^(n k): each block of k entries sums to 0}."""
    v = np.linalg.qr(np.eye(k)[:, :-1] - 1.0 / k, mode="reduced")[0]  # 1-perp in R^k
    return np.kron(np.eye(n), v)


def saturation_example(x, y, seed, scales=(1, 4, 16, 64)):
    """Counter-example 1: the He network of ``seed`` with its output weights times tau.

    Per tau: tau, the fraction confidently wrong, the medians over those samples of the per-sample
    gradient norms of both losses, the full-batch ratio, and how many samples (largest quadratic
    gradients first) sum to the full-batch quadratic gradient within 1 %.
    """
    ce, quad = rn.CrossEntropy(), rn.SoftmaxQuadratic()
    rows = []
    for tau in scales:
        rng = np.random.default_rng(seed)
        net = rn.mlp((x.shape[1], 64, 64, 10), rng=rng)
        net.layers[-1].params["W"] *= tau  # constructing the example, not training
        p_y = rn.softmax(net(x))[np.arange(len(y)), y]
        wrong = np.flatnonzero(p_y < 0.01)
        g_ce = [rn.loss_gradient(net, ce, x[i : i + 1], y[i : i + 1]) for i in wrong]
        g_q = np.array(
            [rn.loss_gradient(net, quad, x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
        )
        n_ce = np.linalg.norm(g_ce, axis=1)
        n_q = np.linalg.norm(g_q[wrong], axis=1)
        full_ce = rn.loss_gradient(net, ce, x, y, reduction="sum")
        full_q = g_q.sum(axis=0)
        order = np.argsort(-np.linalg.norm(g_q, axis=1))
        partial = np.cumsum(g_q[order], axis=0)
        rest = np.linalg.norm(partial - full_q, axis=1) / np.linalg.norm(full_q)
        rows.append(
            {
                "tau": tau,
                "wrong": len(wrong) / len(y),
                "ce_median": float(np.median(n_ce)),
                "quad_median": float(np.median(n_q)),
                "ratio": float(np.linalg.norm(full_q) / np.linalg.norm(full_ce)),
                "carriers": int(np.argmax(rest <= 0.01)) + 1,
            }
        )
    return rows


def random_angles(seed, draws=2000):
    """Random 3-4-3 ReLU networks: cosines of the angle between the summed weight gradients of
    both losses, and for single samples the ratio of their norms."""
    ce, quad = rn.CrossEntropy(), rn.SoftmaxQuadratic()
    rng = np.random.default_rng(seed)
    cosines, single = [], []
    for _ in range(draws):
        out_scale = rng.uniform(0.5, 3.0)
        net = rn.mlp((3, 4, 3), rng=rng, final_scale=out_scale)
        n = int(rng.integers(1, 4))
        x, y = rng.normal(size=(n, 3)), rng.integers(0, 3, size=n)
        g_ce = rn.loss_gradient(net, ce, x, y, reduction="sum")
        g_q = rn.loss_gradient(net, quad, x, y, reduction="sum")
        n_ce, n_q = np.linalg.norm(g_ce), np.linalg.norm(g_q)
        if min(n_ce, n_q) < 1e-12:
            continue  # all hidden units dead and the labels balanced: both gradients vanish
        cosines.append(g_ce @ g_q / (n_ce * n_q))
        if n == 1:
            single.append(n_q / n_ce)
    return np.array(cosines), np.array(single)


def ratio_measure(net, x, y):
    """E1's per-sample quantities (arrays over the samples) and batch ratios at the weights."""
    ce, quad = rn.CrossEntropy(), rn.SoftmaxQuadratic()
    z = net(x)
    p = rn.softmax(z)
    u, ju = ce.sample_grad(z, y), quad.sample_grad(z, y)
    gam = np.linalg.eigvalsh(rn.softmax_jacobian(p))
    n_u, n_ju = np.linalg.norm(u, axis=1), np.linalg.norm(ju, axis=1)
    p_y = p[np.arange(len(y)), y]
    g_ce, g_q = (np.linalg.norm(rn.loss_gradient(net, f, x, y)) for f in (ce, quad))
    return {
        "rho": n_ju / n_u,
        "gam2": gam[:, 1],
        "gamK": gam[:, -1],
        "pmin": p.min(axis=1),
        "lab": p_y * n_u,
        "py": p_y,
        "u2": n_u**2,
        "acc": rn.accuracy(z, y),
        "w_ratio": g_q / g_ce,
        "rho_S": np.linalg.norm(ju) / np.linalg.norm(u),
    }


def ratio_summary(m):
    """Scalars of one :func:`ratio_measure`: medians, spreads, the bounds' smallest margins."""
    rho, unfit = m["rho"], m["py"] < 0.5
    med_unfit = float(np.median(rho[unfit])) if unfit.any() else None
    med_fit = float(np.median(rho[~unfit])) if (~unfit).any() else None
    return {
        "acc": float(m["acc"]),
        "w_ratio": float(m["w_ratio"]),
        "rho_S": float(m["rho_S"]),
        "unfit": float(np.mean(unfit)),
        "share": float(m["u2"][unfit].sum() / m["u2"].sum()),
        "rho_med": float(np.median(rho)),
        "rho_p10": float(np.percentile(rho, 10)),
        "rho_p90": float(np.percentile(rho, 90)),
        "rho_max": float(rho.max()),
        "rho_med_unfit": med_unfit,
        "rho_med_fit": med_fit,
        "gam2_med": float(np.median(m["gam2"])),
        "lab_med": float(np.median(m["lab"])),
        "gamK_rel": float(np.median(m["gamK"] / rho)),  # medians of bound / rho_i
        "lab_rel": float(np.median(m["lab"] / rho)),
        "gam2_rel": float(np.median(m["gam2"] / rho)),
        "margin_half": float(np.min(0.5 - rho)),  # each >= 0 up to round-off
        "margin_gamK": float(np.min(m["gamK"] - rho)),
        "margin_gam2": float(np.min(rho - m["gam2"])),
        "margin_pmin": float(np.min(m["gam2"] - m["pmin"])),
        "margin_lab": float(np.min(rho - m["lab"])),
    }


def ratio_run(x, y, seed, lr=0.05, momentum=0.9, hidden=64, epochs=30):
    """E1: cross-entropy training; :func:`ratio_measure` after every epoch (0: the start)."""
    net = rn.mlp((x.shape[1], hidden, hidden, 10), rng=np.random.default_rng(seed))
    opt, order = rn.SGD(lr=lr, momentum=momentum), np.random.default_rng(1000 + seed)
    rec = [ratio_measure(net, x, y)]
    for _ in range(epochs):
        rn.fit(net, rn.CrossEntropy(), opt, x, y, epochs=1, batch_size=50, rng=order)
        rec.append(ratio_measure(net, x, y))
    return rec


def saturated_measure(net, x, y):
    """Accuracy, fraction confidently wrong, |grad_w L_CE| and |grad_w L_quad| (batch means)."""
    z = net(x)
    p_y = rn.softmax(z)[np.arange(len(y)), y]
    grads = [rn.loss_gradient(net, f, x, y) for f in (rn.CrossEntropy(), rn.SoftmaxQuadratic())]
    return (rn.accuracy(z, y), float(np.mean(p_y < 0.01)), *map(np.linalg.norm, grads))


def saturated_run(x, y, loss, start, lr, seed, epochs=20, jitter=None):
    """E2: plain SGD on ``loss`` ("CE" or "quad") from ``start`` ("He" or "saturated").

    Per epoch (0 = the start) the four values of :func:`saturated_measure`; a run whose weights
    stop being finite is marked diverged and recorded up to then.  ``jitter`` (a seed) first
    multiplies every initial weight by 1 + 1e-15 N(0, 1).
    """
    out_std = {"He": None, "saturated": 2.0}[start]  # the output layer's standard deviation
    net = rn.mlp((x.shape[1], 64, 64, 10), rng=np.random.default_rng(seed), final_scale=out_std)
    if jitter is not None:
        noise = np.random.default_rng(jitter)
        for w, _ in net.parameters():
            w *= 1 + 1e-15 * noise.standard_normal(w.shape)
    losses = {"CE": rn.CrossEntropy(), "quad": rn.SoftmaxQuadratic()}
    loss_fn = losses[loss]
    opt, order = rn.SGD(lr=lr), np.random.default_rng(1000 + seed)
    rows, diverged = [saturated_measure(net, x, y)], None
    for epoch in range(1, epochs + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                epoch_args = {"epochs": 1, "batch_size": 50, "rng": order}
                rn.fit(net, loss_fn, opt, x, y, **epoch_args)
                finite = bool(np.all(np.isfinite(rn.flat_parameters(net))))
            except ValueError:  # the scores overflowed inside the epoch
                finite = False
        if not finite:
            diverged = epoch
            break
        rows.append(saturated_measure(net, x, y))
    keys = ("accuracy", "confidently_wrong", "grad_ce", "grad_quad")
    out = {
        k: [float(f"{v:.7g}") for v in col] for k, col in zip(keys, np.array(rows).T, strict=True)
    }
    out["diverged"] = diverged
    return out


def kernel_run(
    x,
    y,
    loss,
    width,
    seed,
    steps=1000,
    every=40,
    trained="all",
):
    """E3: full-batch gradient descent on the summed ``loss`` ("sq" or "quad"), K = 3.

    Every ``every`` steps: step, loss, |grad L|^2 / (2 L), lambda_min(Theta), lambda_-, lambda_+
    (Theta on S) and min_i p_(y_i); at the end the kernel's relative change.  ``trained="hidden"``
    trains the hidden layer only, and Theta is then the kernel of its weights.
    """
    n, k = len(x), 3
    q = basis_S(n, k)
    loss_fn, factor = {"sq": (rn.Quadratic(), 1.0), "quad": (rn.SoftmaxQuadratic(), 4.0)}[loss]
    net = rn.mlp((x.shape[1], width, k), rng=np.random.default_rng(seed))
    moved = {"all": net, "hidden": rn.Sequential(net.layers[:1])}[trained]
    cols = rn.flat_parameters(moved).size  # the trained weights come first in A

    def kernel():
        a = rn.models.score_jacobian(net, x)[:, :cols]
        return a @ a.T

    theta0 = kernel()
    opt = rn.SGD(lr=factor / np.linalg.eigvalsh(theta0)[-1])
    rec = []
    for step in range(steps + 1):
        if step % every == 0:  # the kernel first: score_jacobian overwrites the gradients
            theta = kernel()
        z = net(x)
        total = n * loss_fn(z, y)  # the summed loss
        net.backward(loss_fn.sample_grad(z, y))
        if step % every == 0:
            lam_s = np.linalg.eigvalsh(q.T @ theta @ q)
            p_y = rn.softmax(z)[np.arange(n), y]
            g2 = moved.gradient_norm() ** 2
            lam_min = np.linalg.eigvalsh(theta)[0]
            rec.append((step, total, g2 / (2 * total), lam_min, lam_s[0], lam_s[-1], p_y.min()))
        if step < steps:
            opt.step(moved)
    names = ("step", "loss", "pl_ratio", "lam_min", "lam_minus", "lam_plus", "min_py")
    out = {name: [float(v) for v in col] for name, col in zip(names, np.array(rec).T, strict=True)}
    out["kernel_change"] = float(np.linalg.norm(theta - theta0) / np.linalg.norm(theta0))
    return out


# ---------------------------------------------------------------- the protocols
def _columns(rows: list[dict]) -> dict:
    """A list of dicts with the same keys as one dict of lists."""
    return {k: [r[k] for r in rows] for k in rows[0]}


def saturation(tiny: bool = False) -> dict:
    x, y = standardised(mnist1d_train())
    seeds = (3,) if tiny else (3, 4, 5, 6)
    if tiny:
        x, y = x[:100], y[:100]
    runs = {str(s): _columns(saturation_example(x, y, s)) for s in seeds}
    return {"protocol": {"seeds": list(seeds), "n_train": len(x)}, "runs": runs}


def random_nets(tiny: bool = False) -> dict:
    seeds, draws = ((2,), 50) if tiny else (tuple(range(8)), 2000)
    runs = {}
    for s in seeds:
        cosines, single = random_angles(s, draws)
        runs[str(s)] = {
            "draws": len(cosines),
            "obtuse": float(np.mean(cosines < 0)),
            "cos_min": float(cosines.min()),
            "single": len(single),
            "single_above_half": int(np.sum(single > 0.5)),
            "single_max": float(single.max()),
        }
    return {"protocol": {"seeds": list(seeds), "draws": draws}, "runs": runs}


SCATTER_EPOCHS = (0, 5, 15, 30)
RATIO_VARIANTS = {
    "lr=0.01": {"lr": 0.01},
    "lr=0.2": {"lr": 0.2},
    "momentum=0": {"momentum": 0.0},
    "width=256": {"hidden": 256},
    "epochs=60": {"epochs": 60},
}


def ratio(tiny: bool = False) -> dict:
    x, y = standardised(mnist1d_train())
    seeds, variants, epochs = ((1,), {}, 2) if tiny else ((1, 2, 3, 4, 5), RATIO_VARIANTS, 30)
    if tiny:
        x, y = x[:200], y[:200]
    runs, scatter = {}, {}
    for s in seeds:
        rec = ratio_run(x, y, s, epochs=epochs)
        runs[str(s)] = _columns([ratio_summary(m) for m in rec])
        if s == 1:  # seed 1's per-sample values, for the chapter's scatter plot
            scatter = {
                "epochs": [e for e in SCATTER_EPOCHS if e <= epochs],
                **{
                    k: [
                        [float(f"{v:.9g}") for v in rec[e][k]]
                        for e in SCATTER_EPOCHS
                        if e <= epochs
                    ]
                    for k in ("py", "rho")
                },
            }
    for name, setting in variants.items():
        runs[name] = _columns([ratio_summary(m) for m in ratio_run(x, y, 1, **setting)])
    protocol = {
        "seeds": list(seeds),
        "lr": 0.05,
        "momentum": 0.9,
        "hidden": 64,
        "epochs": epochs,
        "variants_of_seed_1": {k: variants[k] for k in variants},
        "n_train": len(x),
    }
    return {"protocol": protocol, "runs": runs, "scatter": scatter}


SAT_SEEDS = (1, 2, 3, 4, 5)
SAT_LRS = tuple(float(f"{a:.6g}") for a in np.logspace(-2, 1, 7))  # 0.01 ... 10, factors sqrt(10)
SAT_CONFIGS = (("CE", "He"), ("quad", "He"), ("CE", "saturated"), ("quad", "saturated"))
LONG_LRS = {  # three rates around each column's best at 20 epochs
    ("CE", "He"): (0.1, 0.316228, 1.0),
    ("quad", "He"): (0.316228, 1.0, 3.16228),
    ("CE", "saturated"): (0.01, 0.0316228, 0.1),
    ("quad", "saturated"): (0.1, 0.316228, 1.0),
}
PERTURBED = {  # (loss, start, lr): how many jittered copies of seed 1
    ("quad", "saturated", 0.316228): 30,
    ("quad", "saturated", 0.1): 30,
    ("CE", "saturated", 0.0316228): 10,
    ("CE", "He", 0.316228): 10,
    ("quad", "He", 1.0): 10,
}


def _sat_data(tiny: bool):
    x, y = standardised(mnist1d_train())
    return (x[:200], y[:200]) if tiny else (x, y)


def saturated(tiny: bool = False) -> dict:
    x, y = _sat_data(tiny)
    seeds, lrs, epochs = (SAT_SEEDS[:2], SAT_LRS[2:4], 2) if tiny else (SAT_SEEDS, SAT_LRS, 20)
    runs = {
        f"{loss}/{start}/{lr:g}/{seed}": saturated_run(x, y, loss, start, lr, seed, epochs)
        for loss, start in SAT_CONFIGS
        for lr in lrs
        for seed in seeds
    }
    protocol = {
        "seeds": list(seeds),
        "lrs": list(lrs),
        "configs": [list(c) for c in SAT_CONFIGS],
        "widths": [40, 64, 64, 10],
        "epochs": epochs,
        "batch_size": 50,
        "n_train": len(x),
        "confident": 0.01,
    }
    return {"protocol": protocol, "runs": runs}


def long_runs(tiny: bool = False) -> dict:
    x, y = _sat_data(tiny)
    seeds, epochs = (SAT_SEEDS[:1], 3) if tiny else (SAT_SEEDS, 100)
    runs = {}
    for (loss, start), lrs in LONG_LRS.items():
        for lr in lrs[1:2] if tiny else lrs:
            for seed in seeds:
                r = saturated_run(x, y, loss, start, lr, seed, epochs)
                runs[f"{loss}/{start}/{lr:g}/{seed}"] = {
                    k: r[k] for k in ("accuracy", "confidently_wrong", "diverged")
                }
    protocol = {
        "seeds": list(seeds),
        "epochs": epochs,
        "lrs": {f"{c[0]}/{c[1]}": v for c, v in LONG_LRS.items()},
    }
    return {"protocol": protocol, "runs": runs}


def perturbed(tiny: bool = False) -> dict:
    x, y = _sat_data(tiny)
    epochs = 2 if tiny else 20
    runs = {}
    for (loss, start, lr), copies in PERTURBED.items():
        plain = saturated_run(x, y, loss, start, lr, 1, epochs)
        jittered = [
            saturated_run(x, y, loss, start, lr, 1, epochs, jitter=j)
            for j in range(2 if tiny else copies)
        ]
        runs[f"{loss}/{start}/{lr:g}/1"] = {
            "plain": {k: plain[k] for k in ("accuracy", "confidently_wrong")},
            "jittered": [{k: r[k] for k in ("accuracy", "confidently_wrong")} for r in jittered],
        }
    protocol = {
        "seed": 1,
        "epochs": epochs,
        "jitter": "every initial weight times 1 + 1e-15 N(0, 1), jitter seeds 0, 1, ...",
        "copies": {f"{c[0]}/{c[1]}/{c[2]:g}": n for c, n in PERTURBED.items()},
    }
    return {"protocol": protocol, "runs": runs}


KER_SEEDS = (7, 8, 9)
KER_WIDTHS = (16, 64, 256, 1024)
HIDDEN_WIDTHS = (256, 1024, 4096)


def _kernel_split(x, width: int, seed: int) -> dict:
    """At the start: the output layer's share of tr(Theta_0) and the smallest eigenvalues of the
    kernels of all weights, of the output layer's and of the hidden layer's."""
    net = rn.mlp((x.shape[1], width, 3), rng=np.random.default_rng(seed))
    a = rn.models.score_jacobian(net, x)
    cols = rn.flat_parameters(rn.Sequential(net.layers[:1])).size
    hidden, out = a[:, :cols] @ a[:, :cols].T, a[:, cols:] @ a[:, cols:].T
    lam = [float(np.linalg.eigvalsh(t)[0]) for t in (hidden + out, out, hidden)]
    return {
        "output_share": float(np.trace(out) / np.trace(hidden + out)),
        "lam_min": lam[0],
        "lam_min_output": lam[1],
        "lam_min_hidden": lam[2],
    }


def kernel(tiny: bool = False) -> dict:
    x, y = three_class_subset(mnist1d_train(), per_class=2 if tiny else 10)
    seeds, widths = (KER_SEEDS[:1], KER_WIDTHS[:2]) if tiny else (KER_SEEDS, KER_WIDTHS)
    steps = 20 if tiny else 1000
    runs = {
        f"{loss}/{width}/{seed}": kernel_run(x, y, loss, width, seed, steps=steps)
        for loss in ("sq", "quad")
        for width in widths
        for seed in seeds
    }
    split = {f"{m}/{s}": _kernel_split(x, m, s) for m in widths for s in seeds}
    protocol = {
        "seeds": list(seeds),
        "widths": list(widths),
        "losses": {"sq": 1.0, "quad": 4.0},  # learning rate times lambda_max(Theta_0)
        "steps": steps,
        "every": 40,
        "n": len(x),
        "columns": list(KER_COLUMNS),
    }
    return {"protocol": protocol, "runs": runs, "split": split}


def hidden(tiny: bool = False) -> dict:
    x, y = three_class_subset(mnist1d_train(), per_class=2 if tiny else 10)
    seeds, widths = (KER_SEEDS[:1], HIDDEN_WIDTHS[:1]) if tiny else (KER_SEEDS, HIDDEN_WIDTHS)
    steps, every = (20, 10) if tiny else (3000, 100)
    runs = {
        f"sq/{m}/{s}": kernel_run(x, y, "sq", m, s, steps, every, trained="hidden")
        for m in widths
        for s in seeds
    }
    protocol = {
        "seeds": list(seeds),
        "widths": list(widths),
        "trained": "hidden layer only",
        "steps": steps,
        "every": every,
        "n": len(x),
        "columns": list(KER_COLUMNS),
    }
    return {"protocol": protocol, "runs": runs}


def kernel_long(tiny: bool = False) -> dict:
    x, y = three_class_subset(mnist1d_train(), per_class=2 if tiny else 10)
    seeds, (width, steps, every) = (
        ((7,), (16, 40, 20)) if tiny else (KER_SEEDS, (1024, 20000, 1000))
    )
    runs = {f"quad/{width}/{s}": kernel_run(x, y, "quad", width, s, steps, every) for s in seeds}
    protocol = {"seeds": list(seeds), "width": width, "steps": steps, "every": every, "n": len(x)}
    return {"protocol": protocol, "runs": runs}


PROTOCOLS = {
    "saturation": saturation,
    "random": random_nets,
    "ratio": ratio,
    "saturated": saturated,
    "long": long_runs,
    "perturbed": perturbed,
    "kernel": kernel,
    "hidden": hidden,
    "kernel_long": kernel_long,
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocols", nargs="*", help=f"any of {list(PROTOCOLS)} (default: all)")
    parser.add_argument("--tiny", action="store_true", help="a small setting, for the test")
    parser.add_argument("--out-dir", type=Path, default=None, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    unknown = set(args.protocols) - set(PROTOCOLS)
    if unknown:
        parser.error(f"unknown protocol(s) {sorted(unknown)}; choose from {list(PROTOCOLS)}")
    out_dir = args.out_dir if args.out_dir is not None else (None if args.tiny else RESULTS)
    results = {}
    for name in args.protocols or PROTOCOLS:
        t0 = time.process_time()
        result = PROTOCOLS[name](tiny=args.tiny)
        result["made_with"] = {
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpu_seconds": round(time.process_time() - t0, 1),
        }
        results[name] = result
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"04_{name}.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
            print(f"wrote {path} ({len(result['runs'])} runs)", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
