/* tflm-train compute kernels: the flat C99 API of kernels/core.
 *
 * Every function is pure: explicit shapes, no allocation, no global state.
 * Tensors are batch-1 NHWC (the batch dimension is left out). Weights follow
 * TFLite's layouts: CONV_2D [out_c, kh, kw, in_c], DEPTHWISE_CONV_2D
 * [1, kh, kw, c] (depth multiplier 1), FULLY_CONNECTED [out_n, in_n].
 *
 * A gradient is float32 (`_f32`) or int8 with one float32 scale per tensor
 * (`_s8`, real value = q * scale). The numpy functions in
 * tflm_train/reference/training.py are the specification: integer results are
 * bit-exact with them and float32 results follow the same summation order
 * (build with -ffp-contract=off to keep them bit-exact).
 *
 * Ops that need working memory take a `scratch` pointer whose size in bytes is
 * returned by the matching `*_scratch_size` function; scratch must be aligned
 * to 4 bytes. Output buffers never alias inputs.
 */
#ifndef TFLMT_CORE_H_
#define TFLMT_CORE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TFLMT_OK = 0,
  TFLMT_NONFINITE = 1, /* a gradient became NaN or infinite: nothing written to parameters */
  TFLMT_BAD_ARG = 2
} tflmt_status;

/* Convolution geometry of the forward op; pad_* are the top/left paddings. */
typedef struct {
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
} tflmt_geometry;

typedef struct {
  int32_t h, w, c;
} tflmt_shape3;

/* Forward-op geometry of CONV_2D / DEPTHWISE_CONV_2D / the pools. */
typedef struct {
  tflmt_shape3 in;  /* forward input x */
  tflmt_shape3 out; /* forward output y (= gradient shape) */
  int32_t kh, kw;   /* filter size */
  tflmt_geometry geo;
} tflmt_window;

typedef struct {
  float scale;
  int32_t zero_point;
} tflmt_quant;

/* SGD on integer state: v <- saturate(v - round(g * qas[channel] * learning_rate)).
 * Stochastic rounding draws u in [0,1) from a counter-based PRNG keyed by
 * (seed, op_uid, step, element index); `step` is the op's update counter. */
/* The weight input channels an update trains. A NULL map: all of them, and x
 * holds all of them. Otherwise x holds only the trained channels (the copy
 * TFLMT_CHANNEL_GATHER makes in the forward pass): x channel c is weight input
 * channel index[c] of weight_channels; the other channels stay frozen. */
typedef struct {
  const int32_t* index;
  int32_t weight_channels;
} tflmt_channel_map;

typedef struct {
  float learning_rate;
  int32_t stochastic; /* 1: floor(t + u), 0: round half to even */
  uint32_t seed, op_uid, step;
  /* Weight updates only: NULL, or one residual byte per weight element (16-bit update precision:
   * the weight and its residual hold v = w * 256 + r, the step is rounded to 1/256 LSB, v saturates
   * at +-127 * 256 and w = (v + 128) >> 8, r = v - 256 w). Last, so initializers may omit it. */
  int8_t* residual;
} tflmt_sgd;

/* The learning rate of an op's update number `step` (tflmt_sgd.step): linear decay from lr to
 * final_lr over the first decay_steps updates, then final_lr (decay_steps 0: lr), times the warm-up
 * ramp min(1, (step + 1) / warmup_steps) (warmup_steps 0: 1). float32 in this order (the spec:
 * tflm_train/reference/training.py scheduled_learning_rate); step counts <= 2^24. */
static inline float tflmt_scheduled_learning_rate(float lr, float final_lr, uint32_t decay_steps,
                                                  uint32_t warmup_steps, uint32_t step) {
  float rate = lr;
  if (decay_steps != 0u) {
    const float done = (float)(step < decay_steps ? step : decay_steps) / (float)decay_steps;
    rate = lr * (1.0f - done) + final_lr * done;
  }
  if (warmup_steps != 0u && step < warmup_steps - 1u) rate = rate * ((float)(step + 1u) / (float)warmup_steps);
  return rate;
}

/* ------------------------------------------------------------------ PRNG */
uint32_t tflmt_prng_stream(uint32_t seed, uint32_t op_uid, uint32_t step);
float tflmt_prng_uniform(uint32_t stream, uint32_t index);

/* ------------------------------------------------------------------ helpers */
/* Per-tensor symmetric int8 with scale max|v| / 127 (0 for an all-zero tensor). */
tflmt_status tflmt_quantize_grad_s8(const float* v, int32_t n, int8_t* q, float* scale);

/* ------------------------------------------------------------------ loss */
/* Softmax cross-entropy of int8 logits against `label` (0 <= label < n). */
tflmt_status tflmt_softmax_ce_f32(int32_t label, const int8_t* logits, int32_t n, tflmt_quant q,
                                  float* loss, float* grad);
tflmt_status tflmt_softmax_ce_s8(int32_t label, const int8_t* logits, int32_t n, tflmt_quant q,
                                 float* loss, int8_t* grad, float* grad_scale);

