"""Training memory of the paper's three backbones at 128x128, batch 1, measured by TFLM's allocator.

For each model: the TFLM inference arena of the stock int8 model and of the same model with
its first stage patched (tflm_train/patch.py, bit-exact), and the training arena (TFLM's
recording allocator, the real MicroInterpreter with our kernels) of the schemes full update,
last-K, bias-only, the paper's released ~100 KB and 49 KB schemes and an automatic scheme
(data-free prior) whose budget is 1.10x the patched inference arena (capped at 256 KB), with
the trainable-slice bytes and the analytic model's figure beside each measurement. Every
training graph is converted with the default patch="auto" (patched when that shrinks it);
the "patch" column says which were.

    python bench/memory_table.py [--models mcunet-5fps,...] [--skip-full] [--out bench/results/memory_table.json]

The weights are random (these are memory measurements; accuracy is the example's job).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time

import numpy as np

import tflm_train as tt
from tflm_train import zoo
from tflm_train.sparse.paper import HUNDRED_KB, paper_scheme

KB = 1024
SRAM = 256 * KB


def int8_model(name: str) -> bytes:
    rng = np.random.default_rng(0)
    keras_model = zoo.build(name, num_classes=10, input_size=128, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):  # the TF converter's export chatter
        return tt.keras_to_int8_tflite(keras_model, rng.uniform(-1, 1, (8, 128, 128, 3)).astype(np.float32))


def stock_inference_arena(tflite: bytes) -> int:
    """TFLM's arena for the int8 model as the TF converter wrote it."""
    from tflite_micro.python.tflite_micro import runtime
    from tflm_train.runtime.tflm import _captured_allocations

    return _captured_allocations(runtime.Interpreter.from_bytes(tflite, arena_size=8 << 20))["arena"]


def measure(tflite: bytes, scheme, label: str, sram_budget: int | None = None) -> dict:
    t0 = time.time()
    tm = tt.convert_tflite(tflite, scheme=scheme, sram_budget=sram_budget, progress=sram_budget is not None)
    rep = tt.Trainer(tm, backend="tflm").memory_report()
    a, t = rep["analytic"], rep["tflm"]
    row = {
        "scheme": label,
        "scheme_text": tm.scheme,
        "patch": tm.patch,
        "training_arena_bytes": t["training_arena_bytes"],
        "training_nonpersistent_bytes": t["training_nonpersistent_bytes"],
        "training_persistent_bytes": t["training_persistent_bytes"],
        "trainable_bytes": t["trainable_bytes"],
        "analytic_training_bytes": a["training_peak_bytes"],
        "analytic_error": a["training_peak_bytes"] / t["training_arena_bytes"] - 1,
        "inference_arena_bytes": t["inference_arena_bytes"],
        "analytic_inference_bytes": a["inference_peak_bytes"],
        "seconds": round(time.time() - t0, 1),
    }
    row["static_c"] = static_c_memory(tm)
    if tm.search_result is not None:
        row["search"] = {"budget_bytes": sram_budget, "gain": tm.search_result.gain,
                         "schemes_sized": tm.search_result.evaluated}
    return row


def static_c_memory(tm) -> dict:
    """vs_stock.static_c_memory (the graph as generated static C: planned arena + trainable state, the
    TinyEngine-kind comparison), or {"unsupported": why} when the generator lacks an op."""
    from tflm_train.errors import UnsupportedModelError
    from vs_stock import static_c_memory as generated

    try:
        return generated(tm)
    except UnsupportedModelError as e:
        return {"unsupported": str(e)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(zoo.BLOCKS))
    ap.add_argument("--skip-full", action="store_true", help="skip the full-update rows (MB-sized arenas)")
    ap.add_argument("--last-k", type=int, default=6, help="K of the last-K row (6 = the last two blocks)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "memory_table.json"))
    args = ap.parse_args(argv)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "python": sys.version.split()[0],
               "models": {}}
    for name in args.models.split(","):
        tflite = int8_model(name)
        stock = stock_inference_arena(tflite)
        base = measure(tflite, "classifier", "classifier")
        inference = base["inference_arena_bytes"]  # the patched forward graph when patching helped
        # 1.10x the inference arena, and 256 KB where that is smaller; a model whose inference
        # arena alone is over 256 KB gets 1.10x (it cannot fit either way).
        budget = int(1.10 * inference) if inference > SRAM else min(int(1.10 * inference), SRAM)
        schemes = [] if args.skip_full else [("full", "full")]
        schemes += [(f"last:{args.last_k}", f"last-{args.last_k}"), ("bias", "bias-only"),
                    (paper_scheme(name, "100kb"), f"paper {HUNDRED_KB[name]}"),
                    (paper_scheme(name, "49kb"), "paper 49kb"),
                    ("auto", f"auto @ {budget / KB:.0f} KB")]
        rows = [base] + [measure(tflite, s, label, budget if s == "auto" else None) for s, label in schemes]
        results["models"][name] = {"stock_inference_arena_bytes": stock, "inference_arena_bytes": inference,
                                   "patch": base["patch"], "rows": rows}
        print(f"\n{name} (128x128, batch 1): TFLM inference arena {stock / KB:.1f} KB stock, "
              f"{inference / KB:.1f} KB with {base['patch'] or 'no patching'} "
              f"(analytic {base['analytic_inference_bytes'] / KB:.1f} KB)")
        print("| scheme | patched | training arena (TFLM) | x stock inference | x patched inference | fits 256 KB | "
              "trainable slice | analytic | analytic error | static C SRAM |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['scheme']} | {'yes' if r['patch'] else 'no'} | {r['training_arena_bytes'] / KB:.1f} KB | "
                  f"{r['training_arena_bytes'] / stock:.2f}x | {r['training_arena_bytes'] / inference:.2f}x | "
                  f"{'yes' if r['training_arena_bytes'] <= SRAM else 'no'} | {r['trainable_bytes'] / KB:.1f} KB | "
                  f"{r['analytic_training_bytes'] / KB:.1f} KB | {r['analytic_error']:+.1%} | "
                  f"{_static_c_cell(r['static_c'])} |", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwritten: {args.out}")
    return 0


def _static_c_cell(sc: dict) -> str:
    if "unsupported" in sc:
        return "n/a"
    return f"{sc['total_bytes'] / KB:.1f} KB ({sc['arena_bytes'] / KB:.1f} + {sc['trainable_bytes'] / KB:.1f})"


if __name__ == "__main__":
    sys.exit(main())
