/* CONV_2D input gradient: a transposed convolution, written as a scatter.
 * For every tap (i, j) each output pixel's gradient row is spread over the
 * input pixel that tap read, so the float sum of every input element runs over
 * taps in row-major order, then output channels (the spec's order). The int8
 * path folds the per-channel weight scales into the gradient first so one
 * int32 sum serves all channels. The float path sums 8 input channels at a time in
 * registers (scatter8; a 1x1 conv also reuses each block's dequantized weights over all
 * pixels, pointwise_f32). */
#include <string.h>

#include "forward_internal.h"

/* Output channels of one tap and one output pixel, summed into 8 consecutive input channels
 * held in registers: the same additions in the same order as the scalar loop, without a
 * load and a store of dx per multiply-add. */
static void scatter8(float* d, const float* gp, const int8_t* wp, int32_t w_step, const float* w_scales,
                     int32_t n_scales, int32_t oc) {
  float a[8];
  TFLMT_UNROLL8
  for (int32_t k = 0; k < 8; ++k) a[k] = d[k];
  for (int32_t o = 0; o < oc; ++o, wp += w_step) {
    const float gv = gp[o];
    if (gv == 0.0f) continue; /* adds exactly nothing */
    const float so = tflmt_scale_at(w_scales, n_scales, o);
    TFLMT_UNROLL8
    for (int32_t k = 0; k < 8; ++k) a[k] = tflmt_mla(a[k], gv, (float)wp[k] * so);
  }
  TFLMT_UNROLL8
  for (int32_t k = 0; k < 8; ++k) d[k] = a[k];
}

/* Output channels whose dequantized weights the 1x1 path forms at once (8 input channels each,
 * 512 B on the stack). */
#define TFLMT_PW_OBLOCK 16

/* Pixels per 1x1 tile: 3 x 8 sums and 8 weights fill ARM VFP's 32 single-precision registers;
 * a target with 16 float registers (x86-64 SSE) spills beyond one pixel's 8. */
#if defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
#define TFLMT_PW_PIXELS 3
#else
#define TFLMT_PW_PIXELS 1
#endif

#if TFLMT_VFP_ASM
/* 2 pixels x 8 input channels over no >= 1 output channels, for ARM VFP: the 16 sums stay in
 * s0-s15; per pair of output channels one VLDM brings each pixel's 2 gradients (s24/s25,
 * s26/s27), then each channel's 8 weights arrive in one VLDM (s16-s23) for 16 VMLA.F32 (the
 * spec's multiply then add, tflmt_mla), in output-channel order; an odd last channel runs alone.
 * 38 instructions per 32 multiply-adds; C cannot ask for the multi-register loads. */
