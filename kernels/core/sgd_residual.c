/* The int8 weight step with a residual byte per weight: 16-bit update precision for 1 B more per
 * trained weight, so steps far below an LSB accumulate instead of each being a coin flip of a
 * whole LSB. Bit-exact with tflm_train/reference/training.py sgd_step16. */
#include "internal.h"

void tflmt_sgd_step16(int8_t* w, int8_t* r, float grad, float qas, float learning_rate, int stochastic,
                      uint32_t stream, uint32_t index) {
  const float t = ((grad * qas) * learning_rate) * 256.0f; /* in 1/256 LSB; exact scaling */
  const float s = tflmt_clamp_step(tflmt_round_step(t, stochastic, stream, index), 65536.0f);
  int32_t v = (int32_t)*w * 256 + (int32_t)*r - (int32_t)s;
  if (v < TFLMT_WEIGHT_MIN * 256) v = TFLMT_WEIGHT_MIN * 256;
  if (v > TFLMT_WEIGHT_MAX * 256) v = TFLMT_WEIGHT_MAX * 256;
  const int32_t q = (v + 128 + 128 * 256) / 256 - 128; /* round half up (a positive dividend: floor) */
  *w = (int8_t)q;
  *r = (int8_t)(v - q * 256);
}
