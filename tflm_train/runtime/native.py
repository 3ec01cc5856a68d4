"""ctypes access to the native library: the C compute kernels and the TFLM host glue.

The library is built by `pip install` (setup.py) as tflm_train/_native*.so. The
environment variable TFLMT_NATIVE_LIB points at another build (the sanitizer
build of the test suite uses it).
"""
from __future__ import annotations

import ctypes as C
import glob
import os
from functools import lru_cache

import numpy as np

from ..errors import TflmTrainError

SUPPORTED_WHEEL = "0.dev20261023182759"
REGISTERER = "TflmtRegisterTrainingOps"


class NativeError(TflmTrainError):
    """The native library is missing, or the TFLM wheel is not the one it was built for."""


class Geometry(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("stride_h", "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_left")]


class Shape3(C.Structure):
    _fields_ = [("h", C.c_int32), ("w", C.c_int32), ("c", C.c_int32)]


class Window(C.Structure):
    _fields_ = [("in_", Shape3), ("out", Shape3), ("kh", C.c_int32), ("kw", C.c_int32), ("geo", Geometry)]


class Quant(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", C.c_int32)]


class ChannelMap(C.Structure):
    _fields_ = [("index", C.POINTER(C.c_int32)), ("weight_channels", C.c_int32)]


def channel_map(index: np.ndarray | None, weight_channels: int):
    """A tflmt_channel_map for `index` (int32), or None (all channels). The map keeps `index` alive."""
    if index is None:
        return None
    index = np.ascontiguousarray(index, np.int32)
    m = ChannelMap(index.ctypes.data_as(C.POINTER(C.c_int32)), weight_channels)
    m.keep_alive = index
    return m


class Sgd(C.Structure):  # tflmt_sgd
    _fields_ = [("learning_rate", C.c_float), ("stochastic", C.c_int32), ("seed", C.c_uint32),
                ("op_uid", C.c_uint32), ("step", C.c_uint32), ("residual", C.c_void_p)]


class Trainable(C.Structure):
    _fields_ = [("key", C.c_void_p), ("tensor", C.c_int32), ("data", C.c_void_p), ("bytes", C.c_uint32),
                ("step", C.POINTER(C.c_uint32))]


READ_FN = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_uint32, C.c_void_p, C.c_uint32)
WRITE_FN = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_uint32, C.c_void_p, C.c_uint32)


class Storage(C.Structure):
    _fields_ = [("ctx", C.c_void_p), ("read", READ_FN), ("write", WRITE_FN), ("slot_bytes", C.c_uint32)]


def byte_storage(image: bytearray, slot_bytes: int, write_limit: int | None = None) -> Storage:
    """A tflmt_storage over a Python bytearray. write_limit: bytes the storage accepts before it
    'loses power' (later writes fail, a write that crosses the limit keeps only its first part)."""
    budget = [write_limit]

    def read(_ctx, offset, dst, n):
        if offset + n > len(image):
            return -1
        C.memmove(dst, (C.c_char * n).from_buffer(image, offset), n)
        return 0

    def write(_ctx, offset, src, n):
        if offset + n > len(image):
            return -1
        keep = n if budget[0] is None else min(n, budget[0])
        if keep > 0:
            image[offset:offset + keep] = C.string_at(src, keep)
        if budget[0] is not None:
            budget[0] -= keep
        return 0 if keep == n else -1

    s = Storage(None, READ_FN(read), WRITE_FN(write), slot_bytes)
    s.keep_alive = (read, write)
    return s


P = C.c_void_p
I32, F32, SZ = C.c_int32, C.c_float, C.c_size_t
_W, _S, _Q = C.POINTER(Window), C.POINTER(Sgd), Quant
PF = C.POINTER(C.c_float)

