// libFuzzer target: the custom-options reader (kernels/tflm/options.cc) that every TFLMT_* op's
// Prepare runs on bytes from the model. Byte 0 picks the expected options type; the rest is the
// options buffer, read at whatever alignment it lands (as in a model).
#include <cstddef>
#include <cstdint>

#include "tflm/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto type = static_cast<tflmt::OptionsType>(1 + data[0] % 11);
  tflmt::OptionsTable o;
  if (!o.Open(data + 1, size - 1, type)) return 0;
  volatile float sink = 0.0f;
  for (int f = 0; f < 16; ++f) {
    sink = sink + (float)o.U32(f, 0) + (float)o.I32(f, 0) + (float)o.I8(f, 0) + o.F32(f, 0.0f);
    tflmt::Vec4 v;
    if (o.Vector(f, &v)) {
      for (uint32_t i = 0; i < v.count; ++i) sink = sink + v.Float(i) + (float)v.Int(i);
      const float* in_place = v.InPlaceFloats();
      if (in_place != nullptr && v.count > 0) sink = sink + in_place[v.count - 1];
    }
    tflmt_geometry g;
    if (o.Geometry(f, &g)) sink = sink + (float)g.stride_h + (float)g.pad_left;
  }
  return 0;
}
