"""update_precision="int16": one residual byte per trained weight. The numpy rule (the spec), TFLM
(the C kernels) == the reference step after step with the residuals trained state like the weights,
sub-LSB steps that add up, checkpoints and export that keep the residuals, 1 B per weight of memory."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train import tflite_io as io
from tflm_train._generated import tflm_train_generated as G
from tflm_train.errors import InputError
from tflm_train.reference import training as R

from conftest import assert_backends_agree, assert_resumes_exactly, int8_model


def test_sub_lsb_steps_add_up_where_int8_rounding_drops_them():
    w = np.array([10, -10, 127, -127], np.int8)
    r = np.zeros(4, np.int8)
    one = np.ones(1, np.float32)
    grad = np.array([0.25, -0.25, -100.0, 100.0], np.float32)  # a quarter LSB per step; two saturating
    nearest = w.copy()
    for _ in range(4):
        nearest = R.sgd_step(nearest, grad, one, 0, 1.0, False, 0, 0, 0, -127, 127)
        w, r = R.sgd_step16(w, r, grad, one, 0, 1.0, False, 0, 0, 0)
        assert np.all(-128 <= r) and np.all(r <= 127)
    assert nearest[:2].tolist() == [10, -10]  # int8 rounding to nearest: a quarter LSB is never a step
    assert w.tolist() == [9, -9, 127, -127] and r.tolist() == [0, 0, 0, 0]
    # Half an LSB: the value reads rounded half up, the residual keeps the rest.
    w, r = R.sgd_step16(np.array([0], np.int8), np.array([0], np.int8), np.array([-0.5], np.float32), one, 0, 1.0,
                        False, 0, 0, 0)
    assert (int(w[0]), int(r[0])) == (1, -128)


def test_a_step_that_is_not_finite_moves_nothing():
    w, r = np.array([5, 5], np.int8), np.array([3, 3], np.int8)
    w2, r2 = R.sgd_step16(w, r, np.array([np.nan, np.inf], np.float32), np.ones(1, np.float32), 0, 1.0, True, 1, 2, 3)
    assert w2.tolist() == [5, 5] and r2.tolist() == [3, 3]  # as sgd_step: a non-finite step is none


@pytest.mark.parametrize("scheme,grad_dtype", [("full", "float32"), ("full", "int8"),
                                               ("sparse:bias=2;weights=1:1/2,-2:1,-1:1", "float32")])
def test_tflm_equals_reference_with_residual_bytes(scheme, grad_dtype):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=scheme, grad_dtype=grad_dtype, learning_rate=0.02, seed=5, progress=False,
                           update_precision="int16", max_loss=float("inf"))
    kinds = [t.kind for t in tm.graph.trainables]
    assert kinds.count(G.ParamKind.RESIDUAL) == kinds.count(G.ParamKind.WEIGHT) > 0
    pr = assert_backends_agree(tm, shape, 12)
    residuals = [t.tensor for t in tm.graph.trainables if t.kind == G.ParamKind.RESIDUAL]
    assert sum(int(np.count_nonzero(pr[k])) for k in residuals) > 50  # the residuals really carry steps


def test_residuals_survive_export_and_checkpoints():
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:3", learning_rate=0.02, progress=False, update_precision="int16",
                           max_loss=float("inf"))
    assert_resumes_exactly(tm, shape)


def test_residual_bytes_cost_one_byte_per_trained_weight():
    data, _ = int8_model("mobilenet_v2_style")
    plain = tt.convert_tflite(data, scheme="last:2", progress=False)
    wide = tt.convert_tflite(data, scheme="last:2", progress=False, update_precision="int16")
    weights = sum(int(np.prod(io.shape(plain.tensors[t.tensor]))) for t in plain.graph.trainables
                  if t.kind == G.ParamKind.WEIGHT)
    grow = wide.memory_report()["trainable_bytes"] - plain.memory_report()["trainable_bytes"]
    assert grow == weights
    measured = [tt.Trainer(m, backend="tflm").memory_report()["tflm"]["training_arena_bytes"] for m in (plain, wide)]
    assert weights <= measured[1] - measured[0] <= weights + 16 * 4  # and TFLM allocates about that


def test_unknown_update_precision_is_refused():
    data, _ = int8_model("mobilenet_v2_style")
    with pytest.raises(InputError, match="update_precision must be 'int8' or 'int16', got 'int4'"):
        tt.convert_tflite(data, scheme="last:2", progress=False, update_precision="int4")
