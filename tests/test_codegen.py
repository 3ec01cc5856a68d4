"""tflm_train.codegen: the generated static C (kernels/core, one planned arena) is bit-exact with
the TFLM interpreter, step after step: every loss, every logit and the trained state, for both
gradient dtypes, sparse schemes with channel gathers, and the naive-kernel baseline build."""
import ctypes as C
import os
import subprocess

import numpy as np
import pytest
from conftest import int8_model

import tflm_train as tt
from tflm_train import codegen
from tflm_train import tflite_io as io

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INC = os.path.join(ROOT, "kernels", "include")
CORE = sorted(os.path.join(ROOT, "kernels", "core", f) for f in os.listdir(os.path.join(ROOT, "kernels", "core"))
              if f.endswith(".c"))
NAIVE = sorted(os.path.join(ROOT, "kernels", "core", "naive", f)
               for f in os.listdir(os.path.join(ROOT, "kernels", "core", "naive")) if f.endswith(".c"))
CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-fPIC"]


@pytest.fixture(scope="module")
def core_archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("core")
    objs = []
    for src in CORE + NAIVE:
        obj = str(d / (os.path.basename(src) + ".o"))
        subprocess.run(["gcc", *CFLAGS, "-I", INC, "-c", src, "-o", obj], check=True)
        objs.append(obj)
    lib = str(d / "libcore.a")
    subprocess.run(["ar", "rcs", lib, *objs], check=True)
    return lib


def build(prog: codegen.CProgram, core: str, d) -> C.CDLL:
    (d / f"{prog.name}.h").write_text(prog.header)
    (d / f"{prog.name}.c").write_text(prog.source)
    so = str(d / f"lib{prog.name}.so")
    subprocess.run(["gcc", *CFLAGS, "-shared", "-I", INC, "-I", str(d), str(d / f"{prog.name}.c"), core, "-lm",
                    "-o", so], check=True)
    lib = C.CDLL(so)
    lib.model_step.restype = C.c_int
    lib.model_step.argtypes = [C.POINTER(C.c_int8), C.c_int32, C.POINTER(C.c_float)]
    lib.model_infer.argtypes = [C.POINTER(C.c_int8), C.POINTER(C.c_int8)]
    return lib


class Trainable(C.Structure):
    _fields_ = [("data", C.c_void_p), ("bytes", C.c_uint32), ("tensor", C.c_int32)]


def c_state(lib, tm) -> dict[int, bytes]:
    n = len(tm.graph.trainables)
    table = (Trainable * n).in_dll(lib, "model_trainables")
    return {t.tensor: C.string_at(t.data, t.bytes) for t in table}


def host_state(trainer, tm) -> dict[int, bytes]:
    m = io.read_model(trainer.export())
    return {int(t.tensor): io.buffer_array(m, m.subgraphs[0].tensors[int(t.tensor)]).tobytes()
            for t in tm.graph.trainables}


CASES = [
    ("plain_cnn", "full", "float32", False),
    ("plain_cnn", "full", "int8", True),
    ("mobilenet_v2_style", "full", "float32", False),
    ("mobilenet_v2_style", "full", "int8", False),
    ("mobilenet_v2_style", tt.SparseScheme(3, {-3: "1/2", -1: 1}), "float32", True),
    # channel slices (a 1x1 conv and the classifier) with an input gradient through each merged weight
    ("mobilenet_v2_style", tt.SparseScheme(5, {-4: "1/4", -1: "1/2"}), "int8", False),
    ("depthwise_k5_odd", "full", "int8", False),
    ("depthwise_k5_odd", "last:2", "float32", True),
]


# the patch-based first stage (STRIDED_SLICE, PAD, CONCATENATION along H and W)
PATCHED = [("mobilenet_v2_style", "last:2", "float32", False, tt.PatchPlan(2, (2, 2))),
           ("depthwise_k5_odd", "full", "int8", False, tt.PatchPlan(1, (2, 3)))]


# one residual byte per trained weight (update_precision "int16"), optimised and naive kernels
RESIDUAL = [("mobilenet_v2_style", "full", "int8", False, None, "int16"),
            ("mobilenet_v2_style", tt.SparseScheme(3, {-3: "1/2", -2: 1, -1: 1}), "float32", True, None, "int16"),
            ("mobilenet_v2_style", tt.SparseScheme(5, {-4: "1/4", -1: "1/2"}), "float32", False, None, "int16")]


@pytest.mark.parametrize("arch,scheme,grad_dtype,naive,patch,precision",
                         [(*c, None, "int8") for c in CASES] + [(*c, "int8") for c in PATCHED] + RESIDUAL)
