"""Static C for a training graph: every op a direct call into kernels/core, over one planned arena.

For targets without TFLM (bare-metal images, examples/cortex_m) and for instruction
counting: the generated step runs the same kernels in the same order as the TFLM
registrations, so its results are bit-exact with the TFLM backend. What TFLM computes
in Prepare (multipliers, clamp bounds, windows, scratch sizes) is computed here, once;
the arena offsets come from the planner model of `memory` (TFLM's greedy placement).

Frozen constants become `const` arrays (flash); trainable tensors become writable
arrays initialised from the model (SRAM: the trainable slice). The API of the
generated source `<name>.c`:

    int <name>_step(const int8_t* x, int32_t label, float* loss);  // 0, or a tflmt_status / 3 diverged
    void <name>_infer(const int8_t* x, int8_t* logits);
    extern const <name>_trainable_t <name>_trainables[];           // {data, bytes} of the trained state

Every op is preceded by TFLMT_OP_BEGIN(op index) (empty unless the build defines it;
the Cortex-M image uses it to attribute instruction counts to ops).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import forward_params as FP
from . import memory
from . import quant as Q
from . import schema as S
from . import tflite_io as io
from .errors import UnsupportedModelError
from .graph import POOLS
from .model import TrainingModel, runs_in_inference
from .reference import forward as F

DIVERGED = 3  # the step's status when the divergence guard refuses it (no update applied)


@dataclass(frozen=True)
class CProgram:
    name: str
    header: str
    source: str
    arena_bytes: int
    op_names: tuple[str, ...]  # by operator index
    trainable_bytes: int


def _cfloat(v) -> str:
    f = float(np.float32(v))
    if not np.isfinite(f):
        raise UnsupportedModelError(f"non-finite constant {f} in the training graph")
    return f.hex() + "f"


def _array(ctype: str, name: str, values, const: bool = True, per_line: int = 24) -> str:
    vals = list(values)
    if ctype == "float":
        items = [_cfloat(v) for v in vals]
    elif ctype == "int32_t":
        items = [str(int(v)) if int(v) != -(2**31) else "(-2147483647 - 1)" for v in vals]
    else:
        items = [str(int(v)) for v in vals]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n  ".join(lines)
    q = "static const " if const else "static "
    return f"{q}{ctype} {name}[{len(vals) or 1}] __attribute__((aligned(4))) = {{\n  {body}}};\n"


class _Emitter:
    def __init__(self, tm: TrainingModel, name: str, naive: bool):
        self.tm, self.name, self.naive = tm, name, naive
        self.model = io.read_model(tm.to_bytes())
        self.sg = self.model.subgraphs[0]
        self.t = self.sg.tensors
        g = tm.graph
        self.int8 = tm.grad_dtype == "int8"
        self.trainable = {int(tr.tensor) for tr in g.trainables or []}
        self.fwd = {op.index: op for op in tm.forward_ops}
        self.train = {op.index: op for op in tm.train_ops}
        self.decls: list[str] = []
        self.consts: dict[int, str] = {}
        self.n_updates = 0
        self.update_init: list[int] = []
        self.op_lines: dict[int, list[str]] = {}
        self._plan()

    # ------------------------------------------------------------------ memory
    def _plan(self) -> None:
        g = self.tm.graph
        ops = list(range(len(self.sg.operators)))
        scratch = {i: memory.scratch_bytes(self.model, self.sg.operators[i]) for i in self.train}
        for i, op in self.fwd.items():
            if op.kind == "CONV_2D":  # two int16 im2col columns (tflmt_conv2d_s8_scratch_size)
                _, kh, kw, ic = self.shape(op.weight)
                scratch[i] = 2 * kh * kw * ic * 2
        bufs = memory.lifetimes(self.model, ops, [g.inputTensor, g.labelTensor], [g.lossTensor, g.logitsTensor],
                                scratch)
        self.offsets, self.arena = memory.greedy_plan(bufs)
        extra = len(self.t)
        self.scratch_offset: dict[int, int] = {}
        for i in ops:  # lifetimes numbers scratch buffers after the tensors, in op order
            if scratch.get(i, 0) > 0:
                self.scratch_offset[i] = self.offsets[extra]
                extra += 1

    def ptr(self, ti: int, ctype: str = "int8_t") -> str:
        if ti in self.offsets:
            return f"(({ctype}*)(arena + {self.offsets[ti]}))"
        return self.const(ti)

    def const(self, ti: int) -> str:
        if ti < 0:
            return "NULL"
        if ti not in self.consts:
            t = self.t[ti]
            a = io.buffer_array(self.model, t)
            if a is None:
                raise UnsupportedModelError(f"tensor {ti} ('{io.tensor_name(t)}') is neither planned nor constant")
            ctype = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t",
                     np.dtype(np.float32): "float"}.get(a.dtype)
            if ctype is None:
                raise UnsupportedModelError(f"tensor {ti} ('{io.tensor_name(t)}'): constant of type {a.dtype}")
            trained = ti in self.trainable
            cname = f"{'p' if trained else 'c'}{ti}"
            self.decls.append(_array(ctype, cname, a.ravel(), const=not trained))
            self.consts[ti] = cname
        return self.consts[ti]

    def new_array(self, ctype: str, stem: str, values) -> str:
        name = f"{stem}{len(self.decls)}"
        self.decls.append(_array(ctype, name, values))
        return name

    def shape(self, ti: int) -> tuple[int, ...]:
        return io.shape(self.t[ti])

    def numel(self, ti: int) -> int:
        return int(np.prod(self.shape(ti)))

    def shape3(self, ti: int) -> str:
        s = self.shape(ti)
        if len(s) == 4:
            h, w, c = s[1:]
        elif len(s) == 2:
            h, w, c = 1, 1, s[1]
        else:
            raise UnsupportedModelError(f"tensor {ti}: shape {s} is not NHWC or [1, n]")
        return f"{{{h}, {w}, {c}}}"

    def window(self, x: int, y: int, kh: int, kw: int, geo) -> str:
        return (f"{{{self.shape3(x)}, {self.shape3(y)}, {kh}, {kw}, {{{geo.stride_h}, {geo.stride_w}, "
                f"{geo.dilation_h}, {geo.dilation_w}, {geo.pad_top}, {geo.pad_left}}}}}")

    # ------------------------------------------------------------------ forward ops
    def forward(self, op) -> list[str]:
        k = op.kind
        q = io.qparams
        if k in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            p = FP.requant(self.t, op)
            m = self.new_array("int32_t", "mult", p.multiplier)
            s = self.new_array("int32_t", "shift", p.shift)
            rq = (f"static const tflmt_requant rq = {{{p.in_zero_point}, {p.out_zero_point}, "
                  f"{p.act_min}, {p.act_max}, {m}, {s}, {len(p.multiplier)}}};")
            w, b = self.ptr(op.weight), self.ptr(op.bias, "int32_t") if op.bias >= 0 else "NULL"
            x, y = self.ptr(op.x), self.ptr(op.y)
            if k == "FULLY_CONNECTED":
                ws = self.shape(op.weight)
                return [rq, f"tflmt_fully_connected_s8({ws[0]}, {ws[1]}, &rq, {x}, {w}, {b}, {y});"]
            ws = self.shape(op.weight)
            win = f"static const tflmt_window s = {self.window(op.x, op.y, ws[1], ws[2], op.geometry)};"
            fn = "tflmt_conv2d_s8" if k == "CONV_2D" else "tflmt_depthwise_conv2d_s8"
            if self.naive:
                return [win, rq, f"{fn}_naive(&s, &rq, {x}, {w}, {b}, {y});"]
            scratch = f", arena + {self.scratch_offset[op.index]}" if k == "CONV_2D" else ""
            return [win, rq, f"{fn}(&s, &rq, {x}, {w}, {b}, {y}{scratch});"]
        if k == "ADD":
            q1, q2, qy = q(self.t[op.inputs[0]]), q(self.t[op.inputs[1]]), q(self.t[op.y])
            sy = qy.per_tensor_scale
            mults = ", ".join(map(str, F.add_multipliers(q1.per_tensor_scale, q2.per_tensor_scale, sy)))
            lo, hi = Q.activation_range(op.activation, sy, qy.per_tensor_zero_point)
            p = (f"static const tflmt_add_params p = {{{q1.per_tensor_zero_point}, {q2.per_tensor_zero_point}, "
                 f"{qy.per_tensor_zero_point}, {mults}, {F.ADD_LEFT_SHIFT}, {lo}, {hi}}};")
            nv = "_naive" if self.naive else ""
            return [p, f"tflmt_add_s8{nv}(&p, {self.ptr(op.inputs[0])}, {self.ptr(op.inputs[1])}, "
                       f"{self.numel(op.y)}, {self.ptr(op.y)});"]
        if k == "MEAN":
            xs = self.shape(op.x)
            if len(xs) != 4 or tuple(sorted(op.axes)) != (1, 2):
                raise UnsupportedModelError(f"operator {op.index} (MEAN): only the mean over H and W is generated")
            qx, qy = q(self.t[op.x]), q(self.t[op.y])
            mult, shift = F.mean_multiplier(qx.per_tensor_scale, qy.per_tensor_scale, xs[1] * xs[2])
            p = (f"static const tflmt_mean_params p = {{{qx.per_tensor_zero_point}, {qy.per_tensor_zero_point}, "
                 f"{mult}, {shift}}};")
            return [p, f"tflmt_mean_hw_s8((tflmt_shape3){self.shape3(op.x)}, &p, {self.ptr(op.x)}, {self.ptr(op.y)});"]
        if k in POOLS:
            qy = q(self.t[op.y])
            lo, hi = Q.activation_range(op.activation, qy.per_tensor_scale, qy.per_tensor_zero_point)
            win = f"static const tflmt_window s = {self.window(op.x, op.y, *op.filter_hw, op.geometry)};"
            fn = "tflmt_avg_pool_s8" if k == "AVERAGE_POOL_2D" else "tflmt_max_pool_s8"
            return [win, f"{fn}(&s, {lo}, {hi}, {self.ptr(op.x)}, {self.ptr(op.y)});"]
        if k == "PAD":
            xs, ys = self.shape(op.x), self.shape(op.y)
            if len(xs) != 4:
                raise UnsupportedModelError(f"operator {op.index} (PAD): only rank-4 inputs are generated")
            before = [int(v) for v in np.asarray(op.paddings)[:, 0]]
            zp = q(self.t[op.y]).per_tensor_zero_point
            return [f"static const int32_t xd[4] = {{{', '.join(map(str, xs))}}}, "
                    f"pb[4] = {{{', '.join(map(str, before))}}}, yd[4] = {{{', '.join(map(str, ys))}}};",
                    f"tflmt_pad_s8(xd, pb, yd, {zp}, {self.ptr(op.x)}, {self.ptr(op.y)});"]
        if k == "RESHAPE":
            return [f"memmove({self.ptr(op.y)}, {self.ptr(op.x)}, {self.numel(op.y)});"]
        if k in ("STRIDED_SLICE", "CONCATENATION"):
            return self.copy_op(op)
        raise UnsupportedModelError(f"operator {op.index} ({k}): no generated C for this operator; "
                                    "supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MEAN, "
                                    "AVERAGE_POOL_2D, MAX_POOL_2D, PAD, RESHAPE, STRIDED_SLICE, CONCATENATION")

    def copy_op(self, op) -> list[str]:
        """STRIDED_SLICE (unit strides) and CONCATENATION of batch-1 NHWC int8 tensors with one
        quantization (the patch rewrite's tiles): row copies, no arithmetic."""
        k, q = op.kind, io.qparams
        ins = [op.x] if k == "STRIDED_SLICE" else list(op.inputs)
        qy = q(self.t[op.y])
        for t in [*ins, op.y]:
            shape, qp = self.shape(t), q(self.t[t])
            if len(shape) != 4 or shape[0] != 1 or self.t[t].type != io.TensorType.INT8:
                raise UnsupportedModelError(f"operator {op.index} ({k}): only batch-1 rank-4 int8 tensors are "
                                            f"generated, tensor {t} is {shape}")
            if qp is None or qy is None or (qp.per_tensor_scale, qp.per_tensor_zero_point) != \
                    (qy.per_tensor_scale, qy.per_tensor_zero_point):
                raise UnsupportedModelError(f"operator {op.index} ({k}): inputs and output must share one "
                                            "quantization (no requantizing copy is generated)")
        ys = self.shape(op.y)
        if k == "STRIDED_SLICE":
            xs, b = self.shape(op.x), op.begin
            row, run = xs[2] * xs[3], ys[2] * ys[3] if ys[3] == xs[3] else ys[3]
            src = f"{self.ptr(op.x)} + (size_t)({b[1]} + h) * {row} + {b[2] * xs[3] + b[3]}"
            if ys[3] == xs[3]:  # whole pixels: one run per row
                return [f"for (int32_t h = 0; h < {ys[1]}; ++h) memcpy({self.ptr(op.y)} + (size_t)h * {run}, "
                        f"{src}, {run});"]
            return [f"for (int32_t h = 0; h < {ys[1]}; ++h) {{",
                    f"  for (int32_t w = 0; w < {ys[2]}; ++w) memcpy({self.ptr(op.y)} + ((size_t)h * {ys[2]} + w) * "
                    f"{ys[3]}, {src} + (size_t)w * {xs[3]}, {ys[3]});", "}"]
        if op.axis not in (1, 2):
            raise UnsupportedModelError(f"operator {op.index} ({k}): only concatenation along H or W is generated")
        lines, offset = [], 0
        for t in ins:  # along H a part is one block; along W a run of its rows
            ps = self.shape(t)
            if op.axis == 1:
                lines.append(f"memcpy({self.ptr(op.y)} + {offset}, {self.ptr(t)}, {self.numel(t)});")
                offset += self.numel(t)
            else:
                run = ps[2] * ps[3]
                lines.append(f"for (int32_t h = 0; h < {ys[1]}; ++h) memcpy({self.ptr(op.y)} + (size_t)h * "
                             f"{ys[2] * ys[3]} + {offset}, {self.ptr(t)} + (size_t)h * {run}, {run});")
                offset += run
        return lines

    # ------------------------------------------------------------------ training ops
    def grad(self, ins: list[int], k: int) -> tuple[str, str, int]:
        """(data pointer, scale expression or '', next position) of the gradient at input position k."""
        if self.int8:
            return self.ptr(ins[k]), f"*{self.ptr(ins[k + 1], 'float')}", k + 2
        return self.ptr(ins[k], "float"), "", k + 1

    def grad_out(self, outs: list[int]) -> tuple[str, str]:
        if self.int8:
            return self.ptr(outs[0]), self.ptr(outs[1], "float")
        return self.ptr(outs[0], "float"), ""

    def sgd(self, o, residual: str = "NULL") -> str:
        k = self.n_updates
        self.n_updates += 1
        self.update_init.append(int(o.initialStep))
        lr = _cfloat(o.learningRate)
        if o.decaySteps or o.warmupSteps:
            lr = (f"tflmt_scheduled_learning_rate({lr}, {_cfloat(o.finalLearningRate)}, {int(o.decaySteps)}u, "
                  f"{int(o.warmupSteps)}u, steps[{k}])")
        return (f"tflmt_sgd sgd = {{{lr}, {1 if o.rounding == 0 else 0}, {int(o.seed)}u, "
                f"{int(o.opUid)}u, steps[{k}], {residual}}};"), f"++steps[{k}];"

    def training(self, op) -> list[str]:
        n, o, ins, outs = op.name, op.options, op.inputs, op.outputs
        sfx = "_s8" if self.int8 else "_f32"
        chk = "if (st != TFLMT_OK) return st;"
        if n == "TFLMT_CLAMP_MASK":
            return [f"tflmt_clamp_mask_s8({self.ptr(ins[1])}, {self.numel(ins[1])}, {o.actMin}, {o.actMax}, "
                    f"{self.ptr(outs[0], 'uint8_t')});"]
        if n == "TFLMT_MAX_POOL_ARGMAX":
            win = (f"static const tflmt_window s = "
                   f"{self.window(ins[1], outs[0], o.filterH, o.filterW, S.geometry_from(o.geometry))};")
            return [win, f"tflmt_max_pool_argmax_s8(&s, {self.ptr(ins[1])}, {self.ptr(outs[0], 'uint8_t')});"]
        if n == "TFLMT_CHANNEL_MERGE":
            idx = self.new_array("int32_t", "chan", o.channels)
            c = self.shape(ins[1])[-1]
            return [f"tflmt_channel_merge_s8({self.ptr(ins[1])}, {self.ptr(ins[2])}, {self.numel(ins[1]) // c}, {c}, "
                    f"{idx}, {len(o.channels)}, {self.ptr(outs[0])});"]
        if n == "TFLMT_CHANNEL_GATHER":
            idx = self.new_array("int32_t", "chan", o.channels)
            count = len(o.channels)
            return [f"tflmt_channel_gather_s8({self.ptr(ins[1])}, {self.numel(outs[0]) // count}, "
                    f"{self.shape(ins[1])[-1]}, {idx}, {count}, {self.ptr(outs[0])});"]
        if n == "TFLMT_SOFTMAX_CE":
            qa = f"(tflmt_quant){{{_cfloat(o.logitsScale)}, {o.logitsZeroPoint}}}"
            loss = self.ptr(outs[0], "float")
            gd, gs = self.grad_out(outs[1:])
            args = f"label, {self.ptr(ins[1])}, {o.numClasses}, {qa}, {loss}, {gd}" + (f", {gs}" if gs else "")
            lines = [f"st = tflmt_softmax_ce{sfx}({args});", chk, f"*loss = *{loss};"]
            limit = float(o.maxLoss or 0.0)
            guard = f" || *loss > {_cfloat(limit)}" if limit > 0 else ""
            lines.append(f"if (!isfinite(*loss){guard}) return {DIVERGED};")
            return lines
        g, gscale, k = self.grad(ins, 1)
        gargs = f"{g}, {gscale}" if self.int8 else g
        if n == "TFLMT_CLAMP_GRAD":
            od, os_ = self.grad_out(outs)
            lines = [f"tflmt_clamp_grad{sfx}({g}, {self.ptr(ins[k], 'uint8_t')}, {self.numel(outs[0])}, {od});"]
            return lines + ([f"*{os_} = {gscale};"] if self.int8 else [])
        if n == "TFLMT_GRAD_ACCUM":
            g2, g2scale, _ = self.grad(ins, k)
            od, os_ = self.grad_out(outs)
            if self.int8:
                return [f"st = tflmt_grad_accum_s8({g}, {gscale}, {g2}, {g2scale}, {self.numel(outs[0])}, {od}, "
                        f"{os_});", chk]
            return [f"tflmt_grad_accum_f32({g}, {g2}, {self.numel(outs[0])}, {od});"]
        if n == "TFLMT_MEAN_GRAD":
            od, os_ = self.grad_out(outs)
            tail = f", {od}, {os_}" if self.int8 else f", {od}"
            return [f"tflmt_mean_grad{sfx}((tflmt_shape3){self.shape3(outs[0])}, {gargs}{tail});"]
        if n == "TFLMT_PAD_GRAD":
            od, os_ = self.grad_out(outs)
            gs_, xs = self.shape(ins[1]), self.shape(outs[0])
            lines = [f"static const int32_t gd[] = {{{', '.join(map(str, gs_))}}}, "
                     f"pb[] = {{{', '.join(str(int(v)) for v in o.padBefore)}}}, xd[] = {{{', '.join(map(str, xs))}}};",
                     f"st = tflmt_pad_grad({g}, gd, pb, xd, {len(xs)}, {1 if self.int8 else 4}, {od});", chk]
            return lines + ([f"*{os_} = {gscale};"] if self.int8 else [])
        if n == "TFLMT_MAX_POOL_GRAD":
            od, os_ = self.grad_out(outs)
            idx = self.ptr(ins[k], "uint8_t")
            win = (f"static const tflmt_window s = "
                   f"{self.window(outs[0], ins[1], o.filterH, o.filterW, S.geometry_from(o.geometry))};")
            if self.int8:
                return [win, f"st = tflmt_max_pool_grad_s8(&s, {gargs}, {idx}, {od}, {os_}, "
                             f"arena + {self.scratch_offset[op.index]});", chk]
            return [win, f"st = tflmt_max_pool_grad_f32(&s, {g}, {idx}, {od});", chk]
        if n == "TFLMT_AVG_POOL_GRAD":
            od, os_ = self.grad_out(outs)
            win = (f"static const tflmt_window s = "
                   f"{self.window(outs[0], ins[1], o.filterH, o.filterW, S.geometry_from(o.geometry))};")
            if self.int8:
                return [win, f"st = tflmt_avg_pool_grad_s8(&s, {gargs}, {od}, {os_}, "
                             f"arena + {self.scratch_offset[op.index]});", chk]
            return [win, f"tflmt_avg_pool_grad_f32(&s, {g}, {od});"]
        if n.endswith("_INPUT_GRAD"):
            w = self.ptr(ins[k])
            ws = self.new_array("float", "wscale", o.weightScales)
            ns = len(o.weightScales)
            od, os_ = self.grad_out(outs)
            nv = "_naive" if self.naive else ""
            scratch = f"arena + {self.scratch_offset[op.index]}" if op.index in self.scratch_offset else "NULL"
            if n == "TFLMT_FC_INPUT_GRAD":
                wsh = self.shape(ins[k])
                head = f"tflmt_fc_input_grad{sfx}{nv}({wsh[0]}, {wsh[1]}, "
                lines = []
            else:
                wsh = self.shape(ins[k])
                geo = S.geometry_from(o.geometry)
                lines = [f"static const tflmt_window s = {self.window(outs[0], ins[1], wsh[1], wsh[2], geo)};"]
                kind = "conv" if n == "TFLMT_CONV_INPUT_GRAD" else "depthwise"
                head = f"tflmt_{kind}_input_grad{sfx}{nv}(&s, "
            if self.int8:
                return lines + [f"st = {head}{gargs}, {w}, {ws}, {ns}, {od}, {os_}, {scratch});", chk]
            return lines + [f"{head}{g}, {w}, {ws}, {ns}, {od});"]
        if n == "TFLMT_BIAS_UPDATE":
            b = self.ptr(ins[k], "int32_t")
            channels = self.numel(ins[k])
            qas = self.new_array("float", "qas", o.qasScale)
            sgd, bump = self.sgd(o)
            return [sgd, f"st = tflmt_bias_update{sfx}({gargs}, {self.numel(ins[1]) // channels}, {channels}, "
                         f"{qas}, &sgd, {b});", chk, bump]
        if n.endswith("_WEIGHT_UPDATE"):
            x, wt, residual = S.weight_update_inputs(ins, self.int8)
            w = self.ptr(wt)
            wsh = self.shape(wt)
            qas = self.new_array("float", "qas", o.qasScale)
            xq = f"(tflmt_quant){{{_cfloat(o.inputScale)}, {o.inputZeroPoint}}}"
            lines = []
            cmap = "NULL"
            if o.inputChannels is not None and len(o.inputChannels) > 0:
                idx = self.new_array("int32_t", "chan", o.inputChannels)
                lines.append(f"static const tflmt_channel_map cm = {{{idx}, {wsh[-1]}}};")
                cmap = "&cm"
            sgd, bump = self.sgd(o, "NULL" if residual is None else self.ptr(residual))
            lines.append(sgd)
            nv = "_naive" if self.naive else ""
            scratch = f"arena + {self.scratch_offset[op.index]}" if op.index in self.scratch_offset else "NULL"
            common = f"{gargs}, {self.ptr(x)}, {xq}, {qas}, {cmap}, &sgd, {w}"
            if n == "TFLMT_FC_WEIGHT_UPDATE":
                lines.append(f"st = tflmt_fc_weight_update{sfx}{nv}({wsh[0]}, {self.numel(x)}, {common});")
            else:
                geo = S.geometry_from(o.geometry)
                lines.append(f"static const tflmt_window s = {self.window(x, ins[1], wsh[1], wsh[2], geo)};")
                kind = "conv" if n == "TFLMT_CONV_WEIGHT_UPDATE" else "depthwise"
                lines.append(f"st = tflmt_{kind}_weight_update{sfx}{nv}(&s, {common}, {scratch});")
            return lines + [chk, bump]
        raise UnsupportedModelError(f"operator {op.index} ({n}): no generated C for this training operator")

    # ------------------------------------------------------------------ assembly
    def body(self, training: bool) -> list[str]:
        out = []
        for i in range(len(self.sg.operators)):
            if i in self.fwd:
                emit, op, name = self.forward, self.fwd[i], self.fwd[i].kind
            elif training or runs_in_inference(self.train[i]):
                emit, op, name = self.training, self.train[i], self.train[i].name
            else:
                continue
            if i not in self.op_lines:  # the infer and step bodies share the op's constants
                self.op_lines[i] = emit(op)
            lines = self.op_lines[i]
            out.append(f"  {{ /* {i}: {name} */\n    TFLMT_OP_BEGIN({i});\n    " + "\n    ".join(lines) + "\n  }")
        return out

    def program(self) -> CProgram:
        g, nm = self.tm.graph, self.name
        infer = self.body(training=False)  # forward ops only: counts no update op
        step = self.body(training=True)
        n_ops = len(self.sg.operators)
        trained = sorted(self.trainable)
        for ti in trained:
            self.const(ti)
        table = ",\n  ".join(f"{{{self.consts[ti]}, {self.numel(ti) * io.numpy_dtype(self.t[ti].type).itemsize}u, "
                             f"{ti}}}" for ti in trained)
        x_bytes = self.numel(g.inputTensor)
        n_logits = self.numel(g.logitsTensor)
        names = tuple(self.fwd[i].kind if i in self.fwd else self.train[i].name for i in range(n_ops))
        guard = f"TFLMT_GEN_{nm.upper()}_H_"
        header = f"""/* Generated by tflm_train.codegen from a training graph ({self.tm.scheme}, {self.tm.grad_dtype} gradients).
 * Do not edit: regenerate. */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {nm.upper()}_ARENA_BYTES {self.arena}
#define {nm.upper()}_INPUT_BYTES {x_bytes}
#define {nm.upper()}_NUM_CLASSES {n_logits}
#define {nm.upper()}_NUM_OPS {n_ops}
#define {nm.upper()}_NUM_TRAINABLES {len(trained)}
#define {nm.upper()}_DIVERGED {DIVERGED}

typedef struct {{
  void* data;
  uint32_t bytes;
  int32_t tensor; /* index in the .tflite */
}} {nm}_trainable_t;

/* One SGD step on (x, label): 0 on success, a tflmt_status, or {nm.upper()}_DIVERGED (nothing updated). */
int {nm}_step(const int8_t* x, int32_t label, float* loss);
/* The forward pass only: the int8 logits. */
void {nm}_infer(const int8_t* x, int8_t* logits);
extern const {nm}_trainable_t {nm}_trainables[{nm.upper()}_NUM_TRAINABLES];
/* Operator names, by index in the .tflite. */
extern const char* const {nm}_op_names[{nm.upper()}_NUM_OPS];

#ifdef __cplusplus
}}
#endif
#endif
"""
        ops_names = ", ".join(f'"{s}"' for s in names)
        source = f"""/* Generated by tflm_train.codegen. Do not edit: regenerate. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "tflmt/core.h"
#include "tflmt/forward.h"
#include "{nm}.h"

#ifndef TFLMT_OP_BEGIN
#define TFLMT_OP_BEGIN(index) ((void)0)
#endif

static uint8_t arena[{max(self.arena, 16)}] __attribute__((aligned(16)));
static uint32_t steps[{max(self.n_updates, 1)}] = {{{', '.join(map(str, self.update_init)) or '0'}}};

{''.join(self.decls)}
const {nm}_trainable_t {nm}_trainables[{nm.upper()}_NUM_TRAINABLES] = {{
  {table}}};
const char* const {nm}_op_names[{nm.upper()}_NUM_OPS] = {{{ops_names}}};

void {nm}_infer(const int8_t* x, int8_t* logits) {{
  memcpy({self.ptr(g.inputTensor)}, x, {x_bytes});
{chr(10).join(infer)}
  TFLMT_OP_BEGIN({n_ops});
  memcpy(logits, {self.ptr(g.logitsTensor)}, {n_logits});
}}

int {nm}_step(const int8_t* x, int32_t label, float* loss) {{
  tflmt_status st = TFLMT_OK;
  (void)st;
  if (label < 0 || label >= {n_logits}) return TFLMT_BAD_ARG;
  memcpy({self.ptr(g.inputTensor)}, x, {x_bytes});
  *{self.ptr(g.labelTensor, 'int32_t')} = label;
{chr(10).join(step)}
  TFLMT_OP_BEGIN({n_ops});
  return TFLMT_OK;
}}
"""
        tb = sum(self.numel(ti) * io.numpy_dtype(self.t[ti].type).itemsize for ti in trained)
        return CProgram(nm, header, source, self.arena, names, tb)


def generate(tm: TrainingModel, name: str = "model", naive: bool = False) -> CProgram:
    """C source and header running `tm`'s training step with kernels/core.

    naive: the benchmark baseline, the plain loop nests (`*_naive`) for the forward convolutions
    and the hot backward ops (weight updates, input gradients); the other ops are shared.
    """
    if not name.isidentifier():
        raise ValueError(f"name {name!r} is not a C identifier")
    return _Emitter(tm, name, naive).program()
