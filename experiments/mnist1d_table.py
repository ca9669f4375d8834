"""The protocol behind chapter 07's table: MNIST-1D classifiers trained with ``relunet`` only.

Models (built by :func:`build`): a linear soft-max classifier; the paper's MLP (40-100-100-10 with
a residual connection); a wider residual MLP with dropout; the paper's CNN (three strided
convolutions, 25 channels); and a ReLU + max-pool CNN (three conv-ReLU-pool blocks).

Protocol, for each model and for both inputs (plain, and the 40 positions shuffled by one fixed
permutation applied to training and test signals):

1. A validation split (20 %) is carved once from the 4000 training signals; the 1000 test signals
   are not touched until step 3.
2. Tuning on validation accuracy only: for every setting of the model's recipe (dropout keep
   probability, mini-batch size), a learning-rate grid spaced by a factor sqrt(10) is extended
   at whichever end holds the best value until the best is interior (or a bound is reached,
   which the results record); the best setting and rate are chosen.
3. The chosen configuration is trained with the final seeds (initial weights, mini-batch order
   and dropout masks all follow the seed); each run's test accuracy is recorded once.

Training: mini-batch SGD with momentum, float32, a step learning-rate decay, and early stopping on
the validation zero-one error (the weights of the best epoch are kept).  The wide MLP's recipe
also tries mini-batches of 32 and a schedule twice as long: with 100 epochs its tuning runs still
improved at the last epoch.

    python experiments/mnist1d_table.py            # the full protocol; writes experiments/results/
    python experiments/mnist1d_table.py --quick    # a reduced setting (seconds), for the tests
    python experiments/mnist1d_table.py --kernels  # chapter 07's reruns under two BLAS kernels
    python experiments/mnist1d_table.py --cache runs.jsonl  # resume an interrupted protocol

Run it with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), as the book's Makefile does.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import relunet as rn
from relunet.optim import StepDecay

RESULTS = Path(__file__).resolve().parent / "results"
TABLE_FILE = "mnist1d_table.json"
WEIGHTS_FILE = "mnist1d_cnn_weights.npz"


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: the settings tuned over, and the learning-rate schedule."""

    keeps: tuple[float, ...] = (1.0,)  # dropout keep probabilities tried (1: no dropout)
    batch_sizes: tuple[int, ...] = (100,)  # mini-batch sizes tried
    epochs: int = 100  # at most
    decay_every: int = 40  # the learning rate is divided by 10 after every `decay_every` epochs
    patience: int = 30  # early stopping on the validation zero-one error


LONG = {"epochs": 200, "decay_every": 80, "patience": 60}


@dataclass(frozen=True)
class Config:
    """Everything a run depends on besides the model, the learning rate and the seed."""

    momentum: float = 0.9
    nesterov: bool = False
    val_fraction: float = 0.2
    split_seed: int = 0  # the validation split
    perm_seed: int = 2024  # the permutation of the shuffled-positions experiment
    tune_seeds: tuple[int, ...] = (0,)
    final_seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
    # learning rates on a grid of half decades, alpha = 10^(k/2): k = -4, -3, -2 is 0.01, 0.0316, 0.1
    lr_start: tuple[int, ...] = (-4, -3, -2)
    lr_bounds: tuple[int, int] = (-8, 2)  # 1e-4 and 10
    keep_step: float = 0.2  # keep probabilities are extended downwards in these steps
    n_train: int | None = None  # use only the first n of the training split (reduced setting)
    models: tuple[str, ...] = ("linear", "mlp_paper", "mlp", "cnn_paper", "cnn")
    inputs: tuple[str, ...] = ("plain", "shuffled")
    recipes: dict[str, Recipe] = field(
        default_factory=lambda: {
            "linear": Recipe(),
            "mlp_paper": Recipe(),
            "mlp": Recipe(keeps=(1.0, 0.8, 0.6), batch_sizes=(32, 100), **LONG),
            "cnn_paper": Recipe(),
            "cnn": Recipe(keeps=(1.0, 0.8, 0.6)),
        }
    )


_SHORT = Recipe(epochs=2, decay_every=1, patience=2)
QUICK = Config(
    tune_seeds=(0,),
    final_seeds=(1,),
    lr_start=(-4, -2),
    lr_bounds=(-4, -2),
    n_train=300,
    recipes={
        "linear": _SHORT,
        "mlp_paper": _SHORT,
        "mlp": replace(_SHORT, keeps=(0.8,), batch_sizes=(32, 100)),
        "cnn_paper": _SHORT,
        "cnn": replace(_SHORT, keeps=(0.8,)),
    },
)


