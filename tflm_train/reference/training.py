"""numpy semantics of the TFLMT_* training operators: the spec the C kernels match.

Gradients are of the loss w.r.t. *real* values (dequantized activations and
parameters). A gradient is a float32 array (GradDType FLOAT32) or an int8 array
with a float32 per-tensor scale (GradDType INT8), see `quantize_grad`.

Float arithmetic is float32 and every float reduction is a sequential sum in the
order stated at the function, so a C loop nest in that order gives the same bits
(compile with -ffp-contract=off).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..graph import Geometry
from . import forward as F
from .prng import uniform

f32 = np.float32
INT32_LO, INT32_HI = -(2**31), 2**31 - 1
WEIGHT_LO, WEIGHT_HI = -127, 127  # symmetric int8 weights stay symmetric


@dataclass
class QGrad:
    """An int8 gradient: real value = q * scale."""

    q: np.ndarray  # int8
    scale: np.float32

    def real(self) -> np.ndarray:
        return self.q.astype(f32) * f32(self.scale)


def quantize_grad(v: np.ndarray) -> QGrad:
    """Per-tensor symmetric int8 with a dynamic scale: scale = max|v| / 127."""
    v = np.asarray(v, f32)
    m = f32(np.max(np.abs(v))) if v.size else f32(0)
    if not np.isfinite(m):
        raise FloatingPointError("non-finite gradient")
    if m == 0:
        return QGrad(np.zeros(v.shape, np.int8), f32(0))
    inv = f32(127) / m
    q = np.clip(np.rint(v * inv), -127, 127).astype(np.int8)
    return QGrad(q, f32(m / f32(127)))


# ----------------------------------------------------------------------------- loss

def softmax_ce(label: int, logits_q: np.ndarray, scale: float, zero_point: int) -> tuple[np.float32, np.ndarray]:
    """Loss and d loss / d real logits, computed in float64 with C's exp/log, rounded to float32.

    The logits' own int8 clamp is part of this op's gradient, not a clamp mask: a logit at -128 or
    127 passes only a gradient that moves it back inside (descent moves it by -gradient). With a
    mask, a run whose logits had saturated passed them no gradient and never recovered."""
    z = [float(scale) * (int(v) - zero_point) for v in logits_q.ravel()]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = 0.0
    for v in e:
        s += v
    loss = math.log(s) - (z[label] - m)
    g = np.array([e[i] / s - (1.0 if i == label else 0.0) for i in range(len(z))], f32)
    q = logits_q.ravel()
    g[((q == 127) & (g < 0)) | ((q == -128) & (g > 0))] = f32(0)
    return f32(loss), g.reshape(logits_q.shape)


# ----------------------------------------------------------------------------- masks

def clamp_mask(y: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
    """1 bit per element (LSB first, row-major): set where the forward clamp was inactive."""
    bits = ((y > act_min) & (y < act_max)).ravel()
    return np.packbits(bits, bitorder="little")


def unpack_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    return np.unpackbits(mask, count=n, bitorder="little").astype(bool).reshape(shape)


def clamp_grad(g, mask: np.ndarray):
    m = unpack_mask(mask, g.q.shape if isinstance(g, QGrad) else g.shape)
    if isinstance(g, QGrad):
        return QGrad(np.where(m, g.q, 0).astype(np.int8), g.scale)
    return np.where(m, g, f32(0)).astype(f32)


def grad_accum(g1, g2):
    if isinstance(g1, QGrad):
        return quantize_grad(g1.q.astype(f32) * g1.scale + g2.q.astype(f32) * g2.scale)
    return (g1 + g2).astype(f32)


# ----------------------------------------------------------------------------- update

def scheduled_learning_rate(lr: float, final_lr: float, decay_steps: int, step: int,
                            warmup_steps: int = 0) -> np.float32:
    """The rate of an op's update number `step`: linear from lr to final_lr over the first decay_steps
    updates, then final_lr (decay_steps 0: lr), times the warm-up ramp min(1, (step + 1) / warmup_steps)
    (warmup_steps 0: 1). float32, in this order (C: tflmt_scheduled_learning_rate)."""
    rate = f32(lr)
    if decay_steps:
        done = f32(min(step, decay_steps)) / f32(decay_steps)
        rate = f32(lr) * (f32(1) - done) + f32(final_lr) * done
    if warmup_steps and step < warmup_steps - 1:
        rate = rate * (f32(step + 1) / f32(warmup_steps))
    return rate


def _rounded_steps(grad: np.ndarray, qas: np.ndarray, channel_axis: int, lr: float, stochastic: bool, seed: int,
                   op_uid: int, step: int, unit: int = 1) -> np.ndarray:
    """grad * qas[channel] * lr * unit rounded, floor(t + u) or rint; a non-finite step is 0."""
    shape = [1] * grad.ndim
    shape[channel_axis] = -1
    t = (grad.astype(f32) * qas.astype(f32).reshape(shape)) * f32(lr)
    if unit != 1:
        t = t * f32(unit)
    if stochastic:
        u = uniform(seed, op_uid, step, np.arange(t.size, dtype=np.uint64)).reshape(t.shape)
        r = np.floor(t + u)
    else:
        r = np.rint(t)
    return np.where(np.isfinite(r), r, f32(0))


def sgd_step(values: np.ndarray, grad: np.ndarray, qas: np.ndarray, channel_axis: int, lr: float,
             stochastic: bool, seed: int, op_uid: int, step: int, lo: int, hi: int,
             update: np.ndarray | None = None) -> np.ndarray:
    """values <- saturate(values - round(grad * qas[channel] * lr)); `update` masks elements.

    round is floor(t + u), u from the PRNG at the element's row-major index
    (stochastic), or rint (nearest). A non-finite t moves nothing.
    """
    r = _rounded_steps(grad, qas, channel_axis, lr, stochastic, seed, op_uid, step)
    step_int = np.clip(r, f32(-(2.0**31)), f32(2.0**31)).astype(np.int64)
    new = np.clip(values.astype(np.int64) - step_int, lo, hi)
    if update is not None:
        new = np.where(update, new, values)
    return new.astype(values.dtype)


def sgd_step16(values: np.ndarray, residual: np.ndarray, grad: np.ndarray, qas: np.ndarray, channel_axis: int,
               lr: float, stochastic: bool, seed: int, op_uid: int, step: int,
               update: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights with a residual byte each (update_precision "int16"): (new values, new residual).

    v = values * 256 + residual; the step t = grad * qas[channel] * lr is taken in 1/256 LSB,
    t * 256 rounded as in sgd_step (floor(t * 256 + u) or rint), a non-finite one is none and one
    beyond +-65536 is clamped there; v saturates at +-WEIGHT_HI * 256; the new value is v rounded
    half up to whole LSBs, (v + 128) // 256, and the residual what is left, in [-128, 127].
    """
    r = np.clip(_rounded_steps(grad, qas, channel_axis, lr, stochastic, seed, op_uid, step, unit=256),
                f32(-65536), f32(65536)).astype(np.int64)
    v = np.clip(values.astype(np.int64) * 256 + residual.astype(np.int64) - r, WEIGHT_LO * 256, WEIGHT_HI * 256)
    q = (v + 128) // 256
    rest = v - 256 * q
    if update is not None:
        q, rest = np.where(update, q, values), np.where(update, rest, residual)
    return q.astype(values.dtype), rest.astype(residual.dtype)


