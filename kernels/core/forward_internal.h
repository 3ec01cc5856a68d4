/* Fixed-point helpers of the forward kernels (not part of the public API). */
#ifndef TFLMT_FORWARD_INTERNAL_H_
#define TFLMT_FORWARD_INTERNAL_H_

#include <stdint.h>

#include "internal.h"
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
/* Bytes 1 and 3 sign-extended into two int16 lanes (plus `add`'s lanes). The rotation is
 * the instruction's own operand; gcc does not fold a separate ROR into SXTB16, and the
 * extra instruction is a quarter of a 4-channel inner loop. */
#if defined(__GNUC__)
static inline int32_t tflmt_sxtb16_odd(uint32_t v) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
static inline int32_t tflmt_sxtab16_odd(int32_t add, uint32_t v) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(add), "r"(v));
  return r;
}
#else
static inline int32_t tflmt_sxtb16_odd(uint32_t v) { return __sxtb16(tflmt_ror8(v)); }
static inline int32_t tflmt_sxtab16_odd(int32_t add, uint32_t v) { return __sxtab16(add, tflmt_ror8(v)); }
#endif

/* Four channels' sums a[0..3] += x * w, lane by lane: e / w02 hold channels 0 and 2, o / w13
 * channels 1 and 3 (the SXTB16 split of a 4-byte word). */
