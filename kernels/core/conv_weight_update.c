/* CONV_2D weight gradient fused with the SGD update.
 *
 * Output channels are processed in blocks of CONV_OB: the input pixel under
 * each tap is converted once and feeds CONV_OB accumulators, and only one
 * block's gradient [CONV_OB, kh, kw, in_c] exists at a time. Zero output
 * gradients (common after ReLU) are skipped; this leaves every float sum
 * bit-identical, since adding 0 * x changes nothing. A 1x1, stride-1 conv
 * without padding takes a direct path (input pixel = output pixel); in float32 it keeps a
 * 4x4 block of sums in registers over all pixels (pointwise_block_f32). */
#include "internal.h"

#define CONV_OB 4

size_t tflmt_conv_weight_update_scratch_size(const tflmt_window* s) {
  return (size_t)CONV_OB * (size_t)s->kh * (size_t)s->kw * (size_t)s->in.c * 4u;
}

/* One tap's row of output channel o from `base` (its first weight index): x channel c's
 * gradient is acc[c] (float32) or acc[c] * acc_scale (int32, when acc_i is set). Without a
 * channel map the weights are consecutive; `stochastic` is a constant at each call. */
static TFLMT_ALWAYS_INLINE void update_row(int8_t* w, int8_t* res, uint32_t base, const float* acc, const int32_t* acc_i,
                                           float acc_scale, int32_t xc, const tflmt_channel_map* map, float qas,
                                           float lr, int stochastic, uint32_t stream) {
  for (int32_t c = 0; c < xc; ++c) {
    const uint32_t idx = base + (uint32_t)tflmt_map_index(map, c);
    const float grad = acc_i ? (float)acc_i[c] * acc_scale : acc[c];
    tflmt_weight_step(w, res, idx, grad, qas, lr, stochastic, stream);
  }
}

/* Applies the gradient of output channel o: acc (or acc_i) is [taps, x channels]. Inlined into
 * its two callers, and split on the map, so that a row loop without one indexes directly. */
static TFLMT_ALWAYS_INLINE void update_channel(const tflmt_window* s, int32_t o, const float* acc, const int32_t* acc_i,
                           float acc_scale, const float* qas, const tflmt_channel_map* map, const tflmt_sgd* sgd,
                           uint32_t stream, int8_t* w) {
  const int32_t xc = s->in.c, wc = tflmt_map_channels(map, xc), taps = s->kh * s->kw;
  const float q = qas[o], lr = sgd->learning_rate;
  for (int32_t t = 0; t < taps; ++t) {
    const uint32_t base = (uint32_t)((o * taps + t) * wc);
    const float* a = acc ? acc + t * xc : NULL;
    const int32_t* ai = acc_i ? acc_i + t * xc : NULL;
    if (sgd->residual) {
      update_row(w, sgd->residual, base, a, ai, acc_scale, xc, map, q, lr, sgd->stochastic, stream);
    } else if (map) {
      update_row(w, NULL, base, a, ai, acc_scale, xc, map, q, lr, sgd->stochastic, stream);
    } else {
      update_row(w, NULL, base, a, ai, acc_scale, xc, NULL, q, lr, sgd->stochastic, stream);
    }
  }
}

static void update_channel_f32(const tflmt_window* s, int32_t o, const float* acc, const float* qas,
                               const tflmt_channel_map* map, const tflmt_sgd* sgd, uint32_t stream, int8_t* w) {
  update_channel(s, o, acc, NULL, 0.0f, qas, map, sgd, stream, w);
}

static void update_channel_s8(const tflmt_window* s, int32_t o, const int32_t* acc, float acc_scale,
                              const float* qas, const tflmt_channel_map* map, const tflmt_sgd* sgd,
                              uint32_t stream, int8_t* w) {
  update_channel(s, o, NULL, acc, acc_scale, qas, map, sgd, stream, w);
}

