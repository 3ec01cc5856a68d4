/* The training loop of examples/tflm_app (see app_loop.h). */
#include "app_loop.h"

#include <stddef.h>

int32_t app_train(const app_model* model, const app_data* data, int32_t epochs, int32_t checkpoint_every,
                  const tflmt_storage* storage, const tflmt_trainable* state, int32_t state_count,
                  app_report* report) {
  report->steps = report->refused = report->checkpoints = 0;
  report->first_epoch_loss = report->last_epoch_loss = 0.0f;
  for (int32_t e = 0; e < epochs; ++e) {
    double sum = 0.0;
    int32_t n = 0;
    for (int32_t i = 0; i < data->count; ++i) {
      float loss = 0.0f;
      const int32_t st = model->invoke(model->ctx, data->samples + (size_t)i * (size_t)data->sample_bytes,
                                       data->labels[i], &loss, NULL);
      if (st == 1) {
        ++report->refused; /* divergence guard: the state is as before this step */
      } else if (st != 0) {
        return st;
      } else {
        sum += loss;
        ++n;
      }
      ++report->steps;
      if (checkpoint_every > 0 && storage != NULL && report->steps % checkpoint_every == 0) {
        if (tflmt_checkpoint_save(storage, state, state_count, NULL) != TFLMT_CKPT_OK) return 100;
        ++report->checkpoints;
      }
    }
    const float mean = n > 0 ? (float)(sum / n) : 0.0f;
    if (e == 0) report->first_epoch_loss = mean;
    report->last_epoch_loss = mean;
  }
  return 0;
}

float app_accuracy(const app_model* model, const app_data* data) {
  int8_t logits[256];
  if (model->classes < 1 || model->classes > 256) return -1.0f;
  int32_t hits = 0;
  for (int32_t i = 0; i < data->count; ++i) {
    if (model->invoke(model->ctx, data->samples + (size_t)i * (size_t)data->sample_bytes, -1, NULL, logits) != 0) {
      return -2.0f;
    }
    int32_t best = 0;
    for (int32_t c = 1; c < model->classes; ++c) {
      if (logits[c] > logits[best]) best = c;
    }
    hits += best == data->labels[i];
  }
  return data->count > 0 ? (float)hits / (float)data->count : 0.0f;
}
