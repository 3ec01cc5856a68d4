/* TFLite's fixed-point requantization (gemmlowp's rounding), shared by the forward kernels. */
#include "forward_internal.h"

int32_t tflmt_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  return tflmt_mbqm(x, multiplier, shift);
}
