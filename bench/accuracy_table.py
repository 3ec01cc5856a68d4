"""Accuracy on real data: Fashion-MNIST transfer, float32 fine-tuning vs int8 on the device.

The deployed model (examples/fashion_mnist_transfer, arch "mcu": a MobileNetV2-style CNN, no BN,
pretrained in TensorFlow on classes 0-4) learns classes 5-9 from `--per-class` labelled samples per
class, batch 1, `--epochs` epochs, plain SGD. Rows:

  float32 TensorFlow fine-tuning of the same trainable set (the reference), and that model
  deployed as int8 through the TF converter (the int8 forward pass's own cost);
  int8 SGD without QAS; int8 + QAS with float32 gradients; int8 + QAS with int8 gradients;
  ablations of int8 + QAS: round to nearest, weight headroom 1x and 2x (default 4x), and
  with every layer trained, weight headroom 1x and round to nearest;
  schemes classifier / bias-only / last-2 / last-3 / last-4 / last-6 / auto (budget = last-2's
  measured arena) / auto@last:3 and auto@last:6 (budget = last-K's measured arena); each auto scheme is searched
  once per seed, its contribution analysis on the training samples around the rate that seed's
  last-2 was tuned to (sparse/search.py: that rate and two lower ones),
  int8 + QAS, float32 gradients, each with its TFLM-measured training arena.

Every int8 row runs on the TFLM backend (TFLM's MicroInterpreter + our kernels); a step the
divergence guard refuses is skipped, as on a device. Learning rates are tuned the same way for
every row and seed: a grid 10^-4 .. 10^4 (one per decade), then half a decade either side of the
best, scored by accuracy on `--held-out` (default 400) held-out training images per class of that seed
(never the test split; 100 per class, 2 points of standard error, let one seed pick a rate 3x off).
Test accuracy on the official test split (classes 5-9, `--test-samples` images, default all 5000).
3 seeds (each its own pretrained model, samples and order): mean and standard deviation, and
the paired differences that the targets are about.

    python bench/accuracy_table.py [--seeds 0,1,2] [--per-class 100] [--epochs 2] [--quick]
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
from tflm_train.converter import DEFAULT_LOGIT_HEADROOM, DEFAULT_WEIGHT_HEADROOM
from tflm_train.datasets import fashion_mnist
from tflm_train.reference import training as R

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist_transfer"))
import quickstart as Q  # noqa: E402

FIXED = "last:2"  # the trainable set of the precision rows
WARMUP = 50  # the warm-up rows' ramp: 5 % of the run's 1000 steps
ALL_LAYERS = 12  # the example's weighted layers (convs and the classifier)
ALL_WEIGHTS = "sparse:bias=0;weights=" + ",".join(f"{i}:1" for i in range(ALL_LAYERS))  # every weight, no bias
PRECISION_ROWS = [
    ("float32 TF fine-tuning", dict(kind="float")),
    # The same float fine-tuning, then deployed as int8 through the TF converter: what a user gets
    # without on-device training, and the reference that carries the int8 forward pass's own loss.
    ("float32 TF fine-tuning -> int8", dict(kind="float_int8")),
    ("int8 SGD, no QAS", dict(kind="int8", qas=False, grad_dtype="float32")),
    ("int8 + QAS, float32 grads", dict(kind="int8", qas=True, grad_dtype="float32")),
    ("int8 + QAS, int8 grads", dict(kind="int8", qas=True, grad_dtype="int8")),
    # One residual byte per trained weight: 16-bit weight updates (update_precision="int16").
    ("int8 + QAS, 16-bit updates", dict(kind="int8", qas=True, grad_dtype="float32", update_precision="int16")),
    ("int8 SGD, no QAS, 16-bit updates",
     dict(kind="int8", qas=False, grad_dtype="float32", update_precision="int16")),
    ("int8 + QAS, last:4, 16-bit updates",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="last:4", update_precision="int16")),
    ("int8 + QAS, last:6, 16-bit updates",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="last:6", update_precision="int16")),
    # The learning rate decayed linearly to 0 over the run (convert(decay_steps=steps)), float32 and int8
    # alike: a constant rate ends batch-1 SGD wherever its last steps threw it.
    ("float32 TF fine-tuning, lr decay", dict(kind="float", decay=True)),
    ("int8 SGD, no QAS, lr decay", dict(kind="int8", qas=False, grad_dtype="float32", decay=True)),
    ("int8 + QAS, float32 grads, lr decay", dict(kind="int8", qas=True, grad_dtype="float32", decay=True)),
    ("int8 + QAS, int8 grads, lr decay", dict(kind="int8", qas=True, grad_dtype="int8", decay=True)),
    ("int8 + QAS, 16-bit updates, lr decay",
     dict(kind="int8", qas=True, grad_dtype="float32", update_precision="int16", decay=True)),
    ("float32 TF fine-tuning, last:6, lr decay", dict(kind="float", scheme="last:6", decay=True)),
    ("int8 + QAS, last:6, lr decay", dict(kind="int8", qas=True, grad_dtype="float32", scheme="last:6", decay=True)),
    ("float32 TF fine-tuning, all layers, lr decay", dict(kind="float", scheme=f"last:{ALL_LAYERS}", decay=True)),
    ("int8 + QAS, all layers, lr decay", dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", decay=True)),
    # ... and with the logits' int8 range 8x as calibrated (the default widens it 2x): at the higher
    # rates a decayed run is tuned to, fine-tuning grows the logits past 2x.
    ("int8 + QAS, lr decay, logit headroom 8x",
     dict(kind="int8", qas=True, grad_dtype="float32", decay=True, logit_headroom=8.0)),
    ("int8 + QAS, last:6, lr decay, logit headroom 8x",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="last:6", decay=True, logit_headroom=8.0)),
    ("int8 + QAS, all layers, lr decay, logit headroom 8x",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", decay=True, logit_headroom=8.0)),
    # ... and with a warm-up too: the first updates at a high rate throw the logits far off, which
    # float32 recovers from and int8 may not.
    ("float32 TF fine-tuning, lr decay + warm-up", dict(kind="float", decay=True, warmup=WARMUP)),
    ("int8 + QAS, lr decay + warm-up", dict(kind="int8", qas=True, grad_dtype="float32", decay=True, warmup=WARMUP)),
    ("float32 TF fine-tuning, last:6, lr decay + warm-up",
     dict(kind="float", scheme="last:6", decay=True, warmup=WARMUP)),
    ("int8 + QAS, last:6, lr decay + warm-up",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="last:6", decay=True, warmup=WARMUP)),
    ("float32 TF fine-tuning, all layers, lr decay + warm-up",
     dict(kind="float", scheme=f"last:{ALL_LAYERS}", decay=True, warmup=WARMUP)),
    ("int8 + QAS, all layers, lr decay + warm-up",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", decay=True, warmup=WARMUP)),
    ("int8 + QAS, all layers, 16-bit updates, lr decay + warm-up",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", update_precision="int16", decay=True,
          warmup=WARMUP)),
    # ... and without any bias trained: is the all-layers gap in the biases? (No: docs/accuracy.md.)
    ("float32 TF fine-tuning, all kernels, lr decay + warm-up",
     dict(kind="float", scheme=f"kernels:{ALL_LAYERS}", decay=True, warmup=WARMUP)),
    ("int8 + QAS, all weights, lr decay + warm-up",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme=ALL_WEIGHTS, decay=True, warmup=WARMUP)),
    # The QAS ablation under the same schedule: one rate for every tensor, whatever its scale.
    ("int8 SGD, no QAS, lr decay + warm-up",
     dict(kind="int8", qas=False, grad_dtype="float32", decay=True, warmup=WARMUP)),
    ("int8 SGD, no QAS, last:6, lr decay + warm-up",
     dict(kind="int8", qas=False, grad_dtype="float32", scheme="last:6", decay=True, warmup=WARMUP)),
    ("int8 SGD, no QAS, all layers, lr decay + warm-up",
     dict(kind="int8", qas=False, grad_dtype="float32", scheme="full", decay=True, warmup=WARMUP)),
    # Where the gap to float comes from: the same update rounded to nearest instead of stochastically.
    ("int8 + QAS, nearest rounding", dict(kind="int8", qas=True, grad_dtype="float32", rounding="nearest")),
    # ... and with less room for the weights to grow past their pretrained range than the default 4x
    # (tflm_train/headroom.py): 1x is the model as the TF converter quantized it.
    ("int8 + QAS, weight headroom 1x", dict(kind="int8", qas=True, grad_dtype="float32", headroom=1.0)),
    ("int8 + QAS, weight headroom 2x", dict(kind="int8", qas=True, grad_dtype="float32", headroom=2.0)),
    # ... and the logits' int8 range as the TF converter calibrated it (the default widens it 2x).
    ("int8 + QAS, logit headroom 1x", dict(kind="int8", qas=True, grad_dtype="float32", logit_headroom=1.0)),
    # The QAS ablation again with every layer trained: the trainable tensors then span the stem,
    # depthwise and pointwise convs and their int32 biases, whose scales differ by orders of
    # magnitude, which is where one learning rate without QAS is expected to fall short.
    ("float32 TF fine-tuning, all layers", dict(kind="float", scheme=f"last:{ALL_LAYERS}")),
    ("int8 SGD, no QAS, all layers", dict(kind="int8", qas=False, grad_dtype="float32", scheme="full")),
    ("int8 + QAS, all layers", dict(kind="int8", qas=True, grad_dtype="float32", scheme="full")),
    # Where the all-layers gap comes from: the same with the weights as converted (no headroom), and
    # with every update rounded to nearest (most are below half an LSB then).
    ("int8 + QAS, all layers, weight headroom 1x",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", headroom=1.0)),
    ("int8 + QAS, all layers, 16-bit updates",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", update_precision="int16")),
    ("int8 SGD, no QAS, all layers, 16-bit updates",
     dict(kind="int8", qas=False, grad_dtype="float32", scheme="full", update_precision="int16")),
    ("int8 + QAS, all layers, nearest rounding",
     dict(kind="int8", qas=True, grad_dtype="float32", scheme="full", rounding="nearest")),
    # ... and with the last 4 and 6 layers, whose trainable sets also mix weights and int32 biases of
    # depthwise and pointwise convs; their int8 + QAS rows are "scheme last:4" / "scheme last:6".
    ("float32 TF fine-tuning, last:4", dict(kind="float", scheme="last:4")),
    ("int8 SGD, no QAS, last:4", dict(kind="int8", qas=False, grad_dtype="float32", scheme="last:4")),
    ("float32 TF fine-tuning, last:6", dict(kind="float", scheme="last:6")),
    ("int8 SGD, no QAS, last:6", dict(kind="int8", qas=False, grad_dtype="float32", scheme="last:6")),
]
# The QAS ablation per trainable set: (float32 row, no-QAS row, int8 + QAS row).
QAS_ABLATIONS = {
    FIXED: ("float32 TF fine-tuning", "int8 SGD, no QAS", "int8 + QAS, float32 grads"),
    "last:4": ("float32 TF fine-tuning, last:4", "int8 SGD, no QAS, last:4", "scheme last:4"),
    "last:6": ("float32 TF fine-tuning, last:6", "int8 SGD, no QAS, last:6", "scheme last:6"),
    "all layers": ("float32 TF fine-tuning, all layers", "int8 SGD, no QAS, all layers", "int8 + QAS, all layers"),
}
# ... and with the rate decayed and warmed up (the schedule the README recommends).
QAS_ABLATIONS_WARMUP = {
    FIXED: ("float32 TF fine-tuning, lr decay + warm-up", "int8 SGD, no QAS, lr decay + warm-up",
            "int8 + QAS, lr decay + warm-up"),
    "last:6": ("float32 TF fine-tuning, last:6, lr decay + warm-up", "int8 SGD, no QAS, last:6, lr decay + warm-up",
               "int8 + QAS, last:6, lr decay + warm-up"),
    "all layers": ("float32 TF fine-tuning, all layers, lr decay + warm-up",
                   "int8 SGD, no QAS, all layers, lr decay + warm-up", "int8 + QAS, all layers, lr decay + warm-up"),
}
# The 16-bit update rows and the float32 row of their trainable set.
SIXTEEN_BIT = {FIXED: ("int8 + QAS, 16-bit updates", "float32 TF fine-tuning"),
               "last:4": ("int8 + QAS, last:4, 16-bit updates", "float32 TF fine-tuning, last:4"),
               "last:6": ("int8 + QAS, last:6, 16-bit updates", "float32 TF fine-tuning, last:6"),
               "all layers": ("int8 + QAS, all layers, 16-bit updates", "float32 TF fine-tuning, all layers")}
# "auto" searches under last-2's measured arena, "auto@last:K" under last-K's; the target compares an
# auto scheme with every last-K (and bias-only) of the same or larger measured arena.
SCHEME_ROWS = ["classifier", "bias", "last:2", "last:3", "last:4", "last:6", "auto", "auto@last:3", "auto@last:6"]
# (label suffix, row settings) of the scheme rows' training protocols; the last is the plot's.
SCHEME_PROTOCOLS = [("", {}), (", lr decay", dict(decay=True)), (", lr decay + warm-up", dict(decay=True, warmup=WARMUP))]
# With decay + warm-up only: a budget above bias-only's arena (last:8's, 112 KB), where the last-K schemes of that
# memory or more are the deep ones (last:8 .. all layers).
LARGE_BUDGET_ROWS = ["last:8", "auto@last:8"]


def validation_split(seed: int, per_class: int, n: int = 100):
    """n held-out training images per new class, disjoint from new_task's selection."""
    xs_sel = Q.new_task(per_class, seed, 1)[0]
    x, y = fashion_mnist("train")
    rng = np.random.default_rng(10_000 + seed)
    taken = {hash(a.tobytes()) for a in xs_sel}
    picks = []
    for c in Q.NEW:
        cand = [i for i in rng.permutation(np.where(y == c)[0])[: 4 * n]
                if hash(Q.prep(x[i:i + 1])[0].tobytes()) not in taken]
        picks += cand[:n]
    return Q.prep(x[picks]), (y[picks] - 5).astype(np.int64)


