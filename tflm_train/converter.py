"""Front doors: Keras / SavedModel through the TF converter, or any int8 .tflite."""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import numpy as np

from . import autodiff
from . import schema as S
from . import tflite_io as io
from ._generated import tflm_train_generated as G
from .errors import InputError, UnsupportedModelError
from .graph import parse_forward_ops
from . import patch as patch_pass
from .bounds import check_accumulators
from .model import TrainingModel, analytic_memory, training_memory
from .patch import PatchPlan
from .headroom import add_headroom, check_factor, logits_chain, widen_quantization
from .sparse import parse_scheme, plan_scheme
from .sparse.search import auto_scheme

DEFAULT_LEARNING_RATE = 0.01
# Fine-tuning moves weights past their pretrained int8 range; 4x room cost no measurable accuracy
# on the deployed task and closed most of the gap to float fine-tuning (bench/accuracy_table.py).
DEFAULT_WEIGHT_HEADROOM = 4.0
# The logits' int8 range is calibrated on the pretraining task; 2x room kept float's learning rates
# usable on the example's seed whose logits saturated (36 % -> 68 %; 4x: the same) (headroom.py).
DEFAULT_LOGIT_HEADROOM = 2.0
PRODUCER = "tflm-train 0.1.0"
UPDATE_PRECISIONS = ("int8", "int16")


def convert(model, representative_data, *, scheme="bias", grad_dtype: str = "float32",
            learning_rate: float | None = None, seed: int = 0, rounding: str = "stochastic",
            sram_budget: int | None = None, train_data=None, progress: bool = True,
            patch="auto", qas: bool = True, max_loss: float | None = None,
            weight_headroom: float = DEFAULT_WEIGHT_HEADROOM,
            logit_headroom: float = DEFAULT_LOGIT_HEADROOM, update_precision: str = "int8",
            decay_steps: int = 0, final_learning_rate: float = 0.0, warmup_steps: int = 0) -> TrainingModel:
    """Keras model (or SavedModel path) -> full-int8 .tflite (TF converter) -> training model.

    representative_data: an array of samples [N, ...] or an iterable of samples, as the
    model takes them (float). It calibrates the int8 activation ranges.
    scheme: see convert_tflite.
    """
    int8 = keras_to_int8_tflite(model, representative_data)
    return convert_tflite(int8, scheme=scheme, grad_dtype=grad_dtype, learning_rate=learning_rate,
                          seed=seed, rounding=rounding, sram_budget=sram_budget, train_data=train_data,
                          progress=progress, patch=patch, qas=qas, max_loss=max_loss,
                          weight_headroom=weight_headroom, logit_headroom=logit_headroom,
                          update_precision=update_precision, decay_steps=decay_steps,
                          final_learning_rate=final_learning_rate, warmup_steps=warmup_steps)


def keras_to_int8_tflite(model, representative_data) -> bytes:
    import tensorflow as tf

    if representative_data is None:
        raise InputError("representative_data is required: full-integer quantization of a float model needs "
                         "sample inputs to calibrate activation ranges")
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isdir(model):
            raise InputError(f"{os.fspath(model)}: not a SavedModel directory")
        converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(model))
    elif isinstance(model, tf.keras.Model):
        # Batch 1 with static shapes (what TFLM runs): Flatten & co. fold into RESHAPE.
        if len(model.inputs) != 1:
            raise InputError(f"the Keras model has {len(model.inputs)} inputs; one is supported")
        inp = tf.keras.Input(tuple(model.inputs[0].shape[1:]), batch_size=1)
        converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, model(inp, training=False)))
    else:
        raise InputError(f"convert() takes a Keras model or a SavedModel path, not {type(model).__name__}")
    samples = _samples(representative_data)

    def rep():
        for s in samples:
            yield [s]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = rep
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _samples(data) -> list[np.ndarray]:
    try:
        items = list(data)  # an array of samples iterates over its first axis
    except TypeError:
        raise InputError("representative_data must be an array of samples or an iterable of samples") from None
    if not items:
        raise InputError("representative_data is empty")
    out = []
    for s in items:
        a = np.asarray(s, np.float32)
        out.append(a if a.ndim and a.shape[0] == 1 else a[None])
    return out


