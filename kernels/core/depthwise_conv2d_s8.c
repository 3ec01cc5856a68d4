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
  /* the first tap at or after 0, and one past the last before size (ceil / floor divisions) */
  int32_t a = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
  int32_t b = origin >= size ? 0 : (size - 1 - origin) / dilation + 1;
  if (a > k) a = k;
  if (b > k) b = k;
  if (b < a) b = a;
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
  tflmt_smla4(__sxtab16(offset2, xv), tflmt_sxtab16_odd(offset2, xv), w02, w13, a);
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

#if TFLMT_DW_DSP
/* The same with the block's pre-extended weights wx (row-major taps, two words each) from tap
 * (i0, j0) on: one LDRD per tap instead of a load and two extensions. */
static TFLMT_ALWAYS_INLINE void dw_partial_window_pre(const dw_geometry* g, const dw_window* v, const int32_t* wx,
                                                      int32_t i0, int32_t j0, int32_t a[4]) {
  const ptrdiff_t tap_down = g->tap_down, tap_right = g->tap_right;
  const int32_t cols = v->cols, kw2 = 2 * g->kw;
  const int32_t offset2 = (int32_t)(((uint32_t)(g->offset & 0xFFFF) << 16) | (uint32_t)(g->offset & 0xFFFF));
  const int8_t* xr = v->x;
  const int32_t* wr = wx + 2 * (i0 * g->kw + j0);
  for (int32_t rows_left = v->rows; rows_left > 0; --rows_left, xr += tap_down, wr += kw2) {
    const int8_t* xp = xr;
    const int32_t* wt = wr;
    for (int32_t j = 0; j < cols; ++j, xp += tap_right, wt += 2) dw_tap4(tflmt_load32(xp), offset2, wt[0], wt[1], a);
  }
}
#endif

