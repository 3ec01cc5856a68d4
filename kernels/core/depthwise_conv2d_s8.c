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
/* The largest window whose sign-extended weights a 4-channel block keeps on the stack (7x7). */
#define TFLMT_DW_MAX_TAPS 49

/* Taps [*lo, *hi) of a window starting at `origin` that land inside [0, size). */
static void valid_taps(int32_t origin, int32_t k, int32_t dilation, int32_t size, int32_t* lo, int32_t* hi) {
  int32_t a = 0, b = k;
  while (a < k && origin + a * dilation < 0) ++a;
  while (b > a && origin + (b - 1) * dilation >= size) --b;
  *lo = a;
  *hi = b;
}

/* The loop-invariant geometry of one call, kept in locals by the callers. */
typedef struct {
  int32_t c, kh, kw, in_h, in_w, sh, sw, dh, dw, pt, pl, out_h, out_w, offset;
  ptrdiff_t row, tap_down, tap_right, w_row;
} dw_geometry;

#if TFLMT_DW_DSP
/* One tap of 4 channels: x's 4 bytes (offset added) times the sign-extended weight lanes
 * w02 (channels 0, 2) and w13 (channels 1, 3). */
static TFLMT_ALWAYS_INLINE void dw_tap4(uint32_t xv, int32_t offset2, int32_t w02, int32_t w13, int32_t a[4]) {
  const int32_t e = __sxtab16(offset2, xv), o = tflmt_sxtab16_odd(offset2, xv);
  a[0] = __smlabb(e, w02, a[0]);
  a[2] = __smlatt(e, w02, a[2]);
  a[1] = __smlabb(o, w13, a[1]);
  a[3] = __smlatt(o, w13, a[3]);
}
#endif

/* The in-bounds part of output pixel (oy, ox)'s window (its row part from rows_at) for channel ch: its first input and
 * weight elements and its row and column counts. */
typedef struct {
  const int8_t* x;
  const int8_t* w;
  int32_t rows, cols;
} dw_window;

/* Output row oy's in-bounds tap rows [i0, i1), from input row y0 + i0 * dilation. */
typedef struct {
  int32_t y0, i0, i1;
} dw_rows;

static TFLMT_ALWAYS_INLINE dw_rows rows_at(const dw_geometry* g, int32_t oy) {
  dw_rows r;
  r.y0 = oy * g->sh - g->pt;
  valid_taps(r.y0, g->kh, g->dh, g->in_h, &r.i0, &r.i1);
  return r;
}

static TFLMT_ALWAYS_INLINE dw_window window_at(const dw_geometry* g, const int8_t* x, const int8_t* w, int32_t ch,
                                               const dw_rows* r, int32_t ox) {
  const int32_t y0 = r->y0, i0 = r->i0, i1 = r->i1, x0 = ox * g->sw - g->pl;
  int32_t j0, j1;
  valid_taps(x0, g->kw, g->dw, g->in_w, &j0, &j1);
  dw_window v;
  v.x = x + (ptrdiff_t)(y0 + i0 * g->dh) * g->row + (ptrdiff_t)(x0 + j0 * g->dw) * g->c + ch;
  v.w = w + (ptrdiff_t)i0 * g->w_row + (ptrdiff_t)j0 * g->c + ch;
  v.rows = i1 - i0;
  v.cols = j1 - j0;
  return v;
}

/* Channels [ch, ch + 4) over every output pixel. `fast` (a constant at each call) selects
 * tflmt_requant_fast when all four channels allow it. */