/* ------------------------------------------------------------------ clamp (ReLU/ReLU6) backward */
/* Bit i (LSB first) of mask is set where act_min < y[i] < act_max. Writes (n + 7) / 8 bytes. */
void tflmt_clamp_mask_s8(const int8_t* y, int32_t n, int32_t act_min, int32_t act_max, uint8_t* mask);
void tflmt_clamp_grad_f32(const float* g, const uint8_t* mask, int32_t n, float* out);
void tflmt_clamp_grad_s8(const int8_t* g, const uint8_t* mask, int32_t n, int8_t* out);

/* ------------------------------------------------------------------ ADD backward (fan-in of a gradient) */
void tflmt_grad_accum_f32(const float* a, const float* b, int32_t n, float* out);
tflmt_status tflmt_grad_accum_s8(const int8_t* a, float a_scale, const int8_t* b, float b_scale, int32_t n,
                                 int8_t* out, float* out_scale);

/* ------------------------------------------------------------------ pooling / MEAN / PAD backward */
void tflmt_avg_pool_grad_f32(const tflmt_window* s, const float* g, float* dx);
size_t tflmt_avg_pool_grad_s8_scratch_size(const tflmt_window* s);
tflmt_status tflmt_avg_pool_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, int8_t* dx,
                                    float* dx_scale, void* scratch);
/* MAX_POOL_2D: idx (one byte per output element) = the window position fy * kw + fx, from the
 * unclipped window origin, of the first in-bounds maximum (rows, then columns); kh * kw <= 256.
 * The backward adds each output's gradient at that position (TFLMT_BAD_ARG for a byte naming a
 * position outside the window's inputs). */
void tflmt_max_pool_argmax_s8(const tflmt_window* s, const int8_t* x, uint8_t* idx);
tflmt_status tflmt_max_pool_grad_f32(const tflmt_window* s, const float* g, const uint8_t* idx, float* dx);
size_t tflmt_max_pool_grad_s8_scratch_size(const tflmt_window* s);
tflmt_status tflmt_max_pool_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, const uint8_t* idx,
                                    int8_t* dx, float* dx_scale, void* scratch);
/* MEAN over H and W: g has `in.c` elements. */
void tflmt_mean_grad_f32(tflmt_shape3 in, const float* g, float* dx);
void tflmt_mean_grad_s8(tflmt_shape3 in, const int8_t* g, float g_scale, int8_t* dx, float* dx_scale);
/* dx = g[pad_before[d] : pad_before[d] + x_dims[d]] over `rank` dimensions. */
tflmt_status tflmt_pad_grad(const void* g, const int32_t* g_dims, const int32_t* pad_before, const int32_t* x_dims,
                            int32_t rank, int32_t elem_bytes, void* dx);

/* ------------------------------------------------------------------ bias gradient + update */
/* g is [rows, channels]; bias (int32) saturates. */
tflmt_status tflmt_bias_update_f32(const float* g, int32_t rows, int32_t channels, const float* qas,
                                   const tflmt_sgd* sgd, int32_t* bias);
tflmt_status tflmt_bias_update_s8(const int8_t* g, float g_scale, int32_t rows, int32_t channels,
                                  const float* qas, const tflmt_sgd* sgd, int32_t* bias);

/* ------------------------------------------------------------------ fused weight gradient + update
 * The weight gradient is never materialised: each output channel's (or tap's)
 * gradient is formed in scratch and applied at once, for the input channels
 * x holds (`channels`, see tflmt_channel_map). The window's in.c and the FC's
 * in_n count x's channels. Weights saturate to [-127, 127]. */
size_t tflmt_conv_weight_update_scratch_size(const tflmt_window* s);
tflmt_status tflmt_conv_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x, tflmt_quant xq,
                                          const float* qas, const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                          int8_t* w, void* scratch);
tflmt_status tflmt_conv_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* x,
                                         tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                         const tflmt_sgd* sgd, int8_t* w, void* scratch);
size_t tflmt_depthwise_weight_update_scratch_size(const tflmt_window* s);
tflmt_status tflmt_depthwise_weight_update_f32(const tflmt_window* s, const float* g, const int8_t* x,
                                               tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                               const tflmt_sgd* sgd, int8_t* w, void* scratch);
tflmt_status tflmt_depthwise_weight_update_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                              const int8_t* x, tflmt_quant xq, const float* qas,
                                              const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w,
                                              void* scratch);
tflmt_status tflmt_fc_weight_update_f32(int32_t out_n, int32_t in_n, const float* g, const int8_t* x,
                                        tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                        const tflmt_sgd* sgd, int8_t* w);
tflmt_status tflmt_fc_weight_update_s8(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                       const int8_t* x, tflmt_quant xq, const float* qas,
                                       const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w);

/* ------------------------------------------------------------------ channel gather
 * y[p, k] = x[p, index[k]] for p < pixels: x is [pixels, channels], y [pixels, count]. */
