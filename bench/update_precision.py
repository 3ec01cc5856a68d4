"""Where the int8 + QAS gap to float32 fine-tuning comes from: the precision of the weight update.

An experiment on the numpy reference backend (the spec the kernels match bit-exactly) that swaps the
update rule of the weight-trained int8 tensors; it led to convert(update_precision="int16"), the
product's form of "res8" (which rounds v / 256 half up where this emulation rounds half to even, and
draws its 1/256-LSB rounding from the kernels' PRNG; bench/accuracy_table.py measures the product's):
  - "int8":   the default rule (update_precision="int8"), w <- sat(w - floor(t + u)), t = grad *
              qas * lr in LSBs (stochastic rounding: a sub-LSB step moves w by one LSB with
              probability t);
  - "res8":   the same int8 weights plus one int8 residual byte per weight (16-bit update
              precision: the step is rounded stochastically to 1/256 LSB and accumulated in
              weight * 256 + residual; the forward pass reads the rounded int8 weight);
  - "master": a float64 master copy per weight (the tiny-training simulator's STE rule), the
              forward pass reads its int8 rounding.
Biases (int32) keep the product's rule. Same data, models, order and rate grid for every mode;
rates scored on held-out training images, then test accuracy on the test split.

    python bench/update_precision.py [--seeds 0,1,2] [--schemes last:2,full]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import tflm_train as tt
from tflm_train.converter import DEFAULT_LOGIT_HEADROOM, DEFAULT_WEIGHT_HEADROOM
from tflm_train.runtime.reference import ReferenceBackend

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_table as A  # noqa: E402

f32 = np.float32
MODES = ("int8", "res8", "master")
RATES = {"last:2": (0.01, 0.0316, 0.1), "full": (0.001, 0.00316, 0.01)}


class UpdateRule(ReferenceBackend):
    """The reference backend with the int8 weight update swapped for `mode` (module docstring)."""

    def __init__(self, tm, mode: str):
        super().__init__(tm)
        self.mode = mode
        self.master: dict[int, np.ndarray] = {}

    def _update(self, op, ti, grad, axis, lo, hi, mode, grads, channels=()):
        if self.mode == "int8" or mode != "train" or self.params[ti].dtype != np.int8:
            return super()._update(op, ti, grad, axis, lo, hi, mode, grads, channels)
        o = op.options
        shape = [1] * grad.ndim
        shape[axis] = -1
        t = (grad.astype(f32) * np.asarray(o.qasScale, f32).reshape(shape)) * f32(o.learningRate)
        t = np.where(np.isfinite(t), t, 0).astype(np.float64)
        m = self.master.setdefault(ti, self.params[ti].astype(np.float64))
        if self.mode == "res8":
            u = np.random.default_rng([o.seed, o.opUid, self.steps[op.index]]).random(t.shape)
            t = np.floor(t * 256 + u) / 256
        new = np.clip(m - t, lo, hi)
        if len(channels):
            keep = np.ones(grad.shape, bool)
            keep[..., list(channels)] = False
            new = np.where(keep, m, new)
        self.master[ti] = new
        self.params[ti][...] = np.clip(np.rint(new), lo, hi).astype(np.int8)
        self.steps[op.index] += 1


def train_eval(task: A.Task, scheme: str, mode: str, lr: float, xe, ye) -> float:
    tm = A.int8_model(task.int8, scheme, lr, task.seed, grad_dtype="float32", qas=True, rounding="stochastic",
                      headroom=DEFAULT_WEIGHT_HEADROOM, logit_headroom=DEFAULT_LOGIT_HEADROOM)
    b = UpdateRule(tm, mode)
    shape = tt.Trainer(tm, backend="reference")
    for i in task.order:
        try:
            b.train_step(shape._input(task.xs[i]), int(task.ys[i]))
        except tt.DivergenceError:
            pass  # refused, as on a device
    return float(np.mean([np.argmax(b.predict(shape._input(x))) == y for x, y in zip(xe, ye)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--schemes", default="last:2,full")
    ap.add_argument("--held-out", type=int, default=200, help="held-out training images per class for the rate")
    ap.add_argument("--test-samples", type=int, default=5000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "update_precision.json"))
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        task = A.Task(seed, 100, 2, args.test_samples)
        xv, yv = A.validation_split(seed, 100, args.held_out)
        for scheme in args.schemes.split(","):
            for mode in MODES:
                tried = {lr: train_eval(task, scheme, mode, lr, xv, yv) for lr in RATES[scheme]}
                lr = max(tried, key=lambda r: (tried[r], -r))
                acc = train_eval(task, scheme, mode, lr, task.xt, task.yt)
                rows.append(dict(seed=seed, scheme=scheme, mode=mode, learning_rate=lr, held_out=tried[lr], test=acc))
                print(f"[{time.time() - t0:5.0f}s] seed {seed} {scheme:6s} {mode:6s}: lr {lr:g} "
                      f"held-out {100 * tried[lr]:.1f} test {100 * acc:.1f}", flush=True)
    print("\n| trainable set | update | test accuracy (mean +- std) | per seed |\n|---|---|---|---|")
    for scheme in args.schemes.split(","):
        for mode in MODES:
            accs = [r["test"] for r in rows if r["scheme"] == scheme and r["mode"] == mode]
            print(f"| {scheme} | {mode} | {100 * np.mean(accs):.1f} +- {100 * np.std(accs):.1f} % | "
                  + " / ".join(f"{100 * a:.1f}" for a in accs) + " |")
    with open(args.out, "w") as f:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), rates=RATES, held_out_per_class=args.held_out,
                       test_samples=args.test_samples, rows=rows, seconds=round(time.time() - t0)), f, indent=1)
    print(f"written: {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
