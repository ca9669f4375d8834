"""One MNIST-1D training epoch in relunet, in PyTorch CPU and in a hand-written NumPy loop.

Run with ``make bench`` (it installs ``torch==2.13.0`` and pins one BLAS/OpenMP thread).  Not a
test: it only prints, and asserts that the sides compute the same thing before it times them.

The work timed is one epoch of the MNIST-1D training set (4000 signals of length 40, from
``relunet.data.mnist1d()``): the set gathered once in a shuffled order, then mini-batches of 100,
cross-entropy on the scores, SGD with momentum 0.9 (Tomasi's :math:`v \\leftarrow \\mu v -
\\alpha\\nabla L,\\ w \\leftarrow w + v`; PyTorch's momentum buffer is the same update written with
:math:`-v/\\alpha`), in float32 and in float64.  Every side starts from the same weights and visits
the same batches; before timing, one step from the same weights must give the same weights on
every side (relative difference below 1e-10 in float64, 1e-4 in float32).  The models: the MLP
40-100-100-10, the paper's CNN (three Conv1d with 25 channels, kernels 5/3/3, stride 2, padding
1), and a conv-ReLU-max-pool x2 CNN.  The sides:

- ``relunet``: the loop :func:`relunet.fit` runs per mini-batch -- ``net.forward(x, train=True)``,
  ``loss.grad``, ``net.backward``, ``opt.step(net)`` with the library's ``SGD`` -- where backward is
  called with ``input_grad=False`` (no gradient for the data; ``--full-backward`` computes it, as
  ``fit`` still does);
- ``torch``: the same model as a ``torch.nn.Sequential``, ``torch.optim.SGD``, one thread;
- ``numpy`` (the MLP only): the MLP written out in plain NumPy, the floor for a library;
- ``fit``: :func:`relunet.fit` itself for one epoch, which also evaluates the training set before
  and after it; ``eval``: one :func:`relunet.evaluate` of the training set, the pass ``fit`` adds
  to every epoch of a long run.

The sides run one epoch each in turn, in a rotating order, for ``--epochs`` rounds after a warm-up
round.  Each round gives ratios of epochs run seconds apart, and the printed ratio is their median.
Times are CPU times of the process (``time.process_time``): on a shared, loaded machine the wall
clock mostly measures the wait for a core, CPU time the work (on a quiet machine the two agree);
the wall-clock ratio relunet/torch is printed too.  Peak memory is measured in a fresh process per
side: the rise of the resident set (``VmHWM`` after resetting it, minus ``VmRSS``) during one
epoch, the model and the data already in memory.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import relunet as rn

try:
    import torch
except ImportError as err:  # pragma: no cover - optional dependency
    raise SystemExit("PyTorch is not installed: make bench (pip install -e '.[bench]')") from err

torch.set_num_threads(1)
#: whether this relunet has Sequential.backward(..., input_grad=False) (not before this branch)
HAS_INPUT_GRAD = "input_grad" in inspect.signature(rn.Sequential.backward).parameters
BATCH, LR, MU = 100, 0.01, 0.9
DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


# --------------------------------------------------------------------------- the models


def mlp(rng):
    """The MLP of the MNIST-1D paper without its residual connection: 40-100-100-10."""
    return rn.Sequential(
        [
            rn.Linear(40, 100, rng=rng),
            rn.ReLU(),
            rn.Linear(100, 100, rng=rng),
            rn.ReLU(),
            rn.Linear(100, 10, rng=rng),
        ]
    )


def paper_cnn(rng):
    """The CNN of the MNIST-1D paper: three Conv1d (25 channels, kernels 5/3/3, stride 2, padding 1)."""
    return rn.Sequential(
        [
            rn.Conv1d(1, 25, 5, rng=rng, stride=2, padding=1),  # 40 -> 19
            rn.ReLU(),
            rn.Conv1d(25, 25, 3, rng=rng, stride=2, padding=1),  # 19 -> 10
            rn.ReLU(),
            rn.Conv1d(25, 25, 3, rng=rng, stride=2, padding=1),  # 10 -> 5
            rn.ReLU(),
            rn.Flatten(),
            rn.Linear(125, 10, rng=rng),
        ]
    )


def pool_cnn(rng):
    """Conv-ReLU-max-pool twice, then a linear layer (Tomasi's appendix: pooling layers)."""
    return rn.Sequential(
        [
            rn.Conv1d(1, 16, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),  # 40 -> 20
            rn.Conv1d(16, 16, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),  # 20 -> 10
            rn.Flatten(),
            rn.Linear(160, 10, rng=rng),
        ]
    )


MODELS = {"MLP 40-100-100-10": mlp, "paper CNN": paper_cnn, "conv-pool CNN": pool_cnn}


def build(model: str, dtype):
    """The relunet model with weights drawn in float64 (seed 1), then cast to ``dtype``."""
    net = MODELS[model](np.random.default_rng(1))
    for layer in net.layers:
        for k in layer.params:
            layer.params[k] = layer.params[k].astype(dtype)
            layer.grads[k] = layer.grads[k].astype(dtype)
    return net


def to_torch(net: rn.Sequential, tdtype) -> torch.nn.Sequential:
    """A PyTorch twin of ``net`` with a copy of its weights, layer by layer."""
    mods = []
    for layer in net.layers:
        if isinstance(layer, rn.Linear):
            m = torch.nn.Linear(layer.d_in, layer.d_out, dtype=tdtype)
        elif isinstance(layer, rn.Conv1d):
            m = torch.nn.Conv1d(
                layer.c_in,
                layer.c_out,
                layer.k,
                stride=layer.stride,
                padding=layer.padding,
                dtype=tdtype,
            )
        else:
            simple = {rn.ReLU: torch.nn.ReLU, rn.Flatten: torch.nn.Flatten}
            if isinstance(layer, rn.MaxPool1d):
                mods.append(torch.nn.MaxPool1d(layer.k, layer.stride))
            else:
                mods.append(simple[type(layer)]())
            continue
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(layer.params["W"]))
            m.bias.copy_(torch.from_numpy(layer.params["b"]))
        mods.append(m)
    return torch.nn.Sequential(*mods)


