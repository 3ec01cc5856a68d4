"""The baseline training step of bench/vs_stock.py: float32, full update, as stock TensorFlow Lite trains.

TensorFlow's documented on-device training model (a tf.Module with `train`/`infer`
signatures, converted with tf.lite.TFLiteConverter) needs SELECT_TF_OPS for any conv net:
its gradients are Conv2DBackpropFilter, DepthwiseConv2dNative backprops and Relu6Grad,
and neither the LiteRT wheel nor TFLM has the Flex delegate
(../shared/reference/stock-tflite-training/README.md). The runnable stand-in here is the
same training step with each gradient written out in TFLite *builtin* ops:

    clamp (ReLU/ReLU6) grad   GREATER/LESS + LOGICAL_AND + CAST + MUL
    conv dX                   TRANSPOSE_CONV
    conv dW                   per tap: STRIDED_SLICE + BATCH_MATMUL, then PACK
    depthwise dX              zero-upsampling (PACK/RESHAPE), PAD, REVERSE_V2, DEPTHWISE_CONV_2D
    depthwise dW              per tap: STRIDED_SLICE + MUL + SUM
    mean grad                 BROADCAST_TO
    loss                      SOFTMAX / LOG_SOFTMAX, GATHER of a constant identity row
    SGD                       READ_VARIABLE, MUL, SUB, ASSIGN_VARIABLE

The model is the *same* network as the int8 one tflm-train trains: `float_program` reads
the int8 .tflite's operators and dequantizes its weights, so every runtime trains the
same function from the same starting point. `check_gradients` holds the hand-written
gradients against tf.GradientTape.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tflm_train import tflite_io as io
from tflm_train.graph import parse_forward_ops


@dataclass
class Layer:
    kind: str                 # conv, dw, fc, add, mean, reshape, pad
    x: int
    y: int
    x2: int = -1              # add's second input
    w: np.ndarray | None = None   # conv: HWIO, dw: HWC1, fc: [in, out]
    b: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    act: int = 0              # 0 none, 1 relu, 3 relu6
    x_shape: tuple[int, ...] = ()
    y_shape: tuple[int, ...] = ()
    paddings: list = field(default_factory=list)


@dataclass
class Program:
    layers: list[Layer]
    input_tensor: int
    input_shape: tuple[int, ...]
    logits: int
    classes: int


def float_program(tflite: bytes) -> Program:
    """The float32 network of an int8 .tflite: its operators with dequantized weights."""
    m = io.read_model(tflite)
    sg = m.subgraphs[0]
    t = sg.tensors
    ops = parse_forward_ops(m)
    alias: dict[int, int] = {}
    layers: list[Layer] = []

    def src(ti: int) -> int:
        return alias.get(ti, ti)

    def deq(ti: int, per_channel_axis: int) -> np.ndarray:
        q = io.qparams(t[ti])
        a = io.buffer_array(m, t[ti]).astype(np.float32)
        shape = [1] * a.ndim
        shape[per_channel_axis] = -1
        return a * q.scale.reshape(shape if len(q.scale) > 1 else [1] * a.ndim)

    def bias(op, w_ti: int) -> np.ndarray | None:
        if op.bias < 0:
            return None
        sx = io.qparams(t[op.x]).per_tensor_scale
        sw = io.qparams(t[w_ti]).scale
        return io.buffer_array(m, t[op.bias]).astype(np.float64) * sx * sw.astype(np.float64)

    first_input = int(sg.inputs[0])
    logits = -1
    for op in ops:
        k = op.kind
        xs, ys = io.shape(t[op.x]), io.shape(t[op.y])
        if k in ("QUANTIZE", "DEQUANTIZE", "SOFTMAX"):
            alias[op.y] = src(op.x)
            continue
        if k in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            kh, kw = io.shape(t[op.weight])[1:3]
            g = op.geometry
            valid = g.pad_top == 0 and g.pad_left == 0 and ys[1] == (xs[1] - kh) // g.stride_h + 1 \
                and ys[2] == (xs[2] - kw) // g.stride_w + 1
            if k == "CONV_2D":
                w = deq(op.weight, 0).transpose(1, 2, 3, 0)  # OHWI -> HWIO
            else:
                w = deq(op.weight, 3).transpose(1, 2, 3, 0)  # 1HWC -> HWC1
            layers.append(Layer("conv" if k == "CONV_2D" else "dw", src(op.x), op.y, w=w,
                                b=bias(op, op.weight), stride=(g.stride_h, g.stride_w),
                                padding="VALID" if valid else "SAME", act=op.activation, x_shape=xs, y_shape=ys))
        elif k == "FULLY_CONNECTED":
            layers.append(Layer("fc", src(op.x), op.y, w=deq(op.weight, 0).T.copy(), b=bias(op, op.weight),
                                act=op.activation, x_shape=xs, y_shape=ys))
        elif k == "ADD":
            layers.append(Layer("add", src(op.inputs[0]), op.y, x2=src(op.inputs[1]), act=op.activation,
                                x_shape=xs, y_shape=ys))
        elif k == "MEAN" or (k == "AVERAGE_POOL_2D" and op.filter_hw == tuple(xs[1:3])):
            layers.append(Layer("mean", src(op.x), op.y, x_shape=xs, y_shape=ys))
        elif k == "RESHAPE":
            layers.append(Layer("reshape", src(op.x), op.y, x_shape=xs, y_shape=ys))
        elif k == "PAD":
            layers.append(Layer("pad", src(op.x), op.y, paddings=np.asarray(op.paddings).tolist(),
                                x_shape=xs, y_shape=ys))
        else:
            raise ValueError(f"operator {op.index} ({k}) has no float baseline here")
        logits = op.y
    return Program(layers, first_input, io.shape(t[first_input]), logits, int(io.shape(t[logits])[-1]))


# ----------------------------------------------------------------------------- TensorFlow


def _act(tf, z, act):
    if act == 1:
        return tf.nn.relu(z)
    if act == 3:
        return tf.nn.relu6(z)
    if act == 0:
        return z
    raise ValueError(f"activation {act}")


def _act_grad(tf, g, y, act):
    if act == 0:
        return g
    inside = tf.greater(y, 0.0) if act == 1 else tf.logical_and(tf.greater(y, 0.0), tf.less(y, 6.0))
    return g * tf.cast(inside, tf.float32)


def _pads(in_size: int, out_size: int, k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "VALID":
        return 0, max(0, (out_size - 1) * s + k - in_size)
    total = max((out_size - 1) * s + k - in_size, 0)
    return total // 2, total - total // 2


def _upsample(tf, g, s: int, axis: int):
    """Inserts s-1 zeros between elements along axis 1 or 2 (a strided conv's gradient grid)."""
    if s == 1:
        return g
    shape = g.shape.as_list()
    parts = [g] + [tf.zeros_like(g)] * (s - 1)
    st = tf.stack(parts, axis=axis + 1)
    shape[axis] *= s
    up = tf.reshape(st, shape)
    keep = (g.shape[axis] - 1) * s + 1
    return up[:, :keep] if axis == 1 else up[:, :, :keep]


class StockModel:
    """Variables and the float forward/backward of a Program, in TensorFlow ops."""

    def __init__(self, prog: Program, learning_rate: float = 0.01):
        import tensorflow as tf

        self.tf, self.prog, self.lr = tf, prog, learning_rate
        self.vars: list = []
        self.w, self.b = {}, {}
        for i, L in enumerate(prog.layers):
            if L.w is not None:
                self.w[i] = tf.Variable(L.w.astype(np.float32), name=f"w{i}")
                self.vars.append(self.w[i])
            if L.b is not None:
                self.b[i] = tf.Variable(L.b.astype(np.float32), name=f"b{i}")
                self.vars.append(self.b[i])

    def forward(self, x):
        tf = self.tf
        vals = {self.prog.input_tensor: x}
        for i, L in enumerate(self.prog.layers):
            a = vals[L.x]
            if L.kind == "conv":
                z = tf.nn.conv2d(a, self.w[i], [1, *L.stride, 1], L.padding)
            elif L.kind == "dw":
                z = tf.nn.depthwise_conv2d(a, self.w[i], [1, *L.stride, 1], L.padding)
            elif L.kind == "fc":
                z = tf.matmul(tf.reshape(a, [1, -1]), self.w[i])
            elif L.kind == "add":
                z = a + vals[L.x2]
            elif L.kind == "mean":
                z = tf.reshape(tf.reduce_mean(a, axis=[1, 2]), L.y_shape)
            elif L.kind == "reshape":
                z = tf.reshape(a, L.y_shape)
            else:
                z = tf.pad(a, L.paddings)
            if i in self.b:
                z = z + self.b[i]
            vals[L.y] = _act(tf, z, L.act)
        return vals

    def loss_and_dlogits(self, logits, label):
        tf = self.tf
        z = tf.reshape(logits, [1, -1])
        # A row of a constant identity (GATHER): the converter would fuse an EQUAL against a range
        # into ONE_HOT, which TFLM does not have.
        onehot = tf.gather(tf.constant(np.eye(self.prog.classes, dtype=np.float32)), label)
        loss = -tf.reduce_sum(onehot * tf.nn.log_softmax(z))
        return loss, tf.reshape(tf.nn.softmax(z) - onehot, logits.shape)

    def backward(self, vals, dlogits) -> dict:
        """Gradients of every variable (by id) with builtin-lowerable ops."""
        tf = self.tf
        grads_t = {self.prog.logits: dlogits}
        out = {}
        for i in reversed(range(len(self.prog.layers))):
            L = self.prog.layers[i]
            if L.y not in grads_t:
                continue
            g = _act_grad(tf, grads_t.pop(L.y), vals[L.y], L.act)
            x = vals[L.x]
            if i in self.b:
                out[id(self.b[i])] = tf.reduce_sum(g, axis=list(range(len(L.y_shape) - 1)))
            if L.kind == "conv":
                out[id(self.w[i])] = self._conv_dw(x, g, L)
                dx = tf.nn.conv2d_transpose(g, self.w[i], L.x_shape, [1, *L.stride, 1], L.padding)
            elif L.kind == "dw":
                out[id(self.w[i])] = self._dw_dw(x, g, L)
                dx = self._dw_dx(g, self.w[i], L)
            elif L.kind == "fc":
                xf = tf.reshape(x, [1, -1])
                gf = tf.reshape(g, [1, -1])
                out[id(self.w[i])] = tf.matmul(xf, gf, transpose_a=True)
                dx = tf.reshape(tf.matmul(gf, self.w[i], transpose_b=True), L.x_shape)
            elif L.kind == "add":
                self._accum(grads_t, L.x2, g)
                dx = g
            elif L.kind == "mean":
                hw = L.x_shape[1] * L.x_shape[2]
                dx = tf.broadcast_to(tf.reshape(g, [1, 1, 1, -1]) / float(hw), L.x_shape)
            elif L.kind == "reshape":
                dx = tf.reshape(g, L.x_shape)
            else:
                p = L.paddings
                dx = tf.slice(g, [b for b, _ in p], list(L.x_shape))
            if L.x != self.prog.input_tensor:
                self._accum(grads_t, L.x, dx)
        return out

    @staticmethod
    def _accum(grads, t, g):
        grads[t] = grads[t] + g if t in grads else g

    def _taps(self, x, L, kh, kw):
        """x padded as the forward conv saw it, and the [1, OH, OW, C] input window of each tap."""
        tf = self.tf
        oh, ow = L.y_shape[1], L.y_shape[2]
        ph = _pads(L.x_shape[1], oh, kh, L.stride[0], L.padding)
        pw = _pads(L.x_shape[2], ow, kw, L.stride[1], L.padding)
        xp = tf.pad(x, [[0, 0], list(ph), list(pw), [0, 0]])
        sh, sw = L.stride
        for i in range(kh):
            for j in range(kw):
                yield i, j, xp[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]

    def _conv_dw(self, x, g, L):
        tf = self.tf
        kh, kw, c, o = L.w.shape
        gp = tf.reshape(g, [-1, o])
        taps = [tf.matmul(tf.reshape(xs, [-1, c]), gp, transpose_a=True) for _, _, xs in self._taps(x, L, kh, kw)]
        return tf.reshape(tf.stack(taps), [kh, kw, c, o])

    def _dw_dw(self, x, g, L):
        tf = self.tf
        kh, kw, c, _ = L.w.shape
        taps = [tf.reduce_sum(xs * g, axis=[0, 1, 2]) for _, _, xs in self._taps(x, L, kh, kw)]
        return tf.reshape(tf.stack(taps), [kh, kw, c, 1])

    def _dw_dx(self, g, w, L):
        """Full correlation of the zero-upsampled gradient with the flipped kernel, cropped to x."""
        tf = self.tf
        kh, kw = L.w.shape[:2]
        u = _upsample(tf, _upsample(tf, g, L.stride[0], 1), L.stride[1], 2)
        pt, _ = _pads(L.x_shape[1], L.y_shape[1], kh, L.stride[0], L.padding)
        pl, _ = _pads(L.x_shape[2], L.y_shape[2], kw, L.stride[1], L.padding)
        need_h, need_w = pt + L.x_shape[1] + kh - 1, pl + L.x_shape[2] + kw - 1
        bottom, right = need_h - (kh - 1) - u.shape[1], need_w - (kw - 1) - u.shape[2]
        u = tf.pad(u, [[0, 0], [kh - 1, max(bottom, 0)], [kw - 1, max(right, 0)], [0, 0]])
        full = tf.nn.depthwise_conv2d(u, tf.reverse(w, axis=[0, 1]), [1, 1, 1, 1], "VALID")
        return full[:, pt:pt + L.x_shape[1], pl:pl + L.x_shape[2], :]

    def sgd_step(self, x, label):
        vals = self.forward(x)
        loss, dl = self.loss_and_dlogits(vals[self.prog.logits], label)
        grads = self.backward(vals, dl)
        for v in self.vars:
            v.assign_sub(self.lr * grads[id(v)])
        return loss


def check_gradients(model: StockModel, x: np.ndarray, label: int) -> float:
    """Max |hand-written - GradientTape| over all variables, relative to the largest gradient."""
    tf = model.tf
    xt, yt = tf.constant(x), tf.constant([label], tf.int32)
    with tf.GradientTape() as tape:
        vals = model.forward(xt)
        loss, dl = model.loss_and_dlogits(vals[model.prog.logits], yt)
    auto = tape.gradient(loss, model.vars)
    mine = model.backward(model.forward(xt), dl)
    scale = max(float(np.max(np.abs(a.numpy()))) for a in auto)
    return max(float(np.max(np.abs(mine[id(v)].numpy() - a.numpy()))) for v, a in zip(model.vars, auto)) / scale


def training_tflite(prog: Program, learning_rate: float = 0.01, with_infer: bool = True) -> bytes:
    """The stand-in .tflite: a tf.Module with train (and infer) signatures, TFLITE_BUILTINS only."""
    import tempfile

    import tensorflow as tf

    model = StockModel(prog, learning_rate)
    spec_x = tf.TensorSpec(prog.input_shape, tf.float32, name="x")
    spec_y = tf.TensorSpec([1], tf.int32, name="y")

    class TrainModule(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = model.vars

        @tf.function(input_signature=[spec_x, spec_y])
        def train(self, x, y):
            return {"loss": model.sgd_step(x, y)}

        @tf.function(input_signature=[spec_x])
        def infer(self, x):
            return {"logits": model.forward(x)[prog.logits]}

    m = TrainModule()
    sigs = {"train": m.train.get_concrete_function()}
    if with_infer:
        sigs["infer"] = m.infer.get_concrete_function()
    with tempfile.TemporaryDirectory() as d:
        tf.saved_model.save(m, d, signatures=sigs)
        conv = tf.lite.TFLiteConverter.from_saved_model(d, signature_keys=list(sigs))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return conv.convert()
