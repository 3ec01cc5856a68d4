/* MAX_POOL_2D int8 forward: the largest valid input of each window (padding takes no part), clamped. */
#include "forward_internal.h"

void tflmt_max_pool_s8(const tflmt_window* s, int32_t act_min, int32_t act_max, const int8_t* x, int8_t* y) {
  const int32_t c = s->in.c;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    int32_t r0, r1;
    tflmt_pool_span(oy * s->geo.stride_h - s->geo.pad_top, s->kh, s->in.h, &r0, &r1);
    for (int32_t ox = 0; ox < s->out.w; ++ox, y += c) {
      int32_t c0, c1;
      tflmt_pool_span(ox * s->geo.stride_w - s->geo.pad_left, s->kw, s->in.w, &c0, &c1);
      for (int32_t ch = 0; ch < c; ++ch) y[ch] = -128;
      /* channels innermost: each valid input pixel raises all c maxima in one contiguous pass */
      for (int32_t r = r0; r < r1; ++r) {
        for (int32_t k = c0; k < c1; ++k) {
          const int8_t* px = x + ((size_t)r * s->in.w + k) * c;
          for (int32_t ch = 0; ch < c; ++ch) y[ch] = px[ch] > y[ch] ? px[ch] : y[ch];
        }
      }
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t v = y[ch];
        if (v < act_min) v = act_min;
        if (v > act_max) v = act_max;
        y[ch] = (int8_t)v;
      }
    }
  }
}
