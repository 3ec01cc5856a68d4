#include "options.h"

#include <cstring>

namespace tflmt {
namespace {

uint32_t LoadU32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
uint16_t LoadU16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }

}  // namespace

float Vec4::Float(uint32_t i) const {
  uint32_t bits = LoadU32(data + 4 * i);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

int32_t Vec4::Int(uint32_t i) const { return (int32_t)LoadU32(data + 4 * i); }

bool OptionsTable::Fail(const char* why) {
  error_ = why;
  return false;
}

// Locates the table that a 4-byte offset field at `pos` points to, and its vtable.
static bool Table(const uint8_t* buf, size_t size, size_t pos, size_t* table, size_t* vtable, uint16_t* vt_bytes,
                  uint16_t* table_bytes) {
  if (pos + 4 > size) return false;
  const uint64_t t = (uint64_t)pos + LoadU32(buf + pos);
  if (t + 4 > size) return false;
  const int64_t vt = (int64_t)t - (int32_t)LoadU32(buf + t);
  if (vt < 0 || (uint64_t)vt + 4 > size) return false;
  *vt_bytes = LoadU16(buf + vt);
  *table_bytes = LoadU16(buf + vt + 2);
  if (*vt_bytes < 4 || (*vt_bytes & 1) || (uint64_t)vt + *vt_bytes > size || *table_bytes < 4 ||
      t + *table_bytes > size) {
    return false;
  }
  *table = (size_t)t;
  *vtable = (size_t)vt;
  return true;
}

bool OptionsTable::Open(const void* buffer, size_t size, OptionsType expected) {
  buf_ = static_cast<const uint8_t*>(buffer);
  size_ = size;
  if (buf_ == nullptr || size < 8) return Fail("custom options missing or shorter than 8 bytes");
  if (memcmp(buf_ + 4, "TMTO", 4) != 0) return Fail("custom options are not a tflm-train OpOptionsBuffer ('TMTO')");
  if (!Table(buf_, size_, 0, &table_, &vtable_, &vt_bytes_, &table_bytes_)) {
    return Fail("corrupt OpOptionsBuffer (root table out of bounds)");
  }
  const uint8_t* type = Field(0, 1);
  if (type == nullptr || *type != expected) return Fail("custom options hold the options of another op type");
  const uint8_t* value = Field(1, 4);
  if (value == nullptr) return Fail("custom options union value missing");
  if (!Table(buf_, size_, (size_t)(value - buf_), &table_, &vtable_, &vt_bytes_, &table_bytes_)) {
    return Fail("corrupt options table (out of bounds)");
  }
  if (U32(0, kOptionsVersion) != kOptionsVersion) return Fail("unsupported options version (this build reads 1)");
  error_ = "";
  return true;
}

const uint8_t* OptionsTable::Field(int field, size_t bytes) const {
  const size_t slot = 4 + 2 * (size_t)field;
  if (slot + 2 > vt_bytes_) return nullptr;
  const uint16_t off = LoadU16(buf_ + vtable_ + slot);
  if (off == 0 || off + bytes > table_bytes_) return nullptr;
  return buf_ + table_ + off;
}

uint32_t OptionsTable::U32(int field, uint32_t def) const {
  const uint8_t* p = Field(field, 4);
  return p ? LoadU32(p) : def;
}

int32_t OptionsTable::I32(int field, int32_t def) const { return (int32_t)U32(field, (uint32_t)def); }

int8_t OptionsTable::I8(int field, int8_t def) const {
  const uint8_t* p = Field(field, 1);
  return p ? (int8_t)*p : def;
}

float OptionsTable::F32(int field, float def) const {
  const uint8_t* p = Field(field, 4);
  if (p == nullptr) return def;
  uint32_t bits = LoadU32(p);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

const float* Vec4::InPlaceFloats() const {
  const uint16_t probe = 1;
  uint8_t first;
  memcpy(&first, &probe, 1);
  if (first != 1 || ((uintptr_t)data & 3u) != 0) return nullptr;
  return reinterpret_cast<const float*>(data);
}

const int32_t* Vec4::InPlaceInts() const {
  return reinterpret_cast<const int32_t*>(InPlaceFloats());  // same layout and alignment rules
}

bool OptionsTable::Vector(int field, Vec4* out) {
  *out = Vec4();
  const uint8_t* p = Field(field, 4);
  if (p == nullptr) return true;
  const uint64_t v = (uint64_t)(p - buf_) + LoadU32(p);
  if (v + 4 > size_) return Fail("corrupt options vector (out of bounds)");
  const uint32_t n = LoadU32(buf_ + v);
  if (v + 4 + 4 * (uint64_t)n > size_) return Fail("corrupt options vector (length out of bounds)");
  out->data = buf_ + v + 4;
  out->count = n;
  return true;
}

bool OptionsTable::Geometry(int field, tflmt_geometry* out) {
  memset(out, 0, sizeof *out);
  if (Field(field, 0) != nullptr && Field(field, 24) == nullptr) return Fail("corrupt options geometry");
  const uint8_t* p = Field(field, 24);
  if (p == nullptr) return true;
  int32_t v[6];
  for (int i = 0; i < 6; ++i) v[i] = (int32_t)LoadU32(p + 4 * i);
  out->stride_h = v[0];
  out->stride_w = v[1];
  out->dilation_h = v[2];
  out->dilation_w = v[3];
  out->pad_top = v[4];
  out->pad_left = v[5];
  return true;
}

}  // namespace tflmt
