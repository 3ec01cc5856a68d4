/* Index helpers of the naive loop nests: the output pixel a tap maps an input pixel from. */
#ifndef TFLMT_CORE_NAIVE_COMMON_H_
#define TFLMT_CORE_NAIVE_COMMON_H_

#include "../internal.h"

/* The output row oy with oy * stride + i * dilation - pad == y, or -1. */
static inline int32_t tflmt_naive_source(int32_t y, int32_t i, int32_t stride, int32_t dilation, int32_t pad,
                                         int32_t out) {
  const int32_t num = y + pad - i * dilation;
  if (num < 0 || num % stride != 0 || num / stride >= out) return -1;
  return num / stride;
}

#endif
