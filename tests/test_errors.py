"""Bad input gets a clear exception naming what is wrong, and never a half-written file."""
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import int8_model

import tflm_train as tt
from tflm_train import ModelFormatError, UnsupportedModelError, InputError


def test_unsupported_op_names_type_and_index():
    inp = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(4, 3)(inp)
    x = tf.keras.layers.Activation("tanh")(x)
    x = tf.keras.layers.Flatten()(x)
    out = tf.keras.layers.Dense(3)(x)
    m = tf.keras.Model(inp, out)
    with pytest.raises(UnsupportedModelError, match=r"operator 1 \(TANH\)"):
        tt.convert(m, np.random.default_rng(0).random((10, 8, 8, 1), np.float32))


def test_float_model_without_representative_data():
    m = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    with pytest.raises(InputError, match="representative_data"):
        tt.convert(m, None)


def test_float_tflite_is_rejected_clearly():
    m = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    float_tflite = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    with pytest.raises(UnsupportedModelError, match="FULLY_CONNECTED.*int8"):
        tt.convert_tflite(float_tflite)


@pytest.fixture(scope="module")
def trainer():
    data, _ = int8_model("plain_cnn")
    return tt.Trainer(tt.convert_tflite(data, scheme="last:2"))


def test_label_out_of_range(trainer):
    x = np.zeros((16, 16, 1), np.float32)
    with pytest.raises(InputError, match="label 5 out of range"):
        trainer.train_step(x, 5)
    with pytest.raises(InputError, match="label -1 out of range"):
        trainer.train_step(x, -1)
    with pytest.raises(InputError, match="integer"):
        trainer.train_step(x, 1.5)


def test_input_of_wrong_shape_or_dtype(trainer):
    with pytest.raises(InputError, match=r"shape \(16, 15, 1\)"):
        trainer.train_step(np.zeros((16, 15, 1), np.float32), 0)
    with pytest.raises(InputError, match="dtype"):
        trainer.predict(np.zeros((16, 16, 1), np.int32))
    with pytest.raises(InputError, match="numeric"):
        trainer.predict(np.array([["a"] * 16] * 16))
    with pytest.raises(InputError, match="NaN"):
        trainer.predict(np.full((16, 16, 1), np.nan, np.float32))


def test_state_unchanged_by_rejected_step(trainer):
    before = {k: v.copy() for k, v in trainer._backend.params.items()}
    with pytest.raises(InputError):
        trainer.train_step(np.zeros((3, 3), np.float32), 0)
    assert all(np.array_equal(before[k], v) for k, v in trainer._backend.params.items())


@pytest.mark.parametrize("cut", [0, 7, 8, 100, 1000, -200, -1])
def test_truncated_tflite(cut):
    data, _ = int8_model("plain_cnn")
    with pytest.raises(ModelFormatError):
        tt.convert_tflite(data[:cut])


def test_corrupt_and_foreign_bytes(tmp_path):
    with pytest.raises(ModelFormatError, match="not a TFLite flatbuffer"):
        tt.convert_tflite(b"\x00" * 64)
    with pytest.raises(ModelFormatError, match="cannot read"):
        tt.load(tmp_path / "missing.tflite")
    data, _ = int8_model("plain_cnn")
    with pytest.raises(ModelFormatError, match="no 'tflm_train' metadata"):
        tt.load(data)
    tm = tt.convert_tflite(data)
    good = tm.to_bytes()
    rng = np.random.default_rng(0)
    for _ in range(200):  # random byte flips: a clear error or a model that still validates, never a crash
        b = bytearray(good)
        for i in rng.integers(0, len(b), 8):
            b[i] ^= 0xFF
        try:
            tt.load(bytes(b))
        except (ModelFormatError, UnsupportedModelError):
            pass


def test_wrong_schema_version_is_refused():
    from tflm_train import schema as S
    from tflm_train import tflite_io as io
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data)
    g = S.decode_graph(io.get_metadata(tm.model, S.METADATA_NAME), "x")
    g.version = 99
    io.set_metadata(tm.model, S.METADATA_NAME, S.encode_graph(g))
    with pytest.raises(ModelFormatError, match="version 99"):
        tt.load(io.write_model(tm.model))


def test_bad_arguments():
    data, _ = int8_model("plain_cnn")
    for kwargs, pattern in [({"scheme": "last:0"}, "positive"), ({"scheme": "some"}, "unknown scheme"),
                            ({"scheme": "last:99"}, "only"), ({"grad_dtype": "int4"}, "grad_dtype"),
                            ({"learning_rate": -1.0}, "learning_rate"), ({"seed": -3}, "seed"),
                            ({"rounding": "up"}, "rounding")]:
        with pytest.raises(InputError, match=pattern):
            tt.convert_tflite(data, **kwargs)
    with pytest.raises(InputError, match="already a tflm-train"):
        tt.convert_tflite(tt.convert_tflite(data).to_bytes())
    with pytest.raises(InputError, match="backend"):
        tt.Trainer(tt.convert_tflite(data), backend="gpu")


def test_save_is_atomic(tmp_path, monkeypatch):
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data)
    target = tmp_path / "model.train.tflite"
    target.write_bytes(b"previous good file")

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        tm.save(target)
    assert target.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.train.tflite"]
    monkeypatch.undo()
    tm.save(target)
    assert tt.load(target).to_bytes() == tm.to_bytes()
