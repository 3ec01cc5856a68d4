"""Channel slices: a channel-sparse conv / FC keeps only its trained input channels in SRAM (the
paper's sparse-tensor update). TFLMT_CHANNEL_MERGE gives its readers the current weights; the
frozen tensor is never written; everything that carries trained state carries the slice."""
import numpy as np
import pytest
from conftest import assert_backends_agree, assert_resumes_exactly, int8_model

import tflm_train as tt
from tflm_train import tflite_io as io
from tflm_train.errors import ModelFormatError
from tflm_train.runtime import export as E

# Layer -4 is a 1x1 conv (24 outputs, 12 inputs), -1 the classifier (4 x 12); bias depth 5 puts
# a trained bias before both, so their input gradients read the merged weights too.
SCHEME = tt.SparseScheme(5, {-4: "1/4", -1: "1/2"})


def _slices(tm):
    return [t for t in tm.graph.trainables if t.sliceOf >= 0]


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_sram_holds_the_trained_channels_only(grad_dtype):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME, grad_dtype=grad_dtype)
    conv, fc = sorted(_slices(tm), key=lambda t: t.layerOp)
    for t, k in ((conv, 3), (fc, 6)):
        base, own = io.shape(tm.tensors[t.sliceOf]), io.shape(tm.tensors[t.tensor])
        assert len(t.inputChannels) == k and own == base[:-1] + (k,)
        assert t.stateBytes == np.prod(own)
        w = io.buffer_array(tm.model, tm.tensors[t.sliceOf])
        assert np.array_equal(io.buffer_array(tm.model, tm.tensors[t.tensor]), w[..., list(t.inputChannels)])
    dev = tt.Trainer(tm, backend="tflm")
    held = {e.tensor: e.bytes for e in dev._backend.state_entries()}
    assert held[conv.tensor] == 24 * 3 and held[fc.tensor] == 4 * 6  # TFLM's SRAM copies are the slices
    assert dev.memory_report()["tflm"]["trainable_bytes"] == sum(t.stateBytes for t in tm.graph.trainables)
    # each merged weight is read by its forward op and by one input gradient, then dies; only the
    # forward op's merge runs in an inference call
    sg = tm.model.subgraphs[0]
    merges = [op for op in tm.train_ops if op.name == "TFLMT_CHANNEL_MERGE"]
    assert len(merges) == 4 and sum(bool(op.options.backward) for op in merges) == 2
    for op in merges:
        readers = [i for i, o in enumerate(sg.operators) if op.outputs[0] in [int(v) for v in o.inputs]]
        assert readers == [op.index + 1]
        reader = tt.tflite_io.op_name(tm.model, sg.operators[readers[0]])
        assert reader.endswith("_INPUT_GRAD") == bool(op.options.backward)
    from tflm_train import codegen
    assert codegen.generate(tm, "m").source.count("tflmt_channel_merge_s8(") == 4 + 2  # step: 4, infer: 2


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_tflm_equals_reference_and_the_frozen_weights_stay(grad_dtype):
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME, grad_dtype=grad_dtype, learning_rate=0.5)
    untrained = tt.Trainer(tm, backend="tflm")
    trained = assert_backends_agree(tm, shape, steps=8)
    for t in _slices(tm):
        assert not np.array_equal(trained[t.tensor], io.buffer_array(tm.model, tm.tensors[t.tensor]))
    dev = tt.Trainer(tm, backend="tflm")
    ref = tt.Trainer(tm)
    ref._backend.params.update({k: v.copy() for k, v in trained.items()})
    dev._backend.set_params(trained)
    x = np.random.default_rng(5).integers(-128, 128, shape).astype(np.int8)
    # inference reads the trained channels (the merge runs for a prediction too)
    assert np.array_equal(dev.predict(x), ref.predict(x))
    assert not np.array_equal(dev.predict(x), untrained.predict(x))
    assert dev._backend.model_bytes() == tm.to_bytes()  # the frozen tensors (flash) are never written
    exported = tt.load(dev.export())
    for t in _slices(tm):  # the export carries the slice; the frozen tensor is the converted one
        assert np.array_equal(io.buffer_array(exported.model, exported.tensors[t.tensor]), trained[t.tensor])
        assert np.array_equal(io.buffer_array(exported.model, exported.tensors[t.sliceOf]),
                              io.buffer_array(tm.model, tm.tensors[t.sliceOf]))
    assert np.array_equal(tt.Trainer(exported, backend="tflm").predict(x), dev.predict(x))


