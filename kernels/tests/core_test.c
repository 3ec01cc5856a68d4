/* A C-only test of kernels/core (no Python, no TFLM): what Bazel's cc_test runs.
 *
 * - the optimised weight-update kernels == the naive loop nests, bit for bit, on random shapes,
 *   both gradient dtypes, with and without a channel map (the full spec check against the numpy
 *   reference is tests/test_core_kernels.py);
 * - the channel gather;
 * - CRC-32 and checkpoints: a save cut at every byte offset leaves the previous checkpoint loadable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflmt/checkpoint.h"
#include "tflmt/core.h"

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
    tflmt_window s;
    memset(&s, 0, sizeof s);
    s.kh = kind == 2 ? 1 : rand_int(1, 3);
    s.kw = kind == 2 ? 1 : rand_int(1, 3);
    s.geo.stride_h = rand_int(1, 2);
    s.geo.stride_w = rand_int(1, 2);
    s.geo.dilation_h = s.geo.dilation_w = 1;
    s.geo.pad_top = rand_int(0, s.kh - 1);
    s.geo.pad_left = rand_int(0, s.kw - 1);
    s.in.h = kind == 2 ? 1 : rand_int(s.kh, 7);
    s.in.w = kind == 2 ? 1 : rand_int(s.kw, 7);
    const int32_t wc = rand_int(1, 9);                  /* weight input channels */
    const int32_t oc = kind == 1 ? wc : rand_int(1, 9);
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
    float qas[16];
    fill_s8(x, nx, -128, 127);
    fill_s8(w0, nw, -127, 127);
    fill_f32(gf, ng);
    fill_s8(gq, ng, -127, 127);
    for (int i = 0; i < 16; ++i) qas[i] = 20.0f + (float)i;
    const tflmt_quant xq = {0.05f, rand_int(-10, 10)};
    const tflmt_sgd sgd = {0.01f, (int32_t)(t % 2), 7u, (uint32_t)t, 3u};
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

static void test_gather(void) {
  int8_t x[5 * 7], y[5 * 7];
  int32_t idx[7];
  for (int i = 0; i < 35; ++i) x[i] = (int8_t)i;
  const int32_t k = random_channels(7, idx);
  tflmt_channel_gather_s8(x, 5, 7, idx, k, y);
  for (int p = 0; p < 5; ++p)
    for (int32_t j = 0; j < k; ++j) CHECK(y[p * k + j] == x[p * 7 + idx[j]], "gather p=%d j=%d", p, (int)j);
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
  test_gather();
  test_checkpoints();
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("core_test: all passed\n");
  return 0;
}
