#include "kfd/fence.h"

#include "base/call_guard.h"
#include "base/trace.h"
#include "base/wake_word.h"

namespace vkfd::kfd {

std::shared_ptr<Fence> Fence::Signaled(Code error) {
  auto fence = std::make_shared<Fence>();
  fence->Signal(error);
  return fence;
}

Code Fence::error() const {
  MutexLock lock(&mu_);
  return error_;
}

int64_t Fence::timestamp_ns() const {
  MutexLock lock(&mu_);
  return timestamp_ns_;
}

bool Fence::Signal(Code error) {
  std::vector<Callback> callbacks;
  {
    MutexLock lock(&mu_);
    if (signaled_.load(std::memory_order_relaxed) != 0) return false;
    error_ = error;
    timestamp_ns_ = MonotonicNowNs();
    signaled_.store(1, std::memory_order_seq_cst);
    callbacks.swap(callbacks_);
  }
  // Pairs with Sleep's increment before its re-check: either the sleeper sees the word set, or we
  // see the sleeper and wake it.
  if (sleepers_.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&signaled_);
  for (Callback& cb : callbacks) cb.fn();
  return true;
}

std::optional<Fence::CallbackId> Fence::AddCallback(std::function<void()> callback) {
  MutexLock lock(&mu_);
  if (signaled_.load(std::memory_order_relaxed) != 0) return std::nullopt;
  const CallbackId id = next_id_++;
  callbacks_.push_back(Callback{id, std::move(callback)});
  return id;
}

bool Fence::RemoveCallback(CallbackId id) {
  MutexLock lock(&mu_);
  for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
    if (it->id == id) {
      callbacks_.erase(it);
      return true;
    }
  }
  return false;
}

Status Fence::Sleep(int64_t deadline_ns, bool interruptible) const {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  Code code = Code::kOk;
  while (!signaled()) {
    // Only an interruptible wait may let the program's handlers run (base/call_guard.h): the
    // uninterruptible ones may hold Process::mu_.
    // MAP and UNMAP wait holding Process::mu_ (as 6.1.y holds p->mutex): handlers are deferred to
    // the end of the call, never run inside the lock.
    const int64_t traced_from = trace::On() ? trace::NowNs() : 0;
    const FutexResult r = interruptible ? FutexWaitDeferring(&signaled_, 0, deadline_ns)
                                        : FutexWait(&signaled_, 0, deadline_ns);
    if (traced_from != 0) {
      TraceSleep(interruptible ? "fence wait" : "fence wait (uninterruptible)", traced_from, r);
    }
    if (r == FutexResult::kTimedOut && !signaled()) {
      code = Code::kTimedOut;
      break;
    }
    if (r == FutexResult::kInterrupted && interruptible && !signaled()) {
      code = Code::kInterrupted;
      break;
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  return Status(code);
}

Status Fence::Wait() const {
  if (signaled()) return Status::Ok();
  return Sleep(0, /*interruptible=*/true);
}

Status Fence::WaitUntil(int64_t deadline_ns) const {
  if (signaled()) return Status::Ok();
  if (deadline_ns <= 0) return Status(Code::kTimedOut);
  return Sleep(deadline_ns, /*interruptible=*/true);
}

void Fence::WaitUninterruptible() const {
  if (signaled()) return;
  Sleep(0, /*interruptible=*/false).IgnoreError();  // uninterruptible and untimed: always kOk
}

Status WaitAll(std::span<const FenceRef> fences) {
  for (const FenceRef& fence : fences) {
    if (!fence) continue;
    VKFD_RETURN_IF_ERROR(fence->Wait());
  }
  return Status::Ok();
}

void WaitAllUninterruptible(std::span<const FenceRef> fences) {
  for (const FenceRef& fence : fences) {
    if (fence) fence->WaitUninterruptible();
  }
}

Code FirstError(std::span<const FenceRef> fences) {
  for (const FenceRef& fence : fences) {
    if (fence && fence->signaled() && fence->error() != Code::kOk) return fence->error();
  }
  return Code::kOk;
}

}  // namespace vkfd::kfd
