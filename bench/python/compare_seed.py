"""SeedForecaster vs the equivalent PyTorch model, same run, same machine, same thread count.

Cases (B=32, T=10, F=5 windows):
  train step   one mini-batch: forward, MSE, backward, Adam update (B=32)
  fit epoch    one epoch over N=4096 host windows in batches of 32 (128 steps): chronoscale
               ``SeedForecaster.fit`` (nn.fit: shuffling, per-batch copies, the loss kept for
               the history); torch the same loop by hand (a shuffled index, per-batch copies,
               the loss summed without a read per batch, read at the end)
  predict      B=1 and B=4096, forward only (torch under torch.no_grad())

``--device cuda``: both models on the GPU (chronoscale ``device="cuda"``, torch + cuDNN);
every timed call ends with a device sync; the train step's batch is already on the device,
the fit epoch and predict start from host arrays (predict returns host arrays, as the model's
``predict`` does).

Three contenders are timed in interleaved rounds (each round runs every contender `--repeat`
times, so load changes on a shared machine hit all of them alike); the medians of all samples
are reported with the ratio torch / chronoscale (> 1: chronoscale is faster):
  chronoscale  the model API as shipped: predict through the compiled native plan
               (chronoscale.nn.plan), training with the fused Adam step
  layered      the previous path, kept callable: predict layer by layer through
               nn.predict_batches, Adam one native call per parameter
  torch        torch.nn (Conv1d, MaxPool1d, LSTM x2, Linear), torch.optim.Adam

    python bench/python/compare_seed.py [--repeat 50] [--rounds 5] [--threads 2] [--json out]
        [--device cpu|cuda]
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
        for _ in range(min(warmup, repeat)):
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
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    B, T, F, N = 32, 10, 5, 4096
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.uniform(0, 1, B).astype(np.float32)
    X1, Xbig = X[:1].copy(), rng.standard_normal((4096, T, F)).astype(np.float32)
    Xn, yn = rng.standard_normal((N, T, F)).astype(np.float32), rng.uniform(0, 1, N)
    yn = yn.astype(np.float32)
    gpu = args.device == "cuda"
    dev = torch.device(args.device)

    model = SeedForecaster(random_state=0, device=args.device)
    model.fit(X, y, epochs=1, batch_size=B, verbose=0)
    model.set_params(warm_start=True)  # the fit epochs below continue, as Keras' fit
    net = model.net
    fused = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    single = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    single._update_many = lambda items: nn.Optimizer._update_many(single, items)
    step_loss = nn.losses.for_fit("mse")  # as nn.fit: on a GPU the loss stays there
    Xs, ys = (nn.device.to_device(a, args.device) for a in (X, y[:, None]))

    def cs_step(opt):
        pred = net.forward(Xs, training=True)
        _, dpred = step_loss(pred, ys)
        opt.zero_grad()
        net.backward(dpred)
        opt.step()

    def layered_predict(a):
        out = nn.predict_batches(net, model._inputs(a), 4096)[:, 0]
        return nn.device.to_host(out)

    tm = torch_model(torch, F).to(dev)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    X1t, Xbt, Xnt, ynt = (torch.from_numpy(a) for a in (X1, Xbig, Xn, yn))

    def th_step():
        topt.zero_grad()
        loss = torch.nn.functional.mse_loss(tm(Xt), yt)
        loss.backward()
        topt.step()

    def th_predict(a):
        with torch.no_grad():
            return tm(a.to(dev)).cpu()

    def th_epoch(epoch=[0]):  # noqa: B006 (the epoch counter seeds the shuffle)
        epoch[0] += 1
        order = torch.from_numpy(np.random.default_rng([0, epoch[0]]).permutation(N))
        total = torch.zeros((), device=dev)
        for i in range(0, N, B):
            idx = order[i:i + B]
            xb, yb = Xnt[idx].to(dev), ynt[idx].to(dev)
            topt.zero_grad()
            loss = torch.nn.functional.mse_loss(tm(xb), yb)
            loss.backward()
            topt.step()
            total += loss.detach() * len(idx)
        return float(total) / N

    def cs_epoch():
        model.fit(Xn, yn, epochs=1, batch_size=B, verbose=0)

    if gpu:
        import cupy

        def synced(fn):
            def run():
                fn()
                cupy.cuda.Device().synchronize()
                torch.cuda.synchronize()
            return run
    else:
        def synced(fn):
            return fn

    assert np.allclose(model.predict(Xbig[:64]), layered_predict(Xbig[:64]), atol=1e-5)
    rows = []
    for name, fns in [
        ("train step B=32", {"chronoscale": lambda: cs_step(fused),
                             "layered": lambda: cs_step(single), "torch": th_step}),
        (f"fit epoch N={N}", {"chronoscale": cs_epoch, "torch": th_epoch}),
        ("predict B=1", {"chronoscale": lambda: model.predict(X1),
                         "layered": lambda: layered_predict(X1), "torch": lambda: th_predict(X1t)}),
        ("predict B=4096", {"chronoscale": lambda: model.predict(Xbig),
                            "layered": lambda: layered_predict(Xbig),
                            "torch": lambda: th_predict(Xbt)}),
    ]:
        rep = args.repeat
        if "4096" in name:
            rep = max(2, args.repeat // (100 if "epoch" in name else 10))
        ms = interleaved_ms({k: synced(f) for k, f in fns.items()}, rep, args.rounds)
        row = {"case": name, "chronoscale_ms": ms["chronoscale"], "torch_ms": ms["torch"],
               "ratio": ms["torch"] / ms["chronoscale"]}
        if "layered" in ms:
            row.update(layered_ms=ms["layered"], layered_ratio=ms["torch"] / ms["layered"])
        rows.append(row)

    info = chronoscale.build_info()
    load_after = os.getloadavg()
    machine = machine_line(torch, load_before, load_after)
    if args.device == "cuda":
        machine = f"{torch.cuda.get_device_name()} (cuda); {machine}"
    print(f"# {machine}")
    print(f"{'case':<16} {'chronoscale ms':>14} {'torch ms':>9} {'torch/cs':>9} "
          f"{'layered ms':>11} {'torch/layered':>14}")
    for r in rows:
        layered = (f"{r['layered_ms']:>11.4f} {r['layered_ratio']:>13.1f}x"
                   if "layered_ms" in r else f"{'-':>11} {'-':>14}")
        print(f"{r['case']:<16} {r['chronoscale_ms']:>14.4f} {r['torch_ms']:>9.4f} "
              f"{r['ratio']:>8.1f}x {layered}")
    result = {"rows": rows, "build_info": info, "torch": torch.__version__, "machine": machine,
              "device": args.device}
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
