"""Worst-case int32 accumulators of the int8-gradient kernels, checked at conversion.

With int8 gradients the kernels sum integer products in int32 (kernels/core). Their
magnitudes are bounded by |g| <= 128, |w| <= 127 (weights saturate there) and
|x - zero_point| <= 255, times the number of terms each sum can have for this layer
shape. A training graph whose bound exceeds int32 is refused at conversion, naming the op,
instead of wrapping silently on the device. Float32 gradients accumulate in float: no bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import tflite_io as io
from .errors import UnsupportedModelError

INT32_MAX = 2**31 - 1
G_MAX, W_MAX, X_MAX = 128, 127, 255


@dataclass(frozen=True)
class Bound:
    op: int
    name: str
    terms: int      # products summed into one accumulator, worst case
    bound: int      # worst-case |accumulator|


def accumulator_bounds(model) -> list[Bound]:
    """One Bound per int8-gradient TFLMT op with an int32 accumulator."""
    sg = model.subgraphs[0]
    t = sg.tensors
    out = []
    for i, op in enumerate(sg.operators):
        name = io.op_name(model, op)
        ins = [int(v) for v in op.inputs]
        if not name.startswith("TFLMT_") or len(ins) < 2 or t[ins[1]].type != io.TensorType.INT8:
            continue  # float32 gradients (or no gradient input): float accumulators
        g = io.shape(t[ins[1]])
        if name.endswith("_WEIGHT_UPDATE") or name == "TFLMT_BIAS_UPDATE":
            pixels = 1
            for d in g[:-1]:
                pixels *= d
            per = G_MAX * (X_MAX if name.endswith("_WEIGHT_UPDATE") else 1)
            out.append(Bound(i, name, pixels, per * pixels))
        elif name.endswith("_INPUT_GRAD"):
            w = io.shape(t[ins[3]])  # label, g, g_scale, weights
            if name == "TFLMT_CONV_INPUT_GRAD":
                terms = w[0] * w[1] * w[2]
            elif name == "TFLMT_DW_INPUT_GRAD":
                terms = w[1] * w[2]
            else:
                terms = w[0]
            out.append(Bound(i, name, terms, G_MAX * W_MAX * terms))
    return out


def check_accumulators(model) -> None:
    for b in accumulator_bounds(model):
        if b.bound > INT32_MAX:
            raise UnsupportedModelError(
                f"operator {b.op} ({b.name}): with int8 gradients one int32 accumulator sums {b.terms} products "
                f"(worst case {b.bound} > {INT32_MAX}); use grad_dtype='float32' for this model")
