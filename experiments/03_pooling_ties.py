"""Chapter 03's measurement: kinks that a trained ReLU + max-pool CNN actually meets.

How often does back-propagation in a real network reach a point where the ReLU or the maximum has
no derivative -- an exact zero pre-activation, or a max-pooling window whose maximum is tied --
and what does the sub-gradient convention chosen there change?

Network (:func:`build_cnn`): Conv1d(1, 16, 5, padding 2) -> ReLU -> MaxPool1d(2) ->
Conv1d(16, 16, 3, padding 1) -> ReLU -> MaxPool1d(2) -> Flatten -> Linear(160, 10), He
initialisation, zero biases.  Training: cross-entropy, mini-batch SGD with momentum 0.9, float64.

Measured on the training signals, before and after training (:func:`measure`):

- at each ReLU, the number of pre-activations that are exactly 0;
- at each max-pooling layer, the windows whose two largest entries are equal (ties), those tied
  at a positive value, and those whose two largest entries differ by less than 1e-5, the step of
  the book's finite differences (near ties, where a gradient check is unreliable);
- the full-batch gradient of the mean loss with relunet's conventions (the first maximum of a
  window gets the gradient; h'(0) = 0) and with three others that are also sub-gradients of each
  layer: ties split equally (SymPy's and central differences' choice at a two-way tie), the last
  maximum, and Tomasi's h'(0) = 1 with split ties; the largest relative difference to relunet's.

    python experiments/03_pooling_ties.py            # full protocol: 3 seeds, 4000 signals
    python experiments/03_pooling_ties.py --quick    # a tiny setting (seconds), for the tests

The full run also records the reduced setting that the chapter re-runs (800 signals, seed 1).
Run with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), as the book's Makefile does.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import relunet as rn
from numpy.lib.stride_tricks import sliding_window_view

RESULTS = Path(__file__).resolve().parent / "results" / "03_pooling_ties.json"
NEAR = 1e-5  # the finite-difference step of relunet.gradcheck
FULL = {"num_samples": 5000, "seeds": [1, 2, 3], "epochs": 20, "batch_size": 100, "lr": 0.05}
REDUCED = {"num_samples": 1000, "seeds": [1], "epochs": 10, "batch_size": 50, "lr": 0.05}
QUICK = {"num_samples": 200, "seeds": [1], "epochs": 1, "batch_size": 50, "lr": 0.05}


class TieRulePool(rn.MaxPool1d):
    """Max-pooling with another tie rule in ``backward``: ``"split"`` shares the gradient equally
    among the tied maxima of a window, ``"last"`` gives it to the last of them.  Written for this
    comparison only; relunet's MaxPool1d gives it to the first."""

    def __init__(self, kernel_size, stride=None, *, rule="split"):
        super().__init__(kernel_size, stride)
        if rule not in ("split", "last"):
            raise ValueError(f"rule must be 'split' or 'last', got {rule!r}")
        self.rule = rule

    def forward(self, x, *, train=False):
        self._x = np.asarray(x, dtype=np.float64)
        return super().forward(x, train=train)

    def backward(self, grad_out):
        super().backward(grad_out)  # the shape checks of the contract
        win = sliding_window_view(self._x, self.k, axis=2)[:, :, :: self.stride, :]
        share = (win == win.max(axis=3, keepdims=True)).astype(np.float64)
        if self.rule == "last":  # keep only the last maximum of each window
            share *= np.cumsum(share[..., ::-1], axis=3)[..., ::-1] == 1
        share *= np.asarray(grad_out)[..., None] / share.sum(axis=3, keepdims=True)
        dx = np.zeros_like(self._x)
        for j in range(self.k):
            dx[:, :, j : j + self.stride * share.shape[2] : self.stride] += share[..., j]
        return dx


class ReLUOneAtZero(rn.ReLU):
    """The rectifier with Tomasi's convention h'(0) = 1 (relunet's ReLU takes h'(0) = 0)."""

    def forward(self, x, *, train=False):
        self._x = np.asarray(x, dtype=np.float64)
        return super().forward(x, train=train)

    def backward(self, grad_out):
        super().backward(grad_out)
        return np.asarray(grad_out) * (self._x >= 0)


