// A TFLM application that keeps learning: the training model as a C array (tflm-train export-c),
// the forward ops plus tflm-train's one registration call, a loop that trains on labelled samples
// with a checkpoint every N steps, then inference. Builds against TFLM (see README.md); the loop
// itself (app_loop.c) also runs in CI against the pinned tflite-micro wheel.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "app_data.h"  // kSamples, kLabels, kSampleCount, kSampleBytes (make_app_data.py)
#include "app_loop.h"
#include "model.h"     // tflm-train export-c --name=model
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tflmt/checkpoint.h"
#include "tflmt/state.h"
#include "tflmt/tflm.h"

namespace {

alignas(16) uint8_t g_arena[MODEL_ARENA_SIZE];
tflmt_trainable g_state[32];

// Stand-in for a flash region: two checkpoint slots. On a device these callbacks erase/program flash.
constexpr uint32_t kSlotBytes = 16 * 1024;
uint8_t g_flash[2 * kSlotBytes];
int32_t FlashRead(void*, uint32_t off, void* dst, uint32_t n) {
  if (off + n > sizeof g_flash) return -1;
  memcpy(dst, g_flash + off, n);
  return 0;
}
int32_t FlashWrite(void*, uint32_t off, const void* src, uint32_t n) {
  if (off + n > sizeof g_flash) return -1;
  memcpy(g_flash + off, src, n);
  return 0;
}

int32_t Invoke(void* ctx, const int8_t* sample, int32_t label, float* loss, int8_t* logits) {
  auto* interp = static_cast<tflite::MicroInterpreter*>(ctx);
  TfLiteTensor* x = interp->input(0);
  memcpy(x->data.int8, sample, x->bytes);
  interp->input(1)->data.i32[0] = label;  // -1: inference only
  if (interp->Invoke() != kTfLiteOk) return label >= 0 ? 1 : 2;  // a failed step applied no update
  if (loss) *loss = interp->output(1)->data.f[0];
  if (logits) memcpy(logits, interp->output(0)->data.int8, MODEL_NUM_CLASSES);
  return 0;
}

}  // namespace

int main() {
  tflmt_state_attach(g_state, 32);  // before AllocateTensors: the update ops record their SRAM copies
  static tflite::MicroMutableOpResolver<MODEL_RESOLVER_OPS> resolver;
  MODEL_ADD_FORWARD_OPS(resolver);
  tflmt::AddTrainingOps(resolver);
  tflite::MicroInterpreter interp(tflite::GetModel(model_model), resolver, g_arena, MODEL_ARENA_SIZE);
  if (interp.AllocateTensors() != kTfLiteOk) return 1;

  const tflmt_storage flash = {nullptr, FlashRead, FlashWrite, kSlotBytes};
  uint32_t seq = 0;
  if (tflmt_checkpoint_load(&flash, g_state, tflmt_state_count(), &seq) == TFLMT_CKPT_OK) {
    printf("resumed from checkpoint %u\n", (unsigned)seq);
  }
  const app_model model = {&interp, Invoke, MODEL_NUM_CLASSES};
  const app_data data = {kSamples, kLabels, kSampleCount, kSampleBytes};
  printf("accuracy before: %.3f\n", app_accuracy(&model, &data));
  app_report r;
  if (app_train(&model, &data, 2, 50, &flash, g_state, tflmt_state_count(), &r) != 0) return 1;
  printf("%d steps (%d refused), %d checkpoints, mean loss %.3f -> %.3f\n", (int)r.steps, (int)r.refused,
         (int)r.checkpoints, r.first_epoch_loss, r.last_epoch_loss);
  printf("accuracy after: %.3f\n", app_accuracy(&model, &data));
  return 0;
}
