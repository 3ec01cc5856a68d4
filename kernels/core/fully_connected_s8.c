/* FULLY_CONNECTED int8 forward. */
#include "forward_internal.h"

void tflmt_fully_connected_s8(int32_t out_n, int32_t in_n, const tflmt_requant* q, const int8_t* x,
                              const int8_t* w, const int32_t* bias, int8_t* y) {
  for (int32_t o = 0; o < out_n; ++o) {
    int32_t acc = tflmt_dot_s8(x, w + (size_t)o * in_n, in_n, -q->in_zero_point);
    if (bias) acc += bias[o];
    y[o] = tflmt_requant_one(acc, q, o);
  }
}
