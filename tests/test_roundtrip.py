"""save/load/export keep everything; the artifact stays a stock TFLite file."""
import numpy as np
from conftest import int8_model
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

import nets
import tflm_train as tt
from tflm_train import schema as S
from tflm_train import tflite_io as io


def test_export_then_load_predicts_identically_and_keeps_training():
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:3", grad_dtype="int8")
    tr = tt.Trainer(tm)
    xs = nets.samples(shape, 12, 5)
    for i, x in enumerate(xs):
        tr.train_step(x, i % tm.num_classes)
    exported = tr.export()
    tm2 = tt.load(exported)
    tr2 = tt.Trainer(tm2)
    for x in xs[:4]:
        np.testing.assert_array_equal(tr.predict(x), tr2.predict(x))
    assert tm2.graph.optimizer.step == 12
    # Continuing from the export is the same as continuing in memory (PRNG counter included).
    for i, x in enumerate(xs[:3]):
        assert tr.train_step(x, i % tm.num_classes) == tr2.train_step(x, i % tm.num_classes)
    for k in tr._backend.params:
        np.testing.assert_array_equal(tr._backend.params[k], tr2._backend.params[k])
    # The original bytes are untouched by training.
    assert tt.load(tm.to_bytes()).to_bytes() == tm.to_bytes()


def test_artifact_is_stock_tflite_with_our_metadata(tmp_path):
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme="full")
    path = tmp_path / "m.train.tflite"
    tm.save(path)
    raw = path.read_bytes()
    model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(raw, 0))
    customs = {io.op_name(model, op) for op in model.subgraphs[0].operators if io.op_name(model, op).startswith("TFLMT_")}
    assert {"TFLMT_SOFTMAX_CE", "TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_BIAS_UPDATE", "TFLMT_CLAMP_MASK",
            "TFLMT_CONV_INPUT_GRAD", "TFLMT_FC_WEIGHT_UPDATE"} <= customs
    g = S.decode_graph(io.get_metadata(model, S.METADATA_NAME), "m")
    assert g.version == S.SCHEMA_VERSION and g.memory.source == b"analytic"
    assert g.memory.trainingPeakBytes >= g.memory.inferencePeakBytes > 0
    rep = tm.memory_report()
    assert {"inference_peak_bytes", "training_peak_bytes", "trainable_bytes", "source"} <= set(rep)


def test_same_seed_same_training():
    data, shape = int8_model("plain_cnn")
    runs = []
    for _ in range(2):
        tr = tt.Trainer(tt.convert_tflite(data, scheme="full", seed=42))
        runs.append([tr.train_step(x, 1) for x in nets.samples(shape, 5, 9)] + [tr.export()])
    assert runs[0] == runs[1]