# ------------------------------------------------------------------ float32 reference
def all_rows() -> list[tuple[str, dict]]:
    """(label, row) of every row: the precision rows, then the scheme rows at a constant rate, with the
    rate decayed over the run, and with the decay and a warm-up."""
    return list(PRECISION_ROWS) + [(f"scheme {s}{suffix}", dict(kind="int8", scheme=s, **kw))
                                   for suffix, kw in SCHEME_PROTOCOLS
                                   for s in SCHEME_ROWS + (LARGE_BUDGET_ROWS if kw.get("warmup") else [])]


def float_finetune(keras_model, scheme: str, xs, ys, order, lr: float, decay: bool = False, warmup: int = 0):
    import tensorflow as tf

    m = tf.keras.models.clone_model(keras_model)
    m.set_weights(keras_model.get_weights())
    weighted = [lyr for lyr in m.layers if isinstance(lyr, (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D,
                                                            tf.keras.layers.Dense))]
    kind, _, k = scheme.partition(":")  # "last:K", or "kernels:K": the last K layers' kernels, no bias
    train_vars = [v for lyr in weighted[-int(k):]
                  for v in ([lyr.kernel] if kind == "kernels" else lyr.trainable_variables)]
    opt = tf.keras.optimizers.SGD(lr)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, m(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, train_vars), train_vars))
        return loss

    for j, i in enumerate(order):
        if decay or warmup:  # as convert(decay_steps=len(order), warmup_steps=...) schedules the int8 rows' rate
            opt.learning_rate.assign(float(R.scheduled_learning_rate(lr, 0.0, len(order) if decay else 0, j, warmup)))
        step(xs[i:i + 1], ys[i:i + 1])
    return m