# name: (restype, argtypes)
_SIGNATURES = {
    "tflmt_prng_stream": (C.c_uint32, [C.c_uint32, C.c_uint32, C.c_uint32]),
    "tflmt_prng_uniform": (F32, [C.c_uint32, C.c_uint32]),
    "tflmt_quantize_grad_s8": (I32, [P, I32, P, PF]),
    "tflmt_softmax_ce_f32": (I32, [I32, P, I32, _Q, PF, P]),
    "tflmt_softmax_ce_s8": (I32, [I32, P, I32, _Q, PF, P, PF]),
    "tflmt_clamp_mask_s8": (None, [P, I32, I32, I32, P]),
    "tflmt_channel_gather_s8": (None, [P, I32, I32, P, I32, P]),
    "tflmt_channel_merge_s8": (None, [P, P, I32, I32, P, I32, P]),
    "tflmt_clamp_grad_f32": (None, [P, P, I32, P]),
    "tflmt_clamp_grad_s8": (None, [P, P, I32, P]),
    "tflmt_grad_accum_f32": (None, [P, P, I32, P]),
    "tflmt_grad_accum_s8": (I32, [P, F32, P, F32, I32, P, PF]),
    "tflmt_avg_pool_grad_f32": (None, [_W, P, P]),
    "tflmt_max_pool_argmax_s8": (None, [_W, P, P]),
    "tflmt_max_pool_grad_f32": (I32, [_W, P, P, P]),
    "tflmt_max_pool_grad_s8_scratch_size": (SZ, [_W]),
    "tflmt_max_pool_grad_s8": (I32, [_W, P, F32, P, P, PF, P]),
    "tflmt_avg_pool_grad_s8_scratch_size": (SZ, [_W]),
    "tflmt_avg_pool_grad_s8": (I32, [_W, P, F32, P, PF, P]),
    "tflmt_mean_grad_f32": (None, [Shape3, P, P]),
    "tflmt_mean_grad_s8": (None, [Shape3, P, F32, P, PF]),
    "tflmt_pad_grad": (I32, [P, P, P, P, I32, I32, P]),
    "tflmt_bias_update_f32": (I32, [P, I32, I32, P, _S, P]),
    "tflmt_bias_update_s8": (I32, [P, F32, I32, I32, P, _S, P]),
    "tflmt_conv_weight_update_scratch_size": (SZ, [_W]),
    "tflmt_depthwise_weight_update_scratch_size": (SZ, [_W]),
    "tflmt_conv_input_grad_s8_scratch_size": (SZ, [_W]),
    "tflmt_depthwise_input_grad_s8_scratch_size": (SZ, [_W]),
    "tflmt_fc_input_grad_s8_scratch_size": (SZ, [I32, I32]),
    "tflmt_state_find": (C.POINTER(Trainable), [P, I32]),
    "tflmt_crc32": (C.c_uint32, [C.c_uint32, P, C.c_uint32]),
    "tflmt_checkpoint_record_bytes": (C.c_uint32, [P, I32]),
    "tflmt_checkpoint_save": (I32, [C.POINTER(Storage), P, I32, C.POINTER(C.c_uint32)]),
    "tflmt_checkpoint_load": (I32, [C.POINTER(Storage), P, I32, C.POINTER(C.c_uint32)]),
    "tflmt_state_forget": (None, [P, P]),
    "tflmt_state_count": (I32, []),
}
for _v in ("", "_naive"):
    for _k in ("conv", "depthwise"):
        _SIGNATURES[f"tflmt_{_k}_weight_update_f32{_v}"] = (I32, [_W, P, P, _Q, P, P, _S, P, P])
        _SIGNATURES[f"tflmt_{_k}_weight_update_s8{_v}"] = (I32, [_W, P, F32, P, _Q, P, P, _S, P, P])
        _SIGNATURES[f"tflmt_{_k}_input_grad_f32{_v}"] = (None, [_W, P, P, P, I32, P])
        _SIGNATURES[f"tflmt_{_k}_input_grad_s8{_v}"] = (I32, [_W, P, F32, P, P, I32, P, PF, P])
    _SIGNATURES[f"tflmt_fc_weight_update_f32{_v}"] = (I32, [I32, I32, P, P, _Q, P, P, _S, P])
    _SIGNATURES[f"tflmt_fc_weight_update_s8{_v}"] = (I32, [I32, I32, P, F32, P, _Q, P, P, _S, P])
    _SIGNATURES[f"tflmt_fc_input_grad_f32{_v}"] = (None, [I32, I32, P, P, P, I32, P])
    _SIGNATURES[f"tflmt_fc_input_grad_s8{_v}"] = (I32, [I32, I32, P, F32, P, P, I32, P, PF, P])


