"""Numeric safety: a diverging run is reported by the training step, which then applies no update;
weights saturate at +-127 and never wrap; 10,000 steps at 10x the default learning rate on the
example model run clean."""
import os
import sys

import numpy as np
import pytest

import tflm_train as tt

from conftest import int8_model

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist_transfer"))
import quickstart  # noqa: E402


def _state(trainer):
    b = trainer._backend
    return {k: v.copy() for k, v in b.params.items()}, dict(b.steps)


def _same(a, b):
    return a[1] == b[1] and all(np.array_equal(a[0][k], b[0][k]) for k in a[0])


@pytest.mark.parametrize("backend", ["tflm", "reference"])
def test_a_step_over_max_loss_raises_and_changes_nothing(backend):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="full", max_loss=1e-6)
    tr = tt.Trainer(tm, backend=backend)
    before = _state(tr)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    for _ in range(3):
        with pytest.raises(tt.DivergenceError, match="no update applied"):
            tr.train_step(x, 1)
        assert _same(_state(tr), before)
    tr.predict(x)  # the interpreter is still usable
    relaxed = tt.Trainer(tt.convert_tflite(data, scheme="full", max_loss=float("inf")), backend=backend)
    relaxed.train_step(x, 1)  # inf: only a non-finite loss is refused


def test_max_loss_is_checked():
    data, _ = int8_model("plain_cnn")
    with pytest.raises(tt.InputError, match="max_loss"):
        tt.convert_tflite(data, max_loss=-1)
    g = tt.convert_tflite(data).train_ops
    ce = next(op for op in g if op.name == "TFLMT_SOFTMAX_CE")
    assert np.log(ce.options.numClasses) < ce.options.maxLoss < 255 * ce.options.logitsScale + np.log(ce.options.numClasses)


def test_the_default_guard_lets_an_untrained_model_train_from_chance():
    """An untrained model's logits are calibrated to a narrow range, so the largest loss they can express
    is barely above chance's ln(classes); the default guard must still pass a step at chance (it refused
    every one when it was 0.9 of the whole bound)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    inp = tf.keras.Input((16, 16, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(L.Conv2D(16, 1, activation="relu6")(x))
    model = tf.keras.Model(inp, L.Dense(4)(x))
    calib = np.random.default_rng(0).random((32, 16, 16, 1), np.float32)
    tm = tt.convert(model, calib, scheme="last:2", progress=False)
    ce = next(op for op in tm.train_ops if op.name == "TFLMT_SOFTMAX_CE")
    # The narrow range this test is about: 0.9 of the whole bound would be below chance's loss.
    assert 0.9 * (255 * ce.options.logitsScale + np.log(4)) < np.log(4) < ce.options.maxLoss
    trainer = tt.Trainer(tm, backend="tflm")
    losses = [trainer.train_step(calib[i], i % 4) for i in range(8)]
    assert all(abs(v - np.log(4)) < 0.5 for v in losses)


def test_ten_thousand_steps_at_ten_times_the_learning_rate():
    """The example model (full update, lr 0.1 = 10x the default) diverges: every diverging step is
    reported and refused, accepted steps keep the weights inside [-127, 127], nothing crashes."""
    keras_model, calibration = quickstart.pretrain(0, arch="mcu")
    xs, ys, _, _ = quickstart.new_task(per_class=40, seed=0, test_samples=1)
    tm = tt.convert(keras_model, calibration, scheme="full", learning_rate=0.1, progress=False)
    tr = tt.Trainer(tm, backend="tflm")
    weights = [t.tensor for t in tm.graph.trainables if t.kind == 0]
    refused = accepted = 0
    state = _state(tr)
    for i in range(10_000):
        j = i % len(xs)
        try:
            loss = tr.train_step(xs[j], ys[j])
        except tt.DivergenceError:
            refused += 1
            after = _state(tr)
            assert _same(after, state), f"step {i}: a refused step changed the trained state"
            continue
        accepted += 1
        assert np.isfinite(loss)
        state = _state(tr)
        if i % 50 == 0:
            for t in weights:
                assert state[0][t].min() >= -127 and state[0][t].max() <= 127
    assert refused > 0 and accepted > 0
    print(f"refused {refused}, accepted {accepted}")


def test_int32_accumulators_are_bounded_at_conversion():
    import tensorflow as tf

    from tflm_train.bounds import INT32_MAX, accumulator_bounds

    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="full", grad_dtype="int8")
    bounds = accumulator_bounds(tm.model)
    assert {b.name for b in bounds} >= {"TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_CONV_INPUT_GRAD", "TFLMT_BIAS_UPDATE"}
    assert all(b.bound <= INT32_MAX for b in bounds)
    assert accumulator_bounds(tt.convert_tflite(data, scheme="full").model) == []  # float32: no int32 sums
    # 258 x 258 output pixels: a weight-gradient sum of 66,564 products can reach 2.17e9 > int32.
    L = tf.keras.layers
    inp = tf.keras.Input((260, 260, 1))
    big = tf.keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(2, 3, activation="relu")(inp))))
    calib = np.random.default_rng(0).uniform(0, 1, (4, 260, 260, 1)).astype(np.float32)
    with pytest.raises(tt.UnsupportedModelError, match=r"TFLMT_CONV_WEIGHT_UPDATE\): with int8 gradients"):
        tt.convert(big, calib, scheme="full", grad_dtype="int8", progress=False, patch=None)
    tt.convert(big, calib, scheme="full", grad_dtype="float32", progress=False, patch=None)