# --------------------------------------------------------------------------- models


def build(model: str, rng: np.random.Generator, keep: float = 1.0) -> rn.Sequential:
    """The network ``model`` with weights from ``rng``, in float32; ``keep`` < 1 adds dropout."""
    drop = [rn.Dropout(keep, rng=rng)] if keep < 1.0 else []
    if model == "linear":
        layers = [rn.Flatten(), rn.Linear(40, 10, rng=rng)]
    elif model in ("mlp_paper", "mlp"):
        w = 100 if model == "mlp_paper" else 256
        layers = [
            rn.Flatten(),
            rn.Linear(40, w, rng=rng),
            rn.ReLU(),
            *drop,
            rn.Residual([rn.Linear(w, w, rng=rng), rn.ReLU(), *drop]),
            rn.Linear(w, 10, rng=rng),
        ]
    elif model == "cnn_paper":
        c = 25
        layers = [
            rn.Conv1d(1, c, 5, rng=rng, stride=2, padding=1),
            rn.ReLU(),
            rn.Conv1d(c, c, 3, rng=rng, stride=2, padding=1),
            rn.ReLU(),
            rn.Conv1d(c, c, 3, rng=rng, stride=2, padding=1),
            rn.ReLU(),
            rn.Flatten(),
            *drop,
            rn.Linear(c * 5, 10, rng=rng),
        ]
    elif model == "cnn":
        c = 32
        layers = [
            rn.Conv1d(1, c, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),  # 40 -> 20
            rn.Conv1d(c, c, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),  # 20 -> 10
            rn.Conv1d(c, c, 3, rng=rng, padding=1),
            rn.ReLU(),
            rn.MaxPool1d(2),  # 10 -> 5
            rn.Flatten(),
            *drop,
            rn.Linear(c * 5, 10, rng=rng),
        ]
    else:
        raise ValueError(f"model must be one of {Config().models}, got {model!r}")
    net = rn.Sequential(layers)
    for layer in net.layers:  # float32: half the memory traffic of float64
        for key in list(layer.params):
            layer.params[key] = layer.params[key].astype(np.float32)
    return net


# --------------------------------------------------------------------------- data


@functools.cache
def _mnist1d() -> rn.data.Dataset:
    return rn.data.mnist1d(as_signal=True)  # the paper's defaults: 4000 + 1000 signals


def load(inputs: str, cfg: Config) -> dict[str, np.ndarray]:
    """Training, validation and test arrays ``(N, 1, 40)`` in float32, plain or shuffled."""
    d = _mnist1d()
    x, x_test = d.x.astype(np.float32), d.x_test.astype(np.float32)
    if inputs == "shuffled":
        perm = permutation(cfg)
        x, x_test = x[:, :, perm], x_test[:, :, perm]
    elif inputs != "plain":
        raise ValueError(f"inputs must be 'plain' or 'shuffled', got {inputs!r}")
    x_tr, y_tr, x_val, y_val = rn.data.train_val_split(
        x, d.y, cfg.val_fraction, rng=np.random.default_rng(cfg.split_seed)
    )
    if cfg.n_train is not None:
        x_tr, y_tr = x_tr[: cfg.n_train], y_tr[: cfg.n_train]
    return {"x_tr": x_tr, "y_tr": y_tr, "x_val": x_val, "y_val": y_val,
            "x_test": x_test, "y_test": d.y_test}  # fmt: skip


def permutation(cfg: Config) -> np.ndarray:
    """The one fixed permutation of the 40 positions."""
    return np.random.default_rng(cfg.perm_seed).permutation(40)


# --------------------------------------------------------------------------- one run