def bias_grad(g) -> np.ndarray:
    """Sum over every axis but the last (channels); sequential in row-major position order."""
    if isinstance(g, QGrad):
        return g.q.reshape(-1, g.q.shape[-1]).astype(np.int64).sum(axis=0).astype(f32) * f32(g.scale)
    rows = g.reshape(-1, g.shape[-1])
    acc = np.zeros(rows.shape[1], f32)
    for r in rows:
        acc += r
    return acc


def _x_real(x: np.ndarray, zx: int, sx: float) -> np.ndarray:
    return (x.astype(np.int32) - zx).astype(f32) * f32(sx)


def conv_weight_grad(g, x: np.ndarray, zx: int, sx: float, w_shape, g_: Geometry, depthwise: bool) -> np.ndarray:
    """dW. Float32: for every element, a sequential sum over output pixels in row-major order."""
    oc_or_1, kh, kw, ic = w_shape
    _, oh, ow, c_out = (g.q if isinstance(g, QGrad) else g).shape
    if isinstance(g, QGrad):
        p = F._padded(x.astype(np.int64) - zx, g_, kh, kw, oh, ow)
        gq = g.q.astype(np.int64)[0]
        dw = np.zeros(w_shape, np.int64)
        for i in range(kh):
            for j in range(kw):
                t = F.tap(p, g_, i, j, oh, ow)
                if depthwise:
                    dw[0, i, j, :] = (gq * t).reshape(-1, ic).sum(axis=0)
                else:
                    dw[:, i, j, :] = gq.reshape(-1, c_out).T @ t.reshape(-1, ic)
        return dw.astype(f32) * (f32(g.scale) * f32(sx))
    p = F._padded(_x_real(x, zx, sx), g_, kh, kw, oh, ow)
    patches = np.stack([F.tap(p, g_, i, j, oh, ow) for i in range(kh) for j in range(kw)], axis=2)
    patches = patches.reshape(oh * ow, kh * kw, ic)  # [P, K, IC]
    gp = g.reshape(oh * ow, c_out)
    if depthwise:
        acc = np.zeros((kh * kw, ic), f32)
        for pi in range(oh * ow):
            acc += gp[pi][None, :] * patches[pi]
        return acc.reshape(1, kh, kw, ic)
    acc = np.zeros((c_out, kh * kw, ic), f32)
    for pi in range(oh * ow):
        acc += gp[pi][:, None, None] * patches[pi][None]
    return acc.reshape(c_out, kh, kw, ic)


