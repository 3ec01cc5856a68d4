/* CONV_2D int8 forward.
 *
 * For each pair of output pixels, the receptive fields are copied once into two int16
 * columns (im2col) with the input offset already added and the padding as 0; every
 * output channel is then a dot product of a column with one contiguous weight row.
 * Two pixels x two output channels per inner loop share each column and weight load.
 * On cores with the DSP extension (Cortex-M4/M7/M33) the columns are stored with each
 * group of four reordered (x0 x2 x1 x3) so that one SMLAD pairs them with the two
 * sign-extended halves of a 4-weight word. The sum is the same integer either way.
 * A 1x1 stride-1 conv skips im2col and reads x in place (conv_pointwise). */
#include <string.h>

#include "forward_internal.h"

#if defined(__ARM_FEATURE_DSP)
#define TFLMT_CONV_DSP 1
#endif

static int32_t column_length(const tflmt_window* s) { return s->kh * s->kw * s->in.c; }

size_t tflmt_conv2d_s8_scratch_size(const tflmt_window* s) {
  return 2u * (size_t)column_length(s) * sizeof(int16_t);
}

#if TFLMT_CONV_DSP
/* n bytes from src to dst, a word at a time (unaligned word accesses are single LDR/STRs). */
static void copy_bytes(int8_t* dst, const int8_t* src, int32_t n) {
  for (; n >= 4; n -= 4, dst += 4, src += 4) {
    const uint32_t v = tflmt_load32(src);
    memcpy(dst, &v, 4);
  }
  for (; n > 0; --n) *dst++ = *src++;
}

/* The column of one output pixel (its window's input bytes in [kh][kw][ic] order, padding read as
 * the zero point) plus offset, as int16, each full group of 4 in the order x0 x2 x1 x3 that
 * dot_block's SMLADs pair with SXTB16-split weights. The raw bytes are staged in the column's own
 * upper half, then one SXTAB16 per 2 elements (split, sign-extend, add the offset) writes the
 * int16s front to back; a write never reaches staged bytes not yet read (a group at e writes
 * bytes below 2e + 8 <= k + e + 4, a lone element below 2e + 2 <= k + e + 1). */
static void fill_column(const tflmt_window* s, const int8_t* x, int32_t offset, int32_t pixel, int16_t* col) {
  const int32_t oy = pixel / s->out.w, ox = pixel % s->out.w, ic = s->in.c, k = column_length(s);
  const int32_t y0 = oy * s->geo.stride_h - s->geo.pad_top, x0 = ox * s->geo.stride_w - s->geo.pad_left;
  const int32_t row = s->kw * ic;
  int8_t* stage = (int8_t*)col + k;
  int8_t* p = stage;
  for (int32_t i = 0; i < s->kh; ++i, p += row) {
    const int32_t iy = y0 + i * s->geo.dilation_h;
    if (iy < 0 || iy >= s->in.h) {
      memset(p, -offset, (size_t)row);
      continue;
    }
    const int8_t* src_row = x + (size_t)iy * s->in.w * ic;
    if (s->geo.dilation_w == 1 && x0 >= 0 && x0 + s->kw <= s->in.w) { /* the row's taps are adjacent */
      copy_bytes(p, src_row + (size_t)x0 * ic, row);
      continue;
    }
    for (int32_t j = 0; j < s->kw; ++j) {
      const int32_t ix = x0 + j * s->geo.dilation_w;
      if (ix < 0 || ix >= s->in.w) {
        memset(p + j * ic, -offset, (size_t)ic);
      } else {
        copy_bytes(p + j * ic, src_row + (size_t)ix * ic, ic);
      }
    }
  }
  const uint32_t off2 = ((uint32_t)offset & 0xFFFFu) * 0x10001u;
  int32_t e = 0;
  for (; e + 4 <= k; e += 4) {
    const uint32_t v = tflmt_load32(stage + e);
    const int32_t lo = __sxtab16((int32_t)off2, v), hi = tflmt_sxtab16_odd((int32_t)off2, v);
    memcpy(col + e, &lo, 4);
    memcpy(col + e + 2, &hi, 4);
  }
  for (; e < k; ++e) col[e] = (int16_t)(stage[e] + offset);
}
#else
static void fill_column(const tflmt_window* s, const int8_t* x, int32_t offset, int32_t pixel, int16_t* col) {
  const int32_t oy = pixel / s->out.w, ox = pixel % s->out.w, ic = s->in.c;
  const int32_t y0 = oy * s->geo.stride_h - s->geo.pad_top, x0 = ox * s->geo.stride_w - s->geo.pad_left;
  int16_t* p = col;
  for (int32_t i = 0; i < s->kh; ++i) {
    const int32_t iy = y0 + i * s->geo.dilation_h;
    for (int32_t j = 0; j < s->kw; ++j, p += ic) {
      const int32_t ix = x0 + j * s->geo.dilation_w;
      if (iy < 0 || iy >= s->in.h || ix < 0 || ix >= s->in.w) {
        memset(p, 0, (size_t)ic * sizeof(int16_t));
        continue;
      }
      const int8_t* src = x + ((size_t)iy * s->in.w + ix) * ic;
      for (int32_t c = 0; c < ic; ++c) p[c] = (int16_t)(src[c] + offset);
    }
  }
}
#endif

