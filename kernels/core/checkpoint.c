/* Two-slot checkpoints of the trainable state (include/tflmt/checkpoint.h). */
#include "tflmt/checkpoint.h"

#include <stddef.h>

#define CHUNK 64u
#define ENTRY_HEADER 12u

static const uint32_t kCrcNibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t tflmt_crc32(uint32_t crc, const void* data, uint32_t bytes) {
  const uint8_t* p = (const uint8_t*)data;
  crc = ~crc;
  for (uint32_t i = 0; i < bytes; ++i) {
    crc = kCrcNibble[(crc ^ p[i]) & 0x0Fu] ^ (crc >> 4);
    crc = kCrcNibble[(crc ^ ((uint32_t)p[i] >> 4)) & 0x0Fu] ^ (crc >> 4);
  }
  return ~crc;
}

static void put_u32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

static uint32_t layout_crc(const tflmt_trainable* e, int32_t count) {
  uint32_t crc = 0;
  uint8_t b[8];
  for (int32_t i = 0; i < count; ++i) {
    put_u32(b, (uint32_t)e[i].tensor);
    put_u32(b + 4, e[i].bytes);
    crc = tflmt_crc32(crc, b, 8);
  }
  return crc;
}

uint32_t tflmt_checkpoint_record_bytes(const tflmt_trainable* entries, int32_t count) {
  uint32_t n = TFLMT_CKPT_HEADER_BYTES;
  for (int32_t i = 0; i < count; ++i) n += ENTRY_HEADER + pad4(entries[i].bytes);
  return n;
}

static int newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* Checks slot k fully against the entries' layout; on success *sequence is its number. */
static int slot_valid(const tflmt_storage* s, uint32_t k, const tflmt_trainable* e, int32_t count,
                      uint32_t layout, uint32_t* sequence) {
  uint8_t h[TFLMT_CKPT_HEADER_BYTES];
  uint8_t buf[CHUNK];
  const uint32_t base = k * s->slot_bytes;
  if (s->slot_bytes < TFLMT_CKPT_HEADER_BYTES || s->read(s->ctx, base, h, sizeof(h)) != 0) return 0;
  const uint32_t payload = get_u32(h + 16);
  if (get_u32(h) != TFLMT_CKPT_MAGIC || get_u32(h + 4) != TFLMT_CKPT_VERSION || get_u32(h + 12) != layout ||
      get_u32(h + 20) != (uint32_t)count || payload > s->slot_bytes - TFLMT_CKPT_HEADER_BYTES ||
      payload != tflmt_checkpoint_record_bytes(e, count) - TFLMT_CKPT_HEADER_BYTES) {
    return 0;
  }
  uint32_t crc = tflmt_crc32(0, h, 24);
  uint32_t at = base + TFLMT_CKPT_HEADER_BYTES;
  for (int32_t i = 0; i < count; ++i) {
    if (s->read(s->ctx, at, buf, ENTRY_HEADER) != 0) return 0;
    if ((int32_t)get_u32(buf) != e[i].tensor || get_u32(buf + 4) != e[i].bytes) return 0;
    crc = tflmt_crc32(crc, buf, ENTRY_HEADER);
    at += ENTRY_HEADER;
    for (uint32_t left = pad4(e[i].bytes); left > 0;) {
      const uint32_t n = left < CHUNK ? left : CHUNK;
      if (s->read(s->ctx, at, buf, n) != 0) return 0;
      crc = tflmt_crc32(crc, buf, n);
      at += n;
      left -= n;
    }
  }
  if (crc != get_u32(h + 24)) return 0;
  *sequence = get_u32(h + 8);
  return 1;
}

/* The slot (0/1) of the newest valid record, or -1. */
static int32_t newest(const tflmt_storage* s, const tflmt_trainable* e, int32_t count, uint32_t* sequence) {
  const uint32_t layout = layout_crc(e, count);
  uint32_t q[2];
  const int v0 = slot_valid(s, 0, e, count, layout, &q[0]);
  const int v1 = slot_valid(s, 1, e, count, layout, &q[1]);
  if (!v0 && !v1) return -1;
  const int32_t k = (v0 && (!v1 || !newer(q[1], q[0]))) ? 0 : 1;
  *sequence = q[k];
  return k;
}

