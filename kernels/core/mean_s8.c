/* MEAN over H and W, int8 (reference_integer_ops::Mean). */
#include "forward_internal.h"

void tflmt_mean_hw_s8(tflmt_shape3 in, const tflmt_mean_params* p, const int8_t* x, int8_t* y) {
  const int32_t pixels = in.h * in.w;
  for (int32_t ch = 0; ch < in.c; ++ch) {
    int32_t acc = 0;
    for (int32_t k = 0; k < pixels; ++k) acc += x[(size_t)k * in.c + ch] - p->in_zero_point;
    int32_t v = tflmt_mbqm(acc, p->multiplier, p->shift) + p->out_zero_point;
    if (v < -128) v = -128;
    if (v > 127) v = 127;
    y[ch] = (int8_t)v;
  }
}