/* Whether output channels [o0, o0 + CONV_OB) have a non-zero gradient at some pixel. */
static int block_has_gradient(const float* g, int32_t oc, int32_t pixels) {
  for (int32_t p = 0; p < pixels; ++p, g += oc) {
    if (g[0] != 0.0f || g[1] != 0.0f || g[2] != 0.0f || g[3] != 0.0f) return 1;
  }
  return 0;
}

static int block_has_gradient_s8(const int8_t* g, int32_t oc, int32_t pixels) {
  for (int32_t p = 0; p < pixels; ++p, g += oc) {
    if ((g[0] | g[1] | g[2] | g[3]) != 0) return 1;
  }
  return 0;
}

/* 1x1 stride-1 without padding, CONV_OB output channels and 4 input channels at a time: the
 * 16 sums run over every pixel in registers, in the scatter's pixel order. No term is skipped:
 * a zero gradient adds exactly +0 or -0, which leaves every sum (starting at +0) unchanged, so
 * the result is bit-identical to the scatter below, which skips them.
 * acc is [CONV_OB][ic]; returns whether any pixel had a non-zero gradient. */
static int pointwise_block_f32(const float* g, int32_t oc, int32_t pixels, const int8_t* x, int32_t ic,
                               tflmt_quant xq, float* acc) {
  if (!block_has_gradient(g, oc, pixels)) return 0;
  for (int32_t c0 = 0; c0 < ic; c0 += 4) {
    float a[CONV_OB][4] = {{0.0f}};
    const float* gp = g;
    const int8_t* xp = x + c0;
    for (int32_t p = 0; p < pixels; ++p, gp += oc, xp += ic) {
      float xv[4];
      TFLMT_UNROLL8
      for (int32_t c = 0; c < 4; ++c) xv[c] = (float)((int32_t)xp[c] - xq.zero_point) * xq.scale;
      TFLMT_UNROLL8
      for (int32_t b = 0; b < CONV_OB; ++b) {
        const float gb = gp[b];
        TFLMT_UNROLL8
        for (int32_t c = 0; c < 4; ++c) a[b][c] = tflmt_mla(a[b][c], gb, xv[c]);
      }
    }
    TFLMT_UNROLL8
    for (int32_t b = 0; b < CONV_OB; ++b) {
      TFLMT_UNROLL8
      for (int32_t c = 0; c < 4; ++c) acc[b * ic + c0 + c] = a[b][c];
    }
  }
  return 1;
}

#if TFLMT_VFP_ASM
/* 8 output channels x 2 input channels of a 1x1 weight gradient over every pixel (>= 1), for ARM
 * VFP: the 16 sums stay in s0-s15, each pixel's 8 gradients arrive in one VLDM (s16-s23) and its
 * 2 inputs are dequantized once for all 8 channels ((x - zp) * scale, as the C path), then 16
 * VMLA.F32 in pixel order: 31 instructions per 16 multiply-adds against the 4 x 4 block's 46,
 * which dequantizes each input for 4 channels only. out: channel c's 8 sums, then c + 1's. */