static void pointwise_tile2_vfp(float* d0, int32_t ic, const float* g0, int32_t oc, const float* wq, int32_t no) {
  float* d1 = d0 + ic;
  const float* g1 = g0 + oc;
  int32_t pairs = no >> 1;
  const int32_t odd = no & 1;
  __asm__ volatile(
      "vldm %[d0], {s0-s7}\n\t"
      "vldm %[d1], {s8-s15}\n\t"
      "cmp %[n], #0\n\t"
      "beq 2f\n\t"
      "1:\n\t"
      "vldmia %[g0]!, {s24-s25}\n\t"
      "vldmia %[g1]!, {s26-s27}\n\t"
      "vldmia %[wq]!, {s16-s23}\n\t"
      TFLMT_VMLA8_LO("s24") TFLMT_VMLA8_HI("s26")
      "vldmia %[wq]!, {s16-s23}\n\t"
      TFLMT_VMLA8_LO("s25") TFLMT_VMLA8_HI("s27")
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "2:\n\t"
      "cmp %[odd], #0\n\t"
      "beq 3f\n\t"
      "vldmia %[g0]!, {s24}\n\t"
      "vldmia %[g1]!, {s26}\n\t"
      "vldmia %[wq]!, {s16-s23}\n\t"
      TFLMT_VMLA8_LO("s24") TFLMT_VMLA8_HI("s26")
      "3:\n\t"
      "vstm %[d0], {s0-s7}\n\t"
      "vstm %[d1], {s8-s15}"
      : [wq] "+r"(wq), [g0] "+r"(g0), [g1] "+r"(g1), [n] "+r"(pairs)
      : [d0] "r"(d0), [d1] "r"(d1), [odd] "r"(odd)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
        "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "cc", "memory");
}
#endif

/* n (1 to 3, a constant at each call) pixels x 8 input channels of a 1x1 input gradient, summed
 * in registers over a block of output channels in order. A lone pixel skips zero gradients (a
 * test per 8 multiply-adds); tiles of several pixels do not test. */
static TFLMT_ALWAYS_INLINE void pointwise_tile(float* d, const float* g, int32_t ic, int32_t oc, const float* wq,
                                               int32_t no, int n) {
  float a[3][8];
  TFLMT_UNROLL8
  for (int i = 0; i < n; ++i) {
    TFLMT_UNROLL8
    for (int32_t k = 0; k < 8; ++k) a[i][k] = d[i * ic + k];
  }
  for (int32_t o = 0; o < no; ++o, wq += 8) {
    float gv[3];
    TFLMT_UNROLL8
    for (int i = 0; i < n; ++i) gv[i] = g[i * oc + o];
    if (n == 1 && gv[0] == 0.0f) continue;
    TFLMT_UNROLL8
    for (int32_t k = 0; k < 8; ++k) {
      const float wk = wq[k];
      TFLMT_UNROLL8
      for (int i = 0; i < n; ++i) a[i][k] = tflmt_mla(a[i][k], gv[i], wk);
    }
  }
  TFLMT_UNROLL8
  for (int i = 0; i < n; ++i) {
    TFLMT_UNROLL8
    for (int32_t k = 0; k < 8; ++k) d[i * ic + k] = a[i][k];
  }
}

/* 1x1 stride 1 without padding (input pixel = output pixel), in blocks of 16 output x 8 input
 * channels: the block's dequantized weights (float)w * s_o are formed once for all pixels, and
 * each tile's 8 sums per pixel stay in registers across the block. Every dx element still receives
 * its terms in output-channel order (a zero gradient adds exactly +0 or -0 to a sum that starts at
 * +0, which changes nothing, so skipping it is optional). */
static void pointwise_f32(const tflmt_window* s, const float* g, const int8_t* w, const float* w_scales,
                          int32_t n_scales, float* dx) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w, c_full = ic & ~7;
  float wq[TFLMT_PW_OBLOCK * 8];
  for (int32_t o0 = 0; o0 < oc; o0 += TFLMT_PW_OBLOCK) {
    const int32_t no = oc - o0 < TFLMT_PW_OBLOCK ? oc - o0 : TFLMT_PW_OBLOCK;
    for (int32_t c0 = 0; c0 < c_full; c0 += 8) {
      for (int32_t o = 0; o < no; ++o) {
        const float so = tflmt_scale_at(w_scales, n_scales, o0 + o);
        const int8_t* wp = w + (o0 + o) * ic + c0;
        TFLMT_UNROLL8
        for (int32_t c = 0; c < 8; ++c) wq[o * 8 + c] = (float)wp[c] * so;
      }
      int32_t p = 0;
#if TFLMT_VFP_ASM
      for (; p + 2 <= pixels; p += 2) pointwise_tile2_vfp(dx + p * ic + c0, ic, g + p * oc + o0, oc, wq, no);
#else
      for (; p + TFLMT_PW_PIXELS <= pixels; p += TFLMT_PW_PIXELS) {
        pointwise_tile(dx + p * ic + c0, g + p * oc + o0, ic, oc, wq, no, TFLMT_PW_PIXELS);
      }
      if (pixels - p == 2) pointwise_tile(dx + p * ic + c0, g + p * oc + o0, ic, oc, wq, no, 2);
#endif
      if (pixels - p == 1) pointwise_tile(dx + p * ic + c0, g + p * oc + o0, ic, oc, wq, no, 1);
    }
    if (c_full == ic) continue;
    for (int32_t p = 0; p < pixels; ++p) { /* the last ic % 8 channels */
      const float* gp = g + p * oc + o0;
      for (int32_t o = 0; o < no; ++o) {
        const float gv = gp[o];
        if (gv == 0.0f) continue;
        const float so = tflmt_scale_at(w_scales, n_scales, o0 + o);
        const int8_t* wp = w + (o0 + o) * ic;
        for (int32_t c = c_full; c < ic; ++c) dx[p * ic + c] += gv * ((float)wp[c] * so);
      }
    }
  }
}

