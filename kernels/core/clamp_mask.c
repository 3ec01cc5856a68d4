/* ReLU / ReLU6 backward: the forward pass keeps 1 bit per element. Each mask byte is built in a
 * register and stored once; the backward selects whole words by the mask's bits, branch-free. */
#include <string.h>

#include "forward_internal.h"
#include "internal.h"

/* act_min < y < act_max as one unsigned compare: (y - act_min - 1) < (act_max - act_min - 1). */
static inline uint32_t inside(int8_t y, uint32_t lo, uint32_t span) { return (uint32_t)(int32_t)y - lo < span; }

/* g's bit pattern where the mask bit is set, +0.0f where it is not (NaN payloads kept). */
static inline void select_f32(const float* g, uint32_t bit, float* out) {
  uint32_t v;
  memcpy(&v, g, 4);
  v &= 0u - bit;
  memcpy(out, &v, 4);
}

void tflmt_clamp_mask_s8(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask) {
  const uint32_t lo = (uint32_t)(act_min + 1);
  const uint32_t span = act_max - act_min > 1 ? (uint32_t)(act_max - act_min - 1) : 0u;
  int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
  if (act_min + 1 <= 127 && act_max - 1 >= -128 && span > 0) {
    /* 4 bytes per word: SSUB8's GE flags are y >= act_min + 1 and act_max - 1 >= y, SEL turns them
     * into 0xFF bytes, and one multiply gathers the bytes' low bits into a nibble. */
    const uint32_t lo4 = ((uint32_t)(act_min + 1) & 0xFFu) * 0x01010101u;
    const uint32_t hi4 = ((uint32_t)(act_max - 1) & 0xFFu) * 0x01010101u;
    for (; i + 8 <= n; i += 8) {
      uint32_t bits = 0;
      for (int32_t h = 0; h < 8; h += 4) {
        const uint32_t v = tflmt_load32(y + i + h);
        __ssub8(v, lo4);
        const uint32_t ge_lo = __sel(0xFFFFFFFFu, 0u);
        __ssub8(hi4, v);
        const uint32_t both = __sel(ge_lo, 0u);
        bits |= (((both & 0x01010101u) * 0x01020408u) >> 24) << h;
      }
      mask[i >> 3] = (uint8_t)bits;
    }
  }
#endif
  for (; i < n; i += 8) {
    const int32_t m = n - i < 8 ? n - i : 8;
    uint32_t bits = 0;
    if (m == 8) {
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) bits |= inside(y[i + k], lo, span) << k;
    } else {
      for (int32_t k = 0; k < m; ++k) bits |= inside(y[i + k], lo, span) << k;
    }
    mask[i >> 3] = (uint8_t)bits;
  }
}

void tflmt_clamp_grad_f32(const float* g, const uint8_t* mask, int32_t n, float* out) {
  for (int32_t i = 0; i < n; i += 8) {
    const uint32_t bits = mask[i >> 3];
    if (n - i >= 8) {
      TFLMT_UNROLL8
      for (int32_t k = 0; k < 8; ++k) select_f32(g + i + k, (bits >> k) & 1u, out + i + k);
    } else {
      for (int32_t k = 0; k < n - i; ++k) select_f32(g + i + k, (bits >> k) & 1u, out + i + k);
    }
  }
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* 4 mask bits -> a word of 0x00 / 0xFF bytes, element k in byte k (little-endian). */
static const uint32_t kByteMask[16] = {
    0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu, 0x00FFFF00u, 0x00FFFFFFu,
    0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu, 0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu};
#define TFLMT_CLAMP_WORDS 1
#endif

void tflmt_clamp_grad_s8(const int8_t* g, const uint8_t* mask, int32_t n, int8_t* out) {
  int32_t i = 0;
#if defined(TFLMT_CLAMP_WORDS)
  for (; i + 8 <= n; i += 8) {
    const uint32_t bits = mask[i >> 3];
    uint32_t lo, hi;
    memcpy(&lo, g + i, 4);
    memcpy(&hi, g + i + 4, 4);
    lo &= kByteMask[bits & 15u];
    hi &= kByteMask[bits >> 4];
    memcpy(out + i, &lo, 4);
    memcpy(out + i + 4, &hi, 4);
  }
#endif
  for (; i < n; ++i) out[i] = ((mask[i >> 3] >> (i & 7)) & 1) ? g[i] : 0;
}
