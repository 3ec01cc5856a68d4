/* MAX_POOL_2D backward: the forward pass records each output's argmax (one byte
 * per output element), so the backward routes gradients without the pool's input
 * or output; each output's gradient is added at its argmax (outputs in row-major
 * order, so overlapping windows sum in the spec's order). */
#include "forward_internal.h"
#include "internal.h"

void tflmt_max_pool_argmax_s8(const tflmt_window* s, const int8_t* x, uint8_t* idx) {
  const int32_t c = s->in.c;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t top = oy * s->geo.stride_h - s->geo.pad_top;
    int32_t r0, r1;
    tflmt_pool_span(top, s->kh, s->in.h, &r0, &r1);
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t left = ox * s->geo.stride_w - s->geo.pad_left;
      int32_t c0, c1;
      tflmt_pool_span(left, s->kw, s->in.w, &c0, &c1);
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t best = -129, at = 0;
        for (int32_t r = r0; r < r1; ++r) {
          for (int32_t k = c0; k < c1; ++k) {
            const int32_t v = x[((size_t)r * s->in.w + k) * c + ch];
            if (v > best) best = v, at = (r - top) * s->kw + (k - left);  /* strict: the first maximum */
          }
        }
        *idx++ = (uint8_t)at;
      }
    }
  }
}

/* TFLMT_BAD_ARG if an argmax byte names a position outside its window's inputs (a corrupt graph:
 * our argmax op never does); dx is then zeros or partly routed, nothing outside it is written. */
static tflmt_status route(const tflmt_window* s, const uint8_t* idx, const int8_t* gq, const float* gf,
                          float g_scale, float* dx) {
  const int32_t c = s->in.c;
  for (int32_t i = 0; i < s->in.h * s->in.w * c; ++i) dx[i] = 0.0f;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t base = (oy * s->out.w + ox) * c;
      for (int32_t ch = 0; ch < c; ++ch) {
        const int32_t at = idx[base + ch];
        const int32_t y = oy * s->geo.stride_h - s->geo.pad_top + at / s->kw;
        const int32_t x = ox * s->geo.stride_w - s->geo.pad_left + at % s->kw;
        if (at >= s->kh * s->kw || y < 0 || y >= s->in.h || x < 0 || x >= s->in.w) return TFLMT_BAD_ARG;
        dx[((size_t)y * s->in.w + x) * c + ch] += gf ? gf[base + ch] : (float)gq[base + ch] * g_scale;
      }
    }
  }
  return TFLMT_OK;
}

tflmt_status tflmt_max_pool_grad_f32(const tflmt_window* s, const float* g, const uint8_t* idx, float* dx) {
  return route(s, idx, 0, g, 0.0f, dx);
}

size_t tflmt_max_pool_grad_s8_scratch_size(const tflmt_window* s) {
  return (size_t)s->in.h * (size_t)s->in.w * (size_t)s->in.c * sizeof(float);
}

tflmt_status tflmt_max_pool_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, const uint8_t* idx,
                                    int8_t* dx, float* dx_scale, void* scratch) {
  float* d = (float*)scratch;
  const tflmt_status st = route(s, idx, g, 0, g_scale, d);
  return st != TFLMT_OK ? st : tflmt_quantize_grad_s8(d, s->in.h * s->in.w * s->in.c, dx, dx_scale);
}
