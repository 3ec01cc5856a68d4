"""Analytic memory model of a TFLM arena: fast enough for the scheme search, checked against TFLM.

A TFLM arena is a non-persistent head, planned over tensor lifetimes, plus a
persistent tail. The head is modelled exactly as TFLM's GreedyMemoryPlanner
computes it: every non-constant tensor and every kernel scratch buffer, 16-byte
aligned, placed largest first (ties: the later-added buffer first) at the lowest
offset that overlaps no buffer live at the same time. The tail is a sum of
per-tensor, per-op and per-channel costs (PERSISTENT below), plus the trainable
copies our update ops make.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import schema as S
from . import tflite_io as io

ALIGN = 16


@dataclass(frozen=True)
class PersistentCosts:
    """Bytes TFLM's allocator spends in the tail, for the pinned (64-bit) wheel.

    The struct sizes (eval tensor, node) and the per-channel arrays are exact;
    the per-op kernel data and the fixed part are means measured on the pinned
    wheel (the paper's three backbones and the test nets), for builtin ops and for ours. tests/test_memory_model.py re-measures all of them.
    """

    eval_tensor: int = 24          # TfLiteEvalTensor per tensor
    node: int = 64                 # NodeAndRegistration per operator
    io_tensor: int = 80            # persistent TfLiteTensor + quantization per graph input/output
    per_channel: int = 8           # conv/depthwise output multiplier + shift per output channel
    builtin_op_data: int = 104     # mean OpData + parsed builtin options of a builtin forward op
    training_op_data: int = 64     # mean OpData of a TFLMT_* op
    fixed: int = 536               # allocator and subgraph bookkeeping


PERSISTENT = PersistentCosts()


@dataclass(frozen=True)
class Buffer:
    id: int      # TFLM's order of adding buffers: tensors by index, then scratch buffers
    size: int
    first: int
    last: int


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _elements(t) -> int:
    return int(np.prod(io.shape(t)))


def lifetimes(model, op_indices: list[int], inputs: list[int], outputs: list[int],
              scratch: dict[int, int] | None = None, frozen: frozenset[int] = frozenset()) -> list[Buffer]:
    """Buffers of every non-constant tensor used by the given ops (by position in op_indices), then scratch.

    scratch: operator index -> scratch bytes that operator's kernel requests.
    frozen: tensors to count as constants (the inference model reads frozen weights where the training
    graph reads a channel-sparse layer's merged ones).
    """
    sg = model.subgraphs[0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t in inputs:
        first[t] = 0
    for pos, oi in enumerate(op_indices):
        op = sg.operators[oi]
        for t in list(op.inputs) + list(op.outputs):
            t = int(t)
            if t < 0 or t in frozen or io.is_constant(model, sg.tensors[t]):
                continue
            first.setdefault(t, pos)
            last[t] = pos
    end = max(len(op_indices) - 1, 0)
    for t in outputs:
        last[t] = end
    out = []
    for t in sorted(first):
        tt = sg.tensors[t]
        out.append(Buffer(t, _elements(tt) * io.numpy_dtype(tt.type).itemsize, first[t], last.get(t, first[t])))
    extra = len(sg.tensors)
    for pos, oi in enumerate(op_indices):
        size = (scratch or {}).get(oi, 0)
        if size > 0:
            out.append(Buffer(extra, size, pos, pos))
            extra += 1
    return out


def greedy_plan(buffers: list[Buffer]) -> tuple[dict[int, int], int]:
    """Offsets (by buffer id) and head size as TFLM's GreedyMemoryPlanner places these buffers."""
    placed: list[tuple[int, int, Buffer]] = []  # (offset, size, buffer)
    offsets: dict[int, int] = {}
    peak = 0
    for b in sorted(buffers, key=lambda b: (-_aligned(b.size), -b.id)):
        size = _aligned(b.size)
        live = sorted((o, s) for o, s, p in placed if not (p.last < b.first or b.last < p.first))
        offset = 0
        for o, s in live:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed.append((offset, size, b))
        offsets[b.id] = offset
        peak = max(peak, offset + size)
    return offsets, peak


def greedy_peak(buffers: list[Buffer]) -> int:
    """The head size TFLM's GreedyMemoryPlanner plans for these buffers."""
    return greedy_plan(buffers)[1]


# ------------------------------------------------------------------ kernel scratch
CONV_OUT_BLOCK = 4  # output channels per block in the optimised conv weight kernel (kernels/core)


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def _is_pointwise(model, op, g_shape, dx_shape) -> bool:
    """tflmt_is_pointwise of a conv gradient op: a 1x1 window, stride 1, no padding, same H x W."""
    opts = S.decode_options(io.op_name(model, op), np.asarray(op.customOptions, np.uint8).tobytes(),
                            "scratch of a conv input gradient")
    w = io.shape(model.subgraphs[0].tensors[int(op.inputs[-1])])
    geo = opts.geometry
    return (w[1] == 1 and w[2] == 1 and geo.strideH == 1 and geo.strideW == 1 and geo.padTop == 0
            and geo.padLeft == 0 and tuple(g_shape[1:3]) == tuple(dx_shape[1:3]))


def scratch_bytes(model, op) -> int:
    """Scratch a TFLMT_* kernel requests in Prepare (mirrors the *_scratch_size functions of kernels/core)."""
    name = io.op_name(model, op)
    t = model.subgraphs[0].tensors
    ins = [int(i) for i in op.inputs]
    int8 = len(ins) > 1 and t[ins[1]].type == io.TensorType.INT8
    width = 2 if int8 else 1  # an int8 gradient is (data, scale)
    if name in ("TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_DW_WEIGHT_UPDATE"):
        w, x = io.shape(t[ins[2 + width]]), io.shape(t[ins[1 + width]])
        kh, kw, cin = w[1], w[2], x[-1]  # x's channels: all, or the gathered trained ones
        blocks = CONV_OUT_BLOCK if name == "TFLMT_CONV_WEIGHT_UPDATE" else 1
        return blocks * kh * kw * cin * 4
    if not int8:
        return 0
    if name in ("TFLMT_CONV_INPUT_GRAD", "TFLMT_DW_INPUT_GRAD", "TFLMT_FC_INPUT_GRAD"):
        g, dx = t[ins[1]], t[int(op.outputs[0])]
        if name == "TFLMT_DW_INPUT_GRAD":  # per-channel scales, int32 accumulators
            return io.shape(dx)[-1] * 4 + _elements(dx) * 4
        # requantised gradient copy, int32 accumulators and, for a 1x1 conv, one input-channel
        # pair's SMLAD-ready weights (4 bytes per output channel of the whole quads)
        extended = 0
        if name == "TFLMT_CONV_INPUT_GRAD" and _is_pointwise(model, op, io.shape(g), io.shape(dx)):
            extended = (io.shape(g)[-1] & ~3) * 4
        return _align4(_elements(g)) + _elements(dx) * 4 + extended
    if name in ("TFLMT_AVG_POOL_GRAD", "TFLMT_MAX_POOL_GRAD"):
        return _elements(t[int(op.outputs[0])]) * 4
    return 0


# ------------------------------------------------------------------ persistent tail
def _per_channel_outputs(model, op) -> int:
    name = io.op_name(model, op)
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    return io.shape(model.subgraphs[0].tensors[int(op.outputs[0])])[-1]


def persistent_bytes(model, op_indices: list[int], n_tensors: int, n_io: int, trainable: int,
                     costs: PersistentCosts = PERSISTENT) -> int:
    """The tail of an interpreter running op_indices over n_tensors tensors with n_io graph inputs + outputs."""
    sg = model.subgraphs[0]
    total = costs.fixed + costs.eval_tensor * n_tensors + costs.io_tensor * n_io + trainable
    for oi in op_indices:
        op = sg.operators[oi]
        total += costs.node + costs.per_channel * _per_channel_outputs(model, op)
        ours = io.op_name(model, op).startswith("TFLMT_")
        total += costs.training_op_data if ours else costs.builtin_op_data
    return total
