/* Naive ADD int8 forward: TFLM's reference order, each rescale as two roundings. */
#include "../forward_internal.h"

void tflmt_add_s8_naive(const tflmt_add_params* p, const int8_t* x1, const int8_t* x2, int32_t n, int8_t* y) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t a = tflmt_rdbp(tflmt_srdhm((x1[i] - p->zero_point1) * (1 << p->left_shift), p->multiplier1),
                                 -p->shift1);
    const int32_t b = tflmt_rdbp(tflmt_srdhm((x2[i] - p->zero_point2) * (1 << p->left_shift), p->multiplier2),
                                 -p->shift2);
    int32_t v = tflmt_rdbp(tflmt_srdhm(a + b, p->out_multiplier), -p->out_shift) + p->out_zero_point;
    if (v < p->act_min) v = p->act_min;
    if (v > p->act_max) v = p->act_max;
    y[i] = (int8_t)v;
  }
}
