"""A typed view of the forward (inference) operators tflm-train supports.

`parse_forward_ops` is the single place that decides what is supported: every
other module works on ForwardOp values, never on raw TFLite options.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import tflite_io as io
from .errors import UnsupportedModelError

B = io.BuiltinOperator

SUPPORTED = {
    B.CONV_2D: "CONV_2D", B.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D", B.FULLY_CONNECTED: "FULLY_CONNECTED",
    B.ADD: "ADD", B.AVERAGE_POOL_2D: "AVERAGE_POOL_2D", B.MEAN: "MEAN", B.RESHAPE: "RESHAPE",
    B.PAD: "PAD", B.SOFTMAX: "SOFTMAX", B.QUANTIZE: "QUANTIZE", B.DEQUANTIZE: "DEQUANTIZE",
    B.STRIDED_SLICE: "STRIDED_SLICE", B.CONCATENATION: "CONCATENATION", B.MAX_POOL_2D: "MAX_POOL_2D",
}
# Ops with no gradient in tflm-train, allowed in the frozen part before the earliest trained layer: what
# the patch-based rewrite emits in a first stage.
FORWARD_ONLY = ("STRIDED_SLICE", "CONCATENATION")
# Ops that copy or select int8 bytes: input and output share one quantization.
SELECTING = FORWARD_ONLY + ("MAX_POOL_2D",)
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")  # windowed, no weights: Pool2DOptions


@dataclass(frozen=True)
class Geometry:
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0


@dataclass
class ForwardOp:
    index: int  # operator index in subgraph 0
    kind: str  # one of SUPPORTED's names
    inputs: list[int]  # activation/const inputs as in the TFLite op (-1 = absent)
    outputs: list[int]
    activation: int = 0  # fused activation (TFLite code)
    geometry: Geometry = field(default_factory=Geometry)
    filter_hw: tuple[int, int] = (1, 1)  # pooling window
    paddings: np.ndarray | None = None  # PAD: [ndim, 2]
    axes: tuple[int, ...] = ()  # MEAN
    keep_dims: bool = False
    begin: tuple[int, ...] = ()  # STRIDED_SLICE (unit strides, no masks)
    end: tuple[int, ...] = ()
    axis: int = 0  # CONCATENATION

    @property
    def x(self) -> int:
        return self.inputs[0]

    @property
    def y(self) -> int:
        return self.outputs[0]

    @property
    def weight(self) -> int:
        return self.inputs[1]

    @property
    def bias(self) -> int:
        return self.inputs[2] if len(self.inputs) > 2 else -1


def same_padding(in_size: int, k: int, stride: int, dilation: int, out_size: int, padding: int) -> int:
    """TFLite ComputePaddingHeightWidth: the leading pad for SAME (0), VALID (1)."""
    eff_k = (k - 1) * dilation + 1
    if padding == 1:  # VALID
        return 0
    total = max((out_size - 1) * stride + eff_k - in_size, 0)
    return total // 2


def _shape(model, ti: int) -> tuple[int, ...]:
    return io.shape(model.subgraphs[0].tensors[ti])


def _fail(index: int, kind: str, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"operator {index} ({kind}): {why}")


def parse_forward_ops(model, count: int | None = None, merged_weights: frozenset[int] = frozenset()) -> list[ForwardOp]:
    """Typed forward ops of subgraph 0 (the first `count` operators). merged_weights: tensors a training
    graph's TFLMT_CHANNEL_MERGE ops make (a channel-sparse layer's weights), allowed as weights."""
    sg = model.subgraphs[0]
    ops = sg.operators[: count if count is not None else len(sg.operators)]
    out = []
    for i, op in enumerate(ops):
        code = io.op_code(model, op)
        if code not in SUPPORTED:
            raise _fail(i, io.op_name(model, op), "operator type not supported by tflm-train; supported: "
                        + ", ".join(sorted(SUPPORTED.values())))
        kind = SUPPORTED[code]
        fop = ForwardOp(i, kind, [int(t) for t in op.inputs], [int(t) for t in op.outputs])
        _check_types(model, fop, merged_weights)
        opt = op.builtinOptions
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            xs, ws, ys = _shape(model, fop.x), _shape(model, fop.weight), _shape(model, fop.y)
            if len(xs) != 4 or xs[0] != 1:
                raise _fail(i, kind, f"input shape {xs}: batch-1 NHWC needed")
            _check_window_options(i, kind, opt, dilated=True)
            dh, dw = opt.dilationHFactor, opt.dilationWFactor
            if kind == "DEPTHWISE_CONV_2D" and ws[3] != xs[3]:
                raise _fail(i, kind, f"depth multiplier {ws[3] // max(xs[3], 1)} (only 1 is supported)")
            if kind == "DEPTHWISE_CONV_2D" and opt.depthMultiplier != 1:
                # TFLM's kernel loops over the option, not the shapes: any other value reads and
                # writes past the tensors
                raise _fail(i, kind, f"depth_multiplier option {opt.depthMultiplier} does not match its weights' "
                                     "shape (one output channel per input channel)")
            fop.geometry = Geometry(
                opt.strideH, opt.strideW, dh, dw,
                same_padding(xs[1], ws[1], opt.strideH, dh, ys[1], opt.padding),
                same_padding(xs[2], ws[2], opt.strideW, dw, ys[2], opt.padding))
            fop.activation = opt.fusedActivationFunction
        elif kind == "FULLY_CONNECTED":
            fop.activation = opt.fusedActivationFunction if opt is not None else 0
            _check_activation(i, kind, fop.activation)
            ws = _shape(model, fop.weight)
            n_in = int(np.prod(_shape(model, fop.x)))
            if len(ws) != 2 or n_in != ws[1]:
                raise _fail(i, kind, f"input of {n_in} elements does not match weights {ws} (batch 1 only)")
        elif kind == "ADD":
            fop.activation = opt.fusedActivationFunction if opt is not None else 0
            _check_activation(i, kind, fop.activation)
            a, b = _shape(model, fop.inputs[0]), _shape(model, fop.inputs[1])
            if a != b:
                raise _fail(i, kind, f"broadcasting add {a} + {b} is not supported")
            _check_add_scales(model, fop)
        elif kind in POOLS:
            xs, ys = _shape(model, fop.x), _shape(model, fop.y)
            _check_window_options(i, kind, opt, dilated=False)
            if opt.filterHeight < 1 or opt.filterWidth < 1:
                raise _fail(i, kind, f"filter {opt.filterHeight}x{opt.filterWidth} must be at least 1x1")
            fop.filter_hw = (opt.filterHeight, opt.filterWidth)
            fop.geometry = Geometry(
                opt.strideH, opt.strideW, 1, 1,
                same_padding(xs[1], opt.filterHeight, opt.strideH, 1, ys[1], opt.padding),
                same_padding(xs[2], opt.filterWidth, opt.strideW, 1, ys[2], opt.padding))
            fop.activation = opt.fusedActivationFunction
        elif kind == "MEAN":
            axes = io.buffer_array(model, sg.tensors[fop.inputs[1]])
            xs = _shape(model, fop.x)
            if axes is None:
                raise _fail(i, kind, "axes must be constant")
            fop.axes = tuple(sorted(int(a) % len(xs) for a in axes.ravel()))
            fop.keep_dims = bool(opt.keepDims) if opt is not None else False
            if len(xs) != 4 or fop.axes != (1, 2):
                raise _fail(i, kind, f"only a global spatial mean (axes 1,2 of NHWC) is supported, got axes {fop.axes}")
        elif kind == "PAD":
            p = io.buffer_array(model, sg.tensors[fop.inputs[1]])
            if p is None:
                raise _fail(i, kind, "paddings must be constant")
            fop.paddings = p.astype(np.int64).reshape(-1, 2)
        elif kind == "STRIDED_SLICE":
            _parse_slice(model, fop, opt)
        elif kind == "CONCATENATION":
            ys = _shape(model, fop.y)
            fop.axis = int(opt.axis) % len(ys) if opt is not None and ys else 0
            fop.activation = opt.fusedActivationFunction if opt is not None else 0
            if fop.activation != 0:
                raise _fail(i, kind, "a fused activation is not supported")
        _check_output_shape(model, fop, getattr(opt, "padding", None) == io.tfl.Padding.SAME)
        out.append(fop)
    return out


ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}  # the fused activations int8 TFLM kernels take


def _check_activation(index: int, kind: str, activation: int) -> None:
    if activation not in ACTIVATIONS:
        raise _fail(index, kind, f"fused activation {activation} is not one of "
                    + ", ".join(f"{v} ({k})" for k, v in ACTIVATIONS.items()))


def _check_window_options(index: int, kind: str, opt, dilated: bool) -> None:
    """Strides, dilations, padding and activation of a windowed op, as TFLM will read them: it takes the
    values as they are (a zero stride divides by zero, a zero dilation stacks every tap on one pixel)."""
    if opt is None:
        raise _fail(index, kind, "options missing")
    if opt.strideH < 1 or opt.strideW < 1:
        raise _fail(index, kind, f"strides {opt.strideH}x{opt.strideW} must be at least 1")
    if dilated and (opt.dilationHFactor < 1 or opt.dilationWFactor < 1):
        raise _fail(index, kind, f"dilations {opt.dilationHFactor}x{opt.dilationWFactor} must be at least 1")
    if opt.padding not in (io.tfl.Padding.SAME, io.tfl.Padding.VALID):
        raise _fail(index, kind, f"padding {opt.padding} is neither SAME nor VALID")
    _check_activation(index, kind, opt.fusedActivationFunction)


def _check_output_shape(model, fop: ForwardOp, same: bool) -> None:
    """The output shape the op's inputs imply (a corrupt or hand-edited file can say otherwise)."""
    xs, ys = _shape(model, fop.x), _shape(model, fop.y)
    k = fop.kind
    want = None
    if k in ("CONV_2D", "DEPTHWISE_CONV_2D") + POOLS:
        if k in POOLS:
            kh, kw, oc = fop.filter_hw[0], fop.filter_hw[1], xs[3]
        else:
            ws = _shape(model, fop.weight)
            kh, kw, oc = ws[1], ws[2], ws[0] if k == "CONV_2D" else ws[3]
        g = fop.geometry
        want = (1, conv_out_size(xs[1], kh, g.stride_h, g.dilation_h, same),
                conv_out_size(xs[2], kw, g.stride_w, g.dilation_w, same), oc)
    elif k == "FULLY_CONNECTED":
        n = _shape(model, fop.weight)[0]
        if int(np.prod(ys)) != n:
            raise _fail(fop.index, k, f"output shape {ys} does not hold its {n} outputs")
        return
    elif k in ("ADD", "QUANTIZE", "DEQUANTIZE", "SOFTMAX"):
        want = xs
    elif k == "RESHAPE":
        if int(np.prod(xs)) != int(np.prod(ys)):
            raise _fail(fop.index, k, f"reshape of {xs} into {ys} changes the element count")
        return
    elif k == "PAD" and fop.paddings is not None and len(fop.paddings) == len(xs):
        want = tuple(int(d + p[0] + p[1]) for d, p in zip(xs, fop.paddings))
    elif k == "CONCATENATION":
        parts = [_shape(model, t) for t in fop.inputs]
        if any(len(p) != len(ys) for p in parts) or sum(p[fop.axis] for p in parts) != ys[fop.axis]:
            raise _fail(fop.index, k, f"inputs {parts} do not concatenate into {ys}")
        return
    if want is not None and tuple(want) != tuple(ys):
        raise _fail(fop.index, k, f"output shape {ys}, its inputs give {tuple(want)}")


