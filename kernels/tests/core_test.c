/* A C-only test of kernels/core (no Python, no TFLM): what Bazel's cc_test runs, and what
 * `make -C examples/cortex_m core-test` runs on a Cortex-M7 (QEMU), where the kernels take their
 * DSP / VFP paths.
 *
 * - the optimised weight-update kernels == the naive loop nests, bit for bit, on random shapes,
 *   both gradient dtypes, with and without a channel map (the full spec check against the numpy
 *   reference is tests/test_core_kernels.py);
 * - the same for the input gradients (conv, 1x1, depthwise, FC; both dtypes) and the int8 forward
 *   kernels (CONV_2D, 1x1, DEPTHWISE_CONV_2D up to 7x7, ADD), with shapes that reach every tile's
 *   tails (odd pixel counts, channel counts off the 2 / 4 / 8 / 16 blocks);
 * - the channel gather;
 * - CRC-32 and checkpoints: a save cut at every byte offset leaves the previous checkpoint loadable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflmt/checkpoint.h"
#include "tflmt/core.h"
#include "tflmt/forward.h"
/* the fixed-point helpers the kernels share, tested on their own below */
#include "../core/forward_internal.h"

static int failures = 0;
#define CHECK(cond, ...)              \
  do {                                \
    if (!(cond)) {                    \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);            \
      printf("\n");                   \
      ++failures;                     \
    }                                 \
  } while (0)

static uint32_t rng_state = 12345u;
static uint32_t next_u32(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}
static int32_t rand_int(int32_t lo, int32_t hi) { return lo + (int32_t)(next_u32() % (uint32_t)(hi - lo + 1)); }

static void fill_s8(int8_t* p, int32_t n, int32_t lo, int32_t hi) {
  for (int32_t i = 0; i < n; ++i) p[i] = (int8_t)rand_int(lo, hi);
}
static void fill_f32(float* p, int32_t n) {
  for (int32_t i = 0; i < n; ++i) p[i] = (float)rand_int(-1000, 1000) / 997.0f;
}

/* A random sorted channel subset of [0, n) (count >= 1) into idx; returns its size. */
static int32_t random_channels(int32_t n, int32_t* idx) {
  int32_t k = 0;
  for (int32_t c = 0; c < n; ++c) {
    if (next_u32() % 2) idx[k++] = c;
  }
  if (k == 0) idx[k++] = n - 1;
  return k;
}

