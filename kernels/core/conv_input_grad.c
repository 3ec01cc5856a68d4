/* CONV_2D input gradient: a transposed convolution, written as a scatter.
 * For every tap (i, j) each output pixel's gradient row is spread over the
 * input pixel that tap read, so the float sum of every input element runs over
 * taps in row-major order, then output channels (the spec's order). The int8
 * path folds the per-channel weight scales into the gradient first so one
 * int32 sum serves all channels. */
#include "internal.h"

static int32_t in_row(const tflmt_window* s, int32_t oy, int32_t i) {
  return oy * s->geo.stride_h + i * s->geo.dilation_h - s->geo.pad_top;
}

static int32_t in_col(const tflmt_window* s, int32_t ox, int32_t j) {
  return ox * s->geo.stride_w + j * s->geo.dilation_w - s->geo.pad_left;
}

void tflmt_conv_input_grad_f32(const tflmt_window* s, const float* g, const int8_t* w, const float* w_scales,
                               int32_t n_scales, float* dx) {
  const int32_t ic = s->in.c, oc = s->out.c;
  for (int32_t e = 0; e < s->in.h * s->in.w * ic; ++e) dx[e] = 0.0f;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      for (int32_t oy = 0; oy < s->out.h; ++oy) {
        const int32_t y = in_row(s, oy, i);
        if (y < 0 || y >= s->in.h) continue;
        for (int32_t ox = 0; ox < s->out.w; ++ox) {
          const int32_t x = in_col(s, ox, j);
          if (x < 0 || x >= s->in.w) continue;
          float* d = dx + (y * s->in.w + x) * ic;
          const float* gp = g + (oy * s->out.w + ox) * oc;
          for (int32_t o = 0; o < oc; ++o) {
            const float gv = gp[o];
            if (gv == 0.0f) continue; /* adds exactly nothing */
            const float so = tflmt_scale_at(w_scales, n_scales, o);
            const int8_t* wp = w + ((o * s->kh + i) * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) d[c] += gv * ((float)wp[c] * so);
          }
        }
      }
    }
  }
}

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

size_t tflmt_conv_input_grad_s8_scratch_size(const tflmt_window* s) {
  return align4((size_t)s->out.h * (size_t)s->out.w * (size_t)s->out.c) +
         (size_t)s->in.h * (size_t)s->in.w * (size_t)s->in.c * sizeof(int32_t);
}

tflmt_status tflmt_conv_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* w,
                                      const float* w_scales, int32_t n_scales, int8_t* dx, float* dx_scale,
                                      void* scratch) {
  const int32_t ic = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w;
  int8_t* gh = (int8_t*)scratch;
  int32_t* acc = (int32_t*)((uint8_t*)scratch + align4((size_t)pixels * (size_t)oc));
  const float acc_scale = tflmt_fold_weight_scales(g, pixels, oc, g_scale, w_scales, n_scales, gh);
  for (int32_t e = 0; e < s->in.h * s->in.w * ic; ++e) acc[e] = 0;
  for (int32_t i = 0; i < s->kh; ++i) {
    for (int32_t j = 0; j < s->kw; ++j) {
      for (int32_t oy = 0; oy < s->out.h; ++oy) {
        const int32_t y = in_row(s, oy, i);
        if (y < 0 || y >= s->in.h) continue;
        for (int32_t ox = 0; ox < s->out.w; ++ox) {
          const int32_t x = in_col(s, ox, j);
          if (x < 0 || x >= s->in.w) continue;
          int32_t* d = acc + (y * s->in.w + x) * ic;
          const int8_t* gp = gh + (oy * s->out.w + ox) * oc;
          for (int32_t o = 0; o < oc; ++o) {
            const int32_t gv = gp[o];
            if (gv == 0) continue;
            const int8_t* wp = w + ((o * s->kh + i) * s->kw + j) * ic;
            for (int32_t c = 0; c < ic; ++c) d[c] += gv * wp[c];
          }
        }
      }
    }
  }
  return tflmt_quantize_acc_s8(acc, s->in.h * s->in.w * ic, &acc_scale, 1, dx, dx_scale);
}
