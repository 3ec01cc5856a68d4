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
    keep = [op.index for op in tm.forward_ops]
    sg.operators = [sg.operators[i] for i in keep]
    sg.inputs = np.asarray([tm.graph.inputTensor], np.int32)
    sg.outputs = np.asarray([tm.graph.logitsTensor], np.int32)
    _drop_unused_tensors(sg)
    model.metadata = [m for m in (model.metadata or []) if io.metadata_name(m) != S.METADATA_NAME]
    return io.write_model(model)


def _drop_unused_tensors(sg) -> None:
    """Removes tensors no operator uses: TFLM would still reserve arena space for them."""
    used = set(int(t) for t in sg.inputs) | set(int(t) for t in sg.outputs)
    for op in sg.operators:
        used |= {int(t) for t in op.inputs if t >= 0} | {int(t) for t in op.outputs if t >= 0}
    keep = sorted(used)
    new = {old: i for i, old in enumerate(keep)}

    def remap(ts):
        return np.asarray([new[int(t)] if t >= 0 else -1 for t in ts], np.int32)

    sg.tensors = [sg.tensors[i] for i in keep]
    for op in sg.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
    sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
