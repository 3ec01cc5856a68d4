"""Random cases for the C core kernels and their numpy-spec expectations.

Each `case_*` draws one random problem and returns (run_c, expected) where
run_c(variant) executes the C kernel ("" = optimised, "_naive") and returns
outputs comparable with `expected`. Shapes stay small so the numpy spec is fast.
"""
from __future__ import annotations

import ctypes as C

import numpy as np

from tflm_train.graph import Geometry
from tflm_train.reference import training as R
from tflm_train.runtime import native as N

f32 = np.float32


def _grad(rng, shape, int8: bool, zero_frac: float = 0.4):
    v = rng.standard_normal(shape).astype(f32) * f32(rng.uniform(0.01, 3))
    v[rng.random(shape) < zero_frac] = 0
    if not int8:
        return v
    q = np.clip(np.rint(v / np.abs(v).max() * 127) if np.abs(v).max() > 0 else v, -127, 127).astype(np.int8)
    return R.QGrad(q, f32(rng.uniform(1e-4, 0.1)))


def _x(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8), int(rng.integers(-128, 128)), float(f32(rng.uniform(0.005, 0.2)))


def _weights(rng, shape):
    w = rng.integers(-127, 128, shape).astype(np.int8)
    w[rng.random(shape) < 0.05] = 127
    w[rng.random(shape) < 0.05] = -127
    return w


def _window(rng, depthwise=False, pool=False, wide=False):
    """wide: 8 or 16 channels, the kernels' 8-channel register paths."""
    while True:
        h, w = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        ic = 8 * int(rng.integers(1, 3)) if wide else int(rng.integers(1, 6))
        oc = ic if (depthwise or pool) else int(rng.integers(1, 7))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if rng.random() < 0.25:
            kh = kw = 1
        g = Geometry(int(rng.integers(1, 3)), int(rng.integers(1, 3)),
                     1 if pool else int(rng.integers(1, 3)), 1 if pool else int(rng.integers(1, 3)),
                     int(rng.integers(0, kh)), int(rng.integers(0, kw)))
        if rng.random() < 0.25:
            g = Geometry()
        pb, pr = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        oh = (h + g.pad_top + pb - ((kh - 1) * g.dilation_h + 1)) // g.stride_h + 1
        ow = (w + g.pad_left + pr - ((kw - 1) * g.dilation_w + 1)) // g.stride_w + 1
        if oh < 1 or ow < 1:
            continue
        if pool and any(o * g.stride_h - g.pad_top >= h or o * g.stride_h - g.pad_top + kh <= 0 for o in range(oh)):
            continue
        if pool and any(o * g.stride_w - g.pad_left >= w or o * g.stride_w - g.pad_left + kw <= 0 for o in range(ow)):
            continue
        return (1, h, w, ic), (1, oh, ow, oc), kh, kw, g


def _pointwise_window(rng):
    """A 1x1 stride-1 unpadded conv with input channels a multiple of 4: the kernels' pointwise path."""
    h, w, ic, oc = int(rng.integers(1, 8)), int(rng.integers(1, 8)), 4 * int(rng.integers(1, 4)), int(rng.integers(1, 20))
    return (1, h, w, ic), (1, h, w, oc), 1, 1, Geometry()


def _sgd(rng):
    return dict(lr=float(f32(rng.uniform(0.1, 3))), stochastic=bool(rng.random() < 0.7),
                seed=int(rng.integers(0, 2**32)), op_uid=int(rng.integers(0, 100)), step=int(rng.integers(0, 10**6)))


def _qas_for(rng, grad_real: np.ndarray, n: int, lr: float):
    """QAS factors that make the typical step a few LSBs (so rounding matters)."""
    m = float(np.abs(grad_real).mean()) or 1.0
    return (rng.uniform(0.2, 5, n) / (m * lr)).astype(f32)


def _channels(rng, n):
    """None (every channel) or a sorted non-empty subset of range(n), as the converter writes them."""
    if rng.random() < 0.5:
        return None
    return np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False)).astype(np.int32)


def _update_mask(channels, shape):
    if channels is None:
        return None
    m = np.zeros(shape, bool)
    m[..., channels] = True
    return m


def _gparts(g):
    """(data array, scale) of a float or QGrad gradient."""
    return (g.q, f32(g.scale)) if isinstance(g, R.QGrad) else (g, None)


def _out_grad(shape, int8):
    return (np.zeros(shape, np.int8) if int8 else np.zeros(shape, f32)), C.c_float(0)


