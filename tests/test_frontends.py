"""The converter front doors: SavedModel directories and int8 models with float I/O."""
import numpy as np
from conftest import ARCHS, float_io_model
from tflite_micro.python.tflite_micro import runtime

import nets
import tflm_train as tt


def test_saved_model_path(tmp_path):
    build, shape = ARCHS["mobilenet_v2_style"]
    m = nets.init_random(build(input_shape=shape), seed=2)
    path = str(tmp_path / "saved")
    m.export(path)
    tm = tt.convert(path, nets.samples(shape, 20, 0), scheme="last:2")
    tr = tt.Trainer(tm)
    x = nets.samples(shape, 1, 3)[0]
    losses = [tr.train_step(x, 1) for _ in range(4)]
    assert losses[-1] < losses[0]


def test_float_io_model_keeps_quantize_and_folds_softmax_dequantize():
    float_io, samples = float_io_model("mobilenet_v2_style")  # ends with Softmax
    # float input/output: QUANTIZE ... SOFTMAX, DEQUANTIZE
    tm = tt.convert_tflite(float_io, scheme="bias", logit_headroom=1.0)  # the logits exactly as converted
    kinds = [op.kind for op in tm.forward_ops]
    assert kinds[0] == "QUANTIZE" and "SOFTMAX" not in kinds and "DEQUANTIZE" not in kinds
    interp = runtime.Interpreter.from_bytes(bytes(bytearray(float_io)), arena_size=1 << 20,
                                           intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    tr = tt.Trainer(tm)
    x = samples[5][None]
    interp.set_input(x, 0)
    interp.invoke()
    # the int8 logits of the wheel == ours (the tensor kept its index)
    got = np.asarray(interp.GetTensor(tm.graph.logitsTensor, 0)["tensor_data"]).ravel()
    from tflm_train import tflite_io as io
    q = io.qparams(tm.tensors[tm.graph.logitsTensor])
    np.testing.assert_array_equal(tr.predict(x), (q.per_tensor_scale * (got.astype(np.float64) - q.per_tensor_zero_point)).astype(np.float32))
    assert np.isfinite(tr.train_step(x, 2))
