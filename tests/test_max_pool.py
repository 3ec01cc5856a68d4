"""MAX_POOL_2D in the frozen part of a model: the numpy spec, TFLM and the generated static C agree bit for
bit, later layers train through TFLM exactly like the reference, and a scheme that would need a gradient
through the max pool is refused by name."""
import numpy as np
import pytest
import tensorflow as tf

import tflm_train as tt
from tflm_train import cli, codegen

import nets
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


def test_a_gradient_through_it_is_refused_by_name(model):
    with pytest.raises(tt.UnsupportedModelError, match=r"\(MAX_POOL_2D\): a trained layer lies before it"):
        tt.convert_tflite(model, scheme="full", progress=False)


def test_export_c_registers_it(model):
    tm = tt.convert_tflite(model, scheme="last:2", progress=False)
    header, _ = cli.export_c(tm, "model")
    assert "AddMaxPool2D" in header
