/* Gives a channel-sparse layer's readers its current weights: the frozen tensor
 * (flash) with the trained channels (the SRAM slice) put in, so SRAM keeps only
 * the slice and the merged copy lives just for the op that reads it. */
#include <string.h>

#include "internal.h"

void tflmt_channel_merge_s8(const int8_t* base, const int8_t* slice, int32_t rows, int32_t channels,
                            const int32_t* index, int32_t count, int8_t* y) {
  memcpy(y, base, (size_t)rows * (size_t)channels);
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* sr = slice + r * count;
    int8_t* yr = y + r * channels;
    for (int32_t k = 0; k < count; ++k) yr[index[k]] = sr[k];
  }
}