def convert_tflite(tflite, *, scheme="bias", grad_dtype: str = "float32", learning_rate: float | None = None,
                   seed: int = 0, rounding: str = "stochastic", sram_budget: int | None = None,
                   train_data=None, progress: bool = True, patch="auto", qas: bool = True,
                   max_loss: float | None = None, weight_headroom: float = DEFAULT_WEIGHT_HEADROOM,
                   logit_headroom: float = DEFAULT_LOGIT_HEADROOM, update_precision: str = "int8",
                   decay_steps: int = 0, final_learning_rate: float = 0.0,
                   warmup_steps: int = 0) -> TrainingModel:
    """Any int8 .tflite (bytes or path) that TFLM runs -> training model.

    scheme: "full", "bias", "classifier", "last:K", a SparseScheme (or its text form), or
    "auto": the scheme of highest contribution whose training arena fits sram_budget bytes,
    from contribution analysis on train_data (an iterable of (x, label)) when given, else
    from a data-free prior (sparse/search.py); with train_data the pick is then validated against
    the last-K schemes that fit (up to 8; lowest held-out loss wins). Deterministic for a seed.
    patch: "auto" runs the first stage tile by tile (patch.py, bit-exact) when that shrinks the
    training arena; None never does; a PatchPlan forces that plan (an error if it cannot apply).
    qas: Quantization-Aware Scaling of the int8/int32 parameter updates; False only for ablations.
    max_loss: a step whose loss is not finite or above this raises DivergenceError and applies no
    update; None: ln(classes) plus 0.9 of the most the int8 logits can add to it; 0 or inf: only non-finite
    losses.
    weight_headroom: >= 1; the weight-trained layers are re-quantized with this many times their
    scale, so their weights can grow past the pretrained range (headroom.py). 1: as converted.
    logit_headroom: >= 1; the logits' int8 scale is widened this many times (zero point divided by
    it) where an op requantizes into them, so fine-tuning can grow them (headroom.py). 1: as converted.
    update_precision: "int8" (the paper's: each step rounded to a whole LSB of the int8 weight) or
    "int16": one residual byte per trained weight (1 B more each), so weight * 256 + residual takes
    the steps at 1/256 LSB and steps far below an LSB add up (bench/update_precision.py).
    decay_steps, final_learning_rate: with decay_steps > 0 the learning rate falls linearly from
    learning_rate to final_learning_rate over each update op's first decay_steps updates, then stays
    there (schemas/tflm_train.fbs, Optimizer). 0 (the default): learning_rate throughout, for a
    device that keeps learning. A fine-tuning of a known length is much better with the decay: on
    the Fashion-MNIST example it ends 8-11 points higher and varies far less between runs.
    warmup_steps: > 0 ramps the rate up linearly over each update op's first warmup_steps updates
    (the decayed rate times min(1, (step + 1) / warmup_steps)): at a high rate the very first updates
    can throw a pretrained model into a state int8 does not recover from (README, accuracy).
    With scheme="auto" and train_data, each contribution-analysis run warms up over the same share
    of its own run (warmup_steps / decay_steps, or / len(train_data) without a decay).
    """
    headroom = check_factor(weight_headroom)
    tflite = with_logit_headroom(tflite, check_factor(logit_headroom, "logit_headroom"))
    # Settings first: a bad one is refused before a scheme search spends minutes.
    settings = _settings(grad_dtype, learning_rate, seed, rounding, update_precision, decay_steps,
                         final_learning_rate, warmup_steps)
    search_result = None
    if isinstance(scheme, str) and scheme.strip().lower() == "auto":
        data, _ = io.read_bytes(tflite, "input model")
        search_result = auto_scheme(data, sram_budget, train_data, grad_dtype=grad_dtype,
                                    learning_rate=learning_rate, seed=seed, progress=progress, patch=patch,
                                    max_loss=max_loss, update_precision=update_precision,
                                    warmup_steps=settings.warmup_steps, decay_steps=settings.decay_steps)
        scheme = search_result.scheme
    elif sram_budget is not None or train_data is not None:
        raise InputError('sram_budget and train_data are used by scheme="auto" only')
    model = io.read_model(tflite, "input model")
    settings.qas = bool(qas)
    if max_loss is not None and not (isinstance(max_loss, (int, float)) and max_loss >= 0):
        raise InputError(f"max_loss must be a number >= 0 (or None for the default), got {max_loss!r}")
    settings.max_loss = None if max_loss is None else (0.0 if max_loss == float("inf") else float(max_loss))
    logits, fops = prepare_forward(model)
    patch_plan, required = _patch_plan(model, patch)
    plan, built = _build(model, fops, logits, scheme, settings, headroom)
    tg = _training_graph(model, logits, built)
    if patch_plan is not None:
        tg = _patched(tg, patch_plan, required)
    model, x, logits = tg.model, tg.x, tg.logits
    check_accumulators(model)
    # The TF converter stores identical constants once; a trained tensor needs its own buffer, or
    # training one bias would change (or export would overwrite) every tensor sharing it.
    io.unshare_buffers(model, [int(tr.tensor) for tr in tg.trainables])

    g = G.TrainingGraphT()
    g.inputTensor, g.labelTensor, g.logitsTensor, g.lossTensor = x, tg.label, logits, tg.loss
    g.gradDtype = settings.grad_dtype
    g.optimizer = G.OptimizerT()
    g.optimizer.learningRate, g.optimizer.rounding, g.optimizer.seed = (settings.learning_rate, settings.rounding,
                                                                        settings.seed)
    g.optimizer.finalLearningRate, g.optimizer.decaySteps = settings.final_learning_rate, settings.decay_steps
    g.optimizer.warmupSteps = settings.warmup_steps
    g.loss = G.LossT()
    g.loss.numClasses = int(np.prod(io.shape(model.subgraphs[0].tensors[logits])))
    g.trainables = tg.trainables
    g.patch = tg.patch.text() if tg.patch is not None else ""
    # A named scheme is stored as named; any other as the resolved sparse text.
    named = parse_scheme(scheme) if isinstance(scheme, str) else None
    g.scheme, g.producer = named if isinstance(named, str) else plan.scheme.text(), PRODUCER
    io.set_metadata(model, S.METADATA_NAME, S.encode_graph(g))
    tm = TrainingModel(io.write_model(model), "converted model")
    # Second pass: store the memory summary computed on the final graph.
    mem = analytic_memory(tm)
    g.memory = G.MemorySummaryT()
    g.memory.source = mem["source"]
    g.memory.inferencePeakBytes, g.memory.trainingPeakBytes = mem["inference_peak_bytes"], mem["training_peak_bytes"]
    g.memory.trainableBytes, g.memory.maskBytes = mem["trainable_bytes"], mem["mask_bytes"]
    io.set_metadata(tm.model, S.METADATA_NAME, S.encode_graph(g))
    out = TrainingModel(io.write_model(tm.model), "converted model")
    out.search_result = search_result
    return out



