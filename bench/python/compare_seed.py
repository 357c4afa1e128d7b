"""SeedForecaster vs the equivalent PyTorch model, same run, same machine, same thread count.

Cases (B=32, T=10, F=5 windows):
  train step   one mini-batch: forward, MSE, backward, Adam update (B=32)
  predict      B=1 and B=4096, forward only (torch under torch.no_grad())

Three contenders are timed in interleaved rounds (each round runs every contender `--repeat`
times, so load changes on a shared machine hit all of them alike); the medians of all samples
are reported with the ratio torch / chronoscale (> 1: chronoscale is faster):
  chronoscale  the model API as shipped: predict through the compiled native plan
               (chronoscale.nn.plan), training with the fused Adam step
  layered      the previous path, kept callable: predict layer by layer through
               nn.predict_batches, Adam one native call per parameter
  torch        torch.nn (Conv1d, MaxPool1d, LSTM x2, Linear), torch.optim.Adam

    python bench/python/compare_seed.py [--repeat 50] [--rounds 5] [--threads 2] [--json out]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from bench_common import machine_line, save_json

import chronoscale
from chronoscale import nn
from chronoscale.models import SeedForecaster


def interleaved_ms(fns: dict, repeat: int, rounds: int, warmup: int = 5) -> dict:
    """Median ms per call of each function, sampled in interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                samples[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in samples.items()}


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
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    B, T, F = 32, 10, 5
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.uniform(0, 1, B).astype(np.float32)
    X1, Xbig = X[:1].copy(), rng.standard_normal((4096, T, F)).astype(np.float32)

    model = SeedForecaster(random_state=0).fit(X, y, epochs=1, batch_size=B, verbose=0)
    net = model.net
    fused = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    single = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    single._update_many = lambda items: nn.Optimizer._update_many(single, items)

    def cs_step(opt):
        pred = net.forward(X, training=True)
        _, dpred = nn.losses.mse(pred, y[:, None])
        opt.zero_grad()
        net.backward(dpred)
        opt.step()

    def layered_predict(a):
        return nn.predict_batches(net, model._inputs(a), 4096)[:, 0]

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

    assert np.allclose(model.predict(Xbig[:64]), layered_predict(Xbig[:64]), atol=1e-6)
    rows = []
    for name, fns in [
        ("train step B=32", {"chronoscale": lambda: cs_step(fused),
                             "layered": lambda: cs_step(single), "torch": th_step}),
        ("predict B=1", {"chronoscale": lambda: model.predict(X1),
                         "layered": lambda: layered_predict(X1), "torch": lambda: th_predict(X1t)}),
        ("predict B=4096", {"chronoscale": lambda: model.predict(Xbig),
                            "layered": lambda: layered_predict(Xbig),
                            "torch": lambda: th_predict(Xbt)}),
    ]:
        rep = args.repeat if "4096" not in name else max(2, args.repeat // 10)
        ms = interleaved_ms(fns, rep, args.rounds)
        rows.append({"case": name, "chronoscale_ms": ms["chronoscale"], "torch_ms": ms["torch"],
                     "ratio": ms["torch"] / ms["chronoscale"], "layered_ms": ms["layered"],
                     "layered_ratio": ms["torch"] / ms["layered"]})

    info = chronoscale.build_info()
    load_after = os.getloadavg()
    machine = machine_line(torch, load_before, load_after)
    print(f"# {machine}")
    print(f"{'case':<16} {'chronoscale ms':>14} {'torch ms':>9} {'torch/cs':>9} "
          f"{'layered ms':>11} {'torch/layered':>14}")
    for r in rows:
        print(f"{r['case']:<16} {r['chronoscale_ms']:>14.4f} {r['torch_ms']:>9.4f} "
              f"{r['ratio']:>8.1f}x {r['layered_ms']:>11.4f} {r['layered_ratio']:>13.1f}x")
    result = {"rows": rows, "build_info": info, "torch": torch.__version__, "machine": machine}
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
