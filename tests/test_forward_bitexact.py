"""Forward int8 reference == the tflite-micro wheel's interpreter, bit for bit, on every tensor."""
import numpy as np
from conftest import int8_model
from tflite_micro.python.tflite_micro import runtime

import tflm_train as tt
from tflm_train.reference.forward_graph import ForwardRunner


def test_every_forward_tensor_matches_tflm(arch):
    data, shape = int8_model(arch)
    # Headroom 1 (weights and logits): the training graph's forward ops and weights are exactly the converted model's
    # (with headroom, tests/test_headroom.py holds TFLM == reference on the rescaled graph).
    tm = tt.convert_tflite(data, scheme="full", weight_headroom=1.0, logit_headroom=1.0)
    interp = runtime.Interpreter.from_bytes(bytes(bytearray(data)), arena_size=1 << 20,
                                           intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    # The training model keeps the tensor indices of the int8 model, so one runner checks both.
    runner = ForwardRunner(tm.model, tm.forward_ops, {})
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(6):
        x = rng.integers(-128, 128, (1, *shape), dtype=np.int8)
        interp.set_input(x, 0)
        interp.invoke()
        vals = runner.run({tm.graph.inputTensor: x})
        for op in tm.forward_ops:
            got = np.asarray(interp.GetTensor(op.y, 0)["tensor_data"]).reshape(vals[op.y].shape)
            assert np.array_equal(got, vals[op.y]), f"{arch}: operator {op.index} ({op.kind}) differs"
            checked += 1
    assert checked >= 6 * 5


def test_trainer_predict_is_the_int8_logits(arch):
    data, shape = int8_model(arch)
    # bias-only: no weight is re-quantized; logits as converted
    tm = tt.convert_tflite(data, scheme="bias", logit_headroom=1.0)
    interp = runtime.Interpreter.from_bytes(bytes(bytearray(data)), arena_size=1 << 20,
                                           intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    tr = tt.Trainer(tm)
    x = np.random.default_rng(4).uniform(-1, 1, (1, *shape)).astype(np.float32)
    xq = tr._input(x)
    interp.set_input(xq, 0)
    interp.invoke()
    logits_q = np.asarray(interp.GetTensor(tm.graph.logitsTensor, 0)["tensor_data"]).ravel()
    _, _, q = tm.input_details()
    from tflm_train import tflite_io as io
    ql = io.qparams(tm.tensors[tm.graph.logitsTensor])
    expected = ql.per_tensor_scale * (logits_q.astype(np.float64) - ql.per_tensor_zero_point)
    np.testing.assert_allclose(tr.predict(x), expected.astype(np.float32), rtol=0, atol=0)
