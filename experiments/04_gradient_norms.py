"""Experiments E2 and E3 of chapter 4 (gradient norms in weight space), full protocols.

The chapter (``chapters/04b_gradient_norms_weights.ipynb``) loads the results this script
writes to ``experiments/results/``, re-runs one seed of each protocol, and asserts the re-run
against the saved numbers.  It also imports this file for :func:`score_jacobian` and
:func:`basis_S`.  Run from the repository root with the Makefile's environment (one BLAS
thread)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python experiments/04_gradient_norms.py

(about 80 s of CPU time in all).  ``--tiny`` runs both protocols in a small setting (the test
in ``tests/test_experiments_04.py``) and writes nothing unless ``--out-dir`` is given.

Data.  MNIST-1D (Greydanus 2020) generated locally with 1000 signals, of which the 800 training
signals are used.  Labels are 0..9 in code (classes 1..10 in the book).

``saturated`` (E2, ``04_saturated_start.json``).  All 800 signals, each feature standardised.
The network is the MLP 40-64-64-10 (``relunet.mlp``); its hidden layers have He's
initialisation and its output layer either He's too (start "He", standard deviation
sqrt(2/64) ~ 0.18) or standard deviation 2 (start "saturated": most samples start with
p_y < 0.01).  Plain SGD (no momentum), mini-batches of 50, 20 epochs, with the cross-entropy
("CE") or the quadratic loss after the soft-max ("quad"), on the learning-rate grid
``SAT_LRS`` (0.01 to 10, spaced by factors of sqrt(10)).  Seed ``s`` draws the initial weights from
``default_rng(s)`` and the order of the mini-batches from ``default_rng(1000 + s)``.  After
every epoch: accuracy on the training set, the fraction of confidently wrong samples
(p_y < 0.01) and the norms of the full-batch weight gradients of both losses (batch means),
whichever loss is trained.

``kernel`` (E3, ``04_tangent_kernel.json``).  The first ten training signals of each of the
labels 0, 1, 2 (N = 30, K = 3), centred with the mean of the 800 and scaled to unit norm.  A
one-hidden-layer ReLU network ``relunet.mlp((40, m, 3))`` of width m in ``WIDTHS``, weights
from ``default_rng(seed)``.  Full-batch gradient descent on the summed loss, 1000 steps, with
the squared loss on the scores (``relunet.Quadratic``, learning rate 1/lambda_max(Theta_0)) or
the quadratic loss after the soft-max (``relunet.SoftmaxQuadratic``, 4/lambda_max(Theta_0)),
where Theta = A A^T is the tangent kernel and A the Jacobian of the 90 scores with respect to
all weights.  Every 40 steps: the loss, ||grad_w L||^2 / (2L), lambda_min(Theta), the extreme
eigenvalues lambda_-, lambda_+ of Theta on the subspace S (scores whose K entries per sample sum
to zero) and min_i p_{y_i}; at the end the relative change ||Theta_T - Theta_0|| / ||Theta_0||
(Frobenius).
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
CONFIDENT = 0.01  # "confidently wrong": p_y below this

SAT_SEEDS = (1, 2, 3, 4, 5)
SAT_LRS = tuple(float(f"{a:.6g}") for a in np.logspace(-2, 1, 7))  # 0.01 ... 10, factors sqrt(10)
SAT_STARTS = {"He": None, "saturated": 2.0}  # the output layer's standard deviation (None: He)
SAT_LOSSES = {"CE": rn.CrossEntropy(), "quad": rn.SoftmaxQuadratic()}
SAT_WIDTHS = (40, 64, 64, 10)
SAT_EPOCHS, SAT_BATCH = 20, 50

KER_SEEDS = (7, 8, 9)
KER_WIDTHS = (16, 64, 256, 1024)
KER_LOSSES = {"sq": (rn.Quadratic(), 1.0), "quad": (rn.SoftmaxQuadratic(), 4.0)}  # (loss, factor)
KER_STEPS, KER_EVERY = 1000, 40
KER_COLUMNS = ("step", "loss", "pl_ratio", "lam_min", "lam_minus", "lam_plus", "min_py")


def mnist1d_train() -> rn.data.Dataset:
    """MNIST-1D with 1000 signals; the chapter uses its 800 training signals."""
    return rn.data.mnist1d(num_samples=1000)


def standardised(d) -> tuple[np.ndarray, np.ndarray]:
    """The training signals, each feature standardised over them, and their labels."""
    return (d.x - d.x.mean(axis=0)) / d.x.std(axis=0), d.y


def three_class_subset(d, per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` signals of labels 0, 1, 2, centred (mean of all) and of unit norm."""
    sel = np.concatenate([np.flatnonzero(d.y == c)[:per_class] for c in range(3)])
    x = d.x[sel] - d.x.mean(axis=0)
    return x / np.linalg.norm(x, axis=1, keepdims=True), d.y[sel]


