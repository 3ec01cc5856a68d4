"""Which parameters a scheme trains."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError
from .graph import WEIGHTED, ForwardOp

SCHEME_HELP = '"full", "bias", "classifier" or "last:K" (K >= 1)'


@dataclass(frozen=True)
class TrainPlan:
    """Forward-op indices whose weights / biases are trained."""

    weights: frozenset[int]
    biases: frozenset[int]

    @property
    def layers(self) -> frozenset[int]:
        return self.weights | self.biases


def plan_scheme(scheme: str, fops: list[ForwardOp]) -> TrainPlan:
    layers = [op.index for op in fops if op.kind in WEIGHTED]
    if not layers:
        raise InputError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer to train")
    if not isinstance(scheme, str):
        raise InputError(f"scheme must be a string: {SCHEME_HELP}; got {scheme!r}")
    s = scheme.strip().lower()
    if s == "full":
        return TrainPlan(frozenset(layers), frozenset(layers))
    if s == "bias":
        return TrainPlan(frozenset(), frozenset(layers))
    if s == "classifier":
        return TrainPlan(frozenset(layers[-1:]), frozenset(layers[-1:]))
    if s.startswith("last:"):
        try:
            k = int(s[5:])
        except ValueError:
            k = 0
        if k < 1:
            raise InputError(f"scheme {scheme!r}: K must be a positive integer ({SCHEME_HELP})")
        if k > len(layers):
            raise InputError(f"scheme {scheme!r}: the model has only {len(layers)} weighted layers")
        return TrainPlan(frozenset(layers[-k:]), frozenset(layers[-k:]))
    raise InputError(f"unknown scheme {scheme!r}: use {SCHEME_HELP}")
