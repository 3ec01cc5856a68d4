"""TFLite's integer arithmetic, vectorised with numpy.

Every function here mirrors the C++ helper TFLM's reference kernels use, including
C's truncating division and two's-complement wrap, so that the forward reference
is bit-exact with the interpreter.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = q * 2**(shift - 31), q in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = _round_half_away(frac * (1 << 31))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return int(q), int(shift)


def _round_half_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """std::round on float arrays (ties away from zero), result in v's dtype."""
    return np.trunc(v + np.copysign(np.asarray(0.5, dtype=v.dtype), v))


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int64)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (toward zero) of int64 array a by positive d."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, res).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (double rounding), broadcast over channels."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    shifted = _wrap32(np.asarray(x, dtype=np.int64) * (np.int64(1) << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one(x: np.ndarray, multiplier, shift) -> np.ndarray:
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -np.asarray(shift))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 (TFLite ActivationFunctionType codes)."""
    qmin, qmax = -128, 127

    def q(f: float) -> int:
        return zero_point + _round_half_away(float(np.float32(f) / np.float32(scale)))

    if activation == 0:  # NONE
        return qmin, qmax
    if activation == 1:  # RELU
        return max(qmin, q(0.0)), qmax
    if activation == 3:  # RELU6
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == 2:  # RELU_N1_TO_1
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation}")
