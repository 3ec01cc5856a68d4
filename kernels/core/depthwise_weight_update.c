/* DEPTHWISE_CONV_2D weight gradient fused with the SGD update. The whole
 * gradient [kh, kw, c] is small (one filter per channel) and is accumulated
 * pixel by pixel with contiguous channel loops. */
#include "forward_internal.h"
#include "internal.h"

size_t tflmt_depthwise_weight_update_scratch_size(const tflmt_window* s) {
  return (size_t)s->kh * (size_t)s->kw * (size_t)s->in.c * 4u;
}

/* The SGD step of every trained weight from its gradient acc [kh, kw, x channels] (float, or int32
 * sums times acc_scale when acc_i is set); res: the residual bytes, or a constant NULL. */
static TFLMT_ALWAYS_INLINE void step_all(const tflmt_window* s, const float* acc, const int32_t* acc_i,
                                         float acc_scale, const float* qas, const tflmt_channel_map* channels,
                                         const tflmt_sgd* sgd, int8_t* res, int8_t* w) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const float lr = sgd->learning_rate;
  const int stochastic = sgd->stochastic;
  for (int32_t e = 0; e < kc; ++e) {
    const int32_t k = tflmt_map_index(channels, e % c);
    const uint32_t idx = (uint32_t)((e / c) * gc + k);
    tflmt_weight_step(w, res, idx, acc_i ? (float)acc_i[e] * acc_scale : acc[e], qas[k], lr, stochastic, stream);
  }
}

static tflmt_status update_f32(const tflmt_window* s, const float* acc, const float* qas,
                               const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  if (sgd->residual) {
    step_all(s, acc, NULL, 0.0f, qas, channels, sgd, sgd->residual, w);
  } else {
    step_all(s, acc, NULL, 0.0f, qas, channels, sgd, NULL, w);
  }
  return TFLMT_OK;
}

#if TFLMT_VFP_ASM
#define TFLMT_DW_WU_BY_INPUT 1
#define TFLMT_DW_WU_MAX_K 7
/* For each of n (sum, gradient) pairs, 8 sums += gradient * xf, each with its product
 * rounded first (VMLA); `off` bytes added to both pointers. xf stays in s16-s23, the sums and
 * gradients come and go by VLDM / VSTM: 11 instructions for 8 multiply-adds. */
typedef struct {
  float* acc;
  const float* g;
} tap_pair; /* the asm loads both with one LDRD: the layout is two pointers, acc first */

