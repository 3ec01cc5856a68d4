/* PAD backward: the gradient of the unpadded region, copied out. */
#include <string.h>

#include "internal.h"

#define TFLMT_MAX_RANK 6

tflmt_status tflmt_pad_grad(const void* g, const int32_t* g_dims, const int32_t* pad_before, const int32_t* x_dims,
                            int32_t rank, int32_t elem_bytes, void* dx) {
  if (rank < 1 || rank > TFLMT_MAX_RANK || elem_bytes <= 0) return TFLMT_BAD_ARG;
  for (int32_t d = 0; d < rank; ++d) {
    if (pad_before[d] < 0 || x_dims[d] < 0 || pad_before[d] + x_dims[d] > g_dims[d]) return TFLMT_BAD_ARG;
  }
  int32_t count = 1;
  for (int32_t d = 0; d < rank; ++d) count *= x_dims[d];
  if (count == 0) return TFLMT_OK;
  /* Copy rows of the innermost dimension; idx walks the outer dimensions of x. */
  int32_t idx[TFLMT_MAX_RANK] = {0};
  const size_t row = (size_t)x_dims[rank - 1] * (size_t)elem_bytes;
  const uint8_t* src = (const uint8_t*)g;
  uint8_t* dst = (uint8_t*)dx;
  for (int32_t r = 0; r < count / x_dims[rank - 1]; ++r) {
    size_t off = 0;
    for (int32_t d = 0; d < rank; ++d) {
      int32_t i = d == rank - 1 ? 0 : idx[d];
      off = off * (size_t)g_dims[d] + (size_t)(i + pad_before[d]);
    }
    memcpy(dst, src + off * (size_t)elem_bytes, row);
    dst += row;
    for (int32_t d = rank - 2; d >= 0; --d) {
      if (++idx[d] < x_dims[d]) break;
      idx[d] = 0;
    }
  }
  return TFLMT_OK;
}
