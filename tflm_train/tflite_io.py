"""Read and write TFLite flatbuffers with the schema's object API.

The TFLite schema code comes from the pinned tflite-micro wheel, so what we read
and write is exactly what the interpreter we test against understands.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

from .errors import ModelFormatError

BuiltinOperator = tfl.BuiltinOperator
TensorType = tfl.TensorType
_BUILTIN_NAMES = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
_NUMPY_OF_TYPE = {
    tfl.TensorType.FLOAT32: np.float32,
    tfl.TensorType.INT8: np.int8,
    tfl.TensorType.UINT8: np.uint8,
    tfl.TensorType.INT32: np.int32,
    tfl.TensorType.INT64: np.int64,
    tfl.TensorType.INT16: np.int16,
    tfl.TensorType.BOOL: np.bool_,
}
TYPE_OF_NUMPY = {np.dtype(v): k for k, v in _NUMPY_OF_TYPE.items()}
TFLITE_IDENTIFIER = b"TFL3"


def builtin_name(code: int) -> str:
    return _BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


def numpy_dtype(tensor_type: int) -> np.dtype:
    try:
        return np.dtype(_NUMPY_OF_TYPE[tensor_type])
    except KeyError:
        raise ModelFormatError(f"unsupported tensor type {tensor_type}") from None


def read_bytes(data: bytes | bytearray | memoryview | str | os.PathLike, what: str = "model") -> tuple[bytes, str]:
    """The bytes of a model given as bytes or a path, and the name to use in errors."""
    if isinstance(data, (str, os.PathLike)):
        what = os.fspath(data)
        try:
            with open(data, "rb") as f:
                return f.read(), what
        except OSError as e:
            raise ModelFormatError(f"{what}: cannot read: {e.strerror}") from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFormatError(f"{what}: expected bytes or a path, got {type(data).__name__}")
    return bytes(data), what


def read_model(data: bytes | bytearray | str | os.PathLike, what: str = "model") -> tfl.ModelT:
    """Parses TFLite bytes (or a path) into a ModelT, with a clear error when corrupt."""
    buf, what = read_bytes(data, what)
    if len(buf) < 8:
        raise ModelFormatError(f"{what}: {len(buf)} bytes is too short to be a TFLite model")
    if buf[4:8] != TFLITE_IDENTIFIER:
        raise ModelFormatError(f"{what}: not a TFLite flatbuffer (identifier {buf[4:8]!r}, want b'TFL3')")
    try:
        model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(buf, 0))
    except Exception as e:  # flatbuffers raises assorted errors on corrupt input
        raise ModelFormatError(f"{what}: corrupt or truncated TFLite flatbuffer ({type(e).__name__}: {e})") from None
    try:
        _check_structure(model, what)
    except ModelFormatError:
        raise
    except Exception as e:
        raise ModelFormatError(f"{what}: corrupt TFLite flatbuffer ({type(e).__name__}: {e})") from None
    return model


def _check_structure(model: tfl.ModelT, what: str) -> None:
    if not model.subgraphs:
        raise ModelFormatError(f"{what}: the model has no subgraph")
    nbuf = len(model.buffers or [])
    nops = len(model.operatorCodes or [])
    for si, sg in enumerate(model.subgraphs):
        nt = len(sg.tensors or [])
        for ti, t in enumerate(sg.tensors or []):
            if not 0 <= t.buffer < max(nbuf, 1):
                raise ModelFormatError(f"{what}: tensor {ti} of subgraph {si} names buffer {t.buffer} of {nbuf}")
            _check_quantization(t, f"{what}: tensor {ti} of subgraph {si}")
        for oi, op in enumerate(sg.operators or []):
            if not 0 <= op.opcodeIndex < nops:
                raise ModelFormatError(f"{what}: operator {oi} has opcode index {op.opcodeIndex} of {nops}")
            for t in list(op.inputs if op.inputs is not None else []) + list(op.outputs if op.outputs is not None else []):
                if not -1 <= t < nt:
                    raise ModelFormatError(f"{what}: operator {oi} references tensor {t} of {nt}")
        for t in list(sg.inputs if sg.inputs is not None else []) + list(sg.outputs if sg.outputs is not None else []):
            if not 0 <= t < nt:
                raise ModelFormatError(f"{what}: subgraph {si} input/output names tensor {t} of {nt}")


def _check_quantization(t, where: str) -> None:
    """Per-channel quantization must name an axis of the tensor with one scale (and at most one
    zero point) per index: TFLM reads dims[quantized_dimension] unchecked, so a corrupt axis would
    crash it."""
    q = t.quantization
    scale = np.asarray(q.scale if q is not None and q.scale is not None else [])
    zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [])
    if scale.size <= 1 and zp.size <= 1:
        return
    rank = len(t.shape) if t.shape is not None else 0
    axis = int(q.quantizedDimension)
    if not 0 <= axis < rank:
        raise ModelFormatError(f"{where}: per-channel quantization on axis {axis} of a rank-{rank} tensor")
    n = int(t.shape[axis])
    if scale.size != n or zp.size not in (1, n):
        raise ModelFormatError(f"{where}: {scale.size} scales and {zp.size} zero points for {n} channels "
                               f"(axis {axis})")


def write_model(model: tfl.ModelT) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def op_code(model: tfl.ModelT, op: tfl.OperatorT) -> int:
    oc = model.operatorCodes[op.opcodeIndex]
    return max(oc.builtinCode, oc.deprecatedBuiltinCode)


def op_name(model: tfl.ModelT, op: tfl.OperatorT) -> str:
    code = op_code(model, op)
    if code == BuiltinOperator.CUSTOM:
        cc = model.operatorCodes[op.opcodeIndex].customCode
        return cc.decode("utf-8", "replace") if isinstance(cc, bytes) else str(cc)
    return builtin_name(code)


def tensor_name(t: tfl.TensorT) -> str:
    return t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)


@dataclass(frozen=True)
class QParams:
    """Quantization of one tensor: per-tensor (len 1) or per-channel arrays."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64
    axis: int

    @property
    def per_tensor_scale(self) -> float:
        return float(self.scale[0])

    @property
    def per_tensor_zero_point(self) -> int:
        return int(self.zero_point[0])


