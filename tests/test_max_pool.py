"""MAX_POOL_2D: the numpy spec, TFLM and the generated static C agree bit for bit in the forward pass and
when training through max pools (TFLMT_MAX_POOL_ARGMAX keeps one byte per output, TFLMT_MAX_POOL_GRAD
routes the gradient to it); the gradients equal TensorFlow's autodiff; a window too large for a one-byte
argmax is refused by name when a trained layer lies before it."""
import numpy as np
import pytest
import tensorflow as tf

import tflm_train as tt
from tflm_train import cli, codegen

import nets
import tf_oracle
from conftest import cosine
from test_codegen import assert_c_equals_tflm, core_archive  # noqa: F401  (the fixture)

L = tf.keras.layers
SHAPE = (15, 15, 3)


def max_pool_cnn() -> tf.keras.Model:
    """Both paddings, odd sizes (SAME windows clipped at the border) and a fused ReLU6 clamp."""
    x = inp = tf.keras.Input(SHAPE)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)                                   # VALID, 15 -> 7
    x = L.Conv2D(12, 1, activation="relu6")(x)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)        # SAME, 7 -> 4
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, L.Dense(4)(x))


@pytest.fixture(scope="module")
def model() -> bytes:
    m = nets.init_random(max_pool_cnn(), seed=1)
    return tt.keras_to_int8_tflite(m, nets.samples(SHAPE, 50, 0))


def test_the_reference_and_tflm_train_later_layers_identically(model):
    tm = tt.convert_tflite(model, scheme="last:2", learning_rate=0.05, progress=False)
    assert [op.kind for op in tm.forward_ops].count("MAX_POOL_2D") == 2
    ref, tflm = tt.Trainer(tm, backend="reference"), tt.Trainer(tm, backend="tflm")
    rng = np.random.default_rng(0)
    for i in range(6):
        x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        assert np.array_equal(ref.predict(x), tflm.predict(x))  # the numpy max pool == TFLM's, every window
        assert np.float32(ref.train_step(x, i % 4)) == np.float32(tflm.train_step(x, i % 4))
    assert ref.export() == tflm.export()


def test_generated_c_is_bit_exact_with_tflm(model, core_archive, tmp_path):  # noqa: F811
    tm = tt.convert_tflite(model, scheme="last:2", progress=False, max_loss=float("inf"))
    assert_c_equals_tflm(tm, SHAPE, False, core_archive, tmp_path)
    assert codegen.generate(tm, "model").source.count("tflmt_max_pool_s8(") == 4  # model_step, model_infer


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_training_through_max_pools_is_bit_exact_with_the_reference(model, grad_dtype):
    tm = tt.convert_tflite(model, scheme="full", grad_dtype=grad_dtype, learning_rate=0.05, progress=False)
    assert [op.name for op in tm.train_ops].count("TFLMT_MAX_POOL_GRAD") == 2
    ref, tflm = tt.Trainer(tm, backend="reference"), tt.Trainer(tm, backend="tflm")
    p0 = {k: v.copy() for k, v in tflm._backend.params.items()}
    rng = np.random.default_rng(1)
    for i in range(6):
        x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        assert np.float32(ref.train_step(x, i % 4)) == np.float32(tflm.train_step(x, i % 4))
    pr, pd = ref._backend.params, tflm._backend.params
    assert all(np.array_equal(pr[k], pd[k]) for k in pr)
    first_conv = min(tm.graph.trainables, key=lambda t: t.layerOp).tensor  # before both pools
    assert not np.array_equal(pd[first_conv], p0[first_conv])


@pytest.mark.parametrize("grad_dtype,threshold", [("float32", 0.99), ("int8", 0.95)])
def test_gradients_through_max_pools_match_tensorflow(model, grad_dtype, threshold):
    tm = tt.convert_tflite(model, scheme="full", grad_dtype=grad_dtype, progress=False)
    tr = tt.Trainer(tm)
    rng = np.random.default_rng(2)
    for i in range(3):
        x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        ours, theirs = tr.gradients(x, i % 4), tf_oracle.gradients(tm, tr._input(x), i % 4)
        assert set(ours) == set(theirs) == set(tm.trainable_names())
        for name in ours:
            assert np.any(ours[name]) and cosine(ours[name], theirs[name]) >= threshold, name


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_generated_c_trains_through_max_pools_bit_exact_with_tflm(model, grad_dtype, core_archive,  # noqa: F811
                                                                   tmp_path):
    tm = tt.convert_tflite(model, scheme="full", grad_dtype=grad_dtype, progress=False, max_loss=float("inf"))
    assert_c_equals_tflm(tm, SHAPE, False, core_archive, tmp_path)


def test_a_window_too_large_for_its_argmax_byte_is_refused_by_name():
    x = inp = tf.keras.Input((18, 18, 1))
    x = L.Conv2D(2, 1)(x)
    x = L.MaxPooling2D(17)(x)
    m = nets.init_random(tf.keras.Model(inp, L.Dense(3)(L.Flatten()(x))), seed=0)
    data = tt.keras_to_int8_tflite(m, nets.samples((18, 18, 1), 10, 0))
    with pytest.raises(tt.UnsupportedModelError, match=r"\(MAX_POOL_2D\): a trained layer lies before its 17x17"):
        tt.convert_tflite(data, scheme="full", progress=False)
    tt.convert_tflite(data, scheme="classifier", progress=False)  # nothing trained before it: fine


def test_export_c_registers_it(model):
    tm = tt.convert_tflite(model, scheme="last:2", progress=False)
    header, _ = cli.export_c(tm, "model")
    assert "AddMaxPool2D" in header


@pytest.mark.parametrize("edit,message", [
    (lambda o: (setattr(o, "filterH", 17), setattr(o, "filterW", 17)), "does not fit a one-byte argmax"),
    (lambda o: setattr(o, "filterH", 0), "implausible filter size"),
])
def test_tflm_refuses_corrupt_max_pool_options_by_name(model, edit, message):
    """The kernels' own checks (Python's loader is bypassed, as on a device)."""
    from corrupt_corpus import _option_edit
    from tflm_train.runtime.tflm import TflmError, _interpreter

    tm = tt.convert_tflite(model, scheme="full", progress=False)
    for op in ("TFLMT_MAX_POOL_ARGMAX", "TFLMT_MAX_POOL_GRAD"):
        with pytest.raises(TflmError, match=f"{op}.*{message}"):
            _interpreter(_option_edit(tm.to_bytes(), op, edit), 1 << 20)
