"""Sparse-update schemes: which biases, which weights and which of their channels are trained.

A scheme is a bias depth K (the biases of the last K weighted layers) plus a set
of weight-trained layers, each with a ratio of its input channels. Layers are
numbered like the paper's conv index: the position of the op among CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED in execution order (the classifier is the
last one; negative indices count from the end). "full", "bias", "classifier"
and "last:K" are schemes too.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

import numpy as np

from .. import tflite_io as io
from ..errors import InputError
from ..graph import WEIGHTED, ForwardOp

SCHEME_HELP = ('"full", "bias", "classifier", "last:K" (K >= 1), a SparseScheme, or its text form '
               '"sparse:bias=K;weights=L:R,L:R" (layer L, channel ratio R such as 1, 1/2, 1/4, 1/8)')


@dataclass(frozen=True)
class SparseScheme:
    """Biases of the last `bias_layers` weighted layers plus the weights of `weights` (layer -> channel ratio)."""

    bias_layers: int = 0
    weights: tuple[tuple[int, Fraction], ...] = ()

    def __init__(self, bias_layers: int = 0, weights: Mapping[int, float] | None = None):
        if isinstance(bias_layers, bool) or not isinstance(bias_layers, (int, np.integer)) or bias_layers < 0:
            raise InputError(f"SparseScheme: bias_layers must be an integer >= 0, got {bias_layers!r}")
        items = []
        for layer, ratio in dict(weights or {}).items():
            if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
                raise InputError(f"SparseScheme: layer keys must be integers, got {layer!r}")
            items.append((int(layer), _ratio(ratio, layer)))
        object.__setattr__(self, "bias_layers", int(bias_layers))
        object.__setattr__(self, "weights", tuple(sorted(items)))

    @property
    def weight_ratios(self) -> dict[int, Fraction]:
        return dict(self.weights)

    def text(self) -> str:
        """Canonical text form (stored in the model; parse_scheme reads it back)."""
        w = ",".join(f"{layer}:{r}" for layer, r in self.weights)
        return f"sparse:bias={self.bias_layers};weights={w}"


def _ratio(value, layer) -> Fraction:
    try:
        r = Fraction(value).limit_denominator(1024) if not isinstance(value, str) else Fraction(value.strip())
    except (ValueError, TypeError, ZeroDivisionError):
        raise InputError(f"SparseScheme: layer {layer}: channel ratio {value!r} is not a number") from None
    if not 0 < r <= 1:
        raise InputError(f"SparseScheme: layer {layer}: channel ratio must be in (0, 1], got {value!r}")
    return r


def parse_scheme(text: str) -> SparseScheme | str:
    """A scheme string: the named schemes stay strings, "sparse:..." becomes a SparseScheme."""
    s = text.strip().lower()
    if not s.startswith("sparse:"):
        return s
    fields = {}
    for part in s[7:].split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in ("bias", "weights"):
            raise InputError(f"scheme {text!r}: expected 'bias=K' and 'weights=L:R,...', got {part!r}")
        fields[key] = value
    try:
        bias = int(fields.get("bias", "0"))
    except ValueError:
        raise InputError(f"scheme {text!r}: bias must be an integer") from None
    weights = {}
    for item in filter(None, fields.get("weights", "").split(",")):
        layer, sep, ratio = item.partition(":")
        try:
            weights[int(layer)] = ratio if sep else "1"
        except ValueError:
            raise InputError(f"scheme {text!r}: layer {layer!r} is not an integer") from None
    return SparseScheme(bias, weights)


def resolve(scheme, n_layers: int) -> SparseScheme:
    """Any accepted scheme -> a SparseScheme with concrete, non-negative layer indices."""
    if n_layers < 1:
        raise InputError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer to train")
    if isinstance(scheme, str):
        scheme = parse_scheme(scheme)
        if isinstance(scheme, str):
            return _named(scheme, n_layers)
    if not isinstance(scheme, SparseScheme):
        raise InputError(f"scheme must be one of {SCHEME_HELP}; got {scheme!r}")
    if scheme.bias_layers > n_layers:
        raise InputError(f"scheme: bias_layers={scheme.bias_layers} but the model has only {n_layers} weighted layers")
    weights = {}
    for layer, r in scheme.weights:
        i = layer + n_layers if layer < 0 else layer
        if not 0 <= i < n_layers:
            raise InputError(f"scheme: layer {layer} does not exist (the model has {n_layers} weighted layers, "
                             f"0..{n_layers - 1})")
        if i in weights:
            raise InputError(f"scheme: layer {layer} is listed twice")
        weights[i] = r
    return SparseScheme(scheme.bias_layers, weights)


def _named(s: str, n: int) -> SparseScheme:
    if s == "full":
        return SparseScheme(n, {i: 1 for i in range(n)})
    if s == "bias":
        return SparseScheme(n, {})
    if s == "classifier":
        return SparseScheme(1, {n - 1: 1})
    if s.startswith("last:"):
        try:
            k = int(s[5:])
        except ValueError:
            k = 0
        if k < 1:
            raise InputError(f"scheme {s!r}: K must be a positive integer ({SCHEME_HELP})")
        if k > n:
            raise InputError(f"scheme {s!r}: the model has only {n} weighted layers")
        return SparseScheme(k, {i: 1 for i in range(n - k, n)})
    raise InputError(f"unknown scheme {s!r}: use {SCHEME_HELP}")


@dataclass(frozen=True)
class TrainPlan:
    """Forward-op indices whose weights / biases are trained, and the updated input channels of each weight."""

    weights: frozenset[int]
    biases: frozenset[int]
    channels: Mapping[int, tuple[int, ...]]  # forward op index -> sorted input channels (all channels: absent)
    scheme: SparseScheme  # resolved: concrete layer indices

    @property
    def layers(self) -> frozenset[int]:
        return self.weights | self.biases


def weighted_layers(fops: list[ForwardOp]) -> list[ForwardOp]:
    return [op for op in fops if op.kind in WEIGHTED]


def select_channels(model, op: ForwardOp, ratio: Fraction) -> tuple[int, ...]:
    """The floor(ratio * C) input channels (at least 1; C = input channels, or a depthwise conv's channels) with
    the largest L2 norm of their real-valued weights; () when that is every channel."""
    t = model.subgraphs[0].tensors[op.weight]
    w = io.buffer_array(model, t).astype(np.float64)
    q = io.qparams(t)
    axis = 3 if op.kind == "DEPTHWISE_CONV_2D" else 0
    scales = np.broadcast_to(np.asarray(q.scale, np.float64), (w.shape[axis],))
    shape = [1] * w.ndim
    shape[axis] = -1
    real = w * scales.reshape(shape)
    c = w.shape[-1]
    k = max(1, int(ratio * c))
    if k == c:
        return ()
    norms = np.sqrt((real.reshape(-1, c) ** 2).sum(axis=0))
    # Stable: ties keep the lower channel index.
    order = np.argsort(-norms, kind="stable")[:k]
    return tuple(int(i) for i in sorted(order))


def plan_scheme(scheme, fops: list[ForwardOp], model) -> TrainPlan:
    layers = weighted_layers(fops)
    sp = resolve(scheme, len(layers))
    n = len(layers)
    biases = frozenset(op.index for op in layers[n - sp.bias_layers:]) if sp.bias_layers else frozenset()
    weights, channels = set(), {}
    for i, r in sp.weights:
        op = layers[i]
        weights.add(op.index)
        sel = select_channels(model, op, r) if r < 1 else ()
        if sel:
            channels[op.index] = sel
    return TrainPlan(frozenset(weights), biases, channels, sp)
