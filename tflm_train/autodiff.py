"""Compile-time autodiff: appends the backward and update ops to a forward graph.

Ops are emitted so that each update runs as soon as the gradient of its layer
exists (bias, then input gradient with the pre-update weights, then the fused
weight-gradient + update), so no parameter gradient outlives its layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import qas
from . import schema as S
from . import tflite_io as io
from ._generated import tflm_train_generated as G
from .errors import UnsupportedModelError
from .graph import FORWARD_ONLY, POOLS, WEIGHTED, ForwardOp
from .quant import activation_range
from .sparse import TrainPlan

T = io.TensorType
CLAMPING = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN")
GRAD_DTYPES = {"float32": G.GradDType.FLOAT32, "int8": G.GradDType.INT8}
ROUNDINGS = {"stochastic": G.RoundingMode.STOCHASTIC, "nearest": G.RoundingMode.NEAREST}
_PREFIX = {"CONV_2D": "CONV", "DEPTHWISE_CONV_2D": "DW", "FULLY_CONNECTED": "FC"}
# Channel-sparse layers of these kinds keep only their trained input channels in SRAM (a slice
# tensor, merged into the frozen weights by TFLMT_CHANNEL_MERGE for each reader). A depthwise
# conv's weights are a few bytes per channel: it keeps the whole-tensor copy.
SLICED = ("CONV_2D", "FULLY_CONNECTED")
# int8 logits bound the loss by ln(classes) + (127 - (-128)) * scale; a model that has diverged
# (weights saturated, one class everywhere) sits near that bound, a healthy one far below it.
DIVERGENCE_FRACTION = 0.9


def default_max_loss(logits_scale: float, classes: int) -> float:
    """Chance's loss, ln(classes), plus DIVERGENCE_FRACTION of the most the int8 logits can add to it. The
    fraction applies to that excess only: logits calibrated to a narrow range (an untrained model's) bound
    the loss just above ln(classes), and a fraction of the whole bound would refuse every step at chance."""
    return float(np.log(classes) + DIVERGENCE_FRACTION * 255.0 * logits_scale)


@dataclass
class Settings:
    grad_dtype: int
    learning_rate: float
    rounding: int
    seed: int
    qas: bool = True  # False: the ablation without Quantization-Aware Scaling (qas.py)
    max_loss: float | None = None  # divergence guard; None: default_max_loss
    residual: bool = False  # update_precision "int16": a residual byte per trained weight (16-bit updates)
    decay_steps: int = 0  # learning-rate decay to final_learning_rate over each op's first decay_steps updates
    final_learning_rate: float = 0.0
    warmup_steps: int = 0  # the rate ramps up over each op's first warmup_steps updates


@dataclass
class Built:
    """Result of the autodiff pass: the new operator list and what the metadata needs."""

    operators: list
    trainables: list  # G.TrainableTensorT
    loss_tensor: int
    label_tensor: int


def _clamps(op: ForwardOp) -> bool:
    return op.kind in CLAMPING or (op.kind in POOLS and op.activation != 0)


class _Builder:
    def __init__(self, model, fops: list[ForwardOp], logits: int, plan: TrainPlan, st: Settings):
        self.m, self.fops, self.logits, self.plan, self.st = model, fops, logits, plan, st
        self.t = model.subgraphs[0].tensors
        self.ops: list = []
        self.int8 = st.grad_dtype == G.GradDType.INT8
        self.pending: dict[int, tuple[int, ...]] = {}
        self.masks: dict[int, int] = {}
        self.gathered: dict[int, int] = {}  # forward op index -> its saved input channels (TFLMT_CHANNEL_GATHER)
        self.slices: dict[int, int] = {}  # forward op index -> its trained weight channels (a slice tensor)
        self.argmax: dict[int, int] = {}  # MAX_POOL_2D op index -> its argmax bytes (TFLMT_MAX_POOL_ARGMAX)
        self.next_uid = 0
        self.trainables: list = []

    # --------------------------------------------------------------- helpers
    def name(self, ti: int) -> str:
        return io.tensor_name(self.t[ti])

    def shape(self, ti: int) -> tuple[int, ...]:
        return io.shape(self.t[ti])

    def canonical(self, ti: int) -> int:
        """Gradients of a RESHAPE output are stored with the shape of the reshape's input."""
        while ti in self.reshape_of:
            ti = self.reshape_of[ti]
        return ti

    def new_grad(self, like: int, tag: str) -> tuple[int, ...]:
        like = self.canonical(like)
        base = f"{self.name(like)}/{tag}"
        if self.int8:
            q = io.add_tensor(self.m, base, self.shape(like), T.INT8)
            s = io.add_tensor(self.m, base + "_scale", (1,), T.FLOAT32)
            return (q, s)
        return (io.add_tensor(self.m, base, self.shape(like), T.FLOAT32),)

    def emit(self, name: str, inputs: list[int], outputs: list[int], options) -> int:
        self.ops.append(io.make_custom_op(self.m, name, inputs, outputs, S.encode_options(options)))
        return len(self.ops) - 1

    def contribute(self, ti: int, g: tuple[int, ...]) -> None:
        if ti not in self.pending:
            self.pending[ti] = g
            return
        out = self.new_grad(ti, "grad_sum")
        o = G.GradAccumOptionsT()
        o.gradDtype = self.st.grad_dtype
        self.emit("TFLMT_GRAD_ACCUM", [self.label, *self.pending[ti], *g], list(out), o)
        self.pending[ti] = out

    # --------------------------------------------------------------- passes
    def needs_grad(self) -> dict[int, bool]:
        """Tensor -> True if a trained parameter lies upstream of it (its gradient is useful)."""
        down: dict[int, bool] = {}
        for op in self.fops:
            acts = [op.x] if op.kind in WEIGHTED else [t for t in op.inputs if t >= 0]
            d = op.index in self.plan.layers or any(down.get(t, False) for t in acts)
            down[op.y] = d
        return down

    def build(self) -> Built:
        sg = self.m.subgraphs[0]
        original = list(sg.operators)
        self.label = io.add_tensor(self.m, "tflm_train/label", (1,), T.INT32)
        self.down = self.needs_grad()
        self.reshape_of = {op.y: op.x for op in self.fops if op.kind == "RESHAPE" and self.down.get(op.x, False)}
        spatial = ("CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "PAD") + POOLS
        for op in self.fops:
            if op.kind in FORWARD_ONLY and self.down.get(op.y, False):
                raise UnsupportedModelError(f"operator {op.index} ({op.kind}): a trained layer lies before it and "
                                            f"tflm-train has no gradient for {op.kind}; train only later layers")
            if op.kind == "MAX_POOL_2D" and self.down.get(op.x, False) and op.filter_hw[0] * op.filter_hw[1] > 256:
                raise UnsupportedModelError(f"operator {op.index} (MAX_POOL_2D): a trained layer lies before its "
                                            f"{op.filter_hw[0]}x{op.filter_hw[1]} window; the gradient keeps one "
                                            "byte per output for the argmax, so windows of up to 256 inputs")
            if op.kind in spatial and self.down.get(op.x, False) and self.canonical(op.x) != op.x:
                raise UnsupportedModelError(f"operator {op.index} ({op.kind}): its input comes from a RESHAPE "
                                            "of a trained tensor; backpropagating through that is not supported")
        self.forward_index = {}  # forward op index in the input model -> index in the training graph
        for op in self.fops:
            fwd = original[op.index]
            if self.sliced(op):
                self.slices[op.index] = self.new_slice(op)
                fwd.inputs = np.array(fwd.inputs, np.int32)
                fwd.inputs[1] = self.emit_merge(op, "weights")
            self.forward_index[op.index] = len(self.ops)
            self.ops.append(fwd)
            if self.down[op.y] and _clamps(op) and not self.clamped_by_loss(op):
                self.emit_mask(op)
            if self.plan.channels.get(op.index):  # only weight-trained layers have channel lists
                self.emit_gather(op)
            if op.kind == "MAX_POOL_2D" and self.down.get(op.x, False):
                self.emit_argmax(op)
        loss = io.add_tensor(self.m, "tflm_train/loss", (1,), T.FLOAT32)
        dlogits = self.new_grad(self.logits, "grad")
        q = io.qparams(self.t[self.logits])
        o = G.SoftmaxCeOptionsT()
        o.gradDtype, o.numClasses = self.st.grad_dtype, int(np.prod(self.shape(self.logits)))
        o.logitsScale, o.logitsZeroPoint = q.per_tensor_scale, q.per_tensor_zero_point
        o.maxLoss = (default_max_loss(q.per_tensor_scale, o.numClasses) if self.st.max_loss is None
                     else float(self.st.max_loss))
        self.emit("TFLMT_SOFTMAX_CE", [self.label, self.logits], [loss, *dlogits], o)
        self.pending[self.logits] = dlogits
        for op in reversed(self.fops):
            g = self.pending.pop(op.y, None)
            if g is None or not self.down[op.y]:
                continue
            self.backward(op, g)
        return Built(self.ops, self.trainables, loss, self.label)

    def sliced(self, op: ForwardOp) -> bool:
        return op.kind in SLICED and op.index in self.plan.weights and bool(self.plan.channels.get(op.index))

    def new_slice(self, op: ForwardOp) -> int:
        """The trained input channels of op's weights as their own constant tensor (the trainable state)."""
        w = self.t[op.weight]
        piece = io.buffer_array(self.m, w)[..., list(self.plan.channels[op.index])]
        return io.add_tensor(self.m, f"{self.name(op.weight)}/trained_channels", piece.shape, T.INT8,
                             data=np.ascontiguousarray(piece).tobytes(), quant=io.qparams(w))

    def emit_merge(self, op: ForwardOp, tag: str) -> int:
        """A transient tensor of op's current weights (frozen tensor + trained channels) for one reader."""
        merged = io.add_tensor(self.m, f"{self.name(op.weight)}/merged_{tag}", self.shape(op.weight), T.INT8,
                               quant=io.qparams(self.t[op.weight]))
        o = G.ChannelMergeOptionsT()
        o.channels, o.backward = list(self.plan.channels[op.index]), tag != "weights"
        self.emit("TFLMT_CHANNEL_MERGE", [self.label, op.weight, self.slices[op.index]], [merged], o)
        return merged

    def emit_gather(self, op: ForwardOp) -> None:
        """Saves only the input channels a channel-sparse weight update trains (the whole input can then die)."""
        channels = list(self.plan.channels[op.index])
        xs = self.shape(op.x)
        shape = (1, len(channels)) if op.kind == "FULLY_CONNECTED" else xs[:-1] + (len(channels),)
        y = io.add_tensor(self.m, f"{self.name(op.x)}/channels_of_op{op.index}", shape, T.INT8,
                          quant=io.qparams(self.t[op.x]))
        o = G.ChannelGatherOptionsT()
        o.channels = channels
        self.emit("TFLMT_CHANNEL_GATHER", [self.label, op.x], [y], o)
        self.gathered[op.index] = y

    def emit_argmax(self, op: ForwardOp) -> None:
        """Each max-pool output's argmax (a byte), so neither the pool's input nor its output is kept."""
        idx = io.add_tensor(self.m, f"{self.name(op.y)}/argmax", self.shape(op.y), T.UINT8)
        o = G.MaxPoolArgmaxOptionsT()
        o.geometry, (o.filterH, o.filterW) = S.geometry_t(op.geometry), op.filter_hw
        self.emit("TFLMT_MAX_POOL_ARGMAX", [self.label, op.x], [idx], o)
        self.argmax[op.index] = idx

    def clamped_by_loss(self, op: ForwardOp) -> bool:
        """Logits that clamp only at the int8 limits: TFLMT_SOFTMAX_CE's gradient handles that clamp
        (reference/training.py softmax_ce), so they need no mask."""
        q = io.qparams(self.t[op.y])
        return op.y == self.logits and activation_range(op.activation, q.per_tensor_scale,
                                                        q.per_tensor_zero_point) == (-128, 127)

    def emit_mask(self, op: ForwardOp) -> None:
        q = io.qparams(self.t[op.y])
        lo, hi = activation_range(op.activation, q.per_tensor_scale, q.per_tensor_zero_point)
        n = int(np.prod(self.shape(op.y)))
        mask = io.add_tensor(self.m, f"{self.name(op.y)}/mask", ((n + 7) // 8,), T.UINT8)
        o = G.ClampMaskOptionsT()
        o.actMin, o.actMax = lo, hi
        self.emit("TFLMT_CLAMP_MASK", [self.label, op.y], [mask], o)
        self.masks[op.y] = mask

    def backward(self, op: ForwardOp, g: tuple[int, ...]) -> None:
        if op.y in self.masks:
            ga = self.new_grad(op.y, "grad_act")
            o = G.ClampGradOptionsT()
            o.gradDtype = self.st.grad_dtype
            self.emit("TFLMT_CLAMP_GRAD", [self.label, *g, self.masks[op.y]], list(ga), o)
            g = ga
        k = op.kind
        if k in WEIGHTED:
            if op.index in self.plan.biases:
                self.bias_update(op, g)
            if self.down.get(op.x, False):
                self.contribute(op.x, self.input_grad(op, g))
            if op.index in self.plan.weights:
                self.weight_update(op, g)
        elif k == "ADD":
            for t in op.inputs:
                if self.down.get(t, False):
                    self.contribute(t, g)
        elif k == "AVERAGE_POOL_2D":
            dx = self.new_grad(op.x, "grad")
            o = G.AvgPoolGradOptionsT()
            o.gradDtype, o.geometry = self.st.grad_dtype, S.geometry_t(op.geometry)
            o.filterH, o.filterW = op.filter_hw
            self.emit("TFLMT_AVG_POOL_GRAD", [self.label, *g], list(dx), o)
            self.contribute(op.x, dx)
        elif k == "MAX_POOL_2D":
            dx = self.new_grad(op.x, "grad")
            o = G.MaxPoolGradOptionsT()
            o.gradDtype, o.geometry = self.st.grad_dtype, S.geometry_t(op.geometry)
            o.filterH, o.filterW = op.filter_hw
            self.emit("TFLMT_MAX_POOL_GRAD", [self.label, *g, self.argmax[op.index]], list(dx), o)
            self.contribute(op.x, dx)
        elif k == "MEAN":
            dx = self.new_grad(op.x, "grad")
            o = G.MeanGradOptionsT()
            o.gradDtype = self.st.grad_dtype
            self.emit("TFLMT_MEAN_GRAD", [self.label, *g], list(dx), o)
            self.contribute(op.x, dx)
        elif k == "PAD":
            dx = self.new_grad(op.x, "grad")
            o = G.PadGradOptionsT()
            o.gradDtype, o.padBefore = self.st.grad_dtype, [int(v) for v in op.paddings[:, 0]]
            self.emit("TFLMT_PAD_GRAD", [self.label, *g], list(dx), o)
            self.contribute(op.x, dx)
        elif k == "RESHAPE":
            # Same data, other shape: the gradient tensor is shared (kernels check element counts).
            self.contribute(op.x, g)
        # QUANTIZE: the model input needs no gradient.

    def input_grad(self, op: ForwardOp, g: tuple[int, ...]) -> tuple[int, ...]:
        dx = self.new_grad(op.x, "grad")
        o = G.InputGradOptionsT()
        o.gradDtype, o.geometry = self.st.grad_dtype, S.geometry_t(op.geometry)
        o.weightScales = [float(s) for s in io.qparams(self.t[op.weight]).scale]
        w = self.emit_merge(op, "for_input_grad") if op.index in self.slices else op.weight
        self.emit(f"TFLMT_{_PREFIX[op.kind]}_INPUT_GRAD", [self.label, *g, w], list(dx), o)
        return dx

    def _update_common(self, o) -> None:
        o.learningRate, o.rounding, o.seed = self.st.learning_rate, self.st.rounding, self.st.seed
        o.opUid, o.initialStep = self.next_uid, 0
        o.finalLearningRate, o.decaySteps = self.st.final_learning_rate, self.st.decay_steps
        o.warmupSteps = self.st.warmup_steps
        self.next_uid += 1

    def weight_update(self, op: ForwardOp, g: tuple[int, ...]) -> None:
        # A sliced layer updates its slice as a dense weight: the gathered input holds exactly its channels.
        sliced = op.index in self.slices
        w = self.slices[op.index] if sliced else op.weight
        qx, qw = io.qparams(self.t[op.x]), io.qparams(self.t[w])
        wshape = self.shape(w)
        axis = 3 if op.kind == "DEPTHWISE_CONV_2D" else 0
        factors = qas.weight_factors(qw.scale, wshape[axis], self.st.qas)
        o = G.WeightUpdateOptionsT()
        o.gradDtype, o.geometry = self.st.grad_dtype, S.geometry_t(op.geometry)
        o.inputScale, o.inputZeroPoint = qx.per_tensor_scale, qx.per_tensor_zero_point
        channels = list(self.plan.channels.get(op.index, ()))
        o.qasScale, o.inputChannels = [float(v) for v in factors], [] if sliced else channels
        self._update_common(o)
        x = self.gathered.get(op.index, op.x)
        ins = [self.label, *g, x, w]
        if self.st.residual:  # zero residual bytes, trained state like the weights (ParamKind.RESIDUAL)
            residual = io.add_tensor(self.m, f"{self.name(w)}/residual", tuple(wshape), T.INT8,
                                     data=bytes(int(np.prod(wshape))))
            ins.append(residual)
        idx = self.emit(f"TFLMT_{_PREFIX[op.kind]}_WEIGHT_UPDATE", ins, [], o)
        slice_of = op.weight if sliced else -1
        self.add_trainable(op, w, G.ParamKind.WEIGHT, axis, factors, idx, channels, slice_of)
        if self.st.residual:
            self.add_trainable(op, residual, G.ParamKind.RESIDUAL, axis, factors, idx, channels, slice_of)

    def bias_update(self, op: ForwardOp, g: tuple[int, ...]) -> None:
        qb = io.qparams(self.t[op.bias])
        n = self.shape(op.bias)[0]
        factors = qas.bias_factors(qb.scale, n, self.st.qas)
        o = G.BiasUpdateOptionsT()
        o.gradDtype, o.qasScale = self.st.grad_dtype, [float(v) for v in factors]
        self._update_common(o)
        idx = self.emit("TFLMT_BIAS_UPDATE", [self.label, *g, op.bias], [], o)
        self.add_trainable(op, op.bias, G.ParamKind.BIAS, 0, factors, idx)

    def add_trainable(self, op, ti, kind, axis, factors, update_idx, channels=(), slice_of: int = -1) -> None:
        t = G.TrainableTensorT()
        t.sliceOf = slice_of
        t.tensor, t.name, t.kind = ti, self.name(ti), kind
        t.layerOp, t.channelAxis = self.forward_index[op.index], axis
        t.qasScale, t.inputChannels, t.updateOp = [float(v) for v in factors], list(channels), update_idx
        t.stateBytes = int(np.prod(self.shape(ti))) * io.numpy_dtype(self.t[ti].type).itemsize
        self.trainables.append(t)


def add_missing_biases(model, fops: list[ForwardOp], layers: frozenset[int]) -> None:
    """Gives every trained layer without a bias a zero int32 bias (scale s_x * s_W) so it can learn one."""
    sg = model.subgraphs[0]
    for op in fops:
        if op.index not in layers or op.bias >= 0:
            continue
        qx, qw = io.qparams(sg.tensors[op.x]), io.qparams(sg.tensors[op.weight])
        wshape = io.shape(sg.tensors[op.weight])
        n = wshape[3] if op.kind == "DEPTHWISE_CONV_2D" else wshape[0]
        scales = (np.float64(qx.per_tensor_scale) * np.broadcast_to(qw.scale.astype(np.float64), (n,))).astype(np.float32)
        bias = io.add_tensor(model, f"{io.tensor_name(sg.tensors[op.weight])}/bias", (n,), T.INT32,
                             data=np.zeros(n, np.int32).tobytes(),
                             quant=io.QParams(scales, np.zeros(n, np.int64), 0))
        tfl_op = sg.operators[op.index]
        ins = [int(v) for v in tfl_op.inputs]
        ins = ins + [-1] * (3 - len(ins))
        ins[2] = bias
        tfl_op.inputs = np.asarray(ins, np.int32)
        op.inputs = ins


def build(model, fops: list[ForwardOp], logits: int, plan: TrainPlan, st: Settings) -> Built:
    add_missing_biases(model, fops, plan.biases)
    return _Builder(model, fops, logits, plan, st).build()
