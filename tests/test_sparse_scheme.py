"""Sparse schemes: named schemes as SparseScheme, channel selection by weight magnitude,
the selection recorded in the file, and the kernels updating exactly those channels."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train import tflite_io as io
from tflm_train.errors import InputError
from tflm_train.sparse import SparseScheme, parse_scheme, resolve

from conftest import int8_model


def test_named_schemes_are_sparse_schemes():
    assert resolve("full", 4) == SparseScheme(4, {0: 1, 1: 1, 2: 1, 3: 1})
    assert resolve("bias", 4) == SparseScheme(4)
    assert resolve("classifier", 4) == SparseScheme(1, {3: 1})
    assert resolve("last:2", 4) == SparseScheme(2, {2: 1, 3: 1})
    assert resolve(SparseScheme(2, {-1: 1, 1: 0.25}), 4) == SparseScheme(2, {3: 1, 1: "1/4"})


def test_top_level_name():
    assert tt.SparseScheme is SparseScheme


def test_text_form_round_trips():
    s = SparseScheme(23, {21: 1, 36: 0.125, 39: "1/4", 42: 1})
    assert parse_scheme(s.text()) == s
    assert s.text() == "sparse:bias=23;weights=21:1,36:1/8,39:1/4,42:1"


@pytest.mark.parametrize("bad, message", [
    (SparseScheme(9), "bias_layers=9"),
    (SparseScheme(1, {7: 1}), "layer 7 does not exist"),
    (SparseScheme(1, {3: 1, -1: 1}), "listed twice"),
    ("sparse:bias=x", "bias must be an integer"),
    ("sparse:depth=2", "expected 'bias=K'"),
    ("last:0", "K must be a positive integer"),
    (3, "scheme must be one of"),
])
def test_bad_schemes_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        resolve(bad, 4)


@pytest.mark.parametrize("ratio", [0, 1.5, "x"])
def test_bad_ratio(ratio):
    with pytest.raises(InputError, match="ratio"):
        SparseScheme(1, {0: ratio})


def _weighted(tm):
    return sorted((t for t in tm.graph.trainables if t.kind == 0), key=lambda t: t.layerOp)


def test_channels_are_the_largest_weights_and_recorded():
    data, _ = int8_model("plain_cnn")
    tm = tt.convert_tflite(data, scheme=SparseScheme(1, {1: 1, -1: 0.5}))
    (conv, fc) = _weighted(tm)
    assert not list(conv.inputChannels)  # ratio 1: every channel
    conv = fc  # the classifier: 108 inputs, half of them trained, held as a slice of the frozen weights
    assert conv.sliceOf >= 0 and conv.stateBytes == io.shape(tm.tensors[conv.sliceOf])[0] * 54
    # Ranked on the deployed model's weights (the trained copy is re-quantized with headroom).
    deployed = io.read_model(data)
    t0 = deployed.subgraphs[0].tensors[conv.sliceOf]
    w = io.buffer_array(deployed, t0).astype(np.float64)
    s = io.qparams(t0).scale.reshape(-1, 1)
    norms = np.sqrt(((w * s) ** 2).sum(axis=0))
    k = w.shape[-1] // 2
    chans = [int(c) for c in conv.inputChannels]
    assert len(chans) == k and chans == sorted(chans)
    assert set(chans) == set(np.argsort(-norms, kind="stable")[:k].tolist())
    assert chans != list(range(k))  # not simply the first k
    assert tm.scheme == "sparse:bias=1;weights=1:1,2:1/2"
    again = tt.load(tm.to_bytes())
    assert [int(c) for c in _weighted(again)[1].inputChannels] == chans


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_only_selected_channels_move_and_tflm_equals_reference(grad_dtype):
    data, shape = int8_model("mobilenet_v2_style")
    scheme = SparseScheme(3, {-3: "1/4", -2: "1/2", -1: 1})
    # Nearest rounding: 8 steps must move whole LSBs of the 4x-headroom weights.
    tm = tt.convert_tflite(data, scheme=scheme, grad_dtype=grad_dtype, learning_rate=0.8, rounding="nearest")
    ref, dev = tt.Trainer(tm), tt.Trainer(tm, backend="tflm")
    p0 = {k: v.copy() for k, v in dev._backend.params.items()}
    rng = np.random.default_rng(0)
    for i in range(8):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        assert np.float32(ref.train_step(x, i % tm.num_classes)) == np.float32(dev.train_step(x, i % tm.num_classes))
    pr, pd = ref._backend.params, dev._backend.params
    assert all(np.array_equal(pr[k], pd[k]) for k in pr)
    for t in _weighted(tm):
        moved = np.flatnonzero((pd[t.tensor] != p0[t.tensor]).reshape(-1, io.shape(tm.tensors[t.tensor])[-1]).any(0))
        # A slice (conv, FC) holds only its trained channels; a depthwise conv's mask names them.
        allowed = set(int(c) for c in t.inputChannels) if t.sliceOf < 0 else set()
        allowed = allowed or set(range(io.shape(tm.tensors[t.tensor])[-1]))
        assert moved.size and set(moved.tolist()) <= allowed


def test_a_channel_sparse_layer_saves_only_its_trained_channels():
    data, _ = int8_model("mobilenet_v2_style")
    scheme = SparseScheme(1, {-3: "1/4", -1: 1})
    tm = tt.convert_tflite(data, scheme=scheme)
    dense = tt.convert_tflite(data, scheme=SparseScheme(1, {-3: 1, -1: 1}))
    sg = tm.model.subgraphs[0]
    (t,) = [t for t in _weighted(tm) if len(t.inputChannels)]
    update = sg.operators[t.updateOp]
    saved = int(update.inputs[2])  # label, g, x, weights (float32 gradient)
    producers = [op for op in sg.operators if saved in [int(o) for o in op.outputs]]
    assert [io.op_name(tm.model, op) for op in producers] == ["TFLMT_CHANNEL_GATHER"]
    assert t.sliceOf < 0  # layer -3 is a depthwise conv: it keeps its whole (small) tensor
    assert io.shape(tm.tensors[saved])[-1] == len(t.inputChannels) == io.shape(tm.tensors[t.tensor])[-1] // 4
    layer_input = int(sg.operators[t.layerOp].inputs[0])
    readers = [io.op_name(tm.model, op) for op in sg.operators if layer_input in [int(i) for i in op.inputs]]
    assert all(not name.endswith("_UPDATE") for name in readers)  # the whole input is not kept for the backward
    assert tm.memory_report()["training_nonpersistent_bytes"] <= dense.memory_report()["training_nonpersistent_bytes"]
