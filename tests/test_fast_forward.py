"""The TFLM backend's fast_forward option: the wheel's CONV_2D / DEPTHWISE_CONV_2D replaced by
kernels/core's optimised int8 kernels inside the real interpreter, bit-exact with the reference."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train.runtime import fast_forward as FF
from tflm_train.runtime import native as N
from tflm_train.runtime import tflm as backend

from conftest import int8_model


def _convs(tm) -> int:
    return sum(op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") for op in tm.forward_ops)


def _state(trainer):
    b = trainer._backend
    return {k: v.copy() for k, v in b.params.items()}, dict(b.steps)


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_fast_forward_equals_reference_and_takes_the_fast_path(arch, grad_dtype):
    data, shape = int8_model(arch)
    tm = tt.convert_tflite(data, scheme="full", grad_dtype=grad_dtype, learning_rate=0.05)
    ref, fast = tt.Trainer(tm), tt.Trainer(tm, backend="tflm", fast_forward=True)
    rng = np.random.default_rng(2)
    before = FF.calls(N.library())
    steps = 4
    for i in range(steps):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        y = i % tm.num_classes
        assert np.float32(ref.train_step(x, y)) == np.float32(fast.train_step(x, y)), f"step {i}"
        (pr, sr), (pf, sf) = _state(ref), _state(fast)
        assert sr == sf and all(np.array_equal(pr[k], pf[k]) for k in pr), f"step {i}: trained state differs"
    np.testing.assert_array_equal(ref.predict(x), fast.predict(x))
    # every conv of every call (steps + the predict) ran on kernels/core, not the wheel's kernel
    assert FF.calls(N.library()) - before == _convs(tm) * (steps + 1) > 0


def test_fast_forward_trains_sparse_channels_like_the_plain_backend(monkeypatch):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=tt.SparseScheme(bias_layers=4, weights={-1: 1.0, -3: 0.5, -5: 0.25}),
                           learning_rate=0.05)
    assert any(t.sliceOf >= 0 for t in tm.graph.trainables)  # a channel slice: its conv reads merged weights
    plain, fast = tt.Trainer(tm, backend="tflm"), tt.Trainer(tm, backend="tflm", fast_forward=True)
    rng = np.random.default_rng(3)
    before = FF.calls(N.library())
    for i in range(6):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        assert np.float32(plain.train_step(x, i % 4)) == np.float32(fast.train_step(x, i % 4))
    assert FF.calls(N.library()) - before == _convs(tm) * 6  # the sliced conv too (keyed by its bias)
    (pp, sp), (pf, sf) = _state(plain), _state(fast)
    assert sp == sf and all(np.array_equal(pp[k], pf[k]) for k in pp)
    # The report is the device's (stock kernels'), not the host speed-up's own scratch plan.
    assert fast.memory_report()["tflm"] == plain.memory_report()["tflm"]
    # ... measured once: another report measures no interpreter again.
    measured = []
    real = backend._captured_allocations
    monkeypatch.setattr(backend, "_captured_allocations", lambda interp: measured.append(interp) or real(interp))
    assert fast.memory_report() == fast.memory_report() and not measured


def test_fast_forward_is_a_tflm_option():
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="last:2")
    with pytest.raises(tt.InputError, match="fast_forward applies to the tflm backend only"):
        tt.Trainer(tm, fast_forward=True)


def test_fast_forward_dilated_and_strided_convs():
    import tensorflow as tf

    import nets

    L = tf.keras.layers
    x = inp = tf.keras.Input((14, 14, 3))
    x = L.Conv2D(6, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(5, strides=2, padding="valid", activation="relu")(x)
    x = L.Conv2D(8, 1)(x)
    x = L.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inp, L.Dense(3)(x))
    shape = (14, 14, 3)
    data = tt.keras_to_int8_tflite(nets.init_random(model, seed=4), nets.samples(shape, 20, 1))
    tm = tt.convert_tflite(data, scheme="full", learning_rate=0.05)
    plain, fast = tt.Trainer(tm, backend="tflm"), tt.Trainer(tm, backend="tflm", fast_forward=True)
    before = FF.calls(N.library())
    rng = np.random.default_rng(5)
    for i in range(3):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        assert np.float32(plain.train_step(x, i % 3)) == np.float32(fast.train_step(x, i % 3))
    (pp, sp), (pf, sf) = _state(plain), _state(fast)
    assert sp == sf and all(np.array_equal(pp[k], pf[k]) for k in pp)
    assert FF.calls(N.library()) - before == _convs(tm) * 3
