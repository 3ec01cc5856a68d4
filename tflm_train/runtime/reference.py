"""The reference backend: executes every op of the training graph with the numpy spec."""
from __future__ import annotations

import numpy as np

from .. import checkpoint as CK
from ..errors import DivergenceError
from .. import schema as S
from .. import tflite_io as io
from .._generated import tflm_train_generated as G
from ..model import UPDATE_OPS, TrainingModel, runs_in_inference
from ..reference import training as R
from ..reference.forward_graph import ForwardRunner
from . import export as E

f32 = np.float32


class ReferenceBackend:
    def __init__(self, tm: TrainingModel):
        self.tm = tm
        self.model = io.read_model(tm.to_bytes())
        self.t = self.model.subgraphs[0].tensors
        g = tm.graph
        self.int8 = g.gradDtype == G.GradDType.INT8
        self.params = {t.tensor: io.buffer_array(self.model, self.t[t.tensor]) for t in g.trainables or []}
        self.fwd = ForwardRunner(self.model, tm.forward_ops, self.params)
        self.fwd_by_index = {op.index: (op, p) for op, p in zip(tm.forward_ops, self.fwd._prep)}
        self.train_by_index = {op.index: op for op in tm.train_ops}
        self.steps = {op.index: int(op.options.initialStep) for op in tm.train_ops if op.name in UPDATE_OPS}
        self.n_ops = len(self.model.subgraphs[0].operators)

    # ------------------------------------------------------------- graph walk
    def _run(self, x: np.ndarray, label: int, mode: str):
        """mode: 'infer' (builtins only), 'train' (updates applied), 'grad' (gradients collected)."""
        g = self.tm.graph
        vals = {g.inputTensor: x, g.labelTensor: np.array([label], np.int32)}
        grads: dict[int, np.ndarray] = {}
        loss = None
        for i in range(self.n_ops):
            if i in self.fwd_by_index:
                op, prep = self.fwd_by_index[i]
                vals[op.y] = self.fwd.run_op(op, prep, vals)
            elif mode != "infer" or runs_in_inference(self.train_by_index[i]):
                out = self._train_op(self.train_by_index[i], vals, mode, grads)
                if out is not None:
                    loss = out
        return vals, loss, grads

    def _grad_in(self, vals, ins: list[int], k: int):
        """The gradient value starting at input position k, and the next position."""
        if self.int8:
            return R.QGrad(vals[ins[k]], f32(vals[ins[k + 1]][0])), k + 2
        return vals[ins[k]], k + 1

    def _grad_out(self, vals, outs: list[int], v) -> None:
        if self.int8:
            vals[outs[0]] = v.q.reshape(io.shape(self.t[outs[0]]))
            vals[outs[1]] = np.array([v.scale], f32)
        else:
            vals[outs[0]] = np.asarray(v, f32).reshape(io.shape(self.t[outs[0]]))

    def _shaped(self, gv, shape):
        if isinstance(gv, R.QGrad):
            return R.QGrad(gv.q.reshape(shape), gv.scale)
        return gv.reshape(shape)

    def _param(self, ti: int) -> np.ndarray:
        return self.params[ti] if ti in self.params else self.fwd.const(ti)

    def _train_op(self, op, vals, mode, grads):
        o, ins, outs, n = op.options, op.inputs, op.outputs, op.name
        label = int(vals[ins[0]][0])
        if n == "TFLMT_CHANNEL_MERGE":
            vals[outs[0]] = R.channel_merge(self._param(ins[1]), self._param(ins[2]), o.channels)
            return None
        if n == "TFLMT_CHANNEL_GATHER":
            vals[outs[0]] = R.channel_gather(vals[ins[1]], o.channels, io.shape(self.t[outs[0]]))
            return None
        if n == "TFLMT_MAX_POOL_ARGMAX":
            vals[outs[0]] = R.max_pool_argmax(vals[ins[1]], o.filterH, o.filterW, S.geometry_from(o.geometry),
                                              io.shape(self.t[outs[0]]))
            return None
        if n == "TFLMT_CLAMP_MASK":
            vals[outs[0]] = R.clamp_mask(vals[ins[1]], o.actMin, o.actMax)
            return None
        if n == "TFLMT_SOFTMAX_CE":
            loss, dl = R.softmax_ce(label, vals[ins[1]], o.logitsScale, o.logitsZeroPoint)
            limit = float(o.maxLoss or 0.0)
            if mode == "train" and (not np.isfinite(loss) or (limit > 0 and loss > limit)):
                raise DivergenceError(f"divergence: loss {float(loss):.4f} above the limit {limit:.4f}; "
                                      "no update applied")
            vals[outs[0]] = np.array([loss], f32)
            self._grad_out(vals, outs[1:], R.quantize_grad(dl) if self.int8 else dl)
            return loss
        gv, k = self._grad_in(vals, ins, 1)
        if n == "TFLMT_CLAMP_GRAD":
            self._grad_out(vals, outs, R.clamp_grad(gv, vals[ins[k]]))
        elif n == "TFLMT_GRAD_ACCUM":
            g2, _ = self._grad_in(vals, ins, k)
            shape = (gv.q if self.int8 else gv).shape
            self._grad_out(vals, outs, R.grad_accum(gv, self._shaped(g2, shape)))
        elif n.endswith("_INPUT_GRAD"):
            w = vals[ins[k]] if ins[k] in vals else self._param(ins[k])  # merged (TFLMT_CHANNEL_MERGE) or whole
            xs = io.shape(self.t[outs[0]])
            scales = np.asarray(o.weightScales, f32)
            geo = S.geometry_from(o.geometry)
            if n == "TFLMT_CONV_INPUT_GRAD":
                dx = R.conv_input_grad(gv, w, scales, geo, xs)
            elif n == "TFLMT_DW_INPUT_GRAD":
                dx = R.depthwise_input_grad(gv, w, scales, geo, xs)
            else:
                dx = R.fc_input_grad(gv, w, scales, xs)
            self._grad_out(vals, outs, dx)
        elif n == "TFLMT_AVG_POOL_GRAD":
            self._grad_out(vals, outs, R.avg_pool_grad(gv, o.filterH, o.filterW, S.geometry_from(o.geometry),
                                                        io.shape(self.t[outs[0]])))
        elif n == "TFLMT_MAX_POOL_GRAD":
            self._grad_out(vals, outs, R.max_pool_grad(gv, vals[ins[k]], o.filterW, S.geometry_from(o.geometry),
                                                        io.shape(self.t[outs[0]])))
        elif n == "TFLMT_MEAN_GRAD":
            self._grad_out(vals, outs, R.mean_grad(gv, io.shape(self.t[outs[0]])))
        elif n == "TFLMT_PAD_GRAD":
            self._grad_out(vals, outs, R.pad_grad(gv, np.asarray(o.padBefore), io.shape(self.t[outs[0]])))
        elif n == "TFLMT_BIAS_UPDATE":
            b = ins[k]
            db = R.bias_grad(gv)
            self._update(op, b, db, 0, -(2**31), 2**31 - 1, mode, grads)
        elif n.endswith("_WEIGHT_UPDATE"):
            xi, w, residual = S.weight_update_inputs(ins, self.int8)
            x = vals[xi]
            wshape = io.shape(self.t[w])
            channels = list(o.inputChannels if o.inputChannels is not None else [])
            if channels:  # x holds only the trained channels (TFLMT_CHANNEL_GATHER)
                x = R.ungather(x, channels, wshape[-1], o.inputZeroPoint)
            if n == "TFLMT_FC_WEIGHT_UPDATE":
                dw = R.fc_weight_grad(gv, x, o.inputZeroPoint, o.inputScale)
                axis = 0
            else:
                dw_ = n == "TFLMT_DW_WEIGHT_UPDATE"
                gs = self._shaped(gv, (1,) + tuple(io.shape(self.t[ins[1]]))[1:])
                dw = R.conv_weight_grad(gs, x, o.inputZeroPoint, o.inputScale, wshape, S.geometry_from(o.geometry), dw_)
                axis = 3 if dw_ else 0
            self._update(op, w, dw.reshape(wshape), axis, R.WEIGHT_LO, R.WEIGHT_HI, mode, grads, channels=channels,
                         residual=residual)
        else:
            raise AssertionError(n)
        return None

    def _update(self, op, ti, grad, axis, lo, hi, mode, grads, channels=(), residual=None):
        if mode == "grad":
            grads[ti] = grad.astype(f32)
            return
        o = op.options
        mask = None
        if len(channels):
            mask = np.zeros(grad.shape, bool)
            mask[..., list(channels)] = True
        stochastic = o.rounding == G.RoundingMode.STOCHASTIC
        qas = np.asarray(o.qasScale, f32)
        lr = R.scheduled_learning_rate(o.learningRate, o.finalLearningRate, o.decaySteps, self.steps[op.index],
                                       o.warmupSteps)
        if residual is not None:
            self.params[ti][...], self.params[residual][...] = R.sgd_step16(
                self.params[ti], self.params[residual], grad, qas, axis, lr, stochastic, o.seed, o.opUid,
                self.steps[op.index], mask)
        else:
            self.params[ti][...] = R.sgd_step(self.params[ti], grad, qas, axis, lr, stochastic, o.seed,
                                              o.opUid, self.steps[op.index], lo, hi, mask)
        self.steps[op.index] += 1

    # ------------------------------------------------------------- API
    def train_step(self, x: np.ndarray, label: int) -> float:
        _, loss, _ = self._run(x, label, "train")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        vals, _, _ = self._run(x, -1, "infer")
        g = self.tm.graph
        q = io.qparams(self.t[g.logitsTensor])
        from ..reference.forward import dequantize
        return dequantize(vals[g.logitsTensor], q.per_tensor_scale, q.per_tensor_zero_point).ravel()

    def gradients(self, x: np.ndarray, label: int) -> dict[str, np.ndarray]:
        _, _, grads = self._run(x, label, "grad")
        return {io.tensor_name(self.t[ti]): v for ti, v in grads.items()}

    def export(self) -> bytes:
        return E.bake(self.tm, self.params, self.steps)

    def save_checkpoint(self, image: bytearray, slot_bytes: int) -> int:
        entries = [CK.Entry(t.tensor, self.steps[t.updateOp], self.params[t.tensor].tobytes())
                   for t in self.tm.graph.trainables or []]
        return CK.save(image, slot_bytes, entries)

    def load_checkpoint(self, image: bytearray, slot_bytes: int) -> int:
        trainables = list(self.tm.graph.trainables or [])
        seq, entries = CK.load(image, slot_bytes, [(t.tensor, self.params[t.tensor].nbytes) for t in trainables])
        for t, e in zip(trainables, entries):
            p = self.params[t.tensor]
            p[...] = np.frombuffer(e.data, p.dtype).reshape(p.shape)
            self.steps[t.updateOp] = e.step
        return seq
