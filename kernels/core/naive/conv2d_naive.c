/* CONV_2D and DEPTHWISE_CONV_2D int8 forward as the plain loop nest of the definition
 * (the shape of TFLM's reference kernels): the benchmark baseline of the optimised ones. */
#include "../forward_internal.h"

void tflmt_conv2d_s8_naive(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                           const int32_t* bias, int8_t* y) {
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      for (int32_t o = 0; o < s->out.c; ++o) {
        int32_t acc = 0;
        for (int32_t i = 0; i < s->kh; ++i) {
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t iy = oy * s->geo.stride_h - s->geo.pad_top + i * s->geo.dilation_h;
            const int32_t ix = ox * s->geo.stride_w - s->geo.pad_left + j * s->geo.dilation_w;
            if (iy < 0 || iy >= s->in.h || ix < 0 || ix >= s->in.w) continue;
            for (int32_t c = 0; c < s->in.c; ++c) {
              const int32_t xv = x[((size_t)iy * s->in.w + ix) * s->in.c + c];
              const int32_t wv = w[(((size_t)o * s->kh + i) * s->kw + j) * s->in.c + c];
              acc += (xv - q->in_zero_point) * wv;
            }
          }
        }
        if (bias) acc += bias[o];
        y[((size_t)oy * s->out.w + ox) * s->out.c + o] = tflmt_requant_reference(acc, q, o);
      }
    }
  }
}

void tflmt_depthwise_conv2d_s8_naive(const tflmt_window* s, const tflmt_requant* q, const int8_t* x,
                                     const int8_t* w, const int32_t* bias, int8_t* y) {
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      for (int32_t c = 0; c < s->out.c; ++c) {
        int32_t acc = 0;
        for (int32_t i = 0; i < s->kh; ++i) {
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t iy = oy * s->geo.stride_h - s->geo.pad_top + i * s->geo.dilation_h;
            const int32_t ix = ox * s->geo.stride_w - s->geo.pad_left + j * s->geo.dilation_w;
            if (iy < 0 || iy >= s->in.h || ix < 0 || ix >= s->in.w) continue;
            const int32_t xv = x[((size_t)iy * s->in.w + ix) * s->in.c + c];
            acc += (xv - q->in_zero_point) * w[((size_t)i * s->kw + j) * s->in.c + c];
          }
        }
        if (bias) acc += bias[c];
        y[((size_t)oy * s->out.w + ox) * s->out.c + c] = tflmt_requant_reference(acc, q, c);
      }
    }
  }
}
