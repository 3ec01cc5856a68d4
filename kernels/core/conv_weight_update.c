/* CONV_2D weight gradient fused with the SGD update.
 *
 * Output channels are processed in blocks of CONV_OB: the input pixel under
 * each tap is converted once and feeds CONV_OB accumulators, and only one
 * block's gradient [CONV_OB, kh, kw, in_c] exists at a time. Zero output
 * gradients (common after ReLU) are skipped; this leaves every float sum
 * bit-identical, since adding 0 * x changes nothing. A 1x1, stride-1 conv
 * without padding takes a direct path (input pixel = output pixel). */
#include "internal.h"

#define CONV_OB 4

size_t tflmt_conv_weight_update_scratch_size(const tflmt_window* s) {
  return (size_t)CONV_OB * (size_t)s->kh * (size_t)s->kw * (size_t)s->in.c * 4u;
}

/* Applies the gradient of output channel o: acc is [taps, x channels]. */
static void update_channel_f32(const tflmt_window* s, int32_t o, const float* acc, const float* qas,
                               const tflmt_channel_map* map, const tflmt_sgd* sgd, uint32_t stream, int8_t* w) {
  const int32_t xc = s->in.c, wc = tflmt_map_channels(map, xc), taps = s->kh * s->kw;
  for (int32_t t = 0; t < taps; ++t) {
    for (int32_t c = 0; c < xc; ++c) {
      const uint32_t idx = (uint32_t)((o * taps + t) * wc + tflmt_map_index(map, c));
      w[idx] = tflmt_sgd_weight(w[idx], acc[t * xc + c], qas[o], sgd, stream, idx);
    }
  }
}

static void update_channel_s8(const tflmt_window* s, int32_t o, const int32_t* acc, float acc_scale,
                              const float* qas, const tflmt_channel_map* map, const tflmt_sgd* sgd,
                              uint32_t stream, int8_t* w) {
  const int32_t xc = s->in.c, wc = tflmt_map_channels(map, xc), taps = s->kh * s->kw;
  for (int32_t t = 0; t < taps; ++t) {
    for (int32_t c = 0; c < xc; ++c) {
      const uint32_t idx = (uint32_t)((o * taps + t) * wc + tflmt_map_index(map, c));
      w[idx] = tflmt_sgd_weight(w[idx], (float)acc[t * xc + c] * acc_scale, qas[o], sgd, stream, idx);
    }
  }
}

tflmt_status tflmt_conv_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x, tflmt_quant xq,
                                          const float* qas, const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                          int8_t* w, void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, kc = s->kh * s->kw * ic;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const int pointwise = tflmt_is_pointwise(s);
  float* acc = (float*)scratch;
  for (int32_t o0 = 0; o0 < oc; o0 += CONV_OB) {
    const int32_t nb = oc - o0 < CONV_OB ? oc - o0 : CONV_OB;
    for (int32_t e = 0; e < nb * kc; ++e) acc[e] = 0.0f;
    int any = 0;
    for (int32_t oy = 0; oy < s->out.h; ++oy) {
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const float* gp = g + (oy * s->out.w + ox) * oc + o0;
        float gv[CONV_OB];
        int nz = 0;
        for (int32_t b = 0; b < nb; ++b) {
          gv[b] = gp[b];
          nz |= gv[b] != 0.0f;
        }
        if (!nz) continue;
        any = 1;
        for (int32_t i = 0; i < s->kh; ++i) {
          const int32_t y = oy * s->geo.stride_h + i * s->geo.dilation_h - s->geo.pad_top;
          if (!pointwise && (y < 0 || y >= s->in.h)) continue;
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t xx = ox * s->geo.stride_w + j * s->geo.dilation_w - s->geo.pad_left;
            if (!pointwise && (xx < 0 || xx >= s->in.w)) continue;
            const int8_t* xp = x + (pointwise ? oy * s->in.w + ox : y * s->in.w + xx) * ic;
            float* a = acc + (i * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) {
              const float xr = (float)((int32_t)xp[c] - xq.zero_point) * xq.scale;
              for (int32_t b = 0; b < nb; ++b) a[b * kc + c] += gv[b] * xr;
            }
          }
        }
      }
    }
    if (!any) continue; /* a zero gradient moves no weight */
    for (int32_t b = 0; b < nb; ++b) update_channel_f32(s, o0 + b, acc + b * kc, qas, channels, sgd, stream, w);
  }
  return TFLMT_OK;
}

tflmt_status tflmt_conv_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* x,
                                         tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                         const tflmt_sgd* sgd, int8_t* w, void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, kc = s->kh * s->kw * ic;
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  const int pointwise = tflmt_is_pointwise(s);
  const float acc_scale = g_scale * xq.scale;
  int32_t* acc = (int32_t*)scratch;
  for (int32_t o0 = 0; o0 < oc; o0 += CONV_OB) {
    const int32_t nb = oc - o0 < CONV_OB ? oc - o0 : CONV_OB;
    for (int32_t e = 0; e < nb * kc; ++e) acc[e] = 0;
    int any = 0;
    for (int32_t oy = 0; oy < s->out.h; ++oy) {
      for (int32_t ox = 0; ox < s->out.w; ++ox) {
        const int8_t* gp = g + (oy * s->out.w + ox) * oc + o0;
        int32_t gv[CONV_OB];
        int nz = 0;
        for (int32_t b = 0; b < nb; ++b) {
          gv[b] = gp[b];
          nz |= gv[b] != 0;
        }
        if (!nz) continue;
        any = 1;
        for (int32_t i = 0; i < s->kh; ++i) {
          const int32_t y = oy * s->geo.stride_h + i * s->geo.dilation_h - s->geo.pad_top;
          if (!pointwise && (y < 0 || y >= s->in.h)) continue;
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t xx = ox * s->geo.stride_w + j * s->geo.dilation_w - s->geo.pad_left;
            if (!pointwise && (xx < 0 || xx >= s->in.w)) continue;
            const int8_t* xp = x + (pointwise ? oy * s->in.w + ox : y * s->in.w + xx) * ic;
            int32_t* a = acc + (i * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) {
              const int32_t xi = (int32_t)xp[c] - xq.zero_point;
              for (int32_t b = 0; b < nb; ++b) a[b * kc + c] += gv[b] * xi;
            }
          }
        }
      }
    }
    if (!any) continue;
    for (int32_t b = 0; b < nb; ++b) {
      update_channel_s8(s, o0 + b, acc + b * kc, acc_scale, qas, channels, sgd, stream, w);
    }
  }
  return TFLMT_OK;
}
