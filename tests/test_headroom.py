"""convert(..., weight_headroom=H): the weight-trained layers are re-quantized with H x their scale."""
import numpy as np
import pytest
from conftest import int8_model

import tflm_train as tt
from tflm_train import tflite_io as io


def _layer_params(tm):
    t = tm.tensors
    return {int(tr.tensor): (io.qparams(t[int(tr.tensor)]).scale, io.buffer_array(tm.model, t[int(tr.tensor)]))
            for tr in tm.graph.trainables}


def test_headroom_rescales_trained_weights_and_keeps_the_function():
    data, shape = int8_model("mobilenet_v2_style")
    plain = tt.convert_tflite(data, scheme="last:2", progress=False, weight_headroom=1.0)
    roomy = tt.convert_tflite(data, scheme="last:2", progress=False, weight_headroom=2.0)
    a, b = _layer_params(plain), _layer_params(roomy)
    for ti, (scale, values) in a.items():
        s2, v2 = b[ti]
        np.testing.assert_allclose(s2, 2 * scale, rtol=1e-6)
        assert np.all(np.abs(v2.astype(np.int64) - values.astype(np.int64) / 2) <= 0.5)  # rounded halves
    rng = np.random.default_rng(0)
    p, r = tt.Trainer(plain, backend="tflm"), tt.Trainer(roomy, backend="tflm")
    for _ in range(5):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        lp, lr_ = p.predict(x), r.predict(x)
        assert np.max(np.abs(lp - lr_)) <= 0.1 * (np.max(lp) - np.min(lp)) + 1e-6  # same function up to rounding


def test_headroom_trains_identically_in_tflm_and_reference():
    data, shape = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="full", progress=False, weight_headroom=4.0)
    ref, tfl = tt.Trainer(tm), tt.Trainer(tm, backend="tflm")
    rng = np.random.default_rng(1)
    for i in range(4):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        assert ref.train_step(x, i % 5) == tfl.train_step(x, i % 5)
    assert ref.export() == tfl.export()


@pytest.mark.parametrize("bad", [0.5, 0, -2, float("nan"), float("inf"), "2", True])
def test_bad_headroom_is_refused(bad):
    data, _ = int8_model("plain_cnn")
    with pytest.raises(tt.InputError, match="weight_headroom"):
        tt.convert_tflite(data, scheme="last:1", progress=False, weight_headroom=bad)


def test_logit_headroom_widens_the_logits_and_keeps_the_function():
    """logit_headroom=H: the logits' scale x H, zero point / H, at the op that requantizes into them; the
    deployed function moves by at most one new step; TFLM and the reference still train identically."""
    data, shape = int8_model("mobilenet_v2_style")
    plain = tt.convert_tflite(data, scheme="last:2", progress=False, logit_headroom=1.0)
    roomy = tt.convert_tflite(data, scheme="last:2", progress=False, logit_headroom=2.0)
    q1 = io.qparams(plain.tensors[plain.graph.logitsTensor])
    q2 = io.qparams(roomy.tensors[roomy.graph.logitsTensor])
    np.testing.assert_allclose(q2.per_tensor_scale, 2 * q1.per_tensor_scale, rtol=1e-6)
    assert abs(q2.per_tensor_zero_point - q1.per_tensor_zero_point / 2) <= 0.5
    rng = np.random.default_rng(0)
    p, r = tt.Trainer(plain, backend="tflm"), tt.Trainer(roomy, backend="tflm")
    for _ in range(5):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        assert np.max(np.abs(p.predict(x) - r.predict(x))) <= q2.per_tensor_scale * 1.01
    ref = tt.Trainer(roomy)
    for i in range(3):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        assert ref.train_step(x, i % 4) == r.train_step(x, i % 4)


@pytest.mark.parametrize("bad", [0.5, float("nan"), True, "2"])
def test_logit_headroom_must_be_a_factor_of_at_least_one(bad):
    data, _ = int8_model("plain_cnn")
    with pytest.raises(tt.InputError, match="logit_headroom must be a number >= 1"):
        tt.convert_tflite(data, scheme="last:2", progress=False, logit_headroom=bad)
