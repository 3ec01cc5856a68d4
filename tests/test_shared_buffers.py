"""The TF converter stores identical constants once: trained tensors must not share a buffer.

Found on MCUNet with random weights (examples/cortex_m): several biases shared one buffer,
so training one of them and exporting lost (or spread) the update.
"""
import numpy as np
import pytest
from conftest import int8_model

import tflm_train as tt
from tflm_train import tflite_io as io


def _shared_bias_model() -> tuple[bytes, list[int]]:
    """The MobileNetV2-style test net with two same-shape biases made to share one buffer."""
    data, _ = int8_model("mobilenet_v2_style")
    m = io.read_model(data)
    sg = m.subgraphs[0]
    biases = {}
    for op in sg.operators:
        if io.op_name(m, op) in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(op.inputs) > 2:
            b = int(op.inputs[2])
            biases.setdefault(io.shape(sg.tensors[b]), []).append(b)
    pair = next(v[:2] for v in biases.values() if len(v) >= 2)
    io.set_buffer(m, sg.tensors[pair[1]], io.buffer_array(m, sg.tensors[pair[0]]))  # identical values ...
    sg.tensors[pair[1]].buffer = sg.tensors[pair[0]].buffer                          # ... stored once
    return io.write_model(m), pair


@pytest.mark.parametrize("backend", ["reference", "tflm"])
def test_shared_buffers_are_split_and_trained_independently(backend):
    data, pair = _shared_bias_model()
    tm = tt.convert_tflite(data, scheme="full", progress=False)
    t = io.read_model(tm.to_bytes()).subgraphs[0].tensors
    assert t[pair[0]].buffer != t[pair[1]].buffer
    tr = tt.Trainer(tm, backend=backend)
    rng = np.random.default_rng(0)
    for i in range(3):
        tr.train_step(rng.uniform(0, 1, (16, 16, 3)).astype(np.float32), i % 4)
    out = io.read_model(tr.export())
    orig = io.read_model(data)
    after = [io.buffer_array(out, out.subgraphs[0].tensors[b]) for b in pair]
    before = io.buffer_array(orig, orig.subgraphs[0].tensors[pair[0]])
    assert all(np.any(a != before) for a in after), "both biases train"
    assert not np.array_equal(after[0], after[1]), "each keeps its own update"
    again = tt.Trainer(tt.load(tr.export()), backend="reference")  # the export reloads with both values
    assert np.array_equal(again._backend.params[pair[0]], after[0])
    assert np.array_equal(again._backend.params[pair[1]], after[1])


def test_loader_rejects_a_trained_tensor_sharing_its_buffer():
    data, pair = _shared_bias_model()
    tm = tt.convert_tflite(data, scheme="full", progress=False)
    m = io.read_model(tm.to_bytes())
    sg = m.subgraphs[0]
    sg.tensors[pair[1]].buffer = sg.tensors[pair[0]].buffer
    with pytest.raises(tt.ModelFormatError, match=f"tensor {pair[1]} shares its buffer|tensor {pair[0]} shares"):
        tt.load(io.write_model(m))
