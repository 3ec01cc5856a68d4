/* ReLU / ReLU6 backward: the forward pass keeps 1 bit per element. */
#include "internal.h"

void tflmt_clamp_mask_s8(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask) {
  for (int32_t b = 0; b < (n + 7) / 8; ++b) mask[b] = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (y[i] > act_min && y[i] < act_max) mask[i >> 3] |= (uint8_t)(1u << (i & 7));
  }
}

static int bit(const uint8_t* mask, int32_t i) { return (mask[i >> 3] >> (i & 7)) & 1; }

void tflmt_clamp_grad_f32(const float* g, const uint8_t* mask, int32_t n, float* out) {
  for (int32_t i = 0; i < n; ++i) out[i] = bit(mask, i) ? g[i] : 0.0f;
}

void tflmt_clamp_grad_s8(const int8_t* g, const uint8_t* mask, int32_t n, int8_t* out) {
  for (int32_t i = 0; i < n; ++i) out[i] = bit(mask, i) ? g[i] : 0;
}