def _as(v, int8):
    return R.QGrad(v[0], f32(v[1].value)) if int8 else v[0]


# ------------------------------------------------------------------------------ cases

def case_weight_update(rng, kind: str, int8: bool, pointwise: bool = False, wide: bool = False,
                       residual: bool = False):
    """residual: with one residual byte per weight (update_precision "int16"); the result is then the
    weights followed by the residuals."""
    lib = N.library()
    sg = _sgd(rng)
    if kind == "fc":
        o, n = int(rng.integers(1, 12)), int(rng.integers(1, 20))
        g = _grad(rng, (o,), int8)
        x, zx, sx = _x(rng, (n,))
        w = _weights(rng, (o, n))
        dw = R.fc_weight_grad(g, x, zx, sx)
        axis, nq, wshape = 0, o, (o, n)
    else:
        dw_ = kind == "depthwise"
        xs, ys, kh, kw, geo = _pointwise_window(rng) if pointwise else _window(rng, depthwise=dw_, wide=wide)
        g = _grad(rng, ys, int8)
        x, zx, sx = _x(rng, xs)
        wshape = (1, kh, kw, xs[3]) if dw_ else (ys[3], kh, kw, xs[3])
        w = _weights(rng, wshape)
        dw = R.conv_weight_grad(g, x, zx, sx, wshape, geo, dw_)
        axis, nq = (3, xs[3]) if dw_ else (0, ys[3])
    qas = _qas_for(rng, dw, nq, sg["lr"])
    # The spec: the full gradient, applied to the trained channels only. The kernels get
    # only those channels of x (TFLMT_CHANNEL_GATHER's output) and the channel map.
    channels = _channels(rng, wshape[-1])
    r0 = None
    if residual:  # a state the update can reach: w * 256 + r within +-127 * 256
        r0 = np.clip(rng.integers(-128, 128, wshape), np.where(w <= -127, 0, -128), np.where(w >= 127, 0, 127))
        r0 = r0.astype(np.int8)
    if residual:
        expected = np.concatenate([a.ravel() for a in R.sgd_step16(
            w, r0, dw.reshape(wshape), qas, axis, sg["lr"], sg["stochastic"], sg["seed"], sg["op_uid"], sg["step"],
            _update_mask(channels, wshape))])
    else:
        expected = R.sgd_step(w, dw.reshape(wshape), qas, axis, sg["lr"], sg["stochastic"], sg["seed"],
                              sg["op_uid"], sg["step"], -127, 127, _update_mask(channels, wshape))
    x_in = x if channels is None else np.ascontiguousarray(x[..., channels])
    cmap = N.channel_map(channels, wshape[-1])
    n_x = x_in.shape[-1]
    gd, gs = _gparts(g)
    def run(variant=""):
        wc = w.copy()
        rc = None if r0 is None else r0.copy()
        sgd = N.sgd(sg["lr"], sg["stochastic"], sg["seed"], sg["op_uid"], sg["step"], rc)
        dt = "s8" if int8 else "f32"
        gargs = (N.ptr(gd), gs) if int8 else (N.ptr(gd),)
        tail = (N.ptr(x_in), N.Quant(sx, zx), N.ptr(qas), None if cmap is None else C.addressof(cmap), C.byref(sgd),
                N.ptr(wc))
        if kind == "fc":
            st = getattr(lib, f"tflmt_fc_weight_update_{dt}{variant}")(wshape[0], n_x, *gargs, *tail)
        else:
            win = N.window(xs[:3] + (n_x,), ys, kh, kw, geo)
            size = getattr(lib, f"tflmt_{kind}_weight_update_scratch_size")(C.byref(win))
            scratch = np.zeros(max(size, 4), np.uint8)
            st = getattr(lib, f"tflmt_{kind}_weight_update_{dt}{variant}")(C.byref(win), *gargs, *tail, N.ptr(scratch))
        assert st == 0
        return wc if rc is None else np.concatenate([wc.ravel(), rc.ravel()])

    return run, expected