/* The four accumulators over the in-bounds taps of window v. */
static TFLMT_ALWAYS_INLINE void dw_partial_window(const dw_geometry* g, const dw_window* v, int32_t a[4]) {
  const ptrdiff_t tap_down = g->tap_down, tap_right = g->tap_right, w_row = g->w_row;
  const int32_t c = g->c, cols = v->cols;
#if TFLMT_DW_DSP
  const int32_t offset2 = (int32_t)(((uint32_t)(g->offset & 0xFFFF) << 16) | (uint32_t)(g->offset & 0xFFFF));
#else
  const int32_t offset = g->offset;
#endif
  const int8_t* xr = v->x;
  const int8_t* wr = v->w;
  for (int32_t rows_left = v->rows; rows_left > 0; --rows_left, xr += tap_down, wr += w_row) {
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
}

/* Output columns [*lo, *hi): those whose window row lies wholly inside the input (a
 * contiguous range, as the window's left edge only grows with the column). */
static void interior_cols(const dw_geometry* g, int32_t* lo, int32_t* hi) {
  int32_t a = 0;
  while (a < g->out_w && a * g->sw - g->pl < 0) ++a;
  int32_t b = a;
  while (b < g->out_w && b * g->sw - g->pl + (g->kw - 1) * g->dw < g->in_w) ++b;
  *lo = a;
  *hi = b;
}

#if TFLMT_DW_DSP
/* Every tap of an in-bounds window from its pre-extended weights, row by row; kw is a constant
 * (5, 7) at the common calls, so each row's taps unroll. */
static TFLMT_ALWAYS_INLINE void dw_full_rows(const int8_t* xr, const int32_t* wt, int32_t kh, int32_t kw,
                                             ptrdiff_t tap_down, ptrdiff_t tap_right, int32_t offset2, int32_t a[4]) {
  for (int32_t i = 0; i < kh; ++i, xr += tap_down, wt += 2 * kw) {
    const int8_t* xp = xr;
    TFLMT_UNROLL8
    for (int32_t j = 0; j < kw; ++j) dw_tap4(tflmt_load32(xp + j * tap_right), offset2, wt[2 * j], wt[2 * j + 1], a);
  }
}
#endif

/* The four accumulators of an in-bounds window starting at xr, every tap (the weights of
 * the block's channels start at w; wx: their sign-extended lanes when `pre`). */
static TFLMT_ALWAYS_INLINE void dw_full_window(const dw_geometry* g, const int8_t* xr, const int8_t* w,
                                               const int32_t* wx, int pre, int32_t a[4]) {
#if TFLMT_DW_DSP
  const ptrdiff_t tap_down = g->tap_down, tap_right = g->tap_right;
  const int32_t offset2 = (int32_t)(((uint32_t)(g->offset & 0xFFFF) << 16) | (uint32_t)(g->offset & 0xFFFF));
  if (pre) {
    if (g->kh == 3 && g->kw == 3) { /* the common case, unrolled: weights at fixed stack offsets */
      const int8_t* x1 = xr + tap_down;
      const int8_t* x2 = x1 + tap_down;
      dw_tap4(tflmt_load32(xr), offset2, wx[0], wx[1], a);
      dw_tap4(tflmt_load32(xr + tap_right), offset2, wx[2], wx[3], a);
      dw_tap4(tflmt_load32(xr + 2 * tap_right), offset2, wx[4], wx[5], a);
      dw_tap4(tflmt_load32(x1), offset2, wx[6], wx[7], a);
      dw_tap4(tflmt_load32(x1 + tap_right), offset2, wx[8], wx[9], a);
      dw_tap4(tflmt_load32(x1 + 2 * tap_right), offset2, wx[10], wx[11], a);
      dw_tap4(tflmt_load32(x2), offset2, wx[12], wx[13], a);
      dw_tap4(tflmt_load32(x2 + tap_right), offset2, wx[14], wx[15], a);
      dw_tap4(tflmt_load32(x2 + 2 * tap_right), offset2, wx[16], wx[17], a);
      return;
    }
    if (g->kw == 5) {
      dw_full_rows(xr, wx, g->kh, 5, tap_down, tap_right, offset2, a);
    } else if (g->kw == 7) {
      dw_full_rows(xr, wx, g->kh, 7, tap_down, tap_right, offset2, a);
    } else {
      dw_full_rows(xr, wx, g->kh, g->kw, tap_down, tap_right, offset2, a);
    }
    return;
  }
#else
  (void)wx;
  (void)pre;
#endif
  dw_window v;
  v.x = xr;
  v.w = w;
  v.rows = g->kh;
  v.cols = g->kw;
  dw_partial_window(g, &v, a);
}

/* `fast` 1: tflmt_requant_narrow (every channel narrow, every sum within its bound), 0: the
 * general form. */
static TFLMT_ALWAYS_INLINE void dw_store4(const int32_t a[4], const tflmt_channel_requant r[4], int fast,
                                          int8_t* yo) {
  if (fast) {
    yo[0] = tflmt_requant_narrow(a[0], &r[0]);
    yo[1] = tflmt_requant_narrow(a[1], &r[1]);
    yo[2] = tflmt_requant_narrow(a[2], &r[2]);
    yo[3] = tflmt_requant_narrow(a[3], &r[3]);
  } else {
    yo[0] = tflmt_requant_channel(a[0], &r[0]);
    yo[1] = tflmt_requant_channel(a[1], &r[1]);
    yo[2] = tflmt_requant_channel(a[2], &r[2]);
    yo[3] = tflmt_requant_channel(a[3], &r[3]);
  }
}

/* Channels [ch, ch + 4) over every output pixel. `fast` (a constant at each call) selects
 * tflmt_requant_narrow when all four channels allow it. Border pixels find their in-bounds
 * taps; interior pixels (every tap in bounds) walk a pointer and test nothing. */
static TFLMT_ALWAYS_INLINE void dw_block4(const dw_geometry* g, int32_t ch, const tflmt_channel_requant r[4],
                                          const int32_t b[4], const int8_t* x, const int8_t* w, int8_t* y,
                                          int fast) {
  const int32_t c = g->c, kh = g->kh, out_h = g->out_h, out_w = g->out_w;
  const ptrdiff_t step = (ptrdiff_t)g->sw * c;
  int32_t lo, hi;
  interior_cols(g, &lo, &hi);
  int pre = 0;
#if TFLMT_DW_DSP
  /* Up to 7x7: the block's weight words, sign-extended once for every pixel. */
  int32_t wx[2 * TFLMT_DW_MAX_TAPS];
  const int32_t taps = kh * g->kw;
  pre = taps <= TFLMT_DW_MAX_TAPS;
  if (pre) {
    for (int32_t t = 0; t < taps; ++t) {
      const uint32_t wv = tflmt_load32(w + (t / g->kw) * g->w_row + (t % g->kw) * c + ch);
      wx[2 * t] = __sxtb16(wv);
      wx[2 * t + 1] = tflmt_sxtb16_odd(wv);
    }
  }
  const int32_t* wxp = wx;
#else
  const int32_t* wxp = NULL;
#endif
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const dw_rows rows = rows_at(g, oy);
    int8_t* yo = y + (ptrdiff_t)oy * out_w * c + ch;
    const int full_rows = rows.i0 == 0 && rows.i1 == kh;
    for (int32_t ox = 0; ox < out_w; ++ox, yo += c) {
      if (full_rows && ox == lo && lo < hi) { /* the interior of this row */
        const int8_t* xr = x + (ptrdiff_t)rows.y0 * g->row + (ptrdiff_t)(lo * g->sw - g->pl) * c + ch;
        for (; ox < hi; ++ox, yo += c, xr += step) {
          int32_t a[4] = {b[0], b[1], b[2], b[3]};
          dw_full_window(g, xr, w + ch, wxp, pre, a);
          dw_store4(a, r, fast, yo);
        }
        if (ox == out_w) break;
      }
      const dw_window v = window_at(g, x, w, ch, &rows, ox);
      int32_t a[4] = {b[0], b[1], b[2], b[3]};
#if TFLMT_DW_DSP
      if (pre) {
        /* window_at's first tap, from its weight pointer: (row i0, column j0) of the window */
        const ptrdiff_t t0 = (v.w - (w + ch)) / c;
        dw_partial_window_pre(g, &v, wxp, (int32_t)(t0 / g->kw), (int32_t)(t0 % g->kw), a);
      } else {
        dw_partial_window(g, &v, a);
      }
#else
      dw_partial_window(g, &v, a);
#endif
      dw_store4(a, r, fast, yo);
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
    /* a tap's (x + offset) * w stays within 256 * 127: twice the taps of the int8 bound */
    int narrow = 1;
    for (int32_t i = 0; i < 4; ++i) narrow = narrow && r[i].narrow && tflmt_acc_is_narrow(b[i], 2 * kh * kw);
    if (narrow) {
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
