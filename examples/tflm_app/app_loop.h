/* The training loop of a TFLM app, independent of how the interpreter is reached.
 *
 * main.cc drives it with tflite::MicroInterpreter on a device; tests/test_tflm_app.py drives the
 * same C code with the pinned tflite-micro wheel, so the loop is exercised in CI. */
#ifndef TFLMT_APP_LOOP_H_
#define TFLMT_APP_LOOP_H_

#include <stdint.h>

#include "tflmt/checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  void* ctx;
  /* One interpreter call: input = sample, label >= 0 trains one step (loss written), label < 0
   * runs inference (logits written, `classes` int8 values). Returns 0 on success, 1 when the step
   * was refused by the divergence guard (no update applied), other values on errors. */
  int32_t (*invoke)(void* ctx, const int8_t* sample, int32_t label, float* loss, int8_t* logits);
  int32_t classes;
} app_model;

typedef struct {
  const int8_t* samples; /* count x sample_bytes, already quantized to the model input */
  const int32_t* labels;
  int32_t count;
  int32_t sample_bytes;
} app_data;

typedef struct {
  int32_t steps, refused, checkpoints;
  float first_epoch_loss, last_epoch_loss; /* mean loss of the first and the last epoch */
} app_report;

/* Trains `epochs` passes over `data` in order; writes a checkpoint of `state` every
 * `checkpoint_every` steps (0: never). Returns 0, or the first error code. */
int32_t app_train(const app_model* model, const app_data* data, int32_t epochs, int32_t checkpoint_every,
                  const tflmt_storage* storage, const tflmt_trainable* state, int32_t state_count,
                  app_report* report);

/* Top-1 accuracy of inference calls over `data` (0..1), or a negative error code. */
float app_accuracy(const app_model* model, const app_data* data);

#ifdef __cplusplus
}
#endif
#endif /* TFLMT_APP_LOOP_H_ */
