"""examples/tflm_app in CI: the app's C training loop (app_loop.c) driven against the pinned TFLM
wheel with tflm-train's ops: it trains on real Fashion-MNIST samples, the loss falls, it checkpoints
every N steps through the C checkpoint API, and the checkpoint restores the trained state exactly.
Its generated model and data compile for Cortex-M7."""
import ctypes as C
import os
import subprocess
import sys

import numpy as np
import pytest

import tflm_train as tt
from tflm_train.runtime import native as N

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
APP = os.path.join(ROOT, "examples", "tflm_app")
sys.path.insert(0, os.path.join(ROOT, "examples", "fashion_mnist_transfer"))
import quickstart  # noqa: E402

INVOKE = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(C.c_int8), C.c_int32, C.POINTER(C.c_float),
                     C.POINTER(C.c_int8))


class AppModel(C.Structure):
    _fields_ = [("ctx", C.c_void_p), ("invoke", INVOKE), ("classes", C.c_int32)]


class AppData(C.Structure):
    _fields_ = [("samples", C.POINTER(C.c_int8)), ("labels", C.POINTER(C.c_int32)), ("count", C.c_int32),
                ("sample_bytes", C.c_int32)]


class AppReport(C.Structure):
    _fields_ = [("steps", C.c_int32), ("refused", C.c_int32), ("checkpoints", C.c_int32),
                ("first_epoch_loss", C.c_float), ("last_epoch_loss", C.c_float)]


@pytest.fixture(scope="module")
def app_lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("app")
    lib = str(d / "libapp.so")
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                    "-I", os.path.join(ROOT, "kernels", "include"), os.path.join(APP, "app_loop.c"),
                    os.path.join(ROOT, "kernels", "core", "checkpoint.c"), "-o", lib], check=True)
    so = C.CDLL(lib)
    so.app_train.restype = C.c_int32
    so.app_train.argtypes = [C.POINTER(AppModel), C.POINTER(AppData), C.c_int32, C.c_int32,
                             C.POINTER(N.Storage), C.c_void_p, C.c_int32, C.POINTER(AppReport)]
    so.app_accuracy.restype = C.c_float
    so.app_accuracy.argtypes = [C.POINTER(AppModel), C.POINTER(AppData)]
    return so


def _driver(trainer):
    """The app's invoke callback, served by the TFLM wheel interpreter."""
    shape, _, _ = trainer.model.input_details()
    n = int(np.prod(shape))
    classes = trainer.model.num_classes

    def invoke(_ctx, sample, label, loss, logits):
        x = np.ctypeslib.as_array(sample, (n,)).astype(np.int8).reshape(shape)
        try:
            if label >= 0:
                loss[0] = trainer.train_step(x, label)
            else:
                trainer.predict(x)
                q = np.asarray(trainer._backend.interp.get_output(0), np.int8).ravel()
                C.memmove(logits, q.ctypes.data, classes)
        except tt.DivergenceError:
            return 1
        return 0

    return AppModel(None, INVOKE(invoke), classes)


def test_app_trains_checkpoints_and_restores(app_lib):
    keras_model, calibration = quickstart.pretrain(0, arch="mcu")
    tm = tt.convert(keras_model, calibration, scheme="last:2", progress=False)
    xs, ys, _, _ = quickstart.new_task(per_class=20, seed=0, test_samples=1)
    q = tm.input_details()[2]
    from tflm_train.reference.forward import quantize
    samples = np.ascontiguousarray(np.stack([quantize(x, q.per_tensor_scale, q.per_tensor_zero_point).ravel()
                                             for x in xs]), np.int8)
    labels = np.ascontiguousarray(ys, np.int32)
    data = AppData(samples.ctypes.data_as(C.POINTER(C.c_int8)), labels.ctypes.data_as(C.POINTER(C.c_int32)),
                   len(xs), samples.shape[1])
    trainer = tt.Trainer(tm, backend="tflm")
    model = _driver(trainer)
    before = app_lib.app_accuracy(C.byref(model), C.byref(data))
    slot = trainer.checkpoint_bytes()
    flash = bytearray(2 * slot)
    storage = N.byte_storage(flash, slot)
    entries = trainer._backend.state_entries()
    report = AppReport()
    rc = app_lib.app_train(C.byref(model), C.byref(data), 2, 50, C.byref(storage), C.cast(entries, C.c_void_p),
                           len(entries), C.byref(report))
    assert rc == 0
    assert report.steps == 200 and report.checkpoints == 4 and report.refused == 0
    assert report.last_epoch_loss < report.first_epoch_loss - 0.2
    after = app_lib.app_accuracy(C.byref(model), C.byref(data))
    assert after > before + 0.2, (before, after)
    # Power back on: a fresh interpreter restores the last checkpoint (taken at step 200) exactly.
    fresh = tt.Trainer(tm, backend="tflm")
    assert fresh.load_checkpoint(flash, slot) == 4
    trained, restored = trainer._backend, fresh._backend
    assert trained.steps == restored.steps
    for k, v in trained.params.items():
        assert np.array_equal(v, restored.params[k])
    assert app_lib.app_accuracy(C.byref(_driver(fresh)), C.byref(data)) == pytest.approx(after)


def test_generated_app_sources_compile_for_cortex_m7(tmp_path):
    subprocess.run([sys.executable, os.path.join(APP, "make_app_data.py"), str(tmp_path), "--per-class", "2"],
                   check=True, capture_output=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    for src in ("model.c", "app_data.c", os.path.join(APP, "app_loop.c")):
        subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                        "-mcpu=cortex-m7", "-mthumb", "-Os", "-I", str(tmp_path), "-I", APP,
                        "-I", os.path.join(ROOT, "kernels", "include"), "-c", os.path.join(tmp_path, src),
                        "-o", str(tmp_path / (os.path.basename(src) + ".o"))], check=True)