static void pointwise_8x2_vfp(const float* g, int32_t oc, int32_t pixels, const int8_t* x, int32_t ic, tflmt_quant xq,
                              float out[16]) {
  const int32_t g_bytes = oc * 4, zp = xq.zero_point;
  const float scale = xq.scale;
  int32_t x0, x1;
  __asm__ volatile(
      "vmov s26, %[scale]\n\t"
      "vmov.f32 s0, #1.0\n\t"
      "vsub.f32 s0, s0, s0\n\t" /* +0.0 */
      "vmov.f32 s1, s0\n\t"
      "vmov.f32 s2, s0\n\t"
      "vmov.f32 s3, s0\n\t"
      "vmov.f32 s4, s0\n\t"
      "vmov.f32 s5, s0\n\t"
      "vmov.f32 s6, s0\n\t"
      "vmov.f32 s7, s0\n\t"
      "vmov.f32 s8, s0\n\t"
      "vmov.f32 s9, s0\n\t"
      "vmov.f32 s10, s0\n\t"
      "vmov.f32 s11, s0\n\t"
      "vmov.f32 s12, s0\n\t"
      "vmov.f32 s13, s0\n\t"
      "vmov.f32 s14, s0\n\t"
      "vmov.f32 s15, s0\n\t"
      "1:\n\t"
      "ldrsb %[x0], [%[xp]]\n\t"
      "ldrsb %[x1], [%[xp], #1]\n\t"
      "add %[xp], %[xp], %[ic]\n\t"
      "sub %[x0], %[x0], %[zp]\n\t"
      "sub %[x1], %[x1], %[zp]\n\t"
      "vmov s24, %[x0]\n\t"
      "vmov s25, %[x1]\n\t"
      "vcvt.f32.s32 s24, s24\n\t"
      "vcvt.f32.s32 s25, s25\n\t"
      "vmul.f32 s24, s24, s26\n\t"
      "vmul.f32 s25, s25, s26\n\t"
      "vldm %[g], {s16-s23}\n\t"
      "add %[g], %[g], %[gs]\n\t"
      TFLMT_VMLA8_LO("s24") TFLMT_VMLA8_HI("s25")
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstm %[out], {s0-s15}"
      : [xp] "+r"(x), [g] "+r"(g), [n] "+r"(pixels), [x0] "=&r"(x0), [x1] "=&r"(x1)
      : [ic] "r"(ic), [zp] "r"(zp), [gs] "r"(g_bytes), [scale] "r"(scale), [out] "r"(out)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
        "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "cc", "memory");
}

/* Output channels [o0, o0 + 8) of a 1x1 conv (ic even), 2 input channels at a time: each pair's
 * 16 sums are applied at once (an update reads only its own sum, index and channel factor, so
 * nothing needs the scratch), for each half of 4 channels that has a gradient somewhere, as the
 * block path decides. */
static TFLMT_ALWAYS_INLINE void pointwise_update8(const tflmt_window* s, int32_t o0, const float* g, const int8_t* x,
                                                  tflmt_quant xq, const float* qas, const tflmt_channel_map* map,
                                                  const tflmt_sgd* sgd, int8_t* res, uint32_t stream, int8_t* w) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w, wc = tflmt_map_channels(map, ic);
  const int any0 = block_has_gradient(g + o0, oc, pixels), any1 = block_has_gradient(g + o0 + 4, oc, pixels);
  if (!any0 && !any1) return;
  const float lr = sgd->learning_rate;
  const int stochastic = sgd->stochastic;
  for (int32_t c = 0; c < ic; c += 2) {
    float sums[16];
    pointwise_8x2_vfp(g + o0, oc, pixels, x + c, ic, xq, sums);
    for (int32_t b = 0; b < 8; ++b) {
      if (!(b < 4 ? any0 : any1)) continue;
      const int32_t o = o0 + b;
      for (int32_t j = 0; j < 2; ++j) {
        const uint32_t idx = (uint32_t)(o * wc + tflmt_map_index(map, c + j));
        tflmt_weight_step(w, res, idx, sums[8 * j + b], qas[o], lr, stochastic, stream);
      }
    }
  }
}

/* Instantiated without and with residual bytes, so the common case tests nothing per weight. */
static void pointwise_update8_f32(const tflmt_window* s, int32_t o0, const float* g, const int8_t* x, tflmt_quant xq,
                                  const float* qas, const tflmt_channel_map* map, const tflmt_sgd* sgd,
                                  uint32_t stream, int8_t* w) {
  if (sgd->residual) {
    pointwise_update8(s, o0, g, x, xq, qas, map, sgd, sgd->residual, stream, w);
  } else {
    pointwise_update8(s, o0, g, x, xq, qas, map, sgd, NULL, stream, w);
  }
}
#endif

