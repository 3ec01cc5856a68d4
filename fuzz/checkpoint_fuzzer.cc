// libFuzzer target: the checkpoint loader (kernels/core/checkpoint.c) reading a storage image
// whose bytes are arbitrary (torn writes, bit rot, another model's checkpoint). A load must
// either fail or fill the entries from a record it verified; a save afterwards must succeed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tflmt/checkpoint.h"

namespace {
struct Image {
  std::vector<uint8_t> bytes;
};

int32_t Read(void* ctx, uint32_t offset, void* dst, uint32_t n) {
  auto* im = static_cast<Image*>(ctx);
  if ((uint64_t)offset + n > im->bytes.size()) return -1;
  memcpy(dst, im->bytes.data() + offset, n);
  return 0;
}

int32_t Write(void* ctx, uint32_t offset, const void* src, uint32_t n) {
  auto* im = static_cast<Image*>(ctx);
  if ((uint64_t)offset + n > im->bytes.size()) return -1;
  memcpy(im->bytes.data() + offset, src, n);
  return 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint8_t weights[37], bias[12];
  static uint32_t steps[2];
  tflmt_trainable entries[2] = {{nullptr, 3, weights, sizeof(weights), &steps[0]},
                                {nullptr, 5, bias, sizeof(bias), &steps[1]}};
  Image im;
  im.bytes.assign(data, data + size);
  tflmt_storage s = {&im, Read, Write, (uint32_t)(size / 2)};
  uint32_t seq = 0;
  tflmt_checkpoint_load(&s, entries, 2, &seq);
  if (s.slot_bytes >= tflmt_checkpoint_record_bytes(entries, 2)) {
    if (tflmt_checkpoint_save(&s, entries, 2, &seq) != TFLMT_CKPT_OK) __builtin_trap();
    uint32_t again = 0;
    if (tflmt_checkpoint_load(&s, entries, 2, &again) != TFLMT_CKPT_OK || again != seq) __builtin_trap();
  }
  return 0;
}