static inline void tflmt_smla4(int32_t e, int32_t o, int32_t w02, int32_t w13, int32_t a[4]) {
  a[0] = __smlabb(e, w02, a[0]);
  a[2] = __smlatt(e, w02, a[2]);
  a[1] = __smlabb(o, w13, a[1]);
  a[3] = __smlatt(o, w13, a[3]);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define TFLMT_SMLAD_ASM 1
/* One group of tflmt_smlad_2x2_ext in assembly: the column words into r8-r11 (post-incrementing
 * we), pixel 1's 4 bytes at xp + xs, then pixel 0's (post-incrementing xp), each split by
 * SXTB16 into t (lanes 0/2) and x (lanes 1/3). */
#define TFLMT_SMLAD_2X2_GROUP                \
  "ldm %[we]!, {r8, r9, r10, r11}\n\t"       \
  "ldr %[x], [%[xp], %[xs]]\n\t"             \
  "sxtb16 %[t], %[x]\n\t"                    \
  "sxtb16 %[x], %[x], ror #8\n\t"            \
  "smlad %[a10], %[t], r8, %[a10]\n\t"       \
  "smlad %[a10], %[x], r9, %[a10]\n\t"       \
  "smlad %[a11], %[t], r10, %[a11]\n\t"      \
  "smlad %[a11], %[x], r11, %[a11]\n\t"      \
  "ldr %[x], [%[xp]], #4\n\t"                \
  "sxtb16 %[t], %[x]\n\t"                    \
  "sxtb16 %[x], %[x], ror #8\n\t"            \
  "smlad %[a00], %[t], r8, %[a00]\n\t"       \
  "smlad %[a00], %[x], r9, %[a00]\n\t"       \
  "smlad %[a01], %[t], r10, %[a01]\n\t"      \
  "smlad %[a01], %[x], r11, %[a01]\n\t"
#endif

/* a[2 * r + c] += sum over n >= 1 groups of 4 int8 at xp (r = 0) and xp + xs (r = 1) times
 * column c's pre-extended words: we holds, per group, column 0's pair for the SXTB16 lanes 0/2
 * of the 4 bytes, its pair for lanes 1/3, then column 1's two (word aligned). The 1x1 forward
 * (pixels x output channels) and the int8 1x1 input gradient (pixels x input channels) both
 * reduce to this. In C, gcc runs out of registers (4 sums, 4 weight words, 2 input words,
 * 4 pointers and counts) and spills every pass; the loop below keeps all of them: one LDM,
 * 2 loads, 4 extensions, 8 SMLADs per 16 MACs. It takes all 14 allocatable registers, which
 * gcc grants when optimising; an unoptimised build (r7 the frame pointer) and clang (which gives
 * up on the allocation) take the C twin. */
static TFLMT_ALWAYS_INLINE void tflmt_smlad_2x2_ext(const int8_t* xp, int32_t xs, const int32_t* we, int32_t n,
                                              int32_t a[4]) {
  int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
#if TFLMT_SMLAD_ASM
  int32_t x, t;
  __asm__ volatile(
      "1:\n\t" TFLMT_SMLAD_2X2_GROUP
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [xp] "+r"(xp), [we] "+r"(we),
        [n] "+r"(n), [x] "=&r"(x), [t] "=&r"(t)
      : [xs] "r"(xs)
      : "r8", "r9", "r10", "r11", "cc", "memory");
#else
  for (; n > 0; --n, xp += 4, we += 4) {
    const uint32_t xa = tflmt_load32(xp), xb = tflmt_load32(xp + xs);
    const int32_t xa02 = __sxtb16(xa), xa13 = tflmt_sxtb16_odd(xa);
    const int32_t xb02 = __sxtb16(xb), xb13 = tflmt_sxtb16_odd(xb);
    a00 = __smlad(xa13, we[1], __smlad(xa02, we[0], a00));
    a01 = __smlad(xa13, we[3], __smlad(xa02, we[2], a01));
    a10 = __smlad(xb13, we[1], __smlad(xb02, we[0], a10));
    a11 = __smlad(xb13, we[3], __smlad(xb02, we[2], a11));
  }
#endif
  a[0] = a00, a[1] = a01, a[2] = a10, a[3] = a11;
}

/* tflmt_smlad_2x2_ext for `pairs` >= 1 consecutive pixel pairs of rows of exactly n groups
 * (xs == 4 n), column c's sums starting from init_c: pair r's rows are x + 2 r xs and
 * x + (2 r + 1) xs; its sums go to sums[4 r .. 4 r + 3], column 0's two pixels first (a[0], a[2],
 * a[1], a[3] of the 2x2 order). One call per channel pair and chunk instead of one per pixel pair:
 * the pass's loop state lives in a 24-byte stack frame of the asm's own (the 14 registers are the
 * inner loop's), so nothing is reloaded or shuffled between pairs. */
static inline void tflmt_smlad_2x2_rows(const int8_t* x, int32_t xs, const int32_t* we, int32_t n, int32_t pairs,
                                        int32_t init0, int32_t init1, int32_t* sums) {
#if TFLMT_SMLAD_ASM
  const struct {
    const int32_t* we;
    int32_t n;
    int32_t* sums;
    int32_t pairs;
    int32_t init0, init1;
  } ctx = {we, n, sums, pairs, init0, init1};
  int32_t a00, a01, a10, a11, x_, t;
  const int32_t* w_;
  uintptr_t cn = (uintptr_t)&ctx; /* then the group count */
  const int8_t* xp = x;
  __asm__ volatile(
      "sub sp, sp, #24\n\t"
      "ldrd %[t], %[x], [%[n], #16]\n\t"
      "strd %[t], %[x], [sp, #16]\n\t"
      "ldr %[t], [%[n], #12]\n\t"
      "str %[t], [sp, #12]\n\t"
      "ldr %[t], [%[n], #8]\n\t"
      "str %[t], [sp, #8]\n\t"
      "ldrd %[t], %[x], [%[n]]\n\t"
      "strd %[t], %[x], [sp]\n\t"
      "2:\n\t"
      "ldrd %[we], %[n], [sp]\n\t"
      "ldrd %[a00], %[a01], [sp, #16]\n\t"
      "mov %[a10], %[a00]\n\t"
      "mov %[a11], %[a01]\n\t"
      /* two groups per pass; an odd count runs one first */
      "tst %[n], #1\n\t"
      "beq 1f\n\t" TFLMT_SMLAD_2X2_GROUP
      "subs %[n], %[n], #1\n\t"
      "beq 3f\n\t"
      "1:\n\t" TFLMT_SMLAD_2X2_GROUP TFLMT_SMLAD_2X2_GROUP
      "subs %[n], %[n], #2\n\t"
      "bne 1b\n\t"
      "3:\n\t"
      "add %[xp], %[xp], %[xs]\n\t"
      "ldr %[t], [sp, #8]\n\t"
      "str %[a00], [%[t]], #4\n\t"
      "str %[a10], [%[t]], #4\n\t"
      "str %[a01], [%[t]], #4\n\t"
      "str %[a11], [%[t]], #4\n\t"
      "str %[t], [sp, #8]\n\t"
      "ldr %[t], [sp, #12]\n\t"
      "subs %[t], %[t], #1\n\t"
      "str %[t], [sp, #12]\n\t"
      "bne 2b\n\t"
      "add sp, sp, #24"
      : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [x] "=&r"(x_), [t] "=&r"(t),
        [we] "=&r"(w_), [xp] "+r"(xp), [n] "+r"(cn)
      : [xs] "r"(xs)
      : "r8", "r9", "r10", "r11", "cc", "memory");
#else
  for (int32_t r = 0; r < pairs; ++r, x += 2 * xs, sums += 4) {
    int32_t a[4] = {init0, init1, init0, init1};
    tflmt_smlad_2x2_ext(x, xs, we, n, a);
    sums[0] = a[0], sums[1] = a[2], sums[2] = a[1], sums[3] = a[3];
  }
#endif
}
#endif

/* SaturatingRoundingDoublingHighMul: gemmlowp rounds (a * b) / 2^31 to nearest, ties away
 * from zero, via a +-2^30 nudge and a truncating division. For both signs that equals
 * floor((a * b + 2^30) / 2^31), one 64-bit multiply-add and a shift; the one overflow
 * (INT32_MIN squared) saturates. */
static inline int32_t tflmt_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^e rounded half away from zero, in gemmlowp's own mask/threshold
 * form; mask = 2^e - 1 (a kernel that reuses e can pass it precomputed). */
static inline int32_t tflmt_rdbp_mask(int32_t x, int32_t e, int32_t mask) {
  const int32_t remainder = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tflmt_rdbp(int32_t x, int32_t e) {
  return e <= 0 ? x : tflmt_rdbp_mask(x, e, (int32_t)(((uint32_t)1 << e) - 1u));
}

/* One output channel's requantization (MultiplyByQuantizedMultiplier, zero point, clamp),
 * unpacked once so that a kernel can keep it in registers across pixels.
 *
 * With a positive multiplier b and a right shift e >= 1 (every conv and FC multiplier TFLM
 * computes for a scale below 0.5), the two roundings fold into one 64-bit multiply-add:
 * rdbp(srdhm(a, b), e) = floor((a*b + 2^30 + 2^(30+e) - [a<0]*2^31) / 2^(31+e)).
 * Why: floor((floor(P / 2^31) + c) / 2^e) = floor((P + c*2^31) / 2^(31+e)) for integer c,
 * gemmlowp's tie rule is c = 2^(e-1) - [x<0], and [x<0] may be read as [a<0] because the
 * only a for which they differ give x = 0, which rounds to 0 either way. The quotient is
 * the high word shifted by e-1. Other multipliers take gemmlowp's two steps. */
typedef struct {
  int32_t multiplier, left, right, zero_point, act_min, act_max;
  int32_t folded;      /* 1 when the one-step form applies */
  int32_t fast;        /* folded, and the clamp is just int8's range (tflmt_requant_fast) */
  int32_t narrow;      /* fast, and right <= 22: tflmt_requant_narrow applies to |acc| < 2^30 */
  int32_t round;       /* 2^(e-1) + zero_point * 2^e (tflmt_requant_narrow) */
  int64_t nudge;       /* 2^30 + 2^(30+e) (folded form) */
} tflmt_channel_requant;

static inline tflmt_channel_requant tflmt_unpack_multiplier(int32_t multiplier, int32_t shift) {
  tflmt_channel_requant r;
  r.multiplier = multiplier;
  r.left = shift > 0 ? shift : 0;
  r.right = shift > 0 ? 0 : -shift;
  r.folded = multiplier > 0 && r.right >= 1 && r.right <= 31;
  r.nudge = r.folded ? ((int64_t)1 << 30) + ((int64_t)1 << (30 + r.right)) : 0;
  r.fast = 0;
  r.narrow = 0;
  r.round = 0;
  r.zero_point = 0;
  r.act_min = INT32_MIN;
  r.act_max = INT32_MAX;
  return r;
}

/* The folded form (r->folded). The sign correction [a<0] * 2^31 is a's own sign bit, which
 * subtracts in two instructions (AND, then SUBS/SBC on the 64-bit sum). */
static inline int32_t tflmt_folded_multiply(int32_t a, const tflmt_channel_requant* r) {
  const int64_t p = (int64_t)a * r->multiplier + r->nudge - (int64_t)((uint32_t)a & 0x80000000u);
  return (int32_t)(p >> 32) >> (r->right - 1);
}

static inline int32_t tflmt_apply_multiplier(int32_t x, const tflmt_channel_requant* r) {
  if (r->folded) return tflmt_folded_multiply(x, r); /* right >= 1, so left == 0 */
  return tflmt_rdbp(tflmt_srdhm((int32_t)((uint32_t)x << r->left), r->multiplier), r->right);
}

static inline int32_t tflmt_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  const tflmt_channel_requant r = tflmt_unpack_multiplier(multiplier, shift);
  return tflmt_apply_multiplier(x, &r);
}

static inline tflmt_channel_requant tflmt_channel_requant_of(const tflmt_requant* q, int32_t channel) {
  const int32_t k = q->n_multipliers == 1 ? 0 : channel;
  tflmt_channel_requant r = tflmt_unpack_multiplier(q->multiplier[k], q->shift[k]);
  r.zero_point = q->out_zero_point;
  r.act_min = q->act_min;
  r.act_max = q->act_max;
  r.fast = r.folded && r.act_min <= -128 && r.act_max >= 127;
  r.narrow = r.fast && r.right <= 22;
  r.round = r.narrow ? (int32_t)((1u << (r.right - 1)) + ((uint32_t)r.zero_point << r.right)) : 0;
  return r;
}

/* [*lo, *hi): the input rows (or columns) a pooling window starting at `origin` covers inside [0, size). */
static inline void tflmt_pool_span(int32_t origin, int32_t k, int32_t size, int32_t* lo, int32_t* hi) {
  *lo = origin < 0 ? 0 : origin;
  *hi = origin + k < size ? origin + k : size;
}

/* v saturated to int8 (one SSAT with DSP). */
static inline int8_t tflmt_ssat8(int32_t v) {
#if defined(__ARM_FEATURE_DSP)
  return (int8_t)__ssat(v, 8);
#else
  return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
#endif
}

/* The common case (r->fast) in the fewest instructions: one multiply-add for both roundings,
 * the sign correction, and a single saturation to int8. A folded multiplier has a right shift,
 * so no left shift. */
static inline int8_t tflmt_requant_fast(int32_t acc, const tflmt_channel_requant* r) {
  return tflmt_ssat8(tflmt_folded_multiply(acc, r) + r->zero_point);
}

/* (a * m + 2^31) >> 32: SMMULR, a high multiply that rounds. */
static inline int32_t tflmt_smmulr(int32_t a, int32_t m) {
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(m));
  return r;
#else
  return (int32_t)(((int64_t)a * m + ((int64_t)1 << 31)) >> 32);
#endif
}

