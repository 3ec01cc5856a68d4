"""Trainer: train_step / predict / gradients / export over a backend."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..model import TrainingModel, load
from .reference import ReferenceBackend

BACKENDS = ("reference", "tflm")


class Trainer:
    """Runs a TrainingModel.

    backend="reference" executes the numpy spec of every op; backend="tflm" runs
    the graph in TFLM's MicroInterpreter (the pinned tflite-micro wheel) with
    tflm-train's C kernels. `arena_size` (tflm only) is the tensor arena in bytes;
    by default it is sized from the analytic memory model. `fast_forward` (tflm only)
    runs CONV_2D and DEPTHWISE_CONV_2D on tflm-train's optimised int8 kernels instead
    of the wheel's reference kernels: same results bit for bit, a faster step.
    """

    def __init__(self, tm: TrainingModel | bytes | str, backend: str = "reference", arena_size: int | None = None,
                 fast_forward: bool = False):
        if not isinstance(tm, TrainingModel):
            tm = load(tm)
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        if arena_size is not None and backend != "tflm":
            raise InputError("arena_size applies to the tflm backend only")
        if fast_forward and backend != "tflm":
            raise InputError("fast_forward applies to the tflm backend only")
        self.model = tm
        self.backend_name = backend
        if backend == "tflm":
            from .tflm import TflmBackend
            self._backend = TflmBackend(tm, arena_size, fast_forward)
        else:
            self._backend = ReferenceBackend(tm)

    # ------------------------------------------------------------- inputs
    def _input(self, x) -> np.ndarray:
        shape, dtype, q = self.model.input_details()
        a = np.asarray(x)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise InputError(f"input must be numeric, got dtype {a.dtype}")
        if a.shape != tuple(shape):
            if a.size == int(np.prod(shape)) and a.shape == tuple(shape[1:]):
                a = a.reshape(shape)
            else:
                raise InputError(f"input has shape {a.shape}, the model takes {tuple(shape)} (or {tuple(shape[1:])})")
        if not np.all(np.isfinite(a.astype(np.float64))):
            raise InputError("input contains NaN or infinity")
        if dtype == np.int8 and np.issubdtype(a.dtype, np.floating):
            from ..reference.forward import quantize
            return quantize(a.astype(np.float32), q.per_tensor_scale, q.per_tensor_zero_point)
        if dtype == np.int8 and a.dtype != np.int8:
            raise InputError(f"input dtype {a.dtype}: give float values (quantized for you) or int8")
        return a.astype(dtype)

    def _label(self, y) -> int:
        try:
            v = int(np.asarray(y).reshape(()))
        except (TypeError, ValueError):
            raise InputError(f"label must be one integer class, got {y!r}") from None
        if np.asarray(y).dtype.kind not in "iu" and float(np.asarray(y)) != v:
            raise InputError(f"label must be an integer, got {y!r}")
        if not 0 <= v < self.model.num_classes:
            raise InputError(f"label {v} out of range: the model has {self.model.num_classes} classes (0..."
                             f"{self.model.num_classes - 1})")
        return v

    # ------------------------------------------------------------- API
    def train_step(self, x, y) -> float:
        """One SGD step on one sample; returns the loss before the update."""
        return float(self._backend.train_step(self._input(x), self._label(y)))

    def predict(self, x) -> np.ndarray:
        """Float logits (dequantized) for one sample. Runs no training op."""
        return self._backend.predict(self._input(x))

    def gradients(self, x, y) -> dict[str, np.ndarray]:
        """Gradient of the loss w.r.t. each trainable real-valued parameter; no update."""
        return self._backend.gradients(self._input(x), self._label(y))

    def evaluate(self, xs, ys) -> float:
        """Top-1 accuracy over samples."""
        hits = sum(int(np.argmax(self.predict(x)) == int(y)) for x, y in zip(xs, ys))
        return hits / max(len(ys), 1)

    def export(self) -> bytes:
        """A .tflite training model with the trained values baked in."""
        return self._backend.export()

    def save_checkpoint(self, image: bytearray, slot_bytes: int) -> int:
        """Writes the trained state as the next checkpoint into `image`, a storage of two slots of
        slot_bytes (e.g. a flash region's bytes); a write cut at any byte leaves the previous one
        loadable. Same format as the C API (include/tflmt/checkpoint.h). Returns its sequence number."""
        self._check_storage(image, slot_bytes)
        return self._backend.save_checkpoint(image, slot_bytes)

    def load_checkpoint(self, image, slot_bytes: int) -> int:
        """Restores the newest valid checkpoint of this model from `image`; raises CheckpointError (and
        changes nothing) if there is none. Returns its sequence number."""
        self._check_storage(image, slot_bytes)
        return self._backend.load_checkpoint(bytearray(image) if isinstance(image, bytes) else image, slot_bytes)

    def checkpoint_bytes(self) -> int:
        """Bytes one checkpoint of this model takes: the smallest slot_bytes."""
        from ..checkpoint import record_bytes
        return record_bytes([(t.tensor, int(t.stateBytes)) for t in self.model.graph.trainables or []])

    @staticmethod
    def _check_storage(image, slot_bytes: int) -> None:
        if not isinstance(image, (bytearray, bytes)):
            raise InputError(f"checkpoint storage must be a bytearray, got {type(image).__name__}")
        if not isinstance(slot_bytes, int) or slot_bytes <= 0 or len(image) < 2 * slot_bytes:
            raise InputError(f"checkpoint storage of {len(image)} bytes cannot hold two slots of {slot_bytes!r}")

    def reset(self) -> None:
        """Resets the interpreter (tflm); trained state is kept, as on a device."""
        if hasattr(self._backend, "reset"):
            self._backend.reset()

    def memory_report(self) -> dict:
        """Analytic numbers; on the tflm backend {"analytic": ..., "tflm": TFLM's recording allocator}."""
        if hasattr(self._backend, "memory_report"):
            return self._backend.memory_report()
        return self.model.memory_report()