def test_generated_c_is_bit_exact_with_tflm(arch, scheme, grad_dtype, naive, patch, precision, core_archive,
                                            tmp_path):
    data, shape = int8_model(arch)
    tm = tt.convert_tflite(data, scheme=scheme, grad_dtype=grad_dtype, progress=False, patch=patch,
                           max_loss=float("inf"), update_precision=precision)
    if patch is not None:
        kinds = {op.kind for op in tm.forward_ops}
        assert {"STRIDED_SLICE", "CONCATENATION"} <= kinds, kinds
    assert_c_equals_tflm(tm, shape, naive, core_archive, tmp_path)


def test_generated_c_follows_the_learning_rate_decay(core_archive, tmp_path):
    """The warm-up (2 updates) and the decay (4) end within the 6 steps: ramps and ends all checked."""
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:3", progress=False, max_loss=float("inf"), learning_rate=0.05,
                           decay_steps=4, final_learning_rate=0.01, warmup_steps=2)
    assert "tflmt_scheduled_learning_rate(" in codegen.generate(tm, "model").source
    assert_c_equals_tflm(tm, shape, False, core_archive, tmp_path)


def assert_c_equals_tflm(tm, shape, naive, core_archive, tmp_path):
    lib = build(codegen.generate(tm, "model", naive=naive), core_archive, tmp_path)
    trainer = tt.Trainer(tm, backend="tflm")
    rng = np.random.default_rng(7)
    classes = tm.num_classes
    for step in range(6):
        x = trainer._input(rng.uniform(-1, 1, shape).astype(np.float32))
        y = int(rng.integers(0, classes))
        logits = (C.c_int8 * classes)()
        lib.model_infer(x.ctypes.data_as(C.POINTER(C.c_int8)), logits)
        q = io.qparams(tm.tensors[tm.graph.logitsTensor])
        got = (np.frombuffer(bytes(logits), np.int8).astype(np.float64) - q.per_tensor_zero_point) * q.per_tensor_scale
        np.testing.assert_array_equal(got.astype(np.float32), trainer.predict(x).astype(np.float32))
        loss = C.c_float()
        assert lib.model_step(x.ctypes.data_as(C.POINTER(C.c_int8)), y, C.byref(loss)) == 0
        assert np.float32(loss.value).tobytes() == np.float32(trainer.train_step(x, y)).tobytes(), f"step {step}"
    assert c_state(lib, tm) == host_state(trainer, tm)


def test_divergence_guard_refuses_the_step_and_keeps_the_state(core_archive, tmp_path):
    data, shape = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="full", progress=False, patch=None, max_loss=1e-6)
    lib = build(codegen.generate(tm, "model"), core_archive, tmp_path)
    before = c_state(lib, tm)
    x = tt.Trainer(tm)._input(np.zeros(shape, np.float32))
    loss = C.c_float()
    assert lib.model_step(x.ctypes.data_as(C.POINTER(C.c_int8)), 0, C.byref(loss)) == codegen.DIVERGED
    assert lib.model_step(x.ctypes.data_as(C.POINTER(C.c_int8)), 99, C.byref(loss)) == 2  # label out of range
    assert c_state(lib, tm) == before


def test_unsupported_operator_is_named():
    from conftest import float_io_model
    data, _ = float_io_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="last:1", progress=False)  # float input: QUANTIZE first
    with pytest.raises(tt.UnsupportedModelError, match=r"operator 0 \(QUANTIZE\): no generated C"):
        codegen.generate(tm, "model")


def test_requantization_equals_tflite_on_edges_and_random_values():
    """kernels/core's single-shift form of MultiplyByQuantizedMultiplier against quant.py (gemmlowp's)."""
    from tflm_train import quant as Q
    from tflm_train.runtime import native as N

    f = N.host().tflmt_multiply_by_quantized_multiplier
    f.restype, f.argtypes = C.c_int32, [C.c_int32, C.c_int32, C.c_int32]
    rng = np.random.default_rng(0)
    edges = [0, 1, -1, 2, -2, 3, -3, 2**31 - 1, -2**31, 2**30, -2**30, 2**30 + 1, -2**30 - 1]
    xs = np.array(edges + list(rng.integers(-2**31, 2**31, 400)) + list(rng.integers(-4096, 4096, 400)), np.int64)
    for mult in (0, 1, 2**30, 2**30 + 12345, 1518500250, 2**31 - 2, 2**31 - 1):
        for shift in (-31, -20, -7, -2, -1, 0, 1, 4, 12):
            ref = Q.multiply_by_quantized_multiplier(xs, mult, shift)
            got = np.array([f(int(x), mult, shift) for x in xs], np.int64)
            np.testing.assert_array_equal(got, ref, err_msg=f"multiplier {mult}, shift {shift}")
