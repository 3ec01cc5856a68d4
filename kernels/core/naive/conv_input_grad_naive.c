/* Naive CONV_2D input gradient: a gather per input element (taps, then output
 * channels). The int8 path sums twice (for the scale, then to quantize)
 * instead of keeping int32 sums: it needs no scratch. */
#include "naive_common.h"

void tflmt_conv_input_grad_f32_naive(const tflmt_window* s, const float* g, const int8_t* w,
                                     const float* w_scales, int32_t n_scales, float* dx) {
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        float acc = 0.0f;
        for (int32_t i = 0; i < s->kh; ++i) {
          const int32_t oy = tflmt_naive_source(y, i, s->geo.stride_h, s->geo.dilation_h, s->geo.pad_top, s->out.h);
          if (oy < 0) continue;
          for (int32_t j = 0; j < s->kw; ++j) {
            const int32_t ox =
                tflmt_naive_source(x, j, s->geo.stride_w, s->geo.dilation_w, s->geo.pad_left, s->out.w);
            if (ox < 0) continue;
            for (int32_t o = 0; o < s->out.c; ++o) {
              const float wr = (float)w[((o * s->kh + i) * s->kw + j) * s->in.c + c] *
                               tflmt_scale_at(w_scales, n_scales, o);
              acc += g[(oy * s->out.w + ox) * s->out.c + o] * wr;
            }
          }
        }
        dx[(y * s->in.w + x) * s->in.c + c] = acc;
      }
}

static int32_t gather_s8(const tflmt_window* s, const int8_t* g, const int8_t* w, const float* w_scales,
                         int32_t n_scales, float smax, int32_t y, int32_t x, int32_t c) {
  int32_t acc = 0;
  for (int32_t i = 0; i < s->kh; ++i) {
    const int32_t oy = tflmt_naive_source(y, i, s->geo.stride_h, s->geo.dilation_h, s->geo.pad_top, s->out.h);
    if (oy < 0) continue;
    for (int32_t j = 0; j < s->kw; ++j) {
      const int32_t ox = tflmt_naive_source(x, j, s->geo.stride_w, s->geo.dilation_w, s->geo.pad_left, s->out.w);
      if (ox < 0) continue;
      for (int32_t o = 0; o < s->out.c; ++o) {
        const int32_t gh = tflmt_sat_s8((float)g[(oy * s->out.w + ox) * s->out.c + o] *
                                        (tflmt_scale_at(w_scales, n_scales, o) / smax));
        acc += gh * w[((o * s->kh + i) * s->kw + j) * s->in.c + c];
      }
    }
  }
  return acc;
}

tflmt_status tflmt_conv_input_grad_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                            const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                            float* dx_scale, void* scratch) {
  (void)scratch;
  float smax = w_scales[0];
  for (int32_t o = 1; o < n_scales; ++o) smax = w_scales[o] > smax ? w_scales[o] : smax;
  const float acc_scale = g_scale * smax;
  float m = 0.0f;
  int nonfinite = 0;
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        const float v = fabsf((float)gather_s8(s, g, w, w_scales, n_scales, smax, y, x, c) * acc_scale);
        nonfinite |= !isfinite(v);
        if (v > m) m = v;
      }
  if (nonfinite) return TFLMT_NONFINITE;
  *dx_scale = m / 127.0f;
  const float inv = m == 0.0f ? 0.0f : 127.0f / m;
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        const float v = (float)gather_s8(s, g, w, w_scales, n_scales, smax, y, x, c) * acc_scale;
        dx[(y * s->in.w + x) * s->in.c + c] = m == 0.0f ? 0 : tflmt_sat_s8(v * inv);
      }
  return TFLMT_OK;
}