def float_accuracy(m, xs, ys) -> float:
    logits = m.predict(xs, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(logits, 1) == ys))


# ------------------------------------------------------------------ int8 on TFLM
def int8_model(int8_tflite: bytes, scheme, lr: float, seed: int, grad_dtype="float32", qas=True,
               rounding="stochastic", headroom=DEFAULT_WEIGHT_HEADROOM, logit_headroom=DEFAULT_LOGIT_HEADROOM,
               update_precision="int8", decay_steps=0, warmup_steps=0):
    return tt.convert_tflite(int8_tflite, scheme=scheme, grad_dtype=grad_dtype, learning_rate=lr, seed=seed, qas=qas,
                             rounding=rounding, weight_headroom=headroom, logit_headroom=logit_headroom,
                             update_precision=update_precision, decay_steps=decay_steps,
                             warmup_steps=warmup_steps)


def int8_settings(row: dict, steps: int) -> dict:
    """int8_model's keyword arguments for an int8 row of a `steps`-update run."""
    return dict(grad_dtype=row.get("grad_dtype", "float32"), qas=row.get("qas", True),
                rounding=row.get("rounding", "stochastic"), headroom=row.get("headroom", DEFAULT_WEIGHT_HEADROOM),
                logit_headroom=row.get("logit_headroom", DEFAULT_LOGIT_HEADROOM),
                update_precision=row.get("update_precision", "int8"),
                decay_steps=steps if row.get("decay") else 0, warmup_steps=row.get("warmup", 0))


