/* Naive FULLY_CONNECTED input gradient: one dot product per input element. */
#include "naive_common.h"

void tflmt_fc_input_grad_f32_naive(int32_t out_n, int32_t in_n, const float* g, const int8_t* w,
                                   const float* w_scales, int32_t n_scales, float* dx) {
  for (int32_t n = 0; n < in_n; ++n) {
    float acc = 0.0f;
    for (int32_t k = 0; k < out_n; ++k) acc += g[k] * ((float)w[k * in_n + n] * tflmt_scale_at(w_scales, n_scales, k));
    dx[n] = acc;
  }
}

static int32_t dot(int32_t out_n, int32_t in_n, const int8_t* g, const int8_t* w, const float* w_scales,
                   int32_t n_scales, float smax, int32_t n) {
  int32_t acc = 0;
  for (int32_t k = 0; k < out_n; ++k) {
    const int32_t gh = tflmt_sat_s8((float)g[k] * (tflmt_scale_at(w_scales, n_scales, k) / smax));
    acc += gh * w[k * in_n + n];
  }
  return acc;
}

tflmt_status tflmt_fc_input_grad_s8_naive(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                          const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                          float* dx_scale, void* scratch) {
  (void)scratch;
  float smax = w_scales[0];
  for (int32_t k = 1; k < n_scales; ++k) smax = w_scales[k] > smax ? w_scales[k] : smax;
  const float acc_scale = g_scale * smax;
  float m = 0.0f;
  int nonfinite = 0;
  for (int32_t n = 0; n < in_n; ++n) {
    const float v = fabsf((float)dot(out_n, in_n, g, w, w_scales, n_scales, smax, n) * acc_scale);
    nonfinite |= !isfinite(v);
    if (v > m) m = v;
  }
  if (nonfinite) return TFLMT_NONFINITE;
  *dx_scale = m / 127.0f;
  const float inv = m == 0.0f ? 0.0f : 127.0f / m;
  for (int32_t n = 0; n < in_n; ++n) {
    const float v = (float)dot(out_n, in_n, g, w, w_scales, n_scales, smax, n) * acc_scale;
    dx[n] = m == 0.0f ? 0 : tflmt_sat_s8(v * inv);
  }
  return TFLMT_OK;
}
