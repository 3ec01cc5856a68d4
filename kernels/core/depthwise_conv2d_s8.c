/* DEPTHWISE_CONV_2D int8 forward, depth multiplier 1.
 *
 * Channels are the innermost, contiguous dimension of x, w and y, so four channels
 * are computed together: per tap one 4-byte load of x and of w feeds four
 * accumulators (with the DSP extension: two SXTAB16/SXTB16 pairs and four 16x16
 * multiply-accumulates). The valid tap window of each output pixel is found once,
 * so the inner loops test nothing. */
#include <string.h>

#include "forward_internal.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define TFLMT_DW_DSP 1
static inline uint32_t load32(const void* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline uint32_t ror8(uint32_t v) { return (v >> 8) | (v << 24); }
#endif

/* Taps [*lo, *hi) of a window starting at `origin` that land inside [0, size). */
static void valid_taps(int32_t origin, int32_t k, int32_t dilation, int32_t size, int32_t* lo, int32_t* hi) {
  int32_t a = 0, b = k;
  while (a < k && origin + a * dilation < 0) ++a;
  while (b > a && origin + (b - 1) * dilation >= size) --b;
  *lo = a;
  *hi = b;
}

void tflmt_depthwise_conv2d_s8(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                               const int32_t* bias, int8_t* y) {
  const int32_t c = s->in.c, kw = s->kw;
  const int32_t offset = -q->in_zero_point;
  const size_t row = (size_t)s->in.w * c;
#if TFLMT_DW_DSP
  const int32_t offset2 = (int32_t)(((uint32_t)(offset & 0xFFFF) << 16) | (uint32_t)(offset & 0xFFFF));
#endif
  for (int32_t oy = 0; oy < s->out.h; ++oy) {
    const int32_t y0 = oy * s->geo.stride_h - s->geo.pad_top;
    int32_t i0, i1;
    valid_taps(y0, s->kh, s->geo.dilation_h, s->in.h, &i0, &i1);
    for (int32_t ox = 0; ox < s->out.w; ++ox) {
      const int32_t x0 = ox * s->geo.stride_w - s->geo.pad_left;
      int32_t j0, j1;
      valid_taps(x0, kw, s->geo.dilation_w, s->in.w, &j0, &j1);
      const int8_t* xo = x + (size_t)y0 * row + (size_t)x0 * c; /* tap (0, 0), maybe outside x */
      int32_t ch = 0;
      for (; ch + 4 <= c; ch += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t i = i0; i < i1; ++i) {
          const int8_t* xr = xo + (ptrdiff_t)i * s->geo.dilation_h * (ptrdiff_t)row + ch;
          const int8_t* wr = w + (size_t)i * kw * c + ch;
          for (int32_t j = j0; j < j1; ++j) {
            const int8_t* xp = xr + (ptrdiff_t)j * s->geo.dilation_w * c;
            const int8_t* wp = wr + (size_t)j * c;
#if TFLMT_DW_DSP
            const uint32_t xv = load32(xp), wv = load32(wp);
            const int32_t x02 = __sxtab16(offset2, xv), x13 = __sxtab16(offset2, ror8(xv));
            const int32_t w02 = __sxtb16(wv), w13 = __sxtb16(ror8(wv));
            a0 = __smlabb(x02, w02, a0);
            a2 = __smlatt(x02, w02, a2);
            a1 = __smlabb(x13, w13, a1);
            a3 = __smlatt(x13, w13, a3);
#else
            a0 += (xp[0] + offset) * wp[0];
            a1 += (xp[1] + offset) * wp[1];
            a2 += (xp[2] + offset) * wp[2];
            a3 += (xp[3] + offset) * wp[3];
#endif
          }
        }
        if (bias) {
          a0 += bias[ch];
          a1 += bias[ch + 1];
          a2 += bias[ch + 2];
          a3 += bias[ch + 3];
        }
        y[ch] = tflmt_requant_one(a0, q, ch);
        y[ch + 1] = tflmt_requant_one(a1, q, ch + 1);
        y[ch + 2] = tflmt_requant_one(a2, q, ch + 2);
        y[ch + 3] = tflmt_requant_one(a3, q, ch + 3);
      }
      for (; ch < c; ++ch) {
        int32_t acc = bias ? bias[ch] : 0;
        for (int32_t i = i0; i < i1; ++i) {
          for (int32_t j = j0; j < j1; ++j) {
            const int8_t* xp = xo + (ptrdiff_t)i * s->geo.dilation_h * (ptrdiff_t)row +
                               (ptrdiff_t)j * s->geo.dilation_w * c + ch;
            acc += (*xp + offset) * w[((size_t)i * kw + j) * c + ch];
          }
        }
        y[ch] = tflmt_requant_one(acc, q, ch);
      }
      y += c;
    }
  }
}
