"""Time one SGD training step of relunet against PyTorch (CPU), and print the ratios.

Run with ``make bench`` (pins one BLAS/OpenMP thread, as the stored notebook outputs are made).
The two sides are timed alternately, many repetitions each, and the medians are compared, so a
noisy shared machine slows both alike.  Nothing here is a test; it only prints.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import relunet as rn

try:
    import torch
except ImportError as err:  # pragma: no cover - optional dependency
    raise SystemExit("PyTorch is not installed: pip install torch==2.13.0 (CPU wheel)") from err

torch.set_num_threads(1)


def relunet_mlp(rng, widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [rn.Linear(a, b, rng=rng), rn.ReLU()]
    return rn.Sequential(layers[:-1])


def relunet_cnn(rng):
    return rn.Sequential(
        [
            rn.Conv1d(1, 16, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),
            rn.Conv1d(16, 16, 5, rng=rng, padding=2),
            rn.ReLU(),
            rn.MaxPool1d(2),
            rn.Flatten(),
            rn.Linear(16 * 10, 10, rng=rng),
        ]
    )


def copy_to_torch(net: rn.Sequential, dtype) -> torch.nn.Sequential:
    """A PyTorch twin of ``net`` with the same weights (layer by layer)."""
    mods = []
    for layer in net.layers:
        if isinstance(layer, rn.Linear):
            m = torch.nn.Linear(layer.d_in, layer.d_out)
        elif isinstance(layer, rn.Conv1d):
            m = torch.nn.Conv1d(
                layer.c_in, layer.c_out, layer.k, stride=layer.stride, padding=layer.padding
            )
        elif isinstance(layer, rn.ReLU):
            mods.append(torch.nn.ReLU())
            continue
        elif isinstance(layer, rn.MaxPool1d):
            mods.append(torch.nn.MaxPool1d(layer.k, layer.stride))
            continue
        elif isinstance(layer, rn.Flatten):
            mods.append(torch.nn.Flatten())
            continue
        else:
            raise TypeError(layer)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(layer.params["W"]))
            m.bias.copy_(torch.from_numpy(layer.params["b"]))
        mods.append(m)
    return torch.nn.Sequential(*mods).to(dtype)


def bench(name, net, x, y, dtype, reps=200):
    tnet = copy_to_torch(net, torch.float64 if dtype == np.float64 else torch.float32)
    for layer in net.layers:
        for k in layer.params:
            layer.params[k] = layer.params[k].astype(dtype)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y)
    loss, opt = rn.CrossEntropy(), rn.SGD(lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.01, momentum=0.9)
    tloss = torch.nn.CrossEntropyLoss()
    xd = x.astype(dtype)

    def step_relunet():
        z = net.forward(xd, train=True)
        net.backward(loss.grad(z, y))
        opt.step(net)

    def step_torch():
        topt.zero_grad(set_to_none=True)
        tloss(tnet(xt), yt).backward()
        topt.step()

    for _ in range(10):  # warm up both
        step_relunet()
        step_torch()
    t_rn, t_pt = [], []
    for _ in range(reps):  # alternate the two sides
        t0 = time.perf_counter()
        step_relunet()
        t1 = time.perf_counter()
        step_torch()
        t2 = time.perf_counter()
        t_rn.append(t1 - t0)
        t_pt.append(t2 - t1)
    m_rn, m_pt = statistics.median(t_rn), statistics.median(t_pt)
    print(
        f"{name:<38} relunet {1e3 * m_rn:8.3f} ms   torch {1e3 * m_pt:8.3f} ms   ratio {m_rn / m_pt:5.2f}"
    )


def main():
    rng = np.random.default_rng(0)
    d = rn.data.mnist1d()
    for batch in (32, 128):
        idx = rng.choice(len(d.x), batch, replace=False)
        for dtype in (np.float64, np.float32):
            tag = f"{np.dtype(dtype).name}, batch {batch}"
            bench(
                f"MLP 40-256-256-10, {tag}",
                relunet_mlp(np.random.default_rng(1), [40, 256, 256, 10]),
                d.x[idx],
                d.y[idx],
                dtype,
            )
            xs = d.x[idx][:, None, :]
            bench(
                f"CNN conv16-pool-conv16-pool, {tag}",
                relunet_cnn(np.random.default_rng(1)),
                xs,
                d.y[idx],
                dtype,
            )
    print("ratio = median relunet step time / median PyTorch step time (one thread each)")


if __name__ == "__main__":
    main()