def _check_add_scales(model, fop: ForwardOp) -> None:
    """TFLite's int8 ADD rescales each input by s_i / (2 max s) and the sum by 2 max s / (2^20 s_y),
    and TFLM aborts (a failed check, not an error status) unless every factor is in (0, 1): refuse
    such scales here, with the tensor named."""
    sg = model.subgraphs[0]
    scales = {}
    for role, ti in (("input 1", fop.inputs[0]), ("input 2", fop.inputs[1]), ("output", fop.y)):
        q = io.qparams(sg.tensors[ti])
        s = q.per_tensor_scale if q is not None and q.scale.size == 1 else None
        if s is None or not np.isfinite(s) or s <= 0:
            raise _fail(fop.index, "ADD", f"{role} (tensor {ti}) needs one finite positive scale, got "
                                          f"{None if q is None else q.scale.tolist()}")
        scales[role] = float(s)
    twice_max = 2.0 * max(scales["input 1"], scales["input 2"])
    out = twice_max / ((1 << 20) * scales["output"])
    if not 0.0 < out < 1.0:
        raise _fail(fop.index, "ADD", f"output scale {scales['output']:g} (tensor {fop.y}) is too small for its "
                                      f"inputs' {twice_max / 2:g}: TFLite's output rescale would be {out:g}, not "
                                      "below 1 (a corrupt model?)")