/* One tap and input-channel block [c0, c0 + cb) of a full output block's weight gradient: the
 * CONV_OB x cb sums in registers over the output pixels whose tap lands inside the input, in
 * raster order (each sum's order in the scatter below), written to acc [CONV_OB][kc] (float, or
 * int32 when gi, the int8 gradient, is set: integer sums, x - zp times the int8 gradient). cb is
 * a constant at the common calls, so the channel loops unroll. */
static TFLMT_ALWAYS_INLINE void tap_block(const tflmt_window* s, int32_t i, int32_t j, int32_t c0, int32_t cb,
                                          const float* g, const int8_t* gi, int32_t o0, const int8_t* x,
                                          tflmt_quant xq, float* acc, int32_t* acc_i) {
  const int32_t ic = s->in.c, oc = s->out.c, kc = s->kh * s->kw * ic, x_step = s->geo.stride_w * ic;
  int32_t lo, hi;
  tflmt_tap_cols(s, j, &lo, &hi);
  float a[CONV_OB][4] = {{0.0f}};
  int32_t ai[CONV_OB][4] = {{0}};
  for (int32_t oy = 0; oy < s->out.h && lo < hi; ++oy) {
    const int32_t y = tflmt_tap_row(s, oy, i);
    if (y < 0 || y >= s->in.h) continue;
    const int8_t* xp = x + (y * s->in.w + tflmt_tap_col(s, lo, j)) * ic + c0;
    const int32_t p0 = (oy * s->out.w + lo) * oc + o0;
    for (int32_t ox = lo; ox < hi; ++ox, xp += x_step) {
      const int32_t e = p0 + (ox - lo) * oc;
      if (gi) {
        TFLMT_UNROLL8
        for (int32_t b = 0; b < CONV_OB; ++b) {
          const int32_t gb = gi[e + b];
          TFLMT_UNROLL8
          for (int32_t c = 0; c < cb; ++c) ai[b][c] += gb * ((int32_t)xp[c] - xq.zero_point);
        }
      } else {
        float xv[4];
        TFLMT_UNROLL8
        for (int32_t c = 0; c < cb; ++c) xv[c] = (float)((int32_t)xp[c] - xq.zero_point) * xq.scale;
        TFLMT_UNROLL8
        for (int32_t b = 0; b < CONV_OB; ++b) {
          const float gb = g[e + b];
          TFLMT_UNROLL8
          for (int32_t c = 0; c < cb; ++c) a[b][c] = tflmt_mla(a[b][c], gb, xv[c]);
        }
      }
    }
  }
  const int32_t at = (i * s->kw + j) * ic + c0;
  for (int32_t b = 0; b < CONV_OB; ++b) {
    for (int32_t c = 0; c < cb; ++c) {
      if (gi) {
        acc_i[b * kc + at + c] = ai[b][c];
      } else {
        acc[b * kc + at + c] = a[b][c];
      }
    }
  }
}

/* A full block of CONV_OB output channels of a conv that is not 1x1 stride-1: tap by tap and
 * 4 input channels at a time (tap_block), then one at a time (a first layer's single channel),
 * instead of the scatter's read-modify-write of acc per multiply-add. */
static void taps_block(const tflmt_window* s, const float* g, const int8_t* gi, int32_t o0, const int8_t* x,
                       tflmt_quant xq, float* acc, int32_t* acc_i) {
  const int32_t ic = s->in.c;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      int32_t c0 = 0;
      for (; c0 + 4 <= ic; c0 += 4) {
        if (gi) {
          tap_block(s, i, j, c0, 4, NULL, gi, o0, x, xq, NULL, acc_i);
        } else {
          tap_block(s, i, j, c0, 4, g, NULL, o0, x, xq, acc, NULL);
        }
      }
      for (; c0 < ic; ++c0) {
        if (gi) {
          tap_block(s, i, j, c0, 1, NULL, gi, o0, x, xq, NULL, acc_i);
        } else {
          tap_block(s, i, j, c0, 1, g, NULL, o0, x, xq, acc, NULL);
        }
      }
    }
  }
}

