/* The counter-based PRNG of stochastic rounding (tflm_train/reference/prng.py). */
#include "internal.h"

uint32_t tflmt_prng_stream(uint32_t seed, uint32_t op_uid, uint32_t step) {
  return tflmt_fmix32(seed ^ tflmt_fmix32(op_uid ^ tflmt_fmix32(step)));
}

float tflmt_prng_uniform(uint32_t stream, uint32_t index) { return tflmt_uniform(stream, index); }