def remeasure_arenas(path: str, log) -> None:
    """Re-measures every stored int8 row's training arena from its settings and schemes (TFLM's stock
    kernels; no training: the arena depends on neither the rate nor the data)."""
    from tflm_train.runtime.tflm import measured_training_arena

    with open(path) as f:
        out = json.load(f)
    settings = dict(all_rows())
    steps = out["per_class"] * len(Q.NEW) * out["epochs"]
    for i, s in enumerate(out["seeds"]):
        with contextlib.redirect_stdout(io.StringIO()):
            keras, calib = Q.pretrain(s, arch="mcu")
            int8 = tt.keras_to_int8_tflite(keras, calib)
        for r in out["rows"]:
            row = settings.get(r["row"])
            if row is None or row["kind"] != "int8":
                continue
            tm = int8_model(int8, r["schemes"][i], r["learning_rate"][i], s, **int8_settings(row, steps))
            was, r["training_arena_bytes"][i] = r["training_arena_bytes"][i], measured_training_arena(tm)
            if was != r["training_arena_bytes"][i]:
                log(f"seed {s}: {r['row']}: {was} -> {r['training_arena_bytes'][i]} B")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    plot(out["rows"], os.path.splitext(path)[0] + ".png")


def paired(by: dict, a: str, b: str) -> list[float]:
    """Row a minus row b per seed, in points."""
    return [100 * (x - y) for x, y in zip(by[a]["accuracy"], by[b]["accuracy"])]


