/* One hot training op, optimised or naive, on an MCUNet-like shape: the program bench/kernel_table.py
 * runs under callgrind (instruction counts). argv: <op> <variant: opt|naive|none> <dtype: f32|s8>.
 * "none" does the same setup and skips the op (the baseline to subtract). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflmt/core.h"

static uint32_t state = 1u;
static int32_t rnd(int32_t lo, int32_t hi) {
  state = state * 1664525u + 1013904223u;
  return lo + (int32_t)((state >> 8) % (uint32_t)(hi - lo + 1));
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const char* op = argv[1];
  const int run = strcmp(argv[2], "none") != 0, naive = strcmp(argv[2], "naive") == 0;
  const int s8 = strcmp(argv[3], "s8") == 0;
  const int dw = strstr(op, "dw") != NULL, fc = strstr(op, "fc") != NULL;
  tflmt_window w;
  memset(&w, 0, sizeof w);
  /* 1x1 conv 16x16: 48 -> 16 channels; depthwise 3x3 16x16x48; FC 96 -> 10 (the classifier). */
  w.in.h = w.in.w = w.out.h = w.out.w = 16;
  w.in.c = 48;
  w.out.c = dw ? 48 : 16;
  w.kh = w.kw = dw ? 3 : 1;
  w.geo.stride_h = w.geo.stride_w = w.geo.dilation_h = w.geo.dilation_w = 1;
  w.geo.pad_top = w.geo.pad_left = dw ? 1 : 0;
  const int32_t fc_in = 96, fc_out = 10;
  const int32_t nx = fc ? fc_in : w.in.h * w.in.w * w.in.c, ng = fc ? fc_out : w.out.h * w.out.w * w.out.c;
  const int32_t nw = fc ? fc_in * fc_out : (dw ? 9 * 48 : 16 * 48);
  int8_t* x = malloc((size_t)nx);
  int8_t* wt = malloc((size_t)nw);
  float* gf = malloc(sizeof(float) * (size_t)ng);
  int8_t* gq = malloc((size_t)ng);
  float* dxf = malloc(sizeof(float) * (size_t)nx);
  int8_t* dxq = malloc((size_t)nx);
  float qas[64], scales[64], dx_scale = 0.0f;
  void* scratch = malloc(1 << 20);
  for (int32_t i = 0; i < nx; ++i) x[i] = (int8_t)rnd(-128, 127);
  for (int32_t i = 0; i < nw; ++i) wt[i] = (int8_t)rnd(-127, 127);
  for (int32_t i = 0; i < ng; ++i) {
    gq[i] = (int8_t)(rnd(0, 3) == 0 ? 0 : rnd(-127, 127)); /* ReLU-like zeros */
    gf[i] = gq[i] * 0.01f;
  }
  for (int i = 0; i < 64; ++i) qas[i] = 30.0f, scales[i] = 0.02f;
  const tflmt_quant xq = {0.05f, 3};
  const tflmt_sgd sgd = {0.01f, 1, 7u, 1u, 0u, NULL};
  tflmt_status st = TFLMT_OK;
  if (run && strncmp(op, "wu", 2) == 0) {
    if (fc) {
      st = s8 ? (naive ? tflmt_fc_weight_update_s8_naive : tflmt_fc_weight_update_s8)(fc_out, fc_in, gq, 0.01f, x, xq,
                                                                                      qas, NULL, &sgd, wt)
              : (naive ? tflmt_fc_weight_update_f32_naive : tflmt_fc_weight_update_f32)(fc_out, fc_in, gf, x, xq, qas,
                                                                                        NULL, &sgd, wt);
    } else if (dw) {
      st = s8 ? (naive ? tflmt_depthwise_weight_update_s8_naive : tflmt_depthwise_weight_update_s8)(
                    &w, gq, 0.01f, x, xq, qas, NULL, &sgd, wt, scratch)
              : (naive ? tflmt_depthwise_weight_update_f32_naive : tflmt_depthwise_weight_update_f32)(
                    &w, gf, x, xq, qas, NULL, &sgd, wt, scratch);
    } else {
      st = s8 ? (naive ? tflmt_conv_weight_update_s8_naive : tflmt_conv_weight_update_s8)(&w, gq, 0.01f, x, xq, qas,
                                                                                        NULL, &sgd, wt, scratch)
              : (naive ? tflmt_conv_weight_update_f32_naive : tflmt_conv_weight_update_f32)(&w, gf, x, xq, qas, NULL,
                                                                                          &sgd, wt, scratch);
    }
  } else if (run) { /* input gradient */
    if (fc) {
      if (s8) st = (naive ? tflmt_fc_input_grad_s8_naive : tflmt_fc_input_grad_s8)(fc_out, fc_in, gq, 0.01f, wt, scales,
                                                                                   1, dxq, &dx_scale, scratch);
      else (naive ? tflmt_fc_input_grad_f32_naive : tflmt_fc_input_grad_f32)(fc_out, fc_in, gf, wt, scales, 1, dxf);
    } else if (dw) {
      if (s8) st = (naive ? tflmt_depthwise_input_grad_s8_naive : tflmt_depthwise_input_grad_s8)(
                  &w, gq, 0.01f, wt, scales, 48, dxq, &dx_scale, scratch);
      else (naive ? tflmt_depthwise_input_grad_f32_naive : tflmt_depthwise_input_grad_f32)(&w, gf, wt, scales, 48, dxf);
    } else {
      if (s8) st = (naive ? tflmt_conv_input_grad_s8_naive : tflmt_conv_input_grad_s8)(&w, gq, 0.01f, wt, scales, 16,
                                                                                       dxq, &dx_scale, scratch);
      else (naive ? tflmt_conv_input_grad_f32_naive : tflmt_conv_input_grad_f32)(&w, gf, wt, scales, 16, dxf);
    }
  }
  printf("%d %d\n", (int)st, (int)(wt[0] + dxq[0]));
  return st == TFLMT_OK ? 0 : 1;
}