def _settings(grad_dtype: str, learning_rate, seed, rounding: str, update_precision: str = "int8",
              decay_steps: int = 0, final_learning_rate: float = 0.0, warmup_steps: int = 0) -> autodiff.Settings:
    if grad_dtype not in autodiff.GRAD_DTYPES:
        raise InputError(f"grad_dtype must be 'float32' or 'int8', got {grad_dtype!r}")
    if rounding not in autodiff.ROUNDINGS:
        raise InputError(f"rounding must be 'stochastic' or 'nearest', got {rounding!r}")
    lr = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    if not np.isfinite(lr) or lr <= 0:
        raise InputError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise InputError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if update_precision not in UPDATE_PRECISIONS:
        raise InputError(f"update_precision must be 'int8' or 'int16', got {update_precision!r}")
    for name, v, none in (("decay_steps", decay_steps, "no decay"), ("warmup_steps", warmup_steps, "no warm-up")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) <= S.MAX_SCHEDULE_STEPS:
            raise InputError(f"{name} must be an integer in [0, {S.MAX_SCHEDULE_STEPS}] (0: {none}), got {v!r}")
    try:
        final = float(final_learning_rate)
    except (TypeError, ValueError):
        final = float("nan")
    if not np.isfinite(final) or final < 0:
        raise InputError(f"final_learning_rate must be a finite number >= 0, got {final_learning_rate!r}")
    return autodiff.Settings(autodiff.GRAD_DTYPES[grad_dtype], lr, autodiff.ROUNDINGS[rounding], int(seed),
                             residual=update_precision == "int16", decay_steps=int(decay_steps),
                             final_learning_rate=final, warmup_steps=int(warmup_steps))


