"""A corpus of corrupt training models, generated from a valid one.

structural(): (name, bytes) cases every loader must reject: truncations, wrong schema versions,
missing or inconsistent metadata, mismatched shapes and masks, unsupported ops, options out of range.
bit_flips(): random single-bit flips anywhere (some land in weights and stay valid models).
option_mutations(): structurally valid .tflite files whose TFLMT_* custom options are damaged,
to reach the kernels' Prepare directly (the Python loader is bypassed).
"""
from __future__ import annotations

import copy

import numpy as np

from tflm_train import schema as S
from tflm_train import tflite_io as io
from tflm_train._generated import tflm_train_generated as G


def _edit(data: bytes, fn) -> bytes:
    m = io.read_model(data)
    fn(m)
    return io.write_model(m)


def _graph_edit(data: bytes, fn) -> bytes:
    def apply(m):
        g = S.decode_graph(io.get_metadata(m, S.METADATA_NAME), "corpus")
        fn(g, m)
        io.set_metadata(m, S.METADATA_NAME, S.encode_graph(g))
    return _edit(data, apply)


def _option_edit(data: bytes, op_name: str, fn) -> bytes:
    def apply(m):
        for op in m.subgraphs[0].operators:
            if io.op_name(m, op) == op_name:
                opts = S.decode_options(op_name, np.asarray(op.customOptions, np.uint8).tobytes(), "corpus")
                fn(opts)
                op.customOptions = np.frombuffer(S.encode_options(opts), np.uint8).copy()
                return
        raise KeyError(op_name)
    return _edit(data, apply)


def structural(data: bytes) -> list[tuple[str, bytes]]:
    cases = []
    n = len(data)
    for cut in sorted({1, 4, 8, 16, 64, n // 7, n // 3, n // 2, 2 * n // 3, n - 64, n - 8, n - 1}):
        if 0 < cut < n:
            cases.append((f"truncated at {cut}", data[:cut]))
    cases.append(("empty", b""))
    cases.append(("not a flatbuffer", b"\xff" * 64))
    cases.append(("wrong graph version", _graph_edit(data, lambda g, m: setattr(g, "version", 7))))
    cases.append(("no tflm_train metadata", _edit(data, lambda m: setattr(
        m, "metadata", [x for x in m.metadata if io.metadata_name(x) != S.METADATA_NAME]))))
    cases.append(("metadata not a TrainingGraph", _edit(data, lambda m: io.set_metadata(m, S.METADATA_NAME, b"junk" * 8))))
    cases.append(("label tensor out of range", _graph_edit(data, lambda g, m: setattr(g, "labelTensor", 10**6))))
    cases.append(("logits tensor is not the logits",
                  _graph_edit(data, lambda g, m: setattr(g, "logitsTensor", g.labelTensor))))
    cases.append(("model outputs emptied", _edit(data, lambda m: setattr(m.subgraphs[0], "outputs", []))))
    cases.append(("model outputs swapped", _edit(data, lambda m: setattr(m.subgraphs[0], "outputs",
                                                                           m.subgraphs[0].outputs[::-1].copy()))))
    cases.append(("negative learning rate", _graph_edit(data, lambda g, m: setattr(g.optimizer, "learningRate", -1.0))))

    def bad_trainable(field, value):
        def fn(g, m):
            setattr(g.trainables[0], field, value)
        return fn
    cases.append(("trainable tensor out of range", _graph_edit(data, bad_trainable("tensor", 10**5))))
    cases.append(("trainable updated by another op", _graph_edit(data, bad_trainable("updateOp", 0))))
    cases.append(("QAS scale count wrong", _graph_edit(data, bad_trainable("qasScale", [1.0]))))
    cases.append(("mask channel out of range", _graph_edit(data, bad_trainable("inputChannels", [10**4]))))
    cases.append(("mask unsorted", _graph_edit(data, bad_trainable("inputChannels", [1, 0]))))

    def reshape_weight(m):
        g = S.decode_graph(io.get_metadata(m, S.METADATA_NAME), "corpus")
        t = m.subgraphs[0].tensors[g.trainables[0].tensor]
        t.shape = np.asarray(list(t.shape[:-1]) + [int(t.shape[-1]) + 1], np.int32)
    cases.append(("trainable shape does not match its buffer", _edit(data, reshape_weight)))

    def unsupported(m):
        for op in m.subgraphs[0].operators:
            if io.op_name(m, op) == "CONV_2D":
                oc = copy.deepcopy(m.operatorCodes[op.opcodeIndex])
                oc.builtinCode = oc.deprecatedBuiltinCode = io.BuiltinOperator.TANH
                m.operatorCodes.append(oc)
                op.opcodeIndex = len(m.operatorCodes) - 1
                return
    cases.append(("unsupported op (TANH)", _edit(data, unsupported)))

    def unknown_training_op(m):
        for op in m.subgraphs[0].operators:
            if io.op_name(m, op) == "TFLMT_CLAMP_GRAD":
                op.opcodeIndex = io.custom_opcode_index(m, "TFLMT_FROBNICATE")
                return
    cases.append(("unknown training op", _edit(data, unknown_training_op)))
    cases.append(("options version 9", _option_edit(data, "TFLMT_SOFTMAX_CE", lambda o: setattr(o, "version", 9))))
    cases.append(("options of another op", _edit(data, lambda m: _swap_options(m))))
    cases.append(("grad dtype 7", _option_edit(data, "TFLMT_SOFTMAX_CE", lambda o: setattr(o, "gradDtype", 7))))
    cases.append(("update QAS count wrong",
                  _option_edit(data, "TFLMT_BIAS_UPDATE", lambda o: setattr(o, "qasScale", [1.0, 2.0, 3.0]))))
    return cases


def _swap_options(m) -> None:
    ops = m.subgraphs[0].operators
    ce = next(op for op in ops if io.op_name(m, op) == "TFLMT_SOFTMAX_CE")
    bu = next(op for op in ops if io.op_name(m, op) == "TFLMT_BIAS_UPDATE")
    ce.customOptions, bu.customOptions = bu.customOptions, ce.customOptions


def bit_flips(data: bytes, count: int, seed: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        b = bytearray(data)
        bit = int(rng.integers(0, len(b) * 8))
        b[bit // 8] ^= 1 << (bit % 8)
        out.append((f"bit {bit} flipped", bytes(b)))
    return out


def option_mutations(data: bytes, per_op: int, seed: int) -> list[tuple[str, bytes]]:
    """Damaged custom options of every TFLMT op kind (structurally valid .tflite otherwise)."""
    rng = np.random.default_rng(seed)
    m0 = io.read_model(data)
    kinds = {}
    for i, op in enumerate(m0.subgraphs[0].operators):
        name = io.op_name(m0, op)
        if name.startswith(S.OP_PREFIX):
            kinds.setdefault(name, i)
    out = []
    for name, idx in sorted(kinds.items()):
        raw = np.asarray(m0.subgraphs[0].operators[idx].customOptions, np.uint8).tobytes()
        variants = [b"", raw[: len(raw) // 2], raw[:8], b"\x00" * len(raw)]
        for _ in range(per_op):
            b = bytearray(raw)
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
            variants.append(bytes(b))
        for k, v in enumerate(variants):
            m = io.read_model(data)
            m.subgraphs[0].operators[idx].customOptions = np.frombuffer(v, np.uint8).copy() if v else None
            out.append((f"{name} options variant {k}", io.write_model(m)))
    return out


__all__ = ["structural", "bit_flips", "option_mutations", "G"]
