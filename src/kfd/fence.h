// Fence: completion of asynchronous work (a DMA job, or a set of them), in the dma_fence mould.
//
// Contract: a fence signals exactly once, optionally with an error set at that moment; callbacks
// registered before signalling run exactly once, on the signalling thread, after the state is visible;
// callbacks registered afterwards are refused (AddCallback returns nullopt) so the caller acts itself.
// Signalling allocates nothing and takes only the fence's own mutex (a leaf in the lock order).
//
// Waits sleep on the fence's own state word (base/futex.h), so the host kernel applies the exact
// restart rule: Wait() is interrupted only by a handler without SA_RESTART (kInterrupted; only uapi/
// turns that into EINTR), WaitUntil() takes an absolute CLOCK_MONOTONIC deadline (a restarted wait never
// extends it) and reports kInterrupted after any handler, and WaitUninterruptible() is for the driver's
// own waits that the kernel does not let signals interrupt. No wait needs a file descriptor or any
// per-thread object, and a wait registers nothing: a signal only wakes sleepers of the word.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/futex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd::kfd {

class Fence {
 public:
  using CallbackId = uint64_t;

  Fence() = default;
  Fence(const Fence&) = delete;
  Fence& operator=(const Fence&) = delete;

  // A fence that is already signalled (with `error`).
  static std::shared_ptr<Fence> Signaled(Code error = Code::kOk);

  bool signaled() const { return signaled_.load(std::memory_order_acquire) != 0; }
  // The error set at signalling (kOk if none, or not yet signalled).
  Code error() const EXCLUDES(mu_);
  // CLOCK_MONOTONIC time of signalling in ns, 0 while pending.
  int64_t timestamp_ns() const EXCLUDES(mu_);

  // Signals the fence. Returns false (and changes nothing) if it was already signalled.
  bool Signal(Code error = Code::kOk) EXCLUDES(mu_);

  std::optional<CallbackId> AddCallback(std::function<void()> callback) EXCLUDES(mu_);
  // True if the callback was removed before it ran.
  bool RemoveCallback(CallbackId id) EXCLUDES(mu_);

  // Blocks until signalled: kOk, or kInterrupted if a signal handler without SA_RESTART ran.
  Status Wait() const;
  // Blocks until signalled or `deadline_ns` (CLOCK_MONOTONIC) passes: kOk, kTimedOut, or
  // kInterrupted when any signal handler ran (the caller decides whether that restarts).
  Status WaitUntil(int64_t deadline_ns) const;
  // Blocks until signalled, whatever signals arrive (the kernel's uninterruptible dma_fence_wait).
  void WaitUninterruptible() const;

 private:
  struct Callback {
    CallbackId id;
    std::function<void()> fn;
  };

  // Sleeps while the word is 0 (base/futex.h); `sleepers_` lets Signal skip the wake-up system call
  // when nobody sleeps.
  Status Sleep(int64_t deadline_ns, bool interruptible) const;

  mutable Mutex mu_;
  std::atomic<uint32_t> signaled_{0};
  mutable std::atomic<uint32_t> sleepers_{0};
  Code error_ GUARDED_BY(mu_) = Code::kOk;
  int64_t timestamp_ns_ GUARDED_BY(mu_) = 0;
  CallbackId next_id_ GUARDED_BY(mu_) = 1;
  std::vector<Callback> callbacks_ GUARDED_BY(mu_);
};

using FenceRef = std::shared_ptr<Fence>;

// Waits for all fences in turn (interruptible). Stops at the first kInterrupted.
Status WaitAll(std::span<const FenceRef> fences);
// Waits for all fences, whatever signals arrive.
void WaitAllUninterruptible(std::span<const FenceRef> fences);
// The first error among signalled fences, or kOk.
Code FirstError(std::span<const FenceRef> fences);

}  // namespace vkfd::kfd