void tflmt_conv_input_grad_f32(const tflmt_window* s, const float* g, const int8_t* w, const float* w_scales,
                               int32_t n_scales, float* dx) {
  const int32_t ic = s->in.c, oc = s->out.c, w_step = s->kh * s->kw * ic;
  for (int32_t e = 0; e < s->in.h * s->in.w * ic; ++e) dx[e] = 0.0f;
  if (tflmt_is_pointwise(s)) {
    pointwise_f32(s, g, w, w_scales, n_scales, dx);
    return;
  }
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      for (int32_t oy = 0; oy < s->out.h; ++oy) {
        const int32_t y = tflmt_tap_row(s, oy, i);
        if (y < 0 || y >= s->in.h) continue;
        for (int32_t ox = 0; ox < s->out.w; ++ox) {
          const int32_t x = tflmt_tap_col(s, ox, j);
          if (x < 0 || x >= s->in.w) continue;
          float* d = dx + (y * s->in.w + x) * ic;
          const float* gp = g + (oy * s->out.w + ox) * oc;
          const int8_t* w_tap = w + (i * s->kw + j) * ic;
          int32_t c0 = 0;
          for (; c0 + 8 <= ic; c0 += 8) scatter8(d + c0, gp, w_tap + c0, w_step, w_scales, n_scales, oc);
          for (int32_t o = 0; o < oc && c0 < ic; ++o) {
            const float gv = gp[o];
            if (gv == 0.0f) continue; /* adds exactly nothing */
            const float so = tflmt_scale_at(w_scales, n_scales, o);
            const int8_t* wp = w_tap + o * w_step;
            for (int32_t c = c0; c < ic; ++c) d[c] += gv * ((float)wp[c] * so);
          }
        }
      }
    }
  }
}

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

/* The requantised gradient copy, the int32 sums and, for a 1x1 conv, one input-channel pair's
 * weights pre-extended for SMLAD (4 bytes per output channel of the whole quads). */
size_t tflmt_conv_input_grad_s8_scratch_size(const tflmt_window* s) {
  const size_t extended = tflmt_is_pointwise(s) ? (size_t)(s->out.c & ~3) * sizeof(int32_t) : 0u;
  return align4((size_t)s->out.h * (size_t)s->out.w * (size_t)s->out.c) +
         (size_t)s->in.h * (size_t)s->in.w * (size_t)s->in.c * sizeof(int32_t) + extended;
}

static inline uint32_t abs_u32(int32_t v) { return v < 0 ? 0u - (uint32_t)v : (uint32_t)v; }

#if defined(__ARM_FEATURE_DSP)
/* Two bytes from any alignment, zero-extended (one LDRH). */
static inline uint32_t load16(const int8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

/* a (pixel 0 x channel 0, pixel 0 x channel 1, pixel 1 x channel 0, pixel 1 x channel 1) +=
 * the products of two pixels' gradient pairs ga, gb (output channels o and o + 2, as SXTB16
 * splits a word) with 2 input channels' weights in rows o and o + 2 (at wp and wp + row2): two
 * halfword loads make one word whose SXTB16 halves are those pairs. */
static TFLMT_ALWAYS_INLINE void smlad_rows(int32_t ga, int32_t gb, const int8_t* wp, int32_t row2, int32_t a[4]) {
  const uint32_t rows = load16(wp) | (load16(wp + row2) << 16);
  const int32_t w0 = __sxtb16(rows), w1 = tflmt_sxtb16_odd(rows);
  a[0] = __smlad(ga, w0, a[0]);
  a[1] = __smlad(ga, w1, a[1]);
  a[2] = __smlad(gb, w0, a[2]);
  a[3] = __smlad(gb, w1, a[3]);
}

/* The rest of a 2 pixel x 2 input channel tile of the int8 1x1 input gradient: output channels
 * o..oc-1 one at a time (wp: row o, channel c), then the sums stored at d (pixel 1's only when
 * `two`); returns max_abs raised to their magnitudes. */
static TFLMT_ALWAYS_INLINE uint32_t finish_2x2(const int8_t* ga_row, const int8_t* gb_row, const int8_t* wp, int32_t o,
                                               int32_t oc, int32_t ic, int32_t two, int32_t a[4], int32_t* d,
                                               uint32_t max_abs) {
  for (; o < oc; ++o, wp += ic) {
    const int32_t g0 = ga_row[o], g1 = gb_row[o], w0 = wp[0], w1 = wp[1];
    a[0] += g0 * w0;
    a[1] += g0 * w1;
    a[2] += g1 * w0;
    a[3] += g1 * w1;
  }
  d[0] = a[0];
  d[1] = a[1];
  const uint32_t m0 = abs_u32(a[0]) > abs_u32(a[1]) ? abs_u32(a[0]) : abs_u32(a[1]);
  if (m0 > max_abs) max_abs = m0;
  if (two) {
    d[ic] = a[2];
    d[ic + 1] = a[3];
    const uint32_t m1 = abs_u32(a[2]) > abs_u32(a[3]) ? abs_u32(a[2]) : abs_u32(a[3]);
    if (m1 > max_abs) max_abs = m1;
  }
  return max_abs;
}

/* Input channels (c, c + 1)'s weights of output channels 0..oq-1 (oq % 4 == 0) as the words
 * tflmt_smlad_2x2_ext pairs with a gradient word's SXTB16 halves (o, o + 2) and (o + 1, o + 3):
 * per quad, channel c's rows (o, o + 2) and (o + 1, o + 3), then channel c + 1's. */
static void extend_columns(const int8_t* w, int32_t ic, int32_t oq, int32_t* out) {
  for (int32_t o = 0; o < oq; o += 4, w += 4 * ic, out += 4) {
    const uint32_t r02 = load16(w) | (load16(w + 2 * ic) << 16);
    const uint32_t r13 = load16(w + ic) | (load16(w + 3 * ic) << 16);
    out[0] = __sxtb16(r02);
    out[1] = __sxtb16(r13);
    out[2] = tflmt_sxtb16_odd(r02);
    out[3] = tflmt_sxtb16_odd(r13);
  }
}

/* pointwise_s8 with input-channel pairs outermost, each pair's weights extended once (into we,
 * word aligned) for all pixels, 2 pixels x 2 channels per tflmt_smlad_2x2_ext pass. */
static uint32_t pointwise_s8_extended(const tflmt_window* s, const int8_t* gh, const int8_t* w, int32_t* acc,
                                      int32_t* we) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w, oq = oc & ~3;
  uint32_t max_abs = 0;
  for (int32_t c = 0; c < ic; c += 2) {
    extend_columns(w + c, ic, oq, we);
    for (int32_t p = 0; p < pixels; p += 2) {
      const int32_t two = p + 1 < pixels;
      const int8_t* ga_row = gh + (size_t)p * oc;
      int32_t a[4] = {0, 0, 0, 0}; /* pixel x channel */
      if (oq) tflmt_smlad_2x2_ext(ga_row, two ? oc : 0, we, oq >> 2, a);
      max_abs = finish_2x2(ga_row, two ? ga_row + oc : ga_row, w + (size_t)oq * ic + c, oq, oc, ic, two, a,
                           acc + (size_t)p * ic + c, max_abs);
    }
  }
  return max_abs;
}