/* acc[2 * pixel + channel] += dot(column[pixel], w[channel]) over k elements (n_px, n_oc in {1, 2}). */
static TFLMT_ALWAYS_INLINE void dot_block(const int16_t* c0, const int16_t* c1, const int8_t* w0, const int8_t* w1,
                                          int32_t k, int32_t acc[4]) {
  int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, i = 0;
#if TFLMT_CONV_DSP
  for (; i + 4 <= k; i += 4) {
    const uint32_t wa = tflmt_load32(w0 + i), wb = tflmt_load32(w1 + i);
    const int32_t wa02 = __sxtb16(wa), wa13 = tflmt_sxtb16_odd(wa);
    const int32_t wb02 = __sxtb16(wb), wb13 = tflmt_sxtb16_odd(wb);
    const int32_t x02 = (int32_t)tflmt_load32(c0 + i), x13 = (int32_t)tflmt_load32(c0 + i + 2);
    const int32_t z02 = (int32_t)tflmt_load32(c1 + i), z13 = (int32_t)tflmt_load32(c1 + i + 2);
    a00 = __smlad(x02, wa02, a00);
    a00 = __smlad(x13, wa13, a00);
    a01 = __smlad(x02, wb02, a01);
    a01 = __smlad(x13, wb13, a01);
    a10 = __smlad(z02, wa02, a10);
    a10 = __smlad(z13, wa13, a10);
    a11 = __smlad(z02, wb02, a11);
    a11 = __smlad(z13, wb13, a11);
  }
#endif
  for (; i < k; ++i) {
    const int32_t x = c0[i], z = c1[i], wa = w0[i], wb = w1[i];
    a00 += x * wa;
    a01 += x * wb;
    a10 += z * wa;
    a11 += z * wb;
  }
  acc[0] += a00;
  acc[1] += a01;
  acc[2] += a10;
  acc[3] += a11;
}

#if TFLMT_CONV_DSP
/* a (pixel 0 x channel 0, pixel 0 x channel 1, pixel 1 x channel 0, pixel 1 x channel 1) += the
 * products of x's and w's 4-byte groups up to xe; the second pixel and channel lie xs and ws bytes
 * on. 4 loads, 8 sign extensions, 8 SMLADs per 16 MACs; with xs == ws one register holds both
 * strides, which leaves one spill (the end pointer) per pass of two groups. */
static TFLMT_ALWAYS_INLINE void smlad_2x2(const int8_t* xp, const int8_t* xe, const int8_t* wp, int32_t xs,
                                          int32_t ws, int32_t a[4]) {
  int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
#if defined(__GNUC__)
#pragma GCC unroll 2
#endif
  for (; xp != xe; xp += 4, wp += 4) {
    const uint32_t xa = tflmt_load32(xp), xb = tflmt_load32(xp + xs);
    const int32_t xa02 = __sxtb16(xa), xa13 = tflmt_sxtb16_odd(xa);
    const int32_t xb02 = __sxtb16(xb), xb13 = tflmt_sxtb16_odd(xb);
    const uint32_t wa = tflmt_load32(wp);
    const int32_t wa02 = __sxtb16(wa), wa13 = tflmt_sxtb16_odd(wa);
    a00 = __smlad(xa13, wa13, __smlad(xa02, wa02, a00));
    a10 = __smlad(xb13, wa13, __smlad(xb02, wa02, a10));
    const uint32_t wb = tflmt_load32(wp + ws);
    const int32_t wb02 = __sxtb16(wb), wb13 = tflmt_sxtb16_odd(wb);
    a01 = __smlad(xa13, wb13, __smlad(xa02, wb02, a01));
    a11 = __smlad(xb13, wb13, __smlad(xb02, wb02, a11));
  }
  a[0] = a00, a[1] = a01, a[2] = a10, a[3] = a11;
}
#endif