def case_input_grad(rng, kind: str, int8: bool, pointwise: bool = False, wide: bool = False):
    lib = N.library()
    if kind == "fc":
        o, n = int(rng.integers(1, 12)), int(rng.integers(1, 20))
        g = _grad(rng, (o,), int8)
        w = _weights(rng, (o, n))
        scales = rng.uniform(0.001, 0.05, 1 if rng.random() < 0.3 else o).astype(f32)
        expected = R.fc_input_grad(g, w, scales, (1, n))
        xs = (1, n)
    else:
        dw_ = kind == "depthwise"
        xs, ys, kh, kw, geo = _pointwise_window(rng) if pointwise else _window(rng, depthwise=dw_, wide=wide)
        g = _grad(rng, ys, int8)
        w = _weights(rng, (1, kh, kw, xs[3]) if dw_ else (ys[3], kh, kw, xs[3]))
        scales = rng.uniform(0.001, 0.05, 1 if rng.random() < 0.3 else ys[3]).astype(f32)
        fn = R.depthwise_input_grad if dw_ else R.conv_input_grad
        expected = fn(g, w, scales, geo, xs)
    gd, gs = _gparts(g)

    def run(variant=""):
        out = _out_grad(xs, int8)
        dt = "s8" if int8 else "f32"
        gargs = (N.ptr(gd), gs) if int8 else (N.ptr(gd),)
        mid = (N.ptr(w), N.ptr(scales), len(scales), N.ptr(out[0]))
        if kind == "fc":
            size = lib.tflmt_fc_input_grad_s8_scratch_size(o, n)
            head = (o, n)
        else:
            win = N.window(xs, ys, kh, kw, geo)
            size = getattr(lib, f"tflmt_{kind}_input_grad_s8_scratch_size")(C.byref(win))
            head = (C.byref(win),)
        fn = getattr(lib, f"tflmt_{kind}_input_grad_{dt}{variant}")
        if int8:
            scratch = np.zeros(max(size, 4), np.uint8)
            assert fn(*head, *gargs, *mid, C.byref(out[1]), N.ptr(scratch)) == 0
        else:
            fn(*head, *gargs, *mid)
        return _as(out, int8)

    return run, expected


def case_bias_update(rng, int8: bool):
    lib = N.library()
    sg = _sgd(rng)
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    if rng.random() < 0.3:
        shape = (1, shape[3])
    g = _grad(rng, shape, int8)
    c = shape[-1]
    b = rng.integers(-2**31, 2**31, c, dtype=np.int64).astype(np.int32)
    b[rng.random(c) < 0.2] = 2**31 - 1
    db = R.bias_grad(g)
    qas = _qas_for(rng, db, c, sg["lr"])
    expected = R.sgd_step(b, db, qas, 0, sg["lr"], sg["stochastic"], sg["seed"], sg["op_uid"], sg["step"],
                          -(2**31), 2**31 - 1)
    gd, gs = _gparts(g)
    sgd = N.sgd(sg["lr"], sg["stochastic"], sg["seed"], sg["op_uid"], sg["step"])

    def run(variant=""):
        bc = b.copy()
        rows = int(np.prod(shape)) // c
        if int8:
            st = lib.tflmt_bias_update_s8(N.ptr(gd), gs, rows, c, N.ptr(qas), C.byref(sgd), N.ptr(bc))
        else:
            st = lib.tflmt_bias_update_f32(N.ptr(gd), rows, c, N.ptr(qas), C.byref(sgd), N.ptr(bc))
        assert st == 0
        return bc

    return run, expected


def case_softmax_ce(rng, int8: bool):
    lib = N.library()
    n = int(rng.integers(1, 20))
    logits = rng.integers(-128, 128, (1, n)).astype(np.int8)
    if rng.random() < 0.5:  # saturated logits (the label's too, at times): the inward-only gradient rule
        logits[0, rng.integers(0, n, int(rng.integers(1, 3)))] = rng.choice(np.array([-128, 127], np.int8))
    label = int(rng.integers(0, n))
    scale, zp = float(f32(rng.uniform(0.01, 0.5))), int(rng.integers(-128, 128))
    loss, g = R.softmax_ce(label, logits, scale, zp)
    expected = (loss, R.quantize_grad(g) if int8 else g)

    def run(variant=""):
        out = _out_grad((1, n), int8)
        lo = C.c_float(0)
        if int8:
            st = lib.tflmt_softmax_ce_s8(label, N.ptr(logits), n, N.Quant(scale, zp), C.byref(lo), N.ptr(out[0]),
                                         C.byref(out[1]))
        else:
            st = lib.tflmt_softmax_ce_f32(label, N.ptr(logits), n, N.Quant(scale, zp), C.byref(lo), N.ptr(out[0]))
        assert st == 0
        return (f32(lo.value), _as(out, int8))

    return run, expected