def train(model: str, lr: float, keep: float, batch: int, seed: int, data: dict, cfg: Config):
    """Train one network; return it (with its best validation epoch's weights) and a record.

    SGD with momentum (Nesterov's if ``cfg.nesterov``) on mini-batches of ``batch`` signals at
    learning rate ``lr``, divided by 10 every ``decay_every`` epochs of the model's recipe
    (:class:`relunet.optim.StepDecay`); early stopping after ``patience`` epochs without a
    lower validation zero-one error.
    """
    recipe = cfg.recipes[model]
    t0 = time.process_time()
    net = build(model, np.random.default_rng(seed), keep)
    opt = rn.SGD(lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    try:
        with np.errstate(over="raise", invalid="raise"):
            hist = rn.fit(net, rn.CrossEntropy(), opt, data["x_tr"], data["y_tr"],
                          epochs=recipe.epochs, batch_size=batch,
                          rng=np.random.default_rng(10_000 + seed),  # mini-batch order
                          x_val=data["x_val"], y_val=data["y_val"], patience=recipe.patience,
                          lr_schedule=StepDecay(recipe.decay_every, 0.1))  # fmt: skip
        best_epoch, epochs_run = hist.best_epoch, len(hist.val_error) - 1
        val_acc = 1.0 - hist.val_error[best_epoch]
        train_acc = 1.0 - hist.train_error[best_epoch]
    except (ValueError, FloatingPointError) as err:  # a non-finite number: the run diverged
        if isinstance(err, ValueError) and "NaN or inf" not in str(err):
            raise
        val_acc, train_acc, best_epoch, epochs_run = None, None, 0, None
    return net, {
        "model": model,
        "lr": lr,
        "keep": keep,
        "batch_size": batch,
        "seed": seed,
        "val_acc": val_acc,
        "train_acc": train_acc,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "cpu_seconds": round(time.process_time() - t0, 2),
    }


def test_accuracy(net, data) -> float:
    """Test accuracy of a trained network: called once per final run."""
    return rn.accuracy(net.forward(data["x_test"]), data["y_test"])


# --------------------------------------------------------------------------- tuning


def half_decade(k: int) -> float:
    """The learning rate :math:`10^{k/2}` (neighbours on the grid are a factor sqrt(10) apart)."""
    return float(10.0 ** (k / 2))


def setting_name(keep: float, batch: int) -> str:
    return f"keep={keep:g},batch={batch}"


def tune(model: str, inputs: str, data: dict, cfg: Config, log, cache) -> dict:
    """Learning-rate grids, one per setting (keep probability, batch size), extended until the
    best rate is interior; for every batch size the keep probabilities are extended downwards
    (in steps of ``cfg.keep_step``) while the lowest one is the best.  The setting and rate
    with the best validation accuracy are chosen."""
    recipe, runs, grids = cfg.recipes[model], [], {}

    def score(lr, keep, batch):
        accs = []
        for seed in cfg.tune_seeds:
            _, rec = cache.train(model, inputs, lr, keep, batch, seed, data, cfg)
            cache.store(model, inputs, rec, cfg)
            runs.append(rec)
            log(rec)
            accs.append(rec["val_acc"] if rec["val_acc"] is not None else 0.0)
        return float(np.mean(accs))

    def lr_grid(keep, batch):
        grid = {k: score(half_decade(k), keep, batch) for k in cfg.lr_start}
        while True:  # extend at the end that holds the best value, within the bounds
            ks = sorted(grid)
            best = max(ks, key=lambda k: grid[k])  # a tie goes to the smaller rate
            if best == ks[0] and best > cfg.lr_bounds[0]:
                grid[best - 1] = score(half_decade(best - 1), keep, batch)
            elif best == ks[-1] and best < cfg.lr_bounds[1]:
                grid[best + 1] = score(half_decade(best + 1), keep, batch)
            else:
                break
        ks = sorted(grid)
        best = max(ks, key=lambda k: grid[k])
        grids[setting_name(keep, batch)] = {
            "keep": keep,
            "batch_size": batch,
            "lr": [half_decade(k) for k in ks],
            "val_acc": [grid[k] for k in ks],
            "best_lr": half_decade(best),
            "best_val_acc": grid[best],
            "interior": ks[0] < best < ks[-1],
        }
        return grid[best]

    keep_grids = {}
    for batch in recipe.batch_sizes:
        found = {keep: lr_grid(keep, batch) for keep in recipe.keeps}
        while True:  # a smaller keep probability while the smallest is the best
            low = min(found)
            nxt = round(low - cfg.keep_step, 10)
            if max(found, key=lambda k: (found[k], k)) == low and nxt > 0 and len(found) > 1:
                found[nxt] = lr_grid(nxt, batch)
            else:
                break
        best = max(found, key=lambda k: (found[k], k))  # a tie: less dropout
        keep_grids[str(batch)] = {
            "keeps": sorted(found),
            "best_keep": best,
            "interior_or_none": best > min(found) or len(found) == 1,
        }
    chosen = max(grids.values(), key=lambda g: g["best_val_acc"])  # a tie: the first setting
    return {
        "grids": grids,
        "keep_grids": keep_grids,
        "runs": runs,
        "keep": chosen["keep"],
        "batch_size": chosen["batch_size"],
        "lr": chosen["best_lr"],
    }


# --------------------------------------------------------------------------- a cache of runs


def fingerprint() -> str:
    """A hash of what a run's result depends on: the library's training code and this script's
    :func:`build`, :func:`load` and :func:`train`."""
    h = hashlib.sha256()
    lib = Path(rn.__file__).parent
    for name in ("_checks", "blocks", "data", "layers", "losses", "network", "optim", "train"):
        h.update((lib / f"{name}.py").read_bytes())
    for f in (build, load, permutation, train):
        h.update(inspect.getsource(f).encode())
    return h.hexdigest()[:16]


class RunCache:
    """Records of finished runs, one JSON object a line, so an interrupted protocol resumes.

    A record is reused only for the same model, inputs, learning rate, keep probability, batch
    size, seed, recipe, data settings and :func:`fingerprint` (the same code).  Runs are
    deterministic on one machine and BLAS kernel, so a reused record is what a rerun gives.
    Without a path nothing is stored.
    """

    def __init__(self, path: Path | None = None):
        self.path, self.records = path, {}
        self.fp, self.reused = fingerprint(), 0
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                item = json.loads(line)
                self.records[item["key"]] = item["record"]

    def key(self, model, inputs, lr, keep, batch, seed, cfg: Config) -> str:
        data = {"val_fraction": cfg.val_fraction, "split_seed": cfg.split_seed,
                "n_train": cfg.n_train, "momentum": cfg.momentum, "nesterov": cfg.nesterov,
                "perm_seed": cfg.perm_seed if inputs == "shuffled" else None}  # fmt: skip
        return json.dumps([model, inputs, lr, keep, batch, seed,
                           asdict(cfg.recipes[model]), data, self.fp])  # fmt: skip

    def train(self, model, inputs, lr, keep, batch, seed, data, cfg, *, need_net=False):
        """:func:`train`, or the stored record (then the network is None unless ``need_net``)."""
        k = self.key(model, inputs, lr, keep, batch, seed, cfg)
        if k in self.records and not need_net:
            self.reused += 1
            return None, dict(self.records[k])
        net, rec = train(model, lr, keep, batch, seed, data, cfg)
        if k in self.records:  # retrained for its network: it must give the stored record
            stored = self.records[k]
            same = {key: v for key, v in stored.items() if key not in ("cpu_seconds", "test_acc")}
            if {key: rec[key] for key in same} != same:
                raise RuntimeError(f"a rerun differs from the cached run {k}: {rec} != {stored}")
            self.reused += 1
            rec = dict(stored)
        return net, rec

    def store(self, model, inputs, rec, cfg) -> None:
        k = self.key(model, inputs, rec["lr"], rec["keep"], rec["batch_size"], rec["seed"], cfg)
        if k not in self.records:
            self.records[k] = rec
            if self.path is not None:
                with self.path.open("a") as f:
                    f.write(json.dumps({"key": k, "record": rec}) + "\n")


# --------------------------------------------------------------------------- the protocol


def summary(values) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}  # fmt: skip


