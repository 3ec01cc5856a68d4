/* Softmax cross-entropy from int8 logits: loss and d loss / d real logits.
 * Computed in double with the C library's exp/log (as the spec does), then
 * rounded to float32. exp is evaluated twice rather than buffered: no scratch. */
#include "internal.h"

static double logit(const int8_t* logits, int32_t i, tflmt_quant q) {
  return (double)q.scale * (double)((int32_t)logits[i] - q.zero_point);
}

static tflmt_status softmax_sum(int32_t label, const int8_t* logits, int32_t n, tflmt_quant q, double* m,
                                double* s, float* loss) {
  if (n <= 0 || label < 0 || label >= n) return TFLMT_BAD_ARG;
  *m = logit(logits, 0, q);
  for (int32_t i = 1; i < n; ++i) {
    double z = logit(logits, i, q);
    if (z > *m) *m = z;
  }
  *s = 0.0;
  for (int32_t i = 0; i < n; ++i) *s += exp(logit(logits, i, q) - *m);
  *loss = (float)(log(*s) - (logit(logits, label, q) - *m));
  return TFLMT_OK;
}

/* A logit at an int8 limit passes only a gradient that moves it back inside (descent moves it by
 * -gradient): an outward one cannot change it, and blocking every gradient there (a clamp mask)
 * left a run whose logits had saturated with no way back. */
static float grad_at(const int8_t* logits, int32_t i, int32_t label, tflmt_quant q, double m, double s) {
  float g = (float)(exp(logit(logits, i, q) - m) / s - (i == label ? 1.0 : 0.0));
  if ((logits[i] == 127 && g < 0.0f) || (logits[i] == -128 && g > 0.0f)) return 0.0f;
  return g;
}

tflmt_status tflmt_softmax_ce_f32(int32_t label, const int8_t* logits, int32_t n, tflmt_quant q, float* loss,
                                  float* grad) {
  double m, s;
  tflmt_status st = softmax_sum(label, logits, n, q, &m, &s, loss);
  if (st != TFLMT_OK) return st;
  for (int32_t i = 0; i < n; ++i) grad[i] = grad_at(logits, i, label, q, m, s);
  return TFLMT_OK;
}

tflmt_status tflmt_softmax_ce_s8(int32_t label, const int8_t* logits, int32_t n, tflmt_quant q, float* loss,
                                 int8_t* grad, float* grad_scale) {
  double m, s;
  tflmt_status st = softmax_sum(label, logits, n, q, &m, &s, loss);
  if (st != TFLMT_OK) return st;
  float gmax = 0.0f;
  int nonfinite = 0;
  for (int32_t i = 0; i < n; ++i) {
    float a = fabsf(grad_at(logits, i, label, q, m, s));
    nonfinite |= !isfinite(a);
    if (a > gmax) gmax = a;
  }
  if (nonfinite) return TFLMT_NONFINITE;
  *grad_scale = gmax / 127.0f;
  float inv = gmax == 0.0f ? 0.0f : 127.0f / gmax;
  for (int32_t i = 0; i < n; ++i) grad[i] = gmax == 0.0f ? 0 : tflmt_sat_s8(grad_at(logits, i, label, q, m, s) * inv);
  return TFLMT_OK;
}
