"""TrainingModel: a training-capable .tflite (bytes) plus its parsed TrainingGraph."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from . import memory
from . import schema as S
from . import tflite_io as io
from ._generated import tflm_train_generated as G
from .errors import ModelFormatError, TflmTrainError
from .graph import ForwardOp, parse_forward_ops

UPDATE_OPS = ("TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_DW_WEIGHT_UPDATE", "TFLMT_FC_WEIGHT_UPDATE", "TFLMT_BIAS_UPDATE")


def runs_in_inference(op: "TrainOp") -> bool:
    """A training op an inference call (label < 0) runs too: the merge that gives a channel slice's forward
    op its weights (not the one for its input gradient)."""
    return op.name == "TFLMT_CHANNEL_MERGE" and not op.options.backward


@dataclass
class TrainOp:
    index: int
    name: str
    inputs: list[int]
    outputs: list[int]
    options: object


def split_ops(model, where: str) -> tuple[list[ForwardOp], list[TrainOp]]:
    """Forward (builtin) ops as ForwardOps, and TFLMT_* ops with decoded options."""
    sg = model.subgraphs[0]
    fwd_idx, train = [], []
    for i, op in enumerate(sg.operators):
        name = io.op_name(model, op)
        if name.startswith(S.OP_PREFIX):
            data = b"" if op.customOptions is None else np.asarray(op.customOptions, np.uint8).tobytes()
            opts = S.decode_options(name, data, f"{where}: operator {i} ({name})")
            train.append(TrainOp(i, name, [int(t) for t in op.inputs], [int(t) for t in op.outputs], opts))
        else:
            fwd_idx.append(i)
    merged = frozenset(t.outputs[0] for t in train if t.name == "TFLMT_CHANNEL_MERGE" and t.outputs)
    fops = parse_forward_ops(_SubsetView(model, fwd_idx), merged_weights=merged)
    for f, i in zip(fops, fwd_idx):
        f.index = i
    return fops, train


class _SubsetView:
    """A model whose subgraph 0 lists only some operators (for parse_forward_ops)."""

    def __init__(self, model, indices):
        self.operatorCodes, self.buffers = model.operatorCodes, model.buffers
        sg = model.subgraphs[0]

        class _SG:
            tensors = sg.tensors
            operators = [sg.operators[i] for i in indices]
        self.subgraphs = [_SG()]


class TrainingModel:
    """A converted model. `data` is a valid TFLite flatbuffer with our ops and metadata."""

    def __init__(self, data: bytes, where: str = "model"):
        self._data = bytes(data)
        self.search_result = None  # set by convert(scheme="auto"): gains, memory, search history
        try:
            self._parse(where)
        except TflmTrainError:
            raise
        except Exception as e:  # anything else while reading a file means the file is corrupt
            raise ModelFormatError(f"{where}: corrupt training model ({type(e).__name__}: {e})") from None

    def _parse(self, where: str) -> None:
        self.model = io.read_model(self._data, where)
        raw = io.get_metadata(self.model, S.METADATA_NAME)
        if raw is None:
            raise ModelFormatError(f"{where}: no '{S.METADATA_NAME}' metadata; this is a plain TFLite model. "
                                   "Make a training model with tflm_train.convert_tflite(...)")
        self.graph = S.decode_graph(raw, where)
        self.forward_ops, self.train_ops = split_ops(self.model, where)
        self._validate(where)

    # ---------------------------------------------------------------- access
    @property
    def tensors(self):
        return self.model.subgraphs[0].tensors

    @property
    def num_classes(self) -> int:
        return self.graph.loss.numClasses

    @property
    def grad_dtype(self) -> str:
        return "int8" if self.graph.gradDtype == G.GradDType.INT8 else "float32"

    @property
    def learning_rate(self) -> float:
        return float(self.graph.optimizer.learningRate)

    @property
    def learning_rate_decay(self) -> tuple[int, float] | None:
        """(decay_steps, final_learning_rate), or None when the rate is constant."""
        o = self.graph.optimizer
        return (int(o.decaySteps), float(o.finalLearningRate)) if o.decaySteps else None

    @property
    def warmup_steps(self) -> int:
        """Updates over which the rate ramps up (0: none)."""
        return int(self.graph.optimizer.warmupSteps)

    @property
    def scheme(self) -> str:
        s = self.graph.scheme
        return s.decode() if isinstance(s, bytes) else str(s)

    @property
    def patch(self) -> str:
        """The patch plan of the first stage ("" if the graph is unpatched)."""
        s = self.graph.patch
        return "" if s is None else s.decode() if isinstance(s, bytes) else str(s)

    def input_details(self) -> tuple[tuple[int, ...], np.dtype, io.QParams | None]:
        t = self.tensors[self.graph.inputTensor]
        return io.shape(t), io.numpy_dtype(t.type), io.qparams(t)

    def trainable_names(self) -> list[str]:
        return [(t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else t.name)
                for t in self.graph.trainables]

    def to_bytes(self) -> bytes:
        return self._data

    def save(self, path: str | os.PathLike) -> None:
        atomic_write(path, self._data)

    def memory_report(self) -> dict:
        return analytic_memory(self)

    # ---------------------------------------------------------------- checks
    def _validate_slice(self, t, chans: list[int], label: str) -> None:
        """A channel slice: its frozen tensor exists, the slice holds exactly the listed channels of it, and
        every op that reads the frozen tensor is a TFLMT_CHANNEL_MERGE of this slice with those channels."""
        sg = self.model.subgraphs[0]
        if not 0 <= t.sliceOf < len(sg.tensors) or io.buffer_array(self.model, sg.tensors[t.sliceOf]) is None:
            raise ModelFormatError(f"{label}: slice_of = {t.sliceOf} is not a constant tensor")
        base, own = io.shape(sg.tensors[t.sliceOf]), io.shape(sg.tensors[t.tensor])
        if not chans or tuple(base[:-1]) + (len(chans),) != tuple(own):
            raise ModelFormatError(f"{label}: shape {own} is not the {len(chans)} listed channels of tensor "
                                   f"{t.sliceOf} {base}")
        if t.kind == G.ParamKind.RESIDUAL:
            return
        merges = [op for op in self.train_ops if op.name == "TFLMT_CHANNEL_MERGE" and op.inputs[2] == t.tensor]
        if not merges:
            raise ModelFormatError(f"{label}: no TFLMT_CHANNEL_MERGE reads this channel slice")
        merged_by = {op.outputs[0]: op for op in merges}
        for op in merges:
            listed = [int(c) for c in (op.options.channels if op.options.channels is not None else [])]
            if op.inputs[1] != t.sliceOf or listed != chans:
                raise ModelFormatError(f"{label}: TFLMT_CHANNEL_MERGE operator {op.index} merges it into tensor "
                                       f"{op.inputs[1]} / channels other than the metadata's")
        forward = {op.index for op in self.forward_ops}
        for i, op in enumerate(sg.operators):
            ins = [int(v) for v in op.inputs]
            # a reader of the frozen tensor itself would miss the training
            if t.sliceOf in ins and not any(m.index == i for m in merges):
                raise ModelFormatError(f"{label}: operator {i} reads the frozen tensor {t.sliceOf} directly, not "
                                       "through TFLMT_CHANNEL_MERGE")
            # inference skips a backward merge: a forward op must not read one
            backward = [merged_by[v].index for v in ins if v in merged_by and merged_by[v].options.backward]
            if backward and i in forward:
                raise ModelFormatError(f"{label}: TFLMT_CHANNEL_MERGE operator {backward[0]} is marked backward "
                                       "(skipped by inference) but a forward op reads it")

    def _validate(self, where: str) -> None:
        g, sg = self.graph, self.model.subgraphs[0]
        nt = len(sg.tensors)
        for field in ("inputTensor", "labelTensor", "logitsTensor", "lossTensor"):
            v = getattr(g, field)
            if not 0 <= v < nt:
                raise ModelFormatError(f"{where}: TrainingGraph.{field} = {v} is not a tensor index (0..{nt - 1})")
        if list(sg.inputs) != [g.inputTensor, g.labelTensor]:
            raise ModelFormatError(f"{where}: model inputs {list(sg.inputs)} are not [input, label] of the metadata")
        if list(sg.outputs) != [g.logitsTensor, g.lossTensor]:
            raise ModelFormatError(f"{where}: model outputs {list(sg.outputs)} are not [logits, loss] of the metadata "
                                   f"([{g.logitsTensor}, {g.lossTensor}])")
        if sg.tensors[g.labelTensor].type != io.TensorType.INT32:
            raise ModelFormatError(f"{where}: the label tensor must be int32")
        logits = sg.tensors[g.logitsTensor]
        if logits.type != io.TensorType.INT8 or int(np.prod(io.shape(logits))) != g.loss.numClasses:
            raise ModelFormatError(f"{where}: logits tensor does not hold {g.loss.numClasses} int8 classes")
        if g.optimizer is None or not np.isfinite(g.optimizer.learningRate) or g.optimizer.learningRate < 0:
            raise ModelFormatError(f"{where}: missing optimizer or invalid learning rate")
        if not S.valid_schedule(g.optimizer.finalLearningRate, g.optimizer.decaySteps, g.optimizer.warmupSteps):
            raise ModelFormatError(f"{where}: invalid learning-rate schedule (final rate "
                                   f"{g.optimizer.finalLearningRate}, decay {g.optimizer.decaySteps} steps, "
                                   f"warm-up {g.optimizer.warmupSteps} steps)")
        ops_by_index = {op.index: op for op in self.train_ops}
        users = io.buffer_users(self.model)
        with_residual = {t.updateOp for t in g.trainables or [] if t.kind == G.ParamKind.RESIDUAL}
        for t in g.trainables or []:
            tname = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else t.name
            label = f"{where}: trainable '{tname}'"
            if not 0 <= t.tensor < nt or io.buffer_array(self.model, sg.tensors[t.tensor]) is None:
                raise ModelFormatError(f"{label}: tensor {t.tensor} is not a constant tensor")
            shared = [i for i in users[int(sg.tensors[t.tensor].buffer)] if i != t.tensor]
            if shared:
                raise ModelFormatError(f"{label}: tensor {t.tensor} shares its buffer with tensor(s) {shared}, so "
                                       "training it would change them too; convert the model again (tflm-train "
                                       "gives every trained tensor its own buffer)")
            up = ops_by_index.get(t.updateOp)
            # A weight update with residual bytes (update_precision "int16") takes them after the weights.
            at = -2 if t.kind == G.ParamKind.WEIGHT and t.updateOp in with_residual else -1
            if up is None or up.name not in UPDATE_OPS or len(up.inputs) < 2 or up.inputs[at] != t.tensor:
                raise ModelFormatError(f"{label}: update op {t.updateOp} does not update tensor {t.tensor}")
            if t.kind == G.ParamKind.RESIDUAL and (
                    not up.name.endswith("_WEIGHT_UPDATE") or sg.tensors[t.tensor].type != io.TensorType.INT8
                    or io.shape(sg.tensors[t.tensor]) != io.shape(sg.tensors[up.inputs[-2]])):
                raise ModelFormatError(f"{label}: residual bytes must be int8, of the shape of the weights op "
                                       f"{t.updateOp} updates")
            shp = io.shape(sg.tensors[t.tensor])
            if not 0 <= t.channelAxis < len(shp) or len(t.qasScale) != shp[t.channelAxis]:
                raise ModelFormatError(f"{label}: {len(t.qasScale)} QAS scales for {shp} (axis {t.channelAxis})")
            if not np.allclose(np.asarray(up.options.qasScale, np.float32), np.asarray(t.qasScale, np.float32)):
                raise ModelFormatError(f"{label}: QAS scales differ between metadata and op {t.updateOp}")
            chans = [int(c) for c in (t.inputChannels if t.inputChannels is not None else [])]
            sliced = t.sliceOf >= 0
            if sliced:
                self._validate_slice(t, chans, label)
            n_in = io.shape(sg.tensors[t.sliceOf])[-1] if sliced else shp[-1]
            if any(not 0 <= c < n_in for c in chans):
                raise ModelFormatError(f"{label}: update mask names a channel outside 0..{n_in - 1}")
            if chans != sorted(set(chans)):
                raise ModelFormatError(f"{label}: update mask channels must be sorted and distinct")
            op_chans = getattr(up.options, "inputChannels", None)
            # A slice is updated whole (its channels are the gathered input's); a whole tensor through the mask.
            expected = [] if sliced else chans
            if t.kind == G.ParamKind.WEIGHT and [int(c) for c in (op_chans if op_chans is not None else [])] != expected:
                raise ModelFormatError(f"{label}: update mask differs between metadata and op {t.updateOp}")
        for op in self.train_ops:
            if op.name.endswith("_WEIGHT_UPDATE") and len(op.inputs) != S.weight_update_input_count(
                    g.gradDtype == G.GradDType.INT8, op.index in with_residual):
                raise ModelFormatError(f"{where}: operator {op.index} ({op.name}) has {len(op.inputs)} inputs")
            if op.name in UPDATE_OPS and not S.valid_schedule(op.options.finalLearningRate, op.options.decaySteps,
                                                              op.options.warmupSteps):
                raise ModelFormatError(f"{where}: operator {op.index} ({op.name}) has an invalid learning-rate schedule")
            dtype = getattr(op.options, "gradDtype", g.gradDtype)
            if dtype != g.gradDtype:
                raise ModelFormatError(f"{where}: operator {op.index} ({op.name}) has gradient dtype {dtype}, the "
                                       f"graph {g.gradDtype}")
            for ti in op.inputs + op.outputs:
                if not 0 <= ti < nt:
                    raise ModelFormatError(f"{where}: operator {op.index} ({op.name}) references tensor {ti}")


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Writes all of `data` or nothing: a temp file in the same folder, fsync, rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tflm_train-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def analytic_memory(tm: TrainingModel) -> dict:
    """The analytic arena of the inference model and of the training model (memory.py), with its parts."""
    g = tm.graph
    return memory_of(tm.model, [op.index for op in tm.forward_ops], g.inputTensor, g.labelTensor, g.logitsTensor,
                     g.lossTensor, g.trainables or [])


def memory_of(m, fwd: list[int], x: int, label: int, logits: int, loss: int, trainables: list) -> dict:
    return {"source": "analytic", **inference_memory(m, fwd, x, logits),
            **training_memory(m, x, label, logits, loss, trainables)}


def inference_memory(m, fwd: list[int], x: int, logits: int) -> dict:
    """The arena of the forward ops alone (the stock inference model keeps only the tensors they use)."""
    sg = m.subgraphs[0]
    # In a training graph a channel-sparse layer reads merged weights; the inference model the frozen ones.
    merged = frozenset(int(op.outputs[0]) for op in sg.operators if io.op_name(m, op) == "TFLMT_CHANNEL_MERGE")
    head = memory.greedy_peak(memory.lifetimes(m, fwd, [x], [logits], frozen=merged))
    used = {int(t) for oi in fwd for t in list(sg.operators[oi].inputs) + list(sg.operators[oi].outputs) if t >= 0}
    tail = memory.persistent_bytes(m, fwd, len(used | {x, logits}), 2, 0)
    return {"inference_peak_bytes": int(head + tail), "inference_nonpersistent_bytes": int(head),
            "inference_persistent_bytes": int(tail)}


def training_memory(m, x: int, label: int, logits: int, loss: int, trainables: list) -> dict:
    """The arena of the whole training graph (every operator of subgraph 0)."""
    sg = m.subgraphs[0]
    everything = list(range(len(sg.operators)))
    scratch = {oi: memory.scratch_bytes(m, sg.operators[oi]) for oi in everything}
    bufs = memory.lifetimes(m, everything, [x, label], [logits, loss], scratch)
    head = memory.greedy_peak(bufs)
    trainable = sum(t.stateBytes for t in trainables)
    tail = memory.persistent_bytes(m, everything, len(sg.tensors), 4, trainable)
    masks = sum(b.size for b in bufs if b.id < len(sg.tensors) and sg.tensors[b.id].type == io.TensorType.UINT8)
    return {"training_peak_bytes": int(head + tail), "training_nonpersistent_bytes": int(head),
            "training_persistent_bytes": int(tail), "trainable_bytes": int(trainable), "mask_bytes": int(masks)}


def load(path_or_bytes) -> TrainingModel:
    """Loads a training model from a path or bytes, validating it."""
    data, where = io.read_bytes(path_or_bytes)
    return TrainingModel(data, where)