def library_path() -> str:
    env = os.environ.get("TFLMT_NATIVE_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = sorted(glob.glob(os.path.join(here, "_native*.so")))
    if not found:
        raise NativeError(f"the native library (tflm_train/_native*.so) is missing in {here}: reinstall with "
                          "`pip install .` (it compiles kernels/ and needs a C/C++ compiler)")
    return found[0]


@lru_cache(maxsize=None)
def library() -> C.CDLL:
    """The native library, loaded RTLD_GLOBAL so the TFLM wheel finds our registerer by name."""
    lib = C.CDLL(library_path(), mode=C.RTLD_GLOBAL)
    for name, (res, args) in _SIGNATURES.items():
        f = getattr(lib, name, None)
        if f is None:
            if name.startswith("tflmt_state"):
                continue  # a core-only build (sanitizer run) has no TFLM layer
            raise NativeError(f"{library_path()} lacks {name}: rebuild with `pip install .`")
        f.restype, f.argtypes = res, args
    return lib


@lru_cache(maxsize=None)
def host() -> C.CDLL:
    """The library bound to the pinned tflite-micro wheel; raises NativeError on any mismatch."""
    import tflite_micro
    from tflite_micro.python.tflite_micro import _runtime

    version = str(getattr(tflite_micro, "__version__", "?"))
    if not version.startswith(SUPPORTED_WHEEL):
        raise NativeError(f"tflite-micro {version} is installed; the TFLM backend works with "
                          f"tflite-micro=={SUPPORTED_WHEEL} only (it reaches the wheel's private ABI)")
    lib = library()
    lib.tflmt_host_bind.restype, lib.tflmt_host_bind.argtypes = C.c_int, [C.c_char_p]
    lib.tflmt_host_last_error.restype = C.c_char_p
    if not lib.tflmt_host_bind(_runtime.__file__.encode()):
        raise NativeError("cannot use the tflite-micro wheel: " + last_error(lib))
    return lib


def last_error(lib: C.CDLL | None = None) -> str:
    lib = lib or library()
    lib.tflmt_host_last_error.restype = C.c_char_p
    return (lib.tflmt_host_last_error() or b"").decode(errors="replace")


def ptr(a: np.ndarray | None):
    """The data pointer of a C-contiguous array (None for None)."""
    if a is None:
        return None
    if not a.flags.c_contiguous:
        raise ValueError("array must be C-contiguous")
    return a.ctypes.data_as(C.c_void_p)


def window(x_shape, y_shape, kh: int, kw: int, geo) -> Window:
    _, h, w, c = x_shape
    _, oh, ow, oc = y_shape
    g = Geometry(geo.stride_h, geo.stride_w, geo.dilation_h, geo.dilation_w, geo.pad_top, geo.pad_left)
    return Window(Shape3(h, w, c), Shape3(oh, ow, oc), kh, kw, g)


def sgd(lr: float, stochastic: bool, seed: int, op_uid: int, step: int, residual: np.ndarray | None = None) -> Sgd:
    """residual: the int8 residual bytes of the weights (updated in place), or None."""
    return Sgd(lr, int(stochastic), seed & 0xFFFFFFFF, op_uid & 0xFFFFFFFF, step & 0xFFFFFFFF,
               None if residual is None else residual.ctypes.data)
