"""int8 forward operators, bit-exact with TFLM's reference kernels."""
from __future__ import annotations

import numpy as np

from .. import quant as Q
from ..graph import Geometry


def _padded(x_off: np.ndarray, g: Geometry, kh: int, kw: int, out_h: int, out_w: int) -> np.ndarray:
    """x - zero_point, zero-padded so that every tap of every output reads inside."""
    _, h, w, c = x_off.shape
    need_h = (out_h - 1) * g.stride_h + (kh - 1) * g.dilation_h + 1
    need_w = (out_w - 1) * g.stride_w + (kw - 1) * g.dilation_w + 1
    p = np.zeros((need_h + g.pad_top + h, need_w + g.pad_left + w, c), dtype=x_off.dtype)
    p[g.pad_top:g.pad_top + h, g.pad_left:g.pad_left + w] = x_off[0]
    return p


def tap(p: np.ndarray, g: Geometry, i: int, j: int, out_h: int, out_w: int) -> np.ndarray:
    """The input pixels that kernel tap (i, j) meets, one per output pixel: [out_h, out_w, C]."""
    r0, c0 = i * g.dilation_h, j * g.dilation_w
    return p[r0:r0 + (out_h - 1) * g.stride_h + 1:g.stride_h, c0:c0 + (out_w - 1) * g.stride_w + 1:g.stride_w]


def requantize(acc: np.ndarray, mult, shift, zy: int, act_min: int, act_max: int) -> np.ndarray:
    out = Q.multiply_by_quantized_multiplier(acc, mult, shift) + zy
    return np.clip(out, act_min, act_max).astype(np.int8)


def conv_multipliers(s_x: float, s_w: np.ndarray, s_y: float) -> tuple[np.ndarray, np.ndarray]:
    ms = [Q.quantize_multiplier(float(np.float64(s_x) * np.float64(sw) / np.float64(s_y))) for sw in s_w]
    return np.array([m for m, _ in ms], np.int64), np.array([s for _, s in ms], np.int64)


def conv2d_acc(x: np.ndarray, zx: int, w: np.ndarray, bias: np.ndarray | None, g: Geometry,
               out_h: int, out_w: int) -> np.ndarray:
    oc, kh, kw, _ = w.shape
    p = _padded(x.astype(np.int64) - zx, g, kh, kw, out_h, out_w)
    acc = np.zeros((out_h, out_w, oc), np.int64)
    w64 = w.astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += tap(p, g, i, j, out_h, out_w) @ w64[:, i, j, :].T
    if bias is not None:
        acc += bias.astype(np.int64)
    return Q._wrap32(acc)[None]


def depthwise_acc(x: np.ndarray, zx: int, w: np.ndarray, bias: np.ndarray | None, g: Geometry,
                  out_h: int, out_w: int) -> np.ndarray:
    _, kh, kw, c = w.shape
    p = _padded(x.astype(np.int64) - zx, g, kh, kw, out_h, out_w)
    acc = np.zeros((out_h, out_w, c), np.int64)
    w64 = w.astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += tap(p, g, i, j, out_h, out_w) * w64[0, i, j, :]
    if bias is not None:
        acc += bias.astype(np.int64)
    return Q._wrap32(acc)[None]


def fully_connected_acc(x: np.ndarray, zx: int, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    acc = (x.reshape(1, -1).astype(np.int64) - zx) @ w.astype(np.int64).T
    if bias is not None:
        acc += bias.astype(np.int64)
    return Q._wrap32(acc)


ADD_LEFT_SHIFT = 20


def add_multipliers(s1: float, s2: float, sy: float) -> tuple[int, int, int, int, int, int]:
    """TFLite ADD's (multiplier, shift) pairs: input 1, input 2, output (Prepare in TFLM)."""
    twice_max = 2.0 * max(float(s1), float(s2))
    m1, sh1 = Q.quantize_multiplier(float(s1) / twice_max)
    m2, sh2 = Q.quantize_multiplier(float(s2) / twice_max)
    mo, sho = Q.quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * float(sy)))
    return m1, sh1, m2, sh2, mo, sho


