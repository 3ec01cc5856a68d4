/* ADD int8 forward: both inputs rescaled to a common 2^-20-finer scale, summed, requantized.
 * Each rescale is TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (no left shift), in the
 * folded one-multiply form where it applies. */
#include "forward_internal.h"

static tflmt_channel_requant smaller_than_one(int32_t multiplier, int32_t shift) {
  return tflmt_unpack_multiplier(multiplier, shift > 0 ? 0 : shift);
}

/* TFLite's ADD with every rescale in that form: each input's is at most |d| << ls < 2^29, their
 * sum below 2^30, the bound of the output's tflmt_narrow_multiply (a right shift 1..22). ls (TFLite's
 * int8 ADD always uses 20) and `full` (no activation clamp beyond int8) are constants at the
 * common call. */
static TFLMT_ALWAYS_INLINE void add_narrow_loop(const tflmt_add_params* p, const tflmt_add_rescale_t* r1,
                                                const tflmt_add_rescale_t* r2, const tflmt_channel_requant* ro,
                                                int32_t ls, int full, const int8_t* x1, const int8_t* x2, int32_t n,
                                                int8_t* y) {
  const tflmt_add_rescale_t s1 = *r1, s2 = *r2;
  const int32_t mo = ro->multiplier, eo = ro->right;
  const int32_t ho = (int32_t)((1u << (eo - 1)) + ((uint32_t)p->out_zero_point << eo));
  const int32_t zp1 = p->zero_point1, zp2 = p->zero_point2, lo = p->act_min, hi = p->act_max;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t a = tflmt_add_rescale(x1[i] - zp1, ls, &s1), b = tflmt_add_rescale(x2[i] - zp2, ls, &s2);
    int32_t v = tflmt_narrow_multiply(a + b, mo, ho, eo);
    if (full) {
      v = tflmt_ssat8(v);
    } else {
      if (v < lo) v = lo;
      if (v > hi) v = hi;
    }
    y[i] = (int8_t)v;
  }
}

void tflmt_add_s8(const tflmt_add_params* p, const int8_t* x1, const int8_t* x2, int32_t n, int8_t* y) {
  const tflmt_channel_requant r1 = smaller_than_one(p->multiplier1, p->shift1);
  const tflmt_channel_requant r2 = smaller_than_one(p->multiplier2, p->shift2);
  const tflmt_channel_requant ro = smaller_than_one(p->out_multiplier, p->out_shift);
  if (p->left_shift >= 0 && p->left_shift <= 21 && tflmt_add_rescale_is_narrow(&r1) &&
      tflmt_add_rescale_is_narrow(&r2) && ro.folded && ro.right <= 22) {
    const tflmt_add_rescale_t s1 = tflmt_add_rescale_of(&r1), s2 = tflmt_add_rescale_of(&r2);
    if (p->left_shift == 20 && p->act_min <= -128 && p->act_max >= 127) {
      add_narrow_loop(p, &s1, &s2, &ro, 20, 1, x1, x2, n, y);
    } else {
      add_narrow_loop(p, &s1, &s2, &ro, p->left_shift, 0, x1, x2, n, y);
    }
    return;
  }
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