def qparams(t: tfl.TensorT) -> QParams | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zp = np.zeros(len(q.scale), np.int64) if q.zeroPoint is None else np.asarray(q.zeroPoint, np.int64)
    return QParams(np.asarray(q.scale, np.float32), zp, int(q.quantizedDimension))


def shape(t: tfl.TensorT) -> tuple[int, ...]:
    return tuple(int(d) for d in (t.shape if t.shape is not None else []))


def is_constant(model: tfl.ModelT, t: tfl.TensorT) -> bool:
    data = model.buffers[t.buffer].data
    return data is not None and len(data) > 0


def buffer_array(model: tfl.ModelT, t: tfl.TensorT) -> np.ndarray | None:
    """The constant data of a tensor, or None for activations."""
    buf = model.buffers[t.buffer]
    if buf.data is None or len(buf.data) == 0:
        return None
    raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
    dt = numpy_dtype(t.type)
    n = int(np.prod(shape(t))) if shape(t) else 1
    if len(raw) != n * dt.itemsize:
        raise ModelFormatError(
            f"tensor '{tensor_name(t)}': buffer holds {len(raw)} bytes, shape {shape(t)} of {dt} needs {n * dt.itemsize}")
    return np.frombuffer(raw, dtype=dt).reshape(shape(t)).copy()


def buffer_offset(data: bytes, buffer_index: int) -> int:
    """Where buffer `buffer_index`'s bytes start inside the serialized model `data`."""
    view = tfl.Model.GetRootAsModel(data, 0).Buffers(buffer_index).DataAsNumpy()
    if isinstance(view, int) or view.size == 0:
        raise ModelFormatError(f"buffer {buffer_index} holds no data")
    return view.ctypes.data - np.frombuffer(data, np.uint8).ctypes.data


def set_buffer(model: tfl.ModelT, t: tfl.TensorT, values: np.ndarray) -> None:
    values = np.ascontiguousarray(values, dtype=numpy_dtype(t.type))
    model.buffers[t.buffer].data = np.frombuffer(values.tobytes(), dtype=np.uint8).copy()


def buffer_users(model: tfl.ModelT) -> dict[int, list[int]]:
    """Buffer index -> the subgraph-0 tensors that read it (the TF converter shares identical constants)."""
    users: dict[int, list[int]] = {}
    for i, t in enumerate(model.subgraphs[0].tensors):
        users.setdefault(int(t.buffer), []).append(i)
    return users


def unshare_buffers(model: tfl.ModelT, tensors: list[int]) -> int:
    """Gives each listed tensor a buffer no other tensor reads; returns how many were copied."""
    users = buffer_users(model)
    copied = 0
    for ti in tensors:
        t = model.subgraphs[0].tensors[ti]
        if len(users.get(int(t.buffer), [])) > 1 and t.buffer != 0:
            users[int(t.buffer)].remove(ti)
            data = model.buffers[t.buffer].data
            t.buffer = add_buffer(model, None if data is None else np.asarray(data, np.uint8).tobytes())
            copied += 1
    return copied


