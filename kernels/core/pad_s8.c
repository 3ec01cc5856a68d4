/* PAD of a rank-4 int8 tensor with a constant (the input's zero point). */
#include <string.h>

#include "forward_internal.h"

void tflmt_pad_s8(const int32_t* x_dims, const int32_t* pad_before, const int32_t* y_dims, int8_t value,
                  const int8_t* x, int8_t* y) {
  const size_t total = (size_t)y_dims[0] * y_dims[1] * y_dims[2] * y_dims[3];
  memset(y, value, total);
  const size_t row = (size_t)x_dims[3];
  for (int32_t a = 0; a < x_dims[0]; ++a) {
    for (int32_t b = 0; b < x_dims[1]; ++b) {
      for (int32_t c = 0; c < x_dims[2]; ++c) {
        const size_t src = (((size_t)a * x_dims[1] + b) * x_dims[2] + c) * row;
        const size_t dst = ((((size_t)(a + pad_before[0])) * y_dims[1] + (b + pad_before[1])) * y_dims[2] +
                            (c + pad_before[2])) * y_dims[3] + pad_before[3];
        memcpy(y + dst, x + src, row);
      }
    }
  }
}
