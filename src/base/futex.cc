#include "base/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "base/signal_path.h"

namespace vkfd {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free, "futex words must be plain 32-bit words");

FutexResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns) {
  auto* addr = const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(word));
  long r;
  if (deadline_ns == 0) {
    r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
  } else {
    const timespec ts{static_cast<time_t>(deadline_ns / 1000000000),
                      static_cast<long>(deadline_ns % 1000000000)};
    r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, nullptr,
                FUTEX_BITSET_MATCH_ANY);
  }
  if (r == 0) return FutexResult::kWoken;
  if (errno == EINTR) return FutexResult::kInterrupted;
  if (errno == ETIMEDOUT) return FutexResult::kTimedOut;
  return FutexResult::kWoken;  // EAGAIN: the value had changed already
}

VKFD_SIGNAL_PATH void FutexWakeAll(const std::atomic<uint32_t>* word) {
  auto* addr = const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(word));
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace vkfd