def score_jacobian(net, x) -> np.ndarray:
    """A with row (i, k) = dz_ik/dw: back-propagate the unit vector e_k through sample i alone."""
    rows = []
    for i in range(len(x)):
        z = net(x[i : i + 1])
        for k in range(z.shape[1]):
            net.backward(np.eye(z.shape[1])[None, k])
            rows.append(rn.flat_gradient(net))
    return np.array(rows)


def basis_S(n: int, k: int) -> np.ndarray:
    """Orthonormal basis (columns) of S = {v in R^(n k): each block of k entries sums to 0}."""
    v = np.linalg.qr(np.eye(k)[:, :-1] - 1.0 / k, mode="reduced")[0]  # a basis of 1-perp in R^k
    return np.kron(np.eye(n), v)


def _r(values) -> list:
    """Round to 7 significant digits for the JSON."""
    return [float(f"{v:.7g}") for v in np.ravel(values)]


# ---------------------------------------------------------------- E2: a saturated start
def _measure(net, x, y) -> tuple[float, ...]:
    """Accuracy, fraction confidently wrong, |grad_w L_CE| and |grad_w L_quad| (batch means)."""
    z = net(x)
    p_y = rn.softmax(z)[np.arange(len(y)), y]
    norms = [np.linalg.norm(rn.loss_gradient(net, loss, x, y)) for loss in SAT_LOSSES.values()]
    return (rn.accuracy(z, y), float(np.mean(p_y < CONFIDENT)), *map(float, norms))


