// Futex: the one blocking primitive of vkfd's waits — sleep while a 32-bit word holds a value, wake
// the sleepers of a word. Raw system calls, chosen for what they inherit from the host kernel:
//  * an untimed FUTEX_WAIT returns -ERESTARTSYS when a signal arrives, exactly as the kernel's own
//    interruptible waits do: after a handler with SA_RESTART it is restarted transparently, after one
//    without it fails with EINTR, with no handler (ignored, stop/continue) it restarts. A wait built on
//    it follows the real restart rule with a real handler and no bookkeeping of ours;
//  * a timed wait (absolute CLOCK_MONOTONIC) returns EINTR after any handler, as ppoll does;
//  * it needs no file descriptor (works at the fd limit) and no per-thread object (nothing to inherit
//    across fork), and syscall() is not a pthread cancellation point — as ioctl() is not — so a
//    cancelled thread leaves a wait only when the ioctl returns, as with a kernel driver;
//  * waking is async-signal-safe and allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>

namespace vkfd {

enum class FutexResult { kWoken, kInterrupted, kTimedOut };

// Sleeps while *word == expected (returns at once otherwise). kWoken also covers spurious wake-ups and
// a changed value: callers re-check their condition. deadline_ns: absolute CLOCK_MONOTONIC, 0 = none.
FutexResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns = 0);
// Wakes every thread sleeping on `word`.
void FutexWakeAll(const std::atomic<uint32_t>* word);

int64_t MonotonicNowNs();

}  // namespace vkfd
