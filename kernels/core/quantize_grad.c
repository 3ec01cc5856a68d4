/* Per-tensor int8 quantization of gradients (dynamic scale max|v| / 127). */
#include "internal.h"

static tflmt_status finish_scale(float m, int nonfinite, float* inv, float* scale) {
  if (nonfinite) return TFLMT_NONFINITE;
  *inv = m == 0.0f ? 0.0f : 127.0f / m;
  *scale = m / 127.0f;
  return TFLMT_OK;
}

tflmt_status tflmt_quantize_grad_s8(const float* v, int32_t n, int8_t* q, float* scale) {
  float m = 0.0f, inv;
  int nonfinite = 0;
  for (int32_t i = 0; i < n; ++i) {
    float a = fabsf(v[i]);
    nonfinite |= !isfinite(a);
    if (a > m) m = a;
  }
  tflmt_status st = finish_scale(m, nonfinite, &inv, scale);
  if (st != TFLMT_OK) return st;
  for (int32_t i = 0; i < n; ++i) q[i] = m == 0.0f ? 0 : tflmt_sat_s8(v[i] * inv);
  return TFLMT_OK;
}

/* tflmt_sat_s8 for |v| <= 128 (a weight-scale fold of an int8 -128): the rounded value converts
 * exactly, so the clamp can be on the integer, and only -128 needs it. */
static inline int8_t sat_bounded_s8(float v) {
  const int32_t r = tflmt_rint_s32(v);
  return (int8_t)(r < -127 ? -127 : r);
}

/* tflmt_sat_s8 for |v| < 127.5, which rounds into [-127, 127] by itself: every v * inv below, as
 * |v| <= m and inv = 127 / m, so |v * inv| <= 127 (1 + 2^-24)^2 after the two roundings. */
static inline int8_t round_in_range_s8(float v) { return (int8_t)tflmt_rint_s32(v); }

/* q[i] = round((acc[i] * scales[i * per]) * inv) for i < len (per 0: one scale, 1: one each). */
static void quantize_run(const int32_t* acc, const float* scales, int per, int32_t len, float inv, int8_t* q) {
#if TFLMT_VFP_ASM
  /* The same two per pass in VFP registers: VLDM takes both sums (and scales) without a trip through
   * the core registers, one VMOV returns both results. */
#define TFLMT_QUANT_PAIR_END(s0, s1)          \
  "vmul.f32 s14, s14, " s0 "\n\t"            \
  "vmul.f32 s15, s15, " s1 "\n\t"            \
  "vmul.f32 s14, s14, %[inv]\n\t"            \
  "vmul.f32 s15, s15, %[inv]\n\t"            \
  "vcvtr.s32.f32 s14, s14\n\t"               \
  "vcvtr.s32.f32 s15, s15\n\t"               \
  "vmov %[t0], %[t1], s14, s15\n\t"          \
  "strb %[t0], [%[q]], #1\n\t"               \
  "strb %[t1], [%[q]], #1\n\t"               \
  "subs %[n], %[n], #1\n\t"                  \
  "bne 1b"
  int32_t pairs = len >> 1;
  if (pairs > 0) {
    int32_t t0, t1;
    if (per) {
      __asm__ volatile("1:\n\t"
                       "vldmia %[a]!, {s14, s15}\n\t"
                       "vldmia %[s]!, {s12, s13}\n\t"
                       "vcvt.f32.s32 s14, s14\n\t"
                       "vcvt.f32.s32 s15, s15\n\t" TFLMT_QUANT_PAIR_END("s12", "s13")
                       : [a] "+r"(acc), [s] "+r"(scales), [q] "+r"(q), [n] "+r"(pairs), [t0] "=&r"(t0),
                         [t1] "=&r"(t1)
                       : [inv] "t"(inv)
                       : "s12", "s13", "s14", "s15", "cc", "memory");
    } else {
      const float s0 = scales[0];
      __asm__ volatile("1:\n\t"
                       "vldmia %[a]!, {s14, s15}\n\t"
                       "vcvt.f32.s32 s14, s14\n\t"
                       "vcvt.f32.s32 s15, s15\n\t" TFLMT_QUANT_PAIR_END("%[s0]", "%[s0]")
                       : [a] "+r"(acc), [q] "+r"(q), [n] "+r"(pairs), [t0] "=&r"(t0), [t1] "=&r"(t1)
                       : [inv] "t"(inv), [s0] "t"(s0)
                       : "s14", "s15", "cc", "memory");
    }
  }
#undef TFLMT_QUANT_PAIR_END
  if (len & 1) q[0] = round_in_range_s8(((float)acc[0] * scales[0]) * inv);
#else
  for (int32_t i = 0; i < len; ++i) q[i] = round_in_range_s8(((float)acc[i] * scales[per * i]) * inv);
#endif
}

