"""QAS: one update is the float SGD step in integer units; rounding and saturation rules."""
import numpy as np
from conftest import int8_model

import nets
import tflm_train as tt
from tflm_train import tflite_io as io
from tflm_train.reference import training as R


def _one_step(rounding, lr=0.05, scheme="full"):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=scheme, rounding=rounding, learning_rate=lr)
    tr = tt.Trainer(tm)
    x = nets.samples(shape, 1, 11)[0]
    grads = tr.gradients(x, 1)
    before = {t.tensor: tr._backend.params[t.tensor].copy() for t in tm.graph.trainables}
    tr.train_step(x, 1)
    return tm, tr, grads, before


def test_qas_step_is_float_sgd_in_integer_units_per_channel():
    tm, tr, grads, before = _one_step("nearest")
    for t in tm.graph.trainables:
        name = t.name.decode()
        q = io.qparams(tm.tensors[t.tensor])
        w0, w1 = before[t.tensor].astype(np.int64), tr._backend.params[t.tensor].astype(np.int64)
        axis = t.channelAxis
        for c in range(w0.shape[axis]):
            sl = [slice(None)] * w0.ndim
            sl[axis] = c
            s = float(q.scale[c] if len(q.scale) > 1 else q.scale[0])
            float_step = -tm.learning_rate * grads[name][tuple(sl)].astype(np.float64)  # real units
            int_step = (w1 - w0)[tuple(sl)] * s
            lo, hi = (R.WEIGHT_LO, R.WEIGHT_HI) if t.kind == 0 else (-(2**31), 2**31 - 1)
            free = (w1[tuple(sl)] > lo) & (w1[tuple(sl)] < hi)
            # nearest rounding: within half an integer step of the float SGD step
            assert np.all(np.abs(int_step - float_step)[free] <= 0.5 * s * (1 + 1e-5)), f"{name} channel {c}"


def test_stochastic_rounding_is_unbiased_and_reproducible():
    values = np.zeros((4, 1, 1, 64), np.int8)
    grad = np.full(values.shape, 0.3, np.float32)  # 0.3 LSB per step with qas=1, lr=1
    qas = np.ones(4, np.float32)
    steps = [R.sgd_step(values, -grad, qas, 0, 1.0, True, 7, 0, k, -127, 127) for k in range(200)]
    mean = np.mean([s.astype(np.float64).mean() for s in steps])
    assert abs(mean - 0.3) < 0.02  # E[round] = t: sub-LSB updates are not lost
    again = R.sgd_step(values, -grad, qas, 0, 1.0, True, 7, 0, 5, -127, 127)
    assert np.array_equal(again, steps[5])
    other_seed = R.sgd_step(values, -grad, qas, 0, 1.0, True, 8, 0, 5, -127, 127)
    assert not np.array_equal(other_seed, steps[5])


def test_update_saturates_and_never_wraps():
    w = np.array([[127, -127, 120, -120]], np.int8).reshape(4, 1, 1, 1)
    g = np.array([-1e6, 1e6, -50.0, 50.0], np.float32).reshape(4, 1, 1, 1)
    out = R.sgd_step(w, g, np.ones(4, np.float32), 0, 1.0, False, 0, 0, 0, R.WEIGHT_LO, R.WEIGHT_HI)
    assert out.ravel().tolist() == [127, -127, 127, -127]
    b = np.array([2**31 - 5, -(2**31) + 5], np.int32)
    out = R.sgd_step(b, np.array([-1e12, 1e12], np.float32), np.ones(2, np.float32), 0, 1.0, False, 0, 0, 0,
                     -(2**31), 2**31 - 1)
    assert out.tolist() == [2**31 - 1, -(2**31)]
    nan = R.sgd_step(b, np.array([np.nan, np.inf], np.float32), np.ones(2, np.float32), 0, 1.0, False, 0, 0, 0,
                     -(2**31), 2**31 - 1)
    assert nan.tolist() == b.tolist()  # a non-finite step moves nothing


def test_qas_factors_in_metadata_match_scales():
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="full")
    for t in tm.graph.trainables:
        q = io.qparams(tm.tensors[t.tensor])
        n = len(t.qasScale)
        np.testing.assert_allclose(t.qasScale, 1.0 / np.broadcast_to(q.scale.astype(np.float64), (n,)), rtol=1e-6)


def test_without_qas_the_factor_is_the_scale_and_the_step_is_tiny():
    """The ablation (qas=False): the plain integer gradient dL/dWq = s * dL/dW, in metadata and in
    the ops' options; with the same learning rate it barely moves the int8 weights."""
    data, shape = int8_model("plain_cnn")
    plain = tt.convert_tflite(data, scheme="last:2", qas=False, learning_rate=0.05, rounding="nearest")
    scaled = tt.convert_tflite(data, scheme="last:2", learning_rate=0.05, rounding="nearest")
    for t in plain.graph.trainables:
        q = io.qparams(plain.tensors[t.tensor])
        n = len(t.qasScale)
        np.testing.assert_allclose(t.qasScale, np.broadcast_to(q.scale.astype(np.float64), (n,)), rtol=1e-6)
        op = next(o for o in plain.train_ops if o.index == t.updateOp)
        np.testing.assert_array_equal(op.options.qasScale, t.qasScale)
    rng = np.random.default_rng(0)
    moved = []
    for tm in (plain, scaled):
        tr = tt.Trainer(tm, backend="tflm")
        p0 = {k: v.copy() for k, v in tr._backend.params.items()}
        for i in range(10):
            tr.train_step(rng.uniform(0, 1, shape).astype(np.float32), i % tm.num_classes)
        moved.append(sum(int(np.abs(tr._backend.params[k].astype(np.int64) - p0[k]).sum()) for k in p0))
    assert moved[0] * 20 < moved[1]