def channel_gather(x: np.ndarray, channels, y_shape) -> np.ndarray:
    """TFLMT_CHANNEL_GATHER: x viewed as [pixels, C] -> [pixels, K] of the listed channels."""
    pixels = int(np.prod(y_shape)) // len(channels)
    return x.reshape(pixels, -1)[:, list(channels)].reshape(y_shape)


def channel_merge(base: np.ndarray, piece: np.ndarray, channels) -> np.ndarray:
    """TFLMT_CHANNEL_MERGE: base (frozen weights) with its listed last-axis channels taken from piece
    (the trained slice, [..., K])."""
    y = np.array(base, copy=True)
    y[..., list(channels)] = piece.reshape(base.shape[:-1] + (len(channels),))
    return y


def ungather(x_sel: np.ndarray, channels, weight_channels: int, zero_point: int) -> np.ndarray:
    """A gathered input widened back to every channel; the others hold the zero point (real 0: no gradient)."""
    full = np.full(x_sel.shape[:-1] + (weight_channels,), zero_point, x_sel.dtype)
    full[..., list(channels)] = x_sel
    return full


def fc_weight_grad(g, x: np.ndarray, zx: int, sx: float) -> np.ndarray:
    if isinstance(g, QGrad):
        prod = g.q.reshape(-1, 1).astype(np.int64) * (x.reshape(1, -1).astype(np.int64) - zx)
        return prod.astype(f32) * (f32(g.scale) * f32(sx))
    return g.reshape(-1, 1) * _x_real(x, zx, sx).reshape(1, -1)


# ----------------------------------------------------------------------------- input gradients

