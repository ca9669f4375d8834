"""Chapter 03's measurement: kinks that a trained ReLU + max-pool CNN actually meets.

How often does back-propagation in a real network reach a point where the ReLU or the maximum has
no derivative -- an exact zero pre-activation, or a max-pooling window whose maximum is tied --
and what does the sub-gradient convention chosen there change?

Network (:func:`build_cnn`): Conv1d(1, 16, 5, padding 2) -> ReLU -> MaxPool1d(2) ->
Conv1d(16, 16, 3, padding 1) -> ReLU -> MaxPool1d(2) -> Flatten -> Linear(160, 10), He
initialisation, zero biases.  Training: cross-entropy, mini-batch SGD with momentum 0.9, float64.

Three set-ups (:data:`SETUPS`), each trained with every seed of the setting:

- ``standard``: that network on MNIST-1D, whose inputs have no exact zeros;
- ``pool first``: the same with each MaxPool1d moved before its ReLU (Conv -> pool -> ReLU);
- ``flat background``: the standard network on MNIST-1D signals with a flat background,
  x <- max(x - 0.5, 0), so that most input samples are exactly 0.

Measured on the training signals, before and after training (:func:`measure`):

- at each ReLU, the number of pre-activations that are exactly 0;
- at each max-pooling layer, the windows whose two largest entries are equal (ties), those tied
  at a positive value and, of each, how many have every tied entry computed from an all-zero
  receptive field of the convolution below (so that the entry is that unit's bias) or from one
  and the same receptive field (so that the tie is forced), and the windows whose two largest
  entries differ by less than 1e-5, the step of the book's finite differences (near ties, where
  a gradient check is unreliable);
- the full-batch gradient of the mean loss with relunet's conventions (the first maximum of a
  window gets the gradient; h'(0) = 0) and with four others that are also sub-gradients of each
  layer: ties split equally (SymPy's and central differences' choice at a two-way tie), the last
  maximum, Tomasi's h'(0) = 1 (first maximum), and h'(0) = 1 with split ties; for each, the
  largest relative difference to relunet's gradient, in all and per parameter array;
- after training, ``rn.check_network`` on batches of training signals: their tied windows and the
  largest relative error of back-propagation against central finite differences.

    python experiments/03_pooling_ties.py          # full protocol: 3 seeds, 4000 signals
    python experiments/03_pooling_ties.py --quick  # a tiny setting (seconds), for the tests

The full run also records the reduced setting that the chapter re-runs (standard set-up, one
seed).  Run with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), as the book's Makefile does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import relunet as rn
from numpy.lib.stride_tricks import sliding_window_view

RESULTS = Path(__file__).resolve().parent / "results" / "03_pooling_ties.json"
NEAR = 1e-5  # the finite-difference step of relunet.gradcheck
BACKGROUND = 0.5  # the flat background: x <- max(x - BACKGROUND, 0)
FULL = {
    "num_samples": 5000,
    "seeds": [1, 2, 3],
    "epochs": 20,
    "batch_size": 100,
    "lr": 0.05,
    "check_batches": 3,
    "check_size": 20,
}
REDUCED = {
    "num_samples": 500,
    "seeds": [1],
    "epochs": 5,
    "batch_size": 50,
    "lr": 0.05,
    "check_batches": 0,
    "check_size": 0,
}
QUICK = {
    "num_samples": 200,
    "seeds": [1],
    "epochs": 1,
    "batch_size": 50,
    "lr": 0.05,
    "check_batches": 1,
    "check_size": 4,
}
SETUPS = {  # name -> (order of pooling and rectifier, flat background threshold or None)
    "standard": ("relu-pool", None),
    "pool first": ("pool-relu", None),
    "flat background": ("relu-pool", BACKGROUND),
}


class TieRulePool(rn.MaxPool1d):
    """Max-pooling with another tie rule in ``backward``: ``"split"`` shares the gradient equally
    among the tied maxima of a window, ``"last"`` gives it to the last of them.  Written for this
    comparison only; relunet's MaxPool1d gives it to the first.  Keeps the input's dtype."""

    def __init__(self, kernel_size, stride=None, *, rule="split"):
        super().__init__(kernel_size, stride)
        if rule not in ("split", "last"):
            raise ValueError(f"rule must be 'split' or 'last', got {rule!r}")
        self.rule = rule

    def forward(self, x, *, train=False):
        out = super().forward(x, train=train)
        self._x = np.asarray(x, dtype=out.dtype)
        return out

    def backward(self, grad_out):
        super().backward(grad_out)  # the shape checks of the contract
        win = sliding_window_view(self._x, self.k, axis=2)[:, :, :: self.stride, :]
        share = (win == win.max(axis=3, keepdims=True)).astype(self._x.dtype)
        if self.rule == "last":  # keep only the last maximum of each window
            share *= np.cumsum(share[..., ::-1], axis=3)[..., ::-1] == 1
        g = np.asarray(grad_out, dtype=self._x.dtype)
        share *= g[..., None] / share.sum(axis=3, keepdims=True)
        dx = np.zeros_like(self._x)
        for j in range(self.k):
            dx[:, :, j : j + self.stride * share.shape[2] : self.stride] += share[..., j]
        return dx


class ReLUOneAtZero(rn.ReLU):
    """The rectifier with Tomasi's convention h'(0) = 1 (relunet's ReLU takes h'(0) = 0)."""

    def forward(self, x, *, train=False):
        out = super().forward(x, train=train)
        self._nonneg = np.asarray(x) >= 0
        return out

    def backward(self, grad_out):
        g = super().backward(grad_out)  # the checks of the contract; g's dtype
        return np.asarray(grad_out, dtype=g.dtype) * self._nonneg


def build_cnn(rng, pool=rn.MaxPool1d, relu=rn.ReLU, order="relu-pool"):
    """The measured CNN, for signals of shape (N, 1, 40); ``pool`` and ``relu`` build its kinks,
    ``order`` is ``"relu-pool"`` (Conv -> ReLU -> pool) or ``"pool-relu"`` (Conv -> pool -> ReLU).
    The same ``rng`` gives the same weights in either order."""
    if order not in ("relu-pool", "pool-relu"):
        raise ValueError(f"order must be 'relu-pool' or 'pool-relu', got {order!r}")

    def block(conv):
        return [conv, relu(), pool(2)] if order == "relu-pool" else [conv, pool(2), relu()]

    first = block(rn.Conv1d(1, 16, 5, rng=rng, padding=2))
    second = block(rn.Conv1d(16, 16, 3, rng=rng, padding=1))
    return rn.Sequential([*first, *second, rn.Flatten(), rn.Linear(160, 10, rng=rng)])


VARIANTS = {  # name -> (pool, relu): the other conventions compared with relunet's
    "split ties": (lambda k: TieRulePool(k, rule="split"), rn.ReLU),
    "last maximum": (lambda k: TieRulePool(k, rule="last"), rn.ReLU),
    "h'(0) = 1": (rn.MaxPool1d, ReLUOneAtZero),
    "h'(0) = 1, split ties": (lambda k: TieRulePool(k, rule="split"), ReLUOneAtZero),
}


def receptive_fields(conv, x):
    """``(N, T, c_in * k)``: the inputs that output position t of ``conv`` reads (padding included),
    the same for every output channel."""
    xp = np.pad(x, ((0, 0), (0, 0), (conv.padding, conv.padding)))
    win = sliding_window_view(xp, conv.k, axis=2)[:, :, :: conv.stride, :]  # (N, C, T, k)
    return win.transpose(0, 2, 1, 3).reshape(x.shape[0], win.shape[2], -1)


def tie_causes(fields, win, pool):
    """For the windows ``win`` (N, C, T, k) of a pooling layer fed by a convolution (through
    elementwise layers only) whose receptive fields are ``fields``: whether every tied maximum of a
    window reads an all-zero field, and whether all of them read the same field."""
    at_max = win == win.max(axis=3, keepdims=True)  # (N, C, T, k)
    fw = sliding_window_view(fields, pool.k, axis=1)[:, :: pool.stride]  # (N, T, D, k)
    zero = np.all(fw == 0.0, axis=2)[:, None]  # (N, 1, T, k)
    same = np.all(fw[..., :, None] == fw[..., None, :], axis=2)  # (N, T, k, k)
    first = np.argmax(at_max, axis=3)[..., None, None]  # the first maximum of each window
    same = np.broadcast_to(same[:, None], (*at_max.shape, pool.k))
    same_as_first = np.take_along_axis(same, first, axis=3)[..., 0, :]  # (N, C, T, k)
    return np.all(zero | ~at_max, axis=3), np.all(same_as_first | ~at_max, axis=3)


def kink_counts(net, x):
    """Exact zero pre-activations at each ReLU; in each max-pooling layer the ties, those at a
    positive value and how many of each come from all-zero or from identical receptive fields of
    the convolution below, and the near ties."""
    relus, pools, h, fields = [], [], x, None
    for i, layer in enumerate(net.layers):
        if isinstance(layer, rn.Conv1d):
            fields = receptive_fields(layer, h)
        if isinstance(layer, rn.ReLU):
            relus.append({"layer": i, "zeros": int(np.sum(h == 0.0)), "total": int(h.size)})
        if isinstance(layer, rn.MaxPool1d):
            win = sliding_window_view(h, layer.k, axis=2)[:, :, :: layer.stride]
            top2 = np.sort(win, axis=3)
            gap, top = top2[..., -1] - top2[..., -2], top2[..., -1]
            tie = gap == 0.0
            positive = tie & (top > 0.0)
            zero, same = tie_causes(fields, win, layer)
            pools.append(
                {
                    "layer": i,
                    "windows": int(gap.size),
                    "ties": int(np.sum(tie)),
                    "ties_zero_field": int(np.sum(tie & zero)),
                    "ties_same_field": int(np.sum(tie & same)),
                    "ties_positive": int(np.sum(positive)),
                    "ties_positive_zero_field": int(np.sum(positive & zero)),
                    "ties_positive_same_field": int(np.sum(positive & same)),
                    "near_ties": int(np.sum(gap < NEAR)),
                }
            )
        h = layer.forward(h)
        if not isinstance(layer, (rn.Conv1d, rn.ReLU)):  # only elementwise layers keep positions
            fields = None
    return {"relu": relus, "pool": pools}


def convention_differences(net, x, y, order="relu-pool"):
    """For each variant: max |g_variant - g_relunet| / max(|g_variant| + |g_relunet|) of the
    full-batch gradient (``"all"``) and of each parameter array (by its name)."""
    loss = rn.CrossEntropy()
    rn.loss_gradient(net, loss, x, y)
    g_ref = {name: g.copy() for name, _, g in net.named_parameters()}
    out = {}
    for variant, (pool, relu) in VARIANTS.items():
        other = build_cnn(np.random.default_rng(0), pool, relu, order)
        other.load_state_dict(net.state_dict())
        g_all = rn.loss_gradient(other, loss, x, y)
        diffs = {name: rn.relative_error(g, g_ref[name]) for name, _, g in other.named_parameters()}
        ref_all = np.concatenate([g.ravel() for g in g_ref.values()])
        out[variant] = {"all": rn.relative_error(g_all, ref_all), **diffs}
    return out


def gradient_checks(net, data, batches, size):
    """``rn.check_network`` on ``batches`` consecutive batches of ``size`` training signals."""
    out = []
    for b in range(batches):
        x, y = data.x[b * size : (b + 1) * size], data.y[b * size : (b + 1) * size]
        pools = kink_counts(net, x)["pool"]
        errors = rn.check_network(net, rn.CrossEntropy(), x, y)
        out.append(
            {
                "windows": sum(p["windows"] for p in pools),
                "ties": sum(p["ties"] for p in pools),
                "ties_positive": sum(p["ties_positive"] for p in pools),
                "ties_zero_field": sum(p["ties_zero_field"] for p in pools),
                "near_not_tie": sum(p["near_ties"] - p["ties"] for p in pools),
                "max_error": max(errors.values()),
            }
        )
    return out


def measure(net, data, order="relu-pool"):
    """Everything the chapter reports about one network, on the training signals."""
    return {
        **kink_counts(net, data.x),
        "convention_differences": convention_differences(net, data.x, data.y, order),
        "train_accuracy": rn.accuracy(net(data.x), data.y),
        "test_accuracy": rn.accuracy(net(data.x_test), data.y_test),
    }


def with_background(data, threshold):
    """The data with a flat background: every signal x <- max(x - threshold, 0)."""
    return dataclasses.replace(
        data,
        x=np.maximum(data.x - threshold, 0.0),
        x_test=np.maximum(data.x_test - threshold, 0.0),
    )


def run(setting, setup="standard", data=None):
    """Train one CNN per seed of ``setting`` in the set-up ``setup``; measurements before and
    after training, and gradient checks after.  ``data``: MNIST-1D as signals, if already made."""
    order, background = SETUPS[setup]
    if data is None:
        data = rn.data.mnist1d(num_samples=setting["num_samples"], as_signal=True)
    if background is not None:
        data = with_background(data, background)
    runs = []
    for seed in setting["seeds"]:
        rng = np.random.default_rng(seed)
        net = build_cnn(rng, order=order)
        before = measure(net, data, order)
        opt = rn.SGD(lr=setting["lr"], momentum=0.9)
        kw = {"epochs": setting["epochs"], "batch_size": setting["batch_size"], "rng": rng}
        rn.fit(net, rn.CrossEntropy(), opt, data.x, data.y, **kw)
        checks = gradient_checks(net, data, setting["check_batches"], setting["check_size"])
        runs.append(
            {"seed": seed, "init": before, "trained": measure(net, data, order), "checks": checks}
        )
    return {
        "setting": setting,
        "setup": setup,
        "input_zero_fraction": float(np.mean(data.x == 0.0)),
        "runs": runs,
    }


def summary(m):
    """The numbers chapter 03 quotes, from one measurement (``init`` or ``trained`` of a run)."""
    pools, relus, diffs = m["pool"], m["relu"], m["convention_differences"]
    return {
        "tie_frac": [p["ties"] / p["windows"] for p in pools],
        "ties": sum(p["ties"] for p in pools),
        "near_not_tie": sum(p["near_ties"] - p["ties"] for p in pools),
        "ties_positive": sum(p["ties_positive"] for p in pools),
        "ties_zero_field": sum(p["ties_zero_field"] for p in pools),
        "zero_field": sum(p["ties_positive_zero_field"] for p in pools),
        "same_field": sum(p["ties_positive_same_field"] for p in pools),
        "zeros": [r["zeros"] for r in relus],
        "pre_activations": sum(r["total"] for r in relus),
        "rule_diff": max(diffs[v]["all"] for v in ("split ties", "last maximum")),
        "relu_diff": diffs["h'(0) = 1"],
        "max_difference": max(d["all"] for d in diffs.values()),
        "acc": m["test_accuracy"],
    }


def span(values, fmt):
    """``"lo–hi"``: the least and the largest value, each formatted with ``fmt`` (one value if
    the two read the same)."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}\u2013{hi}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny setting, for the tests")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    setting = QUICK if args.quick else FULL
    data = rn.data.mnist1d(num_samples=setting["num_samples"], as_signal=True)
    results = {("quick" if args.quick else "full"): {s: run(setting, s, data) for s in SETUPS}}
    if not args.quick:
        results["reduced"] = run(REDUCED)
    results["environment"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out} in {results['environment']['seconds']} s")


if __name__ == "__main__":
    main()
