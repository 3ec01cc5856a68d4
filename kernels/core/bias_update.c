/* Bias gradient (sum over positions, per channel) fused with its SGD update. */
#include "internal.h"

/* Eight, then four channels' column sums in registers per pass over the rows; each sum keeps the
 * row order. */
tflmt_status tflmt_bias_update_f32(const float* g, int32_t rows, int32_t channels, const float* qas,
                                   const tflmt_sgd* sgd, int32_t* bias) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  int32_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    const float* p = g + c;
    for (int32_t r = 0; r < rows; ++r, p += channels) {
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) a[k] += p[k];
    }
    for (int32_t k = 0; k < 8; ++k) {
      bias[c + k] = tflmt_sgd_bias(bias[c + k], a[k], qas[c + k], sgd, stream, (uint32_t)(c + k));
    }
  }
  for (; c + 4 <= channels; c += 4) {
    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const float* p = g + c;
    for (int32_t r = 0; r < rows; ++r, p += channels) {
      a[0] += p[0];
      a[1] += p[1];
      a[2] += p[2];
      a[3] += p[3];
    }
    for (int32_t k = 0; k < 4; ++k) {
      bias[c + k] = tflmt_sgd_bias(bias[c + k], a[k], qas[c + k], sgd, stream, (uint32_t)(c + k));
    }
  }
  for (; c < channels; ++c) {
    float acc = 0.0f;
    for (int32_t r = 0; r < rows; ++r) acc += g[r * channels + c];
    bias[c] = tflmt_sgd_bias(bias[c], acc, qas[c], sgd, stream, (uint32_t)c);
  }
  return TFLMT_OK;
}

tflmt_status tflmt_bias_update_s8(const int8_t* g, float g_scale, int32_t rows, int32_t channels,
                                  const float* qas, const tflmt_sgd* sgd, int32_t* bias) {
  const uint32_t stream = tflmt_prng_stream(sgd->seed, sgd->op_uid, sgd->step);
  int32_t c = 0;
  for (; c + 4 <= channels; c += 4) {
    int32_t a[4] = {0, 0, 0, 0};
    const int8_t* p = g + c;
    for (int32_t r = 0; r < rows; ++r, p += channels) {
      a[0] += p[0];
      a[1] += p[1];
      a[2] += p[2];
      a[3] += p[3];
    }
    for (int32_t k = 0; k < 4; ++k) {
      bias[c + k] = tflmt_sgd_bias(bias[c + k], (float)a[k] * g_scale, qas[c + k], sgd, stream, (uint32_t)(c + k));
    }
  }
  for (; c < channels; ++c) {
    int32_t acc = 0;
    for (int32_t r = 0; r < rows; ++r) acc += g[r * channels + c];
    bias[c] = tflmt_sgd_bias(bias[c], (float)acc * g_scale, qas[c], sgd, stream, (uint32_t)c);
  }
  return TFLMT_OK;
}