def _rescale_for_int_accum(g: QGrad, w_scales: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Fold per-output-channel weight scales into the int8 gradient so one int32 sum suffices."""
    smax = f32(np.max(w_scales))
    r = (w_scales.astype(f32) / smax).astype(f32)
    gh = np.clip(np.rint(g.q.astype(f32) * r), -127, 127).astype(np.int64)
    return gh, f32(g.scale * smax)


class _ScatterFrame:
    """The padded input frame of a transposed conv: where tap (i, j) of every output lands."""

    def __init__(self, g_: Geometry, kh: int, kw: int, out_shape, x_shape):
        _, self.oh, self.ow, _ = out_shape
        _, self.h, self.w, _ = x_shape
        self.g = g_
        self.ph = (self.oh - 1) * g_.stride_h + (kh - 1) * g_.dilation_h + 1 + g_.pad_top + self.h
        self.pw = (self.ow - 1) * g_.stride_w + (kw - 1) * g_.dilation_w + 1 + g_.pad_left + self.w

    def tap(self, i: int, j: int):
        g_ = self.g
        return (slice(i * g_.dilation_h, i * g_.dilation_h + (self.oh - 1) * g_.stride_h + 1, g_.stride_h),
                slice(j * g_.dilation_w, j * g_.dilation_w + (self.ow - 1) * g_.stride_w + 1, g_.stride_w))

    def crop(self, d: np.ndarray) -> np.ndarray:
        return d[self.g.pad_top:self.g.pad_top + self.h, self.g.pad_left:self.g.pad_left + self.w][None]


def conv_input_grad(g, w: np.ndarray, w_scales: np.ndarray, g_: Geometry, x_shape) -> object:
    """dx of CONV_2D (a transposed conv). Float32 order per element: taps (i, j) row-major, then oc."""
    oc, kh, kw, ic = w.shape
    fr = _ScatterFrame(g_, kh, kw, (g.q if isinstance(g, QGrad) else g).shape, x_shape)
    ph, pw, sl, crop = fr.ph, fr.pw, fr.tap, fr.crop
    if isinstance(g, QGrad):
        gh, s = _rescale_for_int_accum(g, w_scales)
        d = np.zeros((ph, pw, ic), np.int64)
        w64 = w.astype(np.int64)
        for i in range(kh):
            for j in range(kw):
                d[sl(i, j)] += gh[0] @ w64[:, i, j, :]
        return quantize_grad(crop(d).astype(f32) * s)
    wr = w.astype(f32) * w_scales.astype(f32).reshape(-1, 1, 1, 1)
    d = np.zeros((ph, pw, ic), f32)
    for i in range(kh):
        for j in range(kw):
            view = d[sl(i, j)]
            for o in range(oc):
                view += g[0, :, :, o:o + 1] * wr[o, i, j]
    return crop(d).astype(f32)


def depthwise_input_grad(g, w: np.ndarray, w_scales: np.ndarray, g_: Geometry, x_shape):
    """dx of DEPTHWISE_CONV_2D. Float32 order per element: taps (i, j) row-major."""
    _, kh, kw, c = w.shape
    fr = _ScatterFrame(g_, kh, kw, (g.q if isinstance(g, QGrad) else g).shape, x_shape)
    ph, pw, sl, crop = fr.ph, fr.pw, fr.tap, fr.crop
    if isinstance(g, QGrad):
        d = np.zeros((ph, pw, c), np.int64)
        for i in range(kh):
            for j in range(kw):
                d[sl(i, j)] += g.q[0].astype(np.int64) * w[0, i, j].astype(np.int64)
        per_c = (f32(g.scale) * w_scales.astype(f32)).astype(f32)
        return quantize_grad(crop(d).astype(f32) * per_c)
    wr = w.astype(f32) * w_scales.astype(f32).reshape(1, 1, 1, -1)
    d = np.zeros((ph, pw, c), f32)
    for i in range(kh):
        for j in range(kw):
            d[sl(i, j)] += g[0] * wr[0, i, j]
    return crop(d).astype(f32)


def fc_input_grad(g, w: np.ndarray, w_scales: np.ndarray, x_shape):
    """dx of FULLY_CONNECTED. Float32 order per element: sequential over output units."""
    o, n = w.shape
    if isinstance(g, QGrad):
        scales = np.broadcast_to(w_scales.astype(f32), (o,))
        gh, s = _rescale_for_int_accum(QGrad(g.q.reshape(o), g.scale), scales)
        acc = gh @ w.astype(np.int64)
        return quantize_grad((acc.astype(f32) * s).reshape(x_shape))
    wr = w.astype(f32) * np.broadcast_to(w_scales.astype(f32), (o,)).reshape(-1, 1)
    gv = g.reshape(o)
    acc = np.zeros(n, f32)
    for k in range(o):
        acc += gv[k] * wr[k]
    return acc.reshape(x_shape)


def avg_pool_grad(g, fh: int, fw: int, g_: Geometry, x_shape):
    """Each output's gradient / its window count, added to the window; outputs in row-major order."""
    _, h, w, c = x_shape
    gv = g.real() if isinstance(g, QGrad) else g
    _, oh, ow, _ = gv.shape
    d = np.zeros((h, w, c), f32)
    rows = F.pool_windows(h, oh, fh, g_.stride_h, g_.pad_top)
    cols = F.pool_windows(w, ow, fw, g_.stride_w, g_.pad_left)
    for oy, (r0, r1) in enumerate(rows):
        for ox, (c0, c1) in enumerate(cols):
            d[r0:r1, c0:c1] += gv[0, oy, ox] / f32((r1 - r0) * (c1 - c0))
    return quantize_grad(d[None]) if isinstance(g, QGrad) else d[None]


def max_pool_argmax(x: np.ndarray, fh: int, fw: int, g_: Geometry, y_shape) -> np.ndarray:
    """TFLMT_MAX_POOL_ARGMAX: per output element, the window position fy * fw + fx (from the unclipped
    window origin) of the first in-bounds maximum, scanning rows then columns."""
    _, h, w, c = x.shape
    _, oh, ow, _ = y_shape
    idx = np.zeros((1, oh, ow, c), np.uint8)
    for oy, (r0, r1) in enumerate(F.pool_windows(h, oh, fh, g_.stride_h, g_.pad_top)):
        for ox, (c0, c1) in enumerate(F.pool_windows(w, ow, fw, g_.stride_w, g_.pad_left)):
            win = x[0, r0:r1, c0:c1].reshape(-1, c)
            first = np.argmax(win, axis=0)  # the first of equal maxima
            ry, rx = np.divmod(first, c1 - c0)
            dy, dx = r0 - (oy * g_.stride_h - g_.pad_top), c0 - (ox * g_.stride_w - g_.pad_left)
            idx[0, oy, ox] = (ry + dy) * fw + rx + dx
    return idx


def max_pool_grad(g, idx: np.ndarray, fw: int, g_: Geometry, x_shape):
    """TFLMT_MAX_POOL_GRAD: each output's gradient added at its window's argmax (outputs in row-major order)."""
    _, h, w, c = x_shape
    gv = g.real() if isinstance(g, QGrad) else g
    _, oh, ow, _ = gv.shape
    d = np.zeros((h, w, c), f32)
    ch = np.arange(c)
    for oy in range(oh):
        for ox in range(ow):
            fy, fx = np.divmod(idx[0, oy, ox].astype(np.int64), fw)
            ys, xs = oy * g_.stride_h - g_.pad_top + fy, ox * g_.stride_w - g_.pad_left + fx
            d[ys, xs, ch] += gv[0, oy, ox]
    return quantize_grad(d[None]) if isinstance(g, QGrad) else d[None]


def mean_grad(g, x_shape):
    _, h, w, c = x_shape
    n = f32(h * w)
    if isinstance(g, QGrad):
        return QGrad(np.broadcast_to(g.q.reshape(1, 1, 1, c), x_shape).copy(), f32(g.scale / n))
    return np.broadcast_to((g.reshape(1, 1, 1, c) / n).astype(f32), x_shape).copy()


def pad_grad(g, pad_before: np.ndarray, x_shape):
    sl = tuple(slice(int(b), int(b) + int(n)) for b, n in zip(pad_before, x_shape))
    if isinstance(g, QGrad):
        return QGrad(np.ascontiguousarray(g.q[sl]), g.scale)
    return np.ascontiguousarray(g[sl])
