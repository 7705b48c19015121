// Fence: completion of asynchronous work (a DMA job, or a set of them), in the dma_fence mould.
//
// Contract: a fence signals exactly once, optionally with an error set at that moment; callbacks
// registered before signalling run exactly once, on the signalling thread, after the state is visible;
// callbacks registered afterwards are refused (AddCallback returns nullopt) so the caller acts itself.
// Signalling allocates nothing and takes only the fence's own mutex (a leaf in the lock order).
//
// Waits block in a real system call so that the host kernel applies the exact restart rule: the
// interruptible Wait() blocks in read() on a per-thread eventfd, which the kernel restarts transparently
// after a handler installed with SA_RESTART and fails with EINTR after one without. Wait() then reports
// kInterrupted; only uapi/ turns that into EINTR. WaitUntil() takes an absolute CLOCK_MONOTONIC deadline
// (so a restarted wait never extends it) and blocks in ppoll(), which returns EINTR after any handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

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

  bool signaled() const { return signaled_.load(std::memory_order_acquire); }
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

 private:
  struct Callback {
    CallbackId id;
    std::function<void()> fn;
  };

  mutable Mutex mu_;
  std::atomic<bool> signaled_{false};
  Code error_ GUARDED_BY(mu_) = Code::kOk;
  int64_t timestamp_ns_ GUARDED_BY(mu_) = 0;
  CallbackId next_id_ GUARDED_BY(mu_) = 1;
  std::vector<Callback> callbacks_ GUARDED_BY(mu_);
};

using FenceRef = std::shared_ptr<Fence>;

// Waits for all fences in turn (interruptible). Stops at the first kInterrupted.
Status WaitAll(std::span<const FenceRef> fences);
// The first error among signalled fences, or kOk.
Code FirstError(std::span<const FenceRef> fences);

int64_t MonotonicNowNs();

}  // namespace vkfd::kfd