tflmt_status tflmt_conv_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x, tflmt_quant xq,
                                          const float* qas, const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                          int8_t* w, void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, kc = s->kh * s->kw * ic;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const int pointwise = tflmt_is_pointwise(s);
  float* acc = (float*)scratch;
  for (int32_t o0 = 0; o0 < oc; o0 += CONV_OB) {
    const int32_t nb = oc - o0 < CONV_OB ? oc - o0 : CONV_OB;
    int any = 0;
#if TFLMT_VFP_ASM
    if (pointwise && oc - o0 >= 2 * CONV_OB && ic % 2 == 0 && s->out.h * s->out.w > 0) {
      pointwise_update8_f32(s, o0, g, x, xq, qas, channels, sgd, stream, w);
      o0 += CONV_OB; /* two blocks */
      continue;
    }
#endif
    if (pointwise && nb == CONV_OB && ic % 4 == 0) {
      if (pointwise_block_f32(g + o0, oc, s->out.h * s->out.w, x, ic, xq, acc)) {
        for (int32_t b = 0; b < nb; ++b) update_channel_f32(s, o0 + b, acc + b * kc, qas, channels, sgd, stream, w);
      }
      continue;
    }
    if (!pointwise && nb == CONV_OB) {
      if (block_has_gradient(g + o0, oc, s->out.h * s->out.w)) {
        taps_block(s, g, NULL, o0, x, xq, acc, NULL);
        for (int32_t b = 0; b < nb; ++b) update_channel_f32(s, o0 + b, acc + b * kc, qas, channels, sgd, stream, w);
      }
      continue;
    }
    for (int32_t e = 0; e < nb * kc; ++e) acc[e] = 0.0f;
    for (int32_t oy = 0; oy < s->out.h; ++oy) {
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const float* gp = g + (oy * s->out.w + ox) * oc + o0;
        float gv[CONV_OB];
        int nz = 0;
        for (int32_t b = 0; b < nb; ++b) {
          gv[b] = gp[b];
          nz |= gv[b] != 0.0f;
        }
        if (!nz) continue;
        any = 1;
        for (int32_t i = 0; i < s->kh; ++i) {
          const int32_t y = tflmt_tap_row(s, oy, i);
          if (!pointwise && (y < 0 || y >= s->in.h)) continue;
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t xx = tflmt_tap_col(s, ox, j);
            if (!pointwise && (xx < 0 || xx >= s->in.w)) continue;
            const int8_t* xp = x + (pointwise ? oy * s->in.w + ox : y * s->in.w + xx) * ic;
            float* a = acc + (i * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) {
              const float xr = (float)((int32_t)xp[c] - xq.zero_point) * xq.scale;
              for (int32_t b = 0; b < nb; ++b) a[b * kc + c] += gv[b] * xr;
            }
          }
        }
      }
    }
    if (!any) continue; /* a zero gradient moves no weight */
    for (int32_t b = 0; b < nb; ++b) update_channel_f32(s, o0 + b, acc + b * kc, qas, channels, sgd, stream, w);
  }
  return TFLMT_OK;
}

/* The int8 path's pointwise block: integer sums, so any order gives the same result; 16 of
 * them in registers over all pixels. acc is [CONV_OB][ic]; returns whether any pixel had a
 * non-zero gradient. */