def run(cfg: Config, out: Path, log=print, cache: RunCache | None = None) -> dict:
    """The whole protocol; writes ``mnist1d_table.json`` (and the CNN's weights) into ``out``.

    ``cache`` (a :class:`RunCache`) skips the runs it already holds; the CPU time reported is
    the sum over all runs of the time each took when it ran.
    """
    out.mkdir(parents=True, exist_ok=True)
    cache = RunCache() if cache is None else cache
    results = {}
    for inputs in cfg.inputs:
        data = load(inputs, cfg)
        for model in cfg.models:
            log(f"== {model}, {inputs}")
            tuned = tune(model, inputs, data, cfg, log, cache)
            finals = []
            for seed in cfg.final_seeds:
                keep_net = model == "cnn" and inputs == "plain" and seed == cfg.final_seeds[0]
                net, rec = cache.train(model, inputs, tuned["lr"], tuned["keep"],
                                       tuned["batch_size"], seed, data, cfg, need_net=keep_net)  # fmt: skip
                if net is not None:
                    acc = test_accuracy(net, data)
                    if rec.setdefault("test_acc", acc) != acc:
                        raise RuntimeError(f"the rerun of {rec} scores {acc} on the test set")
                cache.store(model, inputs, rec, cfg)
                finals.append(rec)
                log(rec)
                if keep_net:
                    net.save(out / WEIGHTS_FILE)
            results[f"{model}/{inputs}"] = {
                "model": model,
                "inputs": inputs,
                "tuning": tuned,
                "finals": finals,
                "test_acc": summary([r["test_acc"] for r in finals]),
            }
    doc = {
        "config": asdict(cfg),
        "permutation": permutation(cfg).tolist(),
        "results": results,
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in _all_runs(results)), 1),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "relunet": rn.__version__,
        },  # fmt: skip
    }
    text = json.dumps(doc, indent=1) + "\n"
    (out / TABLE_FILE).write_text(text)
    return json.loads(text)


