/* DEPTHWISE_CONV_2D int8 forward, depth multiplier 1. */
#include "forward_internal.h"

void tflmt_depthwise_conv2d_s8(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                               const int32_t* bias, int8_t* y) {
  const int32_t c = s->in.c, kh = s->kh, kw = s->kw;
  const int32_t offset = -q->in_zero_point;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t y0 = oy * s->geo.stride_h - s->geo.pad_top;
    /* The valid tap rows of this output row, so the inner loops test nothing. */
    int32_t i0 = 0, i1 = kh;
    while (i0 < kh && y0 + i0 * s->geo.dilation_h < 0) ++i0;
    while (i1 > i0 && y0 + (i1 - 1) * s->geo.dilation_h >= s->in.h) --i1;
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t x0 = ox * s->geo.stride_w - s->geo.pad_left;
      int32_t j0 = 0, j1 = kw;
      while (j0 < kw && x0 + j0 * s->geo.dilation_w < 0) ++j0;
      while (j1 > j0 && x0 + (j1 - 1) * s->geo.dilation_w >= s->in.w) --j1;
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t acc = bias ? bias[ch] : 0;
        for (int32_t i = i0; i < i1; ++i) {
          const int32_t iy = y0 + i * s->geo.dilation_h;
          const int8_t* xr = x + (size_t)iy * s->in.w * c + ch;
          const int8_t* wr = w + (size_t)i * kw * c + ch;
          for (int32_t j = j0; j < j1; ++j) {
            const int32_t ix = x0 + j * s->geo.dilation_w;
            acc += (xr[(size_t)ix * c] + offset) * wr[(size_t)j * c];
          }
        }
        *y++ = tflmt_requant_one(acc, q, ch);
      }
    }
  }
}
