/* Fixed-point helpers of the forward kernels (not part of the public API). */
#ifndef TFLMT_FORWARD_INTERNAL_H_
#define TFLMT_FORWARD_INTERNAL_H_

#include <stdint.h>

#include "tflmt/forward.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#include <string.h>
/* A 4-byte load from any alignment (one LDR on ARMv7E-M). */
static inline uint32_t tflmt_load32(const void* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
/* Rotate right by 8: the odd bytes of a word into the SXTB16 lanes. */
static inline uint32_t tflmt_ror8(uint32_t v) { return (v >> 8) | (v << 24); }
#endif

/* SaturatingRoundingDoublingHighMul: gemmlowp rounds (a * b) / 2^31 to nearest, ties away
 * from zero, via a +-2^30 nudge and a truncating division. For both signs that equals
 * floor((a * b + 2^30) / 2^31), one 64-bit multiply-add and a shift; the one overflow
 * (INT32_MIN squared) saturates. */
static inline int32_t tflmt_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^e rounded half away from zero, as
 * floor((x + 2^(e-1) - [x < 0]) / 2^e) (64-bit, so x near INT32_MAX cannot overflow). */
static inline int32_t tflmt_rdbp(int32_t x, int32_t e) {
  if (e <= 0) return x;
  return (int32_t)(((int64_t)x + ((int64_t)1 << (e - 1)) - (x < 0 ? 1 : 0)) >> e);
}

static inline int32_t tflmt_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return tflmt_rdbp(tflmt_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int8_t tflmt_requant_one(int32_t acc, const tflmt_requant* q, int32_t channel) {
  const int32_t k = q->n_multipliers == 1 ? 0 : channel;
  int32_t v = tflmt_mbqm(acc, q->multiplier[k], q->shift[k]) + q->out_zero_point;
  if (v < q->act_min) v = q->act_min;
  if (v > q->act_max) v = q->act_max;
  return (int8_t)v;
}

/* One output channel's requantization, unpacked once so that a kernel can keep it in registers
 * across pixels. The rounding divide uses gemmlowp's own 32-bit mask/threshold form. */
typedef struct {
  int32_t multiplier, left, right, mask, zero_point, act_min, act_max;
} tflmt_channel_requant;

static inline tflmt_channel_requant tflmt_channel_requant_of(const tflmt_requant* q, int32_t channel) {
  const int32_t k = q->n_multipliers == 1 ? 0 : channel;
  const int32_t shift = q->shift[k];
  tflmt_channel_requant r;
  r.multiplier = q->multiplier[k];
  r.left = shift > 0 ? shift : 0;
  r.right = shift > 0 ? 0 : -shift;
  r.mask = (int32_t)(((uint32_t)1 << r.right) - 1u);
  r.zero_point = q->out_zero_point;
  r.act_min = q->act_min;
  r.act_max = q->act_max;
  return r;
}

static inline int8_t tflmt_requant_channel(int32_t acc, const tflmt_channel_requant* r) {
  int32_t v = tflmt_srdhm((int32_t)((uint32_t)acc << r->left), r->multiplier);
  const int32_t remainder = v & r->mask, threshold = (r->mask >> 1) + (v < 0 ? 1 : 0);
  v = (v >> r->right) + (remainder > threshold ? 1 : 0) + r->zero_point;
  if (v < r->act_min) v = r->act_min;
  if (v > r->act_max) v = r->act_max;
  return (int8_t)v;
}

/* sum over i < n of (x[i] + offset) * w[i]. */
static inline int32_t tflmt_dot_s8(const int8_t* x, const int8_t* w, int32_t n, int32_t offset) {
  int32_t acc = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    acc += (x[i] + offset) * w[i];
    acc += (x[i + 1] + offset) * w[i + 1];
    acc += (x[i + 2] + offset) * w[i + 2];
    acc += (x[i + 3] + offset) * w[i + 3];
  }
  for (; i < n; ++i) acc += (x[i] + offset) * w[i];
  return acc;
}

#endif
