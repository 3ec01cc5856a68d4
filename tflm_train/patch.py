"""Patch-based execution of the first stage (MCUNetV2) as a rewrite into stock TFLite ops.

TFLM keeps every feature map whole, so the high-resolution first stage sets the
inference peak. The rewrite computes the stage output tile by tile: each tile
slices the receptive field it needs from the stage input (STRIDED_SLICE), pads it
where the tile meets the border (PAD with the zero point: the same values SAME
padding reads), runs the stage's convs with VALID padding, and CONCATENATION
ops assemble the tiles. Every output element is computed by the same integer
math as before, so the rewritten graph is bit-exact with the original; tiles
recompute their overlapping halos, which trades MACs for SRAM.

The stage is the first `stage_ops` operators of the graph, all CONV_2D,
DEPTHWISE_CONV_2D, ADD or PAD, reading the model input and handing exactly one
tensor (the cut) to the rest of the graph. The rest is left untouched.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from . import tflite_io as io
from .errors import InputError
from .graph import ForwardOp, parse_forward_ops

B = io.BuiltinOperator
PATCHABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD")
GRIDS = ((2, 2), (3, 3), (4, 4))

Region = tuple[int, int, int, int]  # y0, y1, x0, x1, half-open


@dataclass(frozen=True)
class PatchPlan:
    """Run operators [0, stage_ops) tile by tile, on a grid of rows x cols tiles of the cut tensor."""

    stage_ops: int
    grid: tuple[int, int] = (2, 2)

    def text(self) -> str:
        return f"patch:ops={self.stage_ops};grid={self.grid[0]}x{self.grid[1]}"


@dataclass(frozen=True)
class Rewrite:
    """Where things moved: old operator / tensor index -> new (stage-internal ones are gone)."""

    op_map: dict[int, int]
    tensor_map: dict[int, int]


def cut_points(model) -> list[int]:
    """Every stage_ops value for which the first stage_ops operators form a patchable stage."""
    sg = model.subgraphs[0]
    src = int(sg.inputs[0])
    fops = _leading_fops(model)
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(sg.operators):
        for t in op.inputs:
            consumers.setdefault(int(t), []).append(i)
    outputs = {int(t) for t in sg.outputs}
    out, produced = [], set()
    for n, f in enumerate(fops, start=1):
        produced.add(f.y)
        crossing = [t for t in produced if t in outputs or any(c >= n for c in consumers.get(t, []))]
        if len(crossing) == 1 and len(_shape(model, crossing[0])) == 4 and src in _stage_inputs(fops[:n]):
            out.append(n)
    return out


def rewrite(model, plan: PatchPlan) -> Rewrite:
    """Rewrites `model` in place (see the module doc); raises InputError if the plan does not fit the graph."""
    sg = model.subgraphs[0]
    cuts = cut_points(model)
    if plan.stage_ops not in cuts:
        raise InputError(f"patch plan {plan.text()}: operators 0..{plan.stage_ops - 1} are not a patchable first "
                         f"stage (CONV_2D/DEPTHWISE_CONV_2D/ADD/PAD from the model input to one output tensor); "
                         f"valid stage_ops: {cuts or 'none'}")
    stage = _leading_fops(model)[: plan.stage_ops]
    cut = _crossing(model, plan.stage_ops)[0]
    _, hc, wc, _ = _shape(model, cut)
    gh, gw = plan.grid
    if gh < 1 or gw < 1 or gh * gw < 2 or gh > hc or gw > wc:
        raise InputError(f"patch plan {plan.text()}: the grid must have 2 or more tiles and at most "
                         f"{hc}x{wc} (the cut tensor's size)")
    emitter = _Emitter(model)
    rows_y, cols_x = _edges(hc, gh), _edges(wc, gw)
    row_tensors = []
    for i in range(gh):
        tiles = []
        for j in range(gw):
            region = (rows_y[i], rows_y[i + 1], cols_x[j], cols_x[j + 1])
            tiles.append(emitter.tile(stage, cut, region, f"patch{i}_{j}"))
        if gw == 1:
            row_tensors.append(tiles[0])
        else:
            out = cut if gh == 1 else emitter.like(cut, (rows_y[i], rows_y[i + 1], 0, wc), f"patch_row{i}")
            emitter.concat(tiles, out, axis=2)
            row_tensors.append(out)
    if gh > 1:
        emitter.concat(row_tensors, cut, axis=1)
    rest = sg.operators[plan.stage_ops:]
    sg.operators = emitter.ops + rest
    delta = len(emitter.ops) - plan.stage_ops
    op_map = {i: i + delta for i in range(plan.stage_ops, plan.stage_ops + len(rest))}
    return Rewrite(op_map, io.drop_unused_tensors(sg))


def choose(model, grids=GRIDS) -> tuple[PatchPlan | None, dict[PatchPlan, int]]:
    """The plan with the smallest analytic inference arena (None if no plan beats the unpatched graph)."""
    from .model import inference_memory  # model.py imports this module's users; keep the import local

    def arena(m) -> int:
        s = m.subgraphs[0]
        return inference_memory(m, list(range(len(s.operators))), int(s.inputs[0]), int(s.outputs[0]))[
            "inference_peak_bytes"]

    base = arena(model)
    scores: dict[PatchPlan, int] = {}
    for n in cut_points(model):
        _, hc, wc, _ = _shape(model, _crossing(model, n)[0])
        for grid in grids:
            if grid[0] > hc or grid[1] > wc:
                continue
            plan = PatchPlan(n, grid)
            memo = {id(b): b for b in model.buffers}
            trial = copy.deepcopy(model, memo)
            try:
                rewrite(trial, plan)
            except InputError:  # a tile that would hold only padding
                continue
            scores[plan] = arena(trial)
    best = min(scores, key=lambda p: (scores[p], p.grid[0] * p.grid[1], p.stage_ops), default=None)
    if best is None or scores[best] >= base:
        return None, scores
    return best, scores


# ---------------------------------------------------------------------------- internals
def _shape(model, ti: int) -> tuple[int, ...]:
    return io.shape(model.subgraphs[0].tensors[ti])


def _leading_fops(model) -> list[ForwardOp]:
    """The longest run of patchable operators at the start of the graph, typed."""
    sg = model.subgraphs[0]
    n = 0
    for op in sg.operators:
        if io.op_name(model, op) not in PATCHABLE:
            break
        n += 1
    return parse_forward_ops(model, n) if n else []


def _stage_inputs(fops: list[ForwardOp]) -> set[int]:
    produced = {f.y for f in fops}
    return {t for f in fops for t in _activations(f) if t not in produced}


def _activations(f: ForwardOp) -> list[int]:
    return list(f.inputs[:2]) if f.kind == "ADD" else [f.x]


def _crossing(model, n: int) -> list[int]:
    sg = model.subgraphs[0]
    produced = {int(t) for op in sg.operators[:n] for t in op.outputs}
    later = {int(t) for op in sg.operators[n:] for t in op.inputs} | {int(t) for t in sg.outputs}
    return sorted(produced & later)


def _edges(size: int, parts: int) -> list[int]:
    return [size * k // parts for k in range(parts + 1)]


def _union(a: Region | None, b: Region) -> Region:
    if a is None:
        return b
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _clip(r: Region, h: int, w: int) -> Region:
    return (max(r[0], 0), min(r[1], h), max(r[2], 0), min(r[3], w))


class _Emitter:
    """Appends the tiles' operators and tensors to the model."""

    def __init__(self, model):
        self.m = model
        self.t = model.subgraphs[0].tensors
        self.ops: list = []
        self.consts: dict[tuple, int] = {}
        self.src = int(model.subgraphs[0].inputs[0])

    def like(self, ti: int, r: Region, tag: str) -> int:
        """A new activation tensor holding region r of tensor ti (same type and quantization)."""
        t = self.t[ti]
        new = copy.deepcopy(t)
        new.name = f"{io.tensor_name(t)}/{tag}".encode()
        new.shape = np.asarray([1, r[1] - r[0], r[3] - r[2], io.shape(t)[3]], np.int32)
        new.buffer = 0
        self.t.append(new)
        return len(self.t) - 1

    def const_i32(self, values, shape_: tuple[int, ...], name: str) -> int:
        data = np.asarray(values, np.int32).reshape(shape_)
        key = (shape_, data.tobytes())
        if key not in self.consts:
            self.consts[key] = io.add_tensor(self.m, name, shape_, io.TensorType.INT32, data.tobytes())
        return self.consts[key]

    def builtin(self, code: int, version: int, inputs: list[int], outputs: list[int], opt_type: int, opts) -> None:
        op = io.make_builtin_op(self.m, code, version, inputs, outputs, opt_type, opts)
        self.ops.append(op)

    def concat(self, parts: list[int], out: int, axis: int) -> None:
        o = io.tfl.ConcatenationOptionsT()
        o.axis, o.fusedActivationFunction = axis, 0
        self.builtin(B.CONCATENATION, 2, parts, [out], io.tfl.BuiltinOptions.ConcatenationOptions, o)

    def take(self, src: int, have: Region, need: Region, full_hw: tuple[int, int], tag: str) -> int:
        """Tensor src holds region `have` of a full_hw map; returns a tensor holding exactly `need`
        (which may reach past the border: those rows and columns are padded with the zero point)."""
        inside = _clip(need, *full_hw)
        if inside[0] >= inside[1] or inside[2] >= inside[3]:
            raise InputError(f"patch tile {tag} would read only padding; use a coarser grid")
        ti = src
        if inside != have:
            c = io.shape(self.t[src])[3]
            begin = [0, inside[0] - have[0], inside[2] - have[2], 0]
            end = [1, inside[1] - have[0], inside[3] - have[2], c]
            ti = self.like(src, inside, tag + "/slice")
            self.builtin(B.STRIDED_SLICE, 2,
                         [src, self.const_i32(begin, (4,), "tflm_train/patch/begin"),
                          self.const_i32(end, (4,), "tflm_train/patch/end"),
                          self.const_i32([1, 1, 1, 1], (4,), "tflm_train/patch/strides")],
                         [ti], io.tfl.BuiltinOptions.StridedSliceOptions, io.tfl.StridedSliceOptionsT())
        pads = [inside[0] - need[0], need[1] - inside[1], inside[2] - need[2], need[3] - inside[3]]
        if any(pads):
            out = self.like(src, need, tag + "/pad")
            paddings = [0, 0, pads[0], pads[1], pads[2], pads[3], 0, 0]
            self.builtin(B.PAD, 2, [ti, self.const_i32(paddings, (4, 2), "tflm_train/patch/paddings")], [out],
                         io.tfl.BuiltinOptions.PadOptions, io.tfl.PadOptionsT())
            ti = out
        return ti

    def tile(self, stage: list[ForwardOp], cut: int, region: Region, tag: str) -> int:
        """Emits one tile's operators; returns the tensor that holds `region` of the cut."""
        need: dict[int, Region] = {cut: region}
        for f in reversed(stage):
            if f.y not in need:
                continue
            for ti, r in zip(_activations(f), _input_needs(self.m, f, need[f.y])):
                need[ti] = _union(need.get(ti), _clip(r, *_shape(self.m, ti)[1:3]))
        _, h, w, _ = _shape(self.m, self.src)
        held: dict[int, tuple[int, Region]] = {self.src: (self.src, (0, h, 0, w))}  # tensor -> (holder, region)
        for f in stage:
            if f.y not in need:
                continue
            ins = [self.take(*held[ti], r, _shape(self.m, ti)[1:3], f"{tag}/op{f.index}")
                   for ti, r in zip(_activations(f), _input_needs(self.m, f, need[f.y]))]
            if f.kind == "PAD":
                held[f.y] = (ins[0], need[f.y])
                continue
            out = self.like(f.y, need[f.y], tag)
            op = copy.deepcopy(self.m.subgraphs[0].operators[f.index])
            op.inputs = np.asarray(ins + [int(t) for t in op.inputs[len(ins):]], np.int32)
            op.outputs = np.asarray([out], np.int32)
            if f.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                op.builtinOptions.padding = io.tfl.Padding.VALID
            self.ops.append(op)
            held[f.y] = (out, need[f.y])
        return held[cut][0]


def _input_needs(model, f: ForwardOp, r: Region) -> list[Region]:
    """The region of each activation input that output region r of op f reads (unclipped: may cross the border)."""
    if f.kind == "ADD":
        return [r, r]
    if f.kind == "PAD":
        top, left = int(f.paddings[1, 0]), int(f.paddings[2, 0])
        return [(r[0] - top, r[1] - top, r[2] - left, r[3] - left)]
    w = _shape(model, f.weight)
    g = f.geometry
    eh, ew = (w[1] - 1) * g.dilation_h + 1, (w[2] - 1) * g.dilation_w + 1
    return [(r[0] * g.stride_h - g.pad_top, (r[1] - 1) * g.stride_h - g.pad_top + eh,
             r[2] * g.stride_w - g.pad_left, (r[3] - 1) * g.stride_w - g.pad_left + ew)]
