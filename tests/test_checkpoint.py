"""Checkpoints (include/tflmt/checkpoint.h and tflm_train/checkpoint.py): the C API on the live TFLM
state and the Python mirror write the same bytes; a write cut at every byte offset leaves the previous
checkpoint loadable; corrupt or foreign checkpoints are refused without touching the state."""
import ctypes as C

import numpy as np
import pytest

import tflm_train as tt
from tflm_train import checkpoint as CK
from tflm_train.runtime import native as N

from conftest import int8_model


def _train(trainer, n, seed):
    rng = np.random.default_rng(seed)
    shape = trainer.model.input_details()[0]
    for i in range(n):
        trainer.train_step(rng.uniform(0, 1, shape[1:]).astype(np.float32), i % trainer.model.num_classes)


def _state(trainer):
    b = trainer._backend
    return {k: v.copy() for k, v in b.params.items()}, dict(b.steps)


def _same(a, b):
    return a[1] == b[1] and a[0].keys() == b[0].keys() and all(np.array_equal(a[0][k], b[0][k]) for k in a[0])


@pytest.fixture(scope="module")
def model():
    return tt.convert_tflite(int8_model("plain_cnn")[0], scheme="last:2", learning_rate=0.05)


def test_c_and_python_write_the_same_bytes_and_read_each_other(model):
    dev, ref = tt.Trainer(model, backend="tflm"), tt.Trainer(model)
    _train(dev, 5, 0)
    _train(ref, 5, 0)
    slot = dev.checkpoint_bytes()
    a, b = bytearray(2 * slot), bytearray(2 * slot)
    assert dev.save_checkpoint(a, slot) == ref.save_checkpoint(b, slot) == 1
    assert a == b
    assert dev.save_checkpoint(a, slot) == ref.save_checkpoint(b, slot) == 2  # the other slot
    assert a == b
    fresh_dev, fresh_ref = tt.Trainer(model, backend="tflm"), tt.Trainer(model)
    assert fresh_dev.load_checkpoint(b, slot) == fresh_ref.load_checkpoint(a, slot) == 2
    assert _same(_state(fresh_dev), _state(dev)) and _same(_state(fresh_ref), _state(dev))
    # The restored device keeps training exactly like the original.
    _train(dev, 3, 7)
    _train(fresh_dev, 3, 7)
    assert _same(_state(fresh_dev), _state(dev))


def test_a_power_cut_at_any_byte_keeps_the_previous_checkpoint(model):
    dev = tt.Trainer(model, backend="tflm")
    slot = dev.checkpoint_bytes()
    image = bytearray(2 * slot)
    _train(dev, 3, 1)
    dev.save_checkpoint(image, slot)          # A, slot 0
    _train(dev, 3, 2)
    dev.save_checkpoint(image, slot)          # B, slot 1
    state_b = _state(dev)
    _train(dev, 3, 3)
    state_c = _state(dev)                     # C goes to slot 0, over A
    entries = dev._backend.state_entries()
    restore_dev, restore_ref = tt.Trainer(model, backend="tflm"), tt.Trainer(model)
    lib = N.library()
    for cut in range(slot + 1):
        torn = bytearray(image)
        st = lib.tflmt_checkpoint_save(C.byref(N.byte_storage(torn, slot, write_limit=cut)),
                                       C.cast(entries, C.c_void_p), len(entries), None)
        assert (st == 0) == (cut == slot)
        want = state_c if cut == slot else state_b
        for t in (restore_dev, restore_ref):
            t.load_checkpoint(torn, slot)
            assert _same(_state(t), want), f"cut after {cut} bytes: wrong state restored"


def test_corrupt_and_foreign_checkpoints_are_refused(model):
    dev = tt.Trainer(model, backend="tflm")
    slot = dev.checkpoint_bytes()
    image = bytearray(2 * slot)
    _train(dev, 2, 4)
    dev.save_checkpoint(image, slot)
    older = _state(dev)
    _train(dev, 2, 5)
    dev.save_checkpoint(image, slot)
    rng = np.random.default_rng(0)
    for _ in range(50):  # one flipped bit anywhere in the newest record: the older one is restored
        bad = bytearray(image)
        bit = int(rng.integers(0, slot * 8))
        bad[slot + bit // 8] ^= 1 << (bit % 8)
        t = tt.Trainer(model, backend="tflm")
        t.load_checkpoint(bad, slot)
        assert _same(_state(t), older)
    bad = bytearray(image)
    bad[5] ^= 0x10
    bad[slot + 40] ^= 0x01
    t = tt.Trainer(model, backend="tflm")
    untouched = _state(t)
    with pytest.raises(CK.CheckpointError, match="no valid checkpoint"):
        t.load_checkpoint(bad, slot)
    assert _same(_state(t), untouched)
    other = tt.Trainer(tt.convert_tflite(int8_model("plain_cnn")[0], scheme="classifier"), backend="tflm")
    before = _state(other)
    for backend in ("tflm", "reference"):
        o = other if backend == "tflm" else tt.Trainer(other.model)
        with pytest.raises(CK.CheckpointError, match="another model"):
            o.load_checkpoint(image, slot)
    assert _same(_state(other), before)
    with pytest.raises(CK.CheckpointError, match="takes"):
        dev.save_checkpoint(bytearray(2 * slot), slot - 4)
    with pytest.raises(tt.InputError, match="two slots"):
        dev.save_checkpoint(bytearray(slot), slot)


def test_sequence_numbers_wrap_around():
    entries = [CK.Entry(3, 9, b"\x01\x02\x03"), CK.Entry(5, 9, bytes(8))]
    layout = [(e.tensor, len(e.data)) for e in entries]
    slot = CK.record_bytes(layout)
    image = bytearray(2 * slot)
    CK.save(image, slot, entries)
    # Pretend slot 0 holds sequence 0xFFFFFFFF: the next save is 0 and wins.
    import struct
    import zlib
    rec = bytearray(image[:slot])
    rec[8:12] = struct.pack("<I", 0xFFFFFFFF)
    rec[24:28] = struct.pack("<I", zlib.crc32(bytes(rec[28:]), zlib.crc32(bytes(rec[:24]))))
    image[:slot] = rec
    assert CK.load(image, slot, layout)[0] == 0xFFFFFFFF
    assert CK.save(image, slot, [CK.Entry(3, 10, b"\x04\x05\x06"), entries[1]]) == 0
    seq, got = CK.load(image, slot, layout)
    assert seq == 0 and got[0].data == b"\x04\x05\x06" and got[0].step == 10
    lib = N.library()
    assert lib.tflmt_crc32(0, b"123456789", 9) == zlib.crc32(b"123456789") == 0xCBF43926
