"""How much of the accuracy table is the training run: rows of bench/accuracy_table.py re-trained R times.

One batch-1 fine-tuning of 1000 steps at its tuned rate lands a few points up or down depending on
the sample order alone, so the table's one run per seed cannot resolve differences of a point. This
re-runs chosen rows of that table with the rate each row was tuned to there (and, for auto rows, the
scheme each seed's search picked there: the table's `learning_rate` and `schemes`), R times per seed:
run r has its own sample order and stochastic-rounding seed (accuracy_table.Task.use_repeat; run 0 is
the table's own), the same R orders for every row, so differences between rows are paired.

Prints, per row, the mean test accuracy over seeds x runs with its standard error, the run-to-run
standard deviation within a seed, and each row's paired difference from its reference row.

    python bench/accuracy_repeats.py --repeats 8 [--decay | --warmup] [--rows "scheme last:6;scheme auto@last:6"]
        [--scheme "sparse:bias=6;weights=..." [--scheme-like "scheme last:6, lr decay + warm-up"]]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import accuracy_table as A  # noqa: E402

# (row, the row it is compared with): the targets' comparisons.
DEFAULT_ROWS = [
    ("float32 TF fine-tuning", None),
    ("int8 SGD, no QAS", "float32 TF fine-tuning"),
    ("int8 + QAS, float32 grads", "float32 TF fine-tuning"),
    ("int8 + QAS, int8 grads", "int8 + QAS, float32 grads"),
    ("int8 + QAS, 16-bit updates", "float32 TF fine-tuning"),
    ("float32 TF fine-tuning, last:4", None),
    ("int8 SGD, no QAS, last:4", "float32 TF fine-tuning, last:4"),
    ("scheme last:4", "float32 TF fine-tuning, last:4"),
    ("int8 + QAS, last:4, 16-bit updates", "float32 TF fine-tuning, last:4"),
    ("float32 TF fine-tuning, last:6", None),
    ("int8 SGD, no QAS, last:6", "float32 TF fine-tuning, last:6"),
    ("int8 + QAS, last:6, 16-bit updates", "float32 TF fine-tuning, last:6"),
    ("float32 TF fine-tuning, all layers", None),
    ("int8 SGD, no QAS, all layers", "float32 TF fine-tuning, all layers"),
    ("int8 + QAS, all layers", "float32 TF fine-tuning, all layers"),
    ("int8 + QAS, all layers, 16-bit updates", "float32 TF fine-tuning, all layers"),
    ("scheme last:2", None),
    ("scheme last:3", None),
    ("scheme last:6", "float32 TF fine-tuning, last:6"),
    ("scheme auto@last:3", "scheme last:3"),
    ("scheme auto@last:6", "scheme last:6"),
]
# The same comparisons with the learning rate decayed over the run (--decay).
DECAY_ROWS = [
    ("float32 TF fine-tuning, lr decay", None),
    ("int8 SGD, no QAS, lr decay", "float32 TF fine-tuning, lr decay"),
    ("int8 + QAS, float32 grads, lr decay", "float32 TF fine-tuning, lr decay"),
    ("int8 + QAS, int8 grads, lr decay", "int8 + QAS, float32 grads, lr decay"),
    ("int8 + QAS, 16-bit updates, lr decay", "float32 TF fine-tuning, lr decay"),
    ("float32 TF fine-tuning, last:6, lr decay", None),
    ("int8 + QAS, last:6, lr decay", "float32 TF fine-tuning, last:6, lr decay"),
    ("int8 + QAS, last:6, lr decay, logit headroom 8x", "float32 TF fine-tuning, last:6, lr decay"),
    ("scheme last:3, lr decay", None),
    ("scheme last:6, lr decay", None),
    ("scheme auto@last:3, lr decay", "scheme last:3, lr decay"),
    ("scheme auto@last:6, lr decay", "scheme last:6, lr decay"),
    ("float32 TF fine-tuning, lr decay + warm-up", None),
    ("int8 + QAS, lr decay + warm-up", "float32 TF fine-tuning, lr decay + warm-up"),
    ("float32 TF fine-tuning, last:6, lr decay + warm-up", None),
    ("int8 + QAS, last:6, lr decay + warm-up", "float32 TF fine-tuning, last:6, lr decay + warm-up"),
    ("float32 TF fine-tuning, all layers, lr decay + warm-up", None),
    ("int8 + QAS, all layers, lr decay + warm-up", "float32 TF fine-tuning, all layers, lr decay + warm-up"),
    ("int8 SGD, no QAS, lr decay + warm-up", "float32 TF fine-tuning, lr decay + warm-up"),
    ("int8 SGD, no QAS, last:6, lr decay + warm-up", "float32 TF fine-tuning, last:6, lr decay + warm-up"),
    ("int8 SGD, no QAS, all layers, lr decay + warm-up", "float32 TF fine-tuning, all layers, lr decay + warm-up"),
    ("float32 TF fine-tuning, all kernels, lr decay + warm-up", None),
    ("int8 + QAS, all weights, lr decay + warm-up", "float32 TF fine-tuning, all kernels, lr decay + warm-up"),
]

# Issue 4's comparison with the decay and a warm-up (--warmup): each auto scheme against the last-K of
# its budget (and bias-only, larger than all of them), and all layers with 16-bit updates.
WARMUP_ROWS = [(f"scheme {s}, lr decay + warm-up", None) for s in ("bias", "last:2", "last:3", "last:4", "last:6")] + [
    ("scheme auto, lr decay + warm-up", "scheme last:2, lr decay + warm-up"),
    ("scheme auto@last:3, lr decay + warm-up", "scheme last:3, lr decay + warm-up"),
    ("scheme auto@last:6, lr decay + warm-up", "scheme last:6, lr decay + warm-up"),
    ("scheme last:8, lr decay + warm-up", None),
    ("scheme auto@last:8, lr decay + warm-up", "scheme last:8, lr decay + warm-up"),
    ("float32 TF fine-tuning, all layers, lr decay + warm-up", None),
    ("int8 + QAS, all layers, 16-bit updates, lr decay + warm-up",
     "float32 TF fine-tuning, all layers, lr decay + warm-up"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--table", default=os.path.join(os.path.dirname(__file__), "results", "accuracy_table.json"),
                    help="the accuracy table whose rates (and auto schemes) the runs use")
    ap.add_argument("--rows", default="", help="row names separated by ';' (default: the targets' rows)")
    protocol = ap.add_mutually_exclusive_group()
    protocol.add_argument("--decay", action="store_true", help="the default rows with the rate decayed over the run")
    protocol.add_argument("--warmup", action="store_true", help="the scheme comparisons (and all layers, 16-bit updates) "
                    "with the rate decayed and warmed up")
    ap.add_argument("--scheme", default="", help="also a fixed scheme (e.g. one seed's auto pick) on every seed, "
                    "trained like --scheme-like's row at that row's tuned rates, and paired against that row")
    ap.add_argument("--scheme-like", default="scheme last:6, lr decay + warm-up",
                    help="the row whose protocol and tuned rates --scheme uses")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "accuracy_repeats.json"))
    args = ap.parse_args(argv)
    with open(args.table) as f:
        table = json.load(f)
    kept = {r["row"]: r for r in table["rows"]}
    defs = dict(A.all_rows())
    pairs = WARMUP_ROWS if args.warmup else DECAY_ROWS if args.decay else DEFAULT_ROWS
    if args.rows:
        wanted = [r.strip() for r in args.rows.split(";") if r.strip()]
        pairs = [(r, dict(DEFAULT_ROWS + DECAY_ROWS + WARMUP_ROWS).get(r)) for r in wanted]
    if args.scheme:
        like = args.scheme_like
        if like not in defs or like not in kept:
            ap.error(f"--scheme-like row {like!r} is not in {args.table}")
        label = f"scheme {args.scheme} (at the rates of {like})"
        defs[label] = dict(defs[like], scheme=args.scheme)
        kept[label] = dict(kept[like], schemes=[args.scheme] * len(kept[like]["schemes"]))
        pairs = pairs + [(label, like)]
    for row, ref in pairs:
        for name in (row, ref):
            if name is not None and (name not in defs or name not in kept):
                ap.error(f"row {name!r} is not in {args.table}")
    seeds = table["seeds"]
    t0 = time.time()
    needed = list(dict.fromkeys([r for r, _ in pairs] + [ref for _, ref in pairs if ref]))
    acc: dict[str, list[list[float]]] = {row: [] for row in needed}
    for i, s in enumerate(seeds):
        task = A.Task(s, table["per_class"], table["epochs"], table["test_samples"])
        for row in needed:
            spec = dict(defs[row])
            if spec.get("scheme", "").startswith("auto"):
                spec["scheme"] = kept[row]["schemes"][i]  # the scheme the table's search picked for this seed
            lr = kept[row]["learning_rate"][i]
            runs = []
            for r in range(args.repeats):
                task.use_repeat(r)
                runs.append(task.run(spec, lr, task.xt, task.yt)[0])
            acc[row].append(runs)
            print(f"[{time.time() - t0:6.0f}s] seed {s}: {row}: " + " ".join(f"{100 * a:.1f}" for a in runs),
                  flush=True)
    results = []
    print(f"\n| row | mean over {len(seeds)} seeds x {args.repeats} runs | run-to-run sd | "
          "paired difference from | difference (mean +- se) |")
    print("|---|---|---|---|---|")
    for row in needed:
        a = 100 * np.array(acc[row])  # [seed, run]
        within = float(np.sqrt(np.mean(np.var(a, axis=1, ddof=1)))) if args.repeats > 1 else float("nan")
        r = {"row": row, "accuracy": a.tolist(), "mean": float(a.mean()), "se": float(a.std(ddof=1) / np.sqrt(a.size)),
             "run_to_run_sd": within}
        ref = dict(pairs).get(row)
        diff = ""
        if ref:
            d = a - 100 * np.array(acc[ref])
            r.update(reference=ref, difference=float(d.mean()), difference_se=float(d.std(ddof=1) / np.sqrt(d.size)),
                     difference_per_seed=d.mean(axis=1).tolist())
            diff = f"{ref} | {d.mean():+.2f} +- {r['difference_se']:.2f}"
        else:
            diff = " | "
        results.append(r)
        print(f"| {row} | {a.mean():.1f} +- {r['se']:.1f} % | {within:.1f} | {diff} |")
    out = {"date": time.strftime("%Y-%m-%d"), "table": os.path.relpath(args.table, os.path.dirname(args.out)),
           "seeds": seeds, "repeats": args.repeats, "rows": results, "seconds": round(time.time() - t0)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