def qas_ablation(by: dict, f_row: str, n_row: str, q_row: str) -> dict:
    """float32, no-QAS and QAS rows of one trainable set: their means, paired differences per seed, and the
    share of the no-QAS gap that QAS closes."""
    f_, n_, q_ = by[f_row]["mean"], by[n_row]["mean"], by[q_row]["mean"]
    return {"float32": f_, "no_qas": n_, "qas": q_, "qas_minus_float_points": 100 * (q_ - f_),
            "qas_minus_float_per_seed": paired(by, q_row, f_row),
            "no_qas_minus_float_per_seed": paired(by, n_row, f_row),
            # Defined only where float32 is ahead of no-QAS: otherwise there is no gap to close.
            "qas_gap_closed": (q_ - n_) / (f_ - n_) if f_ > n_ else None}


def int8_train(tm, xs, ys, order):
    """Trains like a device: a step the divergence guard refuses is skipped (and counted)."""
    tr = tt.Trainer(tm, backend="tflm", fast_forward=True)
    tr.refused = 0
    for i in order:
        try:
            tr.train_step(xs[i], ys[i])
        except tt.DivergenceError:
            tr.refused += 1
    return tr


# ------------------------------------------------------------------ one run
class Task:
    def __init__(self, seed: int, per_class: int, epochs: int, test_samples: int):
        with contextlib.redirect_stdout(io.StringIO()):
            self.keras, self.calib = Q.pretrain(seed, arch="mcu")
            self.int8 = tt.keras_to_int8_tflite(self.keras, self.calib)
        self.seed = seed
        self.epochs = epochs
        self.xs, self.ys, self.xt, self.yt = Q.new_task(per_class, seed, test_samples)
        self.use_repeat(0)
        self._auto: dict[str, str] = {}
        self.analysis_lr = None  # set to last-2's tuned rate before the auto row runs

    def use_repeat(self, r: int) -> None:
        """Training run r of this seed: its own sample order and stochastic-rounding seed (r = 0 is the
        table's run; bench/accuracy_repeats.py averages over several, since batch-1 runs vary by a few
        points with the order alone)."""
        rng = np.random.default_rng(self.seed if r == 0 else (self.seed, r))
        self.order = np.concatenate([rng.permutation(len(self.xs)) for _ in range(self.epochs)])
        self.train_seed = self.seed + 1000 * r

    def auto_scheme(self, budget_of: str, decay_steps: int = 0, warmup_steps: int = 0) -> str:
        """The auto scheme at `budget_of`'s measured arena, searched once per seed and schedule: the
        contribution analysis runs on the training samples at the rate this seed's last-2 was tuned to
        (the rate the user trains with), with the row's warm-up share; the row then tunes its own
        training rate like every other row."""
        key = (budget_of, self.analysis_lr, decay_steps, warmup_steps)
        if key not in self._auto:
            tr = tt.Trainer(tt.convert_tflite(self.int8, scheme=budget_of), backend="tflm")
            budget = tr.memory_report()["tflm"]["training_arena_bytes"]
            tm = tt.convert_tflite(self.int8, scheme="auto", sram_budget=budget, seed=self.seed, progress=False,
                                   learning_rate=self.analysis_lr, train_data=list(zip(self.xs, self.ys)),
                                   decay_steps=decay_steps, warmup_steps=warmup_steps)
            self._auto[key] = tm.scheme
        return self._auto[key]

    def run(self, row: dict, lr: float, eval_x, eval_y) -> tuple[float, int | None, str]:
        """(accuracy on eval_x, measured training arena, scheme text)."""
        if row["kind"] == "float":
            m = float_finetune(self.keras, row.get("scheme", FIXED), self.xs, self.ys, self.order, lr,
                               row.get("decay", False), row.get("warmup", 0))
            return float_accuracy(m, eval_x, eval_y), None, row.get("scheme", FIXED)
        if row["kind"] == "float_int8":
            m = float_finetune(self.keras, FIXED, self.xs, self.ys, self.order, lr)
            with contextlib.redirect_stdout(io.StringIO()):
                deployed = tt.keras_to_int8_tflite(m, self.calib)
            tr = tt.Trainer(tt.convert_tflite(deployed, scheme="classifier", progress=False, logit_headroom=1.0),
                            backend="tflm")  # the model as the TF converter deployed it
            return tr.evaluate(eval_x, eval_y), None, FIXED
        scheme = row.get("scheme", FIXED)
        kw = int8_settings(row, len(self.order))
        if scheme.startswith("auto"):
            scheme = self.auto_scheme(scheme.partition("@")[2] or FIXED, kw["decay_steps"], kw["warmup_steps"])
        tm = int8_model(self.int8, scheme, lr, self.train_seed, **kw)
        tr = int8_train(tm, self.xs, self.ys, self.order)
        arena = tr.memory_report()["tflm"]["training_arena_bytes"]
        return tr.evaluate(eval_x, eval_y), arena, tm.scheme


