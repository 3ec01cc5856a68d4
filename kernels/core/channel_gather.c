/* Keeps the input channels a channel-sparse weight update trains, so the
 * backward pass saves only those instead of the whole forward input. */
#include "internal.h"

void tflmt_channel_gather_s8(const int8_t* x, int32_t pixels, int32_t channels, const int32_t* index,
                             int32_t count, int8_t* y) {
  for (int32_t p = 0; p < pixels; ++p) {
    const int8_t* xp = x + p * channels;
    int8_t* yp = y + p * count;
    for (int32_t k = 0; k < count; ++k) yp[k] = xp[index[k]];
  }
}
