// Decoders of ioctl argument structs for the ioctl log (--log-ioctls) and traces: one printf-style
// Describe() call per struct appends "name=value" fields, space-separated, to the record's text.
//
// Describe() formats the conversions the describers use (%d %i %u %x %X %s %c %%, flags '#' '0' '-',
// a width, the length modifiers hh h l ll z j t) itself, with the same output as snprintf: the trace
// writer runs every traced ioctl's describer, and glibc's vfprintf was most of its time
// (docs/trace.md). Any other format (a precision, '*', floating point) goes to vsnprintf. As before,
// one call appends at most 255 characters.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace vkfd::uapi {

namespace describe_detail {

// True when every conversion in `fmt` is one FormatFast handles.
inline bool FastFormat(const char* fmt) {
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (*p != '%') continue;
    ++p;
    while (*p == '#' || *p == '0' || *p == '-') ++p;
    while (*p >= '0' && *p <= '9') ++p;
    while (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't') ++p;
    switch (*p) {
      case 'd': case 'i': case 'u': case 'x': case 'X': case 's': case 'c': case '%':
        break;
      default:
        return false;
    }
  }
  return true;
}

// Appends `body` (with `prefix` before it: "-", "0x") padded to `width` as printf does.
inline void Pad(std::string* out, const char* prefix, size_t prefix_len, const char* body,
                size_t body_len, size_t width, bool left, bool zero) {
  const size_t len = prefix_len + body_len;
  const size_t fill = width > len ? width - len : 0;
  if (fill != 0 && !left && !zero) out->append(fill, ' ');
  out->append(prefix, prefix_len);
  if (fill != 0 && !left && zero) out->append(fill, '0');
  out->append(body, body_len);
  if (fill != 0 && left) out->append(fill, ' ');
}

inline void FormatFast(std::string* out, const char* fmt, va_list ap) {
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (*p != '%') {
      const char* q = p;
      while (*q != '\0' && *q != '%') ++q;
      out->append(p, static_cast<size_t>(q - p));
      p = q - 1;
      continue;
    }
    ++p;
    bool alt = false, zero = false, left = false;
    for (;; ++p) {
      if (*p == '#') alt = true;
      else if (*p == '0') zero = true;
      else if (*p == '-') left = true;
      else break;
    }
    size_t width = 0;
    while (*p >= '0' && *p <= '9') width = width * 10 + static_cast<size_t>(*p++ - '0');
    int longs = 0;  // 0: int; 1: long (l z j t); 2: long long; -1: short; -2: char
    for (;; ++p) {
      if (*p == 'l') longs = longs == 1 ? 2 : 1;
      else if (*p == 'z' || *p == 'j' || *p == 't') longs = 1;
      else if (*p == 'h') longs = longs == -1 ? -2 : -1;
      else break;
    }
    const char conv = *p;
    if (conv == '%') {
      *out += '%';
      continue;
    }
    if (conv == 's') {
      const char* s = va_arg(ap, const char*);
      if (s == nullptr) s = "(null)";
      size_t n = 0;
      while (s[n] != '\0') ++n;
      Pad(out, "", 0, s, n, width, left, false);
      continue;
    }
    if (conv == 'c') {
      const char c = static_cast<char>(va_arg(ap, int));
      Pad(out, "", 0, &c, 1, width, left, false);
      continue;
    }
    char digits[24];
    char* end = digits + sizeof(digits);
    char* at = end;
    const char* prefix = "";
    size_t prefix_len = 0;
    if (conv == 'd' || conv == 'i') {
      int64_t v;
      if (longs == 2) v = va_arg(ap, long long);
      else if (longs == 1) v = va_arg(ap, long);
      else v = va_arg(ap, int);
      if (longs == -1) v = static_cast<short>(v);
      if (longs == -2) v = static_cast<signed char>(v);
      uint64_t u = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
      do {
        *--at = static_cast<char>('0' + u % 10);
        u /= 10;
      } while (u != 0);
      if (v < 0) {
        prefix = "-";
        prefix_len = 1;
      }
    } else {
      uint64_t u;
      if (longs == 2) u = va_arg(ap, unsigned long long);
      else if (longs == 1) u = va_arg(ap, unsigned long);
      else u = va_arg(ap, unsigned);
      if (longs == -1) u = static_cast<unsigned short>(u);
      if (longs == -2) u = static_cast<unsigned char>(u);
      if (conv == 'u') {
        do {
          *--at = static_cast<char>('0' + u % 10);
          u /= 10;
        } while (u != 0);
      } else {
        const char* hex = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        if (alt && u != 0) {
          prefix = conv == 'X' ? "0X" : "0x";
          prefix_len = 2;
        }
        do {
          *--at = hex[u & 15];
          u >>= 4;
        } while (u != 0);
      }
    }
    Pad(out, prefix, prefix_len, at, static_cast<size_t>(end - at), width, left, zero && !left);
  }
}

}  // namespace describe_detail

inline void Describe(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void Describe(std::string* out, const char* fmt, ...) {
  if (!out->empty()) *out += ' ';
  va_list ap;
  va_start(ap, fmt);
  if (describe_detail::FastFormat(fmt)) {
    const size_t before = out->size();
    describe_detail::FormatFast(out, fmt, ap);
    if (out->size() - before > 255) out->resize(before + 255);
  } else {
    char buf[256];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    *out += buf;
  }
  va_end(ap);
}

// The struct behind a describer's `const void*`.
template <typename T>
const T& Args(const void* data) {
  return *static_cast<const T*>(data);
}

}  // namespace vkfd::uapi
