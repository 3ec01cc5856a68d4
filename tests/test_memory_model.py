"""The analytic memory model against TFLM's recording allocator: the planned head exactly,
the whole arena within 5%, over schemes, gradient dtypes and nets; the kernel scratch
formulas against the C functions; the persistent-cost constants against the wheel."""
import ctypes as C
import re

import pytest

import tflm_train as tt
from tflm_train import memory
from tflm_train.runtime import export as E
from tflm_train.runtime import native as N
from tflm_train.runtime import tflm as R
from tflm_train.sparse import SparseScheme

from conftest import int8_model

SCHEMES = ["full", "bias", "last:2", SparseScheme(2, {-2: 0.5, -1: 1})]


@pytest.mark.parametrize("arch", ["plain_cnn", "mobilenet_v2_style", "depthwise_k5_odd"])
@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_analytic_matches_tflm(arch, grad_dtype):
    data, _ = int8_model(arch)
    for scheme in SCHEMES:
        tm = tt.convert_tflite(data, scheme=scheme, grad_dtype=grad_dtype)
        rep = tt.Trainer(tm, backend="tflm").memory_report()
        a, t = rep["analytic"], rep["tflm"]
        for kind in ("training", "inference"):
            assert a[f"{kind}_nonpersistent_bytes"] == t[f"{kind}_nonpersistent_bytes"], (scheme, kind)
            assert abs(a[f"{kind}_peak_bytes"] - t[f"{kind}_arena_bytes"]) <= 0.05 * t[f"{kind}_arena_bytes"]


def _window(x_shape, y_shape, kh, kw):
    return C.byref(N.window(x_shape, y_shape, kh, kw, N.Geometry(1, 1, 1, 1, 0, 0)))


def test_scratch_formulas_equal_the_c_functions():
    lib = N.library()
    data, _ = int8_model("mobilenet_v2_style")
    for grad_dtype in ("float32", "int8"):
        tm = tt.convert_tflite(data, scheme="full", grad_dtype=grad_dtype)
        sg = tm.model.subgraphs[0]
        checked = 0
        for op in sg.operators:
            name = tt.tflite_io.op_name(tm.model, op)
            got = memory.scratch_bytes(tm.model, op)
            t = [sg.tensors[int(i)] for i in op.inputs]
            shp = tt.tflite_io.shape
            if name in ("TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_DW_WEIGHT_UPDATE"):
                w = shp(t[-1])
                g, x = shp(t[1]), shp(t[-2])
                win = _window(x, g, w[1], w[2])
                fn = lib.tflmt_conv_weight_update_scratch_size if name.startswith("TFLMT_CONV") else \
                    lib.tflmt_depthwise_weight_update_scratch_size
                assert got == fn(win), name
                checked += 1
            elif name in ("TFLMT_CONV_INPUT_GRAD", "TFLMT_DW_INPUT_GRAD") and grad_dtype == "int8":
                w, g = shp(t[-1]), shp(t[1])
                dx = shp(sg.tensors[int(op.outputs[0])])
                win = _window(dx, g, w[1], w[2])
                fn = lib.tflmt_conv_input_grad_s8_scratch_size if name.startswith("TFLMT_CONV") else \
                    lib.tflmt_depthwise_input_grad_s8_scratch_size
                assert got == fn(win), name
                checked += 1
        assert checked >= 3


def test_persistent_cost_constants_match_the_wheel():
    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:2")
    interp = R._interpreter(E.forward_only(tm), 1 << 20)
    with R._CapturedOutput() as out:
        interp.print_allocations()

    def used(label):
        m = re.search(rf"'{label}' used (\d+) bytes .*? for (\d+) ", out.text)
        return int(m.group(1)), int(m.group(2))

    ev_bytes, ev_n = used("TfLiteEvalTensor data")
    node_bytes, node_n = used("NodeAndRegistration struct")
    assert ev_bytes == memory.PERSISTENT.eval_tensor * ev_n
    assert node_bytes == memory.PERSISTENT.node * node_n
