/* Helpers shared by the kernels/core sources (not part of the public API). */
#ifndef TFLMT_CORE_INTERNAL_H_
#define TFLMT_CORE_INTERNAL_H_

#include <math.h>

#include "tflmt/core.h"

#define TFLMT_WEIGHT_MIN (-127)
#define TFLMT_WEIGHT_MAX 127

/* A kernel's variants instantiated from one body with constant arguments. */
#if defined(__GNUC__)
#define TFLMT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TFLMT_ALWAYS_INLINE inline
#endif
/* Fully unrolls the next loop (at most 8 iterations) so that its array lives in registers. */
#if defined(__GNUC__)
#define TFLMT_UNROLL8 _Pragma("GCC unroll 8")
#else
#define TFLMT_UNROLL8
#endif

/* ARM VFP (single precision) where inline assembly may name s-registers: the float backward
 * kernels' VLDM/VMLA loops (an unoptimised build keeps their C twins). */
#if defined(__GNUC__) && defined(__OPTIMIZE__) && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
#define TFLMT_VFP_ASM 1
#endif

#if TFLMT_VFP_ASM
/* Assembly text for those loops: s0-s7 (LO) or s8-s15 (HI) += g * s16-s23, g an s-register name
 * as a string ("s24"), one VMLA.F32 per sum. */
#define TFLMT_VMLA8_LO(g) \
  "vmla.f32 s0, " g ", s16\n\t" \
  "vmla.f32 s1, " g ", s17\n\t" \
  "vmla.f32 s2, " g ", s18\n\t" \
  "vmla.f32 s3, " g ", s19\n\t" \
  "vmla.f32 s4, " g ", s20\n\t" \
  "vmla.f32 s5, " g ", s21\n\t" \
  "vmla.f32 s6, " g ", s22\n\t" \
  "vmla.f32 s7, " g ", s23\n\t"
#define TFLMT_VMLA8_HI(g) \
  "vmla.f32 s8, " g ", s16\n\t" \
  "vmla.f32 s9, " g ", s17\n\t" \
  "vmla.f32 s10, " g ", s18\n\t" \
  "vmla.f32 s11, " g ", s19\n\t" \
  "vmla.f32 s12, " g ", s20\n\t" \
  "vmla.f32 s13, " g ", s21\n\t" \
  "vmla.f32 s14, " g ", s22\n\t" \
  "vmla.f32 s15, " g ", s23\n\t"
#endif

/* acc + a * b with the product rounded before the sum, as the spec's separate multiply and add.
 * ARM's VMLA.F32 is that chained (not fused) multiply-accumulate: one instruction for two. */
#if defined(__GNUC__) && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
static inline float tflmt_mla(float acc, float a, float b) {
  __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
  return acc;
}
#else
static inline float tflmt_mla(float acc, float a, float b) { return acc + a * b; }
#endif

static inline uint32_t tflmt_fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

static inline float tflmt_uniform(uint32_t stream, uint32_t index) {
  uint32_t r = tflmt_fmix32(stream + index * 0x9E3779B9u);
  return (float)(r >> 8) * (1.0f / 16777216.0f);
}

/* A step t (in units of what it moves) rounded as the spec rounds: floor(t + u) or to nearest. */
static TFLMT_ALWAYS_INLINE float tflmt_round_step(float t, int stochastic, uint32_t stream, uint32_t index) {
  return stochastic ? floorf(t + tflmt_uniform(stream, index)) : rintf(t);
}

/* A rounded step r whose magnitude beyond `limit` saturates its value either way: clamped there,
 * and a non-finite one is none. One test on the common path. */
static TFLMT_ALWAYS_INLINE float tflmt_clamp_step(float r, float limit) {
  if (!(fabsf(r) <= limit)) r = isfinite(r) ? (r < 0.0f ? -limit : limit) : 0.0f;
  return r;
}

/* round(grad * qas * lr) for one element, as a float (non-finite if the step is). */
static inline float tflmt_sgd_rounded(float grad, float qas, const tflmt_sgd* sgd, uint32_t stream, uint32_t index) {
  return tflmt_round_step((grad * qas) * sgd->learning_rate, sgd->stochastic, stream, index);
}