static int pointwise_block_s8(const int8_t* g, int32_t oc, int32_t pixels, const int8_t* x, int32_t ic,
                              int32_t x_zero_point, int32_t* acc) {
  int any = 0;
  for (int32_t c0 = 0; c0 < ic; c0 += 4) {
    int32_t a[CONV_OB][4] = {{0}};
    const int8_t* gp = g;
    const int8_t* xp = x + c0;
    for (int32_t p = 0; p < pixels; ++p, gp += oc, xp += ic) {
      const int32_t g0 = gp[0], g1 = gp[1], g2 = gp[2], g3 = gp[3];
      if ((g0 | g1 | g2 | g3) == 0) continue;
      const int32_t x0 = xp[0] - x_zero_point, x1 = xp[1] - x_zero_point;
      const int32_t x2 = xp[2] - x_zero_point, x3 = xp[3] - x_zero_point;
      a[0][0] += g0 * x0;
      a[0][1] += g0 * x1;
      a[0][2] += g0 * x2;
      a[0][3] += g0 * x3;
      a[1][0] += g1 * x0;
      a[1][1] += g1 * x1;
      a[1][2] += g1 * x2;
      a[1][3] += g1 * x3;
      a[2][0] += g2 * x0;
      a[2][1] += g2 * x1;
      a[2][2] += g2 * x2;
      a[2][3] += g2 * x3;
      a[3][0] += g3 * x0;
      a[3][1] += g3 * x1;
      a[3][2] += g3 * x2;
      a[3][3] += g3 * x3;
      any = 1;
    }
    for (int32_t b = 0; b < CONV_OB; ++b) {
      for (int32_t c = 0; c < 4; ++c) acc[b * ic + c0 + c] = a[b][c];
    }
  }
  return any;
}

tflmt_status tflmt_conv_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* x,
                                         tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                         const tflmt_sgd* sgd, int8_t* w, void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, kc = s->kh * s->kw * ic;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const int pointwise = tflmt_is_pointwise(s);
  const float acc_scale = g_scale * xq.scale;
  int32_t* acc = (int32_t*)scratch;
  for (int32_t o0 = 0; o0 < oc; o0 += CONV_OB) {
    const int32_t nb = oc - o0 < CONV_OB ? oc - o0 : CONV_OB;
    if (pointwise && nb == CONV_OB && ic % 4 == 0) {
      if (pointwise_block_s8(g + o0, oc, s->out.h * s->out.w, x, ic, xq.zero_point, acc)) {
        for (int32_t b = 0; b < nb; ++b) {
          update_channel_s8(s, o0 + b, acc + b * kc, acc_scale, qas, channels, sgd, stream, w);
        }
      }
      continue;
    }
    if (!pointwise && nb == CONV_OB && block_has_gradient_s8(g + o0, oc, s->out.h * s->out.w)) {
      taps_block(s, NULL, g, o0, x, xq, NULL, acc);
      for (int32_t b = 0; b < nb; ++b) {
        update_channel_s8(s, o0 + b, acc + b * kc, acc_scale, qas, channels, sgd, stream, w);
      }
      continue;
    }
    if (!pointwise && nb == CONV_OB) continue; /* a zero gradient moves no weight */
    for (int32_t e = 0; e < nb * kc; ++e) acc[e] = 0;
    int any = 0;
    for (int32_t oy = 0; oy < s->out.h; ++oy) {
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const int8_t* gp = g + (oy * s->out.w + ox) * oc + o0;
        int32_t gv[CONV_OB];
        int nz = 0;
        for (int32_t b = 0; b < nb; ++b) {
          gv[b] = gp[b];
          nz |= gv[b] != 0;
        }
        if (!nz) continue;
        any = 1;
        for (int32_t i = 0; i < s->kh; ++i) {
          const int32_t y = tflmt_tap_row(s, oy, i);
          if (!pointwise && (y < 0 || y >= s->in.h)) continue;
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t xx = tflmt_tap_col(s, ox, j);
            if (!pointwise && (xx < 0 || xx >= s->in.w)) continue;
            const int8_t* xp = x + (pointwise ? oy * s->in.w + ox : y * s->in.w + xx) * ic;
            int32_t* a = acc + (i * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) {
              const int32_t xi = (int32_t)xp[c] - xq.zero_point;
              for (int32_t b = 0; b < nb; ++b) a[b * kc + c] += gv[b] * xi;
            }
          }
        }
      }
    }
    if (!any) continue;
    for (int32_t b = 0; b < nb; ++b) {
      update_channel_s8(s, o0 + b, acc + b * kc, acc_scale, qas, channels, sgd, stream, w);
    }
  }
  return TFLMT_OK;
}
