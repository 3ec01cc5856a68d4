/* AVERAGE_POOL_2D backward: each output's gradient, divided by its window's
 * count of valid inputs, is added to that window (outputs in row-major order). */
#include "forward_internal.h"
#include "internal.h"

static void scatter(const tflmt_window* s, const int8_t* gq, const float* gf, float g_scale, float* dx) {
  const int32_t c = s->in.c;
  for (int32_t i = 0; i < s->in.h * s->in.w * c; ++i) dx[i] = 0.0f;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    int32_t y0, y1;
    tflmt_pool_span(oy * s->geo.stride_h - s->geo.pad_top, s->kh, s->in.h, &y0, &y1);
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      int32_t x0, x1;
      tflmt_pool_span(ox * s->geo.stride_w - s->geo.pad_left, s->kw, s->in.w, &x0, &x1);
      const float count = (float)((y1 - y0) * (x1 - x0));
      const int32_t base = (oy * s->out.w + ox) * c;
      for (int32_t y = y0; y < y1; ++y) {
        for (int32_t x = x0; x < x1; ++x) {
          float* d = dx + (y * s->in.w + x) * c;
          for (int32_t k = 0; k < c; ++k) {
            float gv = gf ? gf[base + k] : (float)gq[base + k] * g_scale;
            d[k] += gv / count;
          }
        }
      }
    }
  }
}

void tflmt_avg_pool_grad_f32(const tflmt_window* s, const float* g, float* dx) { scatter(s, 0, g, 0.0f, dx); }

size_t tflmt_avg_pool_grad_s8_scratch_size(const tflmt_window* s) {
  return (size_t)s->in.h * (size_t)s->in.w * (size_t)s->in.c * sizeof(float);
}

tflmt_status tflmt_avg_pool_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, int8_t* dx,
                                    float* dx_scale, void* scratch) {
  float* d = (float*)scratch;
  scatter(s, g, 0, g_scale, d);
  return tflmt_quantize_grad_s8(d, s->in.h * s->in.w * s->in.c, dx, dx_scale);
}
