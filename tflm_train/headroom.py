"""Headroom: room for trained int8 weights, and for the logits, to grow past their pretrained range.

The TF converter quantizes each weight channel with scale max|w| / 127, so a weight can never
move past the largest pretrained value: int8 training saturates there. Fine-tuning to a new task
wants more (on the Fashion-MNIST example, float fine-tuning pushes 4-9 % of the last two layers'
weights past that range, up to 2.3x). `add_headroom` re-quantizes the weights of the layers a
scheme weight-trains with `factor` times their scale (and their int32 bias with the matching
s_x * s_W), trading low bits for range. The builtin op computes its multipliers from the new
scales, so the forward pass stays the same function up to that rounding; QAS follows the new
scales because autodiff runs afterwards.

The logits have the same problem one step later: the TF converter calibrates their int8 range on
the pretraining task, and fine-tuning at float's learning rates pushes them past it (on the
example's seed 2 at learning rate 0.1, 83 % of the held-out logits sat at the int8 limits and
accuracy fell to 36 %, where float fine-tuning reached 69 %). `widen_quantization` widens the
logits' scale by a factor (zero point divided by it) along `logits_chain`, back to the op that
requantizes into them (converter.with_logit_headroom applies both); that op's multiplier follows
the new scale, so the deployed model is the same function with coarser logits.
"""
from __future__ import annotations

import numpy as np

from . import quant as Q
from . import tflite_io as io
from .errors import InputError
from .graph import ForwardOp


def check_factor(factor, name: str = "weight_headroom") -> float:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not np.isfinite(factor) or factor < 1:
        raise InputError(f"{name} must be a number >= 1, got {factor!r}")
    return float(factor)


# Ops whose output scale is their own (the multiplier is computed from it); RESHAPE copies bytes.
_REQUANTIZING = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD")


def logits_chain(fops: list[ForwardOp], logits: int) -> list[int]:
    """The logits tensor and, through RESHAPEs read by nothing else, the tensors back to the op that
    requantizes into them; [] when there is no such op (then the logits keep their range)."""
    producer = {op.y: op for op in fops}
    readers: dict[int, int] = {}
    for op in fops:
        for ti in op.inputs:
            readers[ti] = readers.get(ti, 0) + 1
    chain, t = [logits], logits
    while True:
        op = producer.get(t)
        if op is None:
            return []
        if op.kind in _REQUANTIZING:
            return chain
        if op.kind != "RESHAPE" or readers.get(op.x, 0) != 1:
            return []
        t = op.x
        chain.append(t)


def widen_quantization(model, tensors: list[int], factor: float) -> None:
    """scale x factor, zero point / factor (rounded), in place, for each per-tensor int8 tensor."""
    for ti in tensors:
        q = model.subgraphs[0].tensors[ti].quantization
        z = int(np.asarray(q.zeroPoint).ravel()[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0
        q.scale = np.array([np.float32(float(np.asarray(q.scale).ravel()[0]) * factor)], np.float32)
        q.zeroPoint = np.array([int(np.clip(Q.round_half_away(np.float64(z) / factor), -128, 127))], np.int64)


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
