"""The training graph in TFLM's own MicroInterpreter (the pinned wheel + our
kernels) == the numpy reference, step after step; flash-resident model bytes;
state that survives reset() and export()."""
import hashlib
import os
import sys

import numpy as np
import pytest

import tflm_train as tt
from tflm_train import schema as S
from tflm_train import tflite_io as io
from tflm_train.runtime import native as N
from tflm_train.runtime.tflm import TflmError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist_transfer"))
import quickstart  # noqa: E402

from conftest import int8_model  # noqa: E402

STEPS = 50


@pytest.fixture(scope="module")
def fashion():
    keras_model, calibration = quickstart.pretrain(0)
    xs, ys, _, _ = quickstart.new_task(per_class=10, seed=0, test_samples=10)
    return keras_model, calibration, xs, ys


def _state(trainer):
    b = trainer._backend
    return {k: v.copy() for k, v in b.params.items()}, dict(b.steps)


def _step(trainer, x, y) -> float:
    try:
        return trainer.train_step(x, y)
    except tt.DivergenceError:
        return -1.0  # refused: no update applied


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_tflm_equals_reference_for_50_steps(fashion, grad_dtype):
    keras_model, calibration, xs, ys = fashion
    tm = tt.convert(keras_model, calibration, scheme="full", grad_dtype=grad_dtype, learning_rate=0.05, seed=3)
    ref, dev = tt.Trainer(tm), tt.Trainer(tm, backend="tflm")
    moved = 0
    p0, _ = _state(ref)
    for i in range(STEPS):
        lr_, ld = _step(ref, xs[i], ys[i]), _step(dev, xs[i], ys[i])  # the divergence guard must agree too
        assert np.float32(lr_) == np.float32(ld), f"step {i}: loss {lr_} (reference) != {ld} (tflm)"
        (pr, sr), (pd, sd) = _state(ref), _state(dev)
        assert sr == sd, f"step {i}: update counters differ"
        for k in pr:
            assert np.array_equal(pr[k], pd[k]), f"step {i}: trained tensor {k} differs"
    moved = sum(int(np.count_nonzero(pr[k] != p0[k])) for k in pr)
    assert moved > 100  # the steps really trained something
    np.testing.assert_array_equal(ref.predict(xs[0]), dev.predict(xs[0]))


def test_model_bytes_never_written_and_state_survives_reset(fashion):
    keras_model, calibration, xs, ys = fashion
    tm = tt.convert(keras_model, calibration, scheme="last:2")
    original = hashlib.sha256(tm.to_bytes()).hexdigest()
    dev = tt.Trainer(tm, backend="tflm")
    running = dev._backend.model_bytes()
    for i in range(20):
        dev.train_step(xs[i], ys[i])
    assert hashlib.sha256(running).hexdigest() == original
    assert hashlib.sha256(tm.to_bytes()).hexdigest() == original
    params, steps = _state(dev)
    before = dev.predict(xs[0])
    dev.reset()
    after_params, after_steps = _state(dev)
    assert steps == after_steps and all(v == 20 for v in steps.values())
    for k in params:
        assert np.array_equal(params[k], after_params[k])
    np.testing.assert_array_equal(before, dev.predict(xs[0]))
    # The trained model differs from the deployed one (the state lives outside the model bytes).
    fresh = tt.Trainer(tm, backend="tflm")
    assert not np.array_equal(fresh.predict(xs[0]), before)