static void test_weight_updates(void) {
  for (int t = 0; t < 120; ++t) {
    const int kind = t % 3; /* 0 conv, 1 depthwise, 2 fc */
    const int int8 = (t / 3) % 2;
    const int mapped = (t / 6) % 2;
    /* every fourth conv case a 1x1 stride-1 conv (the pointwise paths), with up to 20 output channels */
    const int pointwise = kind == 0 && (t / 3) % 4 == 0;
    tflmt_window s;
    memset(&s, 0, sizeof s);
    s.kh = kind == 2 || pointwise ? 1 : rand_int(1, 3);
    s.kw = kind == 2 || pointwise ? 1 : rand_int(1, 3);
    s.geo.stride_h = pointwise ? 1 : rand_int(1, 2);
    s.geo.stride_w = pointwise ? 1 : rand_int(1, 2);
    s.geo.dilation_h = s.geo.dilation_w = 1;
    s.geo.pad_top = rand_int(0, s.kh - 1);
    s.geo.pad_left = rand_int(0, s.kw - 1);
    s.in.h = kind == 2 ? 1 : rand_int(s.kh, 7);
    s.in.w = kind == 2 ? 1 : rand_int(s.kw, 7);
    const int32_t wc = rand_int(1, 9);                  /* weight input channels */
    const int32_t oc = kind == 1 ? wc : rand_int(1, pointwise ? 20 : 9);
    s.out.h = kind == 2 ? 1 : (s.in.h + 2 * s.geo.pad_top - s.kh) / s.geo.stride_h + 1;
    s.out.w = kind == 2 ? 1 : (s.in.w + 2 * s.geo.pad_left - s.kw) / s.geo.stride_w + 1;
    s.out.c = oc;
    int32_t idx[16];
    const int32_t xc = mapped ? random_channels(wc, idx) : wc;
    s.in.c = xc;
    const tflmt_channel_map map = {idx, wc};
    const tflmt_channel_map* m = mapped ? &map : NULL;
    const int32_t nw = (kind == 1 ? 1 : oc) * s.kh * s.kw * wc;
    const int32_t nx = s.in.h * s.in.w * xc, ng = s.out.h * s.out.w * oc;
    int8_t* x = malloc((size_t)nx);
    int8_t* w0 = malloc((size_t)nw);
    int8_t* w1 = malloc((size_t)nw);
    int8_t* w2 = malloc((size_t)nw);
    float* gf = malloc(sizeof(float) * (size_t)ng);
    int8_t* gq = malloc((size_t)ng);
    float qas[24];
    fill_s8(x, nx, -128, 127);
    fill_s8(w0, nw, -127, 127);
    fill_f32(gf, ng);
    fill_s8(gq, ng, -127, 127);
    for (int i = 0; i < 24; ++i) qas[i] = 20.0f + (float)i;
    const tflmt_quant xq = {0.05f, rand_int(-10, 10)};
    const tflmt_sgd sgd = {0.01f, (int32_t)(t % 2), 7u, (uint32_t)t, 3u, NULL};
    size_t scratch_bytes = 0;
    if (kind == 0) scratch_bytes = tflmt_conv_weight_update_scratch_size(&s);
    if (kind == 1) scratch_bytes = tflmt_depthwise_weight_update_scratch_size(&s);
    void* scratch = malloc(scratch_bytes + 4);
    memcpy(w1, w0, (size_t)nw);
    memcpy(w2, w0, (size_t)nw);
    tflmt_status a = TFLMT_OK, b = TFLMT_OK;
    if (kind == 0 && !int8) {
      a = tflmt_conv_weight_update_f32(&s, gf, x, xq, qas, m, &sgd, w1, scratch);
      b = tflmt_conv_weight_update_f32_naive(&s, gf, x, xq, qas, m, &sgd, w2, NULL);
    } else if (kind == 0) {
      a = tflmt_conv_weight_update_s8(&s, gq, 0.01f, x, xq, qas, m, &sgd, w1, scratch);
      b = tflmt_conv_weight_update_s8_naive(&s, gq, 0.01f, x, xq, qas, m, &sgd, w2, NULL);
    } else if (kind == 1 && !int8) {
      a = tflmt_depthwise_weight_update_f32(&s, gf, x, xq, qas, m, &sgd, w1, scratch);
      b = tflmt_depthwise_weight_update_f32_naive(&s, gf, x, xq, qas, m, &sgd, w2, NULL);
    } else if (kind == 1) {
      a = tflmt_depthwise_weight_update_s8(&s, gq, 0.01f, x, xq, qas, m, &sgd, w1, scratch);
      b = tflmt_depthwise_weight_update_s8_naive(&s, gq, 0.01f, x, xq, qas, m, &sgd, w2, NULL);
    } else if (!int8) {
      a = tflmt_fc_weight_update_f32(oc, xc, gf, x, xq, qas, m, &sgd, w1);
      b = tflmt_fc_weight_update_f32_naive(oc, xc, gf, x, xq, qas, m, &sgd, w2);
    } else {
      a = tflmt_fc_weight_update_s8(oc, xc, gq, 0.01f, x, xq, qas, m, &sgd, w1);
      b = tflmt_fc_weight_update_s8_naive(oc, xc, gq, 0.01f, x, xq, qas, m, &sgd, w2);
    }
    CHECK(a == TFLMT_OK && b == TFLMT_OK, "case %d: status %d / %d", t, (int)a, (int)b);
    CHECK(memcmp(w1, w2, (size_t)nw) == 0, "case %d (kind %d, int8 %d, mapped %d): optimised != naive", t, kind,
          int8, mapped);
    if (mapped) { /* channels outside the map never move */
      int moved_outside = 0;
      for (int32_t e = 0; e < nw; ++e) {
        const int32_t c = e % wc;
        int in_map = 0;
        for (int32_t k = 0; k < xc; ++k) in_map |= idx[k] == c;
        if (!in_map && w1[e] != w0[e]) moved_outside = 1;
      }
      CHECK(!moved_outside, "case %d: a frozen channel moved", t);
    }
    free(x), free(w0), free(w1), free(w2), free(gf), free(gq), free(scratch);
  }
}