static tflmt_status quantize_acc_with_max(const int32_t* acc, int32_t n, const float* scales, int32_t period,
                                          float m, int nonfinite, int8_t* q, float* scale) {
  float inv;
  tflmt_status st = finish_scale(m, nonfinite, &inv, scale);
  if (st != TFLMT_OK) return st;
  if (m == 0.0f) {
    for (int32_t i = 0; i < n; ++i) q[i] = 0;
  } else if (!isfinite(inv)) { /* m subnormal: 0 * inv is NaN, which only tflmt_sat_s8 takes as before */
    for (int32_t i = 0; i < n; ++i) q[i] = tflmt_sat_s8(((float)acc[i] * scales[period == 1 ? 0 : i % period]) * inv);
  } else if (period == 1) {
    quantize_run(acc, scales, 0, n, inv, q);
  } else {
    for (int32_t base = 0; base < n; base += period) {
      quantize_run(acc + base, scales, 1, n - base < period ? n - base : period, inv, q + base);
    }
  }
  return TFLMT_OK;
}

static inline uint32_t abs_u32(int32_t a) { return a < 0 ? 0u - (uint32_t)a : (uint32_t)a; }

/* max |acc[e]| over e = k, k + stride, ... below n, as an unsigned int (|INT32_MIN| fits). */
static uint32_t max_abs_strided(const int32_t* acc, int32_t n, int32_t k, int32_t stride) {
  uint32_t m = 0;
  for (int32_t e = k; e < n; e += stride) {
    const uint32_t a = abs_u32(acc[e]);
    if (a > m) m = a;
  }
  return m;
}

/* The spec's max |(float)acc[e] * scales[e % period]|, from each scale's largest |acc| in integers:
 * |(float)a * s| only grows with |a| (both roundings are monotonic and sign-symmetric), and a
 * non-finite product shows in the largest. */
tflmt_status tflmt_quantize_acc_s8(const int32_t* acc, int32_t n, const float* scales, int32_t period, int8_t* q,
                                   float* scale) {
  if (period == 1) return tflmt_quantize_acc_max_s8(acc, n, scales[0], max_abs_strided(acc, n, 0, 1), q, scale);
  float m = 0.0f;
  int nonfinite = 0;
  for (int32_t k = 0; k < period && k < n; ++k) {
    const float a = fabsf((float)max_abs_strided(acc, n, k, period) * scales[k]);
    nonfinite |= !isfinite(a);
    if (a > m) m = a;
  }
  return quantize_acc_with_max(acc, n, scales, period, m, nonfinite, q, scale);
}

/* With one scale, max |(float)acc * s| is (float)max|acc| * s: int -> float conversion and the
 * product are rounded monotonically in |acc|, so the largest |acc| gives the largest result (and a
 * non-finite product shows in it). */
tflmt_status tflmt_quantize_acc_max_s8(const int32_t* acc, int32_t n, float s, uint32_t max_abs, int8_t* q,
                                       float* scale) {
  const float m = fabsf((float)max_abs * s);
  return quantize_acc_with_max(acc, n, &s, 1, m, !isfinite(m), q, scale);
}

/* One channel o of tflmt_fold_weight_scales with its ratio r. */
static void fold_channel(const int8_t* g, int32_t pixels, int32_t channels, int32_t o, float r, int8_t* gh) {
  const int8_t* gp = g + o;
  int8_t* hp = gh + o;
  if (r >= 0.0f && r <= 1.0f) {
#if TFLMT_VFP_ASM
    if (r <= 0.99f) { /* 128 r < 127.5: no saturation (worth its flash where VCVTR makes the rest 2 instructions) */
      for (int32_t p = 0; p < pixels; ++p, gp += channels, hp += channels) *hp = round_in_range_s8((float)*gp * r);
      return;
    }
#endif
    for (int32_t p = 0; p < pixels; ++p, gp += channels, hp += channels) *hp = sat_bounded_s8((float)*gp * r);
  } else {
    for (int32_t p = 0; p < pixels; ++p, gp += channels, hp += channels) *hp = tflmt_sat_s8((float)*gp * r);
  }
}

float tflmt_fold_weight_scales(const int8_t* g, int32_t pixels, int32_t channels, float g_scale,
                               const float* w_scales, int32_t n_scales, int8_t* gh) {
  float smax = w_scales[0];
  for (int32_t o = 1; o < n_scales; ++o) {
    if (w_scales[o] > smax) smax = w_scales[o];
  }
  /* Channels outermost (one division each; r <= 1 for valid scales); with VFP, two at a time where
   * neither saturates: one pointer walks the pixels for both. */
  int32_t o = 0;
#if TFLMT_VFP_ASM
  for (; o + 2 <= channels; o += 2) {
    const float r0 = tflmt_scale_at(w_scales, n_scales, o) / smax, r1 = tflmt_scale_at(w_scales, n_scales, o + 1) / smax;
    if (r0 >= 0.0f && r0 <= 0.99f && r1 >= 0.0f && r1 <= 0.99f) {
      const int8_t* gp = g + o;
      int8_t* hp = gh + o;
      for (int32_t p = 0; p < pixels; ++p, gp += channels, hp += channels) {
        const int8_t h0 = round_in_range_s8((float)gp[0] * r0), h1 = round_in_range_s8((float)gp[1] * r1);
        hp[0] = h0;
        hp[1] = h1;
      }
    } else {
      fold_channel(g, pixels, channels, o, r0, gh);
      fold_channel(g, pixels, channels, o + 1, r1, gh);
    }
  }
#endif
  for (; o < channels; ++o) fold_channel(g, pixels, channels, o, tflmt_scale_at(w_scales, n_scales, o) / smax, gh);
  return g_scale * smax;
}