# --------------------------------------------------------------------------- the sides


class Side:
    """One way of training: ``step(xb, yb)`` is one SGD step on a mini-batch; ``epoch(order)``
    gathers the data in that order once and steps through it in mini-batches of 100 (as fit())."""

    def epoch(self, order):
        xs, ys = self.x[order], self.y[order]
        for s in range(0, len(order), BATCH):
            self.step(xs[s : s + BATCH], ys[s : s + BATCH])


class RelunetLoop(Side):
    """The loop fit() runs per mini-batch: forward, loss.grad, backward, opt.step."""

    full_backward = False  # --full-backward: also dL/dx of the input, as fit() computes today

    def __init__(self, net, x, y):
        self.net, self.x, self.y = net, x, y
        self.loss, self.opt = rn.CrossEntropy(), rn.SGD(lr=LR, momentum=MU)
        # backward(..., input_grad=False): no dL/dx for the network's input, which nothing reads
        skip = HAS_INPUT_GRAD and not self.full_backward
        self.backward_kw = {"input_grad": False} if skip else {}

    def step(self, xb, yb):
        self.net.backward(self.loss.grad(self.net.forward(xb, train=True), yb), **self.backward_kw)
        self.opt.step(self.net)

    def params(self):
        return [p for p, _ in self.net.parameters()]


class RelunetFit(RelunetLoop):
    """relunet.fit() for one epoch (its own shuffle; the order given is not used)."""

    def epoch(self, order):
        rng = np.random.default_rng(int(order[0]))
        rn.fit(self.net, self.loss, self.opt, self.x, self.y, epochs=1, batch_size=BATCH, rng=rng)


class RelunetEval(RelunetLoop):
    """relunet.evaluate() of the training set (test mode), the pass fit() adds to every epoch."""

    def epoch(self, order):
        rn.evaluate(self.net, self.loss, self.x, self.y)


class Torch(Side):
    def __init__(self, net, x, y, tdtype):
        self.net = to_torch(net, tdtype)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.loss = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR, momentum=MU)

    def step(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.net(xb), yb).backward()
        self.opt.step()

    def epoch(self, order):
        super().epoch(torch.from_numpy(order))

    def params(self):
        return [p.detach().numpy() for p in self.net.parameters()]


