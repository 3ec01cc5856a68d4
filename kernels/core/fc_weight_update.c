/* FULLY_CONNECTED weight gradient (an outer product) fused with the SGD
 * update. Rows with a zero output gradient move no weight and are skipped. */
#include "internal.h"

/* Row o's update: x element n's gradient is gv * ((x[n] - zp) * scale) in float32, or
 * (gv_i * (x[n] - zp)) * scale from an int8 gradient (gv_i != 0 selects it: a constant 0 in
 * the float32 instance; `map`'s NULL-ness is a constant at each call). */
static TFLMT_ALWAYS_INLINE void fc_row(int8_t* w, int8_t* res, uint32_t row0, int32_t in_n, const int8_t* x, tflmt_quant xq,
                                       float gv, int32_t gv_i, float scale, const tflmt_channel_map* map, float qas,
                                       float lr, int stochastic, uint32_t stream) {
  for (int32_t n = 0; n < in_n; ++n) {
    const uint32_t idx = row0 + (uint32_t)tflmt_map_index(map, n);
    const float grad = gv_i ? (float)(gv_i * ((int32_t)x[n] - xq.zero_point)) * scale
                            : gv * ((float)((int32_t)x[n] - xq.zero_point) * xq.scale);
    tflmt_weight_step(w, res, idx, grad, qas, lr, stochastic, stream);
  }
}

static TFLMT_ALWAYS_INLINE void fc_update(int32_t out_n, int32_t in_n, const float* g, const int8_t* g_i, float scale,
                                          const int8_t* x, tflmt_quant xq, const float* qas,
                                          const tflmt_channel_map* map, const tflmt_sgd* sgd, int8_t* w) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const float lr = sgd->learning_rate;
  for (int32_t o = 0; o < out_n; ++o) {
    const float gv = g ? g[o] : 0.0f;
    const int32_t gv_i = g_i ? g_i[o] : 0;
    if (g ? gv == 0.0f : gv_i == 0) continue;
    const uint32_t row0 = (uint32_t)(o * tflmt_map_channels(map, in_n));
    if (sgd->residual) { /* its own instance: the common case below tests nothing per weight */
      fc_row(w, sgd->residual, row0, in_n, x, xq, gv, gv_i, scale, map, qas[o], lr, sgd->stochastic, stream);
    } else if (map) {
      fc_row(w, NULL, row0, in_n, x, xq, gv, gv_i, scale, map, qas[o], lr, sgd->stochastic, stream);
    } else {
      fc_row(w, NULL, row0, in_n, x, xq, gv, gv_i, scale, NULL, qas[o], lr, sgd->stochastic, stream);
    }
  }
}

tflmt_status tflmt_fc_weight_update_f32(int32_t out_n, int32_t in_n, const float* g, const int8_t* x,
                                        tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                        const tflmt_sgd* sgd, int8_t* w) {
  fc_update(out_n, in_n, g, NULL, 0.0f, x, xq, qas, channels, sgd, w);
  return TFLMT_OK;
}

tflmt_status tflmt_fc_weight_update_s8(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                       const int8_t* x, tflmt_quant xq, const float* qas,
                                       const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  fc_update(out_n, in_n, NULL, g, g_scale * xq.scale, x, xq, qas, channels, sgd, w);
  return TFLMT_OK;
}