#if TFLMT_CONV_DSP
/* The weights of channels (w0, w0 + ws) as SXTB16 words, 4 per group of 4 input channels:
 * channel 0's lanes 0/2 and 1/3, then channel 1's. A 1x1 conv reuses them at every pixel, so
 * they are sign-extended once per channel pair instead of once per pixel pair. `doubled`: each
 * lane twice the weight (SADD16 of the word with itself; |2w| <= 254), so that the sums come out
 * doubled, as tflmt_requant_narrow_doubled takes them. */
static void extend_pair(const int8_t* w0, int32_t ws, int32_t groups, int32_t* out, int doubled) {
  for (int32_t g = 0; g < groups; ++g, w0 += 4, out += 4) {
    const uint32_t wa = tflmt_load32(w0), wb = tflmt_load32(w0 + ws);
    uint32_t a02 = (uint32_t)__sxtb16(wa), a13 = (uint32_t)tflmt_sxtb16_odd(wa);
    uint32_t b02 = (uint32_t)__sxtb16(wb), b13 = (uint32_t)tflmt_sxtb16_odd(wb);
    if (doubled) {
      a02 = __sadd16(a02, a02);
      a13 = __sadd16(a13, a13);
      b02 = __sadd16(b02, b02);
      b13 = __sadd16(b13, b13);
    }
    out[0] = (int32_t)a02;
    out[1] = (int32_t)a13;
    out[2] = (int32_t)b02;
    out[3] = (int32_t)b13;
  }
}

#endif

/* Output pixels (p, p + xs / k) x channels (o, o + ws / k) of a 1x1 conv: xs and ws are k, or 0
 * for a lone last pixel or channel, whose duplicate results are not stored. `fast` (a constant at
 * each call) selects tflmt_requant_fast, valid when both channels allow it. we: the pair's
 * extended weights (extend_pair), or NULL to extend them here. */
static TFLMT_ALWAYS_INLINE void pointwise_step(const int8_t* x0, const int8_t* w0, int32_t xs, int32_t ws, int32_t k,
                                               int32_t oc, int32_t b0, int32_t b1,
                                               const tflmt_channel_requant* r0, const tflmt_channel_requant* r1,
                                               const int32_t* we, int8_t* y0, int fast) {
  const int8_t* xe = x0 + k;
  const int8_t* xp = x0;
  const int8_t* wp = w0;
  int32_t a00 = b0, a01 = b1, a10 = b0, a11 = b1;
#if TFLMT_CONV_DSP
  int32_t a[4] = {a00, a01, a10, a11};
  xp = x0 + (k & ~3);
  if (we) {
    if (k >= 4) tflmt_smlad_2x2_ext(x0, xs, we, k >> 2, a);
  } else {
    smlad_2x2(x0, xp, w0, xs, ws, a);
  }
  a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
  wp += xp - x0;
#else
  (void)we;
#endif
  for (; xp != xe; ++xp, ++wp) {
    const int32_t xa = xp[0], xb = xp[xs], wa = wp[0], wb = wp[ws];
    a00 += xa * wa;
    a01 += xa * wb;
    a10 += xb * wa;
    a11 += xb * wb;
  }
  y0[0] = fast ? tflmt_requant_fast(a00, r0) : tflmt_requant_channel(a00, r0);
  if (ws) y0[1] = fast ? tflmt_requant_fast(a01, r1) : tflmt_requant_channel(a01, r1);
  if (xs) {
    y0[oc] = fast ? tflmt_requant_fast(a10, r0) : tflmt_requant_channel(a10, r0);
    if (ws) y0[oc + 1] = fast ? tflmt_requant_fast(a11, r1) : tflmt_requant_channel(a11, r1);
  }
}

/* One output-channel pair of a 1x1 conv over every pixel, two pixels per step. The full steps
 * (both pixels, both channels) are their own instance, so their two strides are one register and
 * their stores test nothing; a lone last pixel or channel takes the general instance. */
