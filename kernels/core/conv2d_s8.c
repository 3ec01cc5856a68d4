/* CONV_2D int8 forward: the loop order keeps the input channels innermost, so
 * every tap is one contiguous dot product of x and w; taps that fall into the
 * padding are skipped (they contribute (zero_point - zero_point) * w = 0). */
#include "forward_internal.h"

void tflmt_conv2d_s8(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                     const int32_t* bias, int8_t* y) {
  const int32_t ic = s->in.c, oc = s->out.c, kh = s->kh, kw = s->kw;
  const int32_t offset = -q->in_zero_point;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t y0 = oy * s->geo.stride_h - s->geo.pad_top;
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t x0 = ox * s->geo.stride_w - s->geo.pad_left;
      for (int32_t o = 0; o < oc; ++o) {
        int32_t acc = 0;
        const int8_t* wo = w + (size_t)o * kh * kw * ic;
        for (int32_t i = 0; i < kh; ++i) {
          const int32_t iy = y0 + i * s->geo.dilation_h;
          if (iy < 0 || iy >= s->in.h) continue;
          for (int32_t j = 0; j < kw; ++j) {
            const int32_t ix = x0 + j * s->geo.dilation_w;
            if (ix < 0 || ix >= s->in.w) continue;
            acc += tflmt_dot_s8(x + ((size_t)iy * s->in.w + ix) * ic, wo + ((size_t)i * kw + j) * ic, ic, offset);
          }
        }
        if (bias) acc += bias[o];
        *y++ = tflmt_requant_one(acc, q, o);
      }
    }
  }
}
