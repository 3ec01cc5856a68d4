/* DEPTHWISE_CONV_2D int8 forward, depth multiplier 1.
 *
 * Channels are the innermost, contiguous dimension of x, w and y, so four channels
 * are computed together: per tap one 4-byte load of x and of w feeds four
 * accumulators (with the DSP extension: two SXTAB16/SXTB16 pairs and four 16x16
 * multiply-accumulates). The valid tap window of each output pixel is found once,
 * so the inner loops test nothing. */
#include "forward_internal.h"

#if defined(__ARM_FEATURE_DSP)
#define TFLMT_DW_DSP 1
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
  /* Locals, not struct reads: every int8 store to y may alias *s and *q for the compiler. */
  const tflmt_requant rq = *q;
  const int32_t c = s->in.c, kh = s->kh, kw = s->kw, in_h = s->in.h, in_w = s->in.w;
  const int32_t sh = s->geo.stride_h, sw = s->geo.stride_w, dh = s->geo.dilation_h, dw = s->geo.dilation_w;
  const int32_t pt = s->geo.pad_top, pl = s->geo.pad_left, out_h = s->out.h, out_w = s->out.w;
  const int32_t offset = -rq.in_zero_point;
  const ptrdiff_t row = (ptrdiff_t)in_w * c, tap_down = (ptrdiff_t)dh * row, tap_right = (ptrdiff_t)dw * c;
  const ptrdiff_t w_row = (ptrdiff_t)kw * c;
#if TFLMT_DW_DSP
  const int32_t offset2 = (int32_t)(((uint32_t)(offset & 0xFFFF) << 16) | (uint32_t)(offset & 0xFFFF));
#endif
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const int32_t y0 = oy * sh - pt;
    int32_t i0, i1;
    valid_taps(y0, kh, dh, in_h, &i0, &i1);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t x0 = ox * sw - pl;
      int32_t j0, j1;
      valid_taps(x0, kw, dw, in_w, &j0, &j1);
      /* The first valid tap of channel 0, in x and in w. */
      const int8_t* xs = x + (ptrdiff_t)(y0 + i0 * dh) * row + (ptrdiff_t)(x0 + j0 * dw) * c;
      const int8_t* ws = w + (ptrdiff_t)i0 * w_row + (ptrdiff_t)j0 * c;
      const int32_t rows = i1 - i0, cols = j1 - j0;
      int32_t ch = 0;
      for (; ch + 4 <= c; ch += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int8_t* xr = xs + ch;
        const int8_t* wr = ws + ch;
        for (int32_t i = 0; i < rows; ++i, xr += tap_down, wr += w_row) {
          const int8_t* xp = xr;
          const int8_t* wp = wr;
          for (int32_t j = 0; j < cols; ++j, xp += tap_right, wp += c) {
#if TFLMT_DW_DSP
            const uint32_t xv = tflmt_load32(xp), wv = tflmt_load32(wp);
            const int32_t x02 = __sxtab16(offset2, xv), x13 = __sxtab16(offset2, tflmt_ror8(xv));
            const int32_t w02 = __sxtb16(wv), w13 = __sxtb16(tflmt_ror8(wv));
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
        y[ch] = tflmt_requant_one(a0, &rq, ch);
        y[ch + 1] = tflmt_requant_one(a1, &rq, ch + 1);
        y[ch + 2] = tflmt_requant_one(a2, &rq, ch + 2);
        y[ch + 3] = tflmt_requant_one(a3, &rq, ch + 3);
      }
      for (; ch < c; ++ch) {
        int32_t acc = bias ? bias[ch] : 0;
        const int8_t* xr = xs + ch;
        const int8_t* wr = ws + ch;
        for (int32_t i = 0; i < rows; ++i, xr += tap_down, wr += w_row) {
          for (int32_t j = 0; j < cols; ++j) acc += (xr[j * tap_right] + offset) * wr[j * c];
        }
        y[ch] = tflmt_requant_one(acc, &rq, ch);
      }
      y += c;
    }
  }
}