static TFLMT_ALWAYS_INLINE void pointwise_pair(
    const int8_t* x, const int8_t* w0, int32_t w_step, int32_t k, int32_t oc, int32_t pixels, int32_t b0,
    int32_t b1, const tflmt_channel_requant* r0, const tflmt_channel_requant* r1, const int32_t* we, int8_t* y,
    int fast) {
  int32_t p = 0;
  if (w_step) {
    for (; p + 2 <= pixels; p += 2) {
      pointwise_step(x + (size_t)p * k, w0, k, k, k, oc, b0, b1, r0, r1, we, y + (size_t)p * oc, fast);
    }
  }
  for (; p < pixels; p += 2) {
    const int32_t xs = p + 1 < pixels ? k : 0;
    pointwise_step(x + (size_t)p * k, w0, xs, w_step, k, oc, b0, b1, r0, r1, we, y + (size_t)p * oc, 0);
  }
}

#if TFLMT_CONV_DSP
/* Pixel pairs per tflmt_smlad_2x2_rows call (their 64 sums, 256 B, on the stack). */
#define TFLMT_PW_CHUNK 16

/* Requantises one channel's sums of `pairs` full pixel pairs (at sums[4 r], sums[4 r + 1]) with
 * its bias into y[2 r oc] and y[(2 r + 1) oc]: a loop per channel leaves its parameters in
 * registers. `fast`: 0 tflmt_requant_channel, 1 tflmt_requant_fast, 2 tflmt_requant_narrow. */
static TFLMT_ALWAYS_INLINE void requant_column(const int32_t* sums, int32_t pairs, int32_t oc, int32_t bias,
                                               const tflmt_channel_requant* r, int8_t* y, int fast) {
  const tflmt_channel_requant rr = *r;
  for (int32_t i = 0; i < pairs; ++i, sums += 4, y += 2 * oc) {
    const int32_t a0 = sums[0] + bias, a1 = sums[1] + bias;
    if (fast == 2) {
      y[0] = tflmt_requant_narrow(a0, &rr);
      y[oc] = tflmt_requant_narrow(a1, &rr);
    } else {
      y[0] = fast ? tflmt_requant_fast(a0, &rr) : tflmt_requant_channel(a0, &rr);
      y[oc] = fast ? tflmt_requant_fast(a1, &rr) : tflmt_requant_channel(a1, &rr);
    }
  }
}

/* One channel's doubled sums (extend_pair's `doubled`, from twice the bias) of `pairs` pixel pairs
 * into y[2 r oc] and y[(2 r + 1) oc]. */
static void requant_doubled(const int32_t* sums, int32_t pairs, int32_t oc, const tflmt_channel_requant* r,
                            int8_t* y) {
  const tflmt_channel_requant rr = *r;
  for (int32_t i = 0; i < pairs; ++i, sums += 4, y += 2 * oc) {
    y[0] = tflmt_requant_narrow_doubled(sums[0], &rr);
    y[oc] = tflmt_requant_narrow_doubled(sums[1], &rr);
  }
}

/* requant_column in its narrow form where the channel allows it (`fast` and the bound). */
static void requant_each(const int32_t* sums, int32_t pairs, int32_t oc, int32_t bias, const tflmt_channel_requant* r,
                         int32_t k, int8_t* y, int fast) {
  if (fast && r->narrow && tflmt_acc_is_narrow(bias, k)) {
    requant_column(sums, pairs, oc, bias, r, y, 2);
  } else if (fast) {
    requant_column(sums, pairs, oc, bias, r, y, 1);
  } else {
    requant_column(sums, pairs, oc, bias, r, y, 0);
  }
}

/* pointwise_pair for k % 4 == 0 with the pair's weights extended at we: the sums of up to
 * TFLMT_PW_CHUNK pixel pairs per tflmt_smlad_2x2_rows call, then their requantization in a loop of
 * its own, which keeps far more of the two channels' parameters in registers than one interleaved
 * with the SMLAD loop could. `doubled`: we holds doubled weights and both channels are narrow, so
 * the sums start from twice the biases and requantize as they are. A lone last pixel takes
 * pointwise_step (from the raw weights when we is doubled). */