/* The integer SGD step for one element: round(grad * qas * lr), 0 if non-finite. */
static inline int64_t tflmt_sgd_delta(float grad, float qas, const tflmt_sgd* sgd, uint32_t stream,
                                      uint32_t index) {
  float r = tflmt_sgd_rounded(grad, qas, sgd, stream, index);
  if (!isfinite(r)) return 0;
  if (r < -2147483648.0f) r = -2147483648.0f;
  if (r > 2147483648.0f) r = 2147483648.0f;
  return (int64_t)r;
}

/* The spec's int8 weight step as written: the full 64-bit step, then saturation. The naive loop
 * nests use it; a float -> int64 conversion is a library call on Cortex-M. */
static inline int8_t tflmt_sgd_weight_reference(int8_t v, float grad, float qas, const tflmt_sgd* sgd,
                                                uint32_t stream, uint32_t index) {
  int64_t n = (int64_t)v - tflmt_sgd_delta(grad, qas, sgd, stream, index);
  if (n < TFLMT_WEIGHT_MIN) n = TFLMT_WEIGHT_MIN;
  if (n > TFLMT_WEIGHT_MAX) n = TFLMT_WEIGHT_MAX;
  return (int8_t)n;
}

/* The same result with a single float -> int32 conversion: a step beyond +-256 saturates an int8
 * weight either way, so the rounded step is clamped there first. tflmt_sgd_step takes the
 * learning rate and the rounding mode as values, so that a loop over a row can hold them in
 * registers (and instantiate per mode) instead of rereading *sgd after every int8 store. */
static TFLMT_ALWAYS_INLINE int8_t tflmt_sgd_step(int8_t v, float grad, float qas, float learning_rate,
                                                 int stochastic, uint32_t stream, uint32_t index) {
  /* a non-finite step is none (v is still saturated, as in the spec) */
  const float r = tflmt_clamp_step(tflmt_round_step((grad * qas) * learning_rate, stochastic, stream, index), 256.0f);
  int32_t n = (int32_t)v - (int32_t)r;
  if (n < TFLMT_WEIGHT_MIN) n = TFLMT_WEIGHT_MIN;
  if (n > TFLMT_WEIGHT_MAX) n = TFLMT_WEIGHT_MAX;
  return (int8_t)n;
}

/* The weight step with a residual byte (tflmt_sgd.residual): w[index] and r[index] updated together.
 * Out of line: it is the uncommon path of every weight update and flash is the budget. */
void tflmt_sgd_step16(int8_t* w, int8_t* r, float grad, float qas, float learning_rate, int stochastic,
                      uint32_t stream, uint32_t index);

/* w[idx]'s step, through its residual byte when res (tflmt_sgd.residual) is set. */
static TFLMT_ALWAYS_INLINE void tflmt_weight_step(int8_t* w, int8_t* res, uint32_t idx, float grad, float qas,
                                                  float learning_rate, int stochastic, uint32_t stream) {
  if (res) {
    tflmt_sgd_step16(w + idx, res + idx, grad, qas, learning_rate, stochastic, stream, idx);
  } else {
    w[idx] = tflmt_sgd_step(w[idx], grad, qas, learning_rate, stochastic, stream, idx);
  }
}

/* The naive loop nests' form: the spec's 64-bit step, or the residual step. */
static inline void tflmt_weight_step_reference(int8_t* w, uint32_t idx, float grad, float qas, const tflmt_sgd* sgd,
                                               uint32_t stream) {
  if (sgd->residual) {
    tflmt_sgd_step16(w + idx, sgd->residual + idx, grad, qas, sgd->learning_rate, sgd->stochastic, stream, idx);
  } else {
    w[idx] = tflmt_sgd_weight_reference(w[idx], grad, qas, sgd, stream, idx);
  }
}

static inline int32_t tflmt_sgd_bias(int32_t v, float grad, float qas, const tflmt_sgd* sgd, uint32_t stream,
                                     uint32_t index) {
  int64_t n = (int64_t)v - tflmt_sgd_delta(grad, qas, sgd, stream, index);
  if (n < INT32_MIN) n = INT32_MIN;
  if (n > INT32_MAX) n = INT32_MAX;
  return (int32_t)n;
}

/* rintf(v) as an int32 for |v| < 2^31: VCVTR converts in the FPSCR rounding mode, the one rintf
 * rounds in (to nearest, ties to even), so one instruction does both. */