static void taps_mla8(const tap_pair* list, int32_t n, int32_t off, const float* xf) {
  float* a;
  const float* gp;
  __asm__ volatile(
      "vldmia %[xf], {s16-s23}\n\t"
      "1:\n\t"
      "ldrd %[a], %[g], [%[l]], #8\n\t" /* LDRD: LDM would load the lower register first */
      "add %[a], %[a], %[off]\n\t"
      "add %[g], %[g], %[off]\n\t"
      "vldmia %[a], {s0-s7}\n\t"
      "vldmia %[g], {s8-s15}\n\t"
      "vmla.f32 s0, s8, s16\n\t"
      "vmla.f32 s1, s9, s17\n\t"
      "vmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\t"
      "vmla.f32 s4, s12, s20\n\t"
      "vmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\t"
      "vmla.f32 s7, s15, s23\n\t"
      "vstmia %[a], {s0-s7}\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [l] "+r"(list), [n] "+r"(n), [a] "=&r"(a), [g] "=&r"(gp)
      : [off] "r"(off), [xf] "r"(xf)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
        "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

/* Float path without a channel map (c % 8 == 0, windows up to 7x7), input pixel by input pixel:
 * its 8 channels are dequantized once for every tap that reads them (the tap-by-tap order below
 * dequantizes each once per tap). For each sum the output pixels still come in raster order (the
 * input pixel a tap reads only grows with its output pixel), its order in the scatter below. */
static void sums_by_input_f32(const tflmt_window* s, const float* g, const int8_t* x, tflmt_quant xq, float* acc) {
  const int32_t c = s->in.c, kw = s->kw;
  int32_t ti[TFLMT_DW_WU_MAX_K], oi[TFLMT_DW_WU_MAX_K], tj[TFLMT_DW_WU_MAX_K], oj[TFLMT_DW_WU_MAX_K];
  tap_pair list[TFLMT_DW_WU_MAX_K * TFLMT_DW_WU_MAX_K];
  float xf[8];
  for (int32_t e = 0; e < s->kh * kw * c; ++e) acc[e] = 0.0f;
  for (int32_t y = 0; y < s->in.h; ++y) {
    const int32_t nr = tflmt_taps_onto(y, s->kh, s->geo.stride_h, s->geo.dilation_h, s->geo.pad_top, s->out.h, ti, oi);
    if (nr == 0) continue;
    for (int32_t xx = 0; xx < s->in.w; ++xx) {
      const int32_t nc = tflmt_taps_onto(xx, kw, s->geo.stride_w, s->geo.dilation_w, s->geo.pad_left, s->out.w, tj, oj);
      if (nc == 0) continue;
      int32_t n = 0;
      for (int32_t r = 0; r < nr; ++r) {
        for (int32_t q = 0; q < nc; ++q, ++n) {
          list[n].acc = acc + (ti[r] * kw + tj[q]) * c;
          list[n].g = g + (oi[r] * s->out.w + oj[q]) * c;
        }
      }
      const int8_t* xp = x + (y * s->in.w + xx) * c;
      for (int32_t c0 = 0; c0 < c; c0 += 8) {
        for (int32_t k = 0; k < 8; ++k) xf[k] = (float)((int32_t)xp[c0 + k] - xq.zero_point) * xq.scale;
        taps_mla8(list, n, c0 * (int32_t)sizeof(float), xf);
      }
    }
  }
}
#else
/* Float path without a channel map: tap by tap, 8 channels' sums in registers over every
 * output pixel in raster order, which is each sum's order in the scatter below. */
static void tap_sums_f32(const tflmt_window* s, int32_t i, int32_t j, int32_t c0, const float* g, const int8_t* x,
                         tflmt_quant xq, float* acc) {
  const int32_t c = s->in.c, x_step = s->geo.stride_w * c;
  int32_t lo, hi;
  tflmt_tap_cols(s, j, &lo, &hi);
  float a[8] = {0.0f};
  for (int32_t oy = 0; oy < s->out.h && lo < hi; ++oy) {
    const int32_t y = tflmt_tap_row(s, oy, i);
    if (y < 0 || y >= s->in.h) continue;
    const int8_t* xp = x + (y * s->in.w + tflmt_tap_col(s, lo, j)) * c + c0;
    const float* gp = g + (oy * s->out.w + lo) * c + c0;
    for (int32_t ox = lo; ox < hi; ++ox, xp += x_step, gp += c) {
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) {
        a[k] = tflmt_mla(a[k], gp[k], (float)((int32_t)xp[k] - xq.zero_point) * xq.scale);
      }
    }
  }
  float* out = acc + (i * s->kw + j) * c + c0;
  TFLMT_UNROLL8
  for (int32_t k = 0; k < 8; ++k) out[k] = a[k];
}
#endif

tflmt_status tflmt_depthwise_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x,
                                               tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                               const tflmt_sgd* sgd, int8_t* w, void* scratch) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  float* acc = (float*)scratch;
#if TFLMT_DW_WU_BY_INPUT
  if (!channels && c % 8 == 0 && s->kh <= TFLMT_DW_WU_MAX_K && s->kw <= TFLMT_DW_WU_MAX_K) {
    sums_by_input_f32(s, g, x, xq, acc);
    return update_f32(s, acc, qas, channels, sgd, w);
  }
#else
  if (!channels && c % 8 == 0) {
    for (int32_t i = 0; i < s->kh; ++i) {
      for (int32_t j = 0; j < s->kw; ++j) {
        for (int32_t c0 = 0; c0 < c; c0 += 8) tap_sums_f32(s, i, j, c0, g, x, xq, acc);
      }
    }
    return update_f32(s, acc, qas, channels, sgd, w);
  }
#endif
  for (int32_t e = 0; e < kc; ++e) acc[e] = 0.0f;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t i = 0; i < s->kh; ++i) {
      const int32_t y = tflmt_tap_row(s, oy, i);
      if (y < 0 || y >= s->in.h) continue;
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const float* gp = g + (oy * s->out.w + ox) * gc;
        for (int32_t j = 0; j < s->kw; ++j) {
          const int32_t xx = tflmt_tap_col(s, ox, j);
          if (xx < 0 || xx >= s->in.w) continue;
          const int8_t* xp = x + (y * s->in.w + xx) * c;
          float* a = acc + (i * s->kw + j) * c;
          for (int32_t k = 0; k < c; ++k) {
            a[k] += gp[tflmt_map_index(channels, k)] * ((float)((int32_t)xp[k] - xq.zero_point) * xq.scale);
          }
        }
      }
    }
  }
  return update_f32(s, acc, qas, channels, sgd, w);
}

