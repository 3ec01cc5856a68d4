/* MEAN over height and width, backward: the gradient spread evenly. */
#include "internal.h"

void tflmt_mean_grad_f32(tflmt_shape3 in, const float* g, float* dx) {
  const float n = (float)(in.h * in.w);
  for (int32_t p = 0; p < in.h * in.w; ++p) {
    for (int32_t c = 0; c < in.c; ++c) dx[p * in.c + c] = g[c] / n;
  }
}

void tflmt_mean_grad_s8(tflmt_shape3 in, const int8_t* g, float g_scale, int8_t* dx, float* dx_scale) {
  for (int32_t p = 0; p < in.h * in.w; ++p) {
    for (int32_t c = 0; c < in.c; ++c) dx[p * in.c + c] = g[c];
  }
  *dx_scale = g_scale / (float)(in.h * in.w);
}
