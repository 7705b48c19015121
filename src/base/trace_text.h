// The trace writer's output buffer: JSON text appended piece by piece — literals, numbers, timestamps
// in microseconds, escaped strings — into one growing byte array that the writer hands to write(2)
// per batch. No kernel counterpart (ftrace's trace_seq plays this part).
//
// Why not std::string: the writer formats every traced event (12 per ALLOC+MAP+UNMAP+FREE on one
// GPU), and std::string's per-character appends and capacity checks were most of its time
// (docs/trace.md). Here one Reserve() per event covers its fixed parts; the appends after it are
// plain stores.
//
// Invariants: size() <= capacity; data() holds exactly what was appended since the last Clear().
// Single-threaded (the writer's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace vkfd::trace {

class TraceText {
  static constexpr char kDigitPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";

 public:
  void Clear() { size_ = 0; }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

  // Room for `more` bytes without growing.
  void Reserve(size_t more) {
    if (size_ + more > capacity_) Grow(size_ + more);
  }

  // Everything below reserves what it needs itself.
  void Append(std::string_view text) {
    Reserve(text.size());
    memcpy(data_.get() + size_, text.data(), text.size());
    size_ += text.size();
  }
  void Append(char c) {
    Reserve(1);
    data_[size_++] = c;
  }
  void Unsigned(uint64_t value) {
    Reserve(20);
    char digits[20];
    char* at = digits + sizeof(digits);
    while (value >= 100) {  // two digits a division
      const size_t pair = static_cast<size_t>(value % 100) * 2;
      value /= 100;
      at -= 2;
      memcpy(at, kDigitPairs + pair, 2);
    }
    if (value >= 10) {
      at -= 2;
      memcpy(at, kDigitPairs + value * 2, 2);
    } else {
      *--at = static_cast<char>('0' + value);
    }
    Raw(at, static_cast<size_t>(digits + sizeof(digits) - at));
  }
  void Signed(int64_t value) {
    if (value < 0) {
      Append('-');
      Unsigned(uint64_t{0} - static_cast<uint64_t>(value));
    } else {
      Unsigned(static_cast<uint64_t>(value));
    }
  }
  // Lower-case hex digits, no prefix.
  void Hex(uint64_t value) {
    Reserve(16);
    char digits[16];
    char* at = digits + sizeof(digits);
    do {
      *--at = "0123456789abcdef"[value & 15];
      value >>= 4;
    } while (value != 0);
    Raw(at, static_cast<size_t>(digits + sizeof(digits) - at));
  }
  // Nanoseconds as microseconds with three decimals: the trace-event format's unit.
  void Micros(int64_t ns) {
    if (ns < 0) {
      Append('-');
      ns = -ns;
    }
    const uint64_t u = static_cast<uint64_t>(ns);
    Unsigned(u / 1000);
    const size_t frac = static_cast<size_t>(u % 1000);
    Reserve(4);
    data_[size_] = '.';
    data_[size_ + 1] = static_cast<char>('0' + frac / 100);
    memcpy(data_.get() + size_ + 2, kDigitPairs + (frac % 100) * 2, 2);
    size_ += 4;
  }
  // A JSON string's contents: '"', '\' and control characters escaped.
  void Escaped(std::string_view text) {
    Reserve(text.size());
    size_t plain = 0;  // most text needs no escape: find where the first one is, copy up to it
    while (plain < text.size() && !NeedsEscape(text[plain])) ++plain;
    Raw(text.data(), plain);
    for (size_t i = plain; i < text.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c == '"' || c == '\\') {
        Reserve(text.size() - i + 1);
        data_[size_++] = '\\';
        data_[size_++] = static_cast<char>(c);
      } else if (c < 0x20) {
        Reserve(text.size() - i + 6);
        static constexpr char kHex[] = "0123456789abcdef";
        const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        memcpy(data_.get() + size_, escape, 6);
        size_ += 6;
      } else {
        data_[size_++] = static_cast<char>(c);
      }
    }
  }
  void Quoted(std::string_view text) {
    Append('"');
    Escaped(text);
    Append('"');
  }

 private:
  static bool NeedsEscape(char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == '"' || u == '\\';
  }
  void Raw(const char* from, size_t n) {  // room reserved by the caller
    memcpy(data_.get() + size_, from, n);
    size_ += n;
  }
  void Grow(size_t need) {
    size_t capacity = capacity_ == 0 ? 64 << 10 : capacity_ * 2;
    while (capacity < need) capacity *= 2;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ != 0) memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace vkfd::trace
