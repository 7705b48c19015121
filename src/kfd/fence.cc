#include "kfd/fence.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace vkfd::kfd {
namespace {

// One eventfd per thread that waits; closed when the thread exits.
class ThreadWaker {
 public:
  ThreadWaker() : fd_(eventfd(0, EFD_CLOEXEC)) {}
  ~ThreadWaker() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

int WakerFd() {
  thread_local ThreadWaker waker;
  return waker.fd();
}

void Wake(int fd) {
  const uint64_t one = 1;
  // The counter cannot overflow in practice; a failed write only costs a spurious check.
  [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
}

}  // namespace

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

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
    if (signaled_.load(std::memory_order_relaxed)) return false;
    error_ = error;
    timestamp_ns_ = MonotonicNowNs();
    signaled_.store(true, std::memory_order_release);
    callbacks.swap(callbacks_);
  }
  for (Callback& cb : callbacks) cb.fn();
  return true;
}

std::optional<Fence::CallbackId> Fence::AddCallback(std::function<void()> callback) {
  MutexLock lock(&mu_);
  if (signaled_.load(std::memory_order_relaxed)) return std::nullopt;
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

Status Fence::Wait() const {
  if (signaled()) return Status::Ok();
  const int fd = WakerFd();
  if (fd < 0) return Status(Code::kNoMemory);
  auto* self = const_cast<Fence*>(this);
  auto id = self->AddCallback([fd] { Wake(fd); });
  if (!id) return Status::Ok();
  for (;;) {
    uint64_t count;
    // read() on an eventfd: restarted by the kernel after an SA_RESTART handler, EINTR otherwise.
    ssize_t n = read(fd, &count, sizeof(count));
    if (signaled()) return Status::Ok();  // a wake-up from an earlier wait may arrive first
    if (n < 0 && errno == EINTR) {
      if (self->RemoveCallback(*id)) return Status(Code::kInterrupted);
      // The callback already ran: the fence is signalled (or about to be visible); finish the wait.
      continue;
    }
  }
}

Status Fence::WaitUntil(int64_t deadline_ns) const {
  if (signaled()) return Status::Ok();
  const int fd = WakerFd();
  if (fd < 0) return Status(Code::kNoMemory);
  auto* self = const_cast<Fence*>(this);
  auto id = self->AddCallback([fd] { Wake(fd); });
  if (!id) return Status::Ok();
  for (;;) {
    const int64_t left = deadline_ns - MonotonicNowNs();
    if (left <= 0) {
      if (self->RemoveCallback(*id)) return Status(Code::kTimedOut);
      continue;  // signalled meanwhile
    }
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    pollfd pfd{fd, POLLIN, 0};
    int n = ppoll(&pfd, 1, &ts, nullptr);
    if (n > 0) {
      uint64_t count;
      [[maybe_unused]] ssize_t r = read(fd, &count, sizeof(count));
    }
    if (signaled()) return Status::Ok();
    if (n < 0 && errno == EINTR) {
      if (self->RemoveCallback(*id)) return Status(Code::kInterrupted);
      continue;
    }
  }
}

Status WaitAll(std::span<const FenceRef> fences) {
  for (const FenceRef& fence : fences) {
    if (!fence) continue;
    VKFD_RETURN_IF_ERROR(fence->Wait());
  }
  return Status::Ok();
}

Code FirstError(std::span<const FenceRef> fences) {
  for (const FenceRef& fence : fences) {
    if (fence && fence->signaled() && fence->error() != Code::kOk) return fence->error();
  }
  return Code::kOk;
}

}  // namespace vkfd::kfd