def test_inference_call_runs_no_training_op(fashion):
    keras_model, calibration, xs, ys = fashion
    tm = tt.convert(keras_model, calibration, scheme="full")
    dev = tt.Trainer(tm, backend="tflm")
    p0, s0 = _state(dev)
    for i in range(5):
        dev.predict(xs[i])
    p1, s1 = _state(dev)
    assert s0 == s1
    assert all(np.array_equal(p0[k], p1[k]) for k in p0)


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_export_then_load_predicts_identically_and_continues(fashion, grad_dtype, tmp_path):
    keras_model, calibration, xs, ys = fashion
    tm = tt.convert(keras_model, calibration, scheme="last:3", grad_dtype=grad_dtype, seed=5)
    dev = tt.Trainer(tm, backend="tflm")
    for i in range(15):
        dev.train_step(xs[i], ys[i])
    path = tmp_path / "trained.train.tflite"
    tt.load(dev.export()).save(path)
    again = tt.Trainer(tt.load(path), backend="tflm")
    ref_again = tt.Trainer(tt.load(path))
    for i in range(15, 20):
        np.testing.assert_array_equal(dev.predict(xs[i]), again.predict(xs[i]))
        np.testing.assert_array_equal(dev.predict(xs[i]), ref_again.predict(xs[i]))
    # Training continues exactly where it stopped (the PRNG counters were exported too).
    for i in range(20, 25):
        assert np.float32(dev.train_step(xs[i], ys[i])) == np.float32(again.train_step(xs[i], ys[i]))
    pa, sa = _state(dev)
    pb, sb = _state(again)
    assert sa == sb and all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_memory_report_has_tflm_numbers(fashion):
    keras_model, calibration, _, _ = fashion
    tm = tt.convert(keras_model, calibration, scheme="last:2")
    rep = tt.Trainer(tm, backend="tflm").memory_report()
    t, a = rep["tflm"], rep["analytic"]
    assert t["training_arena_bytes"] == t["training_persistent_bytes"] + t["training_nonpersistent_bytes"]
    assert t["trainable_bytes"] == a["trainable_bytes"] > 0
    assert t["inference_arena_bytes"] < t["training_arena_bytes"]
    # The analytic planner reproduces TFLM's planned head exactly (same ordering rule, same scratch).
    assert a["training_nonpersistent_bytes"] == t["training_nonpersistent_bytes"]
    assert a["inference_nonpersistent_bytes"] == t["inference_nonpersistent_bytes"]
    for kind in ("training", "inference"):
        assert abs(a[f"{kind}_peak_bytes"] - t[f"{kind}_arena_bytes"]) <= 0.05 * t[f"{kind}_arena_bytes"]


@pytest.mark.parametrize("arch", ["plain_cnn", "mobilenet_v2_style", "depthwise_k5_odd"])
def test_tflm_equals_reference_on_test_nets(arch):
    data, shape = int8_model(arch)
    rng = np.random.default_rng(1)
    for grad_dtype in ("float32", "int8"):
        tm = tt.convert_tflite(data, scheme="full", grad_dtype=grad_dtype, learning_rate=0.05)
        ref, dev = tt.Trainer(tm), tt.Trainer(tm, backend="tflm")
        for i in range(4):
            x = rng.integers(-128, 128, shape).astype(np.int8)
            y = i % tm.num_classes
            assert np.float32(ref.train_step(x, y)) == np.float32(dev.train_step(x, y))
        (pr, sr), (pd, sd) = _state(ref), _state(dev)
        assert sr == sd and all(np.array_equal(pr[k], pd[k]) for k in pr)


def test_two_interpreters_keep_separate_state():
    data, shape = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="last:2")
    a, b = tt.Trainer(tm, backend="tflm"), tt.Trainer(tm, backend="tflm")
    x = np.zeros(shape, np.int8)
    for _ in range(3):
        a.train_step(x, 1)
    (pa, sa), (pb, sb) = _state(a), _state(b)
    assert all(v == 3 for v in sa.values()) and all(v == 0 for v in sb.values())
    assert any(not np.array_equal(pa[k], pb[k]) for k in pa)


def _with_options(tm, op_name, mutate) -> tt.model.TrainingModel:
    """tm with one op's custom options replaced, bypassing the Python validator (as a C++ app would)."""
    model = io.read_model(tm.to_bytes())
    for op in model.subgraphs[0].operators:
        if io.op_name(model, op) == op_name:
            op.customOptions = np.frombuffer(mutate(np.asarray(op.customOptions, np.uint8).tobytes()), np.uint8).copy()
            break
    bad = tt.load(tm.to_bytes())
    bad._data = io.write_model(model)
    return bad


