// Decoders of ioctl argument structs for the ioctl log (--log-ioctls) and traces: one printf-style
// Describe() call per struct appends "name=value" fields, space-separated, to the record's text.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace vkfd::uapi {

inline void Describe(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void Describe(std::string* out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (!out->empty()) *out += ' ';
  *out += buf;
}

// The struct behind a describer's `const void*`.
template <typename T>
const T& Args(const void* data) {
  return *static_cast<const T*>(data);
}

}  // namespace vkfd::uapi
