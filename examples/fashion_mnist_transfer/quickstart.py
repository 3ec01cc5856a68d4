"""Fashion-MNIST transfer: a CNN deployed for classes 0-4 learns classes 5-9 on the device.

1. pretrain a small MCU-sized CNN in TensorFlow on classes 0-4,
2. quantize it to int8 with the TF converter and convert it with tflm-train,
3. train it with batch 1 on a few hundred labelled samples of classes 5-9,
4. report loss and accuracy on the official test split before and after.

    python examples/fashion_mnist_transfer/quickstart.py [--scheme last:2] [--grad_dtype int8]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from functools import lru_cache

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tflm_train as tt  # noqa: E402
from tflm_train.datasets import fashion_mnist  # noqa: E402

OLD, NEW = range(0, 5), range(5, 10)


def prep(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


def small_cnn(num_classes: int):
    import tensorflow as tf
    L = tf.keras.layers
    x = inp = tf.keras.Input((28, 28, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(num_classes)(x)
    return tf.keras.Model(inp, x)


def mcu_cnn(num_classes: int):
    """MobileNetV2-style (inverted residual blocks, ReLU6, no BN): 28x28 -> 14x14 -> 7x7."""
    import tensorflow as tf
    L = tf.keras.layers

    def block(x, expand: int, out: int, stride: int):
        y = L.Conv2D(expand, 1, activation="relu6")(x)
        y = L.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(y)
        y = L.Conv2D(out, 1)(y)
        return L.Add()([x, y]) if stride == 1 and x.shape[-1] == out else y

    x = inp = tf.keras.Input((28, 28, 1))
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu6")(x)
    x = block(x, 48, 16, 1)
    x = block(x, 48, 24, 2)
    x = block(x, 72, 24, 1)
    x = L.Conv2D(96, 1, activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(num_classes)(x)
    return tf.keras.Model(inp, x)


ARCHS = {"small": small_cnn, "mcu": mcu_cnn}


@lru_cache(maxsize=8)
def pretrain(seed: int = 0, samples: int = 12000, epochs: int = 3, arch: str = "small"):
    """The 'deployed' model: trained in TensorFlow on classes 0-4 only (cached per process)."""
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)
    x, y = fashion_mnist("train")
    keep = np.where(y < 5)[0][:samples]
    m = ARCHS[arch](5)
    m.compile(tf.keras.optimizers.Adam(3e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(prep(x[keep]), y[keep], epochs=epochs, batch_size=64, verbose=0)
    return m, prep(x[keep[:200]])


def new_task(per_class: int, seed: int, test_samples: int):
    """A few labelled samples of classes 5-9 (relabelled 0-4), and their official test split."""
    rng = np.random.default_rng(seed)
    x, y = fashion_mnist("train")
    sel = np.concatenate([rng.choice(np.where(y == c)[0], per_class, replace=False) for c in NEW])
    rng.shuffle(sel)
    xt, yt = fashion_mnist("test")
    te = np.where(yt >= 5)[0][:test_samples]
    return prep(x[sel]), (y[sel] - 5).astype(np.int64), prep(xt[te]), (yt[te] - 5).astype(np.int64)


def mean_loss(trainer, xs, ys) -> float:
    """Cross-entropy of the current model (no update), from the float logits."""
    losses = []
    for x, y in zip(xs, ys):
        z = trainer.predict(x).astype(np.float64)
        z -= z.max()
        losses.append(np.log(np.exp(z).sum()) - z[y])
    return float(np.mean(losses))


def run(scheme="last:2", grad_dtype="float32", per_class=100, epochs=2, seed=0, test_samples=1000,
        learning_rate=0.1, backend="tflm", verbose=True, arch="mcu", decay=True):
    """decay: the learning rate falls linearly to 0 over the run's steps (convert's decay_steps)."""
    t0 = time.time()
    keras_model, calibration = pretrain(seed, arch=arch)
    xs, ys, xt, yt = new_task(per_class, seed, test_samples)
    tm = tt.convert(keras_model, calibration, scheme=scheme, grad_dtype=grad_dtype, learning_rate=learning_rate,
                    seed=seed, decay_steps=epochs * len(xs) if decay else 0)
    trainer = tt.Trainer(tm, backend=backend)
    before = {"loss": mean_loss(trainer, xt, yt), "accuracy": trainer.evaluate(xt, yt)}
    rng = np.random.default_rng(seed)
    curve, refused = [], 0
    for epoch in range(epochs):
        losses = []
        for i in rng.permutation(len(xs)):
            try:
                losses.append(trainer.train_step(xs[i], ys[i]))
            except tt.DivergenceError:
                refused += 1  # the divergence guard refused the step: no update, as on a device
        curve.append(float(np.mean(losses)) if losses else float("nan"))
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: mean training loss {curve[-1]:.3f}"
                  + (f" ({refused} steps refused so far)" if refused else ""))
    after = {"loss": mean_loss(trainer, xt, yt), "accuracy": trainer.evaluate(xt, yt)}
    return {"before": before, "after": after, "train_loss_per_epoch": curve, "refused_steps": refused,
            "memory": trainer.memory_report(), "seconds": time.time() - t0, "trainer": trainer, "model": tm}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scheme", default="last:2")
    p.add_argument("--grad_dtype", default="float32", choices=["float32", "int8"])
    p.add_argument("--per_class", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learning_rate", type=float, default=0.1)
    p.add_argument("--constant_rate", action="store_true", help="no learning-rate decay over the run")
    p.add_argument("--backend", default="tflm", choices=["tflm", "reference"])
    p.add_argument("--arch", default="mcu", choices=sorted(ARCHS), help="mcu: MobileNetV2-style; small: 5 layers")
    p.add_argument("--out", default="out/fashion_mnist_transfer.train.tflite")
    a = p.parse_args(argv)
    r = run(a.scheme, a.grad_dtype, a.per_class, a.epochs, a.seed, learning_rate=a.learning_rate, backend=a.backend,
            arch=a.arch, decay=not a.constant_rate)
    b, f = r["before"], r["after"]
    print(f"scheme {a.scheme}, {a.grad_dtype} gradients, backend {a.backend}, batch 1, "
          f"{5 * a.per_class} samples x {a.epochs} epochs, learning rate {a.learning_rate:g}"
          + (" constant" if a.constant_rate else " decayed to 0"))
    print(f"test loss      {b['loss']:.3f} -> {f['loss']:.3f}")
    print(f"test accuracy  {100 * b['accuracy']:.1f}% -> {100 * f['accuracy']:.1f}%  (5 new classes, chance 20%)")
    m = r["memory"]
    an = m.get("analytic", m)
    print(f"memory (analytic): inference peak {an['inference_peak_bytes']} B, training peak "
          f"{an['training_peak_bytes']} B, trainable state {an['trainable_bytes']} B")
    if "tflm" in m:
        t = m["tflm"]
        print(f"memory (TFLM, measured): inference arena {t['inference_arena_bytes']} B, training arena "
              f"{t['training_arena_bytes']} B (persistent {t['training_persistent_bytes']} B incl. "
              f"{t['trainable_bytes']} B trainable state, non-persistent {t['training_nonpersistent_bytes']} B)")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    data = r["trainer"].export()
    from tflm_train.model import atomic_write
    atomic_write(a.out, data)
    print(f"trained model written to {a.out} ({len(data)} bytes) in {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