/* SMMULR of 2a; |a| < 2^30. */
static inline int32_t tflmt_smmulr2(int32_t a, int32_t m) { return tflmt_smmulr(a + a, m); }

/* tflmt_requant_fast in fewer instructions when the caller proves |acc| < 2^30 (and r->narrow);
 * tflmt_narrow_multiply is its rounding multiply (round = 2^(e-1), plus any zp * 2^e).
 * Why it is the same: with p the folded form's 64-bit sum, 2p = (2a*b + 2^31) + 2^32 * (2^(e-1)
 * - [a<0]), so floor(p / 2^(31+e)) = floor((R + 2^(e-1) - [a<0]) / 2^e) with R = SMMULR(2a, b)
 * = floor((2a*b + 2^31) / 2^32) (nested floors of an integer plus a multiple of the inner
 * divisor). The zero point joins as zp * 2^e before the shift; |R| <= 2^30 and e <= 22 keep the
 * sum inside int32. */
static inline int32_t tflmt_narrow_multiply(int32_t a, int32_t multiplier, int32_t round, int32_t right) {
  return (tflmt_smmulr2(a, multiplier) - (int32_t)((uint32_t)a >> 31) + round) >> right;
}

static inline int8_t tflmt_requant_narrow(int32_t acc, const tflmt_channel_requant* r) {
  return tflmt_ssat8(tflmt_narrow_multiply(acc, r->multiplier, r->round, r->right));
}

