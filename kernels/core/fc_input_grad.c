/* FULLY_CONNECTED input gradient: dx = W^T g, accumulated row by row (float
 * order per element: output units in order). */
#include "internal.h"

void tflmt_fc_input_grad_f32(int32_t out_n, int32_t in_n, const float* g, const int8_t* w, const float* w_scales,
                             int32_t n_scales, float* dx) {
  for (int32_t n = 0; n < in_n; ++n) dx[n] = 0.0f;
  for (int32_t k = 0; k < out_n; ++k) {
    const float gv = g[k];
    if (gv == 0.0f) continue;
    const float sk = tflmt_scale_at(w_scales, n_scales, k);
    const int8_t* row = w + k * in_n;
    for (int32_t n = 0; n < in_n; ++n) dx[n] += gv * ((float)row[n] * sk);
  }
}

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

size_t tflmt_fc_input_grad_s8_scratch_size(int32_t out_n, int32_t in_n) {
  return align4((size_t)out_n) + (size_t)in_n * sizeof(int32_t);
}

tflmt_status tflmt_fc_input_grad_s8(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale, const int8_t* w,
                                    const float* w_scales, int32_t n_scales, int8_t* dx, float* dx_scale,
                                    void* scratch) {
  int8_t* gh = (int8_t*)scratch;
  int32_t* acc = (int32_t*)((uint8_t*)scratch + align4((size_t)out_n));
  const float acc_scale = tflmt_fold_weight_scales(g, 1, out_n, g_scale, w_scales, n_scales, gh);
  for (int32_t n = 0; n < in_n; ++n) acc[n] = 0;
  for (int32_t k = 0; k < out_n; ++k) {
    const int32_t gv = gh[k];
    if (gv == 0) continue;
    const int8_t* row = w + k * in_n;
    for (int32_t n = 0; n < in_n; ++n) acc[n] += gv * row[n];
  }
  return tflmt_quantize_acc_s8(acc, in_n, &acc_scale, 1, dx, dx_scale);
}
