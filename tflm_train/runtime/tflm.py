"""The TFLM backend: the training graph runs in the real TFLM MicroInterpreter
(the pinned tflite-micro wheel) with our kernels registered into it.

The model bytes handed to the interpreter are a private copy that is never
written: each update op keeps its parameter's trained copy in the arena (see
kernels/include/tflmt/state.h). Python reads and writes that state through the
native library's state table.
"""
from __future__ import annotations

import ctypes as C
import os
import re
import sys
import tempfile
import weakref

import numpy as np

from .. import tflite_io as io
from ..errors import DivergenceError, TflmTrainError
from ..model import TrainingModel
from ..reference.forward import dequantize
from . import export as E
from . import fast_forward as FF
from . import native as N

_ALLOC_RE = {
    "arena": re.compile(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes"),
    "head": re.compile(r"\[RecordingMicroAllocator\] Arena allocation head (\d+) bytes"),
    "tail": re.compile(r"\[RecordingMicroAllocator\] Arena allocation tail (\d+) bytes"),
}


class TflmError(TflmTrainError, RuntimeError):
    """The TFLM interpreter rejected the model or failed during a step."""


class _CapturedOutput:
    """Captures what C code prints on stdout/stderr (TFLM's MicroPrintf) inside a with-block."""

    def __enter__(self):
        self.file = tempfile.TemporaryFile(mode="w+b")
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in self.saved:
            os.close(fd)
        self.file.seek(0)
        self.text = self.file.read().decode(errors="replace")
        self.file.close()
        return False


def _call_tflm(fn, what: str, with_registration_error: bool = False):
    """fn() with TFLM's printed diagnostics captured; a failure becomes a TflmError that carries them."""
    with _CapturedOutput() as out:
        try:
            return fn()
        except RuntimeError as e:
            error = e
    detail = " ".join(line.strip() for line in out.text.splitlines() if line.strip())
    native = N.last_error() if with_registration_error else ""
    raise TflmError(f"{what}: {detail or error}" + (f" ({native})" if native else ""))


def _interpreter(model: bytes, arena_size: int, registerer: str = N.REGISTERER):
    from tflite_micro.python.tflite_micro import runtime

    N.host()  # our registerer must be loaded (RTLD_GLOBAL) and bound before the wheel looks it up
    if not 0 < arena_size < 1 << 31:  # the wheel takes a C int (and raised a bare TypeError)
        raise TflmError(f"TFLM could not load the model: a tensor arena of {arena_size} bytes is outside what "
                        "the TFLM wheel takes (1 .. 2^31 - 1); are the model's tensor shapes corrupt?")
    try:
        return _call_tflm(lambda: runtime.Interpreter.from_bytes(model, custom_op_registerers=[registerer],
                                                                 arena_size=arena_size),
                          "TFLM could not load the model", with_registration_error=True)
    except MemoryError:
        raise TflmError(f"TFLM could not load the model: no memory for a tensor arena of {arena_size} bytes") from None


def _captured_allocations(interp) -> dict:
    """Runs print_allocations() with the C output captured; parses the arena totals."""
    with _CapturedOutput() as out:
        interp.print_allocations()
    text = out.text
    found = {}
    for key, rx in _ALLOC_RE.items():
        m = rx.search(text)
        if m:
            found[key] = int(m.group(1))
    if "arena" not in found:
        raise TflmError("could not read the TFLM recording allocator's report:\n" + text[-2000:])
    return found


def measured_training_arena(tm: TrainingModel) -> int:
    """Bytes of tensor arena TFLM's allocator needs for tm's training graph (planned + persistent)."""
    return _captured_allocations(TflmBackend(tm).interp)["arena"]


def default_arena(tm: TrainingModel) -> int:
    a = tm.memory_report()
    return int(2 * a["training_peak_bytes"] + 256 * 1024)


class TflmBackend:
    def __init__(self, tm: TrainingModel, arena_size: int | None = None, fast_forward: bool = False):
        self.tm = tm
        self.lib = N.host()
        # A private copy: its address keys our state, and it must outlive the interpreter.
        self._model = bytes(bytearray(tm.to_bytes()))
        base = np.frombuffer(self._model, np.uint8)
        self._range = (base.ctypes.data, base.ctypes.data + base.size)
        self.lib.tflmt_state_forget(C.c_void_p(self._range[0]), C.c_void_p(self._range[1]))
        FF.forget(self.lib, *self._range)
        self.arena_size = arena_size or default_arena(tm)
        self.fast_forward = fast_forward
        self._allocations: tuple[dict, dict] | None = None  # memory_report's TFLM figures
        registerer = N.REGISTERER
        if fast_forward:
            self._plans = FF.install(self.lib, self._model, self._range[0], tm.forward_ops)
            registerer = FF.REGISTERER
        self.interp = _interpreter(self._model, self.arena_size, registerer)
        weakref.finalize(self, _forget, self.lib, self._range)
        g = tm.graph
        self._logits_q = io.qparams(tm.tensors[g.logitsTensor])
        self._state = self._locate_state()

    # ------------------------------------------------------------- state
    def _locate_state(self) -> dict[int, tuple]:
        """tensor index -> (entry, dtype, shape, update op) for every trainable, from the native state table."""
        state = {}
        for t in self.tm.graph.trainables or []:
            tensor = self.tm.tensors[t.tensor]
            key = self._range[0] + io.buffer_offset(self._model, tensor.buffer)
            entry = self.lib.tflmt_state_find(C.c_void_p(key), t.tensor)
            dtype, shape = io.numpy_dtype(tensor.type), io.shape(tensor)
            if not entry or entry.contents.bytes != int(np.prod(shape)) * dtype.itemsize:
                raise TflmError(f"trainable '{io.tensor_name(tensor)}' has no trainable copy in the interpreter "
                                "(its update op did not prepare)")
            # A copy of the entry, not a view of the table: forgetting another interpreter's
            # entries compacts the table under it. Its pointers are into this interpreter's arena.
            copy = N.Trainable()
            C.memmove(C.byref(copy), entry, C.sizeof(N.Trainable))
            state[t.tensor] = (copy, dtype, shape, t.updateOp)
        return state

    @property
    def params(self) -> dict[int, np.ndarray]:
        """The trained values, copied out of the arena."""
        return {ti: np.frombuffer(C.string_at(e.data, e.bytes), dt).reshape(shape).copy()
                for ti, (e, dt, shape, _) in self._state.items()}

    @property
    def steps(self) -> dict[int, int]:
        return {op: int(e.step[0]) for e, _, _, op in self._state.values()}

    def set_params(self, params: dict[int, np.ndarray]) -> None:
        for ti, v in params.items():
            e, dt, shape, _ = self._state[ti]
            a = np.ascontiguousarray(v, dt).reshape(shape)
            C.memmove(e.data, a.ctypes.data, e.bytes)

    def state_entries(self):
        """The live tflmt_trainable entries, in metadata order (what the C checkpoint API takes)."""
        order = [t.tensor for t in self.tm.graph.trainables or []]
        return (N.Trainable * len(order))(*[self._state[ti][0] for ti in order])

    def save_checkpoint(self, image: bytearray, slot_bytes: int) -> int:
        entries = self.state_entries()
        seq = C.c_uint32(0)
        st = self.lib.tflmt_checkpoint_save(C.byref(N.byte_storage(image, slot_bytes)), C.cast(entries, C.c_void_p),
                                            len(entries), C.byref(seq))
        _checkpoint_status(st, "save", slot_bytes, self.lib.tflmt_checkpoint_record_bytes(
            C.cast(entries, C.c_void_p), len(entries)))
        return int(seq.value)

    def load_checkpoint(self, image: bytearray, slot_bytes: int) -> int:
        entries = self.state_entries()
        seq = C.c_uint32(0)
        st = self.lib.tflmt_checkpoint_load(C.byref(N.byte_storage(image, slot_bytes)), C.cast(entries, C.c_void_p),
                                            len(entries), C.byref(seq))
        _checkpoint_status(st, "load", slot_bytes, 0)
        return int(seq.value)

    # ------------------------------------------------------------- API
    def _invoke(self, x: np.ndarray, label: int) -> None:
        self.interp.set_input(x, 0)
        self.interp.set_input(np.array([label], np.int32), 1)
        try:
            _call_tflm(self.interp.invoke, "TFLM step failed")
        except TflmError as e:
            if "divergence:" in str(e):
                raise DivergenceError(str(e)[str(e).index("divergence:"):]) from None
            raise

    def train_step(self, x: np.ndarray, label: int) -> float:
        self._invoke(x, label)
        return float(np.asarray(self.interp.get_output(1)).reshape(-1)[0])

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._invoke(x, -1)
        q = self._logits_q
        return dequantize(np.asarray(self.interp.get_output(0)), q.per_tensor_scale, q.per_tensor_zero_point).ravel()

    def gradients(self, x: np.ndarray, label: int):
        raise TflmError("gradients() is available on the reference backend only: the TFLM graph fuses each "
                        "weight gradient with its update, so the gradient never exists as a whole")

    def reset(self) -> None:
        self.interp.reset()

    def export(self) -> bytes:
        return E.bake(self.tm, self.params, self.steps)

    def model_bytes(self) -> bytes:
        """The exact bytes the interpreter runs (to check they are never written)."""
        return self._model

    def memory_report(self) -> dict:
        """TFLM's allocator's figures for the stock kernels: what a device's arena is sized by. The
        fast_forward kernels are a host speed-up and plan their own scratch, so with them on the
        training graph is measured again on the stock kernels."""
        if self._allocations is None:  # fixed for a model and an arena size: measured once
            stock = TflmBackend(self.tm, self.arena_size).interp if self.fast_forward else self.interp
            self._allocations = (_captured_allocations(stock),
                                 _captured_allocations(_inference_interpreter(self.tm, self.arena_size)))
        measured, inference = self._allocations
        return {
            "analytic": self.tm.memory_report(),
            "tflm": {
                "source": "tflm",
                "training_arena_bytes": measured["arena"],
                "training_persistent_bytes": measured.get("tail"),
                "training_nonpersistent_bytes": measured.get("head"),
                "inference_arena_bytes": inference["arena"],
                "inference_persistent_bytes": inference.get("tail"),
                "inference_nonpersistent_bytes": inference.get("head"),
                "trainable_bytes": sum(e.bytes for e, *_ in self._state.values()),
            },
        }


def _forget(lib, rng: tuple[int, int]) -> None:
    lib.tflmt_state_forget(C.c_void_p(rng[0]), C.c_void_p(rng[1]))
    FF.forget(lib, *rng)


def _checkpoint_status(st: int, what: str, slot_bytes: int, record: int) -> None:
    from ..checkpoint import NO_CHECKPOINT, CheckpointError

    if st == 0:
        return
    why = {1: NO_CHECKPOINT,
           2: f"a checkpoint of this model takes {record} bytes; the slots hold {slot_bytes}",
           3: "the storage failed (read or write error)", 4: "bad arguments"}.get(st, f"status {st}")
    raise CheckpointError(f"checkpoint {what}: {why}")


def _inference_interpreter(tm: TrainingModel, arena_size: int):
    """The stock inference model (forward ops only) in TFLM, for its arena figure."""
    return _interpreter(E.forward_only(tm), arena_size)
