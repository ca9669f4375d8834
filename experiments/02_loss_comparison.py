"""The MNIST-1D comparison of four losses in chapter 2 (losses), full protocol.

The chapter loads the results this script writes (``experiments/results/02_loss_comparison.json``),
re-runs a reduced setting and asserts it against them.  Run from the repository root with the
Makefile's environment (one BLAS thread)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python experiments/02_loss_comparison.py --jobs 2

(about half an hour on a loaded 2-core machine).  ``--tiny`` runs the protocol on a small subset
for two epochs (the test in ``tests/test_experiments_02.py``).

Set-up.  The MNIST-1D training set (4000 signals) is split once, with ``default_rng(0)``, into
3200 for training and 800 for validation; the 1000 test signals are used only for the
configurations chosen on validation.  The network is the MLP 40-100-10 (``relunet.mlp``): He
initialisation, or ("small init") He for the hidden layer and standard deviation 0.01 for the
output layer, so that the initial scores are close to 0.  Seed ``s`` draws the initial weights
from ``default_rng(s)`` and the order of the mini-batches from ``default_rng(s + 100)``.  SGD
with momentum 0.9, batches of 32, at most 60 epochs, early stopping on the validation zero-one
error with patience 10 (``relunet.fit`` keeps the weights of the best epoch).  A run *diverges*
if a floating-point overflow or an invalid value occurs, or the library refuses a non-finite
value; it *stalls* if no epoch improves on the validation error of the initial network.

Protocol.  For each loss (cross-entropy, soft-max quadratic, quadratic on the scores,
exp-quadratic) and each initialisation, the learning rate runs over the grid
:math:`\\alpha = 10^{k/2}` (spacing a factor :math:`\\sqrt{10}`), starting with
:math:`10^{-3} \\le \\alpha \\le 1` and extended by one point at a time in the direction of the
best value until the best is interior (between :math:`10^{-5}` and :math:`10`); a grid on which
no learning rate reaches a mean validation error below 0.85 (chance is 0.9) is extended
downwards to :math:`10^{-5}`, in search of a rate small enough to train.  The score of a
learning rate is the mean over the seeds of the best validation error, a diverged run counting
as 1.  Per loss, the configuration (initialisation, learning rate) with the lowest score is
chosen, and only its networks (one per seed) are evaluated on the test set.  The chosen
configurations are also run with a four times longer budget (250 epochs, patience 25), again
scored on the test set.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import relunet as rn

LOSSES = {
    "cross-entropy": rn.CrossEntropy,
    "soft-max quadratic": rn.SoftmaxQuadratic,
    "quadratic": rn.Quadratic,
    "exp-quadratic": rn.ExpQuadratic,
}
INITS = {"He": None, "small": 0.01}  # the output layer's standard deviation (None: He)
SEEDS = (1, 2, 3, 4, 5)
WIDTHS = (40, 100, 10)
EPOCHS, PATIENCE, BATCH, MOMENTUM = 60, 10, 32, 0.9
LONG_EPOCHS, LONG_PATIENCE = 250, 25
K_START, K_MIN, K_MAX = (-6, 0), -10, 2  # alpha = 10^(k/2)
NO_LEARNING = 0.85  # a grid whose every score is this bad (chance: 0.9) is extended downwards
OUT = Path(__file__).resolve().parent / "results" / "02_loss_comparison.json"


def lr_of(k: int) -> float:
    """The learning rate :math:`10^{k/2}` of grid index ``k``, rounded to 4 significant digits."""
    return float(f"{10 ** (k / 2):.4g}")


def split(tiny: bool = False) -> dict[str, np.ndarray]:
    """MNIST-1D: the fixed training/validation split of the training set, and the test set."""
    d = rn.data.mnist1d()
    x, y, x_val, y_val = rn.data.train_val_split(d.x, d.y, 0.2, rng=np.random.default_rng(0))
    data = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "x_test": d.x_test, "y_test": d.y_test}
    if tiny:
        data = {k: v[: 300 if k in ("x", "y") else 100] for k, v in data.items()}
    return data


def make_net(seed: int, init: str) -> rn.Sequential:
    return rn.mlp(WIDTHS, rng=np.random.default_rng(seed), final_scale=INITS[init])


def train(data, loss: str, init: str, lr: float, seed: int, *, epochs=EPOCHS, patience=PATIENCE):
    """One run; returns ``(record, network)``, the network holding the weights of the best epoch."""
    net = make_net(seed, init)
    try:
        with np.errstate(over="raise", invalid="raise"):
            hist = rn.fit(
                net,
                LOSSES[loss](),
                rn.SGD(lr=lr, momentum=MOMENTUM),
                data["x"],
                data["y"],
                epochs=epochs,
                batch_size=BATCH,
                rng=np.random.default_rng(seed + 100),
                x_val=data["x_val"],
                y_val=data["y_val"],
                patience=patience,
            )
    except (ValueError, FloatingPointError) as err:
        return {"status": "diverged", "message": str(err)[:80], "val_error": 1.0}, None
    rec = {
        "status": "stalled" if hist.best_epoch == 0 else "trained",
        "best_epoch": hist.best_epoch,
        "epochs_run": len(hist.loss) - 1,
        "val_error": hist.val_error[hist.best_epoch],
        "val_error_init": hist.val_error[0],
        "final_loss": hist.loss[-1],
        "curves": {k: _r(getattr(hist, k)) for k in ("loss", "train_error", "val_error")},
    }
    return rec, net


def _r(values) -> list:
    """Round to 7 significant digits for the JSON."""
    return [float(f"{v:.7g}") for v in values]


def test_accuracy(data, net) -> float:
    return rn.accuracy(net(data["x_test"]), data["y_test"])


_DATA: dict = {}


def _data(tiny: bool) -> dict[str, np.ndarray]:
    """The split, generated once per process (MNIST-1D takes seconds to generate)."""
    if tiny not in _DATA:
        _DATA[tiny] = split(tiny)
    return _DATA[tiny]


def _job(args):
    """A worker's run: the record and the trained weights (the test set stays untouched here)."""
    tiny, loss, init, k, seed, long = args
    data = _data(tiny)
    kw = {"epochs": 2, "patience": 1} if tiny else {}
    if long and not tiny:
        kw = {"epochs": LONG_EPOCHS, "patience": LONG_PATIENCE}
    rec, net = train(data, loss, init, lr_of(k), seed, **kw)
    return args, rec, None if net is None else net.state_dict()


