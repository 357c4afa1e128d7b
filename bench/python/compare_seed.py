"""SeedForecaster vs the equivalent PyTorch model, same run, same machine.

Times (median of --repeat after warm-up):
  train step   one mini-batch (B=32, T=10, F=5): forward, MSE, backward, Adam update
  predict B=1  and predict B=4096 (forward only)
and prints ms per call and the ratio torch / chronoscale (> 1: chronoscale is faster).

    python bench/python/compare_seed.py [--repeat 50] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

import chronoscale
from chronoscale import nn
from chronoscale.models import SeedForecaster


def median_ms(fn, repeat: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def torch_model(torch, F):
    class Seed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(F, 64, 3)
            self.pool = torch.nn.MaxPool1d(2)
            self.lstm1 = torch.nn.LSTM(64, 50, batch_first=True)
            self.lstm2 = torch.nn.LSTM(50, 50, batch_first=True)
            self.dense = torch.nn.Linear(50, 1)

        def forward(self, x):  # x [B, T, F]
            h = self.pool(torch.relu(self.conv(x.transpose(1, 2)))).transpose(1, 2)
            h, _ = self.lstm1(h)
            _, (h, _) = self.lstm2(h)
            return torch.sigmoid(self.dense(h[0]))[:, 0]

    return Seed()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    rng = np.random.default_rng(0)
    B, T, F = 32, 10, 5
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.uniform(0, 1, B).astype(np.float32)
    X1, Xbig = X[:1].copy(), rng.standard_normal((4096, T, F)).astype(np.float32)

    model = SeedForecaster(random_state=0).fit(X, y, epochs=1, batch_size=B, verbose=0)
    net = model.net
    opt = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def cs_step():
        pred = net.forward(X, training=True)
        _, dpred = nn.losses.mse(pred, y[:, None])
        opt.zero_grad()
        net.backward(dpred)
        opt.step()

    tm = torch_model(torch, F)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)
    Xt, yt, X1t, Xbt = (torch.from_numpy(a) for a in (X, y, X1, Xbig))

    def th_step():
        topt.zero_grad()
        loss = torch.nn.functional.mse_loss(tm(Xt), yt)
        loss.backward()
        topt.step()

    def th_predict(a):
        with torch.no_grad():
            return tm(a)

    rows = []
    for name, ours, theirs in [
        ("train step B=32", cs_step, th_step),
        ("predict B=1", lambda: model.predict(X1), lambda: th_predict(X1t)),
        ("predict B=4096", lambda: model.predict(Xbig), lambda: th_predict(Xbt)),
    ]:
        rep = args.repeat if "4096" not in name else max(5, args.repeat // 10)
        a, b = median_ms(ours, rep), median_ms(theirs, rep)
        rows.append({"case": name, "chronoscale_ms": a, "torch_ms": b, "ratio": b / a})

    info = chronoscale.build_info()
    print(f"# {platform.processor() or platform.machine()}, {info['num_threads']} threads, "
          f"BLAS {info['blas']}, torch {torch.__version__}")
    print(f"{'case':<18} {'chronoscale ms':>15} {'torch ms':>10} {'torch/chronoscale':>18}")
    for r in rows:
        print(f"{r['case']:<18} {r['chronoscale_ms']:>15.3f} {r['torch_ms']:>10.3f} "
              f"{r['ratio']:>17.1f}x")
    result = {"rows": rows, "build_info": info, "torch": torch.__version__}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
