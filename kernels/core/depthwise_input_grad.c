/* DEPTHWISE_CONV_2D input gradient: per channel, a transposed convolution,
 * scattered tap by tap (float order per element: taps in row-major order). In float32,
 * each tap's dequantized weights for 8 channels are formed once and kept in registers
 * over all pixels (tap_block), which walks only the output columns whose tap lands inside the
 * input. */
#include "internal.h"

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

tflmt_status tflmt_depthwise_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                           const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                           float* dx_scale, void* scratch) {
  const int32_t c = s->in.c;
  float* per_c = (float*)scratch;
  int32_t* acc = (int32_t*)(per_c + c);
  for (int32_t k = 0; k < c; ++k) per_c[k] = g_scale * tflmt_scale_at(w_scales, n_scales, k);
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