def _all_runs(results: dict):
    for r in results.values():
        yield from r["tuning"]["runs"]
        yield from r["finals"]


def config_from(doc: dict) -> Config:
    """The :class:`Config` stored in a results file (tuples and recipes restored)."""

    def tuples(d):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    c = tuples(doc["config"])
    c["recipes"] = {m: Recipe(**tuples(r)) for m, r in c["recipes"].items()}
    return Config(**c)


# --------------------------------------------------------------------------- BLAS kernels

KERNELS_FILE = "mnist1d_kernels.json"
RERUN_MODELS = ("linear", "mlp_paper")  # the runs chapter 07 retrains
SECOND_KERNEL = "Prescott"  # OPENBLAS_CORETYPE of the Makefile's second nbval pass


def rerun(model: str, out: Path = RESULTS) -> dict:
    """Retrain the first final run of ``model`` on the plain signals; test accuracy included."""
    doc = json.loads((out / TABLE_FILE).read_text())
    cfg, saved = config_from(doc), doc["results"][f"{model}/plain"]["finals"][0]
    data = load("plain", cfg)
    net, rec = train(
        model, saved["lr"], saved["keep"], saved["batch_size"], saved["seed"], data, cfg
    )
    rec["test_acc"] = test_accuracy(net, data)
    return rec


def score_weights(out: Path = RESULTS) -> float:
    """Test accuracy of the saved CNN weights."""
    doc = json.loads((out / TABLE_FILE).read_text())
    cfg, saved = config_from(doc), doc["results"]["cnn/plain"]["finals"][0]
    net = build("cnn", np.random.default_rng(0), saved["keep"])
    net.load(out / WEIGHTS_FILE)
    return test_accuracy(net, load("plain", cfg))


def kernel_check(out: Path = RESULTS, log=print) -> dict:
    """The chapter's reruns and the saved CNN's score under the default and the second kernel.

    Each is computed in a fresh process (OpenBLAS reads ``OPENBLAS_CORETYPE`` when it loads);
    the differences to the saved results are what the chapter's tolerances must cover.
    """
    doc = json.loads((out / TABLE_FILE).read_text())
    found = {}
    for kernel in ("default", SECOND_KERNEL):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        if kernel != "default":
            env["OPENBLAS_CORETYPE"] = kernel
        cmd = [sys.executable, __file__, "--out", str(out), "--in-process"]
        text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        found[kernel] = json.loads(text.strip().splitlines()[-1])
        log({kernel: found[kernel]})
    saved = {m: doc["results"][f"{m}/plain"]["finals"][0] for m in RERUN_MODELS}
    saved["cnn_weights"] = {"test_acc": saved_cnn_acc(doc)}
    gaps = {
        name: {
            key: max(abs(found[k][name][key] - saved[name][key]) for k in found)
            for key in saved[name]
            if key in ("val_acc", "test_acc")
        }
        for name in saved
    }
    report = {"kernels": list(found), "found": found, "max_gap": gaps}
    (out / KERNELS_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report


def saved_cnn_acc(doc: dict) -> float:
    return doc["results"]["cnn/plain"]["finals"][0]["test_acc"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the reduced setting of the tests")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument(
        "--kernels", action="store_true", help="rerun the chapter's checks under two BLAS kernels"
    )
    parser.add_argument("--cache", type=Path, help="a file of finished runs, to resume from")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def log(item):
        print(item if isinstance(item, str) else json.dumps(item), flush=True)

    if args.in_process:  # one kernel, in this process: called by kernel_check
        found = {m: rerun(m, args.out) for m in RERUN_MODELS}
        found["cnn_weights"] = {"test_acc": score_weights(args.out)}
        log(found)
        return
    if args.kernels:
        kernel_check(args.out, log)
        return
    cache = RunCache(args.cache)
    doc = run(QUICK if args.quick else Config(), args.out, log, cache)
    log(f"{cache.reused} runs taken from the cache")
    for key, r in doc["results"].items():
        s = r["test_acc"]
        log(f"{key:<22} test accuracy {s['mean']:.4f} +- {s['sd']:.4f} (n = {s['n']})")
    log(f"CPU time {doc['cpu_seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