/* The int8 path's 1x1 input gradient (ic even) with SMLAD: integer sums, so any order gives the
 * same int32. A gradient word g[o..o+3] sign-extends into the pairs (o, o+2) and (o+1, o+3); the
 * weights of 2 input channels in rows o and o+2 (two halfword loads, one word) sign-extend into
 * the matching pairs, one per channel. 2 pixels x 2 input channels per pass: 16 multiply-adds per
 * 2 word loads, 4 halfword loads, 8 extensions and 8 SMLADs. Returns max |acc|. */
static uint32_t pointwise_s8(const tflmt_window* s, const int8_t* gh, const int8_t* w, int32_t* acc) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w, oq = oc & ~3, ic2 = 2 * ic;
  uint32_t max_abs = 0;
  for (int32_t p = 0; p < pixels; p += 2) {
    const int32_t two = p + 1 < pixels;
    const int8_t* ga_row = gh + (size_t)p * oc;
    const int8_t* gb_row = two ? ga_row + oc : ga_row; /* a lone last pixel pairs with itself */
    for (int32_t c = 0; c < ic; c += 2) {
      int32_t a[4] = {0, 0, 0, 0}; /* pixel x channel */
      const int8_t* wp = w + c;
      int32_t o = 0;
      for (; o < oq; o += 4, wp += 2 * ic2) {
        const uint32_t ga = tflmt_load32(ga_row + o), gb = tflmt_load32(gb_row + o);
        smlad_rows(__sxtb16(ga), __sxtb16(gb), wp, ic2, a);                           /* rows o, o + 2 */
        smlad_rows(tflmt_sxtb16_odd(ga), tflmt_sxtb16_odd(gb), wp + ic, ic2, a);       /* rows o + 1, o + 3 */
      }
      max_abs = finish_2x2(ga_row, gb_row, wp, o, oc, ic, two, a, acc + (size_t)p * ic + c, max_abs);
    }
  }
  return max_abs;
}
#else
/* The int8 path's 1x1 input gradient (ic % 4 == 0): integer sums, so any order gives the same
 * int32; 4 pixels x 4 input channels in registers over all output channels, each sum written
 * once, and output channels whose 4 gradients are all zero skipped. Lone last pixels take the
 * scatter loop's order. Returns max |acc|. */
