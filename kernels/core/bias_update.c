/* Bias gradient (sum over positions, per channel) fused with its SGD update. */
#include "internal.h"

tflmt_status tflmt_bias_update_f32(const float* g, int32_t rows, int32_t channels, const float* qas,
                                   const tflmt_sgd* sgd, int32_t* bias) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t c = 0; c < channels; ++c) {
    float acc = 0.0f;
    for (int32_t r = 0; r < rows; ++r) acc += g[r * channels + c];
    bias[c] = tflmt_sgd_bias(bias[c], acc, qas[c], sgd, stream, (uint32_t)c);
  }
  return TFLMT_OK;
}

tflmt_status tflmt_bias_update_s8(const int8_t* g, float g_scale, int32_t rows, int32_t channels,
                                  const float* qas, const tflmt_sgd* sgd, int32_t* bias) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t c = 0; c < channels; ++c) {
    int32_t acc = 0;
    for (int32_t r = 0; r < rows; ++r) acc += g[r * channels + c];
    bias[c] = tflmt_sgd_bias(bias[c], (float)acc * g_scale, qas[c], sgd, stream, (uint32_t)c);
  }
  return TFLMT_OK;
}
