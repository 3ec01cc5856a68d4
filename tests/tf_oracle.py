"""TensorFlow autodiff of the dequantized graph with straight-through fake quantization.

The independent check of our gradients: TF re-executes a training model's forward
ops in float, with every trainable parameter a tf.Variable holding its real value
(in the TFLite layout), and every int8 activation fake-quantized (rounding passes
the gradient straight through, the clamp does not).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tflm_train import quant as Q
from tflm_train import tflite_io as io


def _fake_quant(a, q: io.QParams, act_min: int, act_max: int, exact=None, clamps: bool = True):
    """Forward: the int8 graph's own value (`exact`, dequantized) or TF's rounding; backward: clamp mask."""
    s, z = q.per_tensor_scale, q.per_tensor_zero_point
    if exact is None:
        lo, hi = s * (act_min - z), s * (act_max - z)
        clipped = tf.clip_by_value(a, lo, hi)
        quantized = s * (tf.clip_by_value(tf.round(a / s) + z, act_min, act_max) - z)
        return clipped + tf.stop_gradient(quantized - clipped)
    # The STE convention of the spec: an int8 output strictly inside the clamp range passes
    # the gradient (from the output alone, y == act_min cannot tell a clamp from rounding).
    e = exact.reshape(a.shape)
    quantized = tf.constant(s * (e.astype(np.float32) - z), tf.float32)
    inside = tf.constant(((e > act_min) & (e < act_max) | (not clamps)).astype(np.float32))
    return quantized + (a - tf.stop_gradient(a)) * inside


def _logits_quant(a, q: io.QParams, exact):
    """The logits' fake quantization: forward the int8 graph's value; backward, a logit at -128 or 127
    passes only a gradient that moves it back inside (the spec's softmax_ce; no clamp mask there)."""
    s, z = q.per_tensor_scale, q.per_tensor_zero_point
    e = exact.reshape(a.shape)
    at_max = tf.constant(e == 127)
    at_min = tf.constant(e == -128)
    value = tf.constant(s * (e.astype(np.float32) - z), tf.float32)

    @tf.custom_gradient
    def fq(x):
        def grad(dy):
            outward = (at_max & (dy < 0)) | (at_min & (dy > 0))
            return tf.where(outward, tf.zeros_like(dy), dy)
        return value, grad

    return fq(a)


def _spatial_pad(x, geo, kh, kw, oh, ow):
    h, w = int(x.shape[1]), int(x.shape[2])
    need_h = (oh - 1) * geo.stride_h + (kh - 1) * geo.dilation_h + 1
    need_w = (ow - 1) * geo.stride_w + (kw - 1) * geo.dilation_w + 1
    x = tf.pad(x, [[0, 0], [geo.pad_top, max(0, need_h - h - geo.pad_top)],
                   [geo.pad_left, max(0, need_w - w - geo.pad_left)], [0, 0]])
    return x[:, :need_h, :need_w, :]


def gradients(tm, x_q: np.ndarray, label: int, exact_forward: bool = True) -> dict[str, np.ndarray]:
    """exact_forward: the forward values are those of the int8 graph (the dequantized graph)."""
    model, g = tm.model, tm.graph
    exact = {}
    if exact_forward:
        from tflm_train.runtime.reference import ReferenceBackend
        exact, _, _ = ReferenceBackend(tm)._run(x_q, -1, "infer")
    t = model.subgraphs[0].tensors
    trainable = {tr.tensor for tr in g.trainables}
    # A channel-sparse layer's forward op reads merged weights (TFLMT_CHANNEL_MERGE output): the frozen
    # tensor with the trained slice's channels in place, built here from the slice variable.
    merged = {op.outputs[0]: (op.inputs[1], op.inputs[2], [int(c) for c in op.options.channels])
              for op in tm.train_ops if op.name == "TFLMT_CHANNEL_MERGE"}

    def real_const(ti):
        arr = io.buffer_array(model, t[ti])
        q = io.qparams(t[ti])
        shape = [1] * arr.ndim
        if len(q.scale) > 1:
            shape[q.axis] = -1
        return (arr.astype(np.float64) * q.scale.astype(np.float64).reshape(shape)).astype(np.float32)

    variables = {ti: tf.Variable(real_const(ti)) for ti in trainable}

    def param(ti):
        if ti in merged:
            base, piece, channels = merged[ti]
            n, k = io.shape(t[base])[-1], len(channels)
            where = {c: j for j, c in enumerate(channels)}
            order = [where[c] if c in where else k + c for c in range(n)]
            return tf.gather(tf.concat([param(piece), param(base)], axis=-1), order, axis=-1)
        return variables[ti] if ti in variables else tf.constant(real_const(ti))

    qin = io.qparams(t[g.inputTensor])
    with tf.GradientTape() as tape:
        vals = {}
        if t[g.inputTensor].type == io.TensorType.INT8:
            vals[g.inputTensor] = tf.constant(
                (qin.per_tensor_scale * (x_q.astype(np.float32) - qin.per_tensor_zero_point)).astype(np.float32))
        else:
            vals[g.inputTensor] = tf.constant(x_q.astype(np.float32))
        for op in tm.forward_ops:
            yq = io.qparams(t[op.y])
            oshape = io.shape(t[op.y])
            k = op.kind
            if k == "QUANTIZE":
                vals[op.y] = _fake_quant(vals[op.x], yq, -128, 127, exact.get(op.y))
                continue
            if k in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = param(op.weight)
                kh, kw = int(w.shape[1]), int(w.shape[2])
                xp = _spatial_pad(vals[op.x], op.geometry, kh, kw, oshape[1], oshape[2])
                strides = [1, op.geometry.stride_h, op.geometry.stride_w, 1]
                dil = [op.geometry.dilation_h, op.geometry.dilation_w]
                if k == "CONV_2D":
                    a = tf.nn.conv2d(xp, tf.transpose(w, [1, 2, 3, 0]), strides, "VALID", dilations=dil)
                else:
                    a = tf.nn.depthwise_conv2d(xp, tf.transpose(w, [1, 2, 3, 0]), strides, "VALID", dilations=dil)
                if op.bias >= 0:
                    a = a + param(op.bias)
            elif k == "FULLY_CONNECTED":
                w = param(op.weight)
                a = tf.matmul(tf.reshape(vals[op.x], [1, -1]), w, transpose_b=True)
                if op.bias >= 0:
                    a = a + param(op.bias)
            elif k == "ADD":
                a = vals[op.inputs[0]] + vals[op.inputs[1]]
            elif k == "AVERAGE_POOL_2D":
                pad = "SAME" if op.geometry.pad_top or op.geometry.pad_left else "VALID"
                a = tf.nn.avg_pool2d(vals[op.x], list(op.filter_hw), [op.geometry.stride_h, op.geometry.stride_w], pad)
            elif k == "MAX_POOL_2D":  # padding takes no part in TF's SAME either
                (fh, fw), geo, (h, w) = op.filter_hw, op.geometry, io.shape(t[op.x])[1:3]
                valid = ((h - fh) // geo.stride_h + 1, (w - fw) // geo.stride_w + 1) == tuple(oshape[1:3])
                pad = "VALID" if valid and not (geo.pad_top or geo.pad_left) else "SAME"
                a = tf.nn.max_pool2d(vals[op.x], [fh, fw], [geo.stride_h, geo.stride_w], pad)
            elif k == "MEAN":
                a = tf.reduce_mean(vals[op.x], axis=[1, 2], keepdims=True)
            elif k == "RESHAPE":
                vals[op.y] = tf.reshape(vals[op.x], oshape)
                continue
            elif k == "PAD":
                vals[op.y] = tf.pad(vals[op.x], op.paddings.tolist())
                continue
            else:
                raise NotImplementedError(k)
            lo, hi = Q.activation_range(op.activation, yq.per_tensor_scale, yq.per_tensor_zero_point)
            # An average pool without activation keeps its input's quantization: it never clamps.
            clamps = not (k == "AVERAGE_POOL_2D" and op.activation == 0)
            if op.y == g.logitsTensor and (lo, hi) == (-128, 127) and exact.get(op.y) is not None:
                vals[op.y] = tf.reshape(_logits_quant(tf.reshape(a, oshape), yq, exact[op.y]), oshape)
                continue
            vals[op.y] = tf.reshape(_fake_quant(tf.reshape(a, oshape), yq, lo, hi, exact.get(op.y), clamps), oshape)
        logits = tf.reshape(vals[g.logitsTensor], [1, -1])
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[label], logits=logits)
    grads = tape.gradient(loss, [variables[ti] for ti in trainable])
    return {io.tensor_name(t[ti]): gr.numpy() for ti, gr in zip(trainable, grads)}
