"""Runs the forward operators of a model with the numpy reference kernels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import quant as Q
from .. import tflite_io as io
from ..graph import ForwardOp
from . import forward as F


@dataclass
class _Prepared:
    """What TFLM computes once in Prepare: multipliers and clamp bounds."""

    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    act_min: int = -128
    act_max: int = 127


class ForwardRunner:
    """Executes ForwardOps on numpy arrays; `params` overrides constant tensors (trained state)."""

    def __init__(self, model, ops: list[ForwardOp], params: dict[int, np.ndarray]):
        self.model = model
        self.ops = ops
        self.params = params
        self.tensors = model.subgraphs[0].tensors
        self._consts: dict[int, np.ndarray | None] = {}
        self._prep = [self._prepare(op) for op in ops]

    def const(self, ti: int) -> np.ndarray | None:
        if ti < 0:
            return None
        if ti in self.params:
            return self.params[ti]
        if ti not in self._consts:
            self._consts[ti] = io.buffer_array(self.model, self.tensors[ti])
        return self._consts[ti]

    def q(self, ti: int) -> io.QParams:
        return io.qparams(self.tensors[ti])

    def _prepare(self, op: ForwardOp) -> _Prepared:
        p = _Prepared()
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            qx, qw, qy = self.q(op.x), self.q(op.weight), self.q(op.y)
            p.mult, p.shift = F.conv_multipliers(qx.per_tensor_scale, qw.scale, qy.per_tensor_scale)
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
            qy = self.q(op.y)
            p.act_min, p.act_max = Q.activation_range(op.activation, qy.per_tensor_scale, qy.per_tensor_zero_point)
        return p

    def run(self, feeds: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        vals = dict(feeds)
        for op, prep in zip(self.ops, self._prep):
            vals[op.y] = self.run_op(op, prep, vals)
        return vals

    def run_op(self, op: ForwardOp, p: _Prepared, vals: dict[int, np.ndarray]) -> np.ndarray:
        k = op.kind
        yshape = io.shape(self.tensors[op.y])
        if k in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            qx, qy = self.q(op.x), self.q(op.y)
            # The weights of a channel-sparse layer are a merged tensor (TFLMT_CHANNEL_MERGE) in vals.
            x, w, b = vals[op.x], vals.get(op.weight, self.const(op.weight)), self.const(op.bias)
            if k == "CONV_2D":
                acc = F.conv2d_acc(x, qx.per_tensor_zero_point, w, b, op.geometry, yshape[1], yshape[2])
            elif k == "DEPTHWISE_CONV_2D":
                acc = F.depthwise_acc(x, qx.per_tensor_zero_point, w, b, op.geometry, yshape[1], yshape[2])
            else:
                acc = F.fully_connected_acc(x, qx.per_tensor_zero_point, w, b)
            return F.requantize(acc, p.mult, p.shift, qy.per_tensor_zero_point, p.act_min, p.act_max).reshape(yshape)
        if k == "ADD":
            q1, q2, qy = self.q(op.inputs[0]), self.q(op.inputs[1]), self.q(op.y)
            return F.add(vals[op.inputs[0]], vals[op.inputs[1]], q1.per_tensor_scale, q1.per_tensor_zero_point,
                         q2.per_tensor_scale, q2.per_tensor_zero_point, qy.per_tensor_scale,
                         qy.per_tensor_zero_point, p.act_min, p.act_max)
        if k == "AVERAGE_POOL_2D":
            return F.average_pool(vals[op.x], *op.filter_hw, op.geometry, yshape[1], yshape[2], p.act_min, p.act_max)
        if k == "MAX_POOL_2D":
            return F.max_pool(vals[op.x], *op.filter_hw, op.geometry, yshape[1], yshape[2], p.act_min, p.act_max)
        if k == "MEAN":
            qx, qy = self.q(op.x), self.q(op.y)
            return F.mean_hw(vals[op.x], qx.per_tensor_zero_point, qx.per_tensor_scale,
                             qy.per_tensor_zero_point, qy.per_tensor_scale).reshape(yshape)
        if k == "RESHAPE":
            return vals[op.x].reshape(yshape)
        if k == "PAD":
            return F.pad(vals[op.x], op.paddings, self.q(op.y).per_tensor_zero_point)
        if k == "STRIDED_SLICE":
            return vals[op.x][tuple(slice(b, e) for b, e in zip(op.begin, op.end))].copy()
        if k == "CONCATENATION":
            return np.concatenate([vals[t] for t in op.inputs], axis=op.axis)
        if k == "QUANTIZE":
            qy = self.q(op.y)
            return F.quantize(vals[op.x], qy.per_tensor_scale, qy.per_tensor_zero_point).reshape(yshape)
        if k == "DEQUANTIZE":
            qx = self.q(op.x)
            return F.dequantize(vals[op.x], qx.per_tensor_scale, qx.per_tensor_zero_point).reshape(yshape)
        if k == "SOFTMAX":
            raise NotImplementedError("SOFTMAX is folded into the loss and never executed by the reference")
        raise AssertionError(k)