def add(x1: np.ndarray, x2: np.ndarray, s1: float, z1: int, s2: float, z2: int, sy: float, zy: int,
        act_min: int, act_max: int) -> np.ndarray:
    left_shift = ADD_LEFT_SHIFT
    m1, sh1, m2, sh2, mo, sho = add_multipliers(s1, s2, sy)
    a = Q.multiply_by_quantized_multiplier_smaller_than_one((x1.astype(np.int64) - z1) << left_shift, m1, sh1)
    b = Q.multiply_by_quantized_multiplier_smaller_than_one((x2.astype(np.int64) - z2) << left_shift, m2, sh2)
    out = Q.multiply_by_quantized_multiplier_smaller_than_one(a + b, mo, sho) + zy
    return np.clip(out, act_min, act_max).astype(np.int8)


def pool_windows(in_size: int, out_size: int, k: int, stride: int, pad: int) -> list[tuple[int, int]]:
    """[start, end) of the valid input rows of each output row of a pooling window."""
    res = []
    for o in range(out_size):
        origin = o * stride - pad
        res.append((origin + max(0, -origin), origin + min(k, in_size - origin)))
    return res


def average_pool(x: np.ndarray, fh: int, fw: int, g: Geometry, out_h: int, out_w: int,
                 act_min: int, act_max: int) -> np.ndarray:
    _, h, w, c = x.shape
    xs = x[0].astype(np.int64)
    out = np.zeros((1, out_h, out_w, c), np.int8)
    rows = pool_windows(h, out_h, fh, g.stride_h, g.pad_top)
    cols = pool_windows(w, out_w, fw, g.stride_w, g.pad_left)
    for oy, (r0, r1) in enumerate(rows):
        for ox, (c0, c1) in enumerate(cols):
            count = (r1 - r0) * (c1 - c0)
            acc = xs[r0:r1, c0:c1].reshape(-1, c).sum(axis=0)
            q = np.where(acc > 0, (acc + count // 2) // count, -((-acc + count // 2) // count))
            out[0, oy, ox] = np.clip(q, act_min, act_max)
    return out


def max_pool(x: np.ndarray, fh: int, fw: int, g: Geometry, out_h: int, out_w: int,
             act_min: int, act_max: int) -> np.ndarray:
    """MAX_POOL_2D (reference_integer_ops::MaxPool): the largest valid input of each window (padding
    takes no part), then the activation clamp."""
    _, h, w, c = x.shape
    out = np.zeros((1, out_h, out_w, c), np.int8)
    rows = pool_windows(h, out_h, fh, g.stride_h, g.pad_top)
    cols = pool_windows(w, out_w, fw, g.stride_w, g.pad_left)
    for oy, (r0, r1) in enumerate(rows):
        for ox, (c0, c1) in enumerate(cols):
            out[0, oy, ox] = np.clip(x[0, r0:r1, c0:c1].reshape(-1, c).max(axis=0), act_min, act_max)
    return out


def mean_multiplier(s_x: float, s_y: float, n: int) -> tuple[int, int]:
    """reference_integer_ops::Mean's (multiplier, shift), the division by the n pixels folded in."""
    mult, shift = Q.quantize_multiplier(float(np.float64(s_x) / np.float64(s_y)))
    s = min(n.bit_length() - 1, 32, 31 + shift)
    return (mult << s) // n, shift - s


def mean_hw(x: np.ndarray, zx: int, s_x: float, zy: int, s_y: float) -> np.ndarray:
    """Global spatial mean (reference_integer_ops::Mean): returns [C] int8."""
    _, h, w, c = x.shape
    mult, shift = mean_multiplier(s_x, s_y, h * w)
    acc = (x[0].astype(np.int64) - zx).reshape(-1, c).sum(axis=0)
    out = Q.multiply_by_quantized_multiplier(acc, mult, shift) + zy
    return np.clip(out, -128, 127).astype(np.int8)


def pad(x: np.ndarray, paddings: np.ndarray, value: int) -> np.ndarray:
    return np.pad(x, [tuple(int(v) for v in p) for p in paddings], constant_values=value)


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    v = np.asarray(x, np.float32) / np.float32(scale)
    q = Q.round_half_away(v).astype(np.int64) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.float64(scale) * (q.astype(np.int64) - zero_point)).astype(np.float32)