static uint32_t pointwise_s8(const tflmt_window* s, const int8_t* gh, const int8_t* w, int32_t* acc) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w;
  uint32_t max_abs = 0;
  int32_t p0 = 0;
  for (; p0 + 4 <= pixels; p0 += 4) {
    const int8_t* g = gh + (size_t)p0 * oc;
    for (int32_t c0 = 0; c0 < ic; c0 += 4) {
      int32_t a[4][4] = {{0}};
      const int8_t* wp = w + c0;
      for (int32_t o = 0; o < oc; ++o, wp += ic) {
        const int32_t g0 = g[o], g1 = g[oc + o], g2 = g[2 * oc + o], g3 = g[3 * oc + o];
        if ((g0 | g1 | g2 | g3) == 0) continue;
        const int32_t w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3];
        a[0][0] += g0 * w0;
        a[0][1] += g0 * w1;
        a[0][2] += g0 * w2;
        a[0][3] += g0 * w3;
        a[1][0] += g1 * w0;
        a[1][1] += g1 * w1;
        a[1][2] += g1 * w2;
        a[1][3] += g1 * w3;
        a[2][0] += g2 * w0;
        a[2][1] += g2 * w1;
        a[2][2] += g2 * w2;
        a[2][3] += g2 * w3;
        a[3][0] += g3 * w0;
        a[3][1] += g3 * w1;
        a[3][2] += g3 * w2;
        a[3][3] += g3 * w3;
      }
      for (int32_t p = 0; p < 4; ++p) {
        for (int32_t c = 0; c < 4; ++c) {
          acc[(size_t)(p0 + p) * ic + c0 + c] = a[p][c];
          if (abs_u32(a[p][c]) > max_abs) max_abs = abs_u32(a[p][c]);
        }
      }
    }
  }
  for (; p0 < pixels; ++p0) {
    int32_t* d = acc + (size_t)p0 * ic;
    const int8_t* gp = gh + (size_t)p0 * oc;
    for (int32_t c = 0; c < ic; ++c) d[c] = 0;
    for (int32_t o = 0; o < oc; ++o) {
      const int32_t gv = gp[o];
      if (gv == 0) continue;
      const int8_t* wp = w + (size_t)o * ic;
      for (int32_t c = 0; c < ic; ++c) d[c] += gv * wp[c];
    }
    for (int32_t c = 0; c < ic; ++c) {
      if (abs_u32(d[c]) > max_abs) max_abs = abs_u32(d[c]);
    }
  }
  return max_abs;
}
#endif

tflmt_status tflmt_conv_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* w,
                                      const float* w_scales, int32_t n_scales, int8_t* dx, float* dx_scale,
                                      void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w;
  int8_t* gh = (int8_t*)scratch;
  int32_t* acc = (int32_t*)((uint8_t*)scratch + align4((size_t)pixels * (size_t)oc));
  const float acc_scale = tflmt_fold_weight_scales(g, pixels, oc, g_scale, w_scales, n_scales, gh);
  if (tflmt_is_pointwise(s) && ic % 4 == 0) {
    uint32_t max_abs;
#if defined(__ARM_FEATURE_DSP)
    int32_t* we = acc + (size_t)pixels * (size_t)ic;
    if (((uintptr_t)we & 3u) == 0) {
      max_abs = pointwise_s8_extended(s, gh, w, acc, we);
    } else {
      max_abs = pointwise_s8(s, gh, w, acc);
    }
#else
    max_abs = pointwise_s8(s, gh, w, acc);
#endif
    return tflmt_quantize_acc_max_s8(acc, pixels * ic, acc_scale, max_abs, dx, dx_scale);
  }
  for (int32_t e = 0; e < s->in.h * s->in.w * ic; ++e) acc[e] = 0;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      for (int32_t oy = 0; oy < s->out.h; ++oy) {
        const int32_t y = tflmt_tap_row(s, oy, i);
        if (y < 0 || y >= s->in.h) continue;
        for (int32_t ox = 0; ox < s->out.w; ++ox) {
          const int32_t x = tflmt_tap_col(s, ox, j);
          if (x < 0 || x >= s->in.w) continue;
          int32_t* d = acc + (y * s->in.w + x) * ic;
          const int8_t* gp = gh + (oy * s->out.w + ox) * oc;
          for (int32_t o = 0; o < oc; ++o) {
            const int32_t gv = gp[o];
            if (gv == 0) continue;
            const int8_t* wp = w + ((o * s->kh + i) * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) d[c] += gv * wp[c];
          }
        }
      }
    }
  }
  return tflmt_quantize_acc_s8(acc, s->in.h * s->in.w * ic, &acc_scale, 1, dx, dx_scale);
}
