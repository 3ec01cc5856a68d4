"""Analytic memory model: tensor lifetimes over the op schedule and a greedy planner.

The planner follows TFLM's GreedyMemoryPlanner (largest buffer first, lowest
offset that overlaps no live buffer), so its peak approximates the arena TFLM
plans for the same schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tflite_io as io

ALIGN = 16


@dataclass(frozen=True)
class Buffer:
    tensor: int
    size: int
    first: int
    last: int


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def lifetimes(model, op_indices: list[int], inputs: list[int], outputs: list[int]) -> list[Buffer]:
    """Buffers of every non-constant tensor used by the given ops, with [first, last] op positions."""
    sg = model.subgraphs[0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t in inputs:
        first[t] = 0
    for pos, oi in enumerate(op_indices):
        op = sg.operators[oi]
        for t in list(op.inputs) + list(op.outputs):
            t = int(t)
            if t < 0 or io.is_constant(model, sg.tensors[t]):
                continue
            first.setdefault(t, pos)
            last[t] = pos
    end = max(len(op_indices) - 1, 0)
    for t in outputs:
        last[t] = end
    out = []
    for t, f in first.items():
        tt = sg.tensors[t]
        size = int(np.prod(io.shape(tt))) * io.numpy_dtype(tt.type).itemsize
        out.append(Buffer(t, size, f, last.get(t, f)))
    return out


def greedy_peak(buffers: list[Buffer]) -> int:
    placed: list[tuple[int, int, Buffer]] = []  # (offset, size, buffer)
    peak = 0
    for b in sorted(buffers, key=lambda b: (-b.size, b.first, b.tensor)):
        size = _aligned(b.size)
        live = sorted((o, s) for o, s, p in placed if not (p.last < b.first or b.last < p.first))
        offset = 0
        for o, s in live:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed.append((offset, size, b))
        peak = max(peak, offset + size)
    return peak