void tflmt_channel_gather_s8(const int8_t* x, int32_t pixels, int32_t channels, const int32_t* index,
                             int32_t count, int8_t* y);

/* ------------------------------------------------------------------ channel merge
 * y = base, then y[r, index[k]] = slice[r, k]: base and y are [rows, channels], slice
 * [rows, count]. The weights of a channel-sparse layer for the ops that read them whole. */
void tflmt_channel_merge_s8(const int8_t* base, const int8_t* slice, int32_t rows, int32_t channels,
                            const int32_t* index, int32_t count, int8_t* y);

/* ------------------------------------------------------------------ input gradients
 * w_scales holds n_scales entries: 1 (per-tensor) or one per output channel. */
void tflmt_conv_input_grad_f32(const tflmt_window* s, const float* g, const int8_t* w, const float* w_scales,
                               int32_t n_scales, float* dx);
size_t tflmt_conv_input_grad_s8_scratch_size(const tflmt_window* s);
tflmt_status tflmt_conv_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale, const int8_t* w,
                                      const float* w_scales, int32_t n_scales, int8_t* dx, float* dx_scale,
                                      void* scratch);
void tflmt_depthwise_input_grad_f32(const tflmt_window* s, const float* g, const int8_t* w,
                                    const float* w_scales, int32_t n_scales, float* dx);
size_t tflmt_depthwise_input_grad_s8_scratch_size(const tflmt_window* s);
tflmt_status tflmt_depthwise_input_grad_s8(const tflmt_window* s, const int8_t* g, float g_scale,
                                           const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                           float* dx_scale, void* scratch);
void tflmt_fc_input_grad_f32(int32_t out_n, int32_t in_n, const float* g, const int8_t* w, const float* w_scales,
                             int32_t n_scales, float* dx);
size_t tflmt_fc_input_grad_s8_scratch_size(int32_t out_n, int32_t in_n);
tflmt_status tflmt_fc_input_grad_s8(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale, const int8_t* w,
                                    const float* w_scales, int32_t n_scales, int8_t* dx, float* dx_scale,
                                    void* scratch);

/* ------------------------------------------------------------------ naive loop nests (benchmark baseline)
 * Same contracts and results as the functions above, written as the plain
 * loop nest of the definition; they ignore `scratch` where they need none. */
tflmt_status tflmt_conv_weight_update_f32_naive(const tflmt_window* s, const float* g, const int8_t* x,
                                                tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                                const tflmt_sgd* sgd, int8_t* w, void* scratch);
tflmt_status tflmt_conv_weight_update_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                               const int8_t* x, tflmt_quant xq, const float* qas,
                                               const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w,
                                               void* scratch);
tflmt_status tflmt_depthwise_weight_update_f32_naive(const tflmt_window* s, const float* g, const int8_t* x,
                                                     tflmt_quant xq, const float* qas,
                                                     const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                                     int8_t* w, void* scratch);
tflmt_status tflmt_depthwise_weight_update_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                                    const int8_t* x, tflmt_quant xq, const float* qas,
                                                    const tflmt_channel_map* channels, const tflmt_sgd* sgd,
                                                    int8_t* w, void* scratch);
tflmt_status tflmt_fc_weight_update_f32_naive(int32_t out_n, int32_t in_n, const float* g, const int8_t* x,
                                              tflmt_quant xq, const float* qas, const tflmt_channel_map* channels,
                                              const tflmt_sgd* sgd, int8_t* w);
tflmt_status tflmt_fc_weight_update_s8_naive(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                             const int8_t* x, tflmt_quant xq, const float* qas,
                                             const tflmt_channel_map* channels, const tflmt_sgd* sgd, int8_t* w);
void tflmt_conv_input_grad_f32_naive(const tflmt_window* s, const float* g, const int8_t* w,
                                     const float* w_scales, int32_t n_scales, float* dx);
tflmt_status tflmt_conv_input_grad_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                            const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                            float* dx_scale, void* scratch);
void tflmt_depthwise_input_grad_f32_naive(const tflmt_window* s, const float* g, const int8_t* w,
                                          const float* w_scales, int32_t n_scales, float* dx);
tflmt_status tflmt_depthwise_input_grad_s8_naive(const tflmt_window* s, const int8_t* g, float g_scale,
                                                 const int8_t* w, const float* w_scales, int32_t n_scales,
                                                 int8_t* dx, float* dx_scale, void* scratch);
void tflmt_fc_input_grad_f32_naive(int32_t out_n, int32_t in_n, const float* g, const int8_t* w,
                                   const float* w_scales, int32_t n_scales, float* dx);
tflmt_status tflmt_fc_input_grad_s8_naive(int32_t out_n, int32_t in_n, const int8_t* g, float g_scale,
                                          const int8_t* w, const float* w_scales, int32_t n_scales, int8_t* dx,
                                          float* dx_scale, void* scratch);

#ifdef __cplusplus
}
#endif
#endif /* TFLMT_CORE_H_ */