/* tflmt_requant_narrow of acc given as 2 * acc (a kernel that summed doubled weights from twice
 * the bias): SMMULR takes it as it is, and its sign is acc's. */
static inline int8_t tflmt_requant_narrow_doubled(int32_t acc2, const tflmt_channel_requant* r) {
  return tflmt_ssat8((tflmt_smmulr(acc2, r->multiplier) - (int32_t)((uint32_t)acc2 >> 31) + r->round) >> r->right);
}

/* Whether every accumulator of a dot product of k int8 pairs plus `bias` stays below 2^30 in
 * magnitude (the tflmt_requant_narrow bound): |x| <= 128, |w| <= 127. */
static inline int tflmt_acc_is_narrow(int32_t bias, int32_t k) {
  const int64_t bound = (bias < 0 ? -(int64_t)bias : (int64_t)bias) + (int64_t)k * 128 * 127;
  return bound < ((int64_t)1 << 30);
}

/* ADD's input rescale (MultiplyByQuantizedMultiplierSmallerThanOneExp) in the narrow form: SMMULR
 * of 2a (|a| < 2^30) is gemmlowp's SaturatingRoundingDoublingHighMul exactly (floor((ab + 2^30) /
 * 2^31) for either sign), and a right shift e >= 1 folds in as in tflmt_requant_narrow; e = 0 is
 * the multiply alone. */