def case_gather(rng, int8: bool = True):
    lib = N.library()
    pixels, n = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    x = rng.integers(-128, 128, (pixels, n)).astype(np.int8)
    channels = _channels(rng, n)
    channels = np.arange(n, dtype=np.int32) if channels is None else channels
    expected = R.channel_gather(x, channels, (pixels, len(channels)))

    def run(variant=""):
        y = np.full((pixels, len(channels)), 0x55, np.int8)
        lib.tflmt_channel_gather_s8(N.ptr(x), pixels, n, N.ptr(channels), len(channels), N.ptr(y))
        return y

    return run, expected


def case_merge(rng, int8: bool = True):
    lib = N.library()
    rows, n = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    base = rng.integers(-128, 128, (rows, n)).astype(np.int8)
    channels = _channels(rng, n)
    channels = np.arange(n, dtype=np.int32) if channels is None else channels
    piece = rng.integers(-128, 128, (rows, len(channels))).astype(np.int8)
    expected = R.channel_merge(base, piece, channels)

    def run(variant=""):
        y = np.full((rows, n), 0x55, np.int8)
        lib.tflmt_channel_merge_s8(N.ptr(base), N.ptr(piece), rows, n, N.ptr(channels), len(channels), N.ptr(y))
        return y

    return run, expected


def case_clamp(rng, int8: bool):
    lib = N.library()
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    n = int(np.prod(shape))
    y = rng.integers(-128, 128, shape).astype(np.int8)
    lo = int(rng.integers(-128, 0))
    hi = int(rng.integers(lo + 1, 128))
    mask = R.clamp_mask(y, lo, hi)
    g = _grad(rng, shape, int8)
    expected = (mask, R.clamp_grad(g, mask))
    gd, gs = _gparts(g)

    def run(variant=""):
        m = np.full(mask.shape, 0xAA, np.uint8)
        lib.tflmt_clamp_mask_s8(N.ptr(y), n, lo, hi, N.ptr(m))
        out = _out_grad(shape, int8)
        getattr(lib, "tflmt_clamp_grad_" + ("s8" if int8 else "f32"))(N.ptr(gd), N.ptr(m), n, N.ptr(out[0]))
        if int8:
            out[1].value = gs
        return (m, _as(out, int8))

    return run, expected


def case_grad_accum(rng, int8: bool):
    lib = N.library()
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    a, b = _grad(rng, shape, int8), _grad(rng, shape, int8)
    expected = R.grad_accum(a, b)

    def run(variant=""):
        out = _out_grad(shape, int8)
        n = int(np.prod(shape))
        if int8:
            assert lib.tflmt_grad_accum_s8(N.ptr(a.q), a.scale, N.ptr(b.q), b.scale, n, N.ptr(out[0]),
                                           C.byref(out[1])) == 0
        else:
            lib.tflmt_grad_accum_f32(N.ptr(a), N.ptr(b), n, N.ptr(out[0]))
        return _as(out, int8)

    return run, expected


def case_avg_pool(rng, int8: bool):
    lib = N.library()
    xs, ys, kh, kw, geo = _window(rng, pool=True)
    g = _grad(rng, ys, int8)
    expected = R.avg_pool_grad(g, kh, kw, geo, xs)
    gd, gs = _gparts(g)

    def run(variant=""):
        win = N.window(xs, ys, kh, kw, geo)
        out = _out_grad(xs, int8)
        if int8:
            scratch = np.zeros(lib.tflmt_avg_pool_grad_s8_scratch_size(C.byref(win)), np.uint8)
            assert lib.tflmt_avg_pool_grad_s8(C.byref(win), N.ptr(gd), gs, N.ptr(out[0]), C.byref(out[1]),
                                              N.ptr(scratch)) == 0
        else:
            lib.tflmt_avg_pool_grad_f32(C.byref(win), N.ptr(gd), N.ptr(out[0]))
        return _as(out, int8)

    return run, expected


def case_max_pool_argmax(rng, int8: bool = True):
    lib = N.library()
    xs, ys, kh, kw, geo = _window(rng, pool=True)
    x = rng.integers(-3, 3, xs).astype(np.int8)  # a narrow range: ties, which the first maximum breaks
    expected = R.max_pool_argmax(x, kh, kw, geo, ys)

    def run(variant=""):
        idx = np.full(ys, 0xEE, np.uint8)
        lib.tflmt_max_pool_argmax_s8(C.byref(N.window(xs, ys, kh, kw, geo)), N.ptr(x), N.ptr(idx))
        return idx

    return run, expected