class NumpyMLP(Side):
    """The 40-100-100-10 MLP written out in plain NumPy: the floor a library can approach."""

    def __init__(self, net, x, y):
        self.p = [p.copy() for p, _ in net.parameters()]  # W1, b1, W2, b2, W3, b3
        self.v = [np.zeros_like(p) for p in self.p]
        self.x, self.y = x, y

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.p
        n = len(y)
        a1 = x @ W1.T + b1
        h1 = np.maximum(a1, 0)
        a2 = h1 @ W2.T + b2
        h2 = np.maximum(a2, 0)
        z = h2 @ W3.T + b3
        e = np.exp(z - z.max(axis=1, keepdims=True))
        g = e / e.sum(axis=1, keepdims=True)  # p - q, divided by n
        g[np.arange(n), y] -= 1
        g /= n
        d2 = (g @ W3) * (a2 > 0)
        d1 = (d2 @ W2) * (a1 > 0)
        grads = [d1.T @ x, d1.sum(0), d2.T @ h1, d2.sum(0), g.T @ h2, g.sum(0)]
        for p, v, gr in zip(self.p, self.v, grads, strict=True):
            v *= MU
            v -= LR * gr
            p += v

    def params(self):
        return self.p


def sides(model, dtype_name, x, y, with_fit=True):
    """Fresh sides, all from the same weights."""
    dtype, tdtype = DTYPES[dtype_name]
    x = x.astype(dtype)
    out = {
        "relunet": RelunetLoop(build(model, dtype), x, y),
        "torch": Torch(build(model, dtype), x, y, tdtype),
    }
    if model.startswith("MLP"):
        out["numpy"] = NumpyMLP(build(model, dtype), x, y)
    if with_fit:
        out["fit"] = RelunetFit(build(model, dtype), x, y)
        out["eval"] = RelunetEval(build(model, dtype), x, y)
    return out


# --------------------------------------------------------------------------- checks and timing


def max_relative_difference(a, b) -> float:
    return max(
        float(np.max(np.abs(p - q)) / max(1e-30, np.max(np.abs(q))))
        for p, q in zip(a, b, strict=True)
    )


def check_agreement(model, x, y):
    """One SGD step from the same weights on the same batch: every side gives the same weights."""
    idx = np.random.default_rng(2).permutation(len(x))[:BATCH]
    for dtype_name, tol in (("float64", 1e-10), ("float32", 1e-4)):
        s = sides(model, dtype_name, x, y, with_fit=False)
        for side in s.values():
            i = torch.from_numpy(idx) if isinstance(side, Torch) else idx
            side.step(side.x[i], side.y[i])
        ref = s["relunet"].params()
        for name, side in s.items():
            got = side.params()
            assert all(p.dtype == DTYPES[dtype_name][0] for p in got), (name, dtype_name)
            diff = max_relative_difference(got, ref)
            assert diff < tol, f"{model} {dtype_name}: {name} differs from relunet by {diff:.2e}"


def time_epochs(model, dtype_name, x, y, epochs):
    """CPU and wall-clock seconds of each side's epochs: each round runs every side once, in a
    rotating order (round 0 warms up and is not kept)."""
    s = sides(model, dtype_name, x, y)
    rng = np.random.default_rng(3)
    names = list(s)
    cpu, wall = ({name: [] for name in names} for _ in range(2))
    for r in range(epochs + 1):
        order = rng.permutation(len(x))
        for name in names[r % len(names) :] + names[: r % len(names)]:
            c0, w0 = time.process_time(), time.perf_counter()
            s[name].epoch(order)
            c1, w1 = time.process_time(), time.perf_counter()
            if r:
                cpu[name].append(c1 - c0)
                wall[name].append(w1 - w0)
    return cpu, wall