/* The SGD step of every trained weight from its int32 gradient sums acc [kh, kw, x channels]. */
static tflmt_status update_s8(const tflmt_window* s, const int32_t* acc, float acc_scale, const float* qas,
                              const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  if (sgd->residual) {
    step_all(s, NULL, acc, acc_scale, qas, channels, sgd, sgd->residual, w);
  } else {
    step_all(s, NULL, acc, acc_scale, qas, channels, sgd, NULL, w);
  }
  return TFLMT_OK;
}

/* int8 path without a channel map: tap by tap, 8 channels' int32 sums in registers (integer sums,
 * so any order is exact). */
static void tap_sums_s8(const tflmt_window* s, int32_t i, int32_t j, int32_t c0, const int8_t* g, const int8_t* x,
                        int32_t x_zero_point, int32_t* acc) {
  const int32_t c = s->in.c;
#if defined(__ARM_FEATURE_DSP)
  const int32_t minus_zp = (int32_t)(((uint32_t)(-x_zero_point) & 0xFFFFu) * 0x10001u);  /* -zp in both lanes */
#endif
  const int32_t x_step = s->geo.stride_w * c;
  int32_t lo, hi;
  tflmt_tap_cols(s, j, &lo, &hi);
  int32_t a[8] = {0};
  for (int32_t oy = 0; oy < s->out.h && lo < hi; ++oy) {
    const int32_t y = tflmt_tap_row(s, oy, i);
    if (y < 0 || y >= s->in.h) continue;
    const int8_t* xp = x + (y * s->in.w + tflmt_tap_col(s, lo, j)) * c + c0;
    const int8_t* gp = g + (oy * s->out.w + lo) * c + c0;
    for (int32_t ox = lo; ox < hi; ++ox, xp += x_step, gp += c) {
#if defined(__ARM_FEATURE_DSP)
      /* 4 channels per word: SXTAB16 extends x and subtracts the zero point in its lanes,
       * SMLABB / SMLATT multiply-accumulate one lane each. */
      TFLMT_UNROLL8
      for (int32_t h = 0; h < 8; h += 4) {
        const uint32_t gw = tflmt_load32(gp + h), xw = tflmt_load32(xp + h);
        const int32_t ge = __sxtb16(gw), go = tflmt_sxtb16_odd(gw);
        const int32_t xe = __sxtab16(minus_zp, xw), xo = tflmt_sxtab16_odd(minus_zp, xw);
        a[h] = __smlabb(ge, xe, a[h]);
        a[h + 1] = __smlabb(go, xo, a[h + 1]);
        a[h + 2] = __smlatt(ge, xe, a[h + 2]);
        a[h + 3] = __smlatt(go, xo, a[h + 3]);
      }
#else
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) a[k] += (int32_t)gp[k] * ((int32_t)xp[k] - x_zero_point);
#endif
    }
  }
  int32_t* out = acc + (i * s->kw + j) * c + c0;
  TFLMT_UNROLL8
  for (int32_t k = 0; k < 8; ++k) out[k] = a[k];
}

tflmt_status tflmt_depthwise_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                              const int8_t* x, tflmt_quant xq, const float* qas,
                                              const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w,
                                              void* scratch) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  int32_t* acc = (int32_t*)scratch;
  if (!channels && c % 8 == 0) {
    for (int32_t i = 0; i < s->kh; ++i) {
      for (int32_t j = 0; j < s->kw; ++j) {
        for (int32_t c0 = 0; c0 < c; c0 += 8) tap_sums_s8(s, i, j, c0, g, x, xq.zero_point, acc);
      }
    }
    return update_s8(s, acc, g_scale * xq.scale, qas, channels, sgd, w);
  }
  for (int32_t e = 0; e < kc; ++e) acc[e] = 0;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t i = 0; i < s->kh; ++i) {
      const int32_t y = tflmt_tap_row(s, oy, i);
      if (y < 0 || y >= s->in.h) continue;
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const int8_t* gp = g + (oy * s->out.w + ox) * gc;
        for (int32_t j = 0; j < s->kw; ++j) {
          const int32_t xx = tflmt_tap_col(s, ox, j);
          if (xx < 0 || xx >= s->in.w) continue;
          const int8_t* xp = x + (y * s->in.w + xx) * c;
          int32_t* a = acc + (i * s->kw + j) * c;
          for (int32_t k = 0; k < c; ++k) {
            a[k] += (int32_t)gp[tflmt_map_index(channels, k)] * ((int32_t)xp[k] - xq.zero_point);
          }
        }
      }
    }
  }
  return update_s8(s, acc, g_scale * xq.scale, qas, channels, sgd, w);
}
