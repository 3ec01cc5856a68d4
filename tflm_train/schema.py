"""Encode and decode our flatbuffers: op options (TMTO) and the TrainingGraph (TMTG)."""
from __future__ import annotations

import flatbuffers
import numpy as np

from ._generated import tflm_train_generated as G
from .errors import ModelFormatError

SCHEMA_VERSION = 1
METADATA_NAME = "tflm_train"
OPTIONS_IDENTIFIER = b"TMTO"
GRAPH_IDENTIFIER = b"TMTG"
OP_PREFIX = "TFLMT_"
# The learning-rate schedule's step counts (decay_steps, warmup_steps) convert to float32 exactly up to 2^24.
MAX_SCHEDULE_STEPS = 1 << 24


def valid_schedule(final_learning_rate: float, decay_steps: int, warmup_steps: int) -> bool:
    """A stored learning-rate schedule a loader accepts (the converter refuses the same values by name)."""
    return bool(np.isfinite(final_learning_rate)) and final_learning_rate >= 0 and \
        max(decay_steps, warmup_steps) <= MAX_SCHEDULE_STEPS


def _x_input(int8_grads: bool) -> int:
    """A *_WEIGHT_UPDATE op's inputs are [label, gradient (and its scale, for int8 gradients), x,
    weights, residual bytes (update_precision "int16" only)]: the position of x."""
    return 3 if int8_grads else 2


def weight_update_inputs(ins, int8_grads: bool) -> tuple[int, int, int | None]:
    """(x, weights, residual bytes or None) of a *_WEIGHT_UPDATE op's inputs. Callers have checked
    the count (weight_update_input_count)."""
    x, w, *residual = [int(t) for t in ins[_x_input(int8_grads):]]
    return x, w, (residual[0] if residual else None)


def weight_update_input_count(int8_grads: bool, residual: bool) -> int:
    return _x_input(int8_grads) + 2 + int(residual)


# Each training op and the options table it carries.
OP_OPTIONS = {
    "TFLMT_CLAMP_MASK": G.OpOptions.ClampMaskOptions,
    "TFLMT_SOFTMAX_CE": G.OpOptions.SoftmaxCeOptions,
    "TFLMT_CLAMP_GRAD": G.OpOptions.ClampGradOptions,
    "TFLMT_GRAD_ACCUM": G.OpOptions.GradAccumOptions,
    "TFLMT_CONV_INPUT_GRAD": G.OpOptions.InputGradOptions,
    "TFLMT_DW_INPUT_GRAD": G.OpOptions.InputGradOptions,
    "TFLMT_FC_INPUT_GRAD": G.OpOptions.InputGradOptions,
    "TFLMT_CONV_WEIGHT_UPDATE": G.OpOptions.WeightUpdateOptions,
    "TFLMT_DW_WEIGHT_UPDATE": G.OpOptions.WeightUpdateOptions,
    "TFLMT_FC_WEIGHT_UPDATE": G.OpOptions.WeightUpdateOptions,
    "TFLMT_BIAS_UPDATE": G.OpOptions.BiasUpdateOptions,
    "TFLMT_AVG_POOL_GRAD": G.OpOptions.AvgPoolGradOptions,
    "TFLMT_MEAN_GRAD": G.OpOptions.MeanGradOptions,
    "TFLMT_PAD_GRAD": G.OpOptions.PadGradOptions,
    "TFLMT_CHANNEL_GATHER": G.OpOptions.ChannelGatherOptions,
    "TFLMT_CHANNEL_MERGE": G.OpOptions.ChannelMergeOptions,
    "TFLMT_MAX_POOL_ARGMAX": G.OpOptions.MaxPoolArgmaxOptions,
    "TFLMT_MAX_POOL_GRAD": G.OpOptions.MaxPoolGradOptions,
}
_TYPE_OF_CLASS = {
    G.ClampMaskOptionsT: G.OpOptions.ClampMaskOptions, G.SoftmaxCeOptionsT: G.OpOptions.SoftmaxCeOptions,
    G.ClampGradOptionsT: G.OpOptions.ClampGradOptions, G.GradAccumOptionsT: G.OpOptions.GradAccumOptions,
    G.InputGradOptionsT: G.OpOptions.InputGradOptions, G.WeightUpdateOptionsT: G.OpOptions.WeightUpdateOptions,
    G.BiasUpdateOptionsT: G.OpOptions.BiasUpdateOptions, G.AvgPoolGradOptionsT: G.OpOptions.AvgPoolGradOptions,
    G.MeanGradOptionsT: G.OpOptions.MeanGradOptions, G.PadGradOptionsT: G.OpOptions.PadGradOptions,
    G.ChannelGatherOptionsT: G.OpOptions.ChannelGatherOptions,
    G.ChannelMergeOptionsT: G.OpOptions.ChannelMergeOptions,
    G.MaxPoolArgmaxOptionsT: G.OpOptions.MaxPoolArgmaxOptions, G.MaxPoolGradOptionsT: G.OpOptions.MaxPoolGradOptions,
}