def with_logit_headroom(tflite, factor: float) -> bytes:
    """The model's bytes with its logits' quantization widened `factor` times (headroom.py)."""
    data, what = io.read_bytes(tflite, "input model")
    if factor == 1.0:
        return data
    logits, fops = prepare_forward(io.read_model(data, what))  # on a copy: it folds an output softmax
    chain = logits_chain(fops, logits)
    if not chain:
        return data
    model = io.read_model(data, what)
    widen_quantization(model, chain, factor)
    return io.write_model(model)


def prepare_forward(model) -> tuple[int, list]:
    """Checks an int8 inference model, folds an output softmax; returns (logits tensor, forward ops)."""
    if io.get_metadata(model, S.METADATA_NAME) is not None:
        raise InputError("the model is already a tflm-train training model")
    if len(model.subgraphs) != 1:
        raise UnsupportedModelError(f"the model has {len(model.subgraphs)} subgraphs; only single-subgraph "
                                    "models are supported")
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise UnsupportedModelError(f"the model needs exactly one input and one output, has {len(sg.inputs)} "
                                    f"and {len(sg.outputs)}")
    logits = _fold_output_softmax(model)
    fops = parse_forward_ops(model)
    for op in fops:
        if op.kind == "SOFTMAX":
            raise UnsupportedModelError(f"operator {op.index} (SOFTMAX): only a softmax at the model output is "
                                        "supported (it is folded into the loss)")
        if op.kind == "DEQUANTIZE":
            raise UnsupportedModelError(f"operator {op.index} (DEQUANTIZE): only at the model output is supported")
        if op.kind == "QUANTIZE" and op.x != sg.inputs[0]:
            raise UnsupportedModelError(f"operator {op.index} (QUANTIZE): only at the model input is supported")
    if sg.tensors[logits].type != io.TensorType.INT8 or io.qparams(sg.tensors[logits]) is None:
        raise UnsupportedModelError("the model output (logits) must be an int8 tensor; quantize the model fully")
    return logits, fops


def _build(model, fops, logits: int, scheme, settings: autodiff.Settings, headroom: float = 1.0):
    plan = plan_scheme(scheme, fops, model)
    add_headroom(model, fops, plan.weights, headroom)  # writes buffers: never with 1.0 (MemorySizer shares them)
    return plan, autodiff.build(model, fops, logits, plan, settings)


@dataclass
class _TrainingGraph:
    """A built training graph before its metadata is written: the model and the indices the metadata names."""

    model: object
    x: int
    label: int
    logits: int
    loss: int
    trainables: list  # G.TrainableTensorT
    patch: PatchPlan | None = None

    def arena(self) -> int:
        return training_memory(self.model, self.x, self.label, self.logits, self.loss,
                               self.trainables)["training_peak_bytes"]


