"""Does the automatic scheme beat bias-only and last-K at the same SRAM? Fashion-MNIST transfer, 3 seeds.

The deployed model (examples/fashion_mnist_transfer: a small CNN pretrained in TensorFlow on
classes 0-4) learns classes 5-9 on the TFLM backend, batch 1. Every scheme gets the same data,
learning rate and epochs; its training arena is measured by TFLM's allocator. The auto scheme's
budget is the measured arena of last:K (default K=2), and its contribution analysis runs on the
training samples themselves (what a device would have).

    python bench/auto_vs_baselines.py [--seeds 0,1,2] [--per-class 100] [--epochs 2]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np

import tflm_train as tt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist_transfer"))
import quickstart as Q  # noqa: E402


def train_and_eval(tm, xs, ys, xt, yt, epochs: int, seed: int) -> tuple[float, int]:
    trainer = tt.Trainer(tm, backend="tflm", fast_forward=True)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for i in rng.permutation(len(xs)):
            trainer.train_step(xs[i], ys[i])
    arena = trainer.memory_report()["tflm"]["training_arena_bytes"]
    return trainer.evaluate(xt, yt), arena


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--budget-of", default="last:2", help="the scheme whose measured arena is the auto budget")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "auto_vs_baselines.json"))
    args = ap.parse_args(argv)
    schemes = ["classifier", "bias", "last:2", "last:3"]
    rows: dict[str, dict] = {}
    t0 = time.time()
    for seed in [int(s) for s in args.seeds.split(",")]:
        with contextlib.redirect_stdout(io.StringIO()):
            keras_model, calibration = Q.pretrain(seed)
            int8 = tt.keras_to_int8_tflite(keras_model, calibration)
        xs, ys, xt, yt = Q.new_task(args.per_class, seed, 1000)
        budget = tt.Trainer(tt.convert_tflite(int8, scheme=args.budget_of), backend="tflm") \
            .memory_report()["tflm"]["training_arena_bytes"]
        for s in schemes + ["auto"]:
            if s == "auto":
                tm = tt.convert_tflite(int8, scheme="auto", sram_budget=budget, seed=seed,
                                       train_data=list(zip(xs[:200], ys[:200])))
                label = f"auto @ {args.budget_of} arena"
            else:
                tm, label = tt.convert_tflite(int8, scheme=s, seed=seed), s
            acc, arena = train_and_eval(tm, xs, ys, xt, yt, args.epochs, seed)
            r = rows.setdefault(label, {"accuracy": [], "arena_bytes": [], "schemes": []})
            r["accuracy"].append(acc)
            r["arena_bytes"].append(arena)
            r["schemes"].append(tm.scheme)
            print(f"seed {seed}: {label:>22}: accuracy {acc:.3f}, TFLM training arena {arena} B ({tm.scheme})",
                  flush=True)
    print(f"\nFashion-MNIST classes 5-9, {5 * args.per_class} samples x {args.epochs} epochs, batch 1, TFLM backend, "
          f"seeds {args.seeds} ({time.time() - t0:.0f} s)")
    print("| scheme | TFLM training arena | test accuracy (mean +- std) |")
    print("|---|---|---|")
    for label, r in rows.items():
        a = np.array(r["accuracy"]) * 100
        print(f"| {label} | {np.mean(r['arena_bytes']) / 1024:.1f} KB | {a.mean():.1f} +- {a.std():.1f} % |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "args": vars(args), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