static int args_ok(const tflmt_storage* s, const tflmt_trainable* e, int32_t count) {
  if (s == NULL || s->read == NULL || count < 0 || (count > 0 && e == NULL)) return 0;
  for (int32_t i = 0; i < count; ++i) {
    if (e[i].bytes > 0 && e[i].data == NULL) return 0;
  }
  return 1;
}

tflmt_ckpt_status tflmt_checkpoint_save(const tflmt_storage* s, const tflmt_trainable* entries, int32_t count,
                                        uint32_t* sequence) {
  if (!args_ok(s, entries, count) || s->write == NULL) return TFLMT_CKPT_BAD_ARG;
  const uint32_t record = tflmt_checkpoint_record_bytes(entries, count);
  if (record > s->slot_bytes) return TFLMT_CKPT_TOO_SMALL;
  uint32_t last = 0;
  const int32_t k = newest(s, entries, count, &last);
  const uint32_t slot = k < 0 ? 0u : (uint32_t)(1 - k);
  const uint32_t seq = k < 0 ? 1u : last + 1u;
  uint8_t h[TFLMT_CKPT_HEADER_BYTES];
  put_u32(h, TFLMT_CKPT_MAGIC);
  put_u32(h + 4, TFLMT_CKPT_VERSION);
  put_u32(h + 8, seq);
  put_u32(h + 12, layout_crc(entries, count));
  put_u32(h + 16, record - TFLMT_CKPT_HEADER_BYTES);
  put_u32(h + 20, (uint32_t)count);
  uint32_t crc = tflmt_crc32(0, h, 24);
  /* Payload first: the header that makes the slot valid is the last thing written. */
  const uint8_t zeros[4] = {0, 0, 0, 0};
  uint32_t at = slot * s->slot_bytes + TFLMT_CKPT_HEADER_BYTES;
  for (int32_t i = 0; i < count; ++i) {
    uint8_t eh[ENTRY_HEADER];
    put_u32(eh, (uint32_t)entries[i].tensor);
    put_u32(eh + 4, entries[i].bytes);
    put_u32(eh + 8, entries[i].step ? *entries[i].step : 0u);
    const uint32_t pad = pad4(entries[i].bytes) - entries[i].bytes;
    crc = tflmt_crc32(crc, eh, ENTRY_HEADER);
    crc = tflmt_crc32(crc, entries[i].data, entries[i].bytes);
    crc = tflmt_crc32(crc, zeros, pad);
    if (s->write(s->ctx, at, eh, ENTRY_HEADER) != 0) return TFLMT_CKPT_IO;
    at += ENTRY_HEADER;
    if (entries[i].bytes > 0 && s->write(s->ctx, at, entries[i].data, entries[i].bytes) != 0) return TFLMT_CKPT_IO;
    at += entries[i].bytes;
    if (pad > 0 && s->write(s->ctx, at, zeros, pad) != 0) return TFLMT_CKPT_IO;
    at += pad;
  }
  put_u32(h + 24, crc);
  if (s->write(s->ctx, slot * s->slot_bytes, h, sizeof(h)) != 0) return TFLMT_CKPT_IO;
  if (sequence) *sequence = seq;
  return TFLMT_CKPT_OK;
}

tflmt_ckpt_status tflmt_checkpoint_load(const tflmt_storage* s, const tflmt_trainable* entries, int32_t count,
                                        uint32_t* sequence) {
  if (!args_ok(s, entries, count)) return TFLMT_CKPT_BAD_ARG;
  uint32_t seq = 0;
  const int32_t k = newest(s, entries, count, &seq);
  if (k < 0) return TFLMT_CKPT_NONE;
  /* Verified: copy it in. */
  uint32_t at = (uint32_t)k * s->slot_bytes + TFLMT_CKPT_HEADER_BYTES;
  for (int32_t i = 0; i < count; ++i) {
    uint8_t eh[ENTRY_HEADER];
    if (s->read(s->ctx, at, eh, ENTRY_HEADER) != 0) return TFLMT_CKPT_IO;
    at += ENTRY_HEADER;
    if (entries[i].bytes > 0 && s->read(s->ctx, at, entries[i].data, entries[i].bytes) != 0) return TFLMT_CKPT_IO;
    if (entries[i].step) *entries[i].step = get_u32(eh + 8);
    at += pad4(entries[i].bytes);
  }
  if (sequence) *sequence = seq;
  return TFLMT_CKPT_OK;
}
