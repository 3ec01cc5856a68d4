"""The integer parameters of a forward int8 op, as kernels/core's forward kernels take them.

One derivation, used by the C generator (codegen.py) and by the host's optimised-forward
plan (runtime/fast_forward.py), so both feed the kernels exactly what TFLM computes in its
Prepare: per-channel multipliers and shifts from the scales, and the clamp range of the
fused activation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import quant as Q
from . import tflite_io as io
from .reference import forward as F


@dataclass(frozen=True)
class Requant:
    """tflmt_requant (include/tflmt/forward.h)."""

    in_zero_point: int
    out_zero_point: int
    act_min: int
    act_max: int
    multiplier: np.ndarray  # int32, one per output channel (or one)
    shift: np.ndarray  # int32


def requant(tensors, op) -> Requant:
    """The requantization of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op."""
    qx, qw, qy = io.qparams(tensors[op.x]), io.qparams(tensors[op.weight]), io.qparams(tensors[op.y])
    mult, shift = F.conv_multipliers(qx.per_tensor_scale, qw.scale, qy.per_tensor_scale)
    lo, hi = Q.activation_range(op.activation, qy.per_tensor_scale, qy.per_tensor_zero_point)
    return Requant(qx.per_tensor_zero_point, qy.per_tensor_zero_point, int(lo), int(hi),
                   mult.astype(np.int32), shift.astype(np.int32))
