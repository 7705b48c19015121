#include "base/private_fds.h"

#include <atomic>
#include <cstdint>

namespace vkfd {
namespace {

std::atomic<uint64_t> g_bits[kMaxPrivateFd / 64];

bool InRange(int fd) { return fd >= 0 && fd < kMaxPrivateFd; }

}  // namespace

void MarkPrivateFd(int fd) {
  if (InRange(fd)) g_bits[fd / 64].fetch_or(uint64_t{1} << (fd % 64), std::memory_order_release);
}

void UnmarkPrivateFd(int fd) {
  if (InRange(fd)) g_bits[fd / 64].fetch_and(~(uint64_t{1} << (fd % 64)), std::memory_order_release);
}

bool IsPrivateFd(int fd) {
  return InRange(fd) && (g_bits[fd / 64].load(std::memory_order_acquire) >> (fd % 64)) & 1;
}

int NextPrivateFd(int fd) {
  if (fd < 0) fd = 0;
  for (int word = fd / 64; word < kMaxPrivateFd / 64; ++word) {
    uint64_t bits = g_bits[word].load(std::memory_order_acquire);
    if (word == fd / 64) bits &= ~uint64_t{0} << (fd % 64);
    if (bits != 0) return word * 64 + __builtin_ctzll(bits);
  }
  return -1;
}

}  // namespace vkfd
