/* Checkpoints of the trainable state that survive a power cut at any byte.
 *
 * The state (the trained parameter copies and their update counters, as the
 * state table of tflmt/state.h lists them) is written to one of two slots of
 * caller-provided storage, alternating. A record is
 *
 *   header: magic "TMCK", version, sequence, layout_crc, payload_bytes, count, crc   (7 x u32, little-endian)
 *   payload: per entry: tensor (i32), bytes (u32), step (u32), data (bytes, zero-padded to 4)
 *
 * `crc` is the CRC-32 (IEEE) of the header's first six words and the payload;
 * `layout_crc` the CRC-32 of every entry's (tensor, bytes), so a checkpoint is
 * never restored into another model. The payload is written before the header,
 * into the slot that does not hold the newest valid record: a write cut at any
 * byte leaves that newest record intact, and the torn slot fails its CRC.
 * Loading picks the valid record with the highest sequence number.
 *
 * No allocation, no global state; storage access goes through callbacks so the
 * same code drives flash, EEPROM, a file or a test's byte array.
 * tflm_train/checkpoint.py reads and writes the same bytes. */
#ifndef TFLMT_CHECKPOINT_H_
#define TFLMT_CHECKPOINT_H_

#include <stdint.h>

#include "tflmt/state.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFLMT_CKPT_MAGIC 0x4B434D54u /* "TMCK" */
#define TFLMT_CKPT_VERSION 1u
#define TFLMT_CKPT_HEADER_BYTES 28u

typedef struct {
  void* ctx;
  /* Both return 0 on success. A write may stop part way (power loss). */
  int32_t (*read)(void* ctx, uint32_t offset, void* dst, uint32_t bytes);
  int32_t (*write)(void* ctx, uint32_t offset, const void* src, uint32_t bytes);
  uint32_t slot_bytes; /* slot k occupies [k * slot_bytes, (k + 1) * slot_bytes) */
} tflmt_storage;

typedef enum {
  TFLMT_CKPT_OK = 0,
  TFLMT_CKPT_NONE = 1,      /* load: no valid checkpoint of this layout (state untouched) */
  TFLMT_CKPT_TOO_SMALL = 2, /* save: the record does not fit a slot */
  TFLMT_CKPT_IO = 3,        /* a storage callback failed */
  TFLMT_CKPT_BAD_ARG = 4
} tflmt_ckpt_status;

uint32_t tflmt_crc32(uint32_t crc, const void* data, uint32_t bytes);
/* Bytes one record of these entries takes (what slot_bytes must hold). */
uint32_t tflmt_checkpoint_record_bytes(const tflmt_trainable* entries, int32_t count);
/* Writes the entries as the next checkpoint; *sequence (optional) receives its number. */
tflmt_ckpt_status tflmt_checkpoint_save(const tflmt_storage* s, const tflmt_trainable* entries, int32_t count,
                                        uint32_t* sequence);
/* Restores the newest valid checkpoint whose layout matches the entries into their data and step.
 * Nothing is written to the entries unless a whole record has been read and verified first
 * (only a storage read failing during the copy that follows can interrupt it: TFLMT_CKPT_IO). */
tflmt_ckpt_status tflmt_checkpoint_load(const tflmt_storage* s, const tflmt_trainable* entries, int32_t count,
                                        uint32_t* sequence);

#ifdef __cplusplus
}
#endif
#endif /* TFLMT_CHECKPOINT_H_ */
