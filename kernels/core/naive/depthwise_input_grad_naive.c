/* Naive DEPTHWISE_CONV_2D input gradient: a gather per input element; the
 * int8 path sums twice instead of keeping int32 sums (no scratch). */
#include "naive_common.h"

static int32_t gather(const tflmt_window* s, const float* gf, const int8_t* gq, const int8_t* w,
                      const float* w_scales, int32_t n_scales, int32_t y, int32_t x, int32_t c, float* facc) {
  int32_t acc = 0;
  *facc = 0.0f;
  for (int32_t i = 0; i < s->kh; ++i) {
    const int32_t oy = tflmt_naive_source(y, i, s->geo.stride_h, s->geo.dilation_h, s->geo.pad_top, s->out.h);
    if (oy < 0) continue;
    for (int32_t j = 0; j < s->kw; ++j) {
      const int32_t ox = tflmt_naive_source(x, j, s->geo.stride_w, s->geo.dilation_w, s->geo.pad_left, s->out.w);
      if (ox < 0) continue;
      const int32_t gi = (oy * s->out.w + ox) * s->in.c + c;
      const int8_t wv = w[(i * s->kw + j) * s->in.c + c];
      if (gf) {
        *facc += gf[gi] * ((float)wv * tflmt_scale_at(w_scales, n_scales, c));
      } else {
        acc += (int32_t)gq[gi] * wv;
      }
    }
  }
  return acc;
}

void tflmt_depthwise_input_grad_f32_naive(const tflmt_window* s, const float* g, const int8_t* w,
                                          const float* w_scales, int32_t n_scales, float* dx) {
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        float acc;
        gather(s, g, 0, w, w_scales, n_scales, y, x, c, &acc);
        dx[(y * s->in.w + x) * s->in.c + c] = acc;
      }
}

tflmt_status tflmt_depthwise_input_grad_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                                 const int8_t* w, const float* w_scales, int32_t n_scales,
                                                 int8_t* dx, float* dx_scale, void* scratch) {
  (void)scratch;
  float m = 0.0f, unused;
  int nonfinite = 0;
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        const float pc = g_scale * tflmt_scale_at(w_scales, n_scales, c);
        const float v = fabsf((float)gather(s, 0, g, w, w_scales, n_scales, y, x, c, &unused) * pc);
        nonfinite |= !isfinite(v);
        if (v > m) m = v;
      }
  if (nonfinite) return TFLMT_NONFINITE;
  *dx_scale = m / 127.0f;
  const float inv = m == 0.0f ? 0.0f : 127.0f / m;
  for (int32_t y = 0; y < s->in.h; ++y)
    for (int32_t x = 0; x < s->in.w; ++x)
      for (int32_t c = 0; c < s->in.c; ++c) {
        const float pc = g_scale * tflmt_scale_at(w_scales, n_scales, c);
        const float v = (float)gather(s, 0, g, w, w_scales, n_scales, y, x, c, &unused) * pc;
        dx[(y * s->in.w + x) * s->in.c + c] = m == 0.0f ? 0 : tflmt_sat_s8(v * inv);
      }
  return TFLMT_OK;
}
