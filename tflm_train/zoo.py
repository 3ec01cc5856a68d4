"""Keras builders for the three backbones of Lin et al. 2022 (layer tables: MODELS.md).

Every conv carries a bias and no BatchNorm (the deployed, BN-folded form), ReLU6
follows the stem, every expand 1x1 and every depthwise conv, and the head is
global average pooling + Dense. Padding is "same", which matches the paper's
memory figures (explicit symmetric padding would add a PAD op and its buffer).
The weights are random: these builders exist to measure memory and cost, or
to be trained by the user.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class Block:
    """One MBConv block: expand ratio, depthwise kernel, stride, output channels."""

    expand: int
    kernel: int
    stride: int
    out_channels: int


STEM_CHANNELS = 16

_MCUNET = [Block(1, 3, 1, 8), Block(4, 3, 2, 16), Block(3, 3, 1, 16), Block(3, 7, 2, 24), Block(5, 3, 1, 24),
           Block(5, 3, 2, 40), Block(4, 7, 1, 40), Block(4, 5, 1, 48), Block(3, 3, 1, 48), Block(4, 3, 1, 48),
           Block(5, 7, 2, 96), Block(4, 5, 1, 96), Block(4, 5, 1, 96), Block(6, 3, 1, 160)]

_MBV2 = [Block(1, 3, 1, 8), Block(6, 3, 2, 8), Block(6, 3, 1, 8), Block(6, 3, 2, 16), Block(6, 3, 1, 16),
         Block(6, 3, 1, 16), Block(6, 3, 2, 24), Block(6, 3, 1, 24), Block(6, 3, 1, 24), Block(6, 3, 1, 24),
         Block(6, 3, 1, 32), Block(6, 3, 1, 32), Block(6, 3, 1, 32), Block(6, 3, 2, 56), Block(6, 3, 1, 56),
         Block(6, 3, 1, 56), Block(6, 3, 1, 112)]

_PROXYLESS = [Block(1, 3, 1, 8), Block(3, 5, 2, 16), Block(3, 3, 1, 16), Block(3, 7, 2, 16), Block(3, 3, 1, 16),
              Block(3, 5, 1, 16), Block(3, 5, 1, 16), Block(6, 7, 2, 24), Block(3, 5, 1, 24), Block(3, 5, 1, 24),
              Block(3, 5, 1, 24), Block(6, 5, 1, 32), Block(3, 5, 1, 32), Block(3, 5, 1, 32), Block(3, 5, 1, 32),
              Block(6, 7, 2, 64), Block(6, 7, 1, 64), Block(3, 7, 1, 64), Block(3, 7, 1, 64), Block(6, 7, 1, 96)]

BLOCKS = {"mcunet-5fps": _MCUNET, "mbv2-w0.35": _MBV2, "proxyless-w0.3": _PROXYLESS}


def build(name: str, num_classes: int = 10, input_size: int = 128, seed: int = 0):
    """The named backbone as a Keras model (input [input_size, input_size, 3] in [-1, 1])."""
    import tensorflow as tf

    if name not in BLOCKS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(BLOCKS)}")
    if input_size % 32 or input_size < 32:
        raise InputError(f"input_size must be a positive multiple of 32 (five stride-2 stages), got {input_size}")
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers

    def relu6(t):
        return L.ReLU(max_value=6.0)(t)

    inp = tf.keras.Input((input_size, input_size, 3))
    x = relu6(L.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", name="stem")(inp))
    c_in = STEM_CHANNELS
    for b, blk in enumerate(BLOCKS[name]):
        y = x
        if blk.expand > 1:
            y = relu6(L.Conv2D(c_in * blk.expand, 1, name=f"b{b}_pw1")(y))
        y = relu6(L.DepthwiseConv2D(blk.kernel, strides=blk.stride, padding="same", name=f"b{b}_dw")(y))
        y = L.Conv2D(blk.out_channels, 1, name=f"b{b}_pw2")(y)
        if blk.stride == 1 and c_in == blk.out_channels and blk.expand > 1:
            y = L.Add(name=f"b{b}_add")([x, y])
        x, c_in = y, blk.out_channels
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(num_classes, name="classifier")(x)
    return tf.keras.Model(inp, out, name=name)


def scale_to_unit_signal(model, x, seed: int = 0):
    """Data-dependent init (LSUV-style) for random-weight backbones, in place; returns the model.

    Without BatchNorm, a default-initialised 50-layer net shrinks its signal layer by layer
    until every input gives the same logits: a random-weight model then computes nothing that
    a kernel bug could change. Here each conv and dense layer, in order, gets small random
    biases and its kernel and bias divided by the std of its output on `x`, so every layer
    passes a unit-scale, input-dependent signal on.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    L = tf.keras.layers
    for layer in model.layers:
        if not isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.Dense)):
            continue
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, rng.normal(0.0, 0.1, bias.shape).astype(np.float32)])
        std = float(np.std(tf.keras.Model(model.inputs, layer.output)(x, training=False)))
        if std > 0:
            layer.set_weights([w / std for w in layer.get_weights()])
    return model
