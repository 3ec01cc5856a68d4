/* DEPTHWISE_CONV_2D input gradient: per channel, a transposed convolution,
 * scattered tap by tap (float order per element: taps in row-major order). In float32,
 * each tap's dequantized weights for 8 channels are formed once and kept in registers
 * over all pixels (tap_block), which walks only the output columns whose tap lands inside the
 * input. On DSP cores the int8 path gathers instead (gather_s8): integer sums in any order are
 * the same. */
#include "forward_internal.h"

#if TFLMT_VFP_ASM
/* tap_block's row of `cols` >= 1 output pixels for 8 channels on ARM VFP: the weights stay in
 * s0-s7, and each pixel is one VLDM of dx's 8 sums, one of g's 8 values, 8 VMLA.F32 (the spec's
 * multiply then add, tflmt_mla) and one VSTM; dx and g advance by d_step and c floats. */
static void tap_row8_vfp(float* d, int32_t d_step, const float* gp, int32_t c, const float* wr, int32_t cols) {
  const int32_t d_bytes = d_step * 4, g_bytes = c * 4;
  __asm__ volatile(
      "vldm %[w], {s0-s7}\n\t"
      "1:\n\t"
      "vldm %[d], {s8-s15}\n\t"
      "vldm %[g], {s16-s23}\n\t"
      "vmla.f32 s8, s16, s0\n\t"
      "vmla.f32 s9, s17, s1\n\t"
      "vmla.f32 s10, s18, s2\n\t"
      "vmla.f32 s11, s19, s3\n\t"
      "vmla.f32 s12, s20, s4\n\t"
      "vmla.f32 s13, s21, s5\n\t"
      "vmla.f32 s14, s22, s6\n\t"
      "vmla.f32 s15, s23, s7\n\t"
      "vstm %[d], {s8-s15}\n\t"
      "add %[d], %[d], %[ds]\n\t"
      "add %[g], %[g], %[gs]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [d] "+r"(d), [g] "+r"(gp), [n] "+r"(cols)
      : [w] "r"(wr), [ds] "r"(d_bytes), [gs] "r"(g_bytes)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
        "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}
#endif

/* One tap of channels [c0, c0 + n), n <= 8: their dequantized weights stay in registers while
 * the tap sweeps every output pixel (one multiply and one add per element, as in the plain
 * scatter). n is a constant 8 at the main call, so that loop unrolls. */
static TFLMT_ALWAYS_INLINE void tap_block(const tflmt_window* s, int32_t i, int32_t j, int32_t c0, int32_t n,
                                          const float* g, const float* wq, float* dx) {
  const int32_t c = s->in.c;
  /* A local copy: gcc then keeps the weights in registers (reading wq directly costs 5 % more
   * instructions on a Cortex-M7). Entries past n are never read. */
  float wr[8] = {0.0f};
  TFLMT_UNROLL8
  for (int32_t k = 0; k < n; ++k) wr[k] = wq[k];
  int32_t lo, hi;
  tflmt_tap_cols(s, j, &lo, &hi);
  const int32_t d_step = s->geo.stride_w * c;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t y = tflmt_tap_row(s, oy, i);
    if (y < 0 || y >= s->in.h) continue;
    float* d = dx + (y * s->in.w + tflmt_tap_col(s, lo, j)) * c + c0;
    const float* gp = g + (oy * s->out.w + lo) * c + c0;
#if TFLMT_VFP_ASM
    if (n == 8 && hi > lo) {
      tap_row8_vfp(d, d_step, gp, c, wr, hi - lo);
      continue;
    }
#endif
    for (int32_t ox = lo; ox < hi; ++ox, d += d_step, gp += c) {
      TFLMT_UNROLL8
      for (int32_t k = 0; k < n; ++k) d[k] = tflmt_mla(d[k], gp[k], wr[k]);
    }
  }
}

void tflmt_depthwise_input_grad_f32(const tflmt_window* s, const float* g, const int8_t* w,
                                    const float* w_scales, int32_t n_scales, float* dx) {
  const int32_t c = s->in.c;
  for (int32_t e = 0; e < s->in.h * s->in.w * c; ++e) dx[e] = 0.0f;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      const int8_t* wp = w + (i * s->kw + j) * c;
      for (int32_t c0 = 0; c0 < c; c0 += 8) {
        float wq[8];
        const int32_t n = c - c0 < 8 ? c - c0 : 8;
        for (int32_t k = 0; k < n; ++k) wq[k] = (float)wp[c0 + k] * tflmt_scale_at(w_scales, n_scales, c0 + k);
        if (n == 8) {
          tap_block(s, i, j, c0, 8, g, wq, dx);
        } else {
          tap_block(s, i, j, c0, n, g, wq, dx);
        }
      }
    }
  }
}

