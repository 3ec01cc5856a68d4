"""Bakes trained state into a new training model (.tflite) that loads and continues exactly."""
from __future__ import annotations

import numpy as np

from .. import schema as S
from .. import tflite_io as io
from ..model import TrainingModel


def bake(tm: TrainingModel, params: dict[int, np.ndarray], steps: dict[int, int]) -> bytes:
    """params: tensor index -> trained values; steps: update-op index -> updates applied so far."""
    model = io.read_model(tm.to_bytes())
    for ti, v in params.items():
        io.set_buffer(model, model.subgraphs[0].tensors[ti], v)
    for i, op in enumerate(model.subgraphs[0].operators):
        if i in steps:
            name = io.op_name(model, op)
            opts = S.decode_options(name, np.asarray(op.customOptions, np.uint8).tobytes(), f"operator {i}")
            opts.initialStep = steps[i]
            op.customOptions = np.frombuffer(S.encode_options(opts), np.uint8).copy()
    g = S.decode_graph(io.get_metadata(model, S.METADATA_NAME), "model")
    g.optimizer.step = max(steps.values(), default=g.optimizer.step)
    io.set_metadata(model, S.METADATA_NAME, S.encode_graph(g))
    data = io.write_model(model)
    TrainingModel(data, "exported model")  # never hand out a file we cannot load
    return data


def forward_only(tm: TrainingModel) -> bytes:
    """The inference model inside a training model: its builtin ops only, input -> logits."""
    model = io.read_model(tm.to_bytes())
    sg = model.subgraphs[0]
    # A channel-sparse layer reads its merged weights; the inference model reads the frozen tensor.
    merged = {op.outputs[0]: op.inputs[1] for op in tm.train_ops if op.name == "TFLMT_CHANNEL_MERGE"}
    for op in tm.forward_ops:
        inputs = sg.operators[op.index].inputs
        sg.operators[op.index].inputs = np.asarray([merged.get(int(i), int(i)) for i in inputs], np.int32)
    keep = [op.index for op in tm.forward_ops]
    sg.operators = [sg.operators[i] for i in keep]
    sg.inputs = np.asarray([tm.graph.inputTensor], np.int32)
    sg.outputs = np.asarray([tm.graph.logitsTensor], np.int32)
    io.drop_unused_tensors(sg)
    model.metadata = [m for m in (model.metadata or []) if io.metadata_name(m) != S.METADATA_NAME]
    return io.write_model(model)