static void pointwise_pair_rows(const int8_t* x, const int8_t* w0, int32_t ws, int32_t k, int32_t oc, int32_t pixels,
                                int32_t b0, int32_t b1, const tflmt_channel_requant* r0,
                                const tflmt_channel_requant* r1, const int32_t* we, int8_t* y, int fast,
                                int doubled) {
  int32_t sums[4 * TFLMT_PW_CHUNK];
  const int32_t full = pixels >> 1;
  for (int32_t q = 0; q < full; q += TFLMT_PW_CHUNK) {
    const int32_t nq = full - q < TFLMT_PW_CHUNK ? full - q : TFLMT_PW_CHUNK;
    int8_t* yq = y + (size_t)(2 * q) * oc;
    if (doubled) {
      tflmt_smlad_2x2_rows(x + (size_t)(2 * q) * k, k, we, k >> 2, nq, 2 * b0, 2 * b1, sums);
      requant_doubled(sums, nq, oc, r0, yq);
      if (ws) requant_doubled(sums + 2, nq, oc, r1, yq + 1);
    } else {
      tflmt_smlad_2x2_rows(x + (size_t)(2 * q) * k, k, we, k >> 2, nq, 0, 0, sums);
      requant_each(sums, nq, oc, b0, r0, k, yq, fast);
      if (ws) requant_each(sums + 2, nq, oc, b1, r1, k, yq + 1, fast);
    }
  }
  if (pixels & 1) {
    const int32_t p = pixels - 1;
    pointwise_step(x + (size_t)p * k, w0, 0, ws, k, oc, b0, b1, r0, r1, doubled ? NULL : we, y + (size_t)p * oc, 0);
  }
}
#endif

/* sum of a weight row: the input offset's share of a dot product, offset * sum(w), is then
 * added once per output channel instead of to every input element. */
static int32_t row_sum(const int8_t* w, int32_t k) {
  int32_t sum = 0, i = 0;
#if TFLMT_CONV_DSP
  /* USADA8 against 0 adds 4 unsigned bytes; w ^ 0x80 is w + 128 read as unsigned. */
  uint32_t biased = 0;
  for (; i + 4 <= k; i += 4) biased = __usada8(tflmt_load32(w + i) ^ 0x80808080u, 0u, biased);
  sum = (int32_t)biased - 128 * i;
#endif
  for (; i < k; ++i) sum += w[i];
  return sum;
}

/* 1x1, stride 1, no padding: x's pixels are the columns, read in place (no im2col). Output
 * channel pairs outermost, so each pair's requantization is unpacked (and, with DSP, its weights
 * sign-extended into the scratch, when that is word aligned) once for all pixels.
 * The input offset is folded into the bias (row_sum), so the inner loop adds nothing to x. */
static void conv_pointwise(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                           const int32_t* bias, int8_t* y, void* scratch) {
  const int32_t k = s->in.c, oc = s->out.c, pixels = s->out.h * s->out.w;
  const int32_t offset = -q->in_zero_point;
  int32_t* we = NULL;
#if TFLMT_CONV_DSP
  if (((uintptr_t)scratch & 3u) == 0) we = (int32_t*)scratch;
#else
  (void)scratch;
#endif
  for (int32_t o = 0; o < oc; o += 2) {
    const int32_t o2 = o + 1 < oc ? o + 1 : o, w_step = (o2 - o) * k;
    const int8_t* w0 = w + (size_t)o * k;
    const tflmt_channel_requant r0 = tflmt_channel_requant_of(q, o), r1 = tflmt_channel_requant_of(q, o2);
    const int32_t b0 = (bias ? bias[o] : 0) + offset * row_sum(w0, k);
    const int32_t b1 = (bias ? bias[o2] : 0) + offset * row_sum(w0 + w_step, k);
#if TFLMT_CONV_DSP
    if (we && (k & 3) == 0) {
      const int doubled = r0.narrow && r1.narrow && tflmt_acc_is_narrow(b0, k) && tflmt_acc_is_narrow(b1, k);
      extend_pair(w0, w_step, k >> 2, we, doubled);
      pointwise_pair_rows(x, w0, w_step, k, oc, pixels, b0, b1, &r0, &r1, we, y + o, r0.fast && r1.fast, doubled);
      continue;
    }
    if (we) extend_pair(w0, w_step, k >> 2, we, 0);
#endif
    if (r0.fast && r1.fast) {
      pointwise_pair(x, w0, w_step, k, oc, pixels, b0, b1, &r0, &r1, we, y + o, 1);
    } else {
      pointwise_pair(x, w0, w_step, k, oc, pixels, b0, b1, &r0, &r1, we, y + o, 0);
    }
  }
}

/* Output channels whose requantization the im2col path unpacks at once (on the stack): wider
 * layers are swept in blocks of this many channels, each block over every pixel. */
