"""The counter-based PRNG of stochastic rounding (identical in kernels/core).

A draw depends only on (seed, op_uid, step, element index), so kernels may visit
elements in any order and no generator state has to be stored besides `step`.
"""
from __future__ import annotations

import numpy as np

_M32 = np.uint64(0xFFFFFFFF)


def fmix32(h):
    """MurmurHash3's 32-bit finaliser, on Python ints or uint32/uint64 arrays."""
    h = np.asarray(h, dtype=np.uint64) & _M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _M32
    h ^= h >> np.uint64(16)
    return h


def stream_base(seed: int, op_uid: int, step: int) -> np.uint64:
    return fmix32(np.uint64(seed & 0xFFFFFFFF) ^ fmix32(np.uint64(op_uid & 0xFFFFFFFF) ^ fmix32(step & 0xFFFFFFFF)))


def uniform(seed: int, op_uid: int, step: int, index: np.ndarray) -> np.ndarray:
    """u in [0, 1) as float32 with 24 random bits, for each element index."""
    base = stream_base(seed, op_uid, step)
    idx = np.asarray(index, dtype=np.uint64)
    r = fmix32((base + idx * np.uint64(0x9E3779B9)) & _M32)
    return (r >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)