def score(runs: dict) -> float:
    """Mean over the seeds of the best validation error (a diverged run counts as 1)."""
    return float(np.mean([r["val_error"] for r in runs.values()]))


def best_k(grid: dict) -> int:
    """The grid index with the lowest score (the smaller learning rate on a tie)."""
    return min(grid, key=lambda k: (score(grid[k]), k))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="a quick smoke run on a small subset")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    tiny = args.tiny
    seeds = SEEDS[:2] if tiny else SEEDS
    losses = list(LOSSES)[:2] if tiny else list(LOSSES)
    k_lo, k_hi = (-2, -1) if tiny else K_START
    k_min, k_max = (-3, 0) if tiny else (K_MIN, K_MAX)
    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    states: dict = {}

    def run(todo):
        done = pool.map(_job, todo, chunksize=1) if pool else map(_job, todo)
        for i, (key, rec, state) in enumerate(done, 1):
            loss, init, k, seed = key[1:5]
            grids[(loss, init)].setdefault(k, {})[seed] = rec
            states[key[1:]] = state
            print(f"[{i}/{len(todo)}] {loss} {init} {lr_of(k):g} {seed}", file=sys.stderr)

    grids = {(loss, init): {} for loss in losses for init in INITS}
    run([(tiny, *c, k, s, False) for c in grids for k in range(k_lo, k_hi + 1) for s in seeds])
    while True:  # extend each grid towards its best value until that value is interior
        todo = []
        for c, grid in grids.items():
            kb, ks = best_k(grid), sorted(grid)
            step = -1 if kb == ks[0] else 1 if kb == ks[-1] else 0
            if not step and min(score(runs) for runs in grid.values()) >= NO_LEARNING:
                kb, step = ks[0], -1  # nothing trains: try a smaller rate
            if step and k_min <= kb + step <= k_max:
                todo += [(tiny, *c, kb + step, s, False) for s in seeds]
        if not todo:
            break
        run(todo)

    data = _data(tiny)
    results = {"grid": {}, "chosen": {}, "long": {}}
    for (loss, init), grid in grids.items():
        ks = sorted(grid)
        results["grid"][f"{loss}|{init}"] = {
            "k": ks,
            "lr": [lr_of(k) for k in ks],
            "score": [score(grid[k]) for k in ks],
            "runs": {
                str(k): {
                    str(s): {key: v for key, v in grid[k][s].items() if key != "curves"}
                    for s in seeds
                }
                for k in ks
            },
            "best_k": best_k(grid),
            "interior": ks[0] < best_k(grid) < ks[-1],
        }
    long_todo = []
    for loss in losses:
        init = min(INITS, key=lambda i: (score(grids[(loss, i)][best_k(grids[(loss, i)])]), i))
        k = best_k(grids[(loss, init)])
        runs = grids[(loss, init)][k]
        nets = {s: make_net(s, init) for s in seeds}
        accs = []
        for s in seeds:
            if states[(loss, init, k, s, False)] is None:
                accs.append(float("nan"))
                continue
            nets[s].load_state_dict(states[(loss, init, k, s, False)])
            accs.append(test_accuracy(data, nets[s]))
        results["chosen"][loss] = {
            "init": init,
            "k": k,
            "lr": lr_of(k),
            "test_accuracy": accs,
            "runs": {str(s): runs[s] for s in seeds},
        }
        long_todo += [(tiny, loss, init, k, s, True) for s in seeds]
    done = pool.map(_job, long_todo, chunksize=1) if pool else map(_job, long_todo)
    for (_, loss, init, _k, seed, _), rec, state in done:
        acc = float("nan")
        if state is not None:
            net = make_net(seed, init)
            net.load_state_dict(state)
            acc = test_accuracy(data, net)
        rec.pop("curves", None)
        results["long"].setdefault(loss, {})[str(seed)] = dict(rec, test_accuracy=acc)
        print(f"long {loss} {seed}", file=sys.stderr)
    if pool:
        pool.shutdown()
    results["meta"] = {
        "tiny": tiny,
        "seeds": list(seeds),
        "widths": list(WIDTHS),
        "n_train": len(data["x"]),
        "n_val": len(data["x_val"]),
        "n_test": len(data["x_test"]),
        "epochs": EPOCHS,
        "patience": PATIENCE,
        "long_epochs": LONG_EPOCHS,
        "long_patience": LONG_PATIENCE,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out} in {results['meta']['minutes']} min", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