/* A random window: `kind` 0 a conv, 1 a 1x1 stride-1 conv, 2 a depthwise conv (up to 7x7). */
static tflmt_window random_window(int kind) {
  tflmt_window s;
  memset(&s, 0, sizeof s);
  s.geo.dilation_h = s.geo.dilation_w = 1;
  s.geo.stride_h = s.geo.stride_w = 1;
  if (kind == 1) {
    s.kh = s.kw = 1;
    s.in.h = s.out.h = rand_int(1, 7);
    s.in.w = s.out.w = rand_int(1, 7);
    s.in.c = 2 * rand_int(1, 14);
    s.out.c = rand_int(1, 40);
    return s;
  }
  const int32_t kmax = kind == 2 ? 7 : 3;
  s.kh = rand_int(1, kmax);
  s.kw = rand_int(1, kmax);
  s.geo.stride_h = rand_int(1, 2);
  s.geo.stride_w = rand_int(1, 2);
  s.geo.pad_top = rand_int(0, s.kh - 1);
  s.geo.pad_left = rand_int(0, s.kw - 1);
  s.in.h = rand_int(s.kh, 9);
  s.in.w = rand_int(s.kw, 9);
  s.in.c = rand_int(1, 20);
  s.out.c = kind == 2 ? s.in.c : rand_int(1, 20);
  s.out.h = (s.in.h + 2 * s.geo.pad_top - s.kh) / s.geo.stride_h + 1;
  s.out.w = (s.in.w + 2 * s.geo.pad_left - s.kw) / s.geo.stride_w + 1;
  return s;
}

/* Floats with some exact zeros (as after a ReLU mask). */
static void fill_grad_f32(float* p, int32_t n) {
  fill_f32(p, n);
  for (int32_t i = 0; i < n; ++i) {
    if (next_u32() % 3 == 0) p[i] = 0.0f;
  }
}

/* Depthwise weight update, float gradients, channel counts that are multiples of 8 and windows up
 * to 7x7 with strides and dilations: the input-pixel order of the VFP path against the naive nest. */
static void test_depthwise_update_wide(void) {
  for (int t = 0; t < 24; ++t) {
    tflmt_window s;
    memset(&s, 0, sizeof s);
    s.kh = rand_int(1, t % 6 == 5 ? 7 : 3);
    s.kw = rand_int(1, t % 6 == 5 ? 7 : 3);
    s.geo.stride_h = rand_int(1, 2);
    s.geo.stride_w = rand_int(1, 2);
    s.geo.dilation_h = rand_int(1, 2);
    s.geo.dilation_w = rand_int(1, 2);
    const int32_t eh = (s.kh - 1) * s.geo.dilation_h + 1, ew = (s.kw - 1) * s.geo.dilation_w + 1;
    s.geo.pad_top = rand_int(0, eh - 1);
    s.geo.pad_left = rand_int(0, ew - 1);
    s.in.h = rand_int(eh, eh + 5);
    s.in.w = rand_int(ew, ew + 5);
    s.in.c = s.out.c = 8 * rand_int(1, 3);
    s.out.h = (s.in.h + 2 * s.geo.pad_top - eh) / s.geo.stride_h + 1;
    s.out.w = (s.in.w + 2 * s.geo.pad_left - ew) / s.geo.stride_w + 1;
    const int32_t c = s.in.c, nw = s.kh * s.kw * c, nx = s.in.h * s.in.w * c, ng = s.out.h * s.out.w * c;
    int8_t* x = malloc((size_t)nx);
    int8_t* w1 = malloc((size_t)nw);
    int8_t* w2 = malloc((size_t)nw);
    float* g = malloc(sizeof(float) * (size_t)ng);
    float qas[24];
    fill_s8(x, nx, -128, 127);
    fill_s8(w1, nw, -127, 127);
    memcpy(w2, w1, (size_t)nw);
    fill_f32(g, ng);
    for (int i = 0; i < 24; ++i) qas[i] = 20.0f + (float)i;
    const tflmt_quant xq = {0.05f, rand_int(-10, 10)};
    const tflmt_sgd sgd = {0.01f, (int32_t)(t % 2), 7u, (uint32_t)t, 3u, NULL};
    void* scratch = malloc(tflmt_depthwise_weight_update_scratch_size(&s));
    const tflmt_status a = tflmt_depthwise_weight_update_f32(&s, g, x, xq, qas, NULL, &sgd, w1, scratch);
    const tflmt_status b = tflmt_depthwise_weight_update_f32_naive(&s, g, x, xq, qas, NULL, &sgd, w2, NULL);
    CHECK(a == TFLMT_OK && b == TFLMT_OK, "wide dw case %d: status %d / %d", t, (int)a, (int)b);
    CHECK(memcmp(w1, w2, (size_t)nw) == 0, "wide dw case %d (%dx%d, c %d): optimised != naive", t, (int)s.kh,
          (int)s.kw, (int)c);
    free(x);
    free(w1);
    free(w2);
    free(g);
    free(scratch);
  }
}