def encode_options(options) -> bytes:
    wrapper = G.OpOptionsBufferT()
    wrapper.optionsType = _TYPE_OF_CLASS[type(options)]
    wrapper.options = options
    b = flatbuffers.Builder(256)
    b.Finish(wrapper.Pack(b), file_identifier=OPTIONS_IDENTIFIER)
    return bytes(b.Output())


def decode_options(op_name: str, data: bytes, where: str):
    """The options table of training op `op_name`; `where` names the op in errors."""
    if op_name not in OP_OPTIONS:
        raise ModelFormatError(f"{where}: unknown training op '{op_name}' (this tflm-train knows "
                               + ", ".join(sorted(OP_OPTIONS)) + ")")
    if len(data) < 8 or data[4:8] != OPTIONS_IDENTIFIER:
        raise ModelFormatError(f"{where}: custom options are not a tflm-train options buffer")
    try:
        wrapper = G.OpOptionsBufferT.InitFromObj(G.OpOptionsBuffer.GetRootAs(data, 0))
    except Exception as e:
        raise ModelFormatError(f"{where}: corrupt options ({type(e).__name__}: {e})") from None
    if wrapper.optionsType != OP_OPTIONS[op_name] or wrapper.options is None:
        raise ModelFormatError(f"{where}: options of type {wrapper.optionsType} do not belong to {op_name}")
    version = getattr(wrapper.options, "version", None)
    if version != SCHEMA_VERSION:
        raise ModelFormatError(f"{where}: options version {version}, this tflm-train reads version {SCHEMA_VERSION}")
    dtype = getattr(wrapper.options, "gradDtype", G.GradDType.FLOAT32)
    if dtype not in (G.GradDType.FLOAT32, G.GradDType.INT8):
        raise ModelFormatError(f"{where}: unknown gradient dtype {dtype} (0 = float32, 1 = int8)")
    return wrapper.options


def encode_graph(graph: "G.TrainingGraphT") -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(graph.Pack(b), file_identifier=GRAPH_IDENTIFIER)
    return bytes(b.Output())


def decode_graph(data: bytes, where: str) -> "G.TrainingGraphT":
    if len(data) < 8 or data[4:8] != GRAPH_IDENTIFIER:
        raise ModelFormatError(f"{where}: metadata '{METADATA_NAME}' is not a TrainingGraph (identifier "
                               f"{bytes(data[4:8])!r})")
    try:
        g = G.TrainingGraphT.InitFromObj(G.TrainingGraph.GetRootAs(data, 0))
    except Exception as e:
        raise ModelFormatError(f"{where}: corrupt TrainingGraph metadata ({type(e).__name__}: {e})") from None
    if g.version != SCHEMA_VERSION:
        raise ModelFormatError(f"{where}: TrainingGraph version {g.version}; this tflm-train reads version "
                               f"{SCHEMA_VERSION}. Reconvert the model or upgrade tflm-train.")
    return g


def geometry_t(geo) -> "G.GeometryT":
    t = G.GeometryT()
    t.strideH, t.strideW = geo.stride_h, geo.stride_w
    t.dilationH, t.dilationW = geo.dilation_h, geo.dilation_w
    t.padTop, t.padLeft = geo.pad_top, geo.pad_left
    return t


def geometry_from(t):
    from .graph import Geometry
    return Geometry(t.strideH, t.strideW, t.dilationH, t.dilationW, t.padTop, t.padLeft)
