"""Weight headroom: room for trained int8 weights to grow past their pretrained range.

The TF converter quantizes each weight channel with scale max|w| / 127, so a weight can never
move past the largest pretrained value: int8 training saturates there. Fine-tuning to a new task
wants more (on the Fashion-MNIST example, float fine-tuning pushes 4-9 % of the last two layers'
weights past that range, up to 2.3x). `add_headroom` re-quantizes the weights of the layers a
scheme weight-trains with `factor` times their scale (and their int32 bias with the matching
s_x * s_W), trading low bits for range. The builtin op computes its multipliers from the new
scales, so the forward pass stays the same function up to that rounding; QAS follows the new
scales because autodiff runs afterwards.
"""
from __future__ import annotations

import numpy as np

from . import quant as Q
from . import tflite_io as io
from .errors import InputError
from .graph import ForwardOp


def check_factor(factor) -> float:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not np.isfinite(factor) or factor < 1:
        raise InputError(f"weight_headroom must be a number >= 1, got {factor!r}")
    return float(factor)


def add_headroom(model, fops: list[ForwardOp], layers, factor: float) -> None:
    """Re-quantizes, in place, the weights (and biases) of the forward ops `layers` with `factor` x scale."""
    if factor == 1.0:
        return
    ops = {op.index: op for op in fops}
    tensors = model.subgraphs[0].tensors
    for li in sorted(layers):
        op = ops[li]
        params = [op.weight] + ([op.bias] if op.bias >= 0 else [])
        io.unshare_buffers(model, params)  # a shared constant must not change for its other readers
        wt = tensors[op.weight]
        w = io.buffer_array(model, wt).astype(np.float64)
        io.set_buffer(model, wt, np.clip(Q.round_half_away(w / factor), -127, 127).astype(np.int8))
        wt.quantization.scale = [float(np.float32(s * factor)) for s in wt.quantization.scale]
        if op.bias >= 0:
            bt = tensors[op.bias]
            b = io.buffer_array(model, bt).astype(np.float64)
            io.set_buffer(model, bt, np.clip(Q.round_half_away(b / factor), -2**31, 2**31 - 1).astype(np.int32))
            if bt.quantization is not None and bt.quantization.scale is not None:
                bt.quantization.scale = [float(np.float32(s * factor)) for s in bt.quantization.scale]