def _parse_slice(model, fop: ForwardOp, opt) -> None:
    sg = model.subgraphs[0]
    xs = _shape(model, fop.x)
    parts = [io.buffer_array(model, sg.tensors[t]) if t >= 0 else None for t in fop.inputs[1:4]]
    if len(parts) != 3 or any(p is None for p in parts):
        raise _fail(fop.index, fop.kind, "begin, end and strides must be constant")
    begin, end, strides = (tuple(int(v) for v in p.ravel()) for p in parts)
    masks = [getattr(opt, f, 0) or 0 for f in ("beginMask", "endMask", "ellipsisMask", "newAxisMask",
                                               "shrinkAxisMask")] if opt is not None else [0]
    if any(masks) or (opt is not None and getattr(opt, "offset", False)):
        raise _fail(fop.index, fop.kind, "only plain slices are supported (no masks, no offset)")
    if any(s != 1 for s in strides) or not len(begin) == len(end) == len(xs):
        raise _fail(fop.index, fop.kind, f"only unit strides over all {len(xs)} axes are supported")
    if any(not 0 <= b < e <= d for b, e, d in zip(begin, end, xs)) or \
            tuple(e - b for b, e in zip(begin, end)) != _shape(model, fop.y):
        raise _fail(fop.index, fop.kind, f"slice [{begin}, {end}) of {xs} does not give the output shape "
                    f"{_shape(model, fop.y)}")
    fop.begin, fop.end = begin, end


