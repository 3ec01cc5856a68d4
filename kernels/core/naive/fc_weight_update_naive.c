/* Naive FULLY_CONNECTED weight gradient + update: every element, no skipping. */
#include "naive_common.h"

tflmt_status tflmt_fc_weight_update_f32_naive(int32_t out_n, int32_t in_n, const float* g, const int8_t* x,
                                              tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                              const tflmt_sgd* sgd, int8_t* w) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t o = 0; o < out_n; ++o)
    for (int32_t n = 0; n < in_n; ++n) {
      const float grad = g[o] * ((float)((int32_t)x[n] - xq.zero_point) * xq.scale);
      const uint32_t idx = (uint32_t)(o * tflmt_map_channels(channels, in_n) + tflmt_map_index(channels, n));
      tflmt_weight_step_reference(w, idx, grad, qas[o], sgd, stream);
    }
  return TFLMT_OK;
}

tflmt_status tflmt_fc_weight_update_s8_naive(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                             const int8_t* x, tflmt_quant xq, const float* qas,
                                             const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t o = 0; o < out_n; ++o)
    for (int32_t n = 0; n < in_n; ++n) {
      const int32_t acc = (int32_t)g[o] * ((int32_t)x[n] - xq.zero_point);
      const uint32_t idx = (uint32_t)(o * tflmt_map_channels(channels, in_n) + tflmt_map_index(channels, n));
      tflmt_weight_step_reference(w, idx, (float)acc * (g_scale * xq.scale), qas[o], sgd, stream);
    }
  return TFLMT_OK;
}