def case_max_pool_grad(rng, int8: bool):
    lib = N.library()
    xs, ys, kh, kw, geo = _window(rng, pool=True)
    idx = R.max_pool_argmax(rng.integers(-3, 3, xs).astype(np.int8), kh, kw, geo, ys)
    g = _grad(rng, ys, int8)
    expected = R.max_pool_grad(g, idx, kw, geo, xs)
    gd, gs = _gparts(g)

    def call(win, idx_, out):
        if int8:
            scratch = np.zeros(lib.tflmt_max_pool_grad_s8_scratch_size(C.byref(win)), np.uint8)
            return lib.tflmt_max_pool_grad_s8(C.byref(win), N.ptr(gd), gs, N.ptr(idx_), N.ptr(out[0]),
                                              C.byref(out[1]), N.ptr(scratch))
        return lib.tflmt_max_pool_grad_f32(C.byref(win), N.ptr(gd), N.ptr(idx_), N.ptr(out[0]))

    def run(variant=""):
        win = N.window(xs, ys, kh, kw, geo)
        out = _out_grad(xs, int8)
        assert call(win, idx, out) == 0
        bad = idx.copy()
        bad.reshape(-1)[-1] = kh * kw  # past the window: refused, nothing written outside dx
        guard = _out_grad(xs, int8)
        assert call(win, bad, guard) == 2  # TFLMT_BAD_ARG
        return _as(out, int8)

    return run, expected


def case_mean(rng, int8: bool):
    lib = N.library()
    xs = (1, int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 9)))
    g = _grad(rng, (1, xs[3]), int8)
    expected = R.mean_grad(g, xs)
    gd, gs = _gparts(g)

    def run(variant=""):
        out = _out_grad(xs, int8)
        s = N.Shape3(xs[1], xs[2], xs[3])
        if int8:
            lib.tflmt_mean_grad_s8(s, N.ptr(gd), gs, N.ptr(out[0]), C.byref(out[1]))
        else:
            lib.tflmt_mean_grad_f32(s, N.ptr(gd), N.ptr(out[0]))
        return _as(out, int8)

    return run, expected


def case_pad(rng, int8: bool):
    lib = N.library()
    rank = int(rng.integers(1, 5))
    xs = tuple(int(v) for v in rng.integers(1, 5, rank))
    before = rng.integers(0, 3, rank).astype(np.int32)
    after = rng.integers(0, 3, rank)
    gshape = tuple(int(x + b + a) for x, b, a in zip(xs, before, after))
    g = _grad(rng, gshape, int8)
    expected = R.pad_grad(g, before, xs)
    gd, gs = _gparts(g)

    def run(variant=""):
        out = _out_grad(xs, int8)
        gdims = np.asarray(gshape, np.int32)
        xdims = np.asarray(xs, np.int32)
        assert lib.tflmt_pad_grad(N.ptr(gd), N.ptr(gdims), N.ptr(before), N.ptr(xdims), rank, 1 if int8 else 4,
                                  N.ptr(out[0])) == 0
        if int8:
            out[1].value = gs
        return _as(out, int8)

    return run, expected


def case_quantize(rng, int8: bool = True):
    lib = N.library()
    n = int(rng.integers(1, 200))
    v = _grad(rng, (n,), False, zero_frac=0.3 if rng.random() < 0.9 else 1.0)
    expected = R.quantize_grad(v)

    def run(variant=""):
        out = _out_grad((n,), True)
        assert lib.tflmt_quantize_grad_s8(N.ptr(v), n, N.ptr(out[0]), C.byref(out[1])) == 0
        return _as(out, True)

    return run, expected


def case_prng(rng, int8: bool = False):
    from tflm_train.reference.prng import stream_base, uniform
    lib = N.library()
    seed, uid, step = (int(v) for v in rng.integers(0, 2**32, 3))
    idx = rng.integers(0, 2**32, 16, dtype=np.uint64)
    expected = (int(stream_base(seed, uid, step)), uniform(seed, uid, step, idx))

    def run(variant=""):
        s = lib.tflmt_prng_stream(seed, uid, step)
        return (int(s), np.array([lib.tflmt_prng_uniform(s, int(i)) for i in idx], f32))

    return run, expected


def same(a, b) -> bool:
    """Bit-exact equality of outputs (arrays, QGrads, scalars, tuples)."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, R.QGrad):
        return isinstance(b, R.QGrad) and f32(a.scale) == f32(b.scale) and same(a.q, b.q)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