def _bump_version(b: bytes) -> bytes:
    o = S.decode_options("TFLMT_BIAS_UPDATE", b, "op")
    o.version = 2
    return S.encode_options(o)


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b[:6], "custom options missing or shorter than 8 bytes"),
    (lambda b: b[:4] + b"XXXX" + b[8:], "not a tflm-train OpOptionsBuffer"),
    (lambda b: b[:len(b) // 2], "corrupt"),
    (_bump_version, "unsupported options version"),
    (lambda b: S.encode_options(S.decode_options("TFLMT_CLAMP_GRAD", S.encode_options(
        __import__("tflm_train._generated.tflm_train_generated", fromlist=["x"]).ClampGradOptionsT()), "o")),
     "options of another op type"),
])
def test_kernel_rejects_corrupt_options_with_a_clear_error(mutate, message):
    from tflm_train.runtime.tflm import TflmBackend
    data, _ = int8_model("plain_cnn")
    bad = _with_options(tt.convert_tflite(data, scheme="bias"), "TFLMT_BIAS_UPDATE", mutate)
    with pytest.raises(TflmError, match="TFLMT_BIAS_UPDATE") as e:
        TflmBackend(bad, arena_size=256 * 1024)
    assert message in str(e.value)


def test_label_out_of_range_is_rejected_by_the_kernel():
    data, shape = int8_model("plain_cnn")
    dev = tt.Trainer(tt.convert_tflite(data, scheme="bias"), backend="tflm")
    with pytest.raises(TflmError, match="label 7 out of range"):
        dev._backend.train_step(np.zeros((1,) + shape, np.int8), 7)


def test_wrong_wheel_version_is_a_clear_error(monkeypatch):
    import tflite_micro
    N.host.cache_clear()
    monkeypatch.setattr(tflite_micro, "__version__", "0.dev20990101000000", raising=False)
    try:
        with pytest.raises(N.NativeError, match="tflite-micro==0.dev20261023182759"):
            N.host()
    finally:
        N.host.cache_clear()


def test_registerer_refuses_an_object_that_is_not_the_wheels_resolver():
    import ctypes as C
    lib = N.host()
    lib.TflmtRegisterTrainingOps.restype, lib.TflmtRegisterTrainingOps.argtypes = C.c_bool, [C.c_void_p]
    fake = (C.c_uint8 * 0x3538)()
    assert not lib.TflmtRegisterTrainingOps(C.cast(fake, C.c_void_p))
    assert "not given a tflite::PythonOpsResolver" in N.last_error()
    assert bytes(fake) == bytes(0x3538)  # nothing written


def test_state_survives_another_interpreter_being_freed():
    """Freeing an interpreter drops its entries from the native state table, which compacts it: a live
    backend must not read another trainable's entry afterwards (it once read a 24-byte bias as its
    4-byte one, depending on when the garbage collector ran)."""
    import gc
    data, shape = int8_model("mobilenet_v2_style")
    first = tt.Trainer(tt.convert_tflite(data, scheme="last:2"), backend="tflm")
    second = tt.Trainer(tt.convert_tflite(data, scheme=tt.SparseScheme(4, {-1: 1.0, -3: 0.5})), backend="tflm")
    x = np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)
    second.train_step(x, 1)
    before = {k: v.copy() for k, v in second._backend.params.items()}
    shapes = {ti: io.shape(second._backend.tm.tensors[ti]) for ti in before}
    del first
    gc.collect()
    after = second._backend.params
    assert {ti: v.shape for ti, v in after.items()} == {ti: tuple(s) for ti, s in shapes.items()}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    second.train_step(x, 1)  # and it keeps training its own state
    assert all(v == 2 for v in second._backend.steps.values())
