/* Runs training steps of the generated model on real Fashion-MNIST samples and checks
 * every loss and the final trained state bit for bit against the host (the TFLM
 * interpreter's results, recorded in data.h by make_image.py). Exit status 0 = bit-exact. */
#include <stdint.h>
#include <string.h>

#include "data.h"
#include "model.h"
#include "semihost.h"

/* One word per op: a store to tflmt_op_marks[i] tells the plugin that op i starts. */
volatile uint32_t tflmt_op_marks[MODEL_NUM_OPS + 2];
__attribute__((noinline)) void tflmt_op_mark(int32_t op) { tflmt_op_marks[op] = 1u; }

static uint32_t fnv1a(const uint8_t* p, uint32_t n, uint32_t h) {
  for (uint32_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

int main(void) {
  int mismatches = 0;
  for (int i = 0; i < DATA_STEPS; ++i) {
    float loss = 0.0f;
    const int st = model_step(data_x[i], data_y[i], &loss);
    tflmt_op_mark(MODEL_NUM_OPS + 1); /* the loop itself is not part of a step */
    uint32_t bits;
    memcpy(&bits, &loss, sizeof bits);
    if (st != data_status[i] || (st == 0 && bits != data_loss_bits[i])) {
      sh_puts("step ");
      sh_put_u32((uint32_t)i);
      sh_puts(": status ");
      sh_put_u32((uint32_t)st);
      sh_puts(" loss 0x");
      sh_put_hex(bits);
      sh_puts(", host 0x");
      sh_put_hex(data_loss_bits[i]);
      sh_puts("\n");
      ++mismatches;
    }
  }
  uint32_t h = 2166136261u;
  for (int i = 0; i < MODEL_NUM_TRAINABLES; ++i) {
    h = fnv1a((const uint8_t*)model_trainables[i].data, model_trainables[i].bytes, h);
  }
  sh_puts("steps ");
  sh_put_u32(DATA_STEPS);
  sh_puts(", loss first 0x");
  sh_put_hex(data_loss_bits[0]);
  sh_puts(", trained state fnv1a 0x");
  sh_put_hex(h);
  sh_puts(" (host 0x");
  sh_put_hex(DATA_STATE_FNV);
  sh_puts(")\n");
  const int ok = mismatches == 0 && h == DATA_STATE_FNV;
  sh_puts(ok ? "bit-exact with the host: yes\n" : "bit-exact with the host: NO\n");
  return ok ? 0 : 1;
}
