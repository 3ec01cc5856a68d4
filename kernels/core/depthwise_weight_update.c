/* DEPTHWISE_CONV_2D weight gradient fused with the SGD update. The whole
 * gradient [kh, kw, c] is small (one filter per channel) and is accumulated
 * pixel by pixel with contiguous channel loops. */
#include "internal.h"

size_t tflmt_depthwise_weight_update_scratch_size(const tflmt_window* s) {
  return (size_t)s->kh * (size_t)s->kw * (size_t)s->in.c * 4u;
}

/* The SGD step of every trained weight from its float gradient acc [kh, kw, x channels]. */
static tflmt_status update_f32(const tflmt_window* s, const float* acc, const float* qas,
                               const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  for (int32_t e = 0; e < kc; ++e) {
    const int32_t k = tflmt_map_index(channels, e % c);
    const uint32_t idx = (uint32_t)((e / c) * gc + k);
    w[idx] = tflmt_sgd_weight(w[idx], acc[e], qas[k], sgd, stream, idx);
  }
  return TFLMT_OK;
}

/* Float path without a channel map: tap by tap, 8 channels' sums in registers over every
 * output pixel in raster order, which is each sum's order in the scatter below. */
static void tap_sums_f32(const tflmt_window* s, int32_t i, int32_t j, int32_t c0, const float* g, const int8_t* x,
                         tflmt_quant xq, float* acc) {
  const int32_t c = s->in.c;
  float a[8] = {0.0f};
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t y = tflmt_tap_row(s, oy, i);
    if (y < 0 || y >= s->in.h) continue;
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t xx = tflmt_tap_col(s, ox, j);
      if (xx < 0 || xx >= s->in.w) continue;
      const int8_t* xp = x + (y * s->in.w + xx) * c + c0;
      const float* gp = g + (oy * s->out.w + ox) * c + c0;
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) a[k] += gp[k] * ((float)((int32_t)xp[k] - xq.zero_point) * xq.scale);
    }
  }
  float* out = acc + (i * s->kw + j) * c + c0;
  TFLMT_UNROLL8
  for (int32_t k = 0; k < 8; ++k) out[k] = a[k];
}

tflmt_status tflmt_depthwise_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x,
                                               tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                               const tflmt_sgd* sgd, int8_t* w, void* scratch) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  float* acc = (float*)scratch;
  if (!channels && c % 8 == 0) {
    for (int32_t i = 0; i < s->kh; ++i) {
      for (int32_t j = 0; j < s->kw; ++j) {
        for (int32_t c0 = 0; c0 < c; c0 += 8) tap_sums_f32(s, i, j, c0, g, x, xq, acc);
      }
    }
    return update_f32(s, acc, qas, channels, sgd, w);
  }
  for (int32_t e = 0; e < kc; ++e) acc[e] = 0.0f;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t i = 0; i < s->kh; ++i) {
      const int32_t y = tflmt_tap_row(s, oy, i);
      if (y < 0 || y >= s->in.h) continue;
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const float* gp = g + (oy * s->out.w + ox) * gc;
        for (int32_t j = 0; j < s->kw; ++j) {
          const int32_t xx = tflmt_tap_col(s, ox, j);
          if (xx < 0 || xx >= s->in.w) continue;
          const int8_t* xp = x + (y * s->in.w + xx) * c;
          float* a = acc + (i * s->kw + j) * c;
          for (int32_t k = 0; k < c; ++k) {
            a[k] += gp[tflmt_map_index(channels, k)] * ((float)((int32_t)xp[k] - xq.zero_point) * xq.scale);
          }
        }
      }
    }
  }
  return update_f32(s, acc, qas, channels, sgd, w);
}

tflmt_status tflmt_depthwise_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                              const int8_t* x, tflmt_quant xq, const float* qas,
                                              const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w,
                                              void* scratch) {
  const int32_t c = s->in.c, gc = s->out.c, kc = s->kh * s->kw * c;
  int32_t* acc = (int32_t*)scratch;
  for (int32_t e = 0; e < kc; ++e) acc[e] = 0;
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    for (int32_t i = 0; i < s->kh; ++i) {
      const int32_t y = tflmt_tap_row(s, oy, i);
      if (y < 0 || y >= s->in.h) continue;
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const int8_t* gp = g + (oy * s->out.w + ox) * gc;
        for (int32_t j = 0; j < s->kw; ++j) {
          const int32_t xx = tflmt_tap_col(s, ox, j);
          if (xx < 0 || xx >= s->in.w) continue;
          const int8_t* xp = x + (y * s->in.w + xx) * c;
          int32_t* a = acc + (i * s->kw + j) * c;
          for (int32_t k = 0; k < c; ++k) {
            a[k] += (int32_t)gp[tflmt_map_index(channels, k)] * ((int32_t)xp[k] - xq.zero_point);
          }
        }
      }
    }
  }
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const float acc_scale = g_scale * xq.scale;
  for (int32_t e = 0; e < kc; ++e) {
    const int32_t k = tflmt_map_index(channels, e % c);
    const uint32_t idx = (uint32_t)((e / c) * gc + k);
    w[idx] = tflmt_sgd_weight(w[idx], (float)acc[e] * acc_scale, qas[k], sgd, stream, idx);
  }
  return TFLMT_OK;
}
