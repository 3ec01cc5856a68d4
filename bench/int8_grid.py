"""Can the int8 graph hold what float32 fine-tuning finds? Separates the int8 forward pass from int8 training.

For each seed and trainable set, float32 TensorFlow fine-tunes the example CNN (the accuracy table's
float row, at its tuned rate, decay + warm-up); its weights and biases are then written into the
*original* int8 graph: every activation keeps the scale and zero point the TF converter calibrated on the
pretraining task (what int8 training is stuck with), each weight channel is re-quantized with
max|w| / 127, each bias with s_x * s_w. If that int8 model is as accurate as float32, the int8 forward
pass can represent float's solution and any gap of int8 training comes from the training itself
(gradients through quantized activations, rounded updates). "fresh calibration" re-deploys the float model
through the TF converter with its own calibration, for comparison.

    python bench/int8_grid.py [--seeds 0,1,2] [--out bench/results/int8_grid.json]
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

sys.path.insert(0, os.path.dirname(__file__))
import accuracy_table as A  # noqa: E402

import tflm_train as tt  # noqa: E402
from tflm_train import quant as Q  # noqa: E402
from tflm_train import tflite_io as tio  # noqa: E402
from tflm_train.graph import parse_forward_ops  # noqa: E402

# (trainable set, the accuracy table's float32 row whose tuned rates the fine-tuning uses)
SETS = [("last:2", "float32 TF fine-tuning, lr decay + warm-up"),
        ("last:6", "float32 TF fine-tuning, last:6, lr decay + warm-up"),
        (f"last:{A.ALL_LAYERS}", "float32 TF fine-tuning, all layers, lr decay + warm-up")]
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _tflite_layout(kind: str, w: np.ndarray) -> tuple[np.ndarray, int]:
    """A Keras kernel in TFLite's layout, and the axis of its quantization channels."""
    if kind == "CONV_2D":  # [kh, kw, ic, oc] -> [oc, kh, kw, ic]
        return w.transpose(3, 0, 1, 2), 0
    if kind == "DEPTHWISE_CONV_2D":  # [kh, kw, c, 1] -> [1, kh, kw, c]
        return w.transpose(3, 0, 1, 2).reshape(1, w.shape[0], w.shape[1], -1), 3
    return w.T, 0  # Dense [in, out] -> [out, in]


def with_float_weights(int8_tflite: bytes, keras_model) -> bytes:
    """int8_tflite with keras_model's weights and biases, its activation quantization unchanged."""
    import tensorflow as tf

    m = tio.read_model(int8_tflite)
    ops = [op for op in parse_forward_ops(m) if op.kind in WEIGHTED]
    layers = [lyr for lyr in keras_model.layers
              if isinstance(lyr, (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, tf.keras.layers.Dense))]
    if len(ops) != len(layers):
        raise ValueError(f"{len(ops)} weighted ops in the int8 graph, {len(layers)} weighted Keras layers")
    tensors = m.subgraphs[0].tensors
    for op, lyr in zip(ops, layers):
        w, axis = _tflite_layout(op.kind, lyr.kernel.numpy().astype(np.float64))
        tio.unshare_buffers(m, [op.weight] + ([op.bias] if op.bias >= 0 else []))
        wt = tensors[op.weight]
        others = tuple(i for i in range(w.ndim) if i != axis)
        s = np.maximum(np.abs(w).max(axis=others), 1e-12) / 127.0
        if len(wt.quantization.scale) == 1:
            s = s.max(keepdims=True)
        s = s.astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        tio.set_buffer(m, wt, np.clip(Q.round_half_away(w / s.astype(np.float64).reshape(shape)), -127, 127)
                       .astype(np.int8))
        wt.quantization.scale = [float(v) for v in s]
        if op.bias >= 0 and lyr.use_bias:
            bt = tensors[op.bias]
            sb = np.float32(np.asarray(tensors[op.x].quantization.scale).ravel()[0]) * s
            b = lyr.bias.numpy().astype(np.float64)
            tio.set_buffer(m, bt, np.clip(Q.round_half_away(b / sb.astype(np.float64)), -2**31, 2**31 - 1)
                           .astype(np.int32))
            bt.quantization.scale = [float(v) for v in sb]
    return tio.write_model(m)


def int8_accuracy(tflite: bytes, xs, ys) -> float:
    tm = tt.convert_tflite(tflite, scheme="classifier", weight_headroom=1.0, logit_headroom=1.0, progress=False)
    return tt.Trainer(tm, backend="tflm", fast_forward=True).evaluate(xs, ys)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--table", default=os.path.join(os.path.dirname(__file__), "results", "accuracy_table.json"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "int8_grid.json"))
    args = ap.parse_args(argv)
    with open(args.table) as f:
        table = json.load(f)
    rates = {r["row"]: r["learning_rate"] for r in table["rows"]}
    t0 = time.time()
    rows = []
    for s in (int(v) for v in args.seeds.split(",")):
        i = table["seeds"].index(s)
        task = A.Task(s, table["per_class"], table["epochs"], table["test_samples"])
        for tset, float_row in SETS:
            m = A.float_finetune(task.keras, tset, task.xs, task.ys, task.order, rates[float_row][i], True, A.WARMUP)
            with contextlib.redirect_stdout(io.StringIO()):
                fresh = tt.keras_to_int8_tflite(m, task.calib)
            r = {"seed": s, "trainable_set": tset, "float32": A.float_accuracy(m, task.xt, task.yt),
                 "int8_original_grid": int8_accuracy(with_float_weights(task.int8, m), task.xt, task.yt),
                 "int8_fresh_calibration": int8_accuracy(fresh, task.xt, task.yt)}
            rows.append(r)
            print(f"[{time.time() - t0:5.0f}s] seed {s}, {tset}: float32 {100 * r['float32']:.1f} %, in the original "
                  f"int8 grid {100 * r['int8_original_grid']:.1f} %, freshly calibrated int8 "
                  f"{100 * r['int8_fresh_calibration']:.1f} %", flush=True)
    summary = {}
    for tset, _ in SETS:
        rs = [r for r in rows if r["trainable_set"] == tset]
        summary[tset] = {k: float(np.mean([100 * (r[k] - r["float32"]) for r in rs]))
                         for k in ("int8_original_grid", "int8_fresh_calibration")}
        print(f"{tset}: int8 (original grid) - float32 {summary[tset]['int8_original_grid']:+.2f} points, "
              f"fresh calibration {summary[tset]['int8_fresh_calibration']:+.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "rows": rows, "points_vs_float32": summary,
                   "seconds": round(time.time() - t0)}, f, indent=1)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