def build_cnn(rng, pool=rn.MaxPool1d, relu=rn.ReLU):
    """The measured CNN, for signals of shape (N, 1, 40); ``pool`` and ``relu`` build its kinks."""
    return rn.Sequential(
        [
            rn.Conv1d(1, 16, 5, rng=rng, padding=2),
            relu(),
            pool(2),
            rn.Conv1d(16, 16, 3, rng=rng, padding=1),
            relu(),
            pool(2),
            rn.Flatten(),
            rn.Linear(160, 10, rng=rng),
        ]
    )


VARIANTS = {  # name -> (pool, relu): the other conventions compared with relunet's
    "split ties": (lambda k: TieRulePool(k, rule="split"), rn.ReLU),
    "last maximum": (lambda k: TieRulePool(k, rule="last"), rn.ReLU),
    "h'(0) = 1, split ties": (lambda k: TieRulePool(k, rule="split"), ReLUOneAtZero),
}


def kink_counts(net, x):
    """Exact zero pre-activations at each ReLU; ties and near ties in each max-pooling layer."""
    relus, pools, h = [], [], x
    for i, layer in enumerate(net.layers):
        if isinstance(layer, rn.ReLU):
            relus.append({"layer": i, "zeros": int(np.sum(h == 0.0)), "total": int(h.size)})
        if isinstance(layer, rn.MaxPool1d):
            top2 = np.sort(sliding_window_view(h, layer.k, axis=2)[:, :, :: layer.stride], axis=3)
            gap, top = top2[..., -1] - top2[..., -2], top2[..., -1]
            pools.append(
                {
                    "layer": i,
                    "windows": int(gap.size),
                    "ties": int(np.sum(gap == 0.0)),
                    "ties_positive": int(np.sum((gap == 0.0) & (top > 0.0))),
                    "near_ties": int(np.sum(gap < NEAR)),
                }
            )
        h = layer.forward(h)
    return {"relu": relus, "pool": pools}


def convention_differences(net, x, y):
    """max |g_variant - g_relunet| / max(|g_variant| + |g_relunet|) of the full-batch gradient."""
    loss = rn.CrossEntropy()
    g_ref = rn.loss_gradient(net, loss, x, y)
    out = {}
    for name, (pool, relu) in VARIANTS.items():
        other = build_cnn(np.random.default_rng(0), pool, relu)
        other.load_state_dict(net.state_dict())
        out[name] = rn.relative_error(rn.loss_gradient(other, loss, x, y), g_ref)
    return out


def measure(net, data):
    """Everything the chapter reports about one network, on the training signals."""
    return {
        **kink_counts(net, data.x),
        "convention_differences": convention_differences(net, data.x, data.y),
        "train_accuracy": rn.accuracy(net(data.x), data.y),
        "test_accuracy": rn.accuracy(net(data.x_test), data.y_test),
    }


def run(setting, data=None):
    """Train one CNN per seed of ``setting``; the measurements before and after training."""
    if data is None:
        data = rn.data.mnist1d(num_samples=setting["num_samples"], as_signal=True)
    runs = []
    for seed in setting["seeds"]:
        rng = np.random.default_rng(seed)
        net = build_cnn(rng)
        before = measure(net, data)
        opt = rn.SGD(lr=setting["lr"], momentum=0.9)
        kw = {"epochs": setting["epochs"], "batch_size": setting["batch_size"], "rng": rng}
        rn.fit(net, rn.CrossEntropy(), opt, data.x, data.y, **kw)
        runs.append({"seed": seed, "init": before, "trained": measure(net, data)})
    return {"setting": setting, "runs": runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny setting, for the tests")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.quick:
        results = {"quick": run(QUICK)}
    else:
        results = {"full": run(FULL), "reduced": run(REDUCED)}
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