def ratio(times, a, b) -> float:
    """Median over rounds of time[a] / time[b] (both measured in the same round)."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b], strict=True))


# --------------------------------------------------------------------------- peak memory


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def memory_child(model, dtype_name, side, data_file):
    """In a fresh process: the rise of the resident set during one epoch of one side (MiB)."""
    with np.load(data_file) as f:
        x, y = f["x"], f["y"]
    s = sides(model, dtype_name, x, y)[side]
    order = np.random.default_rng(3).permutation(len(x))
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark VmHWM to VmRSS
    s.epoch(order)
    print((_rss_kib("VmHWM") - before) / 1024)


def peak_memory(model, dtype_name, side, data_file) -> float:
    cmd = [sys.executable, __file__, "--memory-child", model, dtype_name, side, str(data_file)]
    cmd += ["--full-backward"] if RelunetLoop.full_backward else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=7, help="timed rounds per model (default 7)")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--dtypes", nargs="*", default=list(DTYPES), choices=list(DTYPES))
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    ap.add_argument(
        "--full-backward",
        action="store_true",
        help="relunet loop: back-propagate to the input too (as fit() does until it passes "
        "input_grad=False)",
    )
    ap.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    RelunetLoop.full_backward = args.full_backward
    if args.memory_child:
        return memory_child(*args.memory_child)

    d = rn.data.mnist1d()
    print(f"relunet {rn.__version__} from {Path(rn.__file__).parent}, torch {torch.__version__}")
    print(
        f"MNIST-1D: {len(d.x)} training signals, batch {BATCH}, SGD lr {LR} momentum {MU}, ", end=""
    )
    print(f"1 thread; medians over {args.epochs} rounds of one epoch per side\n")
    tmp = tempfile.TemporaryDirectory()
    cols = ("relunet", "torch", "numpy", "fit", "eval")
    pairs = (("relunet", "torch"), ("numpy", "torch"), ("relunet", "numpy"))
    pairs += (("fit", "relunet"), ("eval", "relunet"))
    short = {"relunet": "rn", "torch": "torch", "numpy": "np", "fit": "fit", "eval": "eval"}
    print(f"{'':27}{'CPU ms per epoch (median)':^45}   {'ratios of CPU times':^45}    wall")
    head = f"{'model':<18} {'dtype':<8}" + "".join(f"{c:>9}" for c in cols) + "   "
    head += "".join(f"{short[a] + '/' + short[b]:>9}" for a, b in pairs) + "  rn/torch"
    print(head)
    memory_rows = []
    for model in args.models:
        signal = not model.startswith("MLP")
        x = d.x[:, None, :] if signal else d.x
        check_agreement(model, x, d.y)
        data_file = Path(tmp.name) / f"{signal}.npz"
        np.savez(data_file, x=x, y=d.y)
        for dtype_name in args.dtypes:
            cpu, wall = time_epochs(model, dtype_name, x, d.y, args.epochs)
            row = f"{model:<18} {dtype_name:<8}"
            for c in cols:
                row += f"{1e3 * statistics.median(cpu[c]):9.1f}" if c in cpu else f"{'':>9}"
            row += "   "
            for a, b in pairs:
                row += f"{ratio(cpu, a, b):9.2f}" if a in cpu and b in cpu else f"{'':>9}"
            print(row + f"{ratio(wall, 'relunet', 'torch'):10.2f}", flush=True)
            if not args.no_memory:
                mem = {k: peak_memory(model, dtype_name, k, data_file) for k in cpu}
                memory_rows.append((model, dtype_name, mem))
    print(
        "\nrelunet: the loop fit() runs (forward, loss.grad, backward, SGD step); fit: fit() for one"
        "\nepoch, which also evaluates the training set before and after it; eval: one evaluate() of"
        "\nthe training set (in a long run fit() spends about relunet + eval per epoch).  Ratios:"
        "\nmedians of per-round ratios of CPU times (process_time), robust to a loaded machine; the"
        "\nlast column is the same ratio of wall-clock times.  Every side was checked first: one SGD"
        "\nstep from the same weights agrees with relunet to a relative 1e-10 in float64 (1e-4 in"
        "\nfloat32)."
    )
    if memory_rows:
        print("\nPeak memory: rise of the resident set during one epoch, MiB (fresh process each)")
        for model, dtype_name, mem in memory_rows:
            print(
                f"{model:<18} {dtype_name:<8}" + "".join(f"{k:>9} {v:6.1f}" for k, v in mem.items())
            )


if __name__ == "__main__":
    main()
