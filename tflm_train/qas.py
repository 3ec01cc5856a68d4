"""Quantization-Aware Scaling (Lin et al. 2022, Eq. 2-4).

With W = s_W * Wq, dL/dWq = s_W * dL/dW. QAS multiplies it by s_W**-2, so the
integer step is dL/dW / s_W: the float SGD step in integer units. For the int32
bias (scale s_x * s_W) the factor is 1 / (s_x * s_W). We store the per-channel
factor that multiplies the *real-valued* gradient.

With qas=False (the paper's ablation) the factor is the scale itself: the update
uses the plain gradient of the quantized graph w.r.t. the integers, dL/dWq = s_W dL/dW,
whose size is off by s_W**2 from the float step and differs from layer to layer.
"""
from __future__ import annotations

import numpy as np


def weight_factors(weight_scales: np.ndarray, channels: int, qas: bool = True) -> np.ndarray:
    s = np.broadcast_to(np.asarray(weight_scales, np.float64), (channels,))
    return (1.0 / s if qas else s).astype(np.float32)


def bias_factors(bias_scales: np.ndarray, channels: int, qas: bool = True) -> np.ndarray:
    s = np.broadcast_to(np.asarray(bias_scales, np.float64), (channels,))
    return (1.0 / s if qas else s).astype(np.float32)