static TFLMT_ALWAYS_INLINE void dw_block4(const dw_geometry* g, int32_t ch, const tflmt_channel_requant r[4],
                                          const int32_t b[4], const int8_t* x, const int8_t* w, int8_t* y,
                                          int fast) {
  const int32_t c = g->c, out_h = g->out_h, out_w = g->out_w;
  const ptrdiff_t tap_down = g->tap_down, tap_right = g->tap_right, w_row = g->w_row;
#if TFLMT_DW_DSP
  const int32_t kh = g->kh, kw = g->kw;
  const int32_t offset2 = (int32_t)(((uint32_t)(g->offset & 0xFFFF) << 16) | (uint32_t)(g->offset & 0xFFFF));
#else
  const int32_t offset = g->offset;
#endif
  int8_t* yo = y + ch;
#if TFLMT_DW_DSP
  /* Up to 7x7: the block's weight words, sign-extended once for every pixel; an interior
   * pixel then costs one load, one LDRD and six DSP instructions per tap. */
  const int32_t taps = kh * kw;
  const int pre = taps <= TFLMT_DW_MAX_TAPS;
  int32_t wx[2 * TFLMT_DW_MAX_TAPS];
  if (pre) {
    for (int32_t t = 0; t < taps; ++t) {
      const uint32_t wv = tflmt_load32(w + (t / kw) * w_row + (t % kw) * c + ch);
      wx[2 * t] = __sxtb16(wv);
      wx[2 * t + 1] = tflmt_sxtb16_odd(wv);
    }
  }
#endif
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const dw_rows rows = rows_at(g, oy);
    for (int32_t ox = 0; ox < out_w; ++ox, yo += c) {
      const dw_window v = window_at(g, x, w, ch, &rows, ox);
      const int8_t* xr = v.x;
      const int8_t* wr = v.w;
      const int32_t cols = v.cols;
      int32_t a[4] = {b[0], b[1], b[2], b[3]};
      int32_t rows_left = v.rows;
#if TFLMT_DW_DSP
      if (pre && rows_left == kh && cols == kw) {
        const int32_t* wt = wx;
        if (kw == 3) { /* the common case, unrolled */
          for (int32_t i = 0; i < kh; ++i, xr += tap_down, wt += 6) {
            dw_tap4(tflmt_load32(xr), offset2, wt[0], wt[1], a);
            dw_tap4(tflmt_load32(xr + tap_right), offset2, wt[2], wt[3], a);
            dw_tap4(tflmt_load32(xr + 2 * tap_right), offset2, wt[4], wt[5], a);
          }
        } else {
          for (int32_t i = 0; i < kh; ++i, xr += tap_down) {
            const int8_t* xp = xr;
            for (int32_t j = 0; j < kw; ++j, xp += tap_right, wt += 2) dw_tap4(tflmt_load32(xp), offset2, wt[0], wt[1], a);
          }
        }
        rows_left = 0; /* done: skip the general loop below */
      }
#endif
      for (; rows_left > 0; --rows_left, xr += tap_down, wr += w_row) {
        const int8_t* xp = xr;
        const int8_t* wp = wr;
        for (int32_t j = 0; j < cols; ++j, xp += tap_right, wp += c) {
#if TFLMT_DW_DSP
          const uint32_t wv = tflmt_load32(wp);
          dw_tap4(tflmt_load32(xp), offset2, __sxtb16(wv), tflmt_sxtb16_odd(wv), a);
#else
          a[0] += (xp[0] + offset) * wp[0];
          a[1] += (xp[1] + offset) * wp[1];
          a[2] += (xp[2] + offset) * wp[2];
          a[3] += (xp[3] + offset) * wp[3];
#endif
        }
      }
      if (fast) {
        yo[0] = tflmt_requant_fast(a[0], &r[0]);
        yo[1] = tflmt_requant_fast(a[1], &r[1]);
        yo[2] = tflmt_requant_fast(a[2], &r[2]);
        yo[3] = tflmt_requant_fast(a[3], &r[3]);
      } else {
        yo[0] = tflmt_requant_channel(a[0], &r[0]);
        yo[1] = tflmt_requant_channel(a[1], &r[1]);
        yo[2] = tflmt_requant_channel(a[2], &r[2]);
        yo[3] = tflmt_requant_channel(a[3], &r[3]);
      }
    }
  }
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
  const dw_geometry g = {c, kh, kw, in_h, in_w, sh, sw, dh, dw, pt, pl, out_h, out_w, offset,
                         row, tap_down, tap_right, w_row};
  /* Channel blocks outermost: a block's weights' base, biases and requantization stay put
   * while it sweeps every output pixel. */
  int32_t ch = 0;
  for (; ch + 4 <= c; ch += 4) {
    tflmt_channel_requant r[4];
    int32_t b[4];
    for (int32_t i = 0; i < 4; ++i) {
      r[i] = tflmt_channel_requant_of(q, ch + i);
      b[i] = bias ? bias[ch + i] : 0;
    }
    if (r[0].fast && r[1].fast && r[2].fast && r[3].fast) {
      dw_block4(&g, ch, r, b, x, w, y, 1);
    } else {
      dw_block4(&g, ch, r, b, x, w, y, 0);
    }
  }
  for (; ch < c; ++ch) { /* the last c % 4 channels */
    const tflmt_channel_requant r = tflmt_channel_requant_of(q, ch);
    int8_t* yo = y + ch;
    for (int32_t oy = 0; oy < out_h; ++oy) {
      const dw_rows rows = rows_at(&g, oy);
      for (int32_t ox = 0; ox < out_w; ++ox, yo += c) {
        const dw_window v = window_at(&g, x, w, ch, &rows, ox);
        const int8_t* xr = v.x;
        const int8_t* wr = v.w;
        int32_t acc = bias ? bias[ch] : 0;
        for (int32_t i = 0; i < v.rows; ++i, xr += tap_down, wr += w_row) {
          for (int32_t j = 0; j < v.cols; ++j) acc += (xr[j * tap_right] + offset) * wr[j * c];
        }
        *yo = tflmt_requant_channel(acc, &r);
      }
    }
  }
}