def tune(task: Task, row: dict, xv, yv, log) -> float:
    tried: dict[float, float] = {}

    def score(e: float) -> float:
        if e not in tried:
            tried[e] = task.run(row, float(10.0 ** e), xv, yv)[0]
        return tried[e]

    for e in range(-4, 5):
        score(float(e))
    best = max(tried, key=lambda e: (tried[e], -abs(e)))
    for e in (best - 0.5, best + 0.5):
        score(e)
    best = max(tried, key=lambda e: (tried[e], -abs(e)))
    log("    lr grid: " + ", ".join(f"1e{e:+.1f}: {100 * a:.1f}" for e, a in sorted(tried.items()))
        + f" -> {10 ** best:.3g}")
    return float(10.0 ** best)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--test-samples", type=int, default=5000)
    ap.add_argument("--held-out", type=int, default=400, help="held-out training images per class for tuning")
    ap.add_argument("--quick", action="store_true", help="1 seed, fewer samples (a smoke run, ~3 min)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "accuracy_table.json"))
    ap.add_argument("--rows", default="", help="row names to run, separated by ';' (labels contain commas; "
                    "default all); the other rows are kept from --out, which must exist")
    ap.add_argument("--merge", default="", help="a second results file: its rows replace --out's rows of the "
                    "same name (two --rows runs side by side), then the summary, table and plot are redone")
    ap.add_argument("--arenas", action="store_true", help="only re-measure the stored int8 rows' training "
                    "arenas in --out (on TFLM's stock kernels) and redo the plot")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.per_class, args.test_samples, args.held_out = "0", 40, 500, 100
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)

    if args.arenas:
        remeasure_arenas(args.out, log)
        return 0
    rows = all_rows()
    wanted = {r.strip() for r in args.rows.split(";") if r.strip()}
    unknown = wanted - {label for label, _ in rows}
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; rows: {'; '.join(label for label, _ in rows)}")
    # The rows this invocation measures; the others come from --out (and --merge).
    to_run = set() if args.merge else wanted or {label for label, _ in rows}
    kept = {}
    if wanted or args.merge:
        with open(args.out) as f:
            kept = {r["row"]: r for r in json.load(f)["rows"]}
    if args.merge:
        with open(args.merge) as f:
            other = json.load(f)
        kept.update({r["row"]: r for r in other["rows"] if r["row"] in set(other.get("rows_run", []))})
    per_seed: dict[str, list] = {label: [] for label, _ in rows}
    for i, s in enumerate(seeds):
        if to_run:
            task = Task(s, args.per_class, args.epochs, args.test_samples)
            xv, yv = validation_split(s, args.per_class, args.held_out)
        for label, row in rows:
            if label not in to_run:
                if label not in kept:
                    continue  # a row not measured yet (added since --out was written)
                r = kept[label]
                per_seed[label].append((r["learning_rate"][i], r["accuracy"][i], r["training_arena_bytes"][i],
                                        r["schemes"][i]))
                continue
            if row.get("scheme", "").startswith("auto"):  # the rate the same protocol's last-2 was tuned to
                schedule = {k: row[k] for k in ("decay", "warmup") if k in row}
                protocol = next(sfx for sfx, kw in SCHEME_PROTOCOLS if kw == schedule)
                task.analysis_lr = per_seed[f"scheme {FIXED}{protocol}"][-1][0]
            log(f"seed {s}: tuning {label}")
            lr = tune(task, row, xv, yv, log)
            acc, arena, scheme = task.run(row, lr, task.xt, task.yt)
            per_seed[label].append((lr, acc, arena, scheme))
            log(f"seed {s}: {label}: lr {lr:.3g}, test accuracy {100 * acc:.1f}%, scheme {scheme}")
    results = []
    for label, _ in rows:
        if not per_seed[label]:
            continue
        lrs_, accs, arenas, schemes = (list(v) for v in zip(*per_seed[label]))
        r = {"row": label, "learning_rate": lrs_, "accuracy": accs, "mean": float(np.mean(accs)),
             "std": float(np.std(accs)), "training_arena_bytes": arenas, "schemes": schemes}
        results.append(r)
        log(f"{label}: {100 * r['mean']:.1f} +- {100 * r['std']:.1f} %"
            + (f", arena {np.mean(arenas) / 1024:.1f} KB" if arenas[0] else ""))
    by = {r["row"]: r for r in results}
    summary = summarize(by)
    out = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "seeds": seeds,
           "per_class": args.per_class, "epochs": args.epochs, "test_samples": args.test_samples,
           "held_out_per_class": args.held_out,
           "rows_run": sorted(to_run),
           "trainable_set_of_precision_rows": FIXED, "rows": results, "summary": summary,
           "seconds": round(time.time() - t0)}
    print("\n| row | learning rate (per seed) | test accuracy (mean +- std) | TFLM training arena |")
    print("|---|---|---|---|")
    for r in results:
        arena = f"{np.mean(r['training_arena_bytes']) / 1024:.1f} KB" if r["training_arena_bytes"][0] else "-"
        lr = "/".join(f"{v:.2g}" for v in r["learning_rate"])
        print(f"| {r['row']} | {lr} | {100 * r['mean']:.1f} +- {100 * r['std']:.1f} % | {arena} |")
    print_summary(summary)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    plot(results, os.path.splitext(args.out)[0] + ".png")
    print(f"written: {args.out}")
    return 0


