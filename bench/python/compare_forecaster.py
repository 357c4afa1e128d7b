"""MultiScaleForecaster vs the equivalent PyTorch model, same run, same machine, same threads.

The model: per scale (events 1, 4, 16) the mean-pooled windows of the event features go through
an LSTM (32 units), a linear head reads its last state, and learned softmax weights fuse the
heads (``y = alpha y1 + beta y2 + gamma y3``). The PyTorch twin does the same with
``x.view(B, T / k, k, F).mean(2)``, ``torch.nn.LSTM``, ``torch.nn.Linear`` and a softmax over a
``[3, 1]`` parameter; trained with MSE, global-norm clipping at 1 and Adam (eps 1e-7), the
forecaster's defaults. ``--check`` copies the weights into the twin and verifies in float64 that
both give the same predictions, loss and gradients.

Cases (T=64 steps of F=8 features, full-length sequences):
  train step   one mini-batch of B=256: forward, MSE, backward, clipping, Adam update
  predict      B=1 and B=4096, forward only (torch under torch.no_grad())

Calls alternate between the two sides in rounds; medians; ratio = torch ms / chronoscale ms
(> 1: chronoscale is faster).

    python bench/python/compare_forecaster.py [--repeat 20] [--rounds 3] [--threads N]
        [--check] [--json out]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from bench_common import machine_line, save_json
from compare_seed import interleaved_ms

import chronoscale
from chronoscale import nn
from chronoscale.models import MultiScaleForecaster

SCALES, UNITS, T, F = (1, 4, 16), 32, 64, 8


def torch_model(torch, dtype):
    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cells = torch.nn.ModuleList(
                [torch.nn.LSTM(F, UNITS, batch_first=True) for _ in SCALES])
            self.heads = torch.nn.ModuleList([torch.nn.Linear(UNITS, 1) for _ in SCALES])
            self.logits = torch.nn.Parameter(torch.zeros(len(SCALES), 1))

        def forward(self, x):  # x [B, T, F] -> [B]
            B = x.shape[0]
            ys = []
            for k, cell, head in zip(SCALES, self.cells, self.heads, strict=True):
                pooled = x.view(B, T // k, k, F).mean(2)
                _, (h, _) = cell(pooled)
                ys.append(head(h[0]))
            alpha = torch.softmax(self.logits, dim=0)  # [S, 1]
            return (torch.stack(ys) * alpha[:, None, :]).sum(0)[:, 0]

    return Twin().to(dtype)


def copy_weights(torch, net, twin):
    """chronoscale's weights into the twin (LSTM gates in torch's order; one bias -> b_ih)."""
    sd = {k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()}
    with torch.no_grad():
        for s, cell in enumerate(twin.cells):
            cell.weight_ih_l0.copy_(sd[f"ms.s{s}.weight_ih"])
            cell.weight_hh_l0.copy_(sd[f"ms.s{s}.weight_hh"])
            cell.bias_ih_l0.copy_(sd[f"ms.s{s}.bias"])
            cell.bias_hh_l0.zero_()
            twin.heads[s].weight.copy_(sd[f"head{s}.weight"])
            twin.heads[s].bias.copy_(sd[f"head{s}.bias"])
        twin.logits.copy_(sd["fusion.logits"])


def fitted(X, y, dtype):
    m = MultiScaleForecaster(scales=tuple(str(k) for k in SCALES), units=UNITS,
                             count_feature=False, dtype=dtype, random_state=0)
    return m.fit(X, y, epochs=1, batch_size=len(X), verbose=0)


def check(torch) -> None:
    """float64: the same predictions, loss and gradients (after one step, so the fusion weights
    are no longer equal)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, T, F))
    y = rng.standard_normal(16)
    m = fitted(X, y, "float64")
    twin = torch_model(torch, torch.float64)
    copy_weights(torch, m.net, twin)
    pred = m.net.forward(X, training=True)
    loss, dpred = nn.losses.mse(pred, y[:, None])
    for p in m.net.parameters():
        p.zero_grad()
    m.net.backward(dpred)
    tp = twin(torch.from_numpy(X))
    tl = torch.nn.functional.mse_loss(tp, torch.from_numpy(y))
    tl.backward()
    assert np.allclose(pred[:, 0], tp.detach().numpy(), rtol=1e-12, atol=1e-12), "predictions"
    tl_value = tl.item()
    assert abs(float(loss) - tl_value) < 1e-12 * max(1.0, abs(tl_value)), "loss"
    grads = {n: p.grad for n, p in m.net.named_parameters()}
    worst = 0.0
    for s, cell in enumerate(twin.cells):
        for ours, theirs in ((grads[f"ms.s{s}.weight_ih"], cell.weight_ih_l0.grad),
                             (grads[f"ms.s{s}.weight_hh"], cell.weight_hh_l0.grad),
                             (grads[f"ms.s{s}.bias"], cell.bias_ih_l0.grad),
                             (grads[f"head{s}.weight"], twin.heads[s].weight.grad)):
            t = theirs.numpy()
            worst = max(worst, float(np.abs(ours - t).max() / max(np.abs(t).max(), 1e-30)))
    g = grads["fusion.logits"]
    worst = max(worst, float(np.abs(g - twin.logits.grad.numpy()).max()
                             / max(np.abs(twin.logits.grad.numpy()).max(), 1e-30)))
    assert worst < 1e-9, f"gradients differ: {worst:.2e}"
    print(f"check OK (float64, B=16, T={T}, F={F}): loss {float(loss):.12f} vs torch "
          f"{tl_value:.12f}; worst gradient rel. error {worst:.2e}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--check", action="store_true", help="float64 equivalence check only")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        chronoscale.set_num_threads(args.threads)
    torch.set_num_threads(chronoscale.get_num_threads())
    check(torch)
    if args.check:
        return {}
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    B = 256
    X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.standard_normal(B).astype(np.float32)
    X1, Xbig = X[:1].copy(), rng.standard_normal((4096, T, F)).astype(np.float32)
    model = fitted(X, y, "float32")
    net = model.net
    opt = nn.Adam(net.parameters(), lr=1e-3, eps=1e-7, clipnorm=1.0)

    def cs_step():
        pred = net.forward(X, training=True)
        _, dpred = nn.losses.mse(pred, y[:, None])
        opt.zero_grad()
        net.backward(dpred)
        opt.step()

    twin = torch_model(torch, torch.float32)
    copy_weights(torch, net, twin)
    topt = torch.optim.Adam(twin.parameters(), lr=1e-3, eps=1e-7)
    Xt, yt, X1t, Xbt = (torch.from_numpy(a) for a in (X, y, X1, Xbig))

    def th_step():
        topt.zero_grad()
        torch.nn.functional.mse_loss(twin(Xt), yt).backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
        topt.step()

    def th_predict(a):
        with torch.no_grad():
            return twin(a)

    rows = []
    for name, fns in [
        ("train step B=256", {"chronoscale": cs_step, "torch": th_step}),
        ("predict B=1", {"chronoscale": lambda: model.predict(X1),
                         "torch": lambda: th_predict(X1t)}),
        ("predict B=4096", {"chronoscale": lambda: model.predict(Xbig),
                            "torch": lambda: th_predict(Xbt)}),
    ]:
        rep = args.repeat if "4096" not in name else max(2, args.repeat // 10)
        ms = interleaved_ms(fns, rep, args.rounds, warmup=2)
        rows.append({"case": name, "chronoscale_ms": ms["chronoscale"], "torch_ms": ms["torch"],
                     "ratio": ms["torch"] / ms["chronoscale"]})
    info = chronoscale.build_info()
    load_after = os.getloadavg()
    machine = machine_line(torch, load_before, load_after)
    print(f"# {machine}")
    print(f"{'case':<18} {'chronoscale ms':>14} {'torch ms':>9} {'torch/cs':>9}")
    for r in rows:
        print(f"{r['case']:<18} {r['chronoscale_ms']:>14.3f} {r['torch_ms']:>9.3f} "
              f"{r['ratio']:>8.2f}x")
    result = {"rows": rows, "build_info": info, "torch": torch.__version__, "machine": machine}
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
