"""Host option of the TFLM backend: the wheel's reference CONV_2D / DEPTHWISE_CONV_2D kernels
replaced by kernels/core's optimised int8 kernels, op by op (kernels/host/fast_forward.cc).

Results are bit-exact with the wheel's kernels (tests/test_fast_forward.py); only the time
changes. Ops the core kernels do not cover (a depthwise depth multiplier other than 1, non
per-channel int8 weights) keep the wheel's kernel.
"""
from __future__ import annotations

import ctypes as C

import numpy as np

from .. import forward_params as FP
from .. import tflite_io as io
from . import native as N

REGISTERER = "TflmtRegisterTrainingOpsFastForward"
_KIND = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1}


class Requant(C.Structure):
    """tflmt_requant (include/tflmt/forward.h)."""

    _fields_ = [("in_zero_point", C.c_int32), ("out_zero_point", C.c_int32), ("act_min", C.c_int32),
                ("act_max", C.c_int32), ("multiplier", C.c_void_p), ("shift", C.c_void_p),
                ("n_multipliers", C.c_int32)]


def _covered(m, op) -> bool:
    if op.kind not in _KIND:
        return False
    tensors = m.subgraphs[0].tensors
    x, w, y = tensors[op.x], tensors[op.weight], tensors[op.y]
    if any(io.numpy_dtype(t.type) != np.int8 for t in (x, w, y)) or len(io.shape(x)) != 4 or io.shape(x)[0] != 1:
        return False
    if op.kind == "DEPTHWISE_CONV_2D" and io.shape(x)[3] != io.shape(y)[3]:
        return False  # depth multiplier > 1
    return True


def _key_tensor(m, op) -> int | None:
    """The constant input whose buffer address keys op's plan: its weights, or for a channel slice's merged
    weights (TFLMT_CHANNEL_MERGE's arena tensor, no buffer) its bias; None when neither is constant."""
    tensors = m.subgraphs[0].tensors
    for ti in (op.weight, op.bias):
        if ti >= 0 and io.is_constant(m, tensors[ti]):
            return ti
    return None


def install(lib: C.CDLL, model: bytes, base: int, forward_ops) -> list:
    """Registers a plan for every covered forward op of `model` (the bytes the interpreter runs,
    at address `base`). Returns what must stay alive as long as the plans."""
    lib.tflmt_host_fast_forward_add.restype = C.c_int
    lib.tflmt_host_fast_forward_add.argtypes = [C.c_void_p, C.c_int32, C.c_int32, C.POINTER(N.Window),
                                                C.POINTER(Requant)]
    m = io.read_model(model)
    tensors = m.subgraphs[0].tensors
    keep = []
    for op in forward_ops:
        key_tensor = _key_tensor(m, op) if _covered(m, op) else None
        if key_tensor is None:
            continue
        p = FP.requant(tensors, op)
        mult, shift = np.ascontiguousarray(p.multiplier), np.ascontiguousarray(p.shift)
        rq = Requant(p.in_zero_point, p.out_zero_point, p.act_min, p.act_max, mult.ctypes.data,
                     shift.ctypes.data, len(mult))
        ws = io.shape(tensors[op.weight])
        win = N.window(io.shape(tensors[op.x]), io.shape(tensors[op.y]), ws[1], ws[2], op.geometry)
        key = base + io.buffer_offset(model, tensors[key_tensor].buffer)
        if not lib.tflmt_host_fast_forward_add(C.c_void_p(key), op.y, _KIND[op.kind], C.byref(win), C.byref(rq)):
            raise N.NativeError("the native fast-forward table is full (too many live TFLM interpreters)")
        keep.append((mult, shift))
    return keep


def calls(lib: C.CDLL) -> int:
    """Forward ops run on kernels/core so far (process-wide)."""
    lib.tflmt_host_fast_forward_calls.restype = C.c_ulonglong
    return int(lib.tflmt_host_fast_forward_calls())


def forget(lib: C.CDLL, lo: int, hi: int) -> None:
    lib.tflmt_host_fast_forward_forget.argtypes = [C.c_void_p, C.c_void_p]
    lib.tflmt_host_fast_forward_forget(C.c_void_p(lo), C.c_void_p(hi))