# The rows the headline summary compares; a run without them (e.g. --rows into a fresh --out) gets only
# the QAS ablations it has.
SUMMARY_ROWS = ("float32 TF fine-tuning", "int8 SGD, no QAS", "int8 + QAS, float32 grads", "int8 + QAS, int8 grads",
                "int8 + QAS, weight headroom 1x", "float32 TF fine-tuning -> int8", "scheme auto", "scheme last:2",
                "scheme auto@last:3", "scheme last:3") + tuple(r for pair in SIXTEEN_BIT.values() for r in pair)


def summarize(by: dict) -> dict:
    """The targets' comparisons over the rows `by` holds (row label -> result)."""
    summary = {}
    for key, ablations in (("qas_ablation_per_trainable_set", QAS_ABLATIONS),
                           ("qas_ablation_per_trainable_set_warmup", QAS_ABLATIONS_WARMUP)):
        summary[key] = {tset: qas_ablation(by, *rows) for tset, rows in ablations.items()
                        if all(r in by for r in rows)}
    if not all(r in by for r in SUMMARY_ROWS):
        return summary
    f32, noqas = by["float32 TF fine-tuning"]["mean"], by["int8 SGD, no QAS"]["mean"]
    qas_f, qas_i = by["int8 + QAS, float32 grads"]["mean"], by["int8 + QAS, int8 grads"]["mean"]
    summary.update({
        "qas_minus_float_points": 100 * (qas_f - f32),
        "qas_minus_float_points_per_seed": paired(by, "int8 + QAS, float32 grads", "float32 TF fine-tuning"),
        "int8_grads_minus_float32_grads_points": 100 * (qas_i - qas_f),
        "int8_grads_minus_float32_grads_per_seed": paired(by, "int8 + QAS, int8 grads", "int8 + QAS, float32 grads"),
        "qas_gap_closed": (qas_f - noqas) / (f32 - noqas) if f32 > noqas else None,
        "headroom_1x_minus_float_points": 100 * (by["int8 + QAS, weight headroom 1x"]["mean"] - f32),
        "headroom_1x_minus_float_per_seed": paired(by, "int8 + QAS, weight headroom 1x", "float32 TF fine-tuning"),
        "qas_minus_float_then_int8_points": 100 * (qas_f - by["float32 TF fine-tuning -> int8"]["mean"]),
        "qas_minus_float_then_int8_per_seed": paired(by, "int8 + QAS, float32 grads", "float32 TF fine-tuning -> int8"),
        "float_then_int8_minus_float_per_seed": paired(by, "float32 TF fine-tuning -> int8", "float32 TF fine-tuning"),
        "auto_minus_last2_per_seed": paired(by, "scheme auto", "scheme last:2"),
        "auto_at_last3_minus_last3_per_seed": paired(by, "scheme auto@last:3", "scheme last:3"),
        # update_precision="int16" (a residual byte per trained weight) against float32 of the same set
        "sixteen_bit_minus_float_per_set": {
            tset: {"points": 100 * (by[q]["mean"] - by[f]["mean"]), "per_seed": paired(by, q, f)}
            for tset, (q, f) in SIXTEEN_BIT.items()},
    })
    return summary


