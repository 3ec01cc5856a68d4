"""The sparse-update schemes released with Lin et al. 2022 (tiny-training `mcu_ir_gen.py`).

Layer indices are the paper's conv index (MODELS.md s.5); the classifier (the
last index) is always trained, so `bias_layers` = n_bias_update + 1. Ratios are
fractions of input channels; the released code keeps the first channels, we keep
the largest-magnitude ones.
"""
from __future__ import annotations

from fractions import Fraction as F

from ..errors import InputError
from .scheme import SparseScheme

_SCHEMES = {
    ("mcunet-5fps", "49kb"): (21, {24: F(1, 4), 27: F(1, 2), 30: F(1, 2), 42: 1}),
    ("mcunet-5fps", "99kb"): (23, {21: 1, 24: 1, 27: 1, 30: 1, 36: F(1, 8), 39: F(1, 4), 42: 1}),
    ("mbv2-w0.35", "49kb"): (17, {36: 1, 39: 1, 41: F(1, 4), 42: F(1, 8), 45: F(1, 8), 48: F(1, 8), 49: F(1, 8),
                                  51: 1}),
    ("mbv2-w0.35", "99kb"): (26, {27: 1, 30: 1, 33: 1, 36: 1, 39: 1, 42: F(1, 8), 45: F(1, 2), 48: 1, 51: 1}),
    ("proxyless-w0.3", "49kb"): (22, {39: F(1, 4), 42: 1, 45: 1, 51: F(1, 8), 54: F(1, 4), 57: F(1, 4), 60: 1}),
    ("proxyless-w0.3", "98kb"): (26, {36: 1, 39: F(1, 2), 42: 1, 45: 1, 48: F(1, 4), 51: F(1, 2), 54: 1, 57: 1,
                                      60: 1}),
}
HUNDRED_KB = {"mcunet-5fps": "99kb", "mbv2-w0.35": "99kb", "proxyless-w0.3": "98kb"}


def paper_scheme(model: str, budget: str = "100kb") -> SparseScheme:
    """A released scheme; budget "100kb" names each model's ~100 KB entry (the paper's headline setting)."""
    if budget == "100kb":
        budget = HUNDRED_KB.get(model, budget)
    key = (model, budget)
    if key not in _SCHEMES:
        known = ", ".join(f"{m}/{b}" for m, b in _SCHEMES)
        raise InputError(f"no released scheme {model}/{budget}; known: {known}")
    bias_layers, weights = _SCHEMES[key]
    return SparseScheme(bias_layers, weights)