#define TFLMT_CONV_RQ_BLOCK 32

/* One output of the im2col path in requantization form `mode` (a constant at each call): 2
 * tflmt_requant_narrow, 1 tflmt_requant_fast, 0 the general form. */
static TFLMT_ALWAYS_INLINE int8_t requant_mode(int32_t acc, const tflmt_channel_requant* r, int mode) {
  if (mode == 2) return tflmt_requant_narrow(acc, r);
  return mode ? tflmt_requant_fast(acc, r) : tflmt_requant_channel(acc, r);
}

/* Stores a 2 pixel x 2 channel block: channel o2 == o and !two mark a lone last channel / pixel. */
static TFLMT_ALWAYS_INLINE void store_block(int8_t* y0, int32_t oc, int32_t o, int32_t o2, int32_t two,
                                            const int32_t acc[4], int32_t b0, int32_t b1,
                                            const tflmt_channel_requant* r0, const tflmt_channel_requant* r1,
                                            int mode) {
  y0[o] = requant_mode(acc[0] + b0, r0, mode);
  if (o2 != o) y0[o2] = requant_mode(acc[1] + b1, r1, mode);
  if (two) {
    y0[oc + o] = requant_mode(acc[2] + b0, r0, mode);
    if (o2 != o) y0[oc + o2] = requant_mode(acc[3] + b1, r1, mode);
  }
}

static void conv_im2col(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                        const int32_t* bias, int8_t* y, void* scratch) {
  const int32_t k = column_length(s), oc = s->out.c, pixels = s->out.h * s->out.w;
  int16_t* col0 = (int16_t*)scratch;
  int16_t* col1 = col0 + k;
  tflmt_channel_requant rq[TFLMT_CONV_RQ_BLOCK];
  int8_t narrow[TFLMT_CONV_RQ_BLOCK];
  for (int32_t ob = 0; ob < oc; ob += TFLMT_CONV_RQ_BLOCK) {
    const int32_t oe = oc - ob < TFLMT_CONV_RQ_BLOCK ? oc : ob + TFLMT_CONV_RQ_BLOCK;
    for (int32_t o = ob; o < oe; ++o) {
      rq[o - ob] = tflmt_channel_requant_of(q, o);
      /* a column element (x + offset) lies within 256: twice k of the int8 bound */
      narrow[o - ob] = (int8_t)(rq[o - ob].narrow && tflmt_acc_is_narrow(bias ? bias[o] : 0, 2 * k));
    }
    for (int32_t p = 0; p < pixels; p += 2) {
      const int32_t two = p + 1 < pixels;
      fill_column(s, x, -q->in_zero_point, p, col0);
      if (two) fill_column(s, x, -q->in_zero_point, p + 1, col1);
      const int16_t* c1 = two ? col1 : col0; /* a lone last pixel pairs with itself; its twin is dropped */
      int8_t* y0 = y + (size_t)p * oc;
      const int8_t* wo = w + (size_t)ob * k;
      for (int32_t o = ob; o < oe; o += 2, wo += 2 * (size_t)k) {
        const int32_t o2 = o + 1 < oe ? o + 1 : o;
        const tflmt_channel_requant* r0 = &rq[o - ob];
        const tflmt_channel_requant* r1 = &rq[o2 - ob];
        int32_t acc[4] = {0, 0, 0, 0};
        dot_block(col0, c1, wo, o2 != o ? wo + k : wo, k, acc);
        const int32_t b0 = bias ? bias[o] : 0, b1 = bias ? bias[o2] : 0;
        if (narrow[o - ob] && narrow[o2 - ob]) {
          store_block(y0, oc, o, o2, two, acc, b0, b1, r0, r1, 2);
        } else if (r0->fast && r1->fast) {
          store_block(y0, oc, o, o2, two, acc, b0, b1, r0, r1, 1);
        } else {
          store_block(y0, oc, o, o2, two, acc, b0, b1, r0, r1, 0);
        }
      }
    }
  }
}

void tflmt_conv2d_s8(const tflmt_window* s, const tflmt_requant* q, const int8_t* x, const int8_t* w,
                     const int32_t* bias, int8_t* y, void* scratch) {
  if (tflmt_is_pointwise(s)) {
    conv_pointwise(s, q, x, w, bias, y, scratch);
  } else {
    conv_im2col(s, q, x, w, bias, y, scratch);
  }
}