def add_buffer(model: tfl.ModelT, data: bytes | None = None) -> int:
    b = tfl.BufferT()
    b.data = None if data is None else np.frombuffer(data, dtype=np.uint8).copy()
    model.buffers.append(b)
    return len(model.buffers) - 1


def add_tensor(model: tfl.ModelT, name: str, shape_: tuple[int, ...], ttype: int,
               data: bytes | None = None, quant: QParams | None = None) -> int:
    sg = model.subgraphs[0]
    t = tfl.TensorT()
    t.name = name.encode()
    t.shape = np.asarray(shape_, dtype=np.int32)
    t.type = ttype
    t.buffer = add_buffer(model, data) if data is not None else 0
    if quant is not None:
        q = tfl.QuantizationParametersT()
        q.scale = [float(s) for s in quant.scale]
        q.zeroPoint = [int(z) for z in quant.zero_point]
        q.quantizedDimension = quant.axis
        t.quantization = q
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def custom_opcode_index(model: tfl.ModelT, name: str) -> int:
    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == BuiltinOperator.CUSTOM and (
                oc.customCode in (name, name.encode())):
            return i
    oc = tfl.OperatorCodeT()
    oc.builtinCode = BuiltinOperator.CUSTOM
    oc.deprecatedBuiltinCode = BuiltinOperator.CUSTOM  # codes < 127 repeat the code here
    oc.customCode = name.encode()
    oc.version = 1
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def make_custom_op(model: tfl.ModelT, name: str, inputs: list[int], outputs: list[int], options: bytes) -> tfl.OperatorT:
    op = tfl.OperatorT()
    op.opcodeIndex = custom_opcode_index(model, name)
    op.inputs = np.asarray(inputs, dtype=np.int32)
    op.outputs = np.asarray(outputs, dtype=np.int32)
    op.customOptions = np.frombuffer(options, dtype=np.uint8).copy()
    op.customOptionsFormat = tfl.CustomOptionsFormat.FLEXBUFFERS
    return op


def builtin_opcode_index(model: tfl.ModelT, code: int, version: int = 1) -> int:
    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            oc.version = max(oc.version, version)
            return i
    oc = tfl.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    oc.version = version
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def make_builtin_op(model: tfl.ModelT, code: int, version: int, inputs: list[int], outputs: list[int],
                    options_type: int, options) -> tfl.OperatorT:
    op = tfl.OperatorT()
    op.opcodeIndex = builtin_opcode_index(model, code, version)
    op.inputs = np.asarray(inputs, dtype=np.int32)
    op.outputs = np.asarray(outputs, dtype=np.int32)
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def drop_unused_tensors(sg: tfl.SubGraphT) -> dict[int, int]:
    """Removes tensors no operator and no graph input/output uses (TFLM would still give each an
    eval tensor); returns old index -> new index of the kept ones."""
    used = {int(t) for t in sg.inputs} | {int(t) for t in sg.outputs}
    for op in sg.operators:
        used |= {int(t) for t in op.inputs if t >= 0} | {int(t) for t in op.outputs if t >= 0}
    new = {old: i for i, old in enumerate(sorted(used))}

    def remap(ts):
        return np.asarray([new[int(t)] if t >= 0 else -1 for t in ts], np.int32)

    sg.tensors = [sg.tensors[i] for i in sorted(used)]
    for op in sg.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
    sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
    return new


def metadata_name(m: tfl.MetadataT) -> str:
    return m.name.decode() if isinstance(m.name, bytes) else str(m.name)


def get_metadata(model: tfl.ModelT, name: str) -> bytes | None:
    for m in model.metadata or []:
        if metadata_name(m) == name:
            data = model.buffers[m.buffer].data
            return b"" if data is None else np.asarray(data, np.uint8).tobytes()
    return None


def set_metadata(model: tfl.ModelT, name: str, data: bytes) -> None:
    for m in model.metadata or []:
        if metadata_name(m) == name:
            model.buffers[m.buffer].data = np.frombuffer(data, np.uint8).copy()
            return
    md = tfl.MetadataT()
    md.name = name.encode()
    md.buffer = add_buffer(model, data)
    if model.metadata is None:
        model.metadata = []
    model.metadata.append(md)
