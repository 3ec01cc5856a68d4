/* FULLY_CONNECTED weight gradient (an outer product) fused with the SGD
 * update. Rows with a zero output gradient move no weight and are skipped. */
#include "internal.h"

tflmt_status tflmt_fc_weight_update_f32(int32_t out_n, int32_t in_n, const float* g, const int8_t* x,
                                        tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                        const tflmt_sgd* sgd, int8_t* w) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t o = 0; o < out_n; ++o) {
    const float gv = g[o];
    if (gv == 0.0f) continue;
    const int32_t row0 = o * tflmt_map_channels(channels, in_n);
    for (int32_t n = 0; n < in_n; ++n) {
      const uint32_t idx = (uint32_t)(row0 + tflmt_map_index(channels, n));
      const float xr = (float)((int32_t)x[n] - xq.zero_point) * xq.scale;
      w[idx] = tflmt_sgd_weight(w[idx], gv * xr, qas[o], sgd, stream, idx);
    }
  }
  return TFLMT_OK;
}

tflmt_status tflmt_fc_weight_update_s8(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                       const int8_t* x, tflmt_quant xq, const float* qas,
                                       const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const float acc_scale = g_scale * xq.scale;
  for (int32_t o = 0; o < out_n; ++o) {
    const int32_t gv = g[o];
    if (gv == 0) continue;
    const int32_t row0 = o * tflmt_map_channels(channels, in_n);
    for (int32_t n = 0; n < in_n; ++n) {
      const uint32_t idx = (uint32_t)(row0 + tflmt_map_index(channels, n));
      const float grad = (float)(gv * ((int32_t)x[n] - xq.zero_point)) * acc_scale;
      w[idx] = tflmt_sgd_weight(w[idx], grad, qas[o], sgd, stream, idx);
    }
  }
  return TFLMT_OK;
}
