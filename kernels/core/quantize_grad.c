/* Per-tensor int8 quantization of gradients (dynamic scale max|v| / 127). */
#include "internal.h"

static tflmt_status finish_scale(float m, int nonfinite, float* inv, float* scale) {
  if (nonfinite) return TFLMT_NONFINITE;
  *inv = m == 0.0f ? 0.0f : 127.0f / m;
  *scale = m / 127.0f;
  return TFLMT_OK;
}

tflmt_status tflmt_quantize_grad_s8(const float* v, int32_t n, int8_t* q, float* scale) {
  float m = 0.0f, inv;
  int nonfinite = 0;
  for (int32_t i = 0; i < n; ++i) {
    float a = fabsf(v[i]);
    nonfinite |= !isfinite(a);
    if (a > m) m = a;
  }
  tflmt_status st = finish_scale(m, nonfinite, &inv, scale);
  if (st != TFLMT_OK) return st;
  for (int32_t i = 0; i < n; ++i) q[i] = m == 0.0f ? 0 : tflmt_sat_s8(v[i] * inv);
  return TFLMT_OK;
}

/* tflmt_sat_s8 for |v| <= 127 * (1 + 2^-22) (every v * inv below, as |v| <= m, and every
 * weight-scale fold): the rounded value converts exactly, so the clamp can be on the integer. */
static inline int8_t sat_bounded_s8(float v) {
  const int32_t r = (int32_t)rintf(v);
  return (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
}

static tflmt_status quantize_acc_with_max(const int32_t* acc, int32_t n, const float* scales, int32_t period,
                                          float m, int nonfinite, int8_t* q, float* scale) {
  float inv;
  tflmt_status st = finish_scale(m, nonfinite, &inv, scale);
  if (st != TFLMT_OK) return st;
  if (m == 0.0f) {
    for (int32_t i = 0; i < n; ++i) q[i] = 0;
  } else if (!isfinite(inv)) { /* m subnormal: 0 * inv is NaN, which only tflmt_sat_s8 takes as before */
    for (int32_t i = 0; i < n; ++i) q[i] = tflmt_sat_s8(((float)acc[i] * scales[period == 1 ? 0 : i % period]) * inv);
  } else if (period == 1) {
    const float s = scales[0];
    for (int32_t i = 0; i < n; ++i) q[i] = sat_bounded_s8(((float)acc[i] * s) * inv);
  } else {
    for (int32_t base = 0; base < n; base += period) {
      for (int32_t k = 0; k < period && base + k < n; ++k) {
        q[base + k] = sat_bounded_s8(((float)acc[base + k] * scales[k]) * inv);
      }
    }
  }
  return TFLMT_OK;
}

tflmt_status tflmt_quantize_acc_s8(const int32_t* acc, int32_t n, const float* scales, int32_t period, int8_t* q,
                                   float* scale) {
  float m = 0.0f;
  int nonfinite = 0;
  for (int32_t i = 0; i < n; ++i) {
    float a = fabsf((float)acc[i] * scales[period == 1 ? 0 : i % period]);
    nonfinite |= !isfinite(a);
    if (a > m) m = a;
  }
  return quantize_acc_with_max(acc, n, scales, period, m, nonfinite, q, scale);
}

/* With one scale, max |(float)acc * s| is (float)max|acc| * s: int -> float conversion and the
 * product are rounded monotonically in |acc|, so the largest |acc| gives the largest result (and a
 * non-finite product shows in it). */
tflmt_status tflmt_quantize_acc_max_s8(const int32_t* acc, int32_t n, float s, uint32_t max_abs, int8_t* q,
                                       float* scale) {
  const float m = fabsf((float)max_abs * s);
  return quantize_acc_with_max(acc, n, &s, 1, m, !isfinite(m), q, scale);
}

float tflmt_fold_weight_scales(const int8_t* g, int32_t pixels, int32_t channels, float g_scale,
                               const float* w_scales, int32_t n_scales, int8_t* gh) {
  float smax = w_scales[0];
  for (int32_t o = 1; o < n_scales; ++o) {
    if (w_scales[o] > smax) smax = w_scales[o];
  }
  for (int32_t o = 0; o < channels; ++o) { /* channel outermost: one division per channel */
    const float r = tflmt_scale_at(w_scales, n_scales, o) / smax; /* <= 1 for valid scales */
    if (r >= 0.0f && r <= 1.0f) {
      for (int32_t p = 0; p < pixels; ++p) gh[p * channels + o] = sat_bounded_s8((float)g[p * channels + o] * r);
    } else {
      for (int32_t p = 0; p < pixels; ++p) gh[p * channels + o] = tflmt_sat_s8((float)g[p * channels + o] * r);
    }
  }
  return g_scale * smax;
}