static void test_input_grads(void) {
  for (int t = 0; t < 160; ++t) {
    const int kind = t % 4; /* 0 conv, 1 1x1 conv, 2 depthwise, 3 fc */
    const tflmt_window s = random_window(kind == 3 ? 0 : kind);
    const int32_t in_n = kind == 3 ? rand_int(1, 40) : s.in.h * s.in.w * s.in.c;
    const int32_t out_n = kind == 3 ? rand_int(1, 12) : s.out.h * s.out.w * s.out.c;
    const int32_t nw = kind == 3 ? out_n * in_n : (kind == 2 ? 1 : s.out.c) * s.kh * s.kw * s.in.c;
    const int32_t n_scales = next_u32() % 2 ? 1 : (kind == 2 ? s.in.c : kind == 3 ? out_n : s.out.c);
    float* g = malloc(sizeof(float) * (size_t)out_n);
    int8_t* gq = malloc((size_t)out_n);
    int8_t* w = malloc((size_t)nw);
    float* scales = malloc(sizeof(float) * (size_t)n_scales);
    float* dx1 = malloc(sizeof(float) * (size_t)in_n);
    float* dx2 = malloc(sizeof(float) * (size_t)in_n);
    int8_t* q1 = malloc((size_t)in_n);
    int8_t* q2 = malloc((size_t)in_n);
    fill_grad_f32(g, out_n);
    fill_s8(gq, out_n, -127, 127);
    for (int32_t i = 0; i < out_n; ++i) {
      if (next_u32() % 3 == 0) gq[i] = 0;
    }
    fill_s8(w, nw, -127, 127);
    for (int32_t i = 0; i < n_scales; ++i) scales[i] = 0.001f * (float)rand_int(1, 100);
    size_t scratch_bytes = 0;
    if (kind == 0 || kind == 1) scratch_bytes = tflmt_conv_input_grad_s8_scratch_size(&s);
    if (kind == 2) scratch_bytes = tflmt_depthwise_input_grad_s8_scratch_size(&s);
    if (kind == 3) scratch_bytes = tflmt_fc_input_grad_s8_scratch_size(out_n, in_n);
    void* scratch = malloc(scratch_bytes + 4);
    float sc1 = 0.0f, sc2 = 0.0f;
    tflmt_status a = TFLMT_OK, b = TFLMT_OK;
    if (kind <= 1) {
      tflmt_conv_input_grad_f32(&s, g, w, scales, n_scales, dx1);
      tflmt_conv_input_grad_f32_naive(&s, g, w, scales, n_scales, dx2);
      a = tflmt_conv_input_grad_s8(&s, gq, 0.02f, w, scales, n_scales, q1, &sc1, scratch);
      b = tflmt_conv_input_grad_s8_naive(&s, gq, 0.02f, w, scales, n_scales, q2, &sc2, scratch);
    } else if (kind == 2) {
      tflmt_depthwise_input_grad_f32(&s, g, w, scales, n_scales, dx1);
      tflmt_depthwise_input_grad_f32_naive(&s, g, w, scales, n_scales, dx2);
      a = tflmt_depthwise_input_grad_s8(&s, gq, 0.02f, w, scales, n_scales, q1, &sc1, scratch);
      b = tflmt_depthwise_input_grad_s8_naive(&s, gq, 0.02f, w, scales, n_scales, q2, &sc2, scratch);
    } else {
      tflmt_fc_input_grad_f32(out_n, in_n, g, w, scales, n_scales, dx1);
      tflmt_fc_input_grad_f32_naive(out_n, in_n, g, w, scales, n_scales, dx2);
      a = tflmt_fc_input_grad_s8(out_n, in_n, gq, 0.02f, w, scales, n_scales, q1, &sc1, scratch);
      b = tflmt_fc_input_grad_s8_naive(out_n, in_n, gq, 0.02f, w, scales, n_scales, q2, &sc2, scratch);
    }
    CHECK(memcmp(dx1, dx2, sizeof(float) * (size_t)in_n) == 0,
          "input grad case %d (kind %d) float32: optimised != naive", t, kind);
    CHECK(a == b && memcmp(q1, q2, (size_t)in_n) == 0 && memcmp(&sc1, &sc2, sizeof sc1) == 0,
          "input grad case %d (kind %d) int8: optimised != naive", t, kind);
    free(g);
    free(gq);
    free(w);
    free(scales);
    free(dx1);
    free(dx2);
    free(q1);
    free(q2);
    free(scratch);
  }
}