def saturated_run(x, y, loss: str, start: str, lr: float, seed: int, epochs=SAT_EPOCHS) -> dict:
    """One E2 run: per epoch (0 = the start) the four measurements of :func:`_measure`.

    A run whose weights stop being finite is marked diverged and recorded up to that epoch.
    """
    net = rn.mlp(SAT_WIDTHS, rng=np.random.default_rng(seed), final_scale=SAT_STARTS[start])
    opt = rn.SGD(lr=lr)
    order = np.random.default_rng(1000 + seed)
    rows, diverged = [_measure(net, x, y)], None
    for epoch in range(1, epochs + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                rn.fit(net, SAT_LOSSES[loss], opt, x, y, epochs=1, batch_size=SAT_BATCH, rng=order)
                finite = bool(np.all(np.isfinite(rn.flat_parameters(net))))
            except ValueError:  # the scores overflowed inside the epoch
                finite = False
        if not finite:
            diverged = epoch
            break
        rows.append(_measure(net, x, y))
    keys = ("accuracy", "confidently_wrong", "grad_ce", "grad_quad")
    out = {k: _r(col) for k, col in zip(keys, np.array(rows).T, strict=True)}
    out["diverged"] = diverged
    return out


def saturated(tiny: bool = False) -> dict:
    d = mnist1d_train()
    x, y = standardised(d)
    seeds, lrs, epochs = (SAT_SEEDS[:2], SAT_LRS[2:4], 2) if tiny else (SAT_SEEDS, SAT_LRS, None)
    if tiny:
        x, y = x[:200], y[:200]
    epochs = epochs or SAT_EPOCHS
    runs = {
        f"{loss}/{start}/{lr:g}/{seed}": saturated_run(x, y, loss, start, lr, seed, epochs)
        for loss in SAT_LOSSES
        for start in SAT_STARTS
        for lr in lrs
        for seed in seeds
    }
    protocol = {
        "seeds": list(seeds),
        "lrs": list(lrs),
        "starts": dict(SAT_STARTS),
        "losses": list(SAT_LOSSES),
        "widths": list(SAT_WIDTHS),
        "epochs": epochs,
        "batch_size": SAT_BATCH,
        "n_train": len(x),
        "confident": CONFIDENT,
    }
    return {"protocol": protocol, "runs": runs}


# ---------------------------------------------------------------- E3: the tangent kernel
def kernel_run(x, y, loss: str, width: int, seed: int, steps=KER_STEPS, every=KER_EVERY) -> dict:
    """One E3 run: the columns ``KER_COLUMNS`` every ``every`` steps, and the kernel's change."""
    n, k = len(x), 3
    q = basis_S(n, k)
    loss_fn, factor = KER_LOSSES[loss]
    net = rn.mlp((x.shape[1], width, k), rng=np.random.default_rng(seed))
    a0 = score_jacobian(net, x)
    theta0 = a0 @ a0.T
    opt = rn.SGD(lr=factor / np.linalg.eigvalsh(theta0)[-1])
    rec = []
    for step in range(steps + 1):
        if step % every == 0:  # the kernel first: score_jacobian overwrites the gradients
            a = score_jacobian(net, x)
            theta = a @ a.T
        z = net(x)
        total = n * loss_fn(z, y)  # the summed loss
        net.backward(loss_fn.sample_grad(z, y))
        if step % every == 0:
            lam_s = np.linalg.eigvalsh(q.T @ theta @ q)
            p_y = rn.softmax(z)[np.arange(n), y]
            g2 = net.gradient_norm() ** 2
            lam_min = np.linalg.eigvalsh(theta)[0]
            rec.append((step, total, g2 / (2 * total), lam_min, lam_s[0], lam_s[-1], p_y.min()))
        if step < steps:
            opt.step(net)
    cols = np.array(rec).T  # full precision: the chapter asserts the bounds to 1e-9 on them
    out = {name: [float(v) for v in col] for name, col in zip(KER_COLUMNS, cols, strict=True)}
    out["kernel_change"] = float(np.linalg.norm(theta - theta0) / np.linalg.norm(theta0))
    return out


def kernel(tiny: bool = False) -> dict:
    x, y = three_class_subset(mnist1d_train(), per_class=2 if tiny else 10)
    seeds, widths = (KER_SEEDS[:1], KER_WIDTHS[:2]) if tiny else (KER_SEEDS, KER_WIDTHS)
    steps = 20 if tiny else KER_STEPS
    runs = {
        f"{loss}/{width}/{seed}": kernel_run(x, y, loss, width, seed, steps=steps)
        for loss in KER_LOSSES
        for width in widths
        for seed in seeds
    }
    protocol = {
        "seeds": list(seeds),
        "widths": list(widths),
        "losses": {name: factor for name, (_, factor) in KER_LOSSES.items()},
        "steps": steps,
        "every": KER_EVERY,
        "n": len(x),
        "columns": list(KER_COLUMNS),
    }
    return {"protocol": protocol, "runs": runs}


PROTOCOLS = {
    "saturated": (saturated, "04_saturated_start.json"),
    "kernel": (kernel, "04_tangent_kernel.json"),
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
        compute, filename = PROTOCOLS[name]
        t0 = time.process_time()
        result = compute(tiny=args.tiny)
        result["made_with"] = {
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpu_seconds": round(time.process_time() - t0, 1),
        }
        results[name] = result
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / filename).write_text(json.dumps(result, indent=1) + "\n")
            print(f"wrote {out_dir / filename} ({len(result['runs'])} runs)", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
