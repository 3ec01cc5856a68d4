/* AVERAGE_POOL_2D int8 forward: the mean of each window's valid inputs, rounded half away from zero. */
#include "forward_internal.h"

void tflmt_avg_pool_s8(const tflmt_window* s, int32_t act_min, int32_t act_max, const int8_t* x, int8_t* y) {
  const int32_t c = s->in.c;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    int32_t r0, r1;
    tflmt_pool_span(oy * s->geo.stride_h - s->geo.pad_top, s->kh, s->in.h, &r0, &r1);
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      int32_t c0, c1;
      tflmt_pool_span(ox * s->geo.stride_w - s->geo.pad_left, s->kw, s->in.w, &c0, &c1);
      const int32_t count = (r1 - r0) * (c1 - c0);
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        for (int32_t r = r0; r < r1; ++r) {
          for (int32_t k = c0; k < c1; ++k) acc += x[((size_t)r * s->in.w + k) * c + ch];
        }
        int32_t v = acc > 0 ? (acc + count / 2) / count : -((-acc + count / 2) / count);
        if (v < act_min) v = act_min;
        if (v > act_max) v = act_max;
        *y++ = (int8_t)v;
      }
    }
  }
}