/* A requantization: mostly TFLite's usual multipliers (scale < 0.5: the folded, fast path, with
 * right shifts on both sides of the narrow form's limit of 22), some with a left shift or a
 * ReLU6-style clamp (the general path). */
static tflmt_requant random_requant(int32_t n, int32_t* mult, int32_t* shift) {
  for (int32_t i = 0; i < n; ++i) {
    const uint32_t kind = next_u32() % 8;
    mult[i] = (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
    shift[i] = kind == 0 ? rand_int(0, 2) : kind == 1 ? rand_int(-31, -13) : rand_int(-12, -1);
  }
  tflmt_requant q;
  q.in_zero_point = rand_int(-128, 127);
  q.out_zero_point = next_u32() % 2 ? rand_int(-20, 20) : rand_int(-128, 127);
  const int relu6 = next_u32() % 4 == 0;
  q.act_min = relu6 ? q.out_zero_point : -128;
  q.act_max = relu6 ? 100 : 127;
  q.multiplier = mult;
  q.shift = shift;
  q.n_multipliers = n;
  return q;
}

static void test_forward(void) {
  for (int t = 0; t < 150; ++t) {
    const int kind = t % 3; /* 0 conv, 1 1x1 conv, 2 depthwise */
    const tflmt_window s = random_window(kind);
    const int32_t nx = s.in.h * s.in.w * s.in.c, ny = s.out.h * s.out.w * s.out.c;
    const int32_t nw = (kind == 2 ? 1 : s.out.c) * s.kh * s.kw * s.in.c;
    int8_t* x = malloc((size_t)nx);
    int8_t* w = malloc((size_t)nw);
    int32_t* bias = malloc(sizeof(int32_t) * (size_t)s.out.c);
    int32_t* mult = malloc(sizeof(int32_t) * (size_t)s.out.c);
    int32_t* shift = malloc(sizeof(int32_t) * (size_t)s.out.c);
    int8_t* y1 = malloc((size_t)ny);
    int8_t* y2 = malloc((size_t)ny);
    void* scratch = malloc(tflmt_conv2d_s8_scratch_size(&s) + 4);
    fill_s8(x, nx, -128, 127);
    fill_s8(w, nw, -127, 127);
    /* some biases near and past the 2^30 accumulator bound of the narrow requantization */
    const int huge = next_u32() % 6 == 0;
    for (int32_t i = 0; i < s.out.c; ++i) {
      bias[i] = huge ? rand_int(-1073700000, 1073700000) : rand_int(-20000, 20000);
      if (huge && next_u32() % 2) bias[i] = (bias[i] < 0 ? -1 : 1) * rand_int(1073000000, 1073741823);
    }
    const tflmt_requant q = random_requant(next_u32() % 2 ? s.out.c : 1, mult, shift);
    const int32_t* b = next_u32() % 5 ? bias : NULL;
    if (kind == 2) {
      tflmt_depthwise_conv2d_s8(&s, &q, x, w, b, y1);
      tflmt_depthwise_conv2d_s8_naive(&s, &q, x, w, b, y2);
    } else {
      /* every fourth case a scratch off word alignment (the 1x1 path that extends no weights) */
      tflmt_conv2d_s8(&s, &q, x, w, b, y1, (char*)scratch + (t % 4 == 1 ? 2 : 0));
      tflmt_conv2d_s8_naive(&s, &q, x, w, b, y2);
    }
    CHECK(memcmp(y1, y2, (size_t)ny) == 0, "forward case %d (kind %d, %dx%d, %d -> %d channels): optimised != naive",
          t, kind, (int)s.kh, (int)s.kw, (int)s.in.c, (int)s.out.c);
    free(x);
    free(w);
    free(bias);
    free(mult);
    free(shift);
    free(y1);
    free(y2);
    free(scratch);
  }
  for (int t = 0; t < 80; ++t) {
    const int32_t n = rand_int(1, 70);
    int8_t x1[70], x2[70], y1[70], y2[70];
    fill_s8(x1, n, -128, 127);
    fill_s8(x2, n, -128, 127);
    tflmt_add_params p;
    p.zero_point1 = rand_int(-128, 127);
    p.zero_point2 = rand_int(-128, 127);
    p.out_zero_point = rand_int(-128, 127);
    /* TFLite's int8 ADD: left shift 20, the larger input scale's multiplier 0.5 (2^30, shift 0);
     * also other left shifts and output shifts past the narrow form's 22 (the general loop) */
    p.left_shift = next_u32() % 4 ? 20 : rand_int(17, 23);
    p.multiplier1 = (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
    p.multiplier2 = next_u32() % 2 ? 0x40000000 : (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
    p.out_multiplier = (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
    p.shift1 = rand_int(-3, 0);
    p.shift2 = rand_int(-3, 0);
    p.out_shift = next_u32() % 4 ? rand_int(-22, -18) : rand_int(-26, -23);
    p.act_min = -128;
    p.act_max = next_u32() % 4 ? 127 : 90;
    tflmt_add_s8(&p, x1, x2, n, y1);
    tflmt_add_s8_naive(&p, x1, x2, n, y2);
    CHECK(memcmp(y1, y2, (size_t)n) == 0, "add case %d: optimised != naive", t);
  }
}

/* The narrow requantization forms against TFLite's two-step MultiplyByQuantizedMultiplier on
 * values a whole kernel rarely brings to a rounding tie: every ADD input difference, and
 * accumulators at and around multiples of 2^(e-1) below the 2^30 bound. */
static void test_requant_forms(void) {
  for (int t = 0; t < 300; ++t) {
    const int32_t m = t % 5 == 0 ? 0x40000000 : (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
    const int32_t shift = rand_int(-22, 0), ls = rand_int(0, 21);
    const tflmt_channel_requant r = tflmt_unpack_multiplier(m, shift);
    if (!tflmt_add_rescale_is_narrow(&r)) continue;
    const tflmt_add_rescale_t a = tflmt_add_rescale_of(&r);
    for (int32_t d = -255; d <= 255; ++d) {
      const int32_t want = tflmt_multiply_by_quantized_multiplier(d << ls, m, shift);
      CHECK(tflmt_add_rescale(d, ls, &a) == want, "add rescale of %d << %d by (%d, %d)", (int)d, (int)ls, (int)m,
            (int)shift);
    }
  }
  for (int t = 0; t < 300; ++t) {
    int32_t m = (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu), shift = rand_int(-22, -1);
    tflmt_requant q;
    q.in_zero_point = 0;
    q.out_zero_point = rand_int(-128, 127);
    q.act_min = -128;
    q.act_max = 127;
    q.multiplier = &m;
    q.shift = &shift;
    q.n_multipliers = 1;
    const tflmt_channel_requant r = tflmt_channel_requant_of(&q, 0);
    CHECK(r.narrow, "requant (%d, %d) should take the narrow form", (int)m, (int)shift);
    for (int i = 0; i < 200; ++i) {
      /* near a multiple of 2^(e-1) of the product's scale, or anywhere up to the bound */
      const int32_t base = i % 2 ? rand_int(-1073741823, 1073741823)
                                 : (int32_t)(((int64_t)rand_int(-4000, 4000) << -shift) * 0x40000000 / m);
      for (int32_t acc = base - 2; acc <= base + 2; ++acc) {
        if (acc <= -(1 << 30) || acc >= (1 << 30)) continue;
        const int8_t want = tflmt_requant_reference(acc, &q, 0);
        CHECK(tflmt_requant_narrow(acc, &r) == want && tflmt_requant_narrow_doubled(2 * acc, &r) == want,
              "narrow requant of %d by (%d, %d)", (int)acc, (int)m, (int)shift);
      }
    }
  }
}

static void test_gather(void) {
  int8_t x[5 * 7], y[5 * 7];
  int32_t idx[7];
  for (int i = 0; i < 35; ++i) x[i] = (int8_t)i;
  const int32_t k = random_channels(7, idx);
  tflmt_channel_gather_s8(x, 5, 7, idx, k, y);
  for (int p = 0; p < 5; ++p)
    for (int32_t j = 0; j < k; ++j) CHECK(y[p * k + j] == x[p * 7 + idx[j]], "gather p=%d j=%d", p, (int)j);
}

static void test_merge(void) {
  int8_t base[5 * 7], piece[5 * 7], y[5 * 7];
  int32_t idx[7];
  for (int i = 0; i < 35; ++i) base[i] = (int8_t)i, piece[i] = (int8_t)(-1 - i);
  const int32_t k = random_channels(7, idx);
  tflmt_channel_merge_s8(base, piece, 5, 7, idx, k, y);
  for (int r = 0; r < 5; ++r) {
    int32_t j = 0;
    for (int c = 0; c < 7; ++c) {
      const int trained = j < k && idx[j] == c;
      CHECK(y[r * 7 + c] == (trained ? piece[r * k + j] : base[r * 7 + c]), "merge r=%d c=%d", r, c);
      j += trained;
    }
  }
}

/* A 3x3 SAME max pool, stride 2, over a 4x4 map with ties: the first in-bounds maximum wins,
 * counted from the unclipped window origin; the gradients land there (overlaps add). */
static void test_max_pool(void) {
  const int8_t x[16] = {1, 5, 5, 0, 2, 5, -3, 4, 7, 7, 1, 1, 0, 2, 9, 9};
  const tflmt_window s = {{4, 4, 1}, {2, 2, 1}, 3, 3, {2, 2, 1, 1, 1, 1}};
  uint8_t idx[4];
  tflmt_max_pool_argmax_s8(&s, x, idx);
  /* windows start at (-1,-1), (-1,1), (1,-1), (1,1); their first maxima: x[1] (twice: the windows
   * overlap), x[8], x[14] */
  const uint8_t want[4] = {1 * 3 + 2, 1 * 3 + 0, 1 * 3 + 1, 2 * 3 + 1};
  for (int i = 0; i < 4; ++i) CHECK(idx[i] == want[i], "max pool argmax %d: %d, want %d", i, idx[i], want[i]);
  const float g[4] = {1.0f, 2.0f, 4.0f, 8.0f};
  float dx[16];
  CHECK(tflmt_max_pool_grad_f32(&s, g, idx, dx) == TFLMT_OK, "max pool grad status");
  for (int i = 0; i < 16; ++i) {
    const float e = i == 1 ? 3.0f : i == 8 ? 4.0f : i == 14 ? 8.0f : 0.0f;
    CHECK(dx[i] == e, "max pool grad %d: %g", i, (double)dx[i]);
  }
  uint8_t bad[4] = {0, 0, 0, 0};  /* window position 0 of the first window is padding */
  CHECK(tflmt_max_pool_grad_f32(&s, g, bad, dx) == TFLMT_BAD_ARG, "max pool grad: padding argmax refused");
}

/* ---------------------------------------------------------------- checkpoints */
typedef struct {
  uint8_t bytes[1024];
  uint32_t write_budget; /* bytes still accepted; UINT32_MAX = no power cut */
} Flash;

static int32_t flash_read(void* ctx, uint32_t off, void* dst, uint32_t n) {
  Flash* f = (Flash*)ctx;
  if (off + n > sizeof f->bytes) return -1;
  memcpy(dst, f->bytes + off, n);
  return 0;
}

static int32_t flash_write(void* ctx, uint32_t off, const void* src, uint32_t n) {
  Flash* f = (Flash*)ctx;
  if (off + n > sizeof f->bytes) return -1;
  const uint32_t keep = n < f->write_budget ? n : f->write_budget;
  memcpy(f->bytes + off, src, keep);
  if (f->write_budget != UINT32_MAX) f->write_budget -= keep;
  return keep == n ? 0 : -1;
}

static void test_checkpoints(void) {
  CHECK(tflmt_crc32(0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value");
  int8_t weights[37];
  int32_t bias[3];
  uint32_t steps[2] = {0, 0};
  tflmt_trainable e[2] = {{NULL, 4, weights, sizeof weights, &steps[0]}, {NULL, 9, bias, sizeof bias, &steps[1]}};
  const uint32_t record = tflmt_checkpoint_record_bytes(e, 2);
  static Flash flash, torn;
  memset(&flash, 0xFF, sizeof flash);
  flash.write_budget = UINT32_MAX;
  tflmt_storage s = {&flash, flash_read, flash_write, record};
  for (int i = 0; i < 37; ++i) weights[i] = (int8_t)i;
  bias[0] = 1, bias[1] = 2, bias[2] = 3, steps[0] = steps[1] = 10;
  uint32_t seq = 0;
  CHECK(tflmt_checkpoint_save(&s, e, 2, &seq) == TFLMT_CKPT_OK && seq == 1, "first save");
  for (int i = 0; i < 37; ++i) weights[i] = (int8_t)(100 - i);
  steps[0] = steps[1] = 20;
  CHECK(tflmt_checkpoint_save(&s, e, 2, &seq) == TFLMT_CKPT_OK && seq == 2, "second save");
  for (int i = 0; i < 37; ++i) weights[i] = (int8_t)(-i);
  steps[0] = steps[1] = 30;
  for (uint32_t cut = 0; cut <= record; ++cut) {
    torn = flash;
    torn.write_budget = cut;
    tflmt_storage ts = {&torn, flash_read, flash_write, record};
    const tflmt_ckpt_status st = tflmt_checkpoint_save(&ts, e, 2, NULL);
    CHECK((st == TFLMT_CKPT_OK) == (cut == record), "cut %u: save status %d", (unsigned)cut, (int)st);
    int8_t w_out[37];
    int32_t b_out[3];
    uint32_t s_out[2] = {0, 0};
    tflmt_trainable r[2] = {{NULL, 4, w_out, sizeof w_out, &s_out[0]}, {NULL, 9, b_out, sizeof b_out, &s_out[1]}};
    torn.write_budget = UINT32_MAX;
    CHECK(tflmt_checkpoint_load(&ts, r, 2, &seq) == TFLMT_CKPT_OK, "cut %u: nothing loadable", (unsigned)cut);
    const int newest = cut == record;
    CHECK(seq == (newest ? 3u : 2u) && s_out[0] == (newest ? 30u : 20u) && w_out[5] == (newest ? -5 : 95),
          "cut %u: restored sequence %u", (unsigned)cut, (unsigned)seq);
  }
  tflmt_trainable other[1] = {{NULL, 4, weights, sizeof weights, &steps[0]}};
  CHECK(tflmt_checkpoint_load(&s, other, 1, &seq) == TFLMT_CKPT_NONE, "a foreign layout is refused");
}

int main(void) {
  test_weight_updates();
  test_depthwise_update_wide();
  test_input_grads();
  test_forward();
  test_requant_forms();
  test_gather();
  test_merge();
  test_max_pool();
  test_checkpoints();
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("core_test: all passed\n");
  return 0;
}
