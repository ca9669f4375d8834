"""The MNIST-1D experiments of chapter 5 (stochastic gradient descent), full protocol.

The chapter loads the results this script writes (``experiments/results/05_sgd.json``)
and re-runs one reduced setting, asserting it against the saved numbers.  Run from the
repository root with the Makefile's environment (one BLAS thread)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python experiments/05_sgd.py --jobs 2

(about half an hour on a loaded 2-core machine).  ``--tiny`` runs every protocol on a small
subset for a few epochs (the test in ``tests/test_experiments_05.py``).

Set-up shared by every protocol: the MNIST-1D training set (4000 signals) split once into 3000
for training and 1000 for validation; the 1000 test signals are used only by the termination
protocol, to score the weights each stopping rule keeps.  The network is the MLP 40-100-100-10
(``relunet.mlp``, He initialisation); the loss is the cross-entropy.  Seed ``s`` draws the
initial weights from ``default_rng(s)`` and the order of the mini-batches from
``default_rng(10_000 + s)``.

Protocols (each a function below; all use seeds 0, 1, 2):

``momentum``     classical momentum (mu = 0, 0.5, 0.9, 0.99), Nesterov (mu = 0.9, 0.99) and the
                 Sutskever et al. schedule mu_t (mu_max = 0.99, both methods), each on a
                 learning-rate grid spaced by sqrt(10); batches of 32, 20 epochs.  mu = 0 is the
                 learning-rate sweep of the chapter.
``schedules``    mu = 0.9: constant alpha vs StepDecay(every=10) vs ReduceOnPlateau(patience=3)
                 at three rates (the last one too large to converge), 40 epochs.
``batch_size``   plain SGD (mu = 0), B = 1, 8, 32, 128, 3000 (the whole training set), each on
                 its own learning-rate grid (4-5 rates), the same number of processed samples
                 (10 epochs; B = 128 and 3000 also 100 epochs), plus CPU seconds per epoch of
                 training for each B (machine-dependent: the chapter uses only their ratios).
                 Re-running the script with its results present only re-measures the timings.
``termination``  mu = 0.9, batches of 32, 100 epochs: per epoch the training risk, step length
                 ||w_e - w_{e-1}||, weight norm, full-batch gradient norm, validation and test
                 zero-one errors.
``late_momentum`` "momentum is more useful in later stages": mu = 0.9 for the whole run, only the
                 first half, only the second half, or never, at the same effective step
                 alpha / (1 - mu) (20 epochs).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import relunet as rn
from relunet.optim import ReduceOnPlateau, StepDecay

SEEDS = (0, 1, 2)
WIDTHS = (40, 100, 100, 10)
N_TRAIN, N_VAL = 3000, 1000
OUT = Path(__file__).resolve().parent / "results" / "05_sgd.json"
LOSS = rn.CrossEntropy()

# ---------------------------------------------------------------- the settings of each protocol
MOMENTUM_LRS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
MOMENTUM_CONFIGS = {  # name: (momentum, nesterov); "sutskever" = the schedule with mu_max 0.99
    "sgd": (0.0, False),
    "cm 0.5": (0.5, False),
    "cm 0.9": (0.9, False),
    "cm 0.99": (0.99, False),
    "nag 0.9": (0.9, True),
    "nag 0.99": (0.99, True),
    "cm sutskever": ("sutskever", False),
    "nag sutskever": ("sutskever", True),
}
SCHEDULE_LRS = (0.01, 0.03, 0.1)
BATCH_LRS = {  # each grid extended until its best rate (by validation error at 10 epochs) is interior
    1: (0.001, 0.003, 0.01, 0.03),
    8: (0.003, 0.01, 0.03, 0.1, 0.3),
    32: (0.01, 0.03, 0.1, 0.3, 1.0),
    128: (0.03, 0.1, 0.3, 1.0, 3.0),
    3000: (0.1, 0.3, 1.0, 3.0, 10.0),
}
LATE_LRS_EFF = (0.03, 0.1, 0.3)  # effective steps alpha / (1 - mu)


def split(tiny: bool = False) -> dict[str, np.ndarray]:
    """The fixed training/validation split of MNIST-1D's training set, and its test set.

    ``tiny``: 500 signals instead of 5000 (300 training, 100 validation, 100 test).
    """
    d = rn.data.mnist1d(num_samples=500) if tiny else rn.data.mnist1d()
    n_train, n_val = (300, 100) if tiny else (N_TRAIN, N_VAL)
    order = np.random.default_rng(2024).permutation(len(d.x))
    tr, va = order[:n_train], order[n_train : n_train + n_val]
    return {
        "x": d.x[tr],
        "y": d.y[tr],
        "x_val": d.x[va],
        "y_val": d.y[va],
        "x_test": d.x_test,
        "y_test": d.y_test,
    }


def make_net(seed: int) -> rn.Sequential:
    return rn.mlp(WIDTHS, rng=np.random.default_rng(seed))


def _momentum(value):
    return rn.sutskever_momentum if value == "sutskever" else value


def _r(values) -> list:
    """Round to 7 significant digits for the JSON (NaN stays NaN)."""
    return [float(f"{v:.7g}") for v in values]


def train(
    data,
    seed: int,
    *,
    lr: float,
    momentum=0.0,
    nesterov: bool = False,
    batch_size: int = 32,
    epochs: int,
    phases=None,
    extra: bool = False,
) -> dict:
    """Train one network epoch by epoch with ``relunet.fit`` (one call per epoch, the same
    optimizer and order generator throughout, so the run is the one a single call would make).

    ``phases``: optional ``{epoch: (lr, momentum)}`` switches applied before that epoch.
    ``extra``: also record the test error, the weight norm and the full-batch gradient norm.
    A run whose training risk exceeds 10 times its initial value (or whose scores overflow)
    is stopped and marked diverged.
    """
    net = make_net(seed)
    opt = rn.SGD(lr=lr, momentum=_momentum(momentum), nesterov=nesterov)
    rng = np.random.default_rng(10_000 + seed)
    x, y = data["x"], data["y"]
    rec = {"loss": [], "train_error": [], "val_error": [], "step_norm": [math.nan]}
    if extra:
        rec.update(test_error=[], weight_norm=[], grad_norm=[])

    def record():
        risk, err = rn.evaluate(net, LOSS, x, y)
        rec["loss"].append(risk)
        rec["train_error"].append(err)
        rec["val_error"].append(rn.evaluate(net, LOSS, data["x_val"], data["y_val"])[1])
        if extra:
            rec["test_error"].append(rn.evaluate(net, LOSS, data["x_test"], data["y_test"])[1])
            rec["weight_norm"].append(float(np.linalg.norm(rn.flat_parameters(net))))
            g = rn.loss_gradient(net, LOSS, x, y)
            rec["grad_norm"].append(float(np.linalg.norm(g)))

    record()
    diverged = None
    for epoch in range(1, epochs + 1):
        if phases and epoch in phases:
            opt.lr, opt.momentum = phases[epoch]
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                hist = rn.fit(net, LOSS, opt, x, y, epochs=1, batch_size=batch_size, rng=rng)
        except ValueError:  # scores overflowed to inf/NaN inside the epoch
            diverged = epoch
            break
        if not hist.loss[1] < 10 * rec["loss"][0]:
            diverged = epoch
            break
        rec["step_norm"].append(hist.step_norm[1])
        record()
    out = {k: _r(v) for k, v in rec.items()}
    out["diverged"] = diverged
    return out


def train_scheduled(data, seed: int, *, lr: float, momentum: float, schedule, epochs: int):
    """One ``fit`` call with a learning-rate schedule (validation curve recorded by fit)."""
    net = make_net(seed)
    opt = rn.SGD(lr=lr, momentum=momentum)
    hist = rn.fit(
        net,
        LOSS,
        opt,
        data["x"],
        data["y"],
        epochs=epochs,
        batch_size=32,
        rng=np.random.default_rng(10_000 + seed),
        x_val=data["x_val"],
        y_val=data["y_val"],
        lr_schedule=schedule,
    )
    return {
        "loss": _r(hist.loss),
        "val_error": _r(hist.val_error),
        "lr": _r(hist.lr),
        "diverged": None,
    }


def epoch_seconds(data, batch_size: int, *, samples: int, reps: int = 3) -> float:
    """Median CPU seconds of the training steps of one epoch (forward, backward and step per
    mini-batch; no evaluation), scaled from ``samples`` samples to the whole set.

    CPU time of this process (``time.process_time``), not wall-clock time: with one BLAS thread
    it is the computation's own cost, and it does not count the time the process waits for a
    core on a shared machine."""
    x, y = data["x"][:samples], data["y"][:samples]
    times = []
    for _ in range(reps):
        net, opt = make_net(0), rn.SGD(lr=1e-3)
        t0 = time.process_time()
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            net.backward(LOSS.grad(net.forward(xb, train=True), yb))
            opt.step(net)
        times.append(time.process_time() - t0)
    return float(np.median(times)) * len(data["x"]) / len(x)


# ---------------------------------------------------------------- the jobs
def jobs(tiny: bool) -> list[tuple]:
    """Every run as ``(protocol, key, function name, kwargs)``; keys are JSON-friendly strings.

    ``tiny``: one seed, one learning rate, a few settings per protocol, 2 epochs each.
    """
    e = (lambda full: 2) if tiny else (lambda full: full)
    seeds = SEEDS[:1] if tiny else SEEDS
    first = (lambda grid: grid[len(grid) // 2 : len(grid) // 2 + 1]) if tiny else (lambda g: g)
    configs = (
        {k: MOMENTUM_CONFIGS[k] for k in ("sgd", "nag 0.9", "cm sutskever")}
        if tiny
        else MOMENTUM_CONFIGS
    )
    out = []
    for name, (mom, nesterov) in configs.items():
        for lr in first(MOMENTUM_LRS):
            for s in seeds:
                kw = dict(seed=s, lr=lr, momentum=mom, nesterov=nesterov, epochs=e(20))
                out.append(("momentum", f"{name}|{lr}|{s}", "train", kw))
    for lr in first(SCHEDULE_LRS):
        for s in seeds:
            for sched in ("constant", "step", "plateau"):
                kw = dict(seed=s, lr=lr, momentum=0.9, schedule=sched, epochs=e(40))
                out.append(("schedules", f"{sched}|{lr}|{s}", "train_scheduled", kw))
    for b, lrs in BATCH_LRS.items():
        for lr in first(lrs):
            for s in seeds:
                epochs = e(100 if b >= 128 else 10)
                kw = dict(seed=s, lr=lr, batch_size=b, epochs=epochs)
                out.append(("batch_size", f"{b}|{lr}|{s}", "train", kw))
    for s in seeds:
        kw = dict(seed=s, lr=0.01, momentum=0.9, epochs=e(100), extra=True)
        out.append(("termination", f"{s}", "train", kw))
    for lr_eff in first(LATE_LRS_EFF):
        slow = lr_eff * (1 - 0.9)
        half = e(20) // 2 + 1
        plans = {
            "never": (lr_eff, 0.0, None),
            "always": (slow, 0.9, None),
            "early": (slow, 0.9, {half: (lr_eff, 0.0)}),
            "late": (lr_eff, 0.0, {half: (slow, 0.9)}),
        }
        for plan, (lr, mom, phases) in plans.items():
            for s in seeds:
                kw = dict(seed=s, lr=lr, momentum=mom, epochs=e(20), phases=phases)
                out.append(("late_momentum", f"{plan}|{lr_eff}|{s}", "train", kw))
    return out


_DATA = {}


def _run(job, tiny):
    protocol, key, fn, kw = job
    data = _DATA.setdefault(tiny, split(tiny))
    kw = dict(kw)
    if fn == "train_scheduled":
        sched = kw.pop("schedule")
        kw["schedule"] = {
            "constant": None,
            "step": StepDecay(every=10),
            "plateau": ReduceOnPlateau(patience=3),
        }[sched]
        return protocol, key, train_scheduled(data, **kw)
    return protocol, key, train(data, **kw)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="a quick smoke run on a small subset")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    todo = jobs(args.tiny)
    # finished runs are kept in a checkpoint next to the output, so an interrupted run resumes;
    # runs already in the output (when a protocol is extended) are kept as well
    partial = args.out.with_suffix(".partial.json")
    results: dict = {}
    for source in (args.out, partial):
        if source.exists():
            for protocol, runs in json.loads(source.read_text()).items():
                if protocol not in ("seconds_per_epoch", "meta"):
                    results.setdefault(protocol, {}).update(runs)
    todo = [j for j in todo if j[1] not in results.get(j[0], {})]
    t0 = time.perf_counter()

    def done(i, protocol, key, res):
        results.setdefault(protocol, {})[key] = res
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(results))
        print(f"[{i}/{len(todo)}] {protocol} {key}", file=sys.stderr, flush=True)

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            finished = pool.map(_run, todo, [args.tiny] * len(todo), chunksize=1)
            for i, out in enumerate(finished, 1):
                done(i, *out)
    else:
        for i, job in enumerate(todo, 1):
            done(i, *_run(job, args.tiny))
    # timings last, alone (no other job of ours running): seconds per epoch of training steps
    data = _DATA.setdefault(args.tiny, split(args.tiny))
    results["seconds_per_epoch"] = {
        str(b): epoch_seconds(data, b, samples=min(len(data["x"]), 300 if b == 1 else 3000))
        for b in BATCH_LRS
    }
    results["meta"] = {
        "tiny": args.tiny,
        "seeds": list(SEEDS[:1] if args.tiny else SEEDS),
        "widths": list(WIDTHS),
        "n_train": len(data["x"]),
        "n_val": len(data["x_val"]),
        "momentum_lrs": list(MOMENTUM_LRS),
        "schedule_lrs": list(SCHEDULE_LRS),
        "batch_lrs": {str(b): list(v) for b, v in BATCH_LRS.items()},
        "late_lrs_eff": list(LATE_LRS_EFF),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=None, separators=(",", ":")) + "\n")
    partial.unlink(missing_ok=True)
    print(f"wrote {args.out} in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