def test_checkpoint_and_export_resume_exactly():
    data, shape = int8_model("mobilenet_v2_style")
    assert_resumes_exactly(tt.convert_tflite(data, scheme=SCHEME, learning_rate=0.5), shape)


def test_the_inference_model_reads_the_frozen_weights():
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME)
    inference = tt.tflite_io.read_model(E.forward_only(tm))
    names = {io.op_name(inference, op) for op in inference.subgraphs[0].operators}
    assert not any(n.startswith("TFLMT_") for n in names)
    assert all(io.is_constant(inference, inference.subgraphs[0].tensors[int(op.inputs[1])])
               for op in inference.subgraphs[0].operators if io.op_name(inference, op) in ("CONV_2D", "FULLY_CONNECTED"))


def _edit_trainable(tm, **fields) -> bytes:
    from tflm_train import schema as S

    model = io.read_model(tm.to_bytes())
    g = S.decode_graph(io.get_metadata(model, S.METADATA_NAME), "model")
    t = [t for t in g.trainables if t.sliceOf >= 0][0]
    for k, v in fields.items():
        setattr(t, k, v(t) if callable(v) else v)
    io.set_metadata(model, S.METADATA_NAME, S.encode_graph(g))
    return io.write_model(model)


@pytest.mark.parametrize("fields,message", [
    (dict(sliceOf=10**6), "slice_of"),
    (dict(sliceOf=lambda t: t.tensor - 1), "slice_of|listed channels|TFLMT_CHANNEL_MERGE"),
    (dict(inputChannels=lambda t: list(t.inputChannels)[:-1]), "listed channels"),
    (dict(inputChannels=lambda t: [int(c) + 1 for c in t.inputChannels]), "TFLMT_CHANNEL_MERGE|outside"),
])
def test_a_corrupt_slice_is_refused_by_name(fields, message):
    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME)
    with pytest.raises(ModelFormatError, match=message):
        tt.load(_edit_trainable(tm, **fields))


def test_tflm_refuses_a_corrupt_merge_by_name():
    """The kernel's own checks (Python's loader is bypassed, as on a device)."""
    from corrupt_corpus import _option_edit
    from tflm_train.runtime.tflm import TflmError, _interpreter

    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME)
    for channels, message in (([10**4], "channel 10000 out of range"), ([0, 1], "not 24 rows of the 2 listed"),
                              ([], "empty channel list")):
        bad = _option_edit(tm.to_bytes(), "TFLMT_CHANNEL_MERGE", lambda o: setattr(o, "channels", channels))
        with pytest.raises(TflmError, match=f"TFLMT_CHANNEL_MERGE.*{message}"):
            _interpreter(bad, 1 << 20)


def test_a_forward_op_that_bypasses_the_merge_is_refused():
    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME)
    model = io.read_model(tm.to_bytes())
    sg = model.subgraphs[0]
    merge = next(op for op in tm.train_ops if op.name == "TFLMT_CHANNEL_MERGE")
    reader = sg.operators[merge.index + 1]
    reader.inputs = np.array([merge.inputs[1] if int(i) == merge.outputs[0] else int(i) for i in reader.inputs],
                             np.int32)
    with pytest.raises(ModelFormatError, match="reads the frozen tensor .* directly"):
        tt.load(io.write_model(model))


def test_a_forward_merge_marked_backward_is_refused():
    """Inference skips a backward merge, so a forward op reading one would see stale weights."""
    from corrupt_corpus import _option_edit

    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=SCHEME)
    bad = _option_edit(tm.to_bytes(), "TFLMT_CHANNEL_MERGE", lambda o: setattr(o, "backward", True))
    with pytest.raises(ModelFormatError, match="marked backward"):
        tt.load(bad)
