"""Two-slot checkpoints of the trainable state: the Python mirror of kernels/core/checkpoint.c.

Same bytes as the C API (include/tflmt/checkpoint.h): a record is a 28-byte header (magic "TMCK",
version, sequence, layout CRC, payload bytes, entry count, CRC-32 of both) and per trainable
tensor its index, byte count, update counter and data. `save` writes the payload before the
header, into the slot that does not hold the newest valid record, so a write cut at any byte
leaves the previous checkpoint loadable. `image` is the storage: 2 * slot_bytes bytes.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import TflmTrainError

MAGIC, VERSION, HEADER_BYTES, ENTRY_HEADER = 0x4B434D54, 1, 28, 12


class CheckpointError(TflmTrainError):
    """No valid checkpoint of this model's layout, or one that cannot fit its storage."""


NO_CHECKPOINT = "no valid checkpoint of this model in the storage (empty, torn or another model)"


@dataclass(frozen=True)
class Entry:
    tensor: int
    step: int
    data: bytes


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def layout_crc(layout: list[tuple[int, int]]) -> int:
    """CRC-32 of every (tensor, bytes): a checkpoint is never restored into another model."""
    return zlib.crc32(b"".join(struct.pack("<iI", t, n) for t, n in layout))


def record_bytes(layout: list[tuple[int, int]]) -> int:
    return HEADER_BYTES + sum(ENTRY_HEADER + _pad4(n) for _, n in layout)


def _payload(entries: list[Entry]) -> bytes:
    out = []
    for e in entries:
        out.append(struct.pack("<iII", e.tensor, len(e.data), e.step & 0xFFFFFFFF))
        out.append(bytes(e.data) + b"\0" * (_pad4(len(e.data)) - len(e.data)))
    return b"".join(out)


def _slot(image, slot_bytes: int, k: int, layout: list[tuple[int, int]]) -> tuple[int, list[Entry]] | None:
    """(sequence, entries) of slot k if it holds a valid record of this layout."""
    rec = bytes(image[k * slot_bytes:(k + 1) * slot_bytes])
    if len(rec) < HEADER_BYTES:
        return None
    magic, version, seq, lcrc, payload, count, crc = struct.unpack_from("<7I", rec)
    if (magic, version, lcrc, count) != (MAGIC, VERSION, layout_crc(layout), len(layout)) or \
            payload != record_bytes(layout) - HEADER_BYTES or payload > slot_bytes - HEADER_BYTES:
        return None
    if zlib.crc32(rec[HEADER_BYTES:HEADER_BYTES + payload], zlib.crc32(rec[:24])) != crc:
        return None
    entries, at = [], HEADER_BYTES
    for t, n in layout:
        tensor, nbytes, step = struct.unpack_from("<iII", rec, at)
        if (tensor, nbytes) != (t, n):
            return None
        entries.append(Entry(tensor, step, rec[at + ENTRY_HEADER:at + ENTRY_HEADER + n]))
        at += ENTRY_HEADER + _pad4(n)
    return seq, entries


def _newer(a: int, b: int) -> bool:
    """Sequence a is after b (32-bit wrap-around, as in C)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


def _newest(image, slot_bytes: int, layout) -> tuple[int, int, list[Entry]] | None:
    """(slot, sequence, entries) of the newest valid record; ties go to slot 0, as in C."""
    best = None
    for k in (0, 1):
        r = _slot(image, slot_bytes, k, layout)
        if r is not None and (best is None or _newer(r[0], best[1])):
            best = (k, *r)
    return best


def save(image: bytearray, slot_bytes: int, entries: list[Entry]) -> int:
    """Writes the entries as the next checkpoint into image (2 * slot_bytes); returns its sequence number."""
    layout = [(e.tensor, len(e.data)) for e in entries]
    size = record_bytes(layout)
    if len(image) < 2 * slot_bytes:
        raise CheckpointError(f"checkpoint storage holds {len(image)} bytes; two slots of {slot_bytes} need "
                              f"{2 * slot_bytes}")
    if size > slot_bytes:
        raise CheckpointError(f"a checkpoint of this model takes {size} bytes; the slots hold {slot_bytes}")
    last = _newest(image, slot_bytes, layout)
    slot, seq = (0, 1) if last is None else (1 - last[0], (last[1] + 1) & 0xFFFFFFFF)
    payload = _payload(entries)
    head = struct.pack("<6I", MAGIC, VERSION, seq, layout_crc(layout), len(payload), len(entries))
    crc = zlib.crc32(payload, zlib.crc32(head))
    base = slot * slot_bytes
    image[base + HEADER_BYTES:base + HEADER_BYTES + len(payload)] = payload  # payload first,
    image[base:base + HEADER_BYTES] = head + struct.pack("<I", crc)           # the header makes it valid
    return seq


def load(image, slot_bytes: int, layout: list[tuple[int, int]]) -> tuple[int, list[Entry]]:
    """(sequence, entries) of the newest valid checkpoint of this layout [(tensor, bytes), ...]."""
    found = _newest(image, slot_bytes, layout)
    if found is None:
        raise CheckpointError(NO_CHECKPOINT)
    return found[1], found[2]
