/* Naive DEPTHWISE_CONV_2D weight gradient + update: one sum per weight element. */
#include "naive_common.h"

static int32_t x_index(const tflmt_window* s, int32_t oy, int32_t ox, int32_t i, int32_t j, int32_t c) {
  const int32_t y = oy * s->geo.stride_h + i * s->geo.dilation_h - s->geo.pad_top;
  const int32_t x = ox * s->geo.stride_w + j * s->geo.dilation_w - s->geo.pad_left;
  if (y < 0 || y >= s->in.h || x < 0 || x >= s->in.w) return -1;
  return (y * s->in.w + x) * s->in.c + c;
}

tflmt_status tflmt_depthwise_weight_update_f32_naive(const tflmt_window* s, const float* g, const int8_t* x,
                                                     tflmt_quant xq, const float* qas,
                                                     const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                                     int8_t* w, void* scratch) {
  (void)scratch;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t i = 0; i < s->kh; ++i)
    for (int32_t j = 0; j < s->kw; ++j)
      for (int32_t c = 0; c < s->in.c; ++c) {
        float acc = 0.0f;
        for (int32_t oy = 0; oy < s->out.h; ++oy)
          for (int32_t ox = 0; ox < s->out.w; ++ox) {
            const int32_t xi = x_index(s, oy, ox, i, j, c);
            if (xi < 0) continue;
            acc += g[(oy * s->out.w + ox) * s->out.c + tflmt_map_index(channels, c)] * ((float)((int32_t)x[xi] - xq.zero_point) * xq.scale);
          }
        const int32_t k = tflmt_map_index(channels, c);
        const uint32_t idx = (uint32_t)((i * s->kw + j) * s->out.c + k);
        tflmt_weight_step_reference(w, idx, acc, qas[k], sgd, stream);
      }
  return TFLMT_OK;
}

tflmt_status tflmt_depthwise_weight_update_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                                    const int8_t* x, tflmt_quant xq, const float* qas,
                                                    const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                                    int8_t* w, void* scratch) {
  (void)scratch;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t i = 0; i < s->kh; ++i)
    for (int32_t j = 0; j < s->kw; ++j)
      for (int32_t c = 0; c < s->in.c; ++c) {
        int32_t acc = 0;
        for (int32_t oy = 0; oy < s->out.h; ++oy)
          for (int32_t ox = 0; ox < s->out.w; ++ox) {
            const int32_t xi = x_index(s, oy, ox, i, j, c);
            if (xi < 0) continue;
            acc += (int32_t)g[(oy * s->out.w + ox) * s->out.c + tflmt_map_index(channels, c)] * ((int32_t)x[xi] - xq.zero_point);
          }
        const int32_t k = tflmt_map_index(channels, c);
        const uint32_t idx = (uint32_t)((i * s->kw + j) * s->out.c + k);
        tflmt_weight_step_reference(w, idx, (float)acc * (g_scale * xq.scale), qas[k], sgd, stream);
      }
  return TFLMT_OK;
}