def _training_graph(model, logits: int, built) -> _TrainingGraph:
    sg = model.subgraphs[0]
    x = int(sg.inputs[0])
    sg.operators = built.operators
    sg.inputs = np.asarray([x, built.label_tensor], np.int32)
    sg.outputs = np.asarray([logits, built.loss_tensor], np.int32)
    return _TrainingGraph(model, x, built.label_tensor, logits, built.loss_tensor, built.trainables)


def _patch_plan(model, patch) -> tuple[PatchPlan | None, bool]:
    """(plan, required). patch: None (off), "auto" (the plan of smallest inference arena, kept only
    if it shrinks the training arena) or a PatchPlan (required)."""
    if patch is None:
        return None, False
    if isinstance(patch, str) and patch.strip().lower() == "auto":
        return patch_pass.choose(model)[0], False
    if isinstance(patch, PatchPlan):
        return patch, True
    raise InputError(f'patch must be None, "auto" or a tflm_train.PatchPlan, got {patch!r}')


def _patched(tg: _TrainingGraph, plan: PatchPlan, required: bool) -> _TrainingGraph:
    """The graph with its first stage patched; with required=False, the unpatched graph when patching
    cannot apply (a trained layer inside the stage) or does not shrink the training arena."""
    memo = {id(b): b for b in tg.model.buffers}
    model, trainables = copy.deepcopy((tg.model, tg.trainables), memo)
    try:
        rw = patch_pass.rewrite(model, plan)
    except InputError as e:
        if required:
            raise InputError(f"{e}. Is a layer of the stage trained by the scheme? Patching needs a frozen "
                             "first stage") from None
        return tg
    t = rw.tensor_map
    for tr in trainables:
        tr.tensor, tr.layerOp, tr.updateOp = t[tr.tensor], rw.op_map[tr.layerOp], rw.op_map[tr.updateOp]
        if tr.sliceOf >= 0:
            tr.sliceOf = t[tr.sliceOf]
    out = _TrainingGraph(model, t[tg.x], t[tg.label], t[tg.logits], t[tg.loss], trainables, plan)
    if not required and out.arena() >= tg.arena():
        return tg
    return out


class MemorySizer:
    """Analytic training arena of many schemes of one model, without writing a file per scheme (for the search)."""

    def __init__(self, tflite: bytes, grad_dtype: str = "float32", seed: int = 0, patch="auto",
                 update_precision: str = "int8"):
        self._model = io.read_model(tflite, "input model")
        self._settings = _settings(grad_dtype, None, seed, "stochastic", update_precision)
        self._logits, self._fops = prepare_forward(self._model)
        self._patch, self._required = _patch_plan(self._model, patch)

    def training_arena(self, scheme) -> int:
        # Constant buffers are never written by the passes: share them instead of copying.
        memo = {id(b): b for b in self._model.buffers}
        model, fops = copy.deepcopy((self._model, self._fops), memo)
        _, built = _build(model, fops, self._logits, scheme, self._settings)
        tg = _training_graph(model, self._logits, built)
        if self._patch is not None:
            tg = _patched(tg, self._patch, self._required)
        return tg.arena()

def _fold_output_softmax(model) -> int:
    """Drops a trailing SOFTMAX / DEQUANTIZE; returns the int8 logits tensor."""
    sg = model.subgraphs[0]
    out = int(sg.outputs[0])
    while True:
        producers = [i for i, op in enumerate(sg.operators) if out in [int(t) for t in op.outputs]]
        if not producers:
            raise UnsupportedModelError("the model output is not produced by any operator")
        i = producers[0]
        op = sg.operators[i]
        kind = io.op_name(model, op)
        if kind not in ("SOFTMAX", "DEQUANTIZE"):
            return out
        consumers = [j for j, o in enumerate(sg.operators) if j != i and out in [int(t) for t in o.inputs]]
        if consumers:
            return out
        del sg.operators[i]
        out = int(op.inputs[0])
        sg.outputs = np.asarray([out], np.int32)
