/* Backward of a fan-out (e.g. the residual ADD): the two gradients are summed. */
#include "internal.h"

void tflmt_grad_accum_f32(const float* a, const float* b, int32_t n, float* out) {
  for (int32_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

tflmt_status tflmt_grad_accum_s8(const int8_t* a, float a_scale, const int8_t* b, float b_scale, int32_t n,
                                 int8_t* out, float* out_scale) {
  float m = 0.0f;
  int nonfinite = 0;
  for (int32_t i = 0; i < n; ++i) {
    float v = fabsf((float)a[i] * a_scale + (float)b[i] * b_scale);
    nonfinite |= !isfinite(v);
    if (v > m) m = v;
  }
  if (nonfinite) return TFLMT_NONFINITE;
  *out_scale = m / 127.0f;
  float inv = m == 0.0f ? 0.0f : 127.0f / m;
  for (int32_t i = 0; i < n; ++i) {
    out[i] = m == 0.0f ? 0 : tflmt_sat_s8(((float)a[i] * a_scale + (float)b[i] * b_scale) * inv);
  }
  return TFLMT_OK;
}