def _check_types(model, fop: ForwardOp, merged_weights: frozenset[int] = frozenset()) -> None:
    t = model.subgraphs[0].tensors
    T = io.TensorType
    if fop.kind == "QUANTIZE":
        if t[fop.x].type != T.FLOAT32 or t[fop.y].type != T.INT8:
            raise _fail(fop.index, fop.kind, "only float32 -> int8 quantization at the model input is supported")
        return
    if fop.kind == "DEQUANTIZE":
        if t[fop.x].type != T.INT8 or t[fop.y].type != T.FLOAT32:
            raise _fail(fop.index, fop.kind, "only int8 -> float32 dequantization at the model output is supported")
        return
    if t[fop.x].type != T.INT8:
        raise _fail(fop.index, fop.kind,
                    f"input tensor '{io.tensor_name(t[fop.x])}' is {io.numpy_dtype(t[fop.x].type)}, int8 needed "
                    "(is the model fully int8 quantized?)")
    if fop.kind in WEIGHTED:
        w = t[fop.weight]
        if w.type != T.INT8 or (io.buffer_array(model, w) is None and fop.weight not in merged_weights):
            raise _fail(fop.index, fop.kind, f"weights '{io.tensor_name(w)}' must be constant int8")
        q = io.qparams(w)
        if q is None or np.any(q.zero_point != 0):
            raise _fail(fop.index, fop.kind, f"weights '{io.tensor_name(w)}' must be symmetric (zero point 0)")
        if fop.bias >= 0 and (t[fop.bias].type != T.INT32 or io.buffer_array(model, t[fop.bias]) is None):
            raise _fail(fop.index, fop.kind, "bias must be constant int32")
    if fop.kind in SELECTING:
        # These ops copy or select bytes: every data tensor must carry the output's quantization.
        data = fop.inputs if fop.kind == "CONCATENATION" else [fop.x]
        qy = io.qparams(t[fop.y])
        for ti in data:
            q = io.qparams(t[ti])
            if t[ti].type != T.INT8 or q is None or qy is None or q.per_tensor_scale != qy.per_tensor_scale or \
                    q.per_tensor_zero_point != qy.per_tensor_zero_point:
                raise _fail(fop.index, fop.kind, f"input '{io.tensor_name(t[ti])}' must be int8 with the output's "
                            "quantization")


def conv_out_size(in_size: int, k: int, stride: int, dilation: int, same: bool) -> int:
    eff = (k - 1) * dilation + 1
    return math.ceil(in_size / stride) if same else math.ceil((in_size - eff + 1) / stride)