size_t tflmt_depthwise_input_grad_s8_scratch_size(const tflmt_window* s) {
  return (size_t)s->in.c * sizeof(float) + (size_t)s->in.h * (size_t)s->in.w * (size_t)s->in.c * sizeof(int32_t);
}

#if defined(__ARM_FEATURE_DSP)
#define TFLMT_DW_GATHER_MAX_K 7

/* The int8 path as a gather on DSP cores: integer sums, so any order gives the same int32, and
 * each input element's sum over the taps that reach it stays in registers, 4 channels at a time
 * (SMLABB / SMLATT): no load and store of a sum per multiply-add, and no zeroing pass. (A host
 * compiler vectorises the scatter's channel loop instead, which the gather's taps defeat.) */
static void gather_s8(const tflmt_window* s, const int8_t* g, const int8_t* w, int32_t* acc) {
  const int32_t c = s->in.c, c4 = c & ~3;
  int32_t ti[TFLMT_DW_GATHER_MAX_K], oi[TFLMT_DW_GATHER_MAX_K], tj[TFLMT_DW_GATHER_MAX_K], oj[TFLMT_DW_GATHER_MAX_K];
  for (int32_t y = 0; y < s->in.h; ++y) {
    const int32_t nr = tflmt_taps_onto(y, s->kh, s->geo.stride_h, s->geo.dilation_h, s->geo.pad_top, s->out.h, ti, oi);
    for (int32_t x = 0; x < s->in.w; ++x) {
      const int32_t nc = tflmt_taps_onto(x, s->kw, s->geo.stride_w, s->geo.dilation_w, s->geo.pad_left, s->out.w, tj, oj);
      int32_t* d = acc + ((size_t)y * s->in.w + x) * c;
      for (int32_t k = 0; k < c4; k += 4) {
        int32_t a[4] = {0, 0, 0, 0};
        for (int32_t r = 0; r < nr; ++r) {
          const int8_t* gr = g + (size_t)oi[r] * s->out.w * c + k;
          const int8_t* wr = w + (size_t)ti[r] * s->kw * c + k;
          for (int32_t q = 0; q < nc; ++q) {
            const int8_t* gp = gr + (size_t)oj[q] * c;
            const int8_t* wp = wr + (size_t)tj[q] * c;
            const uint32_t gv = tflmt_load32(gp), wv = tflmt_load32(wp);
            tflmt_smla4(__sxtb16(gv), tflmt_sxtb16_odd(gv), __sxtb16(wv), tflmt_sxtb16_odd(wv), a);
          }
        }
        d[k] = a[0];
        d[k + 1] = a[1];
        d[k + 2] = a[2];
        d[k + 3] = a[3];
      }
      for (int32_t k = c4; k < c; ++k) { /* the last c % 4 channels */
        int32_t a = 0;
        for (int32_t r = 0; r < nr; ++r) {
          for (int32_t q = 0; q < nc; ++q) {
            a += g[((size_t)oi[r] * s->out.w + oj[q]) * c + k] * w[((size_t)ti[r] * s->kw + tj[q]) * c + k];
          }
        }
        d[k] = a;
      }
    }
  }
}
#endif

tflmt_status tflmt_depthwise_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                           const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                           float* dx_scale, void* scratch) {
  const int32_t c = s->in.c;
  float* per_c = (float*)scratch;
  int32_t* acc = (int32_t*)(per_c + c);
  for (int32_t k = 0; k < c; ++k) per_c[k] = g_scale * tflmt_scale_at(w_scales, n_scales, k);
#if defined(__ARM_FEATURE_DSP)
  if (s->kh <= TFLMT_DW_GATHER_MAX_K && s->kw <= TFLMT_DW_GATHER_MAX_K) {
    gather_s8(s, g, w, acc);
    return tflmt_quantize_acc_s8(acc, s->in.h * s->in.w * c, per_c, c, dx, dx_scale);
  }
#endif
  for (int32_t e = 0; e < s->in.h * s->in.w * c; ++e) acc[e] = 0;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      const int8_t* wp = w + (i * s->kw + j) * c;
      for (int32_t oy = 0; oy < s->out.h; ++oy) {
        const int32_t y = tflmt_tap_row(s, oy, i);
        if (y < 0 || y >= s->in.h) continue;
        for (int32_t ox = 0; ox < s->out.w; ++ox) {
          const int32_t x = tflmt_tap_col(s, ox, j);
          if (x < 0 || x >= s->in.w) continue;
          int32_t* d = acc + (y * s->in.w + x) * c;
          const int8_t* gp = g + (oy * s->out.w + ox) * c;
          for (int32_t k = 0; k < c; ++k) d[k] += (int32_t)gp[k] * wp[k];
        }
      }
    }
  }
  return tflmt_quantize_acc_s8(acc, s->in.h * s->in.w * c, per_c, c, dx, dx_scale);
}