def print_summary(summary: dict) -> None:
    if "qas_minus_float_points" in summary:
        print(f"\nint8+QAS - float32: {summary['qas_minus_float_points']:+.2f} points; int8 grads - float32 grads: "
              f"{summary['int8_grads_minus_float32_grads_points']:+.2f} points; QAS closes "
              + (f"{100 * summary['qas_gap_closed']:.0f}%" if summary["qas_gap_closed"] is not None else "n/a")
              + " of the no-QAS gap")
        for tset, a in summary["sixteen_bit_minus_float_per_set"].items():
            print(f"  16-bit updates - float32, {tset}: {a['points']:+.2f} points (per seed "
                  + " / ".join(f"{v:+.1f}" for v in a["per_seed"]) + ")")
    for tset, a in [(t + when, a) for key, when in (("qas_ablation_per_trainable_set", ", constant rate"),
                                                    ("qas_ablation_per_trainable_set_warmup", ", decay + warm-up"))
                    for t, a in summary[key].items()]:
        print(f"  {tset}: float32 {100 * a['float32']:.1f}, no QAS {100 * a['no_qas']:.1f}, QAS {100 * a['qas']:.1f}; "
              + (f"QAS closes {100 * a['qas_gap_closed']:.0f}% of the gap" if a["qas_gap_closed"] is not None
                 else "no gap (no QAS >= float32)"))


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The scheme rows of the latest protocol measured (decay + warm-up once it is in the table).
    by = {r["row"]: r for r in results}
    suffix = next((sfx for sfx, _ in reversed(SCHEME_PROTOCOLS) if f"scheme {FIXED}{sfx}" in by), "")
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in SCHEME_ROWS + LARGE_BUDGET_ROWS:
        r = by.get(f"scheme {s}{suffix}")
        if r is None or not r["training_arena_bytes"][0]:
            continue
        x = np.mean(r["training_arena_bytes"]) / 1024
        ax.errorbar(x, 100 * r["mean"], yerr=100 * r["std"], fmt="o", capsize=3)
        ax.annotate(s, (x, 100 * r["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ref = by.get(f"float32 TF fine-tuning{suffix}") or next((r for r in results if r["row"].startswith("float32")),
                                                            None)
    if ref is not None:
        ax.axhline(100 * ref["mean"], color="gray", ls=":", lw=1, label=f"float32 TF, {FIXED}")
        ax.legend(fontsize=8)
    ax.set_xlabel("TFLM-measured training arena (KB)")
    ax.set_ylabel("test accuracy, classes 5-9 (%)")
    ax.set_title(f"Fashion-MNIST transfer, batch 1, int8 + QAS on TFLM{suffix}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
