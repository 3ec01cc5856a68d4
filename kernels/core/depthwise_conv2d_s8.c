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
  const int32_t c = s->in.c, kh = s->kh, kw = s->kw, in_h = s->in.h, in_w = s->in.w;
  const int32_t sh = s->geo.stride_h, sw = s->geo.stride_w, dh = s->geo.dilation_h, dw = s->geo.dilation_w;
  const int32_t pt = s->geo.pad_top, pl = s->geo.pad_left, out_h = s->out.h, out_w = s->out.w;
  const int32_t offset = -q->in_zero_point;
  const ptrdiff_t row = (ptrdiff_t)in_w * c, tap_down = (ptrdiff_t)dh * row, tap_right = (ptrdiff_t)dw * c;
  const ptrdiff_t w_row = (ptrdiff_t)kw * c;
#if TFLMT_DW_DSP
  const int32_t offset2 = (int32_t)(((uint32_t)(offset & 0xFFFF) << 16) | (uint32_t)(offset & 0xFFFF));
#endif
  /* Channel blocks outermost: a block's weights' base, biases and requantization stay put
   * while it sweeps every output pixel. */
  int32_t ch = 0;
  for (; ch + 4 <= c; ch += 4) {
    const tflmt_channel_requant r0 = tflmt_channel_requant_of(q, ch), r1 = tflmt_channel_requant_of(q, ch + 1);
    const tflmt_channel_requant r2 = tflmt_channel_requant_of(q, ch + 2), r3 = tflmt_channel_requant_of(q, ch + 3);
    const int32_t b0 = bias ? bias[ch] : 0, b1 = bias ? bias[ch + 1] : 0;
    const int32_t b2 = bias ? bias[ch + 2] : 0, b3 = bias ? bias[ch + 3] : 0;
    int8_t* yo = y + ch;
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * sh - pt;
      int32_t i0, i1;
      valid_taps(y0, kh, dh, in_h, &i0, &i1);
      for (int32_t ox = 0; ox < out_w; ++ox, yo += c) {
        const int32_t x0 = ox * sw - pl;
        int32_t j0, j1;
        valid_taps(x0, kw, dw, in_w, &j0, &j1);
        const int8_t* xr = x + (ptrdiff_t)(y0 + i0 * dh) * row + (ptrdiff_t)(x0 + j0 * dw) * c + ch;
        const int8_t* wr = w + (ptrdiff_t)i0 * w_row + (ptrdiff_t)j0 * c + ch;
        const int32_t cols = j1 - j0;
        int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
        for (int32_t i = i0; i < i1; ++i, xr += tap_down, wr += w_row) {
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
        yo[0] = tflmt_requant_channel(a0, &r0);
        yo[1] = tflmt_requant_channel(a1, &r1);
        yo[2] = tflmt_requant_channel(a2, &r2);
        yo[3] = tflmt_requant_channel(a3, &r3);
      }
    }
  }
  for (; ch < c; ++ch) { /* the last c % 4 channels */
    const tflmt_channel_requant r = tflmt_channel_requant_of(q, ch);
    int8_t* yo = y + ch;
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * sh - pt;
      int32_t i0, i1;
      valid_taps(y0, kh, dh, in_h, &i0, &i1);
      for (int32_t ox = 0; ox < out_w; ++ox, yo += c) {
        const int32_t x0 = ox * sw - pl;
        int32_t j0, j1;
        valid_taps(x0, kw, dw, in_w, &j0, &j1);
        const int8_t* xr = x + (ptrdiff_t)(y0 + i0 * dh) * row + (ptrdiff_t)(x0 + j0 * dw) * c + ch;
        const int8_t* wr = w + (ptrdiff_t)i0 * w_row + (ptrdiff_t)j0 * c + ch;
        int32_t acc = bias ? bias[ch] : 0;
        for (int32_t i = i0; i < i1; ++i, xr += tap_down, wr += w_row) {
          for (int32_t j = 0; j < j1 - j0; ++j) acc += (xr[j * tap_right] + offset) * wr[j * c];
        }
        *yo = tflmt_requant_channel(acc, &r);
      }
    }
  }
}
