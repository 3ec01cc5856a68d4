"""Small Keras networks for the tests (random weights; conversion calibrates them)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

L = tf.keras.layers


def plain_cnn(num_classes: int = 5, input_shape=(16, 16, 1)) -> tf.keras.Model:
    x = inp = tf.keras.Input(input_shape)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2D(12, 3, padding="valid", activation="relu6")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(num_classes)(x)
    return tf.keras.Model(inp, x)


def _inverted_residual(x, expand: int, out_ch: int, stride: int, k: int = 3):
    c = int(x.shape[-1])
    y = L.Conv2D(c * expand, 1, activation="relu6")(x)
    y = L.DepthwiseConv2D(k, strides=stride, padding="same", activation="relu6")(y)
    y = L.Conv2D(out_ch, 1)(y)
    if stride == 1 and c == out_ch:
        y = L.Add()([x, y])
    return y


def mobilenet_v2_style(num_classes: int = 4, input_shape=(16, 16, 3)) -> tf.keras.Model:
    x = inp = tf.keras.Input(input_shape)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(8, 1)(x)
    x = _inverted_residual(x, 3, 8, 1)
    x = _inverted_residual(x, 3, 12, 2)
    x = _inverted_residual(x, 2, 12, 1)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(num_classes)(x)
    x = L.Softmax()(x)
    return tf.keras.Model(inp, x)


def depthwise_k5_odd(num_classes: int = 3, input_shape=(15, 15, 5)) -> tf.keras.Model:
    x = inp = tf.keras.Input(input_shape)
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = L.Conv2D(7, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(5, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(9, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(5, strides=2, padding="valid", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(num_classes)(x)
    return tf.keras.Model(inp, x)


def init_random(model: tf.keras.Model, seed: int) -> tf.keras.Model:
    """Reinitialises every weight with seeded values and non-zero biases (so biases survive conversion)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.normal(0.0, 0.1, w.shape).astype(np.float32))
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 2 else w.shape[0]
                if isinstance(layer, L.DepthwiseConv2D):
                    fan_in = int(np.prod(w.shape[:2]))
                new.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32))
        layer.set_weights(new)
    return model


def samples(shape, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)