static inline int32_t tflmt_rint_s32(float v) {
#if TFLMT_VFP_ASM
  __asm__("vcvtr.s32.f32 %0, %0" : "+t"(v));
  int32_t r;
  __asm__("vmov %0, %1" : "=r"(r) : "t"(v));
  return r;
#else
  return (int32_t)rintf(v);
#endif
}

static inline int8_t tflmt_sat_s8(float v) {
  float r = rintf(v);
  if (r < -127.0f) r = -127.0f;
  if (r > 127.0f) r = 127.0f;
  return (int8_t)r;
}

/* Quantizes v[e] = (float)acc[e] * scales[e % period] (period 1 = one scale). */
tflmt_status tflmt_quantize_acc_s8(const int32_t* acc, int32_t n, const float* scales, int32_t period, int8_t* q,
                                   float* scale);

/* The same for one scale s when the caller already knows max |acc[e]| (as an unsigned int, so that
 * |INT32_MIN| fits): one pass over acc instead of two. */
tflmt_status tflmt_quantize_acc_max_s8(const int32_t* acc, int32_t n, float s, uint32_t max_abs, int8_t* q,
                                       float* scale);

/* The int8 gradient with per-output-channel weight scales folded in, so one
 * integer sum serves every channel: gh = sat(rint(q * s[o] / max(s))). */
float tflmt_fold_weight_scales(const int8_t* g, int32_t pixels, int32_t channels, float g_scale,
                               const float* w_scales, int32_t n_scales, int8_t* gh);

/* Weight channel of x channel c, and the weights' channel count, under a channel map. */
static inline int32_t tflmt_map_index(const tflmt_channel_map* m, int32_t c) { return m ? m->index[c] : c; }
static inline int32_t tflmt_map_channels(const tflmt_channel_map* m, int32_t x_channels) {
  return m ? m->weight_channels : x_channels;
}

/* The input row / column that tap i / j of output row oy / column ox reads (may lie in the
 * padding: callers skip values outside [0, in.h) / [0, in.w)). */
static inline int32_t tflmt_tap_row(const tflmt_window* s, int32_t oy, int32_t i) {
  return oy * s->geo.stride_h + i * s->geo.dilation_h - s->geo.pad_top;
}

static inline int32_t tflmt_tap_col(const tflmt_window* s, int32_t ox, int32_t j) {
  return ox * s->geo.stride_w + j * s->geo.dilation_w - s->geo.pad_left;
}

/* The output columns [*lo, *hi) whose tap column j lands inside the input (the rest read padding). */
static inline void tflmt_tap_cols(const tflmt_window* s, int32_t j, int32_t* lo, int32_t* hi) {
  const int32_t off = j * s->geo.dilation_w - s->geo.pad_left, sw = s->geo.stride_w;
  int32_t l = off >= 0 ? 0 : (-off + sw - 1) / sw;
  int32_t h = s->in.w - 1 - off < 0 ? 0 : (s->in.w - 1 - off) / sw + 1;
  if (h > s->out.w) h = s->out.w;
  *lo = l < h ? l : h;
  *hi = h;
}

/* The taps of a window dimension that land on input row (or column) y: taps i in order with
 * o * stride + i * dilation - pad == y for an output row 0 <= o < out; returns how many, with
 * their tap and output indices (the gather form of a scatter over output rows). */
static inline int32_t tflmt_taps_onto(int32_t y, int32_t k, int32_t stride, int32_t dilation, int32_t pad,
                                      int32_t out, int32_t* tap, int32_t* at) {
  int32_t n = 0;
  for (int32_t i = 0; i < k; ++i) {
    const int32_t t = y + pad - i * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= out) continue;
    tap[n] = i;
    at[n++] = t / stride;
  }
  return n;
}

/* A 1x1, stride-1 conv without padding: input pixel = output pixel. */
static inline int tflmt_is_pointwise(const tflmt_window* s) {
  return s->kh == 1 && s->kw == 1 && s->geo.stride_h == 1 && s->geo.stride_w == 1 && s->geo.pad_top == 0 &&
         s->geo.pad_left == 0 && s->in.h == s->out.h && s->in.w == s->out.w;
}

static inline float tflmt_scale_at(const float* s, int32_t n_scales, int32_t o) { return s[n_scales == 1 ? 0 : o]; }

#endif
