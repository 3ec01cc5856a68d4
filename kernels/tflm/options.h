// Reads the custom options of a TFLMT_* op: an OpOptionsBuffer (schemas/
// tflm_train.fbs, identifier "TMTO") whose union holds the op's table.
// A minimal FlatBuffers reader of our own: every offset, vtable and vector is
// bounds-checked against the options size before it is read, so a corrupt
// model gives an error, never an out-of-bounds read. Field ids follow the
// declaration order in the schema (tests hold them to the Python encoder).
#ifndef TFLMT_TFLM_OPTIONS_H_
#define TFLMT_TFLM_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "tflmt/core.h"

namespace tflmt {

// OpOptions union members, in schema order.
enum OptionsType : uint8_t {
  kClampMaskOptions = 1,
  kSoftmaxCeOptions = 2,
  kClampGradOptions = 3,
  kGradAccumOptions = 4,
  kInputGradOptions = 5,
  kWeightUpdateOptions = 6,
  kBiasUpdateOptions = 7,
  kAvgPoolGradOptions = 8,
  kMeanGradOptions = 9,
  kPadGradOptions = 10,
  kChannelGatherOptions = 11,
  kChannelMergeOptions = 12,
  kMaxPoolArgmaxOptions = 13,
  kMaxPoolGradOptions = 14,
};

enum GradDType : int8_t { kGradFloat32 = 0, kGradInt8 = 1 };
constexpr uint32_t kOptionsVersion = 1;

// A vector field: `count` elements of 4 bytes starting at `data` (possibly
// unaligned: read with Load*).
struct Vec4 {
  const uint8_t* data = nullptr;
  uint32_t count = 0;
  float Float(uint32_t i) const;
  int32_t Int(uint32_t i) const;
  // The elements as a float array read in place (no SRAM copy), or nullptr when
  // the data is misaligned or the host is big-endian (FlatBuffers are little-endian).
  const float* InPlaceFloats() const;
  const int32_t* InPlaceInts() const;
};

class OptionsTable {
 public:
  // Opens the union member of type `expected`; on failure `error()` says why.
  bool Open(const void* buffer, size_t size, OptionsType expected);
  const char* error() const { return error_; }

  uint32_t U32(int field, uint32_t def) const;
  int32_t I32(int field, int32_t def) const;
  int8_t I8(int field, int8_t def) const;
  float F32(int field, float def) const;
  bool Vector(int field, Vec4* out);  // absent = empty; false if corrupt
  bool Geometry(int field, tflmt_geometry* out);  // absent = zeros; false if corrupt

 private:
  const uint8_t* Field(int field, size_t bytes) const;  // nullptr if absent
  bool Fail(const char* why);
  const uint8_t* buf_ = nullptr;
  size_t size_ = 0, table_ = 0, vtable_ = 0;
  uint16_t vt_bytes_ = 0, table_bytes_ = 0;
  const char* error_ = "not opened";
};

}  // namespace tflmt

#endif  // TFLMT_TFLM_OPTIONS_H_
