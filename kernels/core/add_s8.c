/* ADD int8 forward: both inputs rescaled to a common 2^-20-finer scale, summed, requantized.
 * Each rescale is TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (no left shift), in the
 * folded one-multiply form where it applies. */
#include "forward_internal.h"

static tflmt_channel_requant smaller_than_one(int32_t multiplier, int32_t shift) {
  return tflmt_unpack_multiplier(multiplier, shift > 0 ? 0 : shift);
}

void tflmt_add_s8(const tflmt_add_params* p, const int8_t* x1, const int8_t* x2, int32_t n, int8_t* y) {
  const tflmt_channel_requant r1 = smaller_than_one(p->multiplier1, p->shift1);
  const tflmt_channel_requant r2 = smaller_than_one(p->multiplier2, p->shift2);
  const tflmt_channel_requant ro = smaller_than_one(p->out_multiplier, p->out_shift);
  const int32_t scale_in = 1 << p->left_shift;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t a = tflmt_apply_multiplier((x1[i] - p->zero_point1) * scale_in, &r1);
    const int32_t b = tflmt_apply_multiplier((x2[i] - p->zero_point2) * scale_in, &r2);
    int32_t v = tflmt_apply_multiplier(a + b, &ro) + p->out_zero_point;
    if (v < p->act_min) v = p->act_min;
    if (v > p->act_max) v = p->act_max;
    y[i] = (int8_t)v;
  }
}