typedef struct {
  int32_t multiplier, right, round, sign_shift; /* round 2^(e-1) or 0; sign_shift 0, or 1 to drop [a<0] */
} tflmt_add_rescale_t;

static inline tflmt_add_rescale_t tflmt_add_rescale_of(const tflmt_channel_requant* r) {
  tflmt_add_rescale_t a;
  a.multiplier = r->multiplier;
  a.right = r->right;
  a.round = r->right ? 1 << (r->right - 1) : 0;
  a.sign_shift = r->right ? 0 : 1;
  return a;
}

static inline int tflmt_add_rescale_is_narrow(const tflmt_channel_requant* r) {
  return r->left == 0 && r->multiplier > 0 && r->right <= 22;
}

/* d = x - zp; its rescale of d << ls (|d| <= 255, ls <= 21: below 2^29). */
static TFLMT_ALWAYS_INLINE int32_t tflmt_add_rescale(int32_t d, int32_t ls, const tflmt_add_rescale_t* r) {
  const int32_t neg = (int32_t)(((uint32_t)d >> 31) >> r->sign_shift);
  return (tflmt_smmulr(d << (ls + 1), r->multiplier) - neg + r->round) >> r->right;
}

static inline int8_t tflmt_requant_channel(int32_t acc, const tflmt_channel_requant* r) {
  int32_t v = tflmt_apply_multiplier(acc, r) + r->zero_point;
  if (v < r->act_min) v = r->act_min;
  if (v > r->act_max) v = r->act_max;
  return (int8_t)v;
}

/* TFLM's reference order (MultiplyByQuantizedMultiplier's two roundings), for the naive baseline. */
static inline int8_t tflmt_requant_reference(int32_t acc, const tflmt_requant* q, int32_t channel) {
  const int32_t k = q->n_multipliers == 1 ? 0 : channel, shift = q->shift[k];
  const int32_t a = (int32_t)((uint32_t)acc << (shift > 0 ? shift : 0));
  int32_t v = tflmt_rdbp(tflmt_srdhm(a, q->multiplier[k]), shift > 0 ? 0 : -shift) + q->out_zero_point;
  if (v < q->act_min) v = q->act_min;
  if (v > q->act_max) v = q->act_max;
  return (int8_t)v;
}

static inline int8_t tflmt_requant_one(int32_t acc, const tflmt_requant* q, int32_t channel) {
  const tflmt_channel_requant r = tflmt_channel_requant_of(q, channel);
  return tflmt_requant_channel(acc, &r);
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
